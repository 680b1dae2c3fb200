//! Tasks, their dependencies and their history.

use std::collections::{BTreeMap, HashMap};

use harness_domain::{
    ValidationError,
    event::{Event, NewEvent},
    graph::find_cycle,
    task::{Dependencies, NewTask, Priority, Task, TaskId, TaskPatch, TaskStatus, TaskTransition},
    time::Timestamp,
};
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter, types::Value};

use super::{Page, Store, StoreError, events::insert_event, has_more};

/// Filters for listing tasks. `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub status: Option<TaskStatus>,
    pub priority: Option<Priority>,
    pub category: Option<String>,
    pub agent: Option<String>,
    /// Case-insensitive substring of the title.
    pub text: Option<String>,
    pub limit: u32,
    pub offset: u64,
    /// Continue after this position (keyset paging: as fast deep as on page one).
    pub after: Option<TaskCursor>,
}

/// A position in the task list's order (priority, created_at, id), handed to clients
/// as an opaque string to fetch the next page from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskCursor {
    priority: i64,
    id: i64,
    created_at: String,
}

impl TaskCursor {
    fn of(task: &Task) -> Self {
        Self {
            priority: priority_rank(task.priority),
            id: task.id.get(),
            created_at: task.created_at.to_rfc3339(),
        }
    }

    /// Reads a cursor made by [`TaskCursor::to_string`]; `None` when it is not one.
    pub fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.splitn(3, '.');
        let priority = parts.next()?.parse().ok()?;
        let id = parts.next()?.parse().ok()?;
        let created_at = parts.next()?;
        Timestamp::parse(created_at).ok()?;
        Some(Self {
            priority,
            id,
            created_at: created_at.to_owned(),
        })
    }
}

impl std::fmt::Display for TaskCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.priority, self.id, self.created_at)
    }
}

pub(super) const TASK_COLUMNS: &str = "id, display_id, title, description, category, priority, status, \
     pass_criteria, assigned_agent, attempts, max_attempts, diagnosis, created_at, updated_at, \
     question, answer, retry_at, last_failure, max_cost_usd, crash_interruptions, browser_origins, \
     outcome, land, follow_up, pull_request";

impl Store {
    /// Creates a pending task. Every dependency must exist. `note` describes the new
    /// task as an operations event, written in the same transaction.
    pub fn create_task(
        &self,
        new: &NewTask,
        actor: &str,
        note: impl FnOnce(&Task) -> NewEvent,
    ) -> Result<(Task, Event), StoreError> {
        let tx = self.write()?;
        let task = insert_task(&tx, new, actor)?;
        let event = insert_event(&tx, &note(&task))?;
        tx.commit()?;
        Ok((task, event))
    }

    /// [`Store::create_task`] for async callers: the writer thread runs it in its next
    /// batch, so no thread waits for the disk per request.
    pub async fn create_task_async(
        &self,
        new: NewTask,
        actor: String,
        note: impl FnOnce(&Task) -> NewEvent + Send + 'static,
    ) -> Result<(Task, Event), StoreError> {
        self.writer
            .submit(move |tx| {
                let task = insert_task(tx, &new, &actor)?;
                let event = insert_event(tx, &note(&task))?;
                Ok((task, event))
            })
            .await
    }

    pub fn get_task(&self, id: TaskId) -> Result<Task, StoreError> {
        load_task(&*self.read()?, id)
    }

    /// [`Store::get_task`] if a reader connection is free right now; `None` otherwise
    /// (the caller then waits for one elsewhere).
    pub fn get_task_now(&self, id: TaskId) -> Option<Result<Task, StoreError>> {
        self.read_now().map(|conn| load_task(&conn, id))
    }

    pub fn list_tasks(&self, filter: &TaskFilter) -> Result<Page<Task>, StoreError> {
        list_tasks_in(&*self.read()?, filter)
    }

    /// [`Store::list_tasks`] if a reader connection is free right now; `None` otherwise.
    pub fn list_tasks_now(&self, filter: &TaskFilter) -> Option<Result<Page<Task>, StoreError>> {
        self.read_now().map(|conn| list_tasks_in(&conn, filter))
    }

    /// Applies a partial update. New dependencies must exist and must not close a cycle.
    pub async fn update_task(&self, id: TaskId, patch: TaskPatch) -> Result<Task, StoreError> {
        self.writer
            .submit(move |tx| update_task_in(tx, id, &patch))
            .await
    }

    /// Moves a task to `to` if the status machine allows it, and records why.
    pub async fn transition_task(
        &self,
        id: TaskId,
        to: TaskStatus,
        reason: String,
        actor: String,
        note: impl FnOnce(&Task) -> NewEvent + Send + 'static,
    ) -> Result<(Task, Event), StoreError> {
        self.writer
            .submit(move |tx| transition_task_in(tx, id, None, to, &reason, &actor, note))
            .await
    }

    /// A human's unblock: a blocked task goes back to pending with a fresh set of
    /// attempts. Any other status is a conflict, decided in the same transaction.
    pub async fn unblock_task(
        &self,
        id: TaskId,
        actor: String,
        note: impl FnOnce(&Task) -> NewEvent + Send + 'static,
    ) -> Result<(Task, Event), StoreError> {
        self.back_to_queue(id, TaskStatus::Blocked, actor, note)
            .await
    }

    /// A person reopens a cancelled task: pending again, with a fresh set of attempts.
    /// Any other status is a conflict, decided in the same transaction.
    pub async fn reopen_task(
        &self,
        id: TaskId,
        actor: String,
        note: impl FnOnce(&Task) -> NewEvent + Send + 'static,
    ) -> Result<(Task, Event), StoreError> {
        self.back_to_queue(id, TaskStatus::Cancelled, actor, note)
            .await
    }

    async fn back_to_queue(
        &self,
        id: TaskId,
        from: TaskStatus,
        actor: String,
        note: impl FnOnce(&Task) -> NewEvent + Send + 'static,
    ) -> Result<(Task, Event), StoreError> {
        let reason = match from {
            TaskStatus::Cancelled => "reopened by a user",
            _ => "unblocked by a user",
        };
        self.writer
            .submit(move |tx| {
                transition_task_in(
                    tx,
                    id,
                    Some(from),
                    TaskStatus::Pending,
                    reason,
                    &actor,
                    note,
                )
            })
            .await
    }

    /// Deletes a task that is not running and that no other task depends on.
    pub async fn delete_task(
        &self,
        id: TaskId,
        note: impl FnOnce(&Task) -> NewEvent + Send + 'static,
    ) -> Result<(Task, Event), StoreError> {
        self.writer
            .submit(move |tx| delete_task_in(tx, id, note))
            .await
    }

    pub fn task_history(&self, id: TaskId) -> Result<Vec<TaskTransition>, StoreError> {
        let conn = self.read()?;
        load_task(&conn, id)?;
        let mut stmt = conn.prepare_cached(
            "SELECT id, task_id, from_status, to_status, reason, actor, at
             FROM task_history WHERE task_id = ?1 ORDER BY id",
        )?;
        let rows = stmt
            .query_map([id.get()], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(hid, task_id, from, to, reason, actor, at)| {
                Ok(TaskTransition {
                    id: hid,
                    task_id: TaskId::new(task_id)?,
                    from_status: from.as_deref().map(parse_status).transpose()?,
                    to_status: parse_status(&to)?,
                    reason,
                    actor,
                    at: parse_time(&at)?,
                })
            })
            .collect()
    }

    /// Tasks that list `id` among their dependencies.
    pub fn dependents(&self, id: TaskId) -> Result<Vec<Task>, StoreError> {
        let conn = self.read()?;
        load_task(&conn, id)?;
        dependent_ids(&conn, id)?
            .into_iter()
            .map(|dep| load_task(&conn, dep))
            .collect()
    }

    /// How many tasks are in each status (every status present, zero included).
    pub fn task_counts(&self) -> Result<BTreeMap<&'static str, u64>, StoreError> {
        let conn = self.read()?;
        let mut counts: BTreeMap<&'static str, u64> =
            TaskStatus::ALL.iter().map(|s| (s.as_str(), 0)).collect();
        let mut stmt =
            conn.prepare_cached("SELECT status, SUM(n) FROM task_tally GROUP BY status")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))?;
        for row in rows {
            let (status, n) = row?;
            counts.insert(parse_status(&status)?.as_str(), n);
        }
        Ok(counts)
    }
}

/// Inserts a pending task with its dependencies and first history row, inside the
/// caller's transaction (creating a task, or accepting a proposal), and returns it as
/// stored without reading it back: every value is known here.
pub(super) fn insert_task(tx: &Connection, new: &NewTask, actor: &str) -> Result<Task, StoreError> {
    check_dependencies_exist(tx, new.depends_on.ids())?;
    let now = Timestamp::now();
    let at = now.to_rfc3339();
    // The id AUTOINCREMENT would pick, so the display id goes in with the row.
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO tasks (id, display_id, title, description, category, priority, status,
                                pass_criteria, max_attempts, max_cost_usd, created_at, updated_at,
                                browser_origins, land)
             SELECT n, 'T-' || n, ?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7, ?8, ?8, ?9, ?10
             FROM (SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'tasks'), 0),
                              COALESCE((SELECT MAX(id) FROM tasks), 0)) + 1 AS n)
             RETURNING id",
        )?
        .query_row(
            params![
                new.title.as_str(),
                new.description.as_str(),
                new.category.as_str(),
                priority_rank(new.priority),
                json_list(new.pass_criteria.items()),
                new.max_attempts.get(),
                new.max_cost_usd.map(|c| c.get()),
                at,
                json_list(new.browser_origins.items()),
                new.land.map(|l| l.as_str())
            ],
            |r| r.get(0),
        )?;
    let task_id = TaskId::new(id)?;
    insert_dependencies(tx, task_id, new.depends_on.ids())?;
    insert_history(
        tx,
        task_id,
        None,
        TaskStatus::Pending,
        "created",
        actor,
        &at,
    )?;
    let task = Task {
        id: task_id,
        display_id: task_id.display_id(),
        title: new.title.as_str().to_owned(),
        description: new.description.as_str().to_owned(),
        category: new.category.as_str().to_owned(),
        priority: new.priority,
        status: TaskStatus::Pending,
        pass_criteria: new.pass_criteria.items().to_vec(),
        depends_on: new.depends_on.ids().to_vec(),
        assigned_agent: None,
        attempts: 0,
        max_attempts: new.max_attempts.get(),
        diagnosis: None,
        question: None,
        answer: None,
        retry_at: None,
        last_failure: None,
        max_cost_usd: new.max_cost_usd.map(|c| c.get()),
        crash_interruptions: 0,
        browser_origins: new.browser_origins.items().to_vec(),
        outcome: None,
        land: new.land,
        follow_up: None,
        pull_request: None,
        created_at: now,
        updated_at: now,
    };
    Ok(task)
}

fn update_task_in(tx: &Connection, id: TaskId, patch: &TaskPatch) -> Result<Task, StoreError> {
    let current = load_task(tx, id)?;
    if current.status.is_final() {
        return Err(StoreError::Conflict(format!(
            "task {} is {} and can no longer be edited",
            current.display_id,
            current.status.as_str()
        )));
    }
    let now = Timestamp::now().to_rfc3339();
    if let Some(deps) = &patch.depends_on {
        replace_dependencies(tx, id, deps)?;
    }
    tx.prepare_cached(
        "UPDATE tasks SET
            title = COALESCE(?1, title),
            description = COALESCE(?2, description),
            category = COALESCE(?3, category),
            priority = COALESCE(?4, priority),
            pass_criteria = COALESCE(?5, pass_criteria),
            max_cost_usd = COALESCE(?6, max_cost_usd),
            land = CASE WHEN ?10 THEN ?9 ELSE land END,
            updated_at = ?7
         WHERE id = ?8",
    )?
    .execute(params![
        patch.title.as_ref().map(|t| t.as_str()),
        patch.description.as_ref().map(|d| d.as_str()),
        patch.category.as_ref().map(|c| c.as_str()),
        patch.priority.map(priority_rank),
        patch.pass_criteria.as_ref().map(|p| json_list(p.items())),
        patch.max_cost_usd.map(|c| c.get()),
        now,
        id.get(),
        patch.land.flatten().map(|l| l.as_str()),
        patch.land.is_some()
    ])?;
    load_task(tx, id)
}

/// One page of tasks and the filter's total, on one connection (one snapshot).
fn list_tasks_in(conn: &Connection, filter: &TaskFilter) -> Result<Page<Task>, StoreError> {
    let total = count_tasks(conn, filter)?;
    if total == 0 || filter.offset >= total {
        // Nothing can match: say so without walking an index looking for it (a
        // correlated pair of filters could read every row of one column).
        return Ok(Page {
            items: Vec::new(),
            total,
            next_cursor: None,
        });
    }
    let (sql, args) = list_query(filter);
    let mut items = query_tasks(conn, &sql, params_from_iter(args.iter()))?;
    let next_cursor = has_more(&mut items, filter.limit)
        .then(|| items.last().map(|t| TaskCursor::of(t).to_string()))
        .flatten();
    Ok(Page {
        items,
        total,
        next_cursor,
    })
}

/// Moves a task to `to` (only from `from`, when given) with its history row and event.
pub(super) fn transition_task_in(
    tx: &Connection,
    id: TaskId,
    from: Option<TaskStatus>,
    to: TaskStatus,
    reason: &str,
    actor: &str,
    note: impl FnOnce(&Task) -> NewEvent,
) -> Result<(Task, Event), StoreError> {
    let current = load_task(tx, id)?;
    if let Some(from) = from.filter(|f| *f != current.status) {
        return Err(StoreError::Conflict(format!(
            "task {} is {}; only a {} task can be {}",
            current.display_id,
            current.status.as_str(),
            from.as_str(),
            match (from, to) {
                (TaskStatus::Cancelled, TaskStatus::Pending) => "reopened",
                (_, TaskStatus::Pending) => "unblocked",
                _ => "moved",
            }
        )));
    }
    current.status.transition(to)?;
    let now = Timestamp::now().to_rfc3339();
    // A human unblocking or reopening a task gives it a fresh set of attempts, and a
    // fresh count of crash interruptions (else one more crash would block it again).
    // A follow-up message to a completed task is new work: fresh attempts too.
    let reset_attempts = matches!(
        current.status,
        TaskStatus::Blocked | TaskStatus::Cancelled | TaskStatus::Completed
    ) && to == TaskStatus::Pending;
    // A cancelled task drops what a review left for its next attempt.
    tx.prepare_cached(
        "UPDATE tasks SET status = ?1, updated_at = ?2,
            attempts = CASE WHEN ?3 THEN 0 ELSE attempts END,
            crash_interruptions = CASE WHEN ?3 THEN 0 ELSE crash_interruptions END,
            outcome = CASE WHEN ?1 = 'completed' THEN outcome ELSE NULL END,
            follow_up = CASE WHEN ?1 = 'cancelled' THEN NULL ELSE follow_up END,
            approved_commit = CASE WHEN ?1 = 'cancelled' THEN NULL ELSE approved_commit END
         WHERE id = ?4",
    )?
    .execute(params![to.as_str(), now, reset_attempts, id.get()])?;
    insert_history(tx, id, Some(current.status), to, reason, actor, &now)?;
    let task = load_task(tx, id)?;
    let event = insert_event(tx, &note(&task))?;
    Ok((task, event))
}

fn delete_task_in(
    tx: &Connection,
    id: TaskId,
    note: impl FnOnce(&Task) -> NewEvent,
) -> Result<(Task, Event), StoreError> {
    let task = load_task(tx, id)?;
    if task.status.is_running() {
        return Err(StoreError::Conflict(format!(
            "task {} is {}; cancel it before deleting it",
            task.display_id,
            task.status.as_str()
        )));
    }
    let dependents = dependent_ids(tx, id)?;
    if !dependents.is_empty() {
        return Err(StoreError::Conflict(format!(
            "task {} is a dependency of {}; remove those dependencies first",
            task.display_id,
            display_list(&dependents)
        )));
    }
    tx.execute("DELETE FROM tasks WHERE id = ?1", [id.get()])?;
    let event = insert_event(tx, &note(&task))?;
    Ok((task, event))
}

/// The page query: filters, then the keyset position, in the list's index order.
fn list_query(filter: &TaskFilter) -> (String, Vec<Value>) {
    let (mut clause, mut args) = task_where(filter);
    if let Some(after) = &filter.after {
        clause.push_str(if clause.is_empty() { "WHERE " } else { " AND " });
        clause.push_str("(priority, created_at, id) > (?, ?, ?)");
        args.push(Value::Integer(after.priority));
        args.push(Value::Text(after.created_at.clone()));
        args.push(Value::Integer(after.id));
    }
    // One row past the page: whether it exists decides whether there is a next page.
    args.push(Value::Integer(i64::from(filter.limit) + 1));
    args.push(Value::Integer(
        i64::try_from(filter.offset).unwrap_or(i64::MAX),
    ));
    let sql = format!(
        "SELECT {TASK_COLUMNS} FROM tasks {clause}
         ORDER BY priority, created_at, id LIMIT ? OFFSET ?"
    );
    (sql, args)
}

/// The total a filter matches: a sum over the tally for the exact-match filters, a
/// count of the matching rows only when searching text.
fn count_tasks(conn: &Connection, filter: &TaskFilter) -> Result<u64, StoreError> {
    let (sql, args) = count_query(filter);
    Ok(conn.query_row(&sql, params_from_iter(args.iter()), |r| r.get(0))?)
}

fn count_query(filter: &TaskFilter) -> (String, Vec<Value>) {
    if filter.text.is_some() {
        let (conds, args) = filter_conditions(filter, "assigned_agent");
        return (
            format!("SELECT COUNT(*) FROM tasks {}", where_clause(&conds)),
            args,
        );
    }
    // Without a text search every filter is a column of the tally, kept by triggers, so
    // a count reads a few rows instead of the matching tasks.
    let (conds, args) = filter_conditions(filter, "agent");
    let sql = format!(
        "SELECT COALESCE(SUM(n), 0) FROM task_tally {}",
        where_clause(&conds)
    );
    (sql, args)
}

fn task_where(filter: &TaskFilter) -> (String, Vec<Value>) {
    let (conds, args) = filter_conditions(filter, "assigned_agent");
    (where_clause(&conds), args)
}

/// The filter as SQL conditions with their arguments; `agent_column` names the agent
/// column of the table queried (`tasks` and `task_tally` spell it differently).
fn filter_conditions(filter: &TaskFilter, agent_column: &str) -> (Vec<String>, Vec<Value>) {
    let mut conds = Vec::new();
    let mut args = Vec::new();
    if let Some(s) = filter.status {
        conds.push("status = ?".to_owned());
        args.push(Value::Text(s.as_str().to_owned()));
    }
    if let Some(p) = filter.priority {
        conds.push("priority = ?".to_owned());
        args.push(Value::Integer(priority_rank(p)));
    }
    if let Some(c) = &filter.category {
        conds.push("category = ?".to_owned());
        args.push(Value::Text(c.clone()));
    }
    if let Some(a) = &filter.agent {
        conds.push(format!("{agent_column} = ?"));
        args.push(Value::Text(a.clone()));
    }
    if let Some(t) = &filter.text {
        conds.push("(instr(lower(title), lower(?)) > 0 OR display_id = upper(?))".to_owned());
        args.push(Value::Text(t.clone()));
        args.push(Value::Text(t.clone()));
    }
    (conds, args)
}

fn where_clause(conds: &[String]) -> String {
    if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    }
}

fn check_dependencies_exist(conn: &Connection, ids: &[TaskId]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM tasks WHERE id = ?1")?;
    let missing: Vec<TaskId> = ids
        .iter()
        .copied()
        .filter(|id| !stmt.exists([id.get()]).unwrap_or(false))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ValidationError::new(
            "depends_on",
            format!(
                "depends_on names tasks that do not exist: {}",
                display_list(&missing)
            ),
        )
        .into())
    }
}

fn replace_dependencies(
    tx: &Connection,
    id: TaskId,
    deps: &Dependencies,
) -> Result<(), StoreError> {
    check_dependencies_exist(tx, deps.ids())?;
    let mut stmt =
        tx.prepare_cached("SELECT depends_on FROM task_dependencies WHERE task_id = ?1")?;
    let cycle = find_cycle(id, deps.ids(), |node| {
        stmt.query_map([node.get()], |r| r.get::<_, i64>(0))
            .map(|rows| {
                rows.filter_map(Result::ok)
                    .filter_map(|n| TaskId::new(n).ok())
                    .collect()
            })
            .unwrap_or_default()
    });
    if let Some(path) = cycle {
        return Err(ValidationError::new(
            "depends_on",
            format!("depends_on would make a cycle: {}", display_path(&path)),
        )
        .into());
    }
    tx.execute(
        "DELETE FROM task_dependencies WHERE task_id = ?1",
        [id.get()],
    )?;
    insert_dependencies(tx, id, deps.ids())
}

fn insert_dependencies(tx: &Connection, id: TaskId, deps: &[TaskId]) -> Result<(), StoreError> {
    let mut stmt =
        tx.prepare_cached("INSERT INTO task_dependencies (task_id, depends_on) VALUES (?1, ?2)")?;
    for dep in deps {
        stmt.execute(params![id.get(), dep.get()])?;
    }
    Ok(())
}

pub(super) fn insert_history(
    tx: &Connection,
    id: TaskId,
    from: Option<TaskStatus>,
    to: TaskStatus,
    reason: &str,
    actor: &str,
    at: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO task_history (task_id, from_status, to_status, reason, actor, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        id.get(),
        from.map(|s| s.as_str()),
        to.as_str(),
        reason,
        actor,
        at
    ])?;
    Ok(())
}

fn dependent_ids(conn: &Connection, id: TaskId) -> Result<Vec<TaskId>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT task_id FROM task_dependencies WHERE depends_on = ?1 ORDER BY task_id",
    )?;
    let ids = stmt
        .query_map([id.get()], |r| r.get::<_, i64>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ids
        .into_iter()
        .filter_map(|n| TaskId::new(n).ok())
        .collect())
}

fn load_dependencies(conn: &Connection, id: i64) -> Result<Vec<TaskId>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT depends_on FROM task_dependencies WHERE task_id = ?1 ORDER BY depends_on",
    )?;
    let ids = stmt
        .query_map([id], |r| r.get::<_, i64>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ids
        .into_iter()
        .filter_map(|n| TaskId::new(n).ok())
        .collect())
}

/// Runs a `SELECT {TASK_COLUMNS} …` and returns its tasks, with the dependencies of
/// all of them read in one more query (not one per task).
pub(super) fn query_tasks(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<Task>, StoreError> {
    let raws: Vec<RawTask> = conn
        .prepare_cached(sql)?
        .query_map(args, RawTask::from_row)?
        .collect::<Result<_, _>>()?;
    let mut deps = dependencies_of(conn, raws.iter().map(|r| r.id))?;
    raws.into_iter()
        .map(|raw| {
            let of_this = deps.remove(&raw.id).unwrap_or_default();
            raw.into_task(of_this)
        })
        .collect()
}

/// The dependencies of each of `ids` that has any, in id order.
fn dependencies_of(
    conn: &Connection,
    ids: impl Iterator<Item = i64>,
) -> Result<HashMap<i64, Vec<TaskId>>, StoreError> {
    let ids: Vec<i64> = ids.collect();
    let mut deps: HashMap<i64, Vec<TaskId>> = HashMap::new();
    if ids.is_empty() {
        return Ok(deps);
    }
    let list = serde_json::to_string(&ids).map_err(|e| StoreError::Io(e.to_string()))?;
    let mut stmt = conn.prepare_cached(
        "SELECT task_id, depends_on FROM task_dependencies
         WHERE task_id IN (SELECT value FROM json_each(?1)) ORDER BY task_id, depends_on",
    )?;
    let rows = stmt.query_map([list], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (task, dep) = row?;
        deps.entry(task).or_default().push(TaskId::new(dep)?);
    }
    Ok(deps)
}

pub(super) fn load_task(conn: &Connection, id: TaskId) -> Result<Task, StoreError> {
    let raw = conn
        .prepare_cached(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1"))?
        .query_row([id.get()], RawTask::from_row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("task {}", id.display_id())))?;
    let deps = load_dependencies(conn, raw.id)?;
    raw.into_task(deps)
}

/// A task row as SQLite holds it, before its text is parsed back into domain types.
struct RawTask {
    id: i64,
    display_id: Option<String>,
    title: String,
    description: String,
    category: String,
    priority: i64,
    status: String,
    pass_criteria: String,
    assigned_agent: Option<String>,
    attempts: u32,
    max_attempts: u32,
    diagnosis: Option<String>,
    created_at: String,
    updated_at: String,
    question: Option<String>,
    answer: Option<String>,
    retry_at: Option<String>,
    last_failure: Option<String>,
    max_cost_usd: Option<f64>,
    crash_interruptions: u32,
    browser_origins: String,
    outcome: Option<String>,
    land: Option<String>,
    follow_up: Option<String>,
    pull_request: Option<String>,
}

impl RawTask {
    fn from_row(r: &Row) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            display_id: r.get(1)?,
            title: r.get(2)?,
            description: r.get(3)?,
            category: r.get(4)?,
            priority: r.get(5)?,
            status: r.get(6)?,
            pass_criteria: r.get(7)?,
            assigned_agent: r.get(8)?,
            attempts: r.get(9)?,
            max_attempts: r.get(10)?,
            diagnosis: r.get(11)?,
            created_at: r.get(12)?,
            updated_at: r.get(13)?,
            question: r.get(14)?,
            answer: r.get(15)?,
            retry_at: r.get(16)?,
            last_failure: r.get(17)?,
            max_cost_usd: r.get(18)?,
            crash_interruptions: r.get(19)?,
            browser_origins: r.get(20)?,
            outcome: r.get(21)?,
            land: r.get(22)?,
            follow_up: r.get(23)?,
            pull_request: r.get(24)?,
        })
    }

    fn into_task(self, depends_on: Vec<TaskId>) -> Result<Task, StoreError> {
        let id = TaskId::new(self.id)?;
        Ok(Task {
            id,
            display_id: self.display_id.unwrap_or_else(|| id.display_id()),
            title: self.title,
            description: self.description,
            category: self.category,
            priority: priority_from_rank(self.priority)?,
            status: parse_status(&self.status)?,
            pass_criteria: serde_json::from_str(&self.pass_criteria)
                .map_err(|e| corrupt_value("tasks.pass_criteria", e))?,
            depends_on,
            assigned_agent: self.assigned_agent,
            attempts: self.attempts,
            max_attempts: self.max_attempts,
            diagnosis: self.diagnosis,
            question: self.question,
            answer: self.answer,
            retry_at: self.retry_at.as_deref().map(parse_time).transpose()?,
            last_failure: self.last_failure,
            max_cost_usd: self.max_cost_usd,
            crash_interruptions: self.crash_interruptions,
            browser_origins: serde_json::from_str(&self.browser_origins)
                .map_err(|e| corrupt_value("tasks.browser_origins", e))?,
            outcome: self
                .outcome
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| corrupt_value("tasks.outcome", e))?,
            land: self
                .land
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|_| corrupt_value("tasks.land", self.land.as_deref().unwrap_or("")))?,
            follow_up: self.follow_up,
            pull_request: self
                .pull_request
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| corrupt_value("tasks.pull_request", e))?,
            created_at: parse_time(&self.created_at)?,
            updated_at: parse_time(&self.updated_at)?,
        })
    }
}

fn priority_rank(p: Priority) -> i64 {
    Priority::ALL.iter().position(|q| *q == p).unwrap_or(2) as i64
}

fn priority_from_rank(rank: i64) -> Result<Priority, StoreError> {
    usize::try_from(rank)
        .ok()
        .and_then(|i| Priority::ALL.get(i).copied())
        .ok_or_else(|| corrupt_value("tasks.priority", rank))
}

pub(super) fn parse_status(raw: &str) -> Result<TaskStatus, StoreError> {
    raw.parse().map_err(|_| corrupt_value("tasks.status", raw))
}

pub(super) fn parse_time(raw: &str) -> Result<Timestamp, StoreError> {
    Timestamp::parse(raw).map_err(|_| corrupt_value("timestamp", raw))
}

/// A stored value this binary cannot read: the schema and the code disagree.
pub(super) fn corrupt_value(what: &str, value: impl std::fmt::Display) -> StoreError {
    StoreError::Io(format!("unreadable value in {what}: {value}"))
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned())
}

fn display_list(ids: &[TaskId]) -> String {
    ids.iter()
        .map(|i| i.display_id())
        .collect::<Vec<_>>()
        .join(", ")
}

fn display_path(ids: &[TaskId]) -> String {
    ids.iter()
        .map(|i| i.display_id())
        .collect::<Vec<_>>()
        .join(" -> ")
}

#[cfg(test)]
mod query_plans {
    use super::*;

    /// SQLite's plan for `sql`, one detail line per step.
    fn plan(conn: &Connection, sql: &str, args: &[Value]) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        stmt.query_map(params_from_iter(args.iter()), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
            .join("; ")
    }

    fn migrated() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("plans.db");
        drop(Store::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        (dir, conn)
    }

    #[test]
    fn every_task_list_filter_and_keyset_page_reads_an_index_in_list_order() {
        let (_dir, conn) = migrated();
        let cursor = TaskCursor::parse("2.5000.2026-11-27T18:00:00.000Z").unwrap();
        let base = TaskFilter {
            limit: 50,
            ..TaskFilter::default()
        };
        let filters = [
            TaskFilter { ..base.clone() },
            TaskFilter {
                status: Some(TaskStatus::Pending),
                ..base.clone()
            },
            TaskFilter {
                priority: Some(Priority::P1),
                ..base.clone()
            },
            TaskFilter {
                category: Some("backend".into()),
                ..base.clone()
            },
            TaskFilter {
                agent: Some("build-1".into()),
                ..base.clone()
            },
            TaskFilter {
                text: Some("login".into()),
                ..base.clone()
            },
        ];
        for filter in filters {
            for after in [None, Some(cursor.clone())] {
                let filter = TaskFilter {
                    after,
                    ..filter.clone()
                };
                let (sql, args) = list_query(&filter);
                let plan = plan(&conn, &sql, &args);
                assert!(
                    plan.contains("USING INDEX") && !plan.contains("TEMP B-TREE"),
                    "{filter:?}: {plan}"
                );
            }
        }
    }

    #[test]
    fn the_ready_query_walks_the_status_index_in_start_order() {
        let (_dir, conn) = migrated();
        let args = [
            Value::Text("2026-12-01T00:00:00Z".into()),
            Value::Integer(32),
        ];
        let plan = plan(&conn, &super::super::work::ready_query(), &args);
        assert!(
            plan.contains("tasks_by_status (status=?)") && !plan.contains("TEMP B-TREE"),
            "{plan}"
        );
    }

    #[test]
    fn status_with_category_or_agent_reads_the_two_column_index() {
        let (_dir, conn) = migrated();
        let pairs = [
            (
                TaskFilter {
                    status: Some(TaskStatus::Blocked),
                    category: Some("testing".into()),
                    limit: 50,
                    ..TaskFilter::default()
                },
                "tasks_by_status_category (status=? AND category=?",
            ),
            (
                TaskFilter {
                    status: Some(TaskStatus::Pending),
                    agent: Some("build-1".into()),
                    limit: 50,
                    ..TaskFilter::default()
                },
                "tasks_by_status_agent (status=? AND assigned_agent=?",
            ),
        ];
        for (filter, index) in pairs {
            let (sql, args) = list_query(&filter);
            let plan = plan(&conn, &sql, &args);
            assert!(
                plan.contains(index) && !plan.contains("TEMP B-TREE"),
                "{filter:?}: {plan}"
            );
        }
    }

    #[test]
    fn task_totals_without_text_search_read_the_tally_not_the_tasks() {
        let (_dir, conn) = migrated();
        let filters = [
            TaskFilter::default(),
            TaskFilter {
                status: Some(TaskStatus::Pending),
                category: Some("backend".into()),
                priority: Some(Priority::P0),
                agent: Some("build-1".into()),
                ..TaskFilter::default()
            },
        ];
        for filter in filters {
            let (sql, args) = count_query(&filter);
            let plan = plan(&conn, &sql, &args);
            assert!(
                plan.contains("task_tally") && !plan.contains("tasks"),
                "{plan}"
            );
        }
    }
}

#[cfg(test)]
mod reads {
    use harness_domain::event::Operation;
    use harness_domain::task::{NewTask, Title};

    use super::*;

    #[test]
    fn a_read_now_answers_while_a_reader_is_free_and_steps_aside_when_none_is() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(&dir.path().join("h.db")).unwrap();
        let new = NewTask::titled(Title::parse("Read me").unwrap());
        let (task, _) = store
            .create_task(&new, "api", |t| {
                NewEvent::info(Operation::TaskCreated, t.title.clone())
            })
            .unwrap();
        let read = store.get_task_now(task.id).expect("a reader is free");
        assert_eq!(read.unwrap().title, "Read me");

        let held: Vec<_> = (0..super::super::READERS)
            .map(|_| store.read().unwrap())
            .collect();
        assert!(
            store.get_task_now(task.id).is_none(),
            "every reader is busy"
        );
        drop(held);
        assert!(store.get_task_now(task.id).is_some());
    }
}
