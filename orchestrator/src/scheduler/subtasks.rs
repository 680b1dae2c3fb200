//! `create_task` for planning agents: subtasks go on the board like any other task.

use harness_domain::task::{self, Dependencies, Description, TaskRef, Title};

use crate::{
    board::{Actor, Board},
    engine::runtime::TaskCreator,
    engine::tools::NewTask,
};

/// Creates subtasks through the board. The call is synchronous (the tool interface is),
/// and a single SQLite insert is short enough to make on the session's task.
pub struct BoardTaskCreator {
    pub board: Board,
    /// The planning task's category is inherited by its subtasks.
    pub category: String,
}

impl TaskCreator for BoardTaskCreator {
    fn create(&self, new: NewTask) -> Result<String, String> {
        let parsed = self.parse(new).map_err(|e| e.to_string())?;
        let created = self
            .board
            .create_task_now(&parsed, Actor::PLANNING)
            .map_err(|e| e.to_string())?;
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
