//! `create_task` for planning agents: subtasks go on the board like any other task.

use harness_domain::{
    role::{RoleRegistry, Tool},
    task::{Category, NewTask},
};

use crate::{
    board::{Actor, Board},
    engine::runtime::{CreateTaskError, TaskCreator},
};

/// Creates subtasks through the board. The call is synchronous (the tool interface is),
/// and a single SQLite insert is short enough to make on the session's task.
pub struct BoardTaskCreator {
    pub board: Board,
    /// The subtasks' category ([`subtask_category`]).
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

/// A subtask keeps the planning task's category, unless the role that category goes to
/// creates tasks itself (`planning`, `epic`): the subtask would be split again rather
/// than built, so it takes the default category (`feature`).
pub fn subtask_category(registry: &RoleRegistry, parent: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subtask_keeps_its_parents_category_unless_that_would_split_it_again() {
        let registry = RoleRegistry::default();
        assert_eq!(subtask_category(&registry, "docs"), "docs");
        assert_eq!(subtask_category(&registry, "bug"), "bug");
        assert_eq!(subtask_category(&registry, "planning"), "feature");
        assert_eq!(subtask_category(&registry, "epic"), "feature");
    }
}
