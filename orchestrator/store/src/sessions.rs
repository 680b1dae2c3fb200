//! Sessions and their append-only logs.

use harness_domain::{
    event::{Event, NewEvent},
    session::{LogKind, LogLine, Session, SessionId, SessionStatus, Usage, clip_log_content},
    task::TaskId,
    time::Timestamp,
};
use rusqlite::{Connection, Row, params, params_from_iter, types::Value};

use super::{
    Page, Store, StoreError,
    events::insert_event,
    not_found,
    tasks::{corrupt_value, parse_time},
};

/// How an attempt's session ends, written in the same transaction as what the attempt
/// did to its task, so nobody sees a settled task whose session still runs.
#[derive(Debug, Clone)]
pub struct SessionEnd {
    pub id: SessionId,
    pub status: SessionStatus,
    pub reason: String,
}

/// Ends the session if it still runs. One that already ended (a user's cancel, a late
/// report) keeps why it ended; it is returned as it is.
pub(super) fn end_session_in(tx: &Connection, end: &SessionEnd) -> Result<Session, StoreError> {
    tx.prepare_cached(
        "UPDATE sessions SET status = ?1, exit_reason = ?2, ended_at = ?3
          WHERE id = ?4 AND status = 'running'",
    )?
    .execute(params![
        end.status.as_str(),
        end.reason,
        Timestamp::now().to_rfc3339(),
        end.id.get()
    ])?;
    load_session(tx, end.id)
}

/// Filters for listing sessions. `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub task_id: Option<TaskId>,
    pub agent_id: Option<String>,
    pub status: Option<SessionStatus>,
    pub limit: u32,
    pub offset: u64,
    /// Only sessions older than this id (keyset paging, newest first).
    pub before: Option<i64>,
}

const SESSION_COLUMNS: &str = "id, task_id, agent_id, model, status, started_at, ended_at, \
     exit_reason, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd, \
     purpose, branch, commit_sha, verify_output, landing, \
     executor, executor_name, executor_node, \
     (SELECT COALESCE(SUM(length(CAST(l.content AS BLOB))), 0) FROM session_logs l \
      WHERE l.session_id = sessions.id)";

impl Store {
    /// Starts a session of `agent_id` on `task_id`.
    pub fn create_session(
        &self,
        task_id: TaskId,
        agent_id: &str,
        model: &str,
    ) -> Result<Session, StoreError> {
        let conn = self.write()?;
        let id: i64 = conn.query_row(
            "INSERT INTO sessions (task_id, agent_id, model, status, started_at)
             VALUES (?1, ?2, ?3, 'running', ?4) RETURNING id",
            params![
                task_id.get(),
                agent_id,
                model,
                Timestamp::now().to_rfc3339()
            ],
            |r| r.get(0),
        )?;
        let session = load_session(&conn, SessionId::new(id)?)?;
        conn.commit()?;
        Ok(session)
    }

    /// Appends a line to a session's log with the next sequence number.
    pub fn append_log(
        &self,
        session_id: SessionId,
        kind: LogKind,
        content: &str,
    ) -> Result<LogLine, StoreError> {
        let conn = self.write()?;
        let at = Timestamp::now();
        let content = clip_log_content(content);
        let seq: i64 = conn
            .query_row(
                "INSERT INTO session_logs (session_id, seq, at, kind, content)
                 SELECT ?1, COALESCE(MAX(seq), 0) + 1, ?2, ?3, ?4
                 FROM session_logs WHERE session_id = ?1
                 RETURNING seq",
                params![session_id.get(), at.to_rfc3339(), kind.as_str(), content],
                |r| r.get(0),
            )
            .map_err(|e| match StoreError::from(e) {
                StoreError::Constraint(_) => StoreError::NotFound(format!("session {session_id}")),
                other => other,
            })?;
        conn.commit()?;
        Ok(LogLine {
            session_id,
            seq,
            at,
            kind,
            content,
        })
    }

    /// Appends a batch of a session's output in one write: its log lines, numbered on
    /// from the last, and the usage it reported since the previous batch. Returns the
    /// stored lines and, when usage was added, the session with its new totals.
    pub fn append_session_output(
        &self,
        session_id: SessionId,
        lines: &[(LogKind, String)],
        usage: Option<(Usage, f64)>,
        worker_seq: Option<u64>,
    ) -> Result<(Vec<LogLine>, Option<Session>), StoreError> {
        let conn = self.write()?;
        if let Some(next) = worker_seq {
            // With the events it covers, and never backwards.
            conn.execute(
                "UPDATE sessions SET worker_seq = MAX(COALESCE(worker_seq, 0), ?2) WHERE id = ?1",
                params![session_id.get(), i64::try_from(next).unwrap_or(i64::MAX)],
            )?;
        }
        let at = Timestamp::now();
        let mut seq: i64 = conn.query_row(
            "SELECT COALESCE(MAX(seq), 0) FROM session_logs WHERE session_id = ?1",
            [session_id.get()],
            |r| r.get(0),
        )?;
        let mut stored = Vec::with_capacity(lines.len());
        {
            let mut insert = conn.prepare_cached(
                "INSERT INTO session_logs (session_id, seq, at, kind, content)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let at_text = at.to_rfc3339();
            for (kind, content) in lines {
                seq += 1;
                let content = clip_log_content(content);
                insert
                    .execute(params![
                        session_id.get(),
                        seq,
                        at_text,
                        kind.as_str(),
                        content
                    ])
                    .map_err(|e| match StoreError::from(e) {
                        StoreError::Constraint(_) => {
                            StoreError::NotFound(format!("session {session_id}"))
                        }
                        other => other,
                    })?;
                stored.push(LogLine {
                    session_id,
                    seq,
                    at,
                    kind: *kind,
                    content,
                });
            }
        }
        let session = match usage {
            Some((usage, cost_usd)) => {
                add_usage(&conn, session_id, usage, cost_usd)?;
                Some(load_session(&conn, session_id)?)
            }
            None => None,
        };
        conn.commit()?;
        Ok((stored, session))
    }

    /// The next event number of the session's remote worker stored so far, if any.
    pub fn session_worker_seq(&self, session_id: SessionId) -> Result<Option<u64>, StoreError> {
        let seq: Option<i64> = self.read()?.query_row(
            "SELECT worker_seq FROM sessions WHERE id = ?1",
            [session_id.get()],
            |r| r.get(0),
        )?;
        Ok(seq.and_then(|s| u64::try_from(s).ok()))
    }

    /// Adds token usage and cost to a running session.
    pub fn add_session_usage(
        &self,
        session_id: SessionId,
        usage: Usage,
        cost_usd: f64,
    ) -> Result<Session, StoreError> {
        let conn = self.write()?;
        add_usage(&conn, session_id, usage, cost_usd)?;
        let session = load_session(&conn, session_id)?;
        conn.commit()?;
        Ok(session)
    }

    /// Ends a running session. Ending one that already ended is a conflict, so a late
    /// report from a killed agent cannot overwrite why it was stopped.
    pub fn finish_session(
        &self,
        session_id: SessionId,
        status: SessionStatus,
        exit_reason: &str,
    ) -> Result<Session, StoreError> {
        let conn = self.write()?;
        let current = load_session(&conn, session_id)?;
        if current.status != SessionStatus::Running {
            return Err(StoreError::Conflict(format!(
                "session {session_id} already ended as {}",
                current.status.as_str()
            )));
        }
        let end = SessionEnd {
            id: session_id,
            status,
            reason: exit_reason.to_owned(),
        };
        let session = end_session_in(&conn, &end)?;
        conn.commit()?;
        Ok(session)
    }

    /// Marks every session still `running` as `interrupted`, except those `keep` says
    /// still run (remote workers, which outlive the orchestrator): at startup, because
    /// no process of ours can be running them any more, and at shutdown.
    /// Each interrupted session gets its `note`, in the same transaction.
    pub fn interrupt_running_sessions(
        &self,
        reason: &str,
        keep: impl Fn(&Session) -> bool,
        note: impl Fn(&Session) -> NewEvent,
    ) -> Result<Vec<(Session, Event)>, StoreError> {
        let tx = self.write()?;
        let running: Vec<i64> = tx
            .prepare("SELECT id FROM sessions WHERE status = 'running'")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut ids = Vec::new();
        for id in running {
            let id = SessionId::new(id)?;
            if !keep(&load_session(&tx, id)?) {
                ids.push(id);
            }
        }
        let at = Timestamp::now().to_rfc3339();
        for id in &ids {
            tx.execute(
                "UPDATE sessions SET status = 'interrupted', exit_reason = ?1, ended_at = ?2
                  WHERE id = ?3",
                params![reason, at, id.get()],
            )?;
        }
        let interrupted = ids
            .into_iter()
            .map(|id| {
                let session = load_session(&tx, id)?;
                let event = insert_event(&tx, &note(&session))?;
                Ok((session, event))
            })
            .collect::<Result<_, StoreError>>()?;
        tx.commit()?;
        Ok(interrupted)
    }

    pub fn get_session(&self, id: SessionId) -> Result<Session, StoreError> {
        load_session(&*self.read()?, id)
    }

    pub fn list_sessions(&self, filter: &SessionFilter) -> Result<Page<Session>, StoreError> {
        let conn = self.read()?;
        let mut conds = Vec::new();
        let mut args = Vec::new();
        if let Some(t) = filter.task_id {
            conds.push("task_id = ?");
            args.push(Value::Integer(t.get()));
        }
        if let Some(a) = &filter.agent_id {
            conds.push("agent_id = ?");
            args.push(Value::Text(a.clone()));
        }
        if let Some(s) = filter.status {
            conds.push("status = ?");
            args.push(Value::Text(s.as_str().to_owned()));
        }
        let clause = if conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conds.join(" AND "))
        };
        let total = count_sessions(&conn, filter, &clause, &args)?;
        let clause = match filter.before {
            Some(before) => {
                args.push(Value::Integer(before));
                let joiner = if clause.is_empty() { "WHERE" } else { " AND" };
                format!("{clause}{joiner} id < ?")
            }
            None => clause,
        };
        // One row past the page: whether it exists decides whether there is a next page.
        args.push(Value::Integer(i64::from(filter.limit) + 1));
        args.push(Value::Integer(
            i64::try_from(filter.offset).unwrap_or(i64::MAX),
        ));
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions {clause} ORDER BY id DESC LIMIT ? OFFSET ?"
        ))?;
        let mut items: Vec<Session> = stmt
            .query_map(params_from_iter(args.iter()), RawSession::from_row)?
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(RawSession::into_session)
            .collect::<Result<_, _>>()?;
        let next_cursor = crate::has_more(&mut items, filter.limit)
            .then(|| items.last().map(|s| s.id.to_string()))
            .flatten();
        Ok(Page {
            items,
            total,
            next_cursor,
        })
    }

    /// Log lines with `seq > after`, oldest first, at most `limit`.
    pub fn session_logs(
        &self,
        session_id: SessionId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<LogLine>, StoreError> {
        let conn = self.read()?;
        load_session(&conn, session_id)?;
        // A page stops once it holds LOG_PAGE_BYTES (always at least one line).
        let mut stmt = conn.prepare_cached(
            "SELECT seq, at, kind, content FROM (
                SELECT seq, at, kind, content,
                       SUM(length(CAST(content AS BLOB))) OVER (ORDER BY seq) AS upto,
                       length(CAST(content AS BLOB)) AS size
                FROM session_logs WHERE session_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3)
             WHERE upto - size < ?4 ORDER BY seq",
        )?;
        let rows = stmt
            .query_map(
                params![session_id.get(), after, limit, super::LOG_PAGE_BYTES],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                },
            )?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(seq, at, kind, content)| {
                Ok(LogLine {
                    session_id,
                    seq,
                    at: parse_time(&at)?,
                    kind: kind
                        .parse()
                        .map_err(|_| corrupt_value("session_logs.kind", &kind))?,
                    content,
                })
            })
            .collect()
    }
}

/// The total a filter matches: from the tally, or by counting one task's sessions
/// (a handful) when filtering by task.
fn count_sessions(
    conn: &Connection,
    filter: &SessionFilter,
    clause: &str,
    args: &[Value],
) -> Result<u64, StoreError> {
    if filter.task_id.is_some() {
        return Ok(conn.query_row(
            &format!("SELECT COUNT(*) FROM sessions {clause}"),
            params_from_iter(args.iter()),
            |r| r.get(0),
        )?);
    }
    Ok(conn.query_row(
        "SELECT COALESCE(SUM(n), 0) FROM session_tally
         WHERE (?1 IS NULL OR agent_id = ?1) AND (?2 IS NULL OR status = ?2)",
        params![
            filter.agent_id.as_deref(),
            filter.status.map(|s| s.as_str())
        ],
        |r| r.get(0),
    )?)
}

pub(super) fn load_session(conn: &Connection, id: SessionId) -> Result<Session, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1"
    ))?
    .query_row([id.get()], RawSession::from_row)
    .map_err(not_found(format!("session {id}")))?
    .into_session()
}

struct RawSession {
    id: i64,
    task_id: Option<i64>,
    agent_id: String,
    model: String,
    status: String,
    started_at: String,
    ended_at: Option<String>,
    exit_reason: Option<String>,
    usage: Usage,
    cost_usd: f64,
    purpose: String,
    branch: Option<String>,
    commit_sha: Option<String>,
    verify_output: Option<String>,
    landing: Option<String>,
    executor: Option<String>,
    executor_name: Option<String>,
    executor_node: Option<String>,
    log_bytes: u64,
}

impl RawSession {
    fn from_row(r: &Row) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            task_id: r.get(1)?,
            agent_id: r.get(2)?,
            model: r.get(3)?,
            status: r.get(4)?,
            started_at: r.get(5)?,
            ended_at: r.get(6)?,
            exit_reason: r.get(7)?,
            usage: Usage {
                input_tokens: r.get(8)?,
                output_tokens: r.get(9)?,
                cache_read_tokens: r.get(10)?,
                cache_write_tokens: r.get(11)?,
            },
            cost_usd: r.get(12)?,
            purpose: r.get(13)?,
            branch: r.get(14)?,
            commit_sha: r.get(15)?,
            verify_output: r.get(16)?,
            landing: r.get(17)?,
            executor: r.get(18)?,
            executor_name: r.get(19)?,
            executor_node: r.get(20)?,
            log_bytes: r.get(21)?,
        })
    }

    fn into_session(self) -> Result<Session, StoreError> {
        Ok(Session {
            id: SessionId::new(self.id)?,
            task_id: self.task_id.map(TaskId::new).transpose()?,
            agent_id: self.agent_id,
            model: self.model,
            status: self
                .status
                .parse()
                .map_err(|_| corrupt_value("sessions.status", &self.status))?,
            started_at: parse_time(&self.started_at)?,
            ended_at: self.ended_at.as_deref().map(parse_time).transpose()?,
            exit_reason: self.exit_reason,
            input_tokens: self.usage.input_tokens,
            output_tokens: self.usage.output_tokens,
            cache_read_tokens: self.usage.cache_read_tokens,
            cache_write_tokens: self.usage.cache_write_tokens,
            cost_usd: self.cost_usd,
            purpose: self.purpose,
            branch: self.branch,
            commit_sha: self.commit_sha,
            verify_output: self.verify_output,
            landing: self.landing,
            executor: self.executor,
            executor_name: self.executor_name,
            executor_node: self.executor_node,
            log_bytes: self.log_bytes,
        })
    }
}

fn add_usage(
    conn: &Connection,
    session_id: SessionId,
    usage: Usage,
    cost_usd: f64,
) -> Result<(), StoreError> {
    let changed = conn.execute(
        "UPDATE sessions SET input_tokens = input_tokens + ?1,
            output_tokens = output_tokens + ?2, cache_read_tokens = cache_read_tokens + ?3,
            cache_write_tokens = cache_write_tokens + ?4, cost_usd = cost_usd + ?5
         WHERE id = ?6",
        params![
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_tokens,
            usage.cache_write_tokens,
            cost_usd,
            session_id.get()
        ],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!("session {session_id}")));
    }
    Ok(())
}
