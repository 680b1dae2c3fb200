//! Review before landing: the landing policy, a person's review of verified work, and
//! comments on the lines of its diff.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    ValidationError,
    task::{Description, TaskId},
    time::Timestamp,
    validation::bounded_text,
};

/// What happens to verified work: it lands at once (`auto`), or waits in `review` for a
/// person to approve it. Set per role (`[roles.NAME] land`), overridden per task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum LandPolicy {
    #[default]
    Auto,
    Review,
    /// Pushed to the forge as a pull request, which the harness follows until it is
    /// merged or closed.
    PullRequest,
}

impl LandPolicy {
    pub const ALL: [LandPolicy; 3] = [Self::Auto, Self::Review, Self::PullRequest];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Review => "review",
            Self::PullRequest => "pull_request",
        }
    }

    /// Verified work waits for someone (a person, or a pull request's reviewers and
    /// checks) instead of landing at once.
    pub fn waits(self) -> bool {
        self != Self::Auto
    }
}

impl FromStr for LandPolicy {
    type Err = ValidationError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == raw)
            .ok_or_else(|| {
                ValidationError::new(
                    "land",
                    format!("unknown landing policy '{raw}'; use auto, review or pull_request"),
                )
            })
    }
}

impl TryFrom<String> for LandPolicy {
    type Error = ValidationError;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        raw.parse()
    }
}

impl fmt::Display for LandPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The pull request a task's verified work is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PullLink {
    /// `#12` on GitHub and Gitea, `!12` on GitLab.
    pub number: u64,
    pub url: String,
    /// The verified commit the harness last pushed to it.
    pub commit: String,
    /// When it pushed it: feedback from before then was addressed.
    pub pushed_at: Timestamp,
    /// Follow-up attempts its checks and reviewers caused so far.
    pub fix_rounds: u32,
    /// Why the harness could not open or follow it, while that lasts.
    #[serde(default)]
    pub problem: Option<String>,
    /// The newest change request already sent to the agent: later ones are new.
    #[serde(default)]
    pub feedback_seen: Option<Timestamp>,
    /// Its checks on `commit` when last read: `passed`, `pending`, `none`, or
    /// `failed: <names>`.
    #[serde(default)]
    pub checks: Option<String>,
    /// People who approved it, when last read.
    #[serde(default)]
    pub approvals: u32,
}

/// What a person decides about work waiting in `review`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewAction {
    /// It lands (verified again first if the base moved).
    Approve,
    /// A follow-up attempt continues on the same branch with the message and comments.
    RequestChanges,
    /// The task is blocked with the reason; the branch is kept.
    Reject,
}

impl ReviewAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::RequestChanges => "request_changes",
            Self::Reject => "reject",
        }
    }
}

/// A person's message to the agent of a task (a change request, a follow-up): not
/// empty, as long as a description may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message(String);

impl Message {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        bounded_text("message", raw, 1, Description::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which side of a diff a comment is on: the line as the base had it (`old`), or as
/// the branch has it (`new`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Old,
    #[default]
    New,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Old => "old",
            Self::New => "new",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw {
            "old" => Ok(Self::Old),
            "new" => Ok(Self::New),
            _ => Err(ValidationError::new(
                "side",
                format!("unknown side '{raw}'; use old or new"),
            )),
        }
    }
}

/// A path inside the repository, as git names it: relative, `/`-separated, no `..`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoPath(String);

impl RepoPath {
    pub const MAX_CHARS: usize = 1024;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let path = bounded_text("path", raw, 1, Self::MAX_CHARS)?;
        let bad = path.starts_with('/')
            || path.contains('\\')
            || path
                .split('/')
                .any(|part| part.is_empty() || part == "." || part == "..");
        if bad {
            return Err(ValidationError::new(
                "path",
                format!("'{path}' is not a file path inside the repository"),
            ));
        }
        Ok(Self(path))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The lines a comment is on: `line` to `end_line`, 1-based, at most 1,000 lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineRange {
    start: u32,
    end: u32,
}

impl LineRange {
    pub const MAX_LINES: u32 = 1000;

    pub fn parse(line: i64, end_line: Option<i64>) -> Result<Self, ValidationError> {
        let start = u32::try_from(line)
            .ok()
            .filter(|l| *l >= 1)
            .ok_or_else(|| ValidationError::new("line", "line must be 1 or more"))?;
        let end = match end_line {
            None => start,
            Some(end) => u32::try_from(end)
                .ok()
                .filter(|e| *e >= start)
                .ok_or_else(|| {
                    ValidationError::new("end_line", "end_line must not be before line")
                })?,
        };
        if end - start >= Self::MAX_LINES {
            return Err(ValidationError::new(
                "end_line",
                format!("a comment spans at most {} lines", Self::MAX_LINES),
            ));
        }
        Ok(Self { start, end })
    }

    pub fn start(self) -> u32 {
        self.start
    }

    pub fn end(self) -> u32 {
        self.end
    }
}

/// A comment body: not empty, at most 10,000 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentBody(String);

impl CommentBody {
    pub const MAX_CHARS: usize = 10_000;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        bounded_text("body", raw, 1, Self::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Database id of a review comment.
pub type CommentId = i64;

/// A validated comment, with what the harness read from git when it was made: the
/// commit it is on and the text of its lines then (to tell later whether they changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewComment {
    pub path: RepoPath,
    pub lines: LineRange,
    pub side: Side,
    pub body: CommentBody,
    pub commit: String,
    pub line_text: String,
}

/// A comment on lines of a task's diff, as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReviewComment {
    pub id: CommentId,
    #[schema(value_type = i64)]
    pub task_id: TaskId,
    pub path: String,
    pub line: u32,
    /// The last line of a range; `null` for one line.
    pub end_line: Option<u32>,
    pub side: Side,
    pub body: String,
    /// Who wrote it: `api`, `telegram:<user>`, …
    pub author: String,
    /// The branch's commit the comment was made on.
    pub commit: String,
    /// The commented lines' text when the comment was made.
    pub line_text: String,
    /// The lines changed since (a later attempt rewrote them): shown, no longer sent.
    pub outdated: bool,
    /// A person marked it done: no longer sent to the agent.
    pub resolved: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl ReviewComment {
    /// Still asks the agent for something: neither resolved nor outdated.
    pub fn is_open(&self) -> bool {
        !self.resolved && !self.outdated
    }
}

/// The next attempt's first message after a person's change request: their message,
/// then each open comment with the lines it is on.
pub fn change_request(message: Option<&str>, comments: &[ReviewComment]) -> String {
    let mut text = String::from("A person reviewed your verified work and asks for changes.");
    if let Some(message) = message {
        text.push_str("\n\n");
        text.push_str(message);
    }
    let open: Vec<&ReviewComment> = comments.iter().filter(|c| c.is_open()).collect();
    if !open.is_empty() {
        text.push_str("\n\nComments on the diff:");
    }
    for c in open {
        let lines = match c.end_line {
            Some(end) if end != c.line => format!("lines {}-{end}", c.line),
            _ => format!("line {}", c.line),
        };
        let side = match c.side {
            Side::New => "",
            Side::Old => " (as it was before your change)",
        };
        text.push_str(&format!(
            "\n\n- {}, {lines}{side}:\n  > {}\n  {}",
            c.path,
            c.line_text.replace('\n', "\n  > "),
            c.body.replace('\n', "\n  ")
        ));
    }
    text.push_str(
        "\n\nYour previous work is on the branch. Make the changes, then call complete_task again.",
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn landing_policies_parse_and_an_unknown_one_is_named() {
        assert_eq!("review".parse::<LandPolicy>().unwrap(), LandPolicy::Review);
        assert_eq!(" auto ".parse::<LandPolicy>().unwrap(), LandPolicy::Auto);
        assert_eq!(
            "pull_request".parse::<LandPolicy>().unwrap(),
            LandPolicy::PullRequest
        );
        let err = "merge".parse::<LandPolicy>().unwrap_err();
        assert_eq!(err.field, "land");
        assert!(err.message.contains("pull_request"), "{err}");
    }

    #[test]
    fn repo_paths_stay_inside_the_repository() {
        assert!(RepoPath::parse("src/lib.rs").is_ok());
        for bad in ["/etc/passwd", "../x", "a/../b", "a//b", "a\\b", "", "./a"] {
            assert_eq!(RepoPath::parse(bad).unwrap_err().field, "path", "{bad}");
        }
    }

    #[test]
    fn a_line_range_starts_at_one_and_runs_forward() {
        assert_eq!(LineRange::parse(3, None).unwrap().end(), 3);
        assert_eq!(LineRange::parse(0, None).unwrap_err().field, "line");
        assert_eq!(LineRange::parse(5, Some(4)).unwrap_err().field, "end_line");
        assert_eq!(
            LineRange::parse(1, Some(5000)).unwrap_err().field,
            "end_line"
        );
    }

    fn comment(body: &str, resolved: bool, outdated: bool) -> ReviewComment {
        ReviewComment {
            id: 1,
            task_id: TaskId::new(1).unwrap(),
            path: "src/a.rs".into(),
            line: 2,
            end_line: Some(3),
            side: Side::New,
            body: body.into(),
            author: "api".into(),
            commit: "abc".into(),
            line_text: "let x = 1;\nlet y = 2;".into(),
            outdated,
            resolved,
            created_at: Timestamp::now(),
            updated_at: Timestamp::now(),
        }
    }

    #[test]
    fn a_change_request_carries_the_message_and_only_the_open_comments() {
        let comments = [
            comment("rename x", false, false),
            comment("done already", true, false),
            comment("old line", false, true),
        ];
        let text = change_request(Some("Please tidy up."), &comments);
        assert!(text.contains("Please tidy up."), "{text}");
        assert!(text.contains("src/a.rs, lines 2-3"), "{text}");
        assert!(text.contains("> let x = 1;\n  > let y = 2;"), "{text}");
        assert!(text.contains("rename x"), "{text}");
        assert!(!text.contains("done already") && !text.contains("old line"));
    }
}

/// How a file changed between the base and the branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    Added,
    Modified,
    Deleted,
    Renamed,
    Copied,
    TypeChanged,
}

/// One file of a task's diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DiffFile {
    pub path: String,
    /// The path on the base, for a renamed or copied file.
    pub old_path: Option<String>,
    pub status: FileStatus,
    pub additions: u32,
    pub deletions: u32,
    pub binary: bool,
    /// This file's `diff --git` section, unified with 3 lines of context; empty when the
    /// diff was too large to include it.
    pub patch: String,
}

/// What a task's branch changes on its base: the files and their patches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TaskDiff {
    pub base: String,
    /// Where the branch left the base (their merge base).
    pub base_commit: String,
    pub head_commit: String,
    pub branch: String,
    pub files: Vec<DiffFile>,
    /// Some patches were left out or cut: the diff is larger than the harness serves.
    pub truncated: bool,
}

/// The files of `git diff --numstat -z -M` (`added\tdeleted\tpath\0` or, for a rename,
/// `added\tdeleted\t\0old\0new\0`; `-` counts for a binary file), joined with their
/// status letters from `--name-status -z -M` in the same order.
pub fn diff_files(numstat: &[u8], name_status: &[u8]) -> Vec<DiffFile> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut statuses = name_status.split(|b| *b == 0).filter(|f| !f.is_empty());
    let mut fields = numstat.split(|b| *b == 0);
    let mut files = Vec::new();
    while let Some(head) = fields.next() {
        if head.is_empty() {
            continue;
        }
        let mut parts = head.splitn(3, |b| *b == b'\t');
        let (Some(added), Some(deleted), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            break;
        };
        let (old_path, path) = if path.is_empty() {
            let old = fields.next().map(text);
            (old, fields.next().map(text).unwrap_or_default())
        } else {
            (None, text(path))
        };
        let letter = statuses.next().and_then(|s| s.first().copied());
        // The name-status list repeats the paths after each letter; skip them.
        let paths = if matches!(letter, Some(b'R' | b'C')) {
            2
        } else {
            1
        };
        for _ in 0..paths {
            statuses.next();
        }
        let status = match letter {
            Some(b'A') => FileStatus::Added,
            Some(b'D') => FileStatus::Deleted,
            Some(b'R') => FileStatus::Renamed,
            Some(b'C') => FileStatus::Copied,
            Some(b'T') => FileStatus::TypeChanged,
            _ => FileStatus::Modified,
        };
        let binary = added == b"-";
        let count = |b: &[u8]| std::str::from_utf8(b).ok().and_then(|s| s.parse().ok());
        files.push(DiffFile {
            path,
            old_path,
            status,
            additions: count(added).unwrap_or(0),
            deletions: count(deleted).unwrap_or(0),
            binary,
            patch: String::new(),
        });
    }
    files
}

/// Splits a whole `git diff` patch into its per-file sections, in git's order (the
/// order of [`diff_files`]).
pub fn patch_sections(patch: &str) -> Vec<&str> {
    let mut starts: Vec<usize> = patch
        .match_indices("diff --git ")
        .filter(|(at, _)| *at == 0 || patch.as_bytes()[at - 1] == b'\n')
        .map(|(at, _)| at)
        .collect();
    starts.push(patch.len());
    starts.windows(2).map(|w| &patch[w[0]..w[1]]).collect()
}

/// Lines `start..=end` (1-based) of `content`, or `None` when the file is shorter.
pub fn lines_of(content: &str, start: u32, end: u32) -> Option<String> {
    let lines: Vec<&str> = content
        .lines()
        .skip(start.saturating_sub(1) as usize)
        .take((end - start + 1) as usize)
        .collect();
    (lines.len() == (end - start + 1) as usize).then(|| lines.join("\n"))
}

#[cfg(test)]
mod diff_tests {
    use super::*;

    #[test]
    fn numstat_and_name_status_join_into_files_with_renames_and_binaries() {
        let numstat = b"3\t1\tsrc/a.rs\0-\t-\tlogo.png\0\
0\t0\t\0old name.txt\0new name.txt\0";
        let names = b"M\0src/a.rs\0A\0logo.png\0R100\0old name.txt\0new name.txt\0";
        let files = diff_files(numstat, names);
        assert_eq!(files.len(), 3);
        assert_eq!(
            (
                files[0].path.as_str(),
                files[0].status,
                files[0].additions,
                files[0].deletions
            ),
            ("src/a.rs", FileStatus::Modified, 3, 1)
        );
        assert!(files[1].binary && files[1].status == FileStatus::Added);
        assert_eq!(files[2].path, "new name.txt");
        assert_eq!(files[2].old_path.as_deref(), Some("old name.txt"));
        assert_eq!(files[2].status, FileStatus::Renamed);
    }

    #[test]
    fn a_patch_splits_at_each_file_header_only() {
        let patch = "diff --git a/x b/x\n+diff --git inside a line\ndiff --git a/y b/y\n-z\n";
        let sections = patch_sections(patch);
        assert_eq!(sections.len(), 2);
        assert!(sections[0].contains("inside a line"));
        assert!(sections[1].starts_with("diff --git a/y"));
    }

    #[test]
    fn lines_of_a_file_are_found_or_missing() {
        let file = "one\ntwo\nthree\n";
        assert_eq!(lines_of(file, 2, 3).as_deref(), Some("two\nthree"));
        assert_eq!(lines_of(file, 3, 4), None);
        assert_eq!(lines_of(file, 4, 4), None);
    }
}
