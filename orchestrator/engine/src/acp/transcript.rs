//! What an ACP agent's `session/update` notifications become in the session log: its
//! messages, its tool calls with their input and output, its plan, and the cost it
//! reports. In the log's own shapes, so a session reads the same whatever ran it:
//! a tool call is `{"name","input"}`, its result `{"name","output","is_error"}`.

use std::collections::HashMap;

use agent_client_protocol::v1::schema::{
    ContentBlock, Plan, PlanEntryStatus, SessionUpdate, ToolCall, ToolCallContent, ToolCallStatus,
    ToolCallUpdateFields,
};
use serde_json::{Value, json};

use crate::session::{LogKind, truncate_with_note};

/// Tool calls remembered to name their results; older ones are forgotten past this.
const MAX_TOOL_CALLS: usize = 1024;

/// One log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub kind: LogKind,
    pub content: String,
}

#[derive(Debug)]
struct Call {
    name: String,
    /// `name` is the tool's own, not a title.
    named: bool,
    input: Value,
    /// Its `{"name","input"}` line was written.
    announced: bool,
}

/// Turns updates into log entries, keeping only what it needs: the message being
/// streamed, open tool calls by id (bounded), the last message and the reported cost.
#[derive(Debug)]
pub(crate) struct Transcript {
    message: String,
    last_message: String,
    calls: HashMap<String, Call>,
    cost_usd: f64,
    max_entry_bytes: usize,
}

impl Transcript {
    pub(crate) fn new(max_entry_bytes: usize) -> Self {
        Self {
            message: String::new(),
            last_message: String::new(),
            calls: HashMap::new(),
            cost_usd: 0.0,
            max_entry_bytes,
        }
    }

    /// The log entries for one update, and the cost (USD) it adds to the session.
    pub(crate) fn update(&mut self, update: SessionUpdate) -> (Vec<Entry>, f64) {
        if let SessionUpdate::AgentMessageChunk(chunk) = &update {
            if let ContentBlock::Text(text) = &chunk.content
                && self.message.len() < self.max_entry_bytes
            {
                self.message.push_str(&text.text);
            }
            return (Vec::new(), 0.0);
        }
        // Anything else ends the message being streamed.
        let mut entries: Vec<Entry> = self.flush().into_iter().collect();
        let mut added = 0.0;
        match update {
            SessionUpdate::ToolCall(call) => entries.extend(self.call(call)),
            SessionUpdate::ToolCallUpdate(update) => {
                entries.extend(self.call_update(update.tool_call_id.to_string(), update.fields));
            }
            SessionUpdate::Plan(plan) => {
                entries.push(self.entry(LogKind::System, plan_text(&plan)))
            }
            // The cost is the session's so far: what grew since the last report is new.
            SessionUpdate::UsageUpdate(usage) => {
                if let Some(cost) = usage
                    .cost
                    .filter(|c| c.currency.eq_ignore_ascii_case("USD"))
                    && cost.amount.is_finite()
                    && cost.amount > self.cost_usd
                {
                    added = cost.amount - self.cost_usd;
                    self.cost_usd = cost.amount;
                }
            }
            // Thoughts, replayed user messages, commands and modes are not the work.
            _ => {}
        }
        (entries, added)
    }

    /// The message being streamed, as a finished entry.
    pub(crate) fn flush(&mut self) -> Option<Entry> {
        if self.message.trim().is_empty() {
            self.message.clear();
            return None;
        }
        let text = std::mem::take(&mut self.message);
        self.last_message.clone_from(&text);
        Some(self.entry(LogKind::Text, text))
    }

    /// The agent's last complete message.
    pub(crate) fn last_message(&self) -> &str {
        &self.last_message
    }

    fn call(&mut self, call: ToolCall) -> Vec<Entry> {
        let id = call.tool_call_id.to_string();
        if self.calls.len() >= MAX_TOOL_CALLS && !self.calls.contains_key(&id) {
            self.calls.clear();
        }
        self.calls.insert(
            id.clone(),
            Call {
                // The tool's own name where the agent gives one; else its title (for
                // a command, often the command itself), cut short.
                named: call.name.is_some(),
                name: call.name.unwrap_or_else(|| clip(&call.title)),
                input: call.raw_input.unwrap_or(Value::Null),
                announced: false,
            },
        );
        let fields = ToolCallUpdateFields::new()
            .status(call.status)
            .content(call.content)
            .raw_output(call.raw_output);
        self.call_update(id, fields)
    }

    /// The call's line once its input is known (agents often send the call first and
    /// its input in an update), its result's once it is done.
    fn call_update(&mut self, id: String, fields: ToolCallUpdateFields) -> Vec<Entry> {
        let call = self.calls.entry(id.clone()).or_insert_with(|| Call {
            name: "tool".into(),
            named: false,
            input: Value::Null,
            announced: false,
        });
        if let Some(name) = fields.name {
            call.name = name;
            call.named = true;
        } else if let Some(title) = fields.title.filter(|_| !call.named) {
            call.name = clip(&title);
        }
        if let Some(input) = fields.raw_input {
            call.input = input;
        }
        let done = matches!(
            fields.status,
            Some(ToolCallStatus::Completed | ToolCallStatus::Failed)
        );
        let has_input = !matches!(&call.input, Value::Null)
            && call.input.as_object().is_none_or(|o| !o.is_empty());
        let mut lines = Vec::new();
        if !call.announced && (has_input || done) {
            call.announced = true;
            lines.push((
                LogKind::ToolCall,
                json!({"name": call.name, "input": call.input}).to_string(),
            ));
        }
        if done {
            let output = match fields.raw_output {
                Some(Value::String(text)) => text,
                Some(value) if !value.is_null() => value.to_string(),
                _ => content_text(fields.content.as_deref().unwrap_or_default()),
            };
            let failed = fields.status == Some(ToolCallStatus::Failed);
            lines.push((
                LogKind::ToolResult,
                json!({"name": call.name, "output": output, "is_error": failed}).to_string(),
            ));
            self.calls.remove(&id);
        }
        lines
            .into_iter()
            .map(|(kind, content)| self.entry(kind, content))
            .collect()
    }

    fn entry(&self, kind: LogKind, content: String) -> Entry {
        Entry {
            kind,
            content: truncate_with_note(&content, self.max_entry_bytes),
        }
    }
}

/// Longest tool name kept from a title.
const MAX_NAME_CHARS: usize = 120;

fn clip(title: &str) -> String {
    match title.char_indices().nth(MAX_NAME_CHARS) {
        Some((at, _)) => format!("{}…", &title[..at]),
        None => title.to_owned(),
    }
}

fn content_text(content: &[ToolCallContent]) -> String {
    content
        .iter()
        .map(|item| match item {
            ToolCallContent::Content(c) => match &c.content {
                ContentBlock::Text(text) => text.text.clone(),
                _ => "[non-text content]".into(),
            },
            ToolCallContent::Diff(diff) => format!("edited {}", diff.path.display()),
            ToolCallContent::Terminal(t) => format!("terminal {}", t.terminal_id),
            _ => String::new(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn plan_text(plan: &Plan) -> String {
    let steps = plan.entries.iter().map(|entry| {
        let mark = match entry.status {
            PlanEntryStatus::Completed => "x",
            PlanEntryStatus::InProgress => "~",
            _ => " ",
        };
        format!("[{mark}] {}", entry.content)
    });
    format!("plan:\n{}", steps.collect::<Vec<_>>().join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(value: Value) -> SessionUpdate {
        serde_json::from_value(value).expect("a valid session update")
    }

    fn text(t: &str) -> SessionUpdate {
        update(
            json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": t}}),
        )
    }

    #[test]
    fn message_chunks_become_one_text_line_when_something_else_arrives() {
        let mut t = Transcript::new(1024);
        assert!(t.update(text("Writing ")).0.is_empty());
        assert!(t.update(text("the file.")).0.is_empty());
        let (entries, _) = t.update(update(json!({
            "sessionUpdate": "tool_call", "toolCallId": "t1", "title": "Write",
            "kind": "edit", "status": "pending", "rawInput": {"file_path": "/w/a.txt"}
        })));
        assert_eq!(entries[0].kind, LogKind::Text);
        assert_eq!(entries[0].content, "Writing the file.");
        assert_eq!(entries[1].kind, LogKind::ToolCall);
        let call: Value = serde_json::from_str(&entries[1].content).unwrap();
        assert_eq!(
            call,
            json!({"name": "Write", "input": {"file_path": "/w/a.txt"}})
        );
        assert_eq!(t.last_message(), "Writing the file.");
    }

    #[test]
    fn a_call_whose_input_comes_later_is_logged_once_with_it_then_its_result() {
        let mut t = Transcript::new(1024);
        let (first, _) = t.update(update(json!({
            "sessionUpdate": "tool_call", "toolCallId": "t1", "title": "Bash",
            "kind": "execute", "status": "pending", "rawInput": {}
        })));
        assert!(first.is_empty(), "no input yet: {first:?}");
        let (second, _) = t.update(update(json!({
            "sessionUpdate": "tool_call_update", "toolCallId": "t1",
            "rawInput": {"command": "ls"}
        })));
        assert_eq!(second.len(), 1);
        let (third, _) = t.update(update(json!({
            "sessionUpdate": "tool_call_update", "toolCallId": "t1", "status": "failed",
            "content": [{"type": "content", "content": {"type": "text", "text": "no such dir"}}]
        })));
        assert_eq!(third.len(), 1, "the call is not logged twice: {third:?}");
        let result: Value = serde_json::from_str(&third[0].content).unwrap();
        assert_eq!(
            result,
            json!({"name": "Bash", "output": "no such dir", "is_error": true})
        );
    }

    #[test]
    fn a_call_is_named_by_its_tool_else_by_its_title_cut_short() {
        let mut t = Transcript::new(4096);
        let long = "x".repeat(500);
        let call = |id: &str, name: Option<&str>| {
            let mut call = json!({"sessionUpdate": "tool_call", "toolCallId": id, "title": long,
                "kind": "execute", "status": "completed", "rawInput": {"command": "ls"}});
            if let Some(name) = name {
                call["name"] = json!(name);
            }
            update(call)
        };
        let named: Value =
            serde_json::from_str(&t.update(call("t1", Some("Bash"))).0[0].content).unwrap();
        assert_eq!(named["name"], "Bash");
        let titled: Value = serde_json::from_str(&t.update(call("t2", None)).0[0].content).unwrap();
        assert_eq!(
            titled["name"].as_str().unwrap().chars().count(),
            MAX_NAME_CHARS + 1
        );
    }

    #[test]
    fn reported_cost_counts_only_what_grew_and_only_in_dollars() {
        let mut t = Transcript::new(1024);
        let usage = |amount: f64, currency: &str| {
            update(
                json!({"sessionUpdate": "usage_update", "used": 10, "size": 100,
                "cost": {"amount": amount, "currency": currency}}),
            )
        };
        assert_eq!(t.update(usage(0.25, "USD")).1, 0.25);
        assert!((t.update(usage(0.75, "USD")).1 - 0.5).abs() < 1e-9);
        assert_eq!(
            t.update(usage(0.5, "USD")).1,
            0.0,
            "a smaller total adds nothing"
        );
        assert_eq!(t.update(usage(9.0, "EUR")).1, 0.0);
    }

    #[test]
    fn a_plan_is_a_system_line_with_its_steps() {
        let mut t = Transcript::new(1024);
        let (entries, _) = t.update(update(json!({"sessionUpdate": "plan", "entries": [
            {"content": "read", "priority": "high", "status": "completed"},
            {"content": "write", "priority": "high", "status": "pending"}
        ]})));
        assert_eq!(entries[0].kind, LogKind::System);
        assert_eq!(entries[0].content, "plan:\n[x] read\n[ ] write");
    }

    #[test]
    fn a_long_message_is_cut_to_the_entry_limit() {
        let mut t = Transcript::new(64);
        for _ in 0..100 {
            t.update(text("0123456789"));
        }
        let entry = t.flush().unwrap();
        assert!(entry.content.len() < 200, "{}", entry.content.len());
    }
}
