//! The SQLite database in the home folder: schema, migrations and the module-version rows.
//! It stores metadata only and never runs wasm.

use anyhow::Context;
use rusqlite::{Connection, OptionalExtension, params};
use rusqlite_migration::{M, Migrations};
use serde::Serialize;
use std::path::Path;

/// Schema migrations, applied in order; never edit a released one, add a new one.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(
            r#"
        CREATE TABLE module_versions (
            id          INTEGER PRIMARY KEY,
            name        TEXT NOT NULL,
            version     TEXT NOT NULL,
            digest      TEXT NOT NULL,
            size        INTEGER NOT NULL,
            template    TEXT,
            api_version TEXT NOT NULL,
            uploaded_at TEXT NOT NULL,
            deploy_dt   TEXT,
            status      TEXT NOT NULL
                CHECK (status IN ('registered', 'deployed', 'deprecated', 'retired')),
            note        TEXT,
            UNIQUE (name, version)
        );
        -- Exactly one deployed version per module, enforced by the database itself.
        CREATE UNIQUE INDEX one_deployed_per_module
            ON module_versions (name) WHERE status = 'deployed';

        -- Every deploy and rollback, newest last. `previous` is the deployment this one
        -- replaced; a rollback walks that chain.
        CREATE TABLE deployments (
            id          INTEGER PRIMARY KEY,
            name        TEXT NOT NULL,
            version_id  INTEGER NOT NULL REFERENCES module_versions (id),
            action      TEXT NOT NULL CHECK (action IN ('deploy', 'rollback')),
            at          TEXT NOT NULL,
            previous    INTEGER REFERENCES deployments (id),
            note        TEXT
        );
        CREATE INDEX deployments_by_name ON deployments (name, id);

        -- Who holds a version: a run executing it, or a model rule pinning it.
        CREATE TABLE leases (
            id          INTEGER PRIMARY KEY,
            version_id  INTEGER NOT NULL REFERENCES module_versions (id),
            kind        TEXT NOT NULL CHECK (kind IN ('run', 'pin')),
            holder      TEXT NOT NULL,
            pid         INTEGER,
            at          TEXT NOT NULL
        );
        CREATE INDEX leases_by_version ON leases (version_id);
        "#,
        ),
        M::up(
            r#"
        -- Reference datasets: a name and a collection folder (repo type `path`).
        CREATE TABLE datasets (
            name        TEXT PRIMARY KEY,
            collection  TEXT NOT NULL,
            repo_type   TEXT NOT NULL DEFAULT 'path',
            created_at  TEXT NOT NULL
        );
        -- Preprocessing models; `definition` is the validated ModelDef as JSON.
        CREATE TABLE models (
            name        TEXT PRIMARY KEY,
            dataset     TEXT NOT NULL REFERENCES datasets (name),
            definition  TEXT NOT NULL,
            created_at  TEXT NOT NULL
        );
        "#,
        ),
        M::up(
            r#"
        -- One execution of a model. `worker_pid` is the process executing it; recovery marks
        -- runs whose worker is gone as failed (interrupted).
        CREATE TABLE runs (
            id             INTEGER PRIMARY KEY,
            model          TEXT NOT NULL REFERENCES models (name),
            dataset        TEXT NOT NULL,
            status         TEXT NOT NULL CHECK (status IN
                               ('registered', 'running', 'completed', 'failed', 'stopped')),
            created_at     TEXT NOT NULL,
            started_at     TEXT,
            finished_at    TEXT,
            error_kind     TEXT,
            error_message  TEXT,
            output         TEXT,
            worker_pid     INTEGER,
            stop_requested INTEGER NOT NULL DEFAULT 0,
            limits         TEXT NOT NULL
        );
        -- One step per rule, named {rule_no}_{module}.
        CREATE TABLE steps (
            run_id         INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            rule_no        INTEGER NOT NULL,
            name           TEXT NOT NULL,
            status         TEXT NOT NULL CHECK (status IN
                               ('registered', 'running', 'completed', 'failed', 'stopped',
                                'skipped')),
            started_at     TEXT,
            finished_at    TEXT,
            module         TEXT NOT NULL,
            module_version TEXT,
            module_digest  TEXT,
            module_info    TEXT,
            progress_done  INTEGER NOT NULL DEFAULT 0,
            progress_total INTEGER NOT NULL DEFAULT 0,
            usage          TEXT,
            error_kind     TEXT,
            error_message  TEXT,
            log            TEXT NOT NULL,
            PRIMARY KEY (run_id, rule_no)
        );
        "#,
        ),
    ])
}

/// A module version's lifecycle state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Stored and checked; runnable when pinned; not what `N` resolves to.
    Registered,
    /// The version `N` resolves to; exactly one per module.
    Deployed,
    /// Still runnable when pinned, but flagged for removal.
    Deprecated,
    /// Removed: the row stays for history, the blob is gone.
    Retired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Registered => "registered",
            Status::Deployed => "deployed",
            Status::Deprecated => "deprecated",
            Status::Retired => "retired",
        }
    }

    fn parse(s: &str) -> Status {
        match s {
            "deployed" => Status::Deployed,
            "deprecated" => Status::Deprecated,
            "retired" => Status::Retired,
            _ => Status::Registered,
        }
    }
}

/// One stored module version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModuleVersion {
    pub id: i64,
    pub name: String,
    pub version: String,
    pub digest: String,
    pub size: u64,
    pub template: Option<String>,
    pub api_version: String,
    pub uploaded_at: String,
    pub deploy_dt: Option<String>,
    pub status: Status,
    pub note: Option<String>,
}

/// One deploy or rollback.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Deployment {
    pub id: i64,
    pub version: String,
    pub action: String,
    pub at: String,
    pub note: Option<String>,
}

/// A holder of a module version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lease {
    pub id: i64,
    pub kind: String,
    pub holder: String,
    pub pid: Option<u32>,
}

pub const VERSION_COLUMNS: &str = "id, name, version, digest, size, template, api_version, \
                                   uploaded_at, deploy_dt, status, note";

pub fn version_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ModuleVersion> {
    Ok(ModuleVersion {
        id: row.get(0)?,
        name: row.get(1)?,
        version: row.get(2)?,
        digest: row.get(3)?,
        size: row.get::<_, i64>(4)? as u64,
        template: row.get(5)?,
        api_version: row.get(6)?,
        uploaded_at: row.get(7)?,
        deploy_dt: row.get(8)?,
        status: Status::parse(&row.get::<_, String>(9)?),
        note: row.get(10)?,
    })
}

/// An open database.
pub struct Db {
    pub(crate) conn: Connection,
}

impl Db {
    /// Opens (creating if needed) and migrates the database: WAL, foreign keys, and a busy
    /// timeout so that several premod processes can share it.
    pub fn open(path: &Path) -> anyhow::Result<Db> {
        let mut conn = Connection::open(path)
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        migrations()
            .to_latest(&mut conn)
            .with_context(|| format!("cannot migrate the database {}", path.display()))?;
        Ok(Db { conn })
    }

    pub fn version(&self, name: &str, version: &str) -> rusqlite::Result<Option<ModuleVersion>> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {VERSION_COLUMNS} FROM module_versions WHERE name = ?1 AND version = ?2"
                ),
                params![name, version],
                version_row,
            )
            .optional()
    }

    pub fn deployed(&self, name: &str) -> rusqlite::Result<Option<ModuleVersion>> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {VERSION_COLUMNS} FROM module_versions \
                     WHERE name = ?1 AND status = 'deployed'"
                ),
                params![name],
                version_row,
            )
            .optional()
    }

    /// Every version, by name then upload order.
    pub fn versions(&self, name: Option<&str>) -> rusqlite::Result<Vec<ModuleVersion>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {VERSION_COLUMNS} FROM module_versions \
             WHERE ?1 IS NULL OR name = ?1 ORDER BY name, id"
        ))?;
        let rows = stmt.query_map(params![name], version_row)?;
        rows.collect()
    }

    pub fn history(&self, name: &str) -> rusqlite::Result<Vec<Deployment>> {
        let mut stmt = self.conn.prepare(
            "SELECT d.id, v.version, d.action, d.at, d.note FROM deployments d \
             JOIN module_versions v ON v.id = d.version_id WHERE d.name = ?1 ORDER BY d.id",
        )?;
        let rows = stmt.query_map(params![name], |r| {
            Ok(Deployment {
                id: r.get(0)?,
                version: r.get(1)?,
                action: r.get(2)?,
                at: r.get(3)?,
                note: r.get(4)?,
            })
        })?;
        rows.collect()
    }

    pub fn leases(&self, version_id: i64) -> rusqlite::Result<Vec<Lease>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, kind, holder, pid FROM leases WHERE version_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![version_id], |r| {
            Ok(Lease {
                id: r.get(0)?,
                kind: r.get(1)?,
                holder: r.get(2)?,
                pid: r.get(3)?,
            })
        })?;
        rows.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid_and_enforce_one_deployed_version() {
        migrations().validate().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        let insert = |v: &str, status: &str| {
            db.conn.execute(
                "INSERT INTO module_versions (name, version, digest, size, api_version, \
                 uploaded_at, status) VALUES ('m', ?1, 'sha256:x', 1, '1.0.0', 'now', ?2)",
                params![v, status],
            )
        };
        insert("1.0.0", "deployed").unwrap();
        insert("1.1.0", "registered").unwrap();
        assert!(
            insert("1.2.0", "deployed").is_err(),
            "two deployed versions"
        );
        assert!(insert("1.3.0", "bogus").is_err(), "unknown status");
        // Reopening applies nothing twice.
        drop(db);
        Db::open(&dir.path().join("t.db")).unwrap();
    }
}
