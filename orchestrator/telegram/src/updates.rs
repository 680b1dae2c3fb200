//! Received updates, handled in `update_id` order: commands, button presses and
//! replies to questions. Only the configured chats are listened to.
//!
//! An update is stored before it is handled (poll.rs, webhook.rs) and marked handled
//! after, so a restart skips none and repeats none that finished. A command that changes
//! the board is marked handled by that change's own transaction (its event names the
//! update, [`harness_board::Actor::for_update`]), so a crash between the change and the
//! mark cannot run it twice.

use std::{collections::HashSet, sync::Arc, sync::Mutex, time::Duration};

use harness_config::NotifyKind;
use harness_domain::{
    review,
    task::{Description, TaskId},
};
use serde::Deserialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{Context, Inner, commands, notify::Html, retrying};
use harness_board::Actor;

const BATCH: u32 = 50;
/// Chats we have warned about; beyond this, further strangers are not remembered.
const STRANGERS_MAX: usize = 1024;
/// When nothing nudges the handler it looks anyway this often (an update stored by a
/// webhook request just before a restart, for example).
const IDLE: Duration = Duration::from_secs(5);

#[derive(Debug, Deserialize)]
struct Update {
    message: Option<Message>,
    callback_query: Option<CallbackQuery>,
}

#[derive(Debug, Deserialize)]
struct Message {
    message_id: i64,
    chat: Chat,
    from: Option<User>,
    text: Option<String>,
    reply_to_message: Option<Box<Message>>,
}

#[derive(Debug, Deserialize)]
struct Chat {
    id: i64,
}

#[derive(Debug, Deserialize)]
struct User {
    id: i64,
    username: Option<String>,
    first_name: Option<String>,
}

impl User {
    fn name(&self) -> String {
        self.username
            .clone()
            .or_else(|| self.first_name.clone())
            .unwrap_or_else(|| self.id.to_string())
    }
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    id: String,
    from: User,
    message: Option<Message>,
    data: Option<String>,
}

pub async fn run(inner: Arc<Inner>, ctx: Context, stop: CancellationToken) {
    let strangers = Mutex::new(HashSet::new());
    loop {
        handle_pending(&inner, &ctx, &strangers).await;
        tokio::select! {
            () = stop.cancelled() => return,
            () = inner.inbox.notified() => {}
            () = tokio::time::sleep(IDLE) => {}
        }
    }
}

async fn handle_pending(inner: &Inner, ctx: &Context, strangers: &Mutex<HashSet<i64>>) {
    loop {
        let batch = match ctx.board.telegram(|t| t.unhandled(BATCH)).await {
            Ok(batch) => batch,
            Err(err) => {
                tracing::warn!(%err, "telegram: cannot read received updates");
                return;
            }
        };
        if batch.is_empty() {
            return;
        }
        for (update_id, body) in batch {
            match serde_json::from_str::<Update>(&body) {
                Ok(update) => handle(inner, ctx, strangers, update_id, update).await,
                Err(err) => tracing::warn!(update_id, %err, "telegram: unreadable update skipped"),
            }
            if let Err(err) = ctx.board.telegram(move |t| t.mark_handled(update_id)).await {
                tracing::warn!(%err, "telegram: cannot mark an update handled");
                return;
            }
        }
    }
}

async fn handle(
    inner: &Inner,
    ctx: &Context,
    strangers: &Mutex<HashSet<i64>>,
    update_id: i64,
    update: Update,
) {
    let chat = update.message.as_ref().map(|m| m.chat.id).or_else(|| {
        update
            .callback_query
            .as_ref()?
            .message
            .as_ref()
            .map(|m| m.chat.id)
    });
    let Some(chat) = chat else { return };
    if !inner.settings.chat_ids.contains(&chat) {
        let mut seen = strangers.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() < STRANGERS_MAX && seen.insert(chat) {
            tracing::warn!(
                chat,
                "telegram: ignoring a chat that is not in TELEGRAM_CHAT_ID (logged once per chat)"
            );
        }
        return;
    }
    if let Some(query) = update.callback_query {
        on_button(inner, ctx, chat, update_id, query).await;
    } else if let Some(message) = update.message {
        on_message(inner, ctx, chat, update_id, message).await;
    }
}

async fn on_message(inner: &Inner, ctx: &Context, chat: i64, update_id: i64, message: Message) {
    let Some(text) = message.text.as_deref() else {
        return;
    };
    let user = message
        .from
        .as_ref()
        .map_or_else(|| "unknown".into(), User::name);
    let actor = commands::actor(&user).for_update(update_id);
    let bot = inner.health().bot_username.clone();
    let answer = match commands::parse(text, bot.as_deref()) {
        Some(Ok(command)) => commands::execute(command, &actor, ctx).await,
        Some(Err(err)) => {
            let mut h = Html::new();
            h.text("⚠️ ").text(&err.to_string()).line().line();
            format!("{}{}", h.finish(), commands::help())
        }
        None => match &message.reply_to_message {
            Some(original) => match reply_to(ctx, chat, original.message_id, text, &actor).await {
                Some(answer) => answer,
                None => return,
            },
            None => return,
        },
    };
    send(inner, chat, &answer, Some(message.message_id)).await;
}

/// A reply: an answer when it replies to one of our questions. `None` (stay silent)
/// when it replies to a message the bot did not send (people talking in a group), or
/// to one of its other notifications in a group; a private chat gets a hint for that.
async fn reply_to(
    ctx: &Context,
    chat: i64,
    original: i64,
    text: &str,
    actor: &Actor,
) -> Option<String> {
    let sent = ctx
        .board
        .telegram(move |t| t.sent_message(chat, original))
        .await
        .ok()??;
    let review = sent.kind == NotifyKind::Review.as_str();
    let task = (sent.kind == "question" || review)
        .then_some(sent.task_id)
        .flatten()
        .and_then(|id| TaskId::new(id).ok());
    let Some(task) = task else {
        let private = chat > 0;
        return private.then(|| {
            format!(
                "{}{}",
                escape_line("That message is not a question; commands start with /."),
                commands::help()
            )
        });
    };
    if review {
        return Some(match review::Message::parse(text) {
            Ok(message) => commands::request_changes(task, message, actor, ctx)
                .await
                .unwrap_or_else(|e| escape_line(&format!("⚠️ {e}"))),
            Err(e) => escape_line(&format!("⚠️ {}", e.message)),
        });
    }
    let answer = match Description::parse(text.trim()) {
        Ok(a) if !a.as_str().is_empty() => a,
        Ok(_) => return Some(escape_line("⚠️ The answer is empty.")),
        Err(e) => return Some(escape_line(&format!("⚠️ {}", e.message))),
    };
    Some(
        commands::answer_question(task, answer, actor, ctx)
            .await
            .unwrap_or_else(|e| escape_line(&format!("⚠️ {e}"))),
    )
}

/// A press on Retry / Unblock / Cancel: act, stop the spinner, and edit the message to
/// say what was done and by whom.
async fn on_button(inner: &Inner, ctx: &Context, chat: i64, update_id: i64, query: CallbackQuery) {
    let user = query.from.name();
    let actor = commands::actor(&user).for_update(update_id);
    let parsed = query
        .data
        .as_deref()
        .and_then(|d| d.split_once(':'))
        .and_then(|(action, id)| {
            Some((
                action.to_owned(),
                id.parse().ok().and_then(|id| TaskId::new(id).ok())?,
            ))
        });
    let Some((action, task)) = parsed else {
        let answered =
            retrying(|| inner.api.answer_callback_query(&query.id, "Unknown button")).await;
        if let Err(err) = answered {
            inner.failed(&err);
            tracing::warn!(%err, "telegram: answerCallbackQuery failed");
        }
        return;
    };
    let result = commands::button(&action, task, &actor, ctx).await;
    let toast = match &result {
        Ok(_) => format!("Done: {action}"),
        Err(e) => e.clone(),
    };
    if let Err(err) = retrying(|| inner.api.answer_callback_query(&query.id, &toast)).await {
        inner.failed(&err);
        tracing::warn!(%err, "telegram: answerCallbackQuery failed");
    }
    let (Ok(done), Some(message)) = (result, query.message) else {
        return;
    };
    let message_id = message.message_id;
    let original = ctx
        .board
        .telegram(move |t| t.sent_message(chat, message_id))
        .await
        .ok()
        .flatten()
        .map(|m| m.text)
        .unwrap_or_else(|| super::notify::escape(message.text.as_deref().unwrap_or("")));
    let mut note = Html::new();
    note.line().line().italic(&format!(
        "{} by {user} at {} UTC",
        past(&action),
        chrono::Utc::now().format("%H:%M")
    ));
    let html = format!("{original}{}\n{done}", note.finish());
    if let Err(err) = retrying(|| inner.api.edit_message_text(chat, message_id, &html)).await {
        inner.failed(&err);
        tracing::warn!(%err, "telegram: editMessageText failed");
    }
}

fn past(action: &str) -> &'static str {
    match action {
        "retry" => "Retried",
        "unblock" => "Unblocked",
        "cancel" => "Cancelled",
        "approve" => "Approved",
        _ => "Done",
    }
}

fn escape_line(text: &str) -> String {
    let mut h = Html::new();
    h.text(text).line();
    h.finish()
}

/// Answers a command directly (not through the outbox: an answer is only useful now),
/// sitting out a 429 a bounded number of times.
async fn send(inner: &Inner, chat: i64, html: &str, reply_to: Option<i64>) {
    if let Err(err) = retrying(|| inner.api.send_message(chat, html, None, reply_to)).await {
        inner.failed(&err);
        tracing::warn!(chat, %err, "telegram: cannot answer a command");
    }
}

/// The `update_id` of a raw update, which every update has.
pub fn update_id(update: &Value) -> Option<i64> {
    update.get("update_id")?.as_i64()
}
