//! The prompts an agent starts from: its role, the task, and what went wrong last time.

use std::fmt::Write as _;

use harness_domain::task::Task;

use super::session::tail;

/// What the agent is asked to do.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct TaskBrief {
    pub display_id: String,
    pub title: String,
    pub description: String,
    pub pass_criteria: Vec<String>,
    /// The previous attempt's failure summary: verification tail and the agent's last
    /// message. Bounded by [`MAX_FAILURE_BYTES`] when rendered.
    pub previous_failure: Option<String>,
    pub attempt: u32,
    pub max_attempts: u32,
}

impl TaskBrief {
    /// The task as its attempt's agent sees it: the previous failure, and which attempt
    /// this is of how many.
    pub fn for_attempt(task: &Task) -> Self {
        Self {
            display_id: task.display_id.clone(),
            title: task.title.clone(),
            description: task.description.clone(),
            pass_criteria: task.pass_criteria.clone(),
            previous_failure: task.last_failure.clone(),
            attempt: task.attempts,
            max_attempts: task.max_attempts,
        }
    }

    /// A helper role's one job on the task (`title` says which: estimate, review…): the
    /// task's description and pass criteria, as the one try it gets.
    pub fn for_helper(task: &Task, title: String) -> Self {
        Self {
            display_id: task.display_id.clone(),
            title,
            description: task.description.clone(),
            pass_criteria: task.pass_criteria.clone(),
            previous_failure: None,
            attempt: 1,
            max_attempts: 1,
        }
    }
}

/// The most of a previous failure that goes into a prompt.
pub(crate) const MAX_FAILURE_BYTES: usize = 8 * 1024;

/// The system prompt: the role's instructions and the rules of the worktree.
pub fn system_prompt(role_instructions: &str) -> String {
    format!(
        "{role_instructions}\n\n\
         You work alone in a git worktree of the project. File paths are relative to its root; \
         you cannot read or write outside it. Use the tools to inspect and change files and to \
         run commands. Do not commit: the harness commits your changes when you call \
         complete_task, then runs the project's verification commands; only a passing \
         verification is merged. Call fail_task if the task cannot be done, and ask_human only \
         when you cannot proceed without an answer."
    )
}

/// The first user message: the task, its pass criteria, and the last failure.
pub fn task_message(brief: &TaskBrief) -> String {
    // Writing to a String cannot fail: the `let _ = write!`s below drop nothing.
    let mut out = format!("Task {}: {}\n", brief.display_id, brief.title);
    if !brief.description.trim().is_empty() {
        let _ = write!(out, "\n{}\n", brief.description.trim());
    }
    if !brief.pass_criteria.is_empty() {
        out.push_str("\nPass criteria:\n");
        for criterion in &brief.pass_criteria {
            let _ = writeln!(out, "- {criterion}");
        }
    }
    if let Some(failure) = &brief.previous_failure {
        let _ = write!(
            out,
            "\nThis is attempt {} of {}. The previous attempt failed:\n{}\n\
             Fix the cause of that failure.\n",
            brief.attempt,
            brief.max_attempts,
            tail(failure, MAX_FAILURE_BYTES)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_previous_failure_is_in_the_task_message() {
        let brief = TaskBrief {
            display_id: "T-3".into(),
            title: "Fix it".into(),
            pass_criteria: vec!["tests pass".into()],
            previous_failure: Some("verification failed: exit code 1".into()),
            attempt: 2,
            max_attempts: 3,
            ..TaskBrief::default()
        };
        let text = task_message(&brief);
        assert!(text.starts_with("Task T-3: Fix it"));
        assert!(text.contains("- tests pass"));
        assert!(text.contains("attempt 2 of 3"));
        assert!(text.contains("verification failed: exit code 1"));
    }

    #[test]
    fn a_huge_failure_is_cut_to_its_tail() {
        let brief = TaskBrief {
            previous_failure: Some(format!("{}END", "x".repeat(100_000))),
            ..TaskBrief::default()
        };
        let text = task_message(&brief);
        assert!(text.len() < MAX_FAILURE_BYTES + 1000);
        assert!(text.contains("END"));
    }
}
