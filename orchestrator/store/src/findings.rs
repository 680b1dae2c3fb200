//! Findings and their screenshots. The row and its event commit together; the PNG is a
//! file under `screenshots/` beside the database, written before the row and removed
//! again if the row is not stored, so a finding never names a missing file.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicU64, Ordering},
};

use harness_domain::{
    event::{Event, NewEvent},
    finding::{Finding, NewFinding},
    session::SessionId,
    task::TaskId,
    time::Timestamp,
};
use rusqlite::{OptionalExtension, Row, params};

use super::{Store, StoreError, events::insert_event, tasks::parse_time};

/// Findings one task keeps: a looping agent cannot fill the disk with screenshots.
pub const MAX_FINDINGS_PER_TASK: u32 = 50;

/// Largest screenshot stored with a finding.
pub const MAX_SCREENSHOT_BYTES: usize = 4 * 1024 * 1024;

const COLUMNS: &str =
    "id, task_id, session_id, title, detail, persona, screenshot IS NOT NULL, created_at";

impl Store {
    /// Stores a finding on task `task_id` with its screenshot and the event `describe`
    /// makes of it, in one transaction.
    pub fn create_finding(
        &self,
        task_id: TaskId,
        session_id: Option<SessionId>,
        new: &NewFinding,
        png: Option<&[u8]>,
        describe: impl FnOnce(&Finding) -> NewEvent,
    ) -> Result<(Finding, Event), StoreError> {
        if png.is_some_and(|p| p.len() > MAX_SCREENSHOT_BYTES) {
            return Err(StoreError::Conflict(format!(
                "a screenshot may be at most {MAX_SCREENSHOT_BYTES} bytes"
            )));
        }
        let file = png.map(|p| self.write_screenshot(task_id, p)).transpose()?;
        let stored = self.insert_finding(task_id, session_id, new, file.as_ref(), describe);
        if stored.is_err()
            && let Some(file) = &file
        {
            let path = self.screenshots.join(file);
            if let Err(err) = std::fs::remove_file(&path) {
                tracing::warn!(%err, path = %path.display(), "cannot remove the screenshot of a finding that was not stored");
            }
        }
        stored
    }

    fn insert_finding(
        &self,
        task_id: TaskId,
        session_id: Option<SessionId>,
        new: &NewFinding,
        file: Option<&String>,
        describe: impl FnOnce(&Finding) -> NewEvent,
    ) -> Result<(Finding, Event), StoreError> {
        let tx = self.write()?;
        let exists: Option<i64> = tx
            .query_row("SELECT id FROM tasks WHERE id = ?1", [task_id.get()], |r| {
                r.get(0)
            })
            .optional()?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("task {task_id}")));
        }
        let count: u32 = tx.query_row(
            "SELECT COUNT(*) FROM findings WHERE task_id = ?1",
            [task_id.get()],
            |r| r.get(0),
        )?;
        if count >= MAX_FINDINGS_PER_TASK {
            return Err(StoreError::Conflict(format!(
                "task {task_id} already has {count} findings, the most one task keeps"
            )));
        }
        let finding = tx.query_row(
            &format!(
                "INSERT INTO findings (task_id, session_id, title, detail, persona, screenshot, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING {COLUMNS}"
            ),
            params![
                task_id.get(),
                session_id.map(SessionId::get),
                new.title(),
                new.detail(),
                new.persona(),
                file,
                Timestamp::now().to_rfc3339()
            ],
            RawFinding::from_row,
        )?;
        let finding = finding.into_finding()?;
        let event = insert_event(&tx, &describe(&finding))?;
        tx.commit()?;
        Ok((finding, event))
    }

    /// A task's findings, oldest first (at most [`MAX_FINDINGS_PER_TASK`]).
    pub fn list_findings(&self, task_id: TaskId) -> Result<Vec<Finding>, StoreError> {
        let conn = self.read()?;
        let exists: Option<i64> = conn
            .query_row("SELECT id FROM tasks WHERE id = ?1", [task_id.get()], |r| {
                r.get(0)
            })
            .optional()?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("task {task_id}")));
        }
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM findings WHERE task_id = ?1 ORDER BY id"
        ))?;
        stmt.query_map([task_id.get()], RawFinding::from_row)?
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(RawFinding::into_finding)
            .collect()
    }

    /// The PNG of finding `id`; `NotFound` when there is no such finding or screenshot.
    pub fn finding_screenshot(&self, id: i64) -> Result<Vec<u8>, StoreError> {
        let file: Option<String> = self
            .read()?
            .query_row("SELECT screenshot FROM findings WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?
            .flatten();
        let file =
            file.ok_or_else(|| StoreError::NotFound(format!("screenshot of finding {id}")))?;
        std::fs::read(self.screenshots.join(&file))
            .map_err(|e| StoreError::Io(format!("cannot read screenshot {file}: {e}")))
    }

    /// Writes `png` under a new name that no other finding uses; returns the name.
    fn write_screenshot(&self, task_id: TaskId, png: &[u8]) -> Result<String, StoreError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        std::fs::create_dir_all(&self.screenshots).map_err(|e| {
            StoreError::Io(format!("cannot create {}: {e}", self.screenshots.display()))
        })?;
        let name = format!(
            "task-{task_id}-{}-{}.png",
            Timestamp::now().unix_millis(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path: PathBuf = self.screenshots.join(&name);
        std::fs::write(&path, png)
            .map_err(|e| StoreError::Io(format!("cannot write {}: {e}", path.display())))?;
        Ok(name)
    }
}

struct RawFinding {
    id: i64,
    task_id: i64,
    session_id: Option<i64>,
    title: String,
    detail: String,
    persona: String,
    has_screenshot: bool,
    created_at: String,
}

impl RawFinding {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            task_id: row.get(1)?,
            session_id: row.get(2)?,
            title: row.get(3)?,
            detail: row.get(4)?,
            persona: row.get(5)?,
            has_screenshot: row.get(6)?,
            created_at: row.get(7)?,
        })
    }

    fn into_finding(self) -> Result<Finding, StoreError> {
        Ok(Finding {
            id: self.id,
            task_id: TaskId::new(self.task_id)?,
            session_id: self.session_id.map(SessionId::new).transpose()?,
            title: self.title,
            detail: self.detail,
            persona: self.persona,
            has_screenshot: self.has_screenshot,
            created_at: parse_time(&self.created_at)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use harness_domain::event::Operation;
    use harness_domain::task::{NewTask, Title};

    use super::*;

    fn store() -> (Store, tempfile::TempDir, TaskId) {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(&dir.path().join("data/harness.db")).unwrap();
        let new = NewTask::titled(Title::parse("Try the page").unwrap());
        let (task, _) = store
            .create_task(&new, "api", |t| {
                NewEvent::info(Operation::TaskCreated, t.title.clone())
            })
            .unwrap();
        (store, dir, task.id)
    }

    fn finding(title: &str) -> NewFinding {
        NewFinding::parse(title, "what happened", "a persona").unwrap()
    }

    fn note(f: &Finding) -> NewEvent {
        NewEvent::info(Operation::FindingReported, f.title.clone()).for_task(f.task_id)
    }

    fn files(dir: &tempfile::TempDir) -> usize {
        std::fs::read_dir(dir.path().join("data/screenshots")).map_or(0, |d| d.count())
    }

    #[test]
    fn a_finding_commits_with_its_event_and_its_screenshot_file() {
        let (store, dir, task) = store();
        let png = b"\x89PNG\r\n\x1a\nfake".to_vec();
        let (stored, event) = store
            .create_finding(task, None, &finding("Save does nothing"), Some(&png), note)
            .unwrap();
        assert!(stored.has_screenshot);
        assert_eq!(event.task_id, Some(task));
        assert_eq!(store.list_findings(task).unwrap(), vec![stored.clone()]);
        assert_eq!(store.finding_screenshot(stored.id).unwrap(), png);
        assert_eq!(files(&dir), 1);
    }

    #[test]
    fn past_the_bound_a_finding_is_refused_and_leaves_no_file() {
        let (store, dir, task) = store();
        for n in 0..MAX_FINDINGS_PER_TASK {
            store
                .create_finding(task, None, &finding(&format!("f{n}")), None, note)
                .unwrap();
        }
        let refused = store.create_finding(task, None, &finding("one more"), Some(b"png"), note);
        assert!(
            matches!(refused, Err(StoreError::Conflict(_))),
            "{refused:?}"
        );
        assert_eq!(
            files(&dir),
            0,
            "the refused finding's screenshot was left behind"
        );
    }

    #[test]
    fn a_missing_task_or_screenshot_is_not_found() {
        let (store, _dir, task) = store();
        assert!(matches!(
            store.create_finding(
                TaskId::new(task.get() + 1).unwrap(),
                None,
                &finding("x"),
                None,
                note
            ),
            Err(StoreError::NotFound(_))
        ));
        let (plain, _) = store
            .create_finding(task, None, &finding("no picture"), None, note)
            .unwrap();
        assert!(matches!(
            store.finding_screenshot(plain.id),
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store.list_findings(TaskId::new(task.get() + 1).unwrap()),
            Err(StoreError::NotFound(_))
        ));
    }
}
