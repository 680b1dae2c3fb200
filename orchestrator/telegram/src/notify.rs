//! Notifications: which events become messages, and their HTML.
//!
//! Every piece of user or agent text is escaped, and a message never exceeds
//! Telegram's 4096 visible characters: long text is cut with a note instead.

use std::collections::{BTreeMap, BTreeSet};

use harness_domain::{
    event::{BlockedBy, Event, Operation},
    task::{Task, TaskId, TaskStatus},
};
use serde_json::{Value, json};

use harness_config::NotifyKind;
use harness_store::telegram::OutboxDraft;
use harness_store::telegram::Render;

/// Telegram's limit on a message's text after entity parsing.
pub(crate) const MAX_VISIBLE: usize = 4096;
/// Room kept for the lines that follow a long piece (link, hint).
const RESERVE: usize = 400;
const CUT_NOTE: &str = "… (cut: the full text is on the dashboard)";

/// HTML text with a count of the characters Telegram will show.
#[derive(Debug, Default, Clone)]
pub struct Html {
    html: String,
    visible: usize,
}

impl Html {
    pub fn new() -> Self {
        Self::default()
    }

    /// Plain text, escaped.
    pub fn text(&mut self, raw: &str) -> &mut Self {
        let raw = self.fit(raw);
        self.visible += raw.chars().count();
        self.html.push_str(&escape(&raw));
        self
    }

    pub(crate) fn bold(&mut self, raw: &str) -> &mut Self {
        self.wrap("<b>", raw, "</b>")
    }

    pub(crate) fn italic(&mut self, raw: &str) -> &mut Self {
        self.wrap("<i>", raw, "</i>")
    }

    pub fn code(&mut self, raw: &str) -> &mut Self {
        self.wrap("<code>", raw, "</code>")
    }

    /// A preformatted block, cut to leave room for what follows.
    pub fn pre(&mut self, raw: &str) -> &mut Self {
        self.wrap("<pre>", raw, "</pre>")
    }

    pub fn link(&mut self, url: &str, label: &str) -> &mut Self {
        if self.room() < label.chars().count() {
            return self;
        }
        self.visible += label.chars().count();
        self.html.push_str(&format!(
            "<a href=\"{}\">{}</a>",
            escape(url),
            escape(label)
        ));
        self
    }

    /// A line break.
    pub fn line(&mut self) -> &mut Self {
        self.text("\n")
    }

    #[cfg(test)]
    pub(crate) fn visible_len(&self) -> usize {
        self.visible
    }

    pub fn finish(&self) -> String {
        self.html.clone()
    }

    fn wrap(&mut self, open: &str, raw: &str, close: &str) -> &mut Self {
        let raw = self.fit(raw);
        self.visible += raw.chars().count();
        self.html.push_str(open);
        self.html.push_str(&escape(&raw));
        self.html.push_str(close);
        self
    }

    fn room(&self) -> usize {
        MAX_VISIBLE.saturating_sub(self.visible)
    }

    /// `raw` cut so the message keeps `RESERVE` characters free, with a note when cut.
    fn fit(&self, raw: &str) -> String {
        let room = self.room().saturating_sub(RESERVE.min(self.room() / 2));
        clip(raw, room)
    }
}

/// `raw` in at most `max` characters; a cut one ends with a note saying so.
pub fn clip(raw: &str, max: usize) -> String {
    if raw.chars().count() <= max {
        return raw.to_owned();
    }
    let note = CUT_NOTE.chars().count();
    if max <= note {
        return raw.chars().take(max).collect();
    }
    let mut cut: String = raw.chars().take(max - note).collect();
    cut.push_str(CUT_NOTE);
    cut
}

/// Escapes the three characters Telegram's HTML mode requires (and `"` for attributes).
pub fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// Turns events into drafts for every configured chat.
#[derive(Debug, Clone)]
pub(crate) struct Renderer {
    pub chats: Vec<i64>,
    pub kinds: BTreeSet<NotifyKind>,
    pub public_url: Option<String>,
}

/// A rendered notification, before it is addressed to chats.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub kind: NotifyKind,
    pub html: String,
    pub keyboard: Option<Value>,
}

impl Render for Renderer {
    fn event(&mut self, event: &Event, task: Option<&Task>) -> Vec<OutboxDraft> {
        let Some(note) = render(event, task, self.public_url.as_deref()) else {
            return Vec::new();
        };
        if !self.kinds.contains(&note.kind) {
            return Vec::new();
        }
        let keyboard = note.keyboard.as_ref().map(Value::to_string);
        self.chats
            .iter()
            .map(|&chat_id| OutboxDraft {
                chat_id,
                kind: note.kind.as_str(),
                task_id: event.task_id,
                text: note.html.clone(),
                keyboard: keyboard.clone(),
            })
            .collect()
    }

    fn summary(&self, counts: &BTreeMap<String, u64>) -> String {
        let total: u64 = counts.values().sum();
        let mut h = Html::new();
        h.bold(&format!("{total} more notifications"))
            .text(" arrived faster than a chat can take them, so they are summed up here:")
            .line();
        for (kind, n) in counts {
            h.text(&format!("• {kind}: {n}")).line();
        }
        match &self.public_url {
            Some(url) => {
                h.link(&format!("{url}/events"), "See the events on the dashboard");
            }
            None => {
                h.text("See the events page of the dashboard.");
            }
        }
        h.finish()
    }
}

/// The notification an event calls for, if any.
pub fn render(event: &Event, task: Option<&Task>, public_url: Option<&str>) -> Option<Note> {
    let (kind, keyboard, mut h) = match event.operation()? {
        Operation::TaskStatusChanged {
            to: TaskStatus::Completed,
            ..
        } => {
            let mut h = task_head("✅ ", "completed", task, event);
            h.line().text(after_colon(&event.message));
            (NotifyKind::Completed, None, h)
        }
        Operation::TaskFailed {
            status: TaskStatus::Blocked,
            investigation,
        } => {
            let mut h = task_head("⛔ ", "is blocked", task, event);
            if let Some(t) = task {
                h.text(&format!(" after {} attempts", t.attempts));
                if let Some(summary) = t.last_failure.as_deref().filter(|s| !s.is_empty()) {
                    h.line().pre(summary);
                }
            }
            // Promised only when an investigator was staffed as the task blocked.
            if investigation {
                h.line()
                    .italic("The investigator's diagnosis follows when it is ready.");
            }
            (NotifyKind::Blocked, event.task_id.map(blocked_keyboard), h)
        }
        Operation::TaskFailed { .. } => {
            let mut h = task_head("⚠️ ", "attempt failed", task, event);
            h.line().text(after_colon(&event.message));
            (NotifyKind::Failed, None, h)
        }
        // Blocked without a failed attempt before it (crash recovery): the only word a
        // person gets, so it is the Blocked message.
        Operation::TaskBlocked(BlockedBy::Crashes { .. }) => {
            let mut h = task_head("⛔ ", "is blocked", task, event);
            let reason = task
                .and_then(|t| t.last_failure.as_deref())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| after_colon(&event.message));
            h.line().pre(reason);
            (NotifyKind::Blocked, event.task_id.map(blocked_keyboard), h)
        }
        Operation::TaskBlocked(BlockedBy::Investigation { diagnosis }) => {
            let diagnosis = diagnosis.filter(|d| !d.is_empty())?;
            let mut h = task_head("🔎 ", "diagnosis", task, event);
            h.line().pre(&diagnosis);
            (NotifyKind::Diagnosis, None, h)
        }
        Operation::TaskQuestion { question } => {
            let mut h = task_head("❓ ", "asks", task, event);
            h.line().line().text(&question).line().line();
            let display = task.map_or("the task", |t| t.display_id.as_str());
            h.italic(&format!(
                "Reply to this message to answer, or send /answer {display} your answer."
            ));
            let force_reply = json!({ "force_reply": true, "selective": false,
                                      "input_field_placeholder": "Your answer" });
            (NotifyKind::Question, Some(force_reply), h)
        }
        Operation::TaskReviewRequested { commit, branch } => {
            let mut h = task_head("👀 ", "waits for review", task, event);
            h.line()
                .text(&format!(
                    "Verified on {branch} at {}.",
                    &commit[..commit.len().min(12)]
                ))
                .line()
                .line();
            h.italic("Approve to land it, or reply to this message with the changes you want.");
            (NotifyKind::Review, event.task_id.map(review_keyboard), h)
        }
        Operation::TaskPullRequest { number, url } => {
            let verb = format!("is in pull request #{number}");
            let mut h = task_head("🔀 ", &verb, task, event);
            h.line().link(&url, &url);
            (NotifyKind::Review, None, h)
        }
        Operation::TaskCreated => {
            let h = task_head("🆕 ", "created", task, event);
            (NotifyKind::Created, None, h)
        }
        Operation::ProposalCreated { proposal_id: id } => {
            let mut h = Html::new();
            h.text("💡 ").text(&event.message).line();
            h.italic(&format!(
                "It waits for a person: /accept {id} makes it a task, /reject {id} drops it."
            ));
            (NotifyKind::Proposed, None, h)
        }
        Operation::BudgetExceeded(report) => {
            let mut h = Html::new();
            h.text("💸 ")
                .bold("Budget limit reached")
                .text(": no new session starts until the period rolls over.");
            h.line().text(&format!(
                "Spent today: ${:.2}, this month: ${:.2}",
                report.today.cost_usd, report.month.cost_usd
            ));
            (NotifyKind::Budget, None, h)
        }
        Operation::RateLimitPaused { .. } => {
            let mut h = Html::new();
            h.text("⏸ ")
                .bold("Rate limited")
                .text(": ")
                .text(&event.message);
            (NotifyKind::RateLimit, None, h)
        }
        Operation::RateLimitResumed => {
            let mut h = Html::new();
            h.text("▶️ ")
                .bold("Rate limit over")
                .text(": ")
                .text(&event.message);
            (NotifyKind::RateLimit, None, h)
        }
        Operation::OrchestratorRecovered => {
            let mut h = Html::new();
            h.text("⚠️ ")
                .bold("Orchestrator started after an unclean stop")
                .text(": ")
                .text(&event.message);
            (NotifyKind::Recovered, None, h)
        }
        Operation::OrchestratorStopped => {
            let mut h = Html::new();
            h.text("⏹ ")
                .bold("Orchestrator stopped")
                .text(": ")
                .text(&event.message);
            (NotifyKind::Stopped, None, h)
        }
        _ => return None,
    };
    if let (Some(url), Some(t)) = (public_url, task) {
        h.line().link(
            &format!("{url}/tasks/{}", t.id.get()),
            "Open on the dashboard",
        );
    }
    Some(Note {
        kind,
        html: h.finish(),
        keyboard,
    })
}

/// `✅ T-3 completed: the title` (bold id and verb, escaped title).
fn task_head(icon: &str, verb: &str, task: Option<&Task>, event: &Event) -> Html {
    let mut h = Html::new();
    h.text(icon);
    match task {
        Some(t) => {
            h.bold(&format!("{} {verb}", t.display_id))
                .text(": ")
                .text(&t.title);
        }
        None => {
            let id = event
                .task_id
                .map_or_else(String::new, |id| format!("T-{id} "));
            h.bold(&format!("{id}{verb}"));
        }
    }
    h
}

/// "T-3 is now completed: verified and merged as abc" → "verified and merged as abc".
fn after_colon(message: &str) -> &str {
    message.split_once(": ").map_or(message, |(_, rest)| rest)
}

/// Approve / Request changes under a task waiting for review.
pub(crate) fn review_keyboard(task_id: TaskId) -> Value {
    json!({ "inline_keyboard": [[
        { "text": "Approve", "callback_data": format!("approve:{task_id}") },
        { "text": "Request changes", "callback_data": format!("changes:{task_id}") },
    ]]})
}

/// Retry / Unblock / Cancel under a blocked task.
pub(crate) fn blocked_keyboard(task_id: TaskId) -> Value {
    json!({ "inline_keyboard": [[
        { "text": "Retry", "callback_data": format!("retry:{task_id}") },
        { "text": "Unblock", "callback_data": format!("unblock:{task_id}") },
        { "text": "Cancel", "callback_data": format!("cancel:{task_id}") },
    ]]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proposal_says_how_to_accept_or_reject_it() {
        let event = Event {
            id: 1,
            kind: "proposal.created".into(),
            severity: harness_domain::event::Severity::Info,
            task_id: None,
            agent_id: None,
            session_id: None,
            message: "SIA proposes \"Split <the> parser\" (blocked)".into(),
            payload: json!({"proposal_id": 7}),
            at: harness_domain::time::Timestamp::now(),
        };
        let note = render(&event, None, None).unwrap();
        assert_eq!(note.kind, NotifyKind::Proposed);
        assert!(note.html.contains("/accept 7") && note.html.contains("/reject 7"));
        assert!(
            note.html.contains("Split &lt;the&gt; parser"),
            "{}",
            note.html
        );
    }

    fn event(kind: &str, message: &str, payload: Value) -> Event {
        Event {
            id: 1,
            kind: kind.into(),
            severity: harness_domain::event::Severity::Error,
            task_id: Some(TaskId::new(3).unwrap()),
            agent_id: None,
            session_id: None,
            message: message.into(),
            payload,
            at: harness_domain::time::Timestamp::now(),
        }
    }

    #[test]
    fn a_task_blocked_by_crash_recovery_is_a_blocked_message_with_buttons() {
        let e = event(
            "task.blocked",
            "T-3 is blocked: interrupted by 3 orchestrator crashes",
            json!({"reason": "crash_interruptions"}),
        );
        let note = render(&e, None, None).unwrap();
        assert_eq!(note.kind, NotifyKind::Blocked);
        assert!(note.html.contains("T-3 is blocked"), "{}", note.html);
        assert!(note.html.contains("interrupted by 3"), "{}", note.html);
        assert_eq!(
            note.keyboard,
            Some(blocked_keyboard(TaskId::new(3).unwrap()))
        );
    }

    #[test]
    fn a_blocking_after_failed_attempts_sends_only_the_diagnosis_later() {
        let without = event("task.blocked", "T-3 is blocked", json!({"diagnosis": null}));
        assert_eq!(render(&without, None, None), None);
        let with = event(
            "task.blocked",
            "T-3 is blocked",
            json!({"diagnosis": "flaky <test>"}),
        );
        let note = render(&with, None, None).unwrap();
        assert_eq!(note.kind, NotifyKind::Diagnosis);
        assert!(note.html.contains("flaky &lt;test&gt;"), "{}", note.html);
    }

    #[test]
    fn a_diagnosis_is_promised_only_when_an_investigator_was_staffed() {
        let staffed = json!({"status": "blocked", "investigation": true});
        let note = render(&event("task.failed", "x", staffed), None, None).unwrap();
        assert!(note.html.contains("diagnosis follows"), "{}", note.html);
        let alone = json!({"status": "blocked", "investigation": false});
        let note = render(&event("task.failed", "x", alone), None, None).unwrap();
        assert!(!note.html.contains("diagnosis"), "{}", note.html);
        assert_eq!(note.kind, NotifyKind::Blocked);
    }

    #[test]
    fn hostile_text_is_escaped() {
        let mut h = Html::new();
        h.bold("<b>x</b> & \"y\"");
        assert_eq!(
            h.finish(),
            "<b>&lt;b&gt;x&lt;/b&gt; &amp; &quot;y&quot;</b>"
        );
    }

    #[test]
    fn a_message_never_exceeds_the_visible_limit() {
        let long = "é".repeat(10_000);
        let mut h = Html::new();
        h.bold("T-1 is blocked").line().pre(&long).line().pre(&long);
        h.line()
            .link("https://example.com/tasks/1", "Open on the dashboard");
        assert!(h.visible_len() <= MAX_VISIBLE, "{}", h.visible_len());
        assert!(
            h.finish()
                .contains("(cut: the full text is on the dashboard)")
        );
        assert!(h.finish().contains("Open on the dashboard"));
    }

    #[test]
    fn escaping_does_not_count_against_the_visible_limit() {
        let mut h = Html::new();
        h.text(&"<".repeat(3000));
        assert_eq!(h.visible_len(), 3000);
        assert!(h.finish().len() > MAX_VISIBLE);
    }

    #[test]
    fn clip_keeps_short_text_whole() {
        assert_eq!(clip("short", 10), "short");
        assert!(clip(&"x".repeat(100), 60).ends_with(CUT_NOTE));
        assert_eq!(clip(&"x".repeat(100), 60).chars().count(), 60);
    }
}
