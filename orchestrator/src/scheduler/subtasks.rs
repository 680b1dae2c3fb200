//! `create_task` for planning agents: subtasks go on the board like any other task.

use harness_domain::{
    event::NewEvent,
    task::{Category, NewTask},
};

use crate::{
    board::Board,
    engine::runtime::{CreateTaskError, TaskCreator},
};

/// Creates subtasks through the store. The call is synchronous (the tool interface is),
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
            .store()
            .create_task(&new, "planning")
            .map_err(|e| CreateTaskError::Board(Box::new(e)))?;
        self.board.announce_created(&created);
        let board = self.board.clone();
        let (id, message) = (
            created.id.get(),
            format!(
                "{} created by a planning agent: {}",
                created.display_id, created.title
            ),
        );
        tokio::spawn(async move {
            board
                .note(NewEvent::info("task.created", message).for_task(id))
                .await
        });
        Ok(created.display_id)
    }
}
