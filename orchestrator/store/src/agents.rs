//! Agents: the seeded set and operator changes to it.

use harness_domain::{
    agent::{Agent, AgentId, AgentPatch, AgentStatus, DEFAULT_MODEL, RuntimeKind, default_agents},
    event::{Event, NewEvent},
    role::RoleName,
    time::Timestamp,
};
use rusqlite::{Connection, Row, params};

use super::{
    Store, StoreError,
    events::insert_event,
    not_found,
    tasks::{corrupt_value, parse_time},
};

const AGENT_COLUMNS: &str = "id, name, role, model, runtime, max_concurrency, enabled, status, \
     status_reason, last_heartbeat, created_at, updated_at";

impl Store {
    /// Inserts the default agents when the table is empty (first start only), so an
    /// operator's deletions and edits are never undone by a restart.
    pub(super) fn seed_agents(&self) -> Result<(), StoreError> {
        let tx = self.write()?;
        let count: i64 = tx.query_row("SELECT COUNT(*) FROM agents", [], |r| r.get(0))?;
        if count == 0 {
            let now = Timestamp::now().to_rfc3339();
            for (id, name, role, concurrency) in default_agents() {
                tx.execute(
                    "INSERT INTO agents (id, name, role, model, runtime, max_concurrency, enabled,
                                         status, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, 'idle', ?7, ?7)",
                    params![
                        id.as_str(),
                        name,
                        role.as_str(),
                        DEFAULT_MODEL,
                        RuntimeKind::Anthropic.as_str(),
                        concurrency,
                        now
                    ],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn list_agents(&self) -> Result<Vec<Agent>, StoreError> {
        let conn = self.read()?;
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {AGENT_COLUMNS} FROM agents ORDER BY id"))?;
        let rows = stmt
            .query_map([], RawAgent::from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(RawAgent::into_agent).collect()
    }

    pub fn get_agent(&self, id: &AgentId) -> Result<Agent, StoreError> {
        load_agent(&*self.read()?, id)
    }

    /// Applies an operator's change. Disabling an agent shows it as `disabled`;
    /// enabling it again makes it `idle`.
    pub fn update_agent(
        &self,
        id: &AgentId,
        patch: &AgentPatch,
        note: impl FnOnce(&Agent) -> NewEvent,
    ) -> Result<(Agent, Event), StoreError> {
        let tx = self.write()?;
        let current = load_agent(&tx, id)?;
        let status = match patch.enabled {
            Some(false) => AgentStatus::Disabled,
            Some(true) if current.status == AgentStatus::Disabled => AgentStatus::Idle,
            _ => current.status,
        };
        tx.execute(
            "UPDATE agents SET
                enabled = COALESCE(?1, enabled),
                model = COALESCE(?2, model),
                max_concurrency = COALESCE(?3, max_concurrency),
                status = ?4,
                updated_at = ?5
             WHERE id = ?6",
            params![
                patch.enabled,
                patch.model.as_ref().map(|m| m.as_str()),
                patch.max_concurrency.map(|c| c.get()),
                status.as_str(),
                Timestamp::now().to_rfc3339(),
                id.as_str()
            ],
        )?;
        let agent = load_agent(&tx, id)?;
        let event = insert_event(&tx, &note(&agent))?;
        tx.commit()?;
        Ok((agent, event))
    }

    /// Sets an agent's runtime, from `[agents.<id>]` in harness.toml at startup.
    pub fn set_agent_runtime(&self, id: &AgentId, runtime: RuntimeKind) -> Result<(), StoreError> {
        let tx = self.write()?;
        tx.execute(
            "UPDATE agents SET runtime = ?1, updated_at = ?2 WHERE id = ?3 AND runtime != ?1",
            params![runtime.as_str(), Timestamp::now().to_rfc3339(), id.as_str()],
        )?;
        tx.commit()
    }

    /// `[agents.<id>] role = …` from harness.toml: creates the agent with that role
    /// when it does not exist yet, or gives the existing one that role.
    pub fn ensure_agent_role(&self, id: &AgentId, role: &RoleName) -> Result<(), StoreError> {
        let tx = self.write()?;
        let now = Timestamp::now().to_rfc3339();
        tx.execute(
            "INSERT INTO agents (id, name, role, model, runtime, max_concurrency, enabled,
                                 status, created_at, updated_at)
             VALUES (?1, ?1, ?2, ?3, ?4, 1, 1, 'idle', ?5, ?5)
             ON CONFLICT (id) DO UPDATE SET role = ?2, updated_at = ?5 WHERE role != ?2",
            params![
                id.as_str(),
                role.as_str(),
                DEFAULT_MODEL,
                RuntimeKind::Anthropic.as_str(),
                now
            ],
        )?;
        tx.commit()
    }

    /// Records what an agent is doing (the engine calls this).
    pub fn set_agent_status(
        &self,
        id: &AgentId,
        status: AgentStatus,
        reason: Option<&str>,
    ) -> Result<Agent, StoreError> {
        let conn = self.write()?;
        let now = Timestamp::now().to_rfc3339();
        let changed = conn.execute(
            "UPDATE agents SET status = ?1, status_reason = ?2, updated_at = ?3,
                last_heartbeat = CASE WHEN ?1 IN ('working', 'idle') THEN ?3 ELSE last_heartbeat END
             WHERE id = ?4",
            params![status.as_str(), reason, now, id.as_str()],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("agent {id}")));
        }
        let agent = load_agent(&conn, id)?;
        conn.commit()?;
        Ok(agent)
    }
}

fn load_agent(conn: &Connection, id: &AgentId) -> Result<Agent, StoreError> {
    conn.prepare_cached(&format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = ?1"))?
        .query_row([id.as_str()], RawAgent::from_row)
        .map_err(not_found(format!("agent {id}")))?
        .into_agent()
}

struct RawAgent {
    id: String,
    name: String,
    role: String,
    model: String,
    runtime: String,
    max_concurrency: u32,
    enabled: bool,
    status: String,
    status_reason: Option<String>,
    last_heartbeat: Option<String>,
    created_at: String,
    updated_at: String,
}

impl RawAgent {
    fn from_row(r: &Row) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            name: r.get(1)?,
            role: r.get(2)?,
            model: r.get(3)?,
            runtime: r.get(4)?,
            max_concurrency: r.get(5)?,
            enabled: r.get(6)?,
            status: r.get(7)?,
            status_reason: r.get(8)?,
            last_heartbeat: r.get(9)?,
            created_at: r.get(10)?,
            updated_at: r.get(11)?,
        })
    }

    fn into_agent(self) -> Result<Agent, StoreError> {
        Ok(Agent {
            id: AgentId::parse(&self.id).map_err(|_| corrupt_value("agents.id", &self.id))?,
            name: self.name,
            // Any slug: rows from before roles were data hold the old role names,
            // which are the built-in roles' names.
            role: RoleName::parse(&self.role)
                .map_err(|_| corrupt_value("agents.role", &self.role))?,
            model: self.model,
            runtime: self
                .runtime
                .parse()
                .map_err(|_| corrupt_value("agents.runtime", &self.runtime))?,
            max_concurrency: self.max_concurrency,
            enabled: self.enabled,
            status: self
                .status
                .parse()
                .map_err(|_| corrupt_value("agents.status", &self.status))?,
            status_reason: self.status_reason,
            last_heartbeat: self.last_heartbeat.as_deref().map(parse_time).transpose()?,
            created_at: parse_time(&self.created_at)?,
            updated_at: parse_time(&self.updated_at)?,
        })
    }
}
