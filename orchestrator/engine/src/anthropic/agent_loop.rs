//! The agent loop: send the conversation, run the tools the model asks for, send the
//! results back, until a harness tool ends the session or a bound is reached.
//!
//! Every model message, tool call and tool result goes to the [`SessionSink`].

use std::future::Future;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{
    client::{AnthropicError, Client, MessagesRequest},
    pricing::PriceTable,
    types::{AssembledMessage, ContentBlock, Message, Role, ToolResultContent},
};
use crate::{
    session::{LogKind, SessionSink, Usage},
    tools::{HarnessAction, ToolOutcome, Workspace, parse_harness_action},
};
use harness_domain::task::NewTask;

/// Runs the workspace tools (and `create_task`) for the loop. A trait so tests and the
/// scheduler can supply their own.
pub trait ToolExecutor: Send + Sync {
    fn execute(&self, name: &str, input: &Value) -> impl Future<Output = ToolOutcome> + Send;

    /// Creates a subtask on the board and says its id. Agents that may not plan get an
    /// error result.
    fn create_task(&self, task: NewTask) -> impl Future<Output = ToolOutcome> + Send {
        let _ = task;
        async { ToolOutcome::error("create_task is not available to this agent") }
    }
}

impl ToolExecutor for Workspace {
    fn execute(&self, name: &str, input: &Value) -> impl Future<Output = ToolOutcome> + Send {
        self.dispatch(name, input)
    }
}

/// Bounds and model settings of one session.
#[derive(Debug, Clone)]
pub struct LoopConfig {
    pub model: String,
    pub max_tokens: u32,
    /// Model responses per session.
    pub max_turns: u32,
    /// Stop when this session has cost this much (USD).
    pub max_cost_usd: Option<f64>,
    /// Times the model is reminded to call a harness tool when it stops without one.
    pub max_nudges: u32,
}

impl LoopConfig {
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            max_tokens: 8192,
            max_turns: 100,
            max_cost_usd: None,
            max_nudges: 2,
        }
    }
}

/// How the session ended.
#[derive(Debug, Clone)]
pub enum LoopOutcome {
    /// `complete_task`: commit and verify next.
    Completed {
        summary: String,
        /// Why the task needed no change to the repository, when the agent changed
        /// nothing: a role that must change it fails without this.
        no_changes_needed: Option<String>,
        /// The conversation, to continue with a person's change request after review.
        conversation: Box<PausedConversation>,
    },
    /// `fail_task`, a refusal, or the model stopping without a harness tool.
    Failed {
        reason: String,
    },
    /// `ask_human`: store `paused`, wait for the answer, then [`PausedConversation::resume`].
    AskHuman {
        question: String,
        paused: PausedConversation,
    },
    TurnLimit {
        turns: u32,
    },
    CostLimit {
        spent_usd: f64,
    },
    /// The API failed. [`AnthropicError::counts_as_task_failure`] says whether an attempt is used.
    Api(AnthropicError),
    Cancelled,
}

/// The outcome with what the session consumed.
#[derive(Debug, Clone)]
pub struct LoopReport {
    pub outcome: LoopOutcome,
    pub usage: Usage,
    pub cost_usd: f64,
    pub turns: u32,
    /// The model's last text, for the next attempt's failure summary.
    pub last_text: String,
}

/// A conversation waiting on `ask_human`. Serializable for the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PausedConversation {
    pub messages: Vec<Message>,
    /// Results of the tool calls that ran before `ask_human` in the same turn.
    pub results: Vec<ContentBlock>,
    pub ask_tool_use_id: String,
    /// Tool calls after `ask_human` in the same turn, not run.
    pub skipped: Vec<String>,
    /// Paused at `complete_task` rather than `ask_human`: it resumes with a person's
    /// follow-up (a change request after review) as that call's result.
    #[serde(default)]
    pub after_completion: bool,
}

impl PausedConversation {
    /// The conversation with the human's answer as the `ask_human` result, ready for
    /// [`AgentLoop::run`].
    pub fn resume(self, answer: &str) -> Vec<Message> {
        let mut messages = self.messages;
        let mut content = self.results;
        let content_text = if self.after_completion {
            answer.to_owned()
        } else {
            format!("The human answered: {answer}")
        };
        content.push(ContentBlock::ToolResult {
            tool_use_id: self.ask_tool_use_id,
            content: content_text.into(),
            is_error: false,
        });
        for id in self.skipped {
            content.push(ContentBlock::ToolResult {
                tool_use_id: id,
                content: "not run: the session paused for ask_human; call it again if still needed"
                    .into(),
                is_error: true,
            });
        }
        messages.push(Message {
            role: Role::User,
            content,
        });
        messages
    }
}

/// The reminder sent when the model ends its turn without calling a tool.
const NUDGE: &str = "You ended your turn without calling a tool. Continue the task; when it is done call complete_task with a summary, or call fail_task with the reason it cannot be done.";

/// Largest tool-call log line; a `write_file` of a big file is logged cut short.
const MAX_TOOL_CALL_LOG: usize = 32 * 1024;

/// `{"name","input"}` as the API contract says, still valid JSON when cut: an oversized
/// input becomes a truncated string with `"truncated": true`.
fn tool_call_log(name: &str, input: &Value) -> String {
    let full = json!({"name": name, "input": input}).to_string();
    if full.len() <= MAX_TOOL_CALL_LOG {
        return full;
    }
    let text = input.to_string();
    let mut end = MAX_TOOL_CALL_LOG.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    json!({"name": name, "input": &text[..end], "truncated": true}).to_string()
}

/// The conversation paused at the harness tool call `calls[index]`: the results of the
/// calls before it in the turn, and the ones after it, not run.
fn paused_at(
    messages: &[Message],
    results: Vec<ContentBlock>,
    calls: &[(&str, &str, &Value)],
    index: usize,
    after_completion: bool,
) -> PausedConversation {
    PausedConversation {
        messages: messages.to_vec(),
        results,
        ask_tool_use_id: calls[index].0.to_owned(),
        skipped: calls[index + 1..]
            .iter()
            .map(|(id, _, _)| (*id).to_owned())
            .collect(),
        after_completion,
    }
}

/// One session's loop over the API.
pub struct AgentLoop<'a, E: ToolExecutor> {
    pub client: &'a Client,
    pub prices: &'a PriceTable,
    pub executor: &'a E,
    pub sink: &'a dyn SessionSink,
    pub config: LoopConfig,
}

/// What one turn decided.
enum Step {
    Continue(Vec<ContentBlock>),
    End(LoopOutcome),
}

impl<E: ToolExecutor> AgentLoop<'_, E> {
    /// Runs turns from `messages` (the task prompt, or a resumed conversation) until the
    /// session ends. Cancellation is checked during API calls and tool runs.
    pub async fn run(
        &self,
        system: &str,
        tools: &[Value],
        mut messages: Vec<Message>,
        cancel: &CancellationToken,
    ) -> LoopReport {
        let mut report = LoopReport {
            outcome: LoopOutcome::Cancelled,
            usage: Usage::default(),
            cost_usd: 0.0,
            turns: 0,
            last_text: String::new(),
        };
        let mut nudges = 0;
        let mut priced_unknown = false;
        report.outcome = loop {
            if report.turns >= self.config.max_turns {
                break LoopOutcome::TurnLimit {
                    turns: report.turns,
                };
            }
            let reply = match self.call(system, tools, &messages, cancel).await {
                Some(Ok(reply)) => reply,
                Some(Err(error)) => break LoopOutcome::Api(error),
                None => break LoopOutcome::Cancelled,
            };
            report.turns += 1;
            self.account(&reply, &mut report, &mut priced_unknown);
            messages.push(Message {
                role: Role::Assistant,
                content: reply.content.clone(),
            });
            if reply.tool_uses().next().is_none() {
                if reply.stop_reason.as_deref() == Some("refusal") {
                    break LoopOutcome::Failed {
                        reason: format!("the model refused: {}", report.last_text),
                    };
                }
                if nudges >= self.config.max_nudges {
                    break LoopOutcome::Failed {
                        reason: format!(
                            "the model stopped without calling complete_task or fail_task; its last message: {}",
                            report.last_text
                        ),
                    };
                }
                nudges += 1;
                self.sink.log(LogKind::System, NUDGE);
                messages.push(Message::user_text(NUDGE));
                continue;
            }
            match self.run_tools(&reply, &messages, cancel).await {
                Step::End(outcome) => break outcome,
                Step::Continue(results) => messages.push(Message {
                    role: Role::User,
                    content: results,
                }),
            }
            if let Some(limit) = self.config.max_cost_usd
                && report.cost_usd >= limit
            {
                break LoopOutcome::CostLimit {
                    spent_usd: report.cost_usd,
                };
            }
        };
        report
    }

    /// One API call, or `None` when cancelled first.
    async fn call(
        &self,
        system: &str,
        tools: &[Value],
        messages: &[Message],
        cancel: &CancellationToken,
    ) -> Option<Result<AssembledMessage, AnthropicError>> {
        let request = MessagesRequest {
            model: &self.config.model,
            max_tokens: self.config.max_tokens,
            system,
            tools,
            messages,
        };
        let on_wait = |message: &str| self.sink.log(LogKind::System, message);
        tokio::select! {
            reply = self.client.send(&request, &on_wait) => Some(reply),
            _ = cancel.cancelled() => None,
        }
    }

    fn account(&self, reply: &AssembledMessage, report: &mut LoopReport, warned: &mut bool) {
        let model = if reply.model.is_empty() {
            &self.config.model
        } else {
            &reply.model
        };
        // A model the table does not price (a local one, a new one) is never free: its
        // tokens are recorded and counted at the fallback price, and the log says so once.
        if !*warned && self.prices.lookup(model).is_none() {
            *warned = true;
            self.sink.log(
                LogKind::System,
                &format!(
                    "no price is known for model {model}: its tokens are recorded and counted at the fallback price (${}/${} per million input/output tokens), so budgets still hold",
                    self.prices.fallback.input, self.prices.fallback.output
                ),
            );
        }
        let cost = self.prices.cost(model, &reply.usage);
        report.usage.add(&reply.usage);
        report.cost_usd += cost;
        self.sink.usage(&reply.usage, cost);
        let text = reply.text();
        if !text.trim().is_empty() {
            self.sink.log(LogKind::Text, &text);
            report.last_text = text;
        }
    }

    /// Runs the turn's tool calls in order. A terminal harness tool ends the session;
    /// calls before it in the same turn have already run (e.g. a last edit).
    async fn run_tools(
        &self,
        reply: &AssembledMessage,
        messages: &[Message],
        cancel: &CancellationToken,
    ) -> Step {
        let calls: Vec<(&str, &str, &Value)> = reply.tool_uses().collect();
        let mut results = Vec::with_capacity(calls.len());
        for (index, &(id, name, input)) in calls.iter().enumerate() {
            self.sink
                .log(LogKind::ToolCall, &tool_call_log(name, input));
            let outcome = match parse_harness_action(name, input) {
                Some(Ok(HarnessAction::Complete {
                    summary,
                    no_changes_needed,
                })) => {
                    let conversation = Box::new(paused_at(messages, results, &calls, index, true));
                    return Step::End(LoopOutcome::Completed {
                        summary,
                        no_changes_needed,
                        conversation,
                    });
                }
                Some(Ok(HarnessAction::Fail { reason })) => {
                    return Step::End(LoopOutcome::Failed { reason });
                }
                Some(Ok(HarnessAction::AskHuman { question })) => {
                    let paused = paused_at(messages, results, &calls, index, false);
                    return Step::End(LoopOutcome::AskHuman { question, paused });
                }
                Some(Ok(HarnessAction::CreateTask(task))) => self.executor.create_task(task).await,
                Some(Err(error)) => ToolOutcome::error(error.to_string()),
                None if input.get("__invalid_json").is_some() => ToolOutcome::error(
                    "your tool input was not valid JSON (it may have been cut off by max_tokens); send it again, smaller",
                ),
                None => {
                    tokio::select! {
                        outcome = self.executor.execute(name, input) => outcome,
                        _ = cancel.cancelled() => return Step::End(LoopOutcome::Cancelled),
                    }
                }
            };
            let mut logged =
                json!({"name": name, "output": outcome.content, "is_error": outcome.is_error});
            // The image goes to the model, not into the log: the log says it was there.
            if let Some(png) = &outcome.png {
                logged["image"] = json!({"media_type": "image/png", "bytes": png.len()});
            }
            self.sink.log(LogKind::ToolResult, &logged.to_string());
            let content = match outcome.png {
                Some(png) => ToolResultContent::text_and_png(outcome.content, &png),
                None => outcome.content.into(),
            };
            results.push(ContentBlock::ToolResult {
                tool_use_id: id.to_owned(),
                content,
                is_error: outcome.is_error,
            });
        }
        Step::Continue(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_tool_call_is_logged_cut_short_and_still_valid_json() {
        let input = json!({"path": "big.txt", "content": "é".repeat(100_000)});
        let line = tool_call_log("write_file", &input);
        assert!(line.len() < MAX_TOOL_CALL_LOG + 200);
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["truncated"], true);
        assert_eq!(parsed["name"], "write_file");
    }

    #[test]
    fn a_small_tool_call_is_logged_whole() {
        let line = tool_call_log("read_file", &json!({"path": "a"}));
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed, json!({"name": "read_file", "input": {"path": "a"}}));
    }
}
