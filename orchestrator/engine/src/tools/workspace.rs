//! The workspace tools that act on files: `read_file`, `write_file`, `edit_file`,
//! `list_dir` and `search`, confined to one agent's worktree and bounded by
//! [`ToolLimits`]. Each returns a text result for the model; `run_command` is in
//! [`super::command`].

use std::{
    fmt::Write as _,
    io::{Read, Seek, Write},
    sync::Arc,
    time::Duration,
};

use serde_json::Value;

use super::{ToolOutcome, WORKSPACE_TOOLS, args, command, services::Services};
use crate::{
    confine::{ConfineError, ConfinedPath, OpenError, WorktreeRoot},
    sandbox::SandboxConfig,
    session::truncate_with_note,
};

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
    /// How `run_command` is confined.
    pub sandbox: SandboxConfig,
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
            sandbox: SandboxConfig::default(),
        }
    }
}

/// One agent's worktree with the limits its tools obey.
#[derive(Debug, Clone)]
pub struct Workspace {
    root: WorktreeRoot,
    limits: ToolLimits,
    /// The session's background commands: shared by the clones, stopped with the last.
    services: Arc<Services>,
}

/// Why a file tool call failed. The text is the tool result the model reads, so each
/// says what to do differently.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FileToolError {
    #[error("unknown tool '{0}'")]
    UnknownTool(String),
    #[error(transparent)]
    Args(#[from] args::ArgsError),
    #[error(transparent)]
    Path(#[from] ConfineError),
    #[error("'{0}' is git's own data, managed by the harness; the file tools do not write there")]
    GitData(String),
    #[error("cannot read '{path}': {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("'{0}' looks like a binary file; not shown")]
    Binary(String),
    #[error("content is {len} bytes; the limit is {limit}")]
    ContentTooLarge { len: usize, limit: usize },
    #[error("'{0}' is a directory")]
    IsDirectory(String),
    #[error("cannot create directories for '{path}': {source}")]
    CreateDirs {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write '{path}': {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("old_string must not be empty; use write_file to create a file")]
    EmptyOldString,
    #[error(
        "old_string was not found in '{0}'; read the file and copy the exact text, including whitespace"
    )]
    NoMatch(String),
    #[error(
        "old_string occurs {count} times in '{path}'; include more surrounding text so it matches exactly once"
    )]
    AmbiguousMatch { path: String, count: usize },
    #[error("the edited file would exceed the write limit")]
    EditTooLarge,
    #[error("cannot list '{path}': {source}")]
    List {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid regex: {0}")]
    Regex(#[from] regex::Error),
}

impl Workspace {
    pub fn new(root: WorktreeRoot, limits: ToolLimits) -> Self {
        Self {
            root,
            limits,
            services: Arc::default(),
        }
    }

    /// The session's background commands (`run_command` with `background: true`).
    pub fn services(&self) -> &Services {
        &self.services
    }

    pub fn root(&self) -> &WorktreeRoot {
        &self.root
    }

    pub fn limits(&self) -> &ToolLimits {
        &self.limits
    }

    /// Runs workspace tool `name`. Never panics on model input: every problem becomes an
    /// error result the model can read. File work runs off the async runtime.
    pub(crate) async fn dispatch(&self, name: &str, input: &Value) -> ToolOutcome {
        self.dispatch_reporting(name, input, &|| {}).await
    }

    /// [`Workspace::dispatch`], calling `on_output` for each line a running command
    /// prints (a sign of life for the stuck watchdog).
    pub(crate) async fn dispatch_reporting(
        &self,
        name: &str,
        input: &Value,
        on_output: &(dyn Fn() + Sync),
    ) -> ToolOutcome {
        let outcome = match name {
            "run_command" => command::run_command(self, input, on_output).await,
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
    pub(crate) fn dispatch_blocking(&self, name: &str, input: &Value) -> ToolOutcome {
        let result = match name {
            "read_file" => with_args(name, input, |a| self.read_file(a)),
            "write_file" => with_args(name, input, |a| self.write_file(a)),
            "edit_file" => with_args(name, input, |a| self.edit_file(a)),
            "list_dir" => with_args(name, input, |a| self.list_dir(a)),
            "search" => with_args(name, input, |a| self.search(a)),
            other => Err(FileToolError::UnknownTool(other.to_owned())),
        };
        match result {
            Ok(text) => ToolOutcome::ok(text),
            Err(error) => ToolOutcome::error(error.to_string()),
        }
    }

    fn bound(&self, mut outcome: ToolOutcome) -> ToolOutcome {
        outcome.content = truncate_with_note(&outcome.content, self.limits.max_result_bytes);
        outcome
    }

    /// Like [`WorktreeRoot::resolve`], and refuses `.git`: in a worktree it is the link to
    /// the repository, and rewriting it would point the harness's commits somewhere else.
    fn resolve_for_write(&self, path: &str) -> Result<ConfinedPath, FileToolError> {
        let resolved = self.root.resolve(path)?;
        if resolved.relative().components().next()
            == Some(std::path::Component::Normal(".git".as_ref()))
        {
            return Err(FileToolError::GitData(resolved.to_string()));
        }
        Ok(resolved)
    }

    fn read_file(&self, args: args::ReadFile) -> Result<String, FileToolError> {
        let path = self.root.resolve(&args.path)?;
        let read_error = |source| FileToolError::Read {
            path: path.to_string(),
            source,
        };
        let file = self
            .root
            .open_read(&path)
            .map_err(|e| opened(e, read_error))?;
        let (bytes, truncated) =
            read_capped(file, self.limits.max_read_bytes as u64).map_err(read_error)?;
        if bytes.contains(&0) {
            return Err(FileToolError::Binary(path.to_string()));
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
            // Writing to a String cannot fail.
            let _ = write!(
                out,
                "\n[... file truncated at {} bytes; use offset/limit to read further]",
                self.limits.max_read_bytes
            );
        }
        Ok(out)
    }

    fn write_file(&self, args: args::WriteFile) -> Result<String, FileToolError> {
        if args.content.len() > self.limits.max_write_bytes {
            return Err(FileToolError::ContentTooLarge {
                len: args.content.len(),
                limit: self.limits.max_write_bytes,
            });
        }
        let path = self.resolve_for_write(&args.path)?;
        if path.is_root() {
            return Err(FileToolError::IsDirectory(path.to_string()));
        }
        let write_error = |source| FileToolError::Write {
            path: path.to_string(),
            source,
        };
        let mut file = self.root.create(&path).map_err(|e| match e {
            OpenError::Io(e) if e.raw_os_error() == Some(libc::EISDIR) => {
                FileToolError::IsDirectory(path.to_string())
            }
            other => opened(other, |source| FileToolError::CreateDirs {
                path: path.to_string(),
                source,
            }),
        })?;
        file.write_all(args.content.as_bytes())
            .map_err(write_error)?;
        Ok(format!("wrote {} bytes to {path}", args.content.len()))
    }

    fn edit_file(&self, args: args::EditFile) -> Result<String, FileToolError> {
        if args.old_string.is_empty() {
            return Err(FileToolError::EmptyOldString);
        }
        let path = self.resolve_for_write(&args.path)?;
        let read_error = |source| FileToolError::Read {
            path: path.to_string(),
            source,
        };
        let write_error = |source| FileToolError::Write {
            path: path.to_string(),
            source,
        };
        let mut file = self
            .root
            .open_edit(&path)
            .map_err(|e| opened(e, read_error))?;
        let mut bytes = Vec::new();
        // One byte past the limit is enough to know the edit cannot be written back.
        (&mut file)
            .take(self.limits.max_write_bytes as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
        if bytes.len() > self.limits.max_write_bytes {
            return Err(FileToolError::EditTooLarge);
        }
        let text = String::from_utf8(bytes).map_err(|_| FileToolError::Binary(path.to_string()))?;
        match text.matches(&args.old_string).count() {
            0 => Err(FileToolError::NoMatch(path.to_string())),
            1 => {
                let updated = text.replacen(&args.old_string, &args.new_string, 1);
                if updated.len() > self.limits.max_write_bytes {
                    return Err(FileToolError::EditTooLarge);
                }
                // The same open file, rewritten in place: no second lookup of the path.
                file.set_len(0).map_err(write_error)?;
                file.rewind().map_err(write_error)?;
                file.write_all(updated.as_bytes()).map_err(write_error)?;
                Ok(format!("edited {path}"))
            }
            count => Err(FileToolError::AmbiguousMatch {
                path: path.to_string(),
                count,
            }),
        }
    }

    fn list_dir(&self, args: args::ListDir) -> Result<String, FileToolError> {
        let path = self.root.resolve(args.path.as_deref().unwrap_or("."))?;
        let list_error = |source| FileToolError::List {
            path: path.to_string(),
            source,
        };
        let dir = self
            .root
            .open_dir(&path)
            .map_err(|e| opened(e, list_error))?;
        let entries = rustix::fs::Dir::read_from(&dir).map_err(|e| list_error(e.into()))?;
        let mut names: Vec<String> = Vec::new();
        let mut total = 0usize;
        for entry in entries.flatten() {
            let raw = entry.file_name().to_bytes();
            if raw == b"." || raw == b".." {
                continue;
            }
            total += 1;
            // Keep reading past the cap only to count, so the model knows what it missed.
            if names.len() >= self.limits.max_list_entries {
                continue;
            }
            let mut name = String::from_utf8_lossy(raw).into_owned();
            if is_directory(&dir, &entry) {
                name.push('/');
            }
            names.push(name);
        }
        names.sort();
        let mut out = names.join("\n");
        if total > names.len() {
            // Writing to a String cannot fail.
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

    fn search(&self, args: args::Search) -> Result<String, FileToolError> {
        let regex = regex::RegexBuilder::new(&args.pattern)
            .size_limit(1 << 20)
            .build()?;
        let path = self.root.resolve(args.path.as_deref().unwrap_or("."))?;
        // Refuses a start that leads outside before the walk begins.
        self.root.open_dir(&path).map_err(|e| {
            opened(e, |source| FileToolError::List {
                path: path.to_string(),
                source,
            })
        })?;
        let cap = args
            .max_results
            .unwrap_or(self.limits.max_search_results)
            .clamp(1, self.limits.max_search_results);
        let mut hits = Vec::new();
        let mut more = false;
        let mut files_read = 0usize;
        // The walk lists names by path; a name swapped for a symlink mid-walk may list a
        // directory outside, but every file is read through the root handle below, which
        // refuses it: contents come only from inside.
        let walker = ignore::WalkBuilder::new(self.root.path().join(path.relative()))
            // Respect .gitignore even in a directory git does not know (tests, fresh trees).
            .require_git(false)
            .follow_links(false)
            .build();
        'files: for entry in walker.flatten() {
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            let Some(found) = self.root.confine_found(entry.path()) else {
                continue;
            };
            files_read += 1;
            if files_read > self.limits.max_search_files {
                more = true;
                break;
            }
            let Ok(file) = self.root.open_read(&found) else {
                continue;
            };
            let too_big = file
                .metadata()
                .map(|m| m.len() > self.limits.max_search_file_bytes)
                .unwrap_or(true);
            if too_big {
                continue;
            }
            let Ok((bytes, _)) = read_capped(file, self.limits.max_search_file_bytes) else {
                continue;
            };
            if bytes.contains(&0) {
                continue; // binary
            }
            let text = String::from_utf8_lossy(&bytes);
            let rel = found.relative();
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
            // Writing to a String cannot fail.
            let _ = write!(
                out,
                "\n[... stopped early (at {cap} matches or {} files); narrow the pattern or path]",
                self.limits.max_search_files
            );
        }
        Ok(out)
    }
}

/// Parses the arguments of tool `name` and runs `tool` with them.
fn with_args<A: serde::de::DeserializeOwned>(
    name: &str,
    input: &Value,
    tool: impl FnOnce(A) -> Result<String, FileToolError>,
) -> Result<String, FileToolError> {
    tool(args::parse(name, input)?)
}

/// A refused path as itself, and any other failure to open as `io_error` says.
fn opened(
    error: OpenError,
    io_error: impl FnOnce(std::io::Error) -> FileToolError,
) -> FileToolError {
    match error {
        OpenError::Confine(refused) => FileToolError::Path(refused),
        OpenError::Io(source) => io_error(source),
    }
}

/// Whether a listed entry is a directory, from the entry's type or, where the file
/// system does not say, from a stat that follows no symlink.
fn is_directory(dir: &std::os::fd::OwnedFd, entry: &rustix::fs::DirEntry) -> bool {
    use rustix::fs::FileType;
    match entry.file_type() {
        FileType::Unknown => rustix::fs::statat(
            dir,
            entry.file_name(),
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory),
        kind => kind == FileType::Directory,
    }
}

fn read_capped(file: std::fs::File, max: u64) -> std::io::Result<(Vec<u8>, bool)> {
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
    use serde_json::json;

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
}
