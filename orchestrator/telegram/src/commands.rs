//! Chat commands: parsed into [`Command`], then carried out through the board's public
//! methods, the same write path as the HTTP API (history, events, live updates).
//! The actor is `telegram:<user>`, so history says who acted from which chat.

use harness_domain::{
    proposal::ProposalStatus,
    review::{Message, ReviewAction},
    task::{Description, NewTask, Priority, TaskId, TaskRef, TaskStatus, Title},
};

use super::{
    Context,
    notify::{Html, clip},
};
use harness_board::Actor;
use harness_board::budget::BudgetReport;
use harness_store::TaskFilter;

/// Offered by the phone's command menu (setMyCommands).
pub(crate) const MENU: &[(&str, &str)] = &[
    ("status", "Orchestrator state, sessions, queue, spend today"),
    ("tasks", "List tasks, optionally by status: /tasks blocked"),
    ("task", "One task: /task T-12"),
    ("add", "Add a task: /add P1 Fix the login page"),
    ("retry", "Run a task again now: /retry T-12"),
    (
        "unblock",
        "Put a blocked task back in the queue: /unblock T-12",
    ),
    ("cancel", "Cancel a task: /cancel T-12"),
    ("pause", "Start no new sessions"),
    ("resume", "Start sessions again"),
    ("budget", "Spend against the limits"),
    ("answer", "Answer an agent's question: /answer T-12 text"),
    ("proposals", "Tasks SIA proposes, waiting for a decision"),
    ("accept", "Make a proposal a task: /accept 3"),
    ("reject", "Drop a proposal: /reject 3"),
    ("help", "What the bot understands"),
];
const LIST_LIMIT: u32 = 20;
/// The one line under an action that failed (an unknown task, a task in the wrong state).
pub(crate) const HELP_HINT: &str = "/help lists the commands; /tasks shows the task ids.";

/// A command from an allowed chat.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Status,
    Tasks(Option<TaskStatus>),
    Task(TaskId),
    Add(Priority, Title),
    Retry(TaskId),
    Unblock(TaskId),
    Cancel(TaskId),
    Pause,
    Resume,
    Budget,
    Answer(TaskId, Description),
    Proposals,
    Accept(i64),
    Reject(i64),
    Help,
}

/// A message that starts with `/` but is not a command we can run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    #[error("unknown command /{0}")]
    Unknown(String),
    #[error("{0}")]
    BadArgument(String),
}

/// `None` when `text` is not a command at all. `/cmd@OtherBot` is not for us.
pub fn parse(text: &str, bot_username: Option<&str>) -> Option<Result<Command, ParseError>> {
    let text = text.trim();
    let rest = text.strip_prefix('/')?;
    let (head, args) = rest
        .split_once(char::is_whitespace)
        .map_or((rest, ""), |(h, a)| (h, a.trim()));
    let (name, addressee) = head
        .split_once('@')
        .map_or((head, None), |(n, b)| (n, Some(b)));
    if let (Some(to), Some(me)) = (addressee, bot_username)
        && !to.eq_ignore_ascii_case(me)
    {
        return None;
    }
    Some(parse_command(&name.to_ascii_lowercase(), args))
}

fn parse_command(name: &str, args: &str) -> Result<Command, ParseError> {
    let bad = |m: &str| ParseError::BadArgument(m.to_owned());
    let no_args = |cmd: Command| {
        if args.is_empty() {
            Ok(cmd)
        } else {
            Err(bad(&format!("/{name} takes no arguments")))
        }
    };
    match name {
        "status" => no_args(Command::Status),
        "pause" => no_args(Command::Pause),
        "resume" => no_args(Command::Resume),
        "budget" => no_args(Command::Budget),
        "help" | "start" => Ok(Command::Help),
        "tasks" if args.is_empty() => Ok(Command::Tasks(None)),
        "tasks" => args
            .parse::<TaskStatus>()
            .map(|s| Command::Tasks(Some(s)))
            .map_err(|e| bad(&e.message)),
        "task" => task_id(name, args).map(Command::Task),
        "retry" => task_id(name, args).map(Command::Retry),
        "unblock" => task_id(name, args).map(Command::Unblock),
        "cancel" => task_id(name, args).map(Command::Cancel),
        "add" => parse_add(args),
        "proposals" => no_args(Command::Proposals),
        "accept" => proposal_id(name, args).map(Command::Accept),
        "reject" => proposal_id(name, args).map(Command::Reject),
        "answer" => {
            let (id, text) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
            let id = task_id(name, id)?;
            let text = text.trim();
            if text.is_empty() {
                return Err(bad("usage: /answer T-12 your answer"));
            }
            let answer = Description::parse(text).map_err(|e| bad(&e.message))?;
            Ok(Command::Answer(id, answer))
        }
        other => Err(ParseError::Unknown(other.to_owned())),
    }
}

fn task_id(name: &str, args: &str) -> Result<TaskId, ParseError> {
    if args.is_empty() || args.contains(char::is_whitespace) {
        return Err(ParseError::BadArgument(format!(
            "usage: /{name} T-12 (one task id)"
        )));
    }
    TaskRef::parse(args)
        .map(TaskRef::id)
        .map_err(|e| ParseError::BadArgument(e.message))
}

fn proposal_id(name: &str, args: &str) -> Result<i64, ParseError> {
    args.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ParseError::BadArgument(format!("usage: /{name} 3 (a proposal's number)")))
}

fn parse_add(args: &str) -> Result<Command, ParseError> {
    let (first, rest) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
    let (priority, title) = match Priority::ALL
        .into_iter()
        .find(|p| p.as_str().eq_ignore_ascii_case(first))
    {
        Some(p) => (p, rest.trim()),
        None => (Priority::default(), args),
    };
    if title.is_empty() {
        return Err(ParseError::BadArgument(
            "usage: /add [P0-P4] title of the task".into(),
        ));
    }
    let title = Title::parse(title).map_err(|e| ParseError::BadArgument(e.message))?;
    Ok(Command::Add(priority, title))
}

/// The help text (HTML).
pub fn help() -> String {
    let mut h = Html::new();
    h.bold("Commands").line();
    for (name, what) in MENU {
        h.code(&format!("/{name}")).text(&format!(" {what}")).line();
    }
    h.text("Reply to a question's message to answer it.");
    h.finish()
}

/// The actor written to task history: `telegram:<user>`.
pub fn actor(user: &str) -> Actor {
    Actor::named(format!("telegram:{user}"))
}

/// Runs `command` for `actor` and returns the answer (HTML).
pub async fn execute(command: Command, actor: &Actor, ctx: &Context) -> String {
    match run(command, actor, ctx).await {
        Ok(html) => html,
        Err(message) => {
            let mut h = Html::new();
            h.text("⚠️ ").text(&message).line().italic(HELP_HINT);
            h.finish()
        }
    }
}

async fn run(command: Command, actor: &Actor, ctx: &Context) -> Result<String, String> {
    let board = &ctx.board;
    let mut h = Html::new();
    match command {
        Command::Help => return Ok(help()),
        Command::Status => {
            let status = board
                .orchestrator_status(ctx.started_at)
                .await
                .map_err(text)?;
            let totals = board.budget_totals().await.map_err(text)?;
            h.bold(if status.paused {
                "⏸ Paused"
            } else {
                "▶️ Running"
            })
            .text(&format!(
                " · {} sessions running · spent today ${:.2}",
                board.runs().count(),
                totals.today.cost_usd
            ))
            .line();
            for (status, n) in &status.task_counts {
                h.text(&format!("{status}: {n}")).line();
            }
        }
        Command::Tasks(status) => {
            let filter = TaskFilter {
                status,
                limit: LIST_LIMIT,
                ..TaskFilter::default()
            };
            let page = board.list_tasks(filter).await.map_err(text)?;
            if page.items.is_empty() {
                h.text("No tasks.");
            }
            for t in &page.items {
                h.bold(&t.display_id)
                    .text(&format!(
                        " [{}] {} ",
                        t.status.as_str(),
                        t.priority.as_str()
                    ))
                    .text(&clip(&t.title, 80))
                    .line();
            }
            if page.total > page.items.len() as u64 {
                h.italic(&format!("{} of {}", page.items.len(), page.total));
            }
        }
        Command::Task(id) => {
            let t = board.get_task(id).await.map_err(text)?;
            h.bold(&t.display_id).text(": ").text(&t.title).line();
            h.text(&format!(
                "{} · {} · attempt {} of {}",
                t.status.as_str(),
                t.priority.as_str(),
                t.attempts,
                t.max_attempts
            ));
            if let Some(q) = &t.question {
                h.line().bold("Question: ").text(q);
            }
            if let Some(a) = &t.answer {
                h.line().bold("Answer: ").text(a);
            }
            if let Some(d) = &t.diagnosis {
                h.line().bold("Diagnosis:").line().pre(&clip(d, 1500));
            }
            if let Some(f) = &t.last_failure {
                h.line().bold("Last failure:").line().pre(&clip(f, 1500));
            }
        }
        Command::Add(priority, title) => {
            let mut new = NewTask::titled(title);
            new.priority = priority;
            let t = board.create_task(new, actor.clone()).await.map_err(text)?;
            h.text("🆕 Created ")
                .bold(&t.display_id)
                .text(": ")
                .text(&t.title);
        }
        Command::Retry(id) => return button("retry", id, actor, ctx).await,
        Command::Unblock(id) => return button("unblock", id, actor, ctx).await,
        Command::Cancel(id) => return button("cancel", id, actor, ctx).await,
        Command::Pause | Command::Resume => {
            let pause = command == Command::Pause;
            board
                .set_paused(pause, ctx.started_at, actor.clone())
                .await
                .map_err(text)?;
            h.text(if pause {
                "⏸ Paused: no new session starts."
            } else {
                "▶️ Resumed."
            });
        }
        Command::Budget => {
            let totals = board.budget_totals().await.map_err(text)?;
            let r = BudgetReport::new(totals, ctx.budget);
            h.bold(if r.exceeded {
                "Budget: a limit is reached"
            } else {
                "Budget"
            })
            .line()
            .text(&format!(
                "Today ${:.2}{} · this month ${:.2}{}",
                r.today.cost_usd,
                limit(r.limits.daily_usd),
                r.month.cost_usd,
                limit(r.limits.monthly_usd)
            ));
        }
        Command::Answer(id, answer) => return answer_question(id, answer, actor, ctx).await,
        Command::Proposals => {
            let waiting = board
                .list_proposals(Some(ProposalStatus::Proposed), LIST_LIMIT)
                .await
                .map_err(text)?;
            if waiting.is_empty() {
                h.text("No proposals waiting.");
            }
            for p in &waiting {
                h.bold(&format!("{}", p.id))
                    .text(&format!(" {} ", p.priority))
                    .text(&clip(&p.title, 80))
                    .italic(&format!(" ({})", p.source))
                    .line();
            }
        }
        Command::Accept(id) => {
            let (_, task) = board
                .accept_proposal(id, actor.clone())
                .await
                .map_err(text)?;
            h.text("🆕 Accepted as ")
                .bold(&task.display_id)
                .text(": ")
                .text(&task.title);
        }
        Command::Reject(id) => {
            let p = board.reject_proposal(id).await.map_err(text)?;
            h.text("Rejected: ").text(&p.title);
        }
    }
    Ok(h.finish())
}

/// A button press or the matching command: `retry`, `unblock` or `cancel`.
pub async fn button(
    action: &str,
    id: TaskId,
    actor: &Actor,
    ctx: &Context,
) -> Result<String, String> {
    let board = &ctx.board;
    let task = match action {
        "retry" => board.retry_now(id, actor.clone()).await.map_err(text)?,
        "unblock" => board.unblock(id, actor.clone()).await.map_err(text)?,
        "cancel" => board.cancel(id, actor.clone()).await.map_err(text)?,
        "approve" => board
            .review_task(id, ReviewAction::Approve, None, actor.clone())
            .await
            .map_err(text)?,
        // A change request needs words: the person replies to the message with them.
        "changes" => return Err("Reply to this message with the changes you want".into()),
        other => return Err(format!("unknown action {other}")),
    };
    let mut h = Html::new();
    h.bold(&task.display_id)
        .text(&format!(" is now {}: ", task.status.as_str()))
        .text(&task.title);
    Ok(h.finish())
}

/// A reply to a review's message: the changes a person asks for.
pub async fn request_changes(
    id: TaskId,
    message: Message,
    actor: &Actor,
    ctx: &Context,
) -> Result<String, String> {
    let task = ctx
        .board
        .review_task(
            id,
            ReviewAction::RequestChanges,
            Some(message),
            actor.clone(),
        )
        .await
        .map_err(text)?;
    let mut h = Html::new();
    h.text("✔ Changes requested for ")
        .bold(&task.display_id)
        .text(": the agent continues with them.");
    Ok(h.finish())
}

/// `/answer` or a reply to a question's message.
pub async fn answer_question(
    id: TaskId,
    answer: Description,
    actor: &Actor,
    ctx: &Context,
) -> Result<String, String> {
    let task = ctx.board.get_task(id).await.map_err(text)?;
    if task.question.is_none() {
        return Err(format!("{} has no open question", task.display_id));
    }
    let task = ctx
        .board
        .answer_question(id, answer.as_str().to_owned(), actor.clone())
        .await
        .map_err(text)?;
    let mut h = Html::new();
    h.text("✔ Answer recorded for ")
        .bold(&task.display_id)
        .text(": it will run again.");
    Ok(h.finish())
}

fn limit(l: Option<f64>) -> String {
    l.map_or_else(String::new, |l| format!(" of ${l:.2}"))
}

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Command {
        parse(text, Some("HarnessBot")).unwrap().unwrap()
    }

    fn err(text: &str) -> ParseError {
        parse(text, Some("HarnessBot")).unwrap().unwrap_err()
    }

    #[test]
    fn plain_text_is_not_a_command() {
        assert!(parse("hello", None).is_none());
    }

    #[test]
    fn commands_parse_with_their_arguments() {
        assert_eq!(ok("/status"), Command::Status);
        assert_eq!(ok("/status@HarnessBot"), Command::Status);
        assert_eq!(
            ok("/tasks blocked"),
            Command::Tasks(Some(TaskStatus::Blocked))
        );
        assert_eq!(ok("/retry T-12"), Command::Retry(TaskId::new(12).unwrap()));
        assert_eq!(ok("/cancel 3"), Command::Cancel(TaskId::new(3).unwrap()));
        assert_eq!(ok("/accept 3"), Command::Accept(3));
        assert_eq!(ok("/reject 4"), Command::Reject(4));
        assert_eq!(ok("/proposals"), Command::Proposals);
        match ok("/add p0 Fix <the> login") {
            Command::Add(p, t) => assert_eq!((p, t.as_str()), (Priority::P0, "Fix <the> login")),
            other => panic!("{other:?}"),
        }
        match ok("/add Fix it") {
            Command::Add(p, t) => assert_eq!((p, t.as_str()), (Priority::P2, "Fix it")),
            other => panic!("{other:?}"),
        }
        match ok("/answer T-4 use the blue one") {
            Command::Answer(id, a) => assert_eq!((id.get(), a.as_str()), (4, "use the blue one")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_command_for_another_bot_is_ignored() {
        assert!(parse("/status@OtherBot", Some("HarnessBot")).is_none());
    }

    #[test]
    fn bad_arguments_and_unknown_commands_say_what_is_wrong() {
        assert_eq!(err("/frobnicate"), ParseError::Unknown("frobnicate".into()));
        assert!(matches!(err("/retry"), ParseError::BadArgument(_)));
        assert!(matches!(err("/retry T-1 T-2"), ParseError::BadArgument(_)));
        assert!(matches!(err("/task banana"), ParseError::BadArgument(_)));
        assert!(matches!(err("/tasks sideways"), ParseError::BadArgument(_)));
        assert!(matches!(err("/add"), ParseError::BadArgument(_)));
        assert!(matches!(err("/answer T-1"), ParseError::BadArgument(_)));
        assert!(matches!(err("/pause now"), ParseError::BadArgument(_)));
        assert!(matches!(err("/accept"), ParseError::BadArgument(_)));
        assert!(matches!(err("/reject x"), ParseError::BadArgument(_)));
    }

    #[test]
    fn a_user_acts_as_telegram_and_their_name() {
        assert_eq!(actor("alice").as_str(), "telegram:alice");
    }
}
