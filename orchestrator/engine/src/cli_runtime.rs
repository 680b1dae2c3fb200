//! The `cli` runtime: a CLI agent (Claude Code or any configured command) as a child
//! process with the prompt on stdin, and a parser for Claude Code's
//! `--output-format stream-json` lines.
//!
//! [`CliRuntime`] is the [`AgentRuntime`] over it. The exit code and the final `result`
//! line decide success together. Lines that are not stream-json (another CLI, or a
//! stray print) are logged as output, never fatal.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    time::Duration,
};

use futures_util::future::BoxFuture;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{
    process::{self, CommandSpec, Stream, Termination},
    prompt::{system_prompt, task_message},
    runtime::{
        AgentRuntime, NotReady, SessionOutcome, SessionReport, SessionRequest, failed_before_start,
    },
    sandbox::SandboxConfig,
    session::{LogKind, SessionSink, Usage, truncate_with_note},
    stream_usage::StreamedUsage,
};

/// One log line derived from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogEntry {
    pub kind: LogKind,
    pub content: String,
}

/// The `{"type":"result",…}` line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CliResult {
    pub is_error: bool,
    pub subtype: String,
    pub result: String,
    pub total_cost_usd: Option<f64>,
    pub usage: Usage,
    pub num_turns: Option<u64>,
}

/// Parses stream-json line by line. Keeps only what it needs: tool names by id (bounded),
/// the model, and the result.
#[derive(Debug)]
pub(crate) struct StreamJsonParser {
    tool_names: HashMap<String, String>,
    model: Option<String>,
    result: Option<CliResult>,
    last_text: String,
    max_entry_bytes: usize,
}

/// Tool ids remembered to name tool results; older ones are forgotten past this.
const MAX_TOOL_NAMES: usize = 1024;

impl Default for StreamJsonParser {
    fn default() -> Self {
        Self::new(32 * 1024)
    }
}

impl StreamJsonParser {
    pub fn new(max_entry_bytes: usize) -> Self {
        Self {
            tool_names: HashMap::new(),
            model: None,
            result: None,
            last_text: String::new(),
            max_entry_bytes,
        }
    }

    /// The log entries for one line of stdout.
    pub(crate) fn parse_line(&mut self, line: &str) -> Vec<LogEntry> {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return Vec::new();
        }
        let value: Value = match serde_json::from_str(trimmed) {
            Ok(v @ Value::Object(_)) => v,
            _ => return vec![self.entry(LogKind::Output, line.to_owned())],
        };
        match value["type"].as_str() {
            Some("system") => self.system(&value),
            Some("assistant") => self.assistant(&value),
            Some("user") => self.user(&value),
            Some("result") => self.result_line(&value),
            // Newer event types (stream_event, …) carry nothing we record.
            _ => Vec::new(),
        }
    }

    pub fn result(&self) -> Option<&CliResult> {
        self.result.as_ref()
    }

    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// The agent's last text message.
    pub fn last_text(&self) -> &str {
        &self.last_text
    }

    fn entry(&self, kind: LogKind, content: String) -> LogEntry {
        LogEntry {
            kind,
            content: truncate_with_note(&content, self.max_entry_bytes),
        }
    }

    fn system(&mut self, value: &Value) -> Vec<LogEntry> {
        if value["subtype"] != "init" {
            return Vec::new();
        }
        if let Some(model) = value["model"].as_str() {
            self.model = Some(model.to_owned());
        }
        vec![self.entry(
            LogKind::System,
            format!(
                "agent started: model {}, cwd {}",
                value["model"].as_str().unwrap_or("unknown"),
                value["cwd"].as_str().unwrap_or("?")
            ),
        )]
    }

    fn assistant(&mut self, value: &Value) -> Vec<LogEntry> {
        let mut entries = Vec::new();
        if let Some(model) = value["message"]["model"].as_str() {
            self.model = Some(model.to_owned());
        }
        for block in blocks(&value["message"]["content"]) {
            match block["type"].as_str() {
                Some("text") => {
                    let text = block["text"].as_str().unwrap_or_default().to_owned();
                    if !text.trim().is_empty() {
                        self.last_text = truncate_with_note(&text, self.max_entry_bytes);
                        entries.push(self.entry(LogKind::Text, text));
                    }
                }
                Some("tool_use") => {
                    let name = block["name"].as_str().unwrap_or("?").to_owned();
                    if let Some(id) = block["id"].as_str()
                        && self.tool_names.len() < MAX_TOOL_NAMES
                    {
                        self.tool_names.insert(id.to_owned(), name.clone());
                    }
                    let content = json!({"name": name, "input": block["input"]}).to_string();
                    entries.push(self.entry(LogKind::ToolCall, content));
                }
                _ => {}
            }
        }
        entries
    }

    fn user(&mut self, value: &Value) -> Vec<LogEntry> {
        let mut entries = Vec::new();
        for block in blocks(&value["message"]["content"]) {
            if block["type"] != "tool_result" {
                continue;
            }
            let name = block["tool_use_id"]
                .as_str()
                .and_then(|id| self.tool_names.remove(id))
                .unwrap_or_else(|| "?".to_owned());
            let output = truncate_with_note(
                &tool_result_text(&block["content"]),
                self.max_entry_bytes / 2,
            );
            let is_error = block["is_error"].as_bool().unwrap_or(false);
            let content = json!({"name": name, "output": output, "is_error": is_error});
            entries.push(self.entry(LogKind::ToolResult, content.to_string()));
        }
        entries
    }

    fn result_line(&mut self, value: &Value) -> Vec<LogEntry> {
        let usage = &value["usage"];
        let count = |key: &str| usage[key].as_u64().unwrap_or(0);
        let result = CliResult {
            is_error: value["is_error"].as_bool().unwrap_or(false),
            subtype: value["subtype"].as_str().unwrap_or_default().to_owned(),
            result: truncate_with_note(
                value["result"].as_str().unwrap_or_default(),
                self.max_entry_bytes,
            ),
            total_cost_usd: value["total_cost_usd"].as_f64(),
            usage: Usage {
                input_tokens: count("input_tokens"),
                output_tokens: count("output_tokens"),
                cache_creation_input_tokens: count("cache_creation_input_tokens"),
                cache_read_input_tokens: count("cache_read_input_tokens"),
            },
            num_turns: value["num_turns"].as_u64(),
        };
        let summary = format!(
            "result: {} ({}){}",
            if result.is_error { "error" } else { "success" },
            result.subtype,
            result
                .total_cost_usd
                .map(|c| format!(", cost ${c:.4}"))
                .unwrap_or_default()
        );
        self.result = Some(result);
        vec![self.entry(LogKind::System, summary)]
    }
}

/// `content` is an array of blocks, or (in some versions) a plain string.
fn blocks(content: &Value) -> Vec<Value> {
    match content {
        Value::Array(items) => items.clone(),
        Value::String(text) => vec![json!({"type": "text", "text": text})],
        _ => Vec::new(),
    }
}

fn tool_result_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// How a CLI agent is started.
#[derive(Debug, Clone)]
pub struct CliAgentConfig {
    pub program: String,
    pub args: Vec<String>,
    /// Set on top of the sandbox's allow-listed environment: what the CLI needs, like
    /// its own key.
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub kill_grace: Duration,
    pub sandbox: SandboxConfig,
}

impl CliAgentConfig {
    /// Claude Code in print mode with stream-json output.
    pub fn claude_code() -> Self {
        Self {
            program: "claude".into(),
            args: [
                "-p",
                "--output-format",
                "stream-json",
                "--verbose",
                "--dangerously-skip-permissions",
            ]
            .map(str::to_owned)
            .to_vec(),
            env: Vec::new(),
            timeout: Duration::from_secs(30 * 60),
            kill_grace: Duration::from_secs(10),
            sandbox: SandboxConfig::default(),
        }
    }
}

/// Between the end of a version probe's time and its kill.
pub(crate) const PROBE_GRACE: Duration = Duration::from_millis(500);

impl CliAgentConfig {
    /// The program with `args` in `dir`, with this agent's environment, limits and
    /// sandbox.
    pub(crate) fn command(&self, args: Vec<String>, dir: &Path) -> CommandSpec {
        let mut spec = CommandSpec::new(&self.program, args, dir);
        spec.env = self.env.clone();
        spec.timeout = Some(self.timeout);
        spec.kill_grace = self.kill_grace;
        spec.sandbox = self.sandbox.clone();
        spec
    }
}

/// How a CLI session ended.
#[derive(Debug, Clone)]
pub struct CliReport {
    pub termination: Termination,
    /// Exit 0, and either no result line (a plain CLI) or a result without `is_error`.
    pub success: bool,
    /// The result text, or the last message / output when there was none.
    pub summary: String,
    pub usage: Usage,
    pub cost_usd: Option<f64>,
    pub model: Option<String>,
}

/// Runs the agent in `worktree` with `prompt` on stdin, logging as it goes.
pub async fn run_cli_agent(
    config: &CliAgentConfig,
    worktree: &Path,
    prompt: &str,
    cancel: &CancellationToken,
    sink: &dyn SessionSink,
) -> std::io::Result<CliReport> {
    let mut spec = config.command(config.args.clone(), worktree);
    spec.stdin = Some(prompt.to_owned());
    let mut parser = StreamJsonParser::default();
    let mut streamed = StreamedUsage::default();
    let finished = process::run(&spec, cancel, |line| match line.stream {
        Stream::Stdout => {
            // Spend is recorded per message as it streams (stream_usage.rs).
            if let Some((usage, cost)) = streamed.observe(&line.text) {
                sink.usage(&usage, cost);
            }
            for entry in parser.parse_line(&line.text) {
                sink.log(entry.kind, &entry.content);
            }
        }
        Stream::Stderr => sink.log(LogKind::Output, &line.text),
    })
    .await?;
    Ok(report(
        parser,
        finished.termination,
        &finished.tail,
        sink,
        &streamed,
    ))
}

fn report(
    parser: StreamJsonParser,
    termination: Termination,
    tail: &str,
    sink: &dyn SessionSink,
    streamed: &StreamedUsage,
) -> CliReport {
    let result = parser.result().cloned();
    if let Some(r) = &result {
        let (usage, cost) = streamed.remainder(&r.usage, r.total_cost_usd);
        sink.usage(&usage, cost);
    }
    let success = termination.success() && result.as_ref().is_none_or(|r| !r.is_error);
    let summary = match &result {
        Some(r) if !r.result.is_empty() => r.result.clone(),
        _ if !parser.last_text().is_empty() => parser.last_text().to_owned(),
        _ => super::session::tail(tail, 4096).to_owned(),
    };
    let summary = if termination.success() {
        summary
    } else {
        format!("agent ended with {}: {summary}", termination.describe())
    };
    CliReport {
        termination,
        success,
        summary,
        usage: result.as_ref().map(|r| r.usage).unwrap_or_default(),
        cost_usd: result.and_then(|r| r.total_cost_usd),
        model: parser.model().map(str::to_owned),
    }
}

/// A CLI agent (Claude Code or any command).
pub struct CliRuntime {
    pub config: CliAgentConfig,
}

impl AgentRuntime for CliRuntime {
    fn kind(&self) -> &'static str {
        "cli"
    }

    fn readiness(&self) -> Result<(), NotReady> {
        program_readiness(&self.config.program)
    }

    fn run<'a>(
        &'a self,
        request: SessionRequest,
        sink: &'a dyn SessionSink,
    ) -> BoxFuture<'a, SessionReport> {
        Box::pin(async move {
            let mut config = self.config.clone();
            config.timeout = config.timeout.min(request.timeout);
            let prompt = format!(
                "{}\n\n{}",
                system_prompt(&request.role_instructions),
                task_message(&request.brief)
            );
            let report =
                match run_cli_agent(&config, &request.worktree, &prompt, &request.cancel, sink)
                    .await
                {
                    Ok(report) => report,
                    Err(e) => {
                        let mut report = failed_before_start(String::new());
                        report.outcome = SessionOutcome::Unconfigured {
                            reason: format!("cannot start `{}`: {e}", config.program),
                        };
                        return report;
                    }
                };
            let outcome = match report.termination {
                Termination::Cancelled => SessionOutcome::Cancelled,
                Termination::TimedOut => SessionOutcome::TimedOut,
                _ if report.success => SessionOutcome::Completed {
                    summary: report.summary.clone(),
                    no_changes_needed: None,
                    conversation: None,
                },
                _ => SessionOutcome::Failed {
                    reason: report.summary.clone(),
                },
            };
            SessionReport {
                outcome,
                usage: report.usage,
                cost_usd: report.cost_usd.unwrap_or(0.0),
                model: report.model,
                last_message: report.summary,
            }
        })
    }
}

/// What `program --version` prints first, run in the sandbox in `dir` and bounded by
/// `limit`: what the Agents page shows of a CLI agent.
pub async fn version(
    config: &CliAgentConfig,
    dir: &Path,
    limit: Duration,
) -> Result<String, String> {
    let mut spec = config.command(vec!["--version".into()], dir);
    spec.timeout = Some(limit);
    spec.kill_grace = PROBE_GRACE;
    let mut first = None;
    let finished = process::run(&spec, &CancellationToken::new(), |line| {
        if first.is_none() && line.stream == Stream::Stdout && !line.text.trim().is_empty() {
            first = Some(line.text.trim().to_owned());
        }
    })
    .await
    .map_err(|e| format!("cannot start `{}`: {e}", config.program))?;
    match (finished.termination, first) {
        (Termination::Exited(0), Some(version)) => Ok(version),
        (termination, _) => Err(format!(
            "`{} --version` ended with {}",
            config.program,
            termination.describe()
        )),
    }
}

/// Whether an agent process's program is there to start.
pub(crate) fn program_readiness(program: &str) -> Result<(), NotReady> {
    match find_program(program) {
        Some(_) => Ok(()),
        None => Err(NotReady::ProgramNotFound(program.to_owned())),
    }
}

/// `program` as given when it contains a slash, else the first match on `PATH`.
/// (`PATH` is the process's search path, not a harness setting.)
pub fn find_program(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if program.contains('/') {
        let path = PathBuf::from(program);
        return executable(&path).then_some(path);
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(program))
        .find(|candidate| executable(candidate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sh_is_found_on_path_and_a_missing_program_is_not() {
        assert!(find_program("sh").is_some());
        assert!(find_program("definitely-not-installed-xyz").is_none());
        assert!(find_program("/nonexistent/claude").is_none());
    }

    #[test]
    fn a_missing_cli_makes_the_runtime_unready_with_a_reason() {
        let mut config = CliAgentConfig::claude_code();
        config.program = "definitely-not-installed-xyz".into();
        let err = CliRuntime { config }.readiness().unwrap_err();
        assert!(err.to_string().contains("not found"), "{err}");
    }

    #[test]
    fn init_assistant_user_and_result_lines_become_log_entries() {
        let mut p = StreamJsonParser::default();
        let init = p.parse_line(r#"{"type":"system","subtype":"init","session_id":"s","model":"claude-sonnet-4-5","cwd":"/w","tools":["Edit"]}"#);
        assert_eq!(init[0].kind, LogKind::System);
        let assistant = p.parse_line(r#"{"type":"assistant","message":{"model":"claude-sonnet-4-5","content":[{"type":"text","text":"Editing"},{"type":"tool_use","id":"t1","name":"Edit","input":{"file_path":"a"}}]}}"#);
        assert_eq!(assistant.len(), 2);
        assert_eq!(assistant[0].kind, LogKind::Text);
        assert_eq!(assistant[1].kind, LogKind::ToolCall);
        let user = p.parse_line(r#"{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"ok"}],"is_error":false}]}}"#);
        let v: Value = serde_json::from_str(&user[0].content).unwrap();
        assert_eq!(v["name"], "Edit");
        assert_eq!(v["output"], "ok");
        p.parse_line(r#"{"type":"result","subtype":"success","is_error":false,"result":"Done.","total_cost_usd":0.25,"num_turns":3,"usage":{"input_tokens":10,"output_tokens":20,"cache_creation_input_tokens":5,"cache_read_input_tokens":7}}"#);
        let r = p.result().unwrap();
        assert!(!r.is_error);
        assert_eq!(r.result, "Done.");
        assert_eq!(r.total_cost_usd, Some(0.25));
        assert_eq!(r.usage.cache_read_input_tokens, 7);
        assert_eq!(p.model(), Some("claude-sonnet-4-5"));
    }

    #[test]
    fn lines_that_are_not_stream_json_are_kept_as_output() {
        let mut p = StreamJsonParser::default();
        let out = p.parse_line("plain text from some other CLI");
        assert_eq!(out[0].kind, LogKind::Output);
        assert!(
            p.parse_line(r#"{"type":"stream_event","event":{}}"#)
                .is_empty()
        );
        assert_eq!(p.parse_line("[1,2]")[0].kind, LogKind::Output);
    }

    #[test]
    fn an_error_result_fails_even_with_exit_code_zero() {
        let sink = crate::session::MemorySink::default();
        let mut p = StreamJsonParser::default();
        p.parse_line(
            r#"{"type":"result","subtype":"error_max_turns","is_error":true,"result":"gave up"}"#,
        );
        let r = report(
            p,
            Termination::Exited(0),
            "",
            &sink,
            &StreamedUsage::default(),
        );
        assert!(!r.success);
        assert_eq!(r.summary, "gave up");
    }

    #[test]
    fn a_non_zero_exit_fails_even_with_a_success_result() {
        let sink = crate::session::MemorySink::default();
        let mut p = StreamJsonParser::default();
        p.parse_line(r#"{"type":"result","subtype":"success","is_error":false,"result":"ok"}"#);
        let r = report(
            p,
            Termination::Exited(2),
            "",
            &sink,
            &StreamedUsage::default(),
        );
        assert!(!r.success);
        assert!(r.summary.contains("exit code 2"));
    }
}
