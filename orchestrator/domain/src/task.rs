//! Tasks: their fields, the rules on each field, and the status machine.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use crate::review::LandPolicy;
use crate::{
    ValidationError,
    time::Timestamp,
    validation::{bounded_text, slug},
};

crate::validation::positive_id!(
    /// Database id of a task. Positive.
    TaskId,
    "task"
);

impl TaskId {
    /// The human key for this id: `T-42`.
    pub fn display_id(self) -> String {
        format!("T-{}", self.0)
    }
}

/// How a caller names a task: by id (`42`) or by display id (`T-42`, any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskRef(TaskId);

impl TaskRef {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let raw = raw.trim();
        let digits = raw
            .strip_prefix("T-")
            .or_else(|| raw.strip_prefix("t-"))
            .unwrap_or(raw);
        let n: i64 = digits.parse().map_err(|_| {
            ValidationError::new("id", format!("'{raw}' is not a task id (use 42 or T-42)"))
        })?;
        TaskId::new(n).map(Self)
    }

    pub fn id(self) -> TaskId {
        self.0
    }
}

/// A task title: trimmed, 1 to 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        bounded_text("title", raw, 1, Self::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A task description: up to 20,000 characters, possibly empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Description(String);

impl Description {
    pub const MAX_CHARS: usize = 20_000;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        bounded_text("description", raw, 0, Self::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A human's answer to an agent's question: not empty, as long as a description may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer(String);

impl Answer {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        bounded_text("answer", raw, 1, Description::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A category slug such as `feature`, `bug` or `docs`; routes a task to an agent role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category(String);

impl Category {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        slug("category", raw.trim(), 40).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Category {
    fn default() -> Self {
        Self("feature".to_owned())
    }
}

/// The checks a task's result must meet: at most 50 items of 1 to 500 characters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PassCriteria(Vec<String>);

impl PassCriteria {
    pub(crate) const MAX_ITEMS: usize = 50;

    pub fn parse(raw: &[String]) -> Result<Self, ValidationError> {
        if raw.len() > Self::MAX_ITEMS {
            return Err(ValidationError::new(
                "pass_criteria",
                format!("pass_criteria has at most {} items", Self::MAX_ITEMS),
            ));
        }
        raw.iter()
            .map(|item| bounded_text("pass_criteria", item, 1, 500))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn items(&self) -> &[String] {
        &self.0
    }
}

/// A task's cost cap in USD: a positive amount up to one million.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostCap(f64);

// Valid by construction: never NaN, so equality is total.
impl Eq for CostCap {}

impl CostCap {
    pub fn parse(raw: f64) -> Result<Self, ValidationError> {
        if raw.is_finite() && raw > 0.0 && raw <= 1_000_000.0 {
            Ok(Self(raw))
        } else {
            Err(ValidationError::new(
                "max_cost_usd",
                "max_cost_usd must be a positive amount in USD, at most 1000000",
            ))
        }
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

/// How many attempts a task may use before it is blocked: 1 to 20.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxAttempts(u32);

impl MaxAttempts {
    pub fn parse(raw: i64) -> Result<Self, ValidationError> {
        match u32::try_from(raw) {
            Ok(n @ 1..=20) => Ok(Self(n)),
            _ => Err(ValidationError::new(
                "max_attempts",
                "max_attempts must be between 1 and 20",
            )),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for MaxAttempts {
    fn default() -> Self {
        Self(3)
    }
}

/// Up to 100 distinct tasks this one waits for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dependencies(Vec<TaskId>);

impl Dependencies {
    pub(crate) const MAX_ITEMS: usize = 100;

    pub fn parse(ids: Vec<TaskId>) -> Result<Self, ValidationError> {
        if ids.len() > Self::MAX_ITEMS {
            return Err(ValidationError::new(
                "depends_on",
                format!("depends_on has at most {} items", Self::MAX_ITEMS),
            ));
        }
        let mut ids = ids;
        ids.sort_unstable();
        ids.dedup();
        Ok(Self(ids))
    }

    pub fn ids(&self) -> &[TaskId] {
        &self.0
    }
}

/// Urgency, P0 (drop everything) to P4 (someday).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    ToSchema,
)]
pub enum Priority {
    P0,
    P1,
    #[default]
    P2,
    P3,
    P4,
}

impl Priority {
    pub const ALL: [Priority; 5] = [Self::P0, Self::P1, Self::P2, Self::P3, Self::P4];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::P0 => "P0",
            Self::P1 => "P1",
            Self::P2 => "P2",
            Self::P3 => "P3",
            Self::P4 => "P4",
        }
    }
}

impl TryFrom<String> for Priority {
    type Error = ValidationError;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        raw.parse()
    }
}

impl TryFrom<String> for TaskStatus {
    type Error = ValidationError;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        raw.parse()
    }
}

impl FromStr for Priority {
    type Err = ValidationError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(raw.trim()))
            .ok_or_else(|| {
                ValidationError::new(
                    "priority",
                    format!("unknown priority '{raw}'; use P0 to P4"),
                )
            })
    }
}

/// Where a task is in its life. See [`TaskStatus::can_become`] for the allowed moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum TaskStatus {
    Pending,
    InProgress,
    Verifying,
    /// Verified work waits for a person's review (landing policy `review`).
    Review,
    Completed,
    Failed,
    Blocked,
    Cancelled,
}

/// A move the status machine forbids. It is never written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IllegalTransition {
    pub from: TaskStatus,
    pub to: TaskStatus,
}

impl fmt::Display for IllegalTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a task cannot go from {} to {}",
            self.from.as_str(),
            self.to.as_str()
        )
    }
}

impl std::error::Error for IllegalTransition {}

impl TaskStatus {
    pub const ALL: [TaskStatus; 8] = [
        Self::Pending,
        Self::InProgress,
        Self::Verifying,
        Self::Review,
        Self::Completed,
        Self::Failed,
        Self::Blocked,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InProgress => "in_progress",
            Self::Verifying => "verifying",
            Self::Review => "review",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Blocked => "blocked",
            Self::Cancelled => "cancelled",
        }
    }

    /// Completed and cancelled tasks never change again.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled)
    }

    /// An agent session is working on the task.
    pub fn is_running(self) -> bool {
        matches!(self, Self::InProgress | Self::Verifying)
    }

    /// The status machine:
    /// pending → in_progress → verifying → completed | failed;
    /// failed → pending (retry) | blocked; blocked → pending (unblock);
    /// verifying → review → pending (approved, changes requested) | blocked (rejected);
    /// any state that is not final → cancelled.
    pub(crate) fn can_become(self, to: TaskStatus) -> bool {
        use TaskStatus::*;
        match (self, to) {
            (from, Cancelled) => !from.is_final(),
            (Pending, InProgress)
            | (InProgress, Verifying)
            | (Verifying, Completed | Failed | Review)
            // Completed from review only when the forge merged its pull request.
            | (Review, Pending | Blocked | Completed)
            | (Failed, Pending | Blocked)
            | (Blocked, Pending) => true,
            // A person reopens a task they cancelled, or sends the agent of a completed
            // one a follow-up message; nothing else leaves a final state.
            (Cancelled | Completed, Pending) => true,
            // An agent can fail before it reaches verification, and crash recovery puts
            // an interrupted task back in the queue without counting an attempt.
            (InProgress, Failed | Pending) | (Verifying, Pending) => true,
            _ => false,
        }
    }

    pub fn transition(self, to: TaskStatus) -> Result<TaskStatus, IllegalTransition> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }
}

impl FromStr for TaskStatus {
    type Err = ValidationError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw.trim())
            .ok_or_else(|| {
                ValidationError::new(
                    "status",
                    format!(
                        "unknown status '{raw}'; use one of {}",
                        Self::ALL.map(Self::as_str).join(", ")
                    ),
                )
            })
    }
}

/// A task as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Task {
    #[schema(value_type = i64)]
    pub id: TaskId,
    /// Human key, such as `T-42`.
    pub display_id: String,
    pub title: String,
    pub description: String,
    pub category: String,
    pub priority: Priority,
    pub status: TaskStatus,
    pub pass_criteria: Vec<String>,
    #[schema(value_type = Vec<i64>)]
    pub depends_on: Vec<TaskId>,
    pub assigned_agent: Option<String>,
    pub attempts: u32,
    pub max_attempts: u32,
    /// The investigator's diagnosis after the task was blocked.
    pub diagnosis: Option<String>,
    /// An agent's question waiting for a human answer (`POST /api/tasks/{id}/answer`).
    pub question: Option<String>,
    /// The answer given, until the agent has resumed with it.
    pub answer: Option<String>,
    /// After a failed attempt: not retried before this instant.
    pub retry_at: Option<Timestamp>,
    /// Why the last attempt failed: verification output and the agent's last message.
    pub last_failure: Option<String>,
    /// What all sessions of the task may cost together, in USD; enforced while they run.
    pub max_cost_usd: Option<f64>,
    /// Attempts interrupted by a crash of the orchestrator (or a lost worker) since the
    /// task was last unblocked; at `HARNESS_MAX_CRASH_INTERRUPTIONS` it is blocked.
    pub crash_interruptions: u32,
    /// Origins beyond loopback the browser may open on this task, added to its
    /// agent's role's (`https://staging.example.com`).
    #[serde(default)]
    pub browser_origins: Vec<String>,
    /// How a completed task ended: its verified work landed as a commit, or it was
    /// verified with nothing to land. While verifying, `waiting_to_land` when its
    /// verified work waits for the base to accept it; in review, `in_review` with the
    /// commit waiting. `null` otherwise.
    #[serde(default)]
    pub outcome: Option<Outcome>,
    /// Its landing policy, overriding its role's (`null`: the role's, `auto` by default).
    #[serde(default)]
    pub land: Option<LandPolicy>,
    /// A person's change request or message waiting for the next attempt, which
    /// continues the agent's conversation with it.
    #[serde(default)]
    pub follow_up: Option<String>,
    /// The pull request its verified work is in (`land = "pull_request"`).
    #[serde(default)]
    pub pull_request: Option<crate::review::PullLink>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What a completed task's last attempt did to the base branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// The verified work fast-forwarded the base to `commit`.
    Landed { commit: String },
    /// Verified with nothing to land (a research, QA or spec role that reported only).
    NoChanges,
    /// Verified, but the base refused it for now (the checkout has uncommitted changes,
    /// or it kept moving); the harness retries the landing without running the agent
    /// again (`POST /api/tasks/{id}/land` retries at once).
    WaitingToLand { reason: String },
    /// Verified; `commit` on `branch` waits for a person's review.
    InReview { commit: String, branch: String },
}

impl Outcome {
    /// `landed <commit>` or `no changes`: the line a person reads on a card.
    pub fn describe(&self) -> String {
        match self {
            Self::Landed { commit } => format!("landed {}", &commit[..commit.len().min(12)]),
            Self::NoChanges => "no changes".into(),
            Self::WaitingToLand { reason } => format!("verified, waiting to land: {reason}"),
            Self::InReview { commit, .. } => {
                format!("verified, in review: {}", &commit[..commit.len().min(12)])
            }
        }
    }
}

/// Delay before retry number `attempts_used + 1`: `base` doubled per attempt used,
/// at most `cap`. The first retry waits `base`.
pub fn retry_delay(
    attempts_used: u32,
    base: std::time::Duration,
    cap: std::time::Duration,
) -> std::time::Duration {
    let doublings = attempts_used.saturating_sub(1).min(20);
    base.saturating_mul(1 << doublings).min(cap)
}

/// A validated request to create a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    pub title: Title,
    pub description: Description,
    pub category: Category,
    pub priority: Priority,
    pub pass_criteria: PassCriteria,
    pub depends_on: Dependencies,
    pub max_attempts: MaxAttempts,
    pub max_cost_usd: Option<CostCap>,
    pub browser_origins: crate::origin::BrowserOrigins,
    /// `None`: the role's landing policy.
    pub land: Option<LandPolicy>,
}

impl NewTask {
    /// A task with this title and every other field at its default.
    pub fn titled(title: Title) -> Self {
        Self {
            title,
            description: Description::default(),
            category: Category::default(),
            priority: Priority::default(),
            pass_criteria: PassCriteria::default(),
            depends_on: Dependencies::default(),
            max_attempts: MaxAttempts::default(),
            max_cost_usd: None,
            browser_origins: crate::origin::BrowserOrigins::default(),
            land: None,
        }
    }
}

/// A validated partial update. `None` leaves a field unchanged.
#[derive(Debug, Clone, Default)]
pub struct TaskPatch {
    pub title: Option<Title>,
    pub description: Option<Description>,
    pub category: Option<Category>,
    pub priority: Option<Priority>,
    pub pass_criteria: Option<PassCriteria>,
    pub depends_on: Option<Dependencies>,
    /// A new cost cap for the task; its running sessions are held to it too.
    pub max_cost_usd: Option<CostCap>,
    /// `Some(None)`: back to the role's policy.
    pub land: Option<Option<LandPolicy>>,
}

impl TaskPatch {
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.description.is_none()
            && self.category.is_none()
            && self.priority.is_none()
            && self.pass_criteria.is_none()
            && self.depends_on.is_none()
            && self.max_cost_usd.is_none()
            && self.land.is_none()
    }
}

/// One row of a task's history: a status change and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskTransition {
    pub id: i64,
    #[schema(value_type = i64)]
    pub task_id: TaskId,
    /// `null` for the row written when the task was created.
    pub from_status: Option<TaskStatus>,
    pub to_status: TaskStatus,
    pub reason: String,
    /// Who moved it: `api`, `scheduler`, an agent id, …
    pub actor: String,
    pub at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::TaskStatus::*;
    use super::*;

    #[test]
    fn an_empty_answer_is_rejected_in_its_own_words() {
        let err = Answer::parse("   ").unwrap_err();
        assert_eq!(err.field, "answer");
        assert_eq!(err.message, "answer must not be empty");
        assert_eq!(Answer::parse(" yes ").unwrap().as_str(), "yes");
    }

    #[test]
    fn the_happy_path_is_allowed() {
        let path = [Pending, InProgress, Verifying, Completed];
        for pair in path.windows(2) {
            assert!(
                pair[0].can_become(pair[1]),
                "{:?} -> {:?}",
                pair[0],
                pair[1]
            );
        }
    }

    #[test]
    fn a_failed_task_can_be_retried_or_blocked_and_a_blocked_one_unblocked() {
        assert!(Verifying.can_become(Failed));
        assert!(Failed.can_become(Pending));
        assert!(Failed.can_become(Blocked));
        assert!(Blocked.can_become(Pending));
    }

    #[test]
    fn every_state_that_is_not_final_can_be_cancelled() {
        for s in TaskStatus::ALL {
            assert_eq!(s.can_become(Cancelled), !s.is_final(), "{s:?}");
        }
    }

    #[test]
    fn final_states_change_only_when_a_person_reopens_or_follows_up() {
        for to in TaskStatus::ALL {
            let reopen = to == Pending;
            assert_eq!(
                Completed.transition(to).is_ok(),
                reopen,
                "Completed -> {to:?}"
            );
            assert_eq!(
                Cancelled.transition(to).is_ok(),
                reopen,
                "Cancelled -> {to:?}"
            );
        }
    }

    #[test]
    fn only_verified_work_enters_review_and_a_review_ends_in_pending_or_blocked() {
        assert!(Verifying.can_become(Review));
        assert!(!InProgress.can_become(Review));
        assert!(!Pending.can_become(Review));
        assert!(Review.can_become(Pending));
        assert!(Review.can_become(Blocked));
        assert!(Review.can_become(Cancelled));
        assert!(Review.can_become(Completed), "a merged pull request");
        assert!(!Review.can_become(InProgress));
    }

    #[test]
    fn skipping_verification_is_illegal() {
        let err = InProgress.transition(Completed).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a task cannot go from in_progress to completed"
        );
        assert!(Pending.transition(Completed).is_err());
        assert!(Pending.transition(Verifying).is_err());
        assert!(Blocked.transition(InProgress).is_err());
        assert!(Failed.transition(Completed).is_err());
    }

    #[test]
    fn an_empty_or_blank_title_is_rejected() {
        assert_eq!(Title::parse("   ").unwrap_err().field, "title");
        assert_eq!(
            Title::parse("").unwrap_err().message,
            "title must not be empty"
        );
    }

    #[test]
    fn a_title_longer_than_200_chars_is_rejected() {
        assert!(Title::parse(&"é".repeat(200)).is_ok());
        let err = Title::parse(&"é".repeat(201)).unwrap_err();
        assert!(err.message.contains("at most 200"), "{err}");
    }

    #[test]
    fn a_title_is_trimmed() {
        assert_eq!(Title::parse("  Fix it \n").unwrap().as_str(), "Fix it");
    }

    #[test]
    fn a_title_with_control_characters_is_rejected() {
        assert!(Title::parse("bad\u{0}title").is_err());
    }

    #[test]
    fn priorities_parse_in_any_case_and_sort_most_urgent_first() {
        assert_eq!("p0".parse::<Priority>().unwrap(), Priority::P0);
        assert!(Priority::P0 < Priority::P4);
        assert_eq!("P9".parse::<Priority>().unwrap_err().field, "priority");
    }

    #[test]
    fn a_task_ref_takes_an_id_or_a_display_id() {
        assert_eq!(TaskRef::parse("42").unwrap().id().get(), 42);
        assert_eq!(TaskRef::parse("T-42").unwrap().id().get(), 42);
        assert_eq!(TaskRef::parse("t-7").unwrap().id().get(), 7);
        assert!(TaskRef::parse("T-0").is_err());
        assert!(TaskRef::parse("abc").is_err());
    }

    #[test]
    fn categories_are_lowercase_slugs() {
        assert!(Category::parse("bug").is_ok());
        assert!(Category::parse("Bug Fix").is_err());
        assert!(Category::parse("").is_err());
    }

    #[test]
    fn pass_criteria_items_must_not_be_empty() {
        assert!(PassCriteria::parse(&["tests pass".into()]).is_ok());
        assert!(PassCriteria::parse(&["".into()]).is_err());
        assert!(PassCriteria::parse(&vec!["x".to_owned(); 51]).is_err());
    }

    #[test]
    fn retry_delay_doubles_from_the_base_up_to_the_cap() {
        use std::time::Duration;
        let (base, cap) = (Duration::from_secs(60), Duration::from_secs(30 * 60));
        let delays: Vec<u64> = (1..=7)
            .map(|n| retry_delay(n, base, cap).as_secs())
            .collect();
        assert_eq!(delays, [60, 120, 240, 480, 960, 1800, 1800]);
        assert_eq!(retry_delay(u32::MAX, base, cap), cap);
    }

    #[test]
    fn dependencies_are_deduplicated() {
        let ids = [3, 1, 3].map(|n| TaskId::new(n).unwrap()).to_vec();
        let deps = Dependencies::parse(ids).unwrap();
        assert_eq!(
            deps.ids().iter().map(|i| i.get()).collect::<Vec<_>>(),
            [1, 3]
        );
    }

    #[test]
    fn a_cost_cap_must_be_a_positive_finite_amount() {
        assert_eq!(CostCap::parse(2.5).unwrap().get(), 2.5);
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 2_000_000.0] {
            assert_eq!(CostCap::parse(bad).unwrap_err().field, "max_cost_usd");
        }
    }

    #[test]
    fn max_attempts_must_be_between_1_and_20() {
        assert!(MaxAttempts::parse(0).is_err());
        assert!(MaxAttempts::parse(21).is_err());
        assert_eq!(MaxAttempts::parse(5).unwrap().get(), 5);
    }
}
