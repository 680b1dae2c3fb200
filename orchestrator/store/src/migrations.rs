//! Schema migrations: plain SQL files compiled into the binary, tracked with checksums.

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::StoreError;
use harness_domain::time::Timestamp;

/// One migration file.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, in order. Append new files here; never edit an applied one.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../../migrations/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "engine",
        sql: include_str!("../../migrations/0002_engine.sql"),
    },
    Migration {
        version: 3,
        name: "auth_sessions",
        sql: include_str!("../../migrations/0003_auth_sessions.sql"),
    },
    Migration {
        version: 4,
        name: "telegram",
        sql: include_str!("../../migrations/0004_telegram.sql"),
    },
    Migration {
        version: 5,
        name: "scale",
        sql: include_str!("../../migrations/0005_scale.sql"),
    },
    Migration {
        version: 6,
        name: "reliability",
        sql: include_str!("../../migrations/0006_reliability.sql"),
    },
    Migration {
        version: 7,
        name: "task_filter_pairs",
        sql: include_str!("../../migrations/0007_task_filter_pairs.sql"),
    },
    Migration {
        version: 8,
        name: "roles",
        sql: include_str!("../../migrations/0008_roles.sql"),
    },
    Migration {
        version: 9,
        name: "findings",
        sql: include_str!("../../migrations/0009_findings.sql"),
    },
    Migration {
        version: 10,
        name: "executors",
        sql: include_str!("../../migrations/0010_executors.sql"),
    },
    Migration {
        version: 11,
        name: "worker_seq",
        sql: include_str!("../../migrations/0011_worker_seq.sql"),
    },
    Migration {
        version: 12,
        name: "executor_node",
        sql: include_str!("../../migrations/0012_executor_node.sql"),
    },
    Migration {
        version: 13,
        name: "drop_tasks_ready",
        sql: include_str!("../../migrations/0013_drop_tasks_ready.sql"),
    },
    Migration {
        version: 14,
        name: "fewer_pages_per_write",
        sql: include_str!("../../migrations/0014_fewer_pages_per_write.sql"),
    },
    Migration {
        version: 15,
        name: "task_browser_origins",
        sql: include_str!("../../migrations/0015_task_browser_origins.sql"),
    },
    Migration {
        version: 16,
        name: "telegram_active",
        sql: include_str!("../../migrations/0016_telegram_active.sql"),
    },
    Migration {
        version: 17,
        name: "task_outcome",
        sql: include_str!("../../migrations/0017_task_outcome.sql"),
    },
    Migration {
        version: 18,
        name: "review",
        sql: include_str!("../../migrations/0018_review.sql"),
    },
    Migration {
        version: 19,
        name: "openai_runtime",
        sql: include_str!("../../migrations/0019_openai_runtime.sql"),
    },
    Migration {
        version: 20,
        name: "acp_runtime",
        sql: include_str!("../../migrations/0020_acp_runtime.sql"),
    },
];

/// A migration that this run applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub version: i64,
    pub name: String,
}

pub fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

/// Applies every pending migration, each in its own transaction. An applied migration
/// whose checksum differs from the compiled one stops everything: the schema on disk
/// is not the schema this binary was built for.
pub(super) fn apply_pending(conn: &mut Connection) -> Result<Vec<Applied>, StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    INTEGER PRIMARY KEY,
            name       TEXT NOT NULL,
            checksum   TEXT NOT NULL,
            applied_at TEXT NOT NULL
        )",
    )?;
    check_no_unknown_versions(conn)?;
    let mut applied = Vec::new();
    for migration in MIGRATIONS {
        if verify_applied(conn, migration)? {
            continue;
        }
        let tx = super::immediate(conn)?;
        tx.execute_batch(migration.sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)",
            params![
                migration.version,
                migration.name,
                checksum(migration.sql),
                Timestamp::now().to_rfc3339()
            ],
        )?;
        tx.commit()?;
        applied.push(Applied {
            version: migration.version,
            name: migration.name.to_owned(),
        });
    }
    Ok(applied)
}

/// True when `migration` is applied with the right checksum; an error when tampered.
fn verify_applied(conn: &Connection, migration: &Migration) -> Result<bool, StoreError> {
    let stored: Option<String> = conn
        .query_row(
            "SELECT checksum FROM schema_migrations WHERE version = ?1",
            [migration.version],
            |row| row.get(0),
        )
        .optional()?;
    match stored {
        None => Ok(false),
        Some(sum) if sum == checksum(migration.sql) => Ok(true),
        Some(_) => Err(StoreError::Migration(format!(
            "migration {:04}_{} was changed after it was applied (checksum mismatch); \
             restore the original file or restore the database from a backup",
            migration.version, migration.name
        ))),
    }
}

/// A database migrated by a newer binary must not be run by this older one.
fn check_no_unknown_versions(conn: &Connection) -> Result<(), StoreError> {
    let newest_known = MIGRATIONS.last().map_or(0, |m| m.version);
    let newest_applied: Option<i64> =
        conn.query_row("SELECT MAX(version) FROM schema_migrations", [], |row| {
            row.get(0)
        })?;
    match newest_applied {
        Some(v) if v > newest_known => Err(StoreError::Migration(format!(
            "the database has migration {v}, but this harness only knows up to {newest_known}; \
             run a newer harness"
        ))),
        _ => Ok(()),
    }
}
