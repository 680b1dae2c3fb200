//! `create_task` for planning agents: subtasks go on the board like any other task,
//! whether the agent runs here or in a remote worker (which asks the worker API, and
//! the API uses the same creator).

use std::sync::atomic::{AtomicU32, Ordering};

use futures_util::future::BoxFuture;
use harness_domain::{
    role::{RoleRegistry, Tool},
    task::{Category, NewTask},
};

use harness_board::{Actor, Board};
use harness_engine::runtime::{CreateTaskError, TaskCreator};

/// The most subtasks one attempt may create: a planner splits a task into a handful;
/// past this it is looping, and a remote worker (not trusted) cannot flood the board.
pub(crate) const MAX_SUBTASKS_PER_ATTEMPT: u32 = 50;

/// Creates one attempt's subtasks through the board. Make one per attempt: it counts
/// them against [`MAX_SUBTASKS_PER_ATTEMPT`].
pub(crate) struct BoardTaskCreator {
    board: Board,
    /// The subtasks' category ([`subtask_category`]).
    category: String,
    created: AtomicU32,
}

impl BoardTaskCreator {
    pub fn new(board: Board, category: String) -> Self {
        Self {
            board,
            category,
            created: AtomicU32::new(0),
        }
    }

    /// Takes one of the attempt's subtasks, or says the bound is reached.
    fn take_one(&self) -> Result<(), CreateTaskError> {
        self.created
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < MAX_SUBTASKS_PER_ATTEMPT).then_some(n + 1)
            })
            .map(drop)
            .map_err(CreateTaskError::TooMany)
    }
}

impl TaskCreator for BoardTaskCreator {
    fn create(&self, mut new: NewTask) -> BoxFuture<'_, Result<String, CreateTaskError>> {
        Box::pin(async move {
            self.take_one()?;
            new.category = Category::parse(&self.category).unwrap_or_default();
            match self.board.create_task(new, Actor::PLANNING).await {
                Ok(created) => Ok(created.display_id),
                Err(e) => {
                    // Not created: it does not count.
                    self.created.fetch_sub(1, Ordering::SeqCst);
                    Err(CreateTaskError::Board(Box::new(e)))
                }
            }
        })
    }
}

/// A subtask keeps the planning task's category, unless the role that category goes to
/// creates tasks itself (`planning`, `epic`): the subtask would be split again rather
/// than built, so it takes the default category (`feature`).
pub(crate) fn subtask_category(registry: &RoleRegistry, parent: &str) -> String {
    let splits_again = registry
        .get(registry.route(parent).as_str())
        .is_some_and(|role| role.tools.contains(&Tool::CreateTask));
    if splits_again {
        Category::default().as_str().to_owned()
    } else {
        parent.to_owned()
    }
}

/// SIA's `create_task`: the task becomes a proposal that waits for a person.
pub(crate) struct ProposalCreator {
    pub board: Board,
    /// What made SIA look (`schedule`, `blocked`, `arbitration of T-3`).
    pub source: String,
}

impl TaskCreator for ProposalCreator {
    fn create(&self, new: NewTask) -> BoxFuture<'_, Result<String, CreateTaskError>> {
        let proposal = self
            .board
            .propose_now(harness_store::NewProposal {
                task: new,
                source: self.source.clone(),
            })
            .map_err(|e| CreateTaskError::Board(Box::new(e)));
        Box::pin(std::future::ready(proposal.map(|proposal| {
            format!("proposal {} (waits for a person to accept it)", proposal.id)
        })))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use harness_domain::task::{NewTask, TaskId, Title};

    use super::*;
    use harness_store::Store;

    fn titled(title: &str) -> NewTask {
        NewTask::titled(Title::parse(title).unwrap())
    }

    #[tokio::test]
    async fn one_attempt_creates_at_most_the_bound_and_refusals_do_not_count() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(&dir.path().join("board.db")).unwrap();
        let board = Board::new(Arc::new(store), 256);
        let creator = BoardTaskCreator::new(board.clone(), "feature".into());

        // A dependency the board does not have: refused, and not counted.
        let mut unknown = titled("waits for nothing real");
        unknown.depends_on =
            harness_domain::task::Dependencies::parse(vec![TaskId::new(999).unwrap()]).unwrap();
        assert!(matches!(
            creator.create(unknown).await,
            Err(CreateTaskError::Board(_))
        ));
        for n in 0..MAX_SUBTASKS_PER_ATTEMPT {
            let id = creator.create(titled(&format!("sub {n}"))).await.unwrap();
            let n: i64 = id.trim_start_matches("T-").parse().unwrap();
            let task = board.get_task(TaskId::new(n).unwrap()).await.unwrap();
            assert_eq!(task.category.as_str(), "feature");
        }
        assert!(matches!(
            creator.create(titled("one too many")).await,
            Err(CreateTaskError::TooMany(MAX_SUBTASKS_PER_ATTEMPT))
        ));
        // Another attempt has its own bound.
        let next = BoardTaskCreator::new(board, "feature".into());
        assert!(next.create(titled("next attempt")).await.is_ok());
    }

    #[test]
    fn a_subtask_keeps_its_parents_category_unless_that_would_split_it_again() {
        let registry = RoleRegistry::default();
        assert_eq!(subtask_category(&registry, "docs"), "docs");
        assert_eq!(subtask_category(&registry, "bug"), "bug");
        assert_eq!(subtask_category(&registry, "planning"), "feature");
        assert_eq!(subtask_category(&registry, "epic"), "feature");
    }
}
