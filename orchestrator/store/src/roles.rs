//! What the roles' jobs leave behind: the evaluator's estimates, validation's
//! rejections, and SIA's proposals (accepting one creates its task in the same
//! transaction).

use harness_domain::{
    event::{Event, NewEvent},
    proposal::{Proposal, ProposalStatus},
    role::{Size, TaskEstimate},
    session::SessionId,
    task::{NewTask, Task, TaskId},
    time::Timestamp,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{
    Store, StoreError,
    events::insert_event,
    not_found,
    tasks::{corrupt_value, insert_task, parse_time},
};

/// A proposal as SIA made it, before it is stored.
#[derive(Debug, Clone)]
pub struct NewProposal {
    pub task: NewTask,
    pub source: String,
}

impl Store {
    /// Stores (or replaces) the task's estimate with its event, in one transaction.
    pub fn record_estimate(
        &self,
        task: TaskId,
        size: Size,
        reason: &str,
        agent: Option<&str>,
        note: impl FnOnce(&TaskEstimate) -> NewEvent,
    ) -> Result<(TaskEstimate, Event), StoreError> {
        let tx = self.write()?;
        let now = Timestamp::now();
        tx.execute(
            "INSERT INTO task_estimates (task_id, size, reason, agent_id, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (task_id) DO UPDATE SET size = ?2, reason = ?3, agent_id = ?4, created_at = ?5",
            params![task.get(), size.as_str(), reason, agent, now.to_rfc3339()],
        )?;
        let estimate = TaskEstimate {
            size,
            reason: reason.to_owned(),
            agent_id: agent.map(str::to_owned),
            created_at: now,
        };
        let event = insert_event(&tx, &note(&estimate))?;
        tx.commit()?;
        Ok((estimate, event))
    }

    pub fn estimate(&self, task: TaskId) -> Result<Option<TaskEstimate>, StoreError> {
        let conn = self.read()?;
        let row = conn
            .query_row(
                "SELECT size, reason, agent_id, created_at FROM task_estimates WHERE task_id = ?1",
                [task.get()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                },
            )
            .optional()?;
        row.map(|(size, reason, agent_id, at)| {
            Ok(TaskEstimate {
                size: size
                    .parse()
                    .map_err(|_| corrupt_value("task_estimates.size", &size))?,
                reason,
                agent_id,
                created_at: parse_time(&at)?,
            })
        })
        .transpose()
    }

    /// Records a validation rejection with its event; returns how many the task has had.
    pub fn record_rejection(
        &self,
        task: TaskId,
        session: Option<SessionId>,
        reasons: &str,
        note: impl FnOnce(u32) -> NewEvent,
    ) -> Result<(u32, Event), StoreError> {
        let tx = self.write()?;
        tx.execute(
            "INSERT INTO validation_rejections (task_id, session_id, reasons, created_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![
                task.get(),
                session.map(SessionId::get),
                reasons,
                Timestamp::now().to_rfc3339()
            ],
        )?;
        let count: u32 = tx.query_row(
            "SELECT COUNT(*) FROM validation_rejections WHERE task_id = ?1",
            [task.get()],
            |r| r.get(0),
        )?;
        let event = insert_event(&tx, &note(count))?;
        tx.commit()?;
        Ok((count, event))
    }

    pub fn create_proposal(
        &self,
        new: &NewProposal,
        note: impl FnOnce(&Proposal) -> NewEvent,
    ) -> Result<(Proposal, Event), StoreError> {
        let tx = self.write()?;
        let id: i64 = tx.query_row(
            "INSERT INTO proposals (title, description, priority, category, source, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
            params![
                new.task.title.as_str(),
                new.task.description.as_str(),
                new.task.priority.as_str(),
                new.task.category.as_str(),
                new.source,
                Timestamp::now().to_rfc3339()
            ],
            |r| r.get(0),
        )?;
        let proposal = load_proposal(&tx, id)?;
        let event = insert_event(&tx, &note(&proposal))?;
        tx.commit()?;
        Ok((proposal, event))
    }

    pub fn list_proposals(
        &self,
        status: Option<ProposalStatus>,
        limit: u32,
    ) -> Result<Vec<Proposal>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {PROPOSAL_COLUMNS} FROM proposals
             WHERE ?1 IS NULL OR status = ?1 ORDER BY id DESC LIMIT ?2"
        ))?;
        let rows = stmt
            .query_map(
                params![status.map(ProposalStatus::as_str), limit],
                raw_proposal,
            )?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(RawProposal::into_proposal).collect()
    }

    /// Accepts a waiting proposal: its task is created in the same transaction.
    pub fn accept_proposal(
        &self,
        id: i64,
        actor: &str,
        note: impl FnOnce(&Proposal, &Task) -> NewEvent,
    ) -> Result<(Proposal, Task, Event), StoreError> {
        let tx = self.write()?;
        let proposal = waiting(&tx, id)?;
        let mut new = NewTask::titled(
            harness_domain::task::Title::parse(&proposal.title)
                .map_err(|_| corrupt_value("proposals.title", &proposal.title))?,
        );
        new.description = harness_domain::task::Description::parse(&proposal.description)
            .map_err(|_| corrupt_value("proposals.description", id))?;
        new.priority = proposal
            .priority
            .parse()
            .map_err(|_| corrupt_value("proposals.priority", &proposal.priority))?;
        new.category = harness_domain::task::Category::parse(&proposal.category)
            .map_err(|_| corrupt_value("proposals.category", &proposal.category))?;
        let task = insert_task(&tx, &new, actor)?;
        decide(&tx, id, ProposalStatus::Accepted, Some(task.id.get()))?;
        let proposal = load_proposal(&tx, id)?;
        let event = insert_event(&tx, &note(&proposal, &task))?;
        tx.commit()?;
        Ok((proposal, task, event))
    }

    pub fn reject_proposal(
        &self,
        id: i64,
        note: impl FnOnce(&Proposal) -> NewEvent,
    ) -> Result<(Proposal, Event), StoreError> {
        let tx = self.write()?;
        waiting(&tx, id)?;
        decide(&tx, id, ProposalStatus::Rejected, None)?;
        let proposal = load_proposal(&tx, id)?;
        let event = insert_event(&tx, &note(&proposal))?;
        tx.commit()?;
        Ok((proposal, event))
    }
}

const PROPOSAL_COLUMNS: &str =
    "id, title, description, priority, category, source, status, task_id, created_at, decided_at";

/// The proposal, if it still waits; a decided one is a conflict.
fn waiting(conn: &Connection, id: i64) -> Result<Proposal, StoreError> {
    let proposal = load_proposal(conn, id)?;
    if proposal.status != ProposalStatus::Proposed {
        return Err(StoreError::Conflict(format!(
            "proposal {id} is already {}",
            proposal.status.as_str()
        )));
    }
    Ok(proposal)
}

fn decide(
    conn: &Connection,
    id: i64,
    status: ProposalStatus,
    task: Option<i64>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE proposals SET status = ?1, task_id = ?2, decided_at = ?3 WHERE id = ?4",
        params![status.as_str(), task, Timestamp::now().to_rfc3339(), id],
    )?;
    Ok(())
}

fn load_proposal(conn: &Connection, id: i64) -> Result<Proposal, StoreError> {
    conn.query_row(
        &format!("SELECT {PROPOSAL_COLUMNS} FROM proposals WHERE id = ?1"),
        [id],
        raw_proposal,
    )
    .map_err(not_found(format!("proposal {id}")))?
    .into_proposal()
}

struct RawProposal {
    id: i64,
    title: String,
    description: String,
    priority: String,
    category: String,
    source: String,
    status: String,
    task_id: Option<i64>,
    created_at: String,
    decided_at: Option<String>,
}

fn raw_proposal(r: &Row<'_>) -> rusqlite::Result<RawProposal> {
    Ok(RawProposal {
        id: r.get(0)?,
        title: r.get(1)?,
        description: r.get(2)?,
        priority: r.get(3)?,
        category: r.get(4)?,
        source: r.get(5)?,
        status: r.get(6)?,
        task_id: r.get(7)?,
        created_at: r.get(8)?,
        decided_at: r.get(9)?,
    })
}

impl RawProposal {
    fn into_proposal(self) -> Result<Proposal, StoreError> {
        Ok(Proposal {
            status: self
                .status
                .parse()
                .map_err(|_| corrupt_value("proposals.status", &self.status))?,
            created_at: parse_time(&self.created_at)?,
            decided_at: self.decided_at.as_deref().map(parse_time).transpose()?,
            id: self.id,
            title: self.title,
            description: self.description,
            priority: self.priority,
            category: self.category,
            source: self.source,
            task_id: self.task_id.map(TaskId::new).transpose()?,
        })
    }
}
