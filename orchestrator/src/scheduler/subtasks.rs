//! `create_task` for planning agents: subtasks go on the board like any other task.

use harness_domain::{
    event::NewEvent,
    task::{self, Dependencies, Description, TaskRef, Title},
};

use crate::{board::Board, engine::runtime::TaskCreator, engine::tools::NewTask};

/// Creates subtasks through the store. The call is synchronous (the tool interface is),
/// and a single SQLite insert is short enough to make on the session's task.
pub struct BoardTaskCreator {
    pub board: Board,
    /// The planning task's category is inherited by its subtasks.
    pub category: String,
}

impl TaskCreator for BoardTaskCreator {
    fn create(&self, new: NewTask) -> Result<String, String> {
        let parsed = self.parse(new).map_err(|e| e.to_string())?;
        let created = self.board.store().create_task(&parsed, "planning").map_err(|e| e.to_string())?;
        self.board.announce_created(&created);
        let board = self.board.clone();
        let (id, message) = (created.id.get(), format!("{} created by a planning agent: {}", created.display_id, created.title));
        tokio::spawn(async move { board.note(NewEvent::info("task.created", message).for_task(id)).await });
        Ok(created.display_id)
    }
}

impl BoardTaskCreator {
    fn parse(&self, new: NewTask) -> Result<task::NewTask, harness_domain::ValidationError> {
        let depends_on = new
            .depends_on
            .iter()
            .map(|r| TaskRef::parse(r).map(TaskRef::id))
            .collect::<Result<Vec<_>, _>>()?;
        let mut parsed = task::NewTask::titled(Title::parse(&new.title)?);
        parsed.description = Description::parse(&new.description)?;
        parsed.priority = new.priority.parse()?;
        parsed.category = task::Category::parse(&self.category).unwrap_or_default();
        parsed.depends_on = Dependencies::parse(depends_on)?;
        Ok(parsed)
    }
}
