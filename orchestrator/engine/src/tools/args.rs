//! Tool arguments: the JSON input the model sends, parsed into typed arguments. The
//! harness tools become a [`HarnessAction`]; `create_task` is checked by the domain's
//! own types ([`Title`], [`Priority`], [`TaskRef`]…), so the rules live in one place.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use harness_domain::{
    ValidationError,
    task::{Dependencies, Description, NewTask, Priority, TaskRef, Title},
};

/// Why a tool's input was refused. The text is for the model to read and correct.
#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    #[error("invalid input for {tool}: {source}")]
    Malformed {
        tool: String,
        source: serde_json::Error,
    },
    #[error("create_task: {0}")]
    InvalidTask(#[from] ValidationError),
}

/// Parses `input` as the arguments of tool `tool`.
pub fn parse<T: DeserializeOwned>(tool: &str, input: &Value) -> Result<T, ArgsError> {
    T::deserialize(input).map_err(|source| ArgsError::Malformed {
        tool: tool.to_owned(),
        source,
    })
}

/// `read_file`: a path, and an optional window in lines.
#[derive(Debug, Deserialize)]
pub struct ReadFile {
    pub path: String,
    pub offset: Option<usize>,
    pub limit: Option<usize>,
}

/// `write_file`.
#[derive(Debug, Deserialize)]
pub struct WriteFile {
    pub path: String,
    pub content: String,
}

/// `edit_file`: replace exactly one occurrence.
#[derive(Debug, Deserialize)]
pub struct EditFile {
    pub path: String,
    pub old_string: String,
    pub new_string: String,
}

/// `list_dir`; no path means the worktree root.
#[derive(Debug, Deserialize)]
pub struct ListDir {
    pub path: Option<String>,
}

/// `search`: a regex, an optional directory and an optional cap.
#[derive(Debug, Deserialize)]
pub struct Search {
    pub pattern: String,
    pub path: Option<String>,
    pub max_results: Option<usize>,
}

/// `run_command`.
#[derive(Debug, Deserialize)]
pub struct RunCommand {
    pub command: String,
    pub timeout_secs: Option<u64>,
    /// Runs on after the call returns, until the session ends (services.rs).
    #[serde(default)]
    pub background: bool,
}

/// `browser_open`.
#[derive(Debug, Deserialize)]
pub(crate) struct BrowserOpen {
    pub url: String,
}

/// `browser_click`.
#[derive(Debug, Deserialize)]
pub(crate) struct BrowserClick {
    pub selector: String,
}

/// `browser_type`.
#[derive(Debug, Deserialize)]
pub(crate) struct BrowserType {
    pub selector: String,
    pub text: String,
}

/// `report_finding`, before the domain checks it.
#[derive(Debug, Deserialize)]
pub(crate) struct ReportFinding {
    pub title: String,
    #[serde(default)]
    pub detail: String,
    #[serde(default)]
    pub persona: String,
    pub screenshot: Option<String>,
}

/// A harness tool call, for the caller (agent loop, scheduler) to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HarnessAction {
    Complete {
        summary: String,
        /// Why the task needed no change to the repository, when the agent changed
        /// nothing: a role that must change it fails without this.
        no_changes_needed: Option<String>,
    },
    Fail {
        reason: String,
    },
    AskHuman {
        question: String,
    },
    /// A subtask proposed by a planning agent, validated. Its category is left at the
    /// default: the task creator gives it the planning task's.
    CreateTask(NewTask),
}

/// `create_task` as the model sends it, before the domain checks it. It is also what
/// a remote worker sends the orchestrator, which checks it again (the worker is not
/// trusted) with the same [`CreateTask::validate`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateTask {
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub priority: Option<String>,
    /// Task ids or display ids (`T-12`) this one waits for.
    #[serde(default)]
    pub depends_on: Vec<String>,
}

impl From<&NewTask> for CreateTask {
    /// The validated task back in its wire form (a worker forwarding its agent's call).
    fn from(task: &NewTask) -> Self {
        Self {
            title: task.title.as_str().to_owned(),
            description: task.description.as_str().to_owned(),
            priority: Some(task.priority.as_str().to_owned()),
            depends_on: task
                .depends_on
                .ids()
                .iter()
                .map(|id| id.display_id())
                .collect(),
        }
    }
}

impl CreateTask {
    pub fn validate(self) -> Result<NewTask, ValidationError> {
        let mut task = NewTask::titled(Title::parse(&self.title)?);
        task.description = Description::parse(&self.description)?;
        if let Some(priority) = &self.priority {
            task.priority = priority.parse::<Priority>()?;
        }
        let depends_on = self
            .depends_on
            .iter()
            .map(|r| TaskRef::parse(r).map(TaskRef::id))
            .collect::<Result<Vec<_>, _>>()?;
        task.depends_on = Dependencies::parse(depends_on)?;
        Ok(task)
    }
}

/// Parses a harness tool call. `None` when `name` is not a harness tool; `Some(Err)`
/// when its input is malformed.
pub fn parse_harness_action(name: &str, input: &Value) -> Option<Result<HarnessAction, ArgsError>> {
    #[derive(Deserialize)]
    struct Summary {
        summary: String,
        #[serde(default)]
        no_changes_needed: Option<String>,
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
        "complete_task" => parse::<Summary>(name, input).map(|s| HarnessAction::Complete {
            summary: s.summary,
            no_changes_needed: s.no_changes_needed.filter(|w| !w.trim().is_empty()),
        }),
        "fail_task" => {
            parse::<Reason>(name, input).map(|r| HarnessAction::Fail { reason: r.reason })
        }
        "ask_human" => parse::<Question>(name, input).map(|q| HarnessAction::AskHuman {
            question: q.question,
        }),
        "create_task" => parse::<CreateTask>(name, input)
            .and_then(|t| Ok(HarnessAction::CreateTask(t.validate()?))),
        _ => return None,
    };
    Some(parsed)
}

#[cfg(test)]
mod tests {
    use harness_domain::task::TaskId;
    use serde_json::json;

    use super::*;

    #[test]
    fn harness_tools_parse_into_actions() {
        assert_eq!(
            parse_harness_action("complete_task", &json!({"summary":"done"})).map(Result::ok),
            Some(Some(HarnessAction::Complete {
                no_changes_needed: None,
                summary: "done".into()
            }))
        );
        assert!(matches!(
            parse_harness_action("fail_task", &json!({})),
            Some(Err(ArgsError::Malformed { .. }))
        ));
        assert!(parse_harness_action("read_file", &json!({})).is_none());
        let created =
            parse_harness_action("create_task", &json!({"title":"sub","depends_on":["T-1"]}));
        let Some(Ok(HarnessAction::CreateTask(task))) = created else {
            panic!("{created:?}");
        };
        assert_eq!(task.priority, Priority::P2);
        assert_eq!(task.depends_on.ids(), [TaskId::new(1).unwrap()]);
    }

    #[test]
    fn a_validated_task_survives_its_wire_form() {
        let input =
            json!({"title":"sub","description":"d","priority":"P1","depends_on":["T-3","1"]});
        let Some(Ok(HarnessAction::CreateTask(task))) = parse_harness_action("create_task", &input)
        else {
            panic!("create_task did not parse");
        };
        let again = CreateTask::from(&task).validate().unwrap();
        assert_eq!(again, task);
        assert_eq!(CreateTask::from(&task).depends_on, ["T-1", "T-3"]);
    }

    #[test]
    fn create_task_refuses_what_the_domain_refuses() {
        for input in [
            json!({"title":"   "}),
            json!({"title":"x".repeat(201)}),
            json!({"title":"ok","priority":"P9"}),
            json!({"title":"ok","depends_on":["not-an-id"]}),
        ] {
            let parsed = parse_harness_action("create_task", &input);
            assert!(
                matches!(parsed, Some(Err(ArgsError::InvalidTask(_)))),
                "{input}: {parsed:?}"
            );
        }
    }
}
