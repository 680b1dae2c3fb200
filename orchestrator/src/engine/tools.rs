//! The tools an Anthropic-runtime agent may call: workspace tools that act on its
//! worktree, and harness tools that end or steer the session.
//!
//! Workspace tools run here ([`Workspace::dispatch`]) and return a bounded text result.
//! Harness tools are parsed into a [`HarnessAction`] for the caller to act on.

use std::{fmt::Write as _, path::Path, time::Duration};

use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{
    confine::{ConfinedPath, WorktreeRoot},
    process::{self, CommandSpec},
    session::truncate_with_note,
};

/// The result of one tool call, as sent back to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutcome {
    pub content: String,
    pub is_error: bool,
}

impl ToolOutcome {
    pub fn ok(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            is_error: false,
        }
    }

    pub fn error(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            is_error: true,
        }
    }
}

/// A harness tool call, for the caller (agent loop, scheduler) to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HarnessAction {
    Complete { summary: String },
    Fail { reason: String },
    AskHuman { question: String },
    CreateTask(NewTask),
}

/// A subtask proposed by a planning agent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NewTask {
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_priority")]
    pub priority: String,
    /// Task ids or display ids (`T-12`) this one waits for.
    #[serde(default)]
    pub depends_on: Vec<String>,
}

fn default_priority() -> String {
    "P2".to_owned()
}

/// Names of the workspace tools.
pub const WORKSPACE_TOOLS: [&str; 6] = [
    "read_file",
    "write_file",
    "edit_file",
    "list_dir",
    "search",
    "run_command",
];
/// Names of the harness tools.
pub const HARNESS_TOOLS: [&str; 4] = ["complete_task", "fail_task", "ask_human", "create_task"];

/// Upper bounds on what the tools read, write, and return. Configurable per agent.
#[derive(Debug, Clone)]
pub struct ToolLimits {
    pub max_read_bytes: usize,
    pub max_write_bytes: usize,
    pub max_result_bytes: usize,
    pub max_list_entries: usize,
    pub max_search_results: usize,
    /// Files larger than this are skipped by `search`.
    pub max_search_file_bytes: u64,
    /// Files `search` reads before it stops, so one call cannot walk a huge tree forever.
    pub max_search_files: usize,
    pub default_command_timeout: Duration,
    pub max_command_timeout: Duration,
    pub command_output_bytes: usize,
}

impl Default for ToolLimits {
    fn default() -> Self {
        Self {
            max_read_bytes: 256 * 1024,
            max_write_bytes: 1024 * 1024,
            max_result_bytes: 64 * 1024,
            max_list_entries: 500,
            max_search_results: 200,
            max_search_file_bytes: 2 * 1024 * 1024,
            max_search_files: 20_000,
            default_command_timeout: Duration::from_secs(120),
            max_command_timeout: Duration::from_secs(600),
            command_output_bytes: 32 * 1024,
        }
    }
}

/// Environment variables removed before `run_command`: the model's shell must not see
/// the harness's own credentials.
const SECRET_VARS: [&str; 5] = [
    "ANTHROPIC_API_KEY",
    "HARNESS_API_TOKEN",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_WEBHOOK_SECRET",
    "ANTHROPIC_AUTH_TOKEN",
];

/// One agent's worktree with the limits its tools obey.
#[derive(Debug, Clone)]
pub struct Workspace {
    root: WorktreeRoot,
    limits: ToolLimits,
}

/// The Anthropic `tools` array for the workspace tools.
pub fn workspace_tool_definitions() -> Vec<Value> {
    vec![
        tool(
            "read_file",
            "Read a UTF-8 text file in the worktree. Paths are relative to the worktree root. Large files are truncated; use offset/limit (in lines) to page.",
            json!({"type":"object","properties":{
                "path":{"type":"string","description":"File path relative to the worktree root"},
                "offset":{"type":"integer","minimum":0,"description":"First line to return (0-based)"},
                "limit":{"type":"integer","minimum":1,"description":"Number of lines to return"}
            },"required":["path"]}),
        ),
        tool(
            "write_file",
            "Create or overwrite a file in the worktree with the given content. Parent directories are created.",
            json!({"type":"object","properties":{
                "path":{"type":"string"},
                "content":{"type":"string"}
            },"required":["path","content"]}),
        ),
        tool(
            "edit_file",
            "Replace one exact occurrence of old_string with new_string in a file. old_string must match exactly once; include surrounding lines to make it unique.",
            json!({"type":"object","properties":{
                "path":{"type":"string"},
                "old_string":{"type":"string"},
                "new_string":{"type":"string"}
            },"required":["path","old_string","new_string"]}),
        ),
        tool(
            "list_dir",
            "List a directory in the worktree. Directories end with '/'.",
            json!({"type":"object","properties":{
                "path":{"type":"string","description":"Directory relative to the worktree root; default '.'"}
            }}),
        ),
        tool(
            "search",
            "Search file contents with a regular expression (Rust regex syntax), respecting .gitignore. Returns path:line: text.",
            json!({"type":"object","properties":{
                "pattern":{"type":"string"},
                "path":{"type":"string","description":"Directory to search; default '.'"},
                "max_results":{"type":"integer","minimum":1}
            },"required":["pattern"]}),
        ),
        tool(
            "run_command",
            "Run a shell command (sh -c) in the worktree root. Returns the exit code and the tail of stdout+stderr. Long-running servers are killed at the timeout.",
            json!({"type":"object","properties":{
                "command":{"type":"string"},
                "timeout_secs":{"type":"integer","minimum":1}
            },"required":["command"]}),
        ),
    ]
}

/// The Anthropic `tools` array for the harness tools. `create_task` only for planners.
pub fn harness_tool_definitions(allow_create_task: bool) -> Vec<Value> {
    let mut tools = vec![
        tool(
            "complete_task",
            "Call when the task is done and the pass criteria are met. The harness then commits your changes and runs the verification commands.",
            json!({"type":"object","properties":{
                "summary":{"type":"string","description":"What you changed and why"}
            },"required":["summary"]}),
        ),
        tool(
            "fail_task",
            "Call when the task cannot be done. Explain why, so the next attempt or a human can act.",
            json!({"type":"object","properties":{"reason":{"type":"string"}},"required":["reason"]}),
        ),
        tool(
            "ask_human",
            "Ask a human a question and wait for the answer. Use only when you cannot proceed without it.",
            json!({"type":"object","properties":{"question":{"type":"string"}},"required":["question"]}),
        ),
    ];
    if allow_create_task {
        tools.push(tool(
            "create_task",
            "Create a subtask on the board. Returns its id, which later tasks can list in depends_on.",
            json!({"type":"object","properties":{
                "title":{"type":"string","maxLength":200},
                "description":{"type":"string"},
                "priority":{"type":"string","enum":["P0","P1","P2","P3","P4"]},
                "depends_on":{"type":"array","items":{"type":"string"},"description":"Ids like T-12"}
            },"required":["title"]}),
        ));
    }
    tools
}

fn tool(name: &str, description: &str, input_schema: Value) -> Value {
    json!({"name": name, "description": description, "input_schema": input_schema})
}

/// Parses a harness tool call. `None` when `name` is not a harness tool; `Some(Err)` with
/// a message for the model when its input is malformed.
pub fn parse_harness_action(name: &str, input: &Value) -> Option<Result<HarnessAction, String>> {
    #[derive(Deserialize)]
    struct Summary {
        summary: String,
    }
    #[derive(Deserialize)]
    struct Reason {
        reason: String,
    }
    #[derive(Deserialize)]
    struct Question {
        question: String,
    }
    let parsed = match name {
        "complete_task" => {
            parse::<Summary>(name, input).map(|s| HarnessAction::Complete { summary: s.summary })
        }
        "fail_task" => {
            parse::<Reason>(name, input).map(|r| HarnessAction::Fail { reason: r.reason })
        }
        "ask_human" => parse::<Question>(name, input).map(|q| HarnessAction::AskHuman {
            question: q.question,
        }),
        "create_task" => parse::<NewTask>(name, input).and_then(validate_new_task),
        _ => return None,
    };
    Some(parsed)
}

fn validate_new_task(task: NewTask) -> Result<HarnessAction, String> {
    if task.title.trim().is_empty() || task.title.chars().count() > 200 {
        return Err("create_task: title must be 1 to 200 characters".into());
    }
    if !matches!(task.priority.as_str(), "P0" | "P1" | "P2" | "P3" | "P4") {
        return Err("create_task: priority must be one of P0..P4".into());
    }
    Ok(HarnessAction::CreateTask(task))
}

fn parse<T: serde::de::DeserializeOwned>(tool: &str, input: &Value) -> Result<T, String> {
    T::deserialize(input).map_err(|e| format!("invalid input for {tool}: {e}"))
}

impl Workspace {
    pub fn new(root: WorktreeRoot, limits: ToolLimits) -> Self {
        Self { root, limits }
    }

    pub fn root(&self) -> &WorktreeRoot {
        &self.root
    }

    /// Runs workspace tool `name`. Never panics on model input: every problem becomes an
    /// error result the model can read. File work runs off the async runtime.
    pub async fn dispatch(&self, name: &str, input: &Value) -> ToolOutcome {
        let outcome = match name {
            "run_command" => self.run_command(input).await,
            "read_file" | "write_file" | "edit_file" | "list_dir" | "search" => {
                let this = self.clone();
                let (name, input) = (name.to_owned(), input.clone());
                tokio::task::spawn_blocking(move || this.dispatch_blocking(&name, &input))
                    .await
                    .unwrap_or_else(|e| ToolOutcome::error(format!("tool crashed: {e}")))
            }
            other => ToolOutcome::error(format!(
                "unknown tool '{other}'; available: {}",
                WORKSPACE_TOOLS.join(", ")
            )),
        };
        self.bound(outcome)
    }

    /// The file tools, synchronously.
    pub fn dispatch_blocking(&self, name: &str, input: &Value) -> ToolOutcome {
        let result = match name {
            "read_file" => self.read_file(input),
            "write_file" => self.write_file(input),
            "edit_file" => self.edit_file(input),
            "list_dir" => self.list_dir(input),
            "search" => self.search(input),
            other => Err(format!("unknown tool '{other}'")),
        };
        match result {
            Ok(text) => ToolOutcome::ok(text),
            Err(message) => ToolOutcome::error(message),
        }
    }

    fn bound(&self, mut outcome: ToolOutcome) -> ToolOutcome {
        outcome.content = truncate_with_note(&outcome.content, self.limits.max_result_bytes);
        outcome
    }

    fn resolve(&self, path: &str) -> Result<ConfinedPath, String> {
        self.root.resolve(path).map_err(|e| e.to_string())
    }

    /// Like `resolve`, and refuses `.git`: in a worktree it is the link to the repository,
    /// and rewriting it would point the harness's commits somewhere else.
    fn resolve_for_write(&self, path: &str) -> Result<ConfinedPath, String> {
        let resolved = self.resolve(path)?;
        if resolved.relative().components().next()
            == Some(std::path::Component::Normal(".git".as_ref()))
        {
            return Err(format!(
                "'{resolved}' is git's own data, managed by the harness; the file tools do not write there"
            ));
        }
        Ok(resolved)
    }

    fn read_file(&self, input: &Value) -> Result<String, String> {
        #[derive(Deserialize)]
        struct Args {
            path: String,
            offset: Option<usize>,
            limit: Option<usize>,
        }
        let args: Args = parse("read_file", input)?;
        let path = self.resolve(&args.path)?;
        let bytes = read_capped(path.as_path(), self.limits.max_read_bytes as u64)
            .map_err(|e| format!("cannot read '{path}': {e}"))?;
        let (bytes, truncated) = bytes;
        if bytes.contains(&0) {
            return Err(format!("'{path}' looks like a binary file; not shown"));
        }
        let text = String::from_utf8_lossy(&bytes);
        let mut out = match (args.offset, args.limit) {
            (None, None) => text.into_owned(),
            (offset, limit) => text
                .lines()
                .skip(offset.unwrap_or(0))
                .take(limit.unwrap_or(usize::MAX))
                .fold(String::new(), |mut acc, l| {
                    acc.push_str(l);
                    acc.push('\n');
                    acc
                }),
        };
        if truncated {
            let _ = write!(
                out,
                "\n[... file truncated at {} bytes; use offset/limit to read further]",
                self.limits.max_read_bytes
            );
        }
        Ok(out)
    }

    fn write_file(&self, input: &Value) -> Result<String, String> {
        #[derive(Deserialize)]
        struct Args {
            path: String,
            content: String,
        }
        let args: Args = parse("write_file", input)?;
        if args.content.len() > self.limits.max_write_bytes {
            return Err(format!(
                "content is {} bytes; the limit is {}",
                args.content.len(),
                self.limits.max_write_bytes
            ));
        }
        let path = self.resolve_for_write(&args.path)?;
        if path.is_root() || path.as_path().is_dir() {
            return Err(format!("'{path}' is a directory"));
        }
        if let Some(parent) = path.as_path().parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create directories for '{path}': {e}"))?;
        }
        std::fs::write(path.as_path(), &args.content)
            .map_err(|e| format!("cannot write '{path}': {e}"))?;
        Ok(format!("wrote {} bytes to {path}", args.content.len()))
    }

    fn edit_file(&self, input: &Value) -> Result<String, String> {
        #[derive(Deserialize)]
        struct Args {
            path: String,
            old_string: String,
            new_string: String,
        }
        let args: Args = parse("edit_file", input)?;
        if args.old_string.is_empty() {
            return Err("old_string must not be empty; use write_file to create a file".into());
        }
        let path = self.resolve_for_write(&args.path)?;
        let text = std::fs::read_to_string(path.as_path())
            .map_err(|e| format!("cannot read '{path}': {e}"))?;
        match text.matches(&args.old_string).count() {
            0 => Err(format!(
                "old_string was not found in '{path}'; read the file and copy the exact text, including whitespace"
            )),
            1 => {
                let updated = text.replacen(&args.old_string, &args.new_string, 1);
                if updated.len() > self.limits.max_write_bytes {
                    return Err("the edited file would exceed the write limit".into());
                }
                std::fs::write(path.as_path(), updated)
                    .map_err(|e| format!("cannot write '{path}': {e}"))?;
                Ok(format!("edited {path}"))
            }
            n => Err(format!(
                "old_string occurs {n} times in '{path}'; include more surrounding text so it matches exactly once"
            )),
        }
    }

    fn list_dir(&self, input: &Value) -> Result<String, String> {
        #[derive(Deserialize)]
        struct Args {
            path: Option<String>,
        }
        let args: Args = parse("list_dir", input)?;
        let path = self.resolve(args.path.as_deref().unwrap_or("."))?;
        let entries =
            std::fs::read_dir(path.as_path()).map_err(|e| format!("cannot list '{path}': {e}"))?;
        let mut names: Vec<String> = Vec::new();
        let mut total = 0usize;
        for entry in entries.flatten() {
            total += 1;
            // Keep reading past the cap only to count, so the model knows what it missed.
            if names.len() >= self.limits.max_list_entries {
                continue;
            }
            let mut name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                name.push('/');
            }
            names.push(name);
        }
        names.sort();
        let mut out = names.join("\n");
        if total > names.len() {
            let _ = write!(
                out,
                "\n[... {} more entries not shown]",
                total - names.len()
            );
        }
        if out.is_empty() {
            out = format!("'{path}' is empty");
        }
        Ok(out)
    }

    fn search(&self, input: &Value) -> Result<String, String> {
        #[derive(Deserialize)]
        struct Args {
            pattern: String,
            path: Option<String>,
            max_results: Option<usize>,
        }
        let args: Args = parse("search", input)?;
        let regex = regex::RegexBuilder::new(&args.pattern)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| format!("invalid regex: {e}"))?;
        let path = self.resolve(args.path.as_deref().unwrap_or("."))?;
        let cap = args
            .max_results
            .unwrap_or(self.limits.max_search_results)
            .clamp(1, self.limits.max_search_results);
        let mut hits = Vec::new();
        let mut more = false;
        let mut files_read = 0usize;
        let walker = ignore::WalkBuilder::new(path.as_path())
            // Respect .gitignore even in a directory git does not know (tests, fresh trees).
            .require_git(false)
            .follow_links(false)
            .build();
        'files: for entry in walker.flatten() {
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            let too_big = entry
                .metadata()
                .map(|m| m.len() > self.limits.max_search_file_bytes)
                .unwrap_or(true);
            if too_big {
                continue;
            }
            files_read += 1;
            if files_read > self.limits.max_search_files {
                more = true;
                break;
            }
            let Ok(bytes) = std::fs::read(entry.path()) else {
                continue;
            };
            if bytes.contains(&0) {
                continue; // binary
            }
            let text = String::from_utf8_lossy(&bytes);
            let rel = entry
                .path()
                .strip_prefix(self.root.path())
                .unwrap_or(entry.path());
            for (number, line) in text.lines().enumerate() {
                if regex.is_match(line) {
                    if hits.len() >= cap {
                        more = true;
                        break 'files;
                    }
                    hits.push(format!(
                        "{}:{}: {}",
                        rel.display(),
                        number + 1,
                        clip(line, 300)
                    ));
                }
            }
        }
        if hits.is_empty() && !more {
            return Ok("no matches".into());
        }
        let mut out = hits.join("\n");
        if more {
            let _ = write!(
                out,
                "\n[... stopped early (at {cap} matches or {} files); narrow the pattern or path]",
                self.limits.max_search_files
            );
        }
        Ok(out)
    }

    async fn run_command(&self, input: &Value) -> ToolOutcome {
        #[derive(Deserialize)]
        struct Args {
            command: String,
            timeout_secs: Option<u64>,
        }
        let args: Args = match parse("run_command", input) {
            Ok(a) => a,
            Err(e) => return ToolOutcome::error(e),
        };
        let timeout = args
            .timeout_secs
            .map(Duration::from_secs)
            .unwrap_or(self.limits.default_command_timeout)
            .min(self.limits.max_command_timeout);
        let mut spec = CommandSpec::shell(&args.command, self.root.path());
        spec.timeout = Some(timeout);
        spec.kill_grace = Duration::from_secs(2);
        spec.tail_bytes = self.limits.command_output_bytes;
        spec.max_line_bytes = 4096;
        spec.env_remove = secret_vars();
        let finished = match process::run(&spec, &CancellationToken::new(), |_| {}).await {
            Ok(f) => f,
            Err(e) => return ToolOutcome::error(format!("cannot start the command: {e}")),
        };
        let content = format!(
            "{}\n--- output (last {} bytes at most) ---\n{}",
            match finished.termination {
                process::Termination::TimedOut =>
                    format!("timed out after {}s and was killed", timeout.as_secs()),
                other => other.describe(),
            },
            self.limits.command_output_bytes,
            finished.tail
        );
        ToolOutcome {
            content,
            is_error: !finished.termination.success(),
        }
    }
}

/// The names in [`SECRET_VARS`] plus any inherited variable that looks like a secret.
fn secret_vars() -> Vec<String> {
    let mut names: Vec<String> = SECRET_VARS.iter().map(|s| (*s).to_owned()).collect();
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        let upper = name.to_ascii_uppercase();
        if upper.ends_with("_API_KEY") || upper.ends_with("_TOKEN") || upper.ends_with("_SECRET") {
            names.push(name);
        }
    }
    names
}

fn read_capped(path: &Path, max: u64) -> std::io::Result<(Vec<u8>, bool)> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    if file.metadata()?.is_dir() {
        return Err(std::io::Error::other("it is a directory; use list_dir"));
    }
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    let truncated = bytes.len() as u64 > max;
    bytes.truncate(max as usize);
    Ok((bytes, truncated))
}

fn clip(line: &str, max: usize) -> &str {
    if line.len() <= max {
        return line;
    }
    let mut end = max;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    &line[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "hello\nworld\nhello again\n").unwrap();
        let ws = Workspace::new(
            WorktreeRoot::new(dir.path()).unwrap(),
            ToolLimits::default(),
        );
        (dir, ws)
    }

    #[tokio::test]
    async fn edit_file_replaces_a_unique_match() {
        let (dir, ws) = workspace();
        let out = ws
            .dispatch(
                "edit_file",
                &json!({"path":"a.txt","old_string":"world","new_string":"there"}),
            )
            .await;
        assert!(!out.is_error, "{}", out.content);
        let text = std::fs::read_to_string(dir.path().join("a.txt")).unwrap();
        assert_eq!(text, "hello\nthere\nhello again\n");
    }

    #[tokio::test]
    async fn edit_file_refuses_an_ambiguous_match() {
        let (_dir, ws) = workspace();
        let out = ws
            .dispatch(
                "edit_file",
                &json!({"path":"a.txt","old_string":"hello","new_string":"x"}),
            )
            .await;
        assert!(out.is_error);
        assert!(out.content.contains("2 times"), "{}", out.content);
    }

    #[tokio::test]
    async fn edit_file_reports_a_missing_match() {
        let (_dir, ws) = workspace();
        let out = ws
            .dispatch(
                "edit_file",
                &json!({"path":"a.txt","old_string":"absent","new_string":"x"}),
            )
            .await;
        assert!(out.is_error);
        assert!(out.content.contains("not found"));
    }

    #[tokio::test]
    async fn write_then_read_round_trips_and_creates_directories() {
        let (_dir, ws) = workspace();
        let w = ws
            .dispatch(
                "write_file",
                &json!({"path":"deep/er/b.txt","content":"x1"}),
            )
            .await;
        assert!(!w.is_error, "{}", w.content);
        let r = ws
            .dispatch("read_file", &json!({"path":"deep/er/b.txt"}))
            .await;
        assert_eq!(r, ToolOutcome::ok("x1"));
    }

    #[tokio::test]
    async fn read_file_pages_by_line() {
        let (_dir, ws) = workspace();
        let r = ws
            .dispatch("read_file", &json!({"path":"a.txt","offset":1,"limit":1}))
            .await;
        assert_eq!(r.content, "world\n");
    }

    #[tokio::test]
    async fn file_tools_refuse_escapes() {
        let (_dir, ws) = workspace();
        for input in [
            json!({"path":"../x","content":"no"}),
            json!({"path":"/etc/passwd","content":"no"}),
        ] {
            let out = ws.dispatch("write_file", &input).await;
            assert!(out.is_error, "{}", out.content);
        }
        let out = ws
            .dispatch("read_file", &json!({"path":"/etc/passwd"}))
            .await;
        assert!(out.is_error);
        assert!(out.content.contains("outside the worktree"));
    }

    #[tokio::test]
    async fn the_file_tools_do_not_write_into_dot_git() {
        let (dir, ws) = workspace();
        std::fs::write(dir.path().join(".git"), "gitdir: /somewhere\n").unwrap();
        let out = ws
            .dispatch(
                "write_file",
                &json!({"path":".git","content":"gitdir: /elsewhere"}),
            )
            .await;
        assert!(out.is_error, "{}", out.content);
        let out = ws
            .dispatch(
                "write_file",
                &json!({"path":"./.git/hooks/pre-commit","content":"x"}),
            )
            .await;
        assert!(out.is_error, "{}", out.content);
    }

    #[tokio::test]
    async fn search_respects_gitignore_and_caps_results() {
        let (dir, ws) = workspace();
        std::fs::write(dir.path().join(".gitignore"), "ignored/\n").unwrap();
        std::fs::create_dir(dir.path().join("ignored")).unwrap();
        std::fs::write(dir.path().join("ignored/c.txt"), "hello hidden\n").unwrap();
        let out = ws.dispatch("search", &json!({"pattern":"^hello"})).await;
        assert!(out.content.contains("a.txt:1: hello"), "{}", out.content);
        assert!(out.content.contains("a.txt:3: hello again"));
        assert!(!out.content.contains("hidden"));
        let capped = ws
            .dispatch("search", &json!({"pattern":"hello","max_results":1}))
            .await;
        assert!(
            capped.content.contains("stopped early"),
            "{}",
            capped.content
        );
    }

    #[tokio::test]
    async fn list_dir_marks_directories() {
        let (dir, ws) = workspace();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let out = ws.dispatch("list_dir", &json!({})).await;
        assert_eq!(out.content, "a.txt\nsub/");
    }

    #[tokio::test]
    async fn run_command_reports_the_real_exit_code_and_hides_secrets() {
        let (_dir, ws) = workspace();
        let out = ws
            .dispatch(
                "run_command",
                &json!({"command":"echo key=${ANTHROPIC_API_KEY:-unset}; exit 7"}),
            )
            .await;
        assert!(out.is_error);
        assert!(out.content.starts_with("exit code 7"), "{}", out.content);
        assert!(out.content.contains("key=unset"));
    }

    #[tokio::test]
    async fn run_command_times_out() {
        let (_dir, ws) = workspace();
        let out = ws
            .dispatch(
                "run_command",
                &json!({"command":"sleep 20","timeout_secs":1}),
            )
            .await;
        assert!(out.is_error);
        assert!(out.content.contains("timed out"), "{}", out.content);
    }

    #[test]
    fn harness_tools_parse_into_actions() {
        assert_eq!(
            parse_harness_action("complete_task", &json!({"summary":"done"})),
            Some(Ok(HarnessAction::Complete {
                summary: "done".into()
            }))
        );
        assert!(matches!(
            parse_harness_action("fail_task", &json!({})),
            Some(Err(_))
        ));
        assert_eq!(parse_harness_action("read_file", &json!({})), None);
        let created =
            parse_harness_action("create_task", &json!({"title":"sub","depends_on":["T-1"]}));
        assert!(matches!(created, Some(Ok(HarnessAction::CreateTask(t))) if t.priority == "P2"));
    }

    #[test]
    fn tool_definitions_have_name_description_and_schema() {
        let all: Vec<Value> = workspace_tool_definitions()
            .into_iter()
            .chain(harness_tool_definitions(true))
            .collect();
        assert_eq!(all.len(), 10);
        for t in &all {
            assert!(t["name"].is_string() && t["description"].is_string());
            assert_eq!(t["input_schema"]["type"], "object");
        }
    }
}
