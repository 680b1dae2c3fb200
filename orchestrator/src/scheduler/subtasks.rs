//! `create_task` for planning agents: subtasks go on the board like any other task.

use harness_domain::task::{Category, NewTask};

use crate::{
    board::{Actor, Board},
    engine::runtime::{CreateTaskError, TaskCreator},
};

/// Creates subtasks through the board. The call is synchronous (the tool interface is),
/// and a single SQLite insert is short enough to make on the session's task.
pub struct BoardTaskCreator {
    pub board: Board,
    /// The planning task's category is inherited by its subtasks.
    pub category: String,
}

impl TaskCreator for BoardTaskCreator {
    fn create(&self, mut new: NewTask) -> Result<String, CreateTaskError> {
        new.category = Category::parse(&self.category).unwrap_or_default();
        let created = self
            .board
            .create_task_now(&new, Actor::PLANNING)
            .map_err(|e| CreateTaskError::Board(Box::new(e)))?;
        Ok(created.display_id)
    }
}

/// SIA's `create_task`: the task becomes a proposal that waits for a person.
pub struct ProposalCreator {
    pub board: Board,
    /// What made SIA look (`schedule`, `blocked`, `arbitration of T-3`).
    pub source: String,
}

impl TaskCreator for ProposalCreator {
    fn create(&self, new: NewTask) -> Result<String, CreateTaskError> {
        let proposal = self
            .board
            .propose_now(crate::store::NewProposal {
                task: new,
                source: self.source.clone(),
            })
            .map_err(|e| CreateTaskError::Board(Box::new(e)))?;
        Ok(format!(
            "proposal {} (waits for a person to accept it)",
            proposal.id
        ))
    }
}
