//! The module registry: versions of each premodule, validated on upload, content-addressed
//! on disk, with deploy, deprecate, rollback and remove. The database row is the source of
//! truth; a blob is written (atomically) before the row that names it.

use crate::engine::Engine;
use crate::error::StepError;
use crate::home::Home;
use crate::store::{Db, Deployment, Lease, ModuleVersion, Status, VERSION_COLUMNS, version_row};
use rusqlite::{TransactionBehavior, params};
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Largest module accepted by default.
pub const DEFAULT_MAX_SIZE: u64 = 256 * 1024 * 1024;
/// Longest compile accepted by default: a module slower than this to compile would make
/// every cold start that slow.
pub const DEFAULT_MAX_COMPILE: Duration = Duration::from_secs(120);
/// Longest module name.
pub const MAX_NAME_LEN: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "invalid module name {0:?}: use 1 to {MAX_NAME_LEN} characters from a-z, 0-9, `_` and `-`"
    )]
    InvalidName(String),
    #[error("invalid version {0:?}: use a semantic version such as 1.0.0 ({1})")]
    InvalidVersion(String, String),
    #[error("no module version {0}@{1}; `premod module list` shows what is registered")]
    NotFound(String, String),
    #[error("no module named {0}; `premod module list` shows what is registered")]
    NoModule(String),
    #[error(
        "module {0} has no deployed version; deploy one with `premod module deploy {0}@VERSION` \
         or name a version as {0}@VERSION"
    )]
    NoDeployed(String),
    #[error(
        "module {name}@{version} already exists with other bytes (stored {stored}, uploaded \
         {uploaded}); give the new build a new version"
    )]
    Conflict {
        name: String,
        version: String,
        stored: String,
        uploaded: String,
    },
    #[error("module rejected: {0}")]
    Rejected(StepError),
    #[error("module is {size} bytes, over the limit of {max} bytes (--max-size)")]
    TooLarge { size: u64, max: u64 },
    #[error(
        "module took {took:?} to compile, over the limit of {max:?}; every cold start would \
         take that long (make the module smaller, or raise --max-compile)"
    )]
    CompileTooSlow { took: Duration, max: Duration },
    #[error("module {0} has no earlier deployment to roll back to (history: {1})")]
    NoHistory(String, String),
    #[error("{name}@{version} is retired: its bytes are gone; add it again to use it")]
    Retired { name: String, version: String },
    #[error("{name}@{version} is deployed; deploy another version or roll back before removing it")]
    IsDeployed { name: String, version: String },
    #[error("{name}@{version} is in use ({holders}); stop those runs or unpin it first")]
    InUse {
        name: String,
        version: String,
        holders: String,
    },
    #[error(
        "the stored blob of {name}@{version} does not match its digest (expected {expected}, \
         found {found}); remove it and add the module again"
    )]
    Corrupt {
        name: String,
        version: String,
        expected: String,
        found: String,
    },
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("{0}")]
    Io(String),
}

impl RegistryError {
    /// Whether the caller asked for something wrong (exit code 2) rather than the
    /// registry failing (1).
    pub fn is_bad_input(&self) -> bool {
        !matches!(
            self,
            RegistryError::Db(_) | RegistryError::Io(_) | RegistryError::Corrupt { .. }
        )
    }
}

type Result<T> = std::result::Result<T, RegistryError>;

/// Checks a module name: `[a-z0-9_-]{1,64}`.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    match ok {
        true => Ok(()),
        false => Err(RegistryError::InvalidName(name.to_string())),
    }
}

/// Parses a version: semver, with `1.0` accepted as `1.0.0` (the platform's versions look
/// like that).
pub fn normalize_version(v: &str) -> Result<String> {
    let full = match v.matches('.').count() {
        1 => format!("{v}.0"),
        _ => v.to_string(),
    };
    semver::Version::parse(&full)
        .map(|v| v.to_string())
        .map_err(|e| RegistryError::InvalidVersion(v.to_string(), e.to_string()))
}

/// Splits `name[@version]`.
pub fn parse_ref(text: &str) -> Result<(String, Option<String>)> {
    let (name, version) = match text.split_once('@') {
        Some((n, v)) => (n, Some(normalize_version(v)?)),
        None => (text, None),
    };
    validate_name(name)?;
    Ok((name.to_string(), version))
}

fn now() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// What to register.
#[derive(Clone, Debug)]
pub struct AddRequest {
    pub name: String,
    pub version: String,
    /// Overrides the language read from the component.
    pub template: Option<String>,
    pub note: Option<String>,
    pub max_size: u64,
    pub max_compile: Duration,
}

/// The result of an add: the stored version, and whether this call created it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Added {
    #[serde(flatten)]
    pub version: ModuleVersion,
    pub created: bool,
}

pub struct Registry {
    home: Home,
    db: Db,
}

impl Registry {
    pub fn open(home: &Home) -> anyhow::Result<Registry> {
        Ok(Registry {
            home: home.clone(),
            db: Db::open(&home.database())?,
        })
    }

    pub fn home(&self) -> &Home {
        &self.home
    }

    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    /// Validates and stores a module version. A rejected upload stores nothing; adding the
    /// same bytes again is a no-op; the same name and version with other bytes is refused.
    pub fn add(&mut self, engine: &Engine, bytes: &[u8], req: &AddRequest) -> Result<Added> {
        validate_name(&req.name)?;
        let version = normalize_version(&req.version)?;
        let size = bytes.len() as u64;
        if size > req.max_size {
            return Err(RegistryError::TooLarge {
                size,
                max: req.max_size,
            });
        }
        let digest = crate::digest::sha256(bytes);
        if let Some(existing) = self.db.version(&req.name, &version)? {
            return self.existing(existing, &digest, bytes);
        }

        let module = engine.load(bytes).map_err(RegistryError::Rejected)?;
        if module.compile_time() > req.max_compile {
            return Err(RegistryError::CompileTooSlow {
                took: module.compile_time(),
                max: req.max_compile,
            });
        }
        let template = req.template.clone().or_else(|| detect_template(bytes));
        let api_version = module.api().api_version.to_string();

        self.write_blob(&digest, bytes)?;
        let tx = self
            .db
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let inserted = tx.execute(
            "INSERT INTO module_versions (name, version, digest, size, template, api_version, \
             uploaded_at, status, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'registered', ?8) \
             ON CONFLICT (name, version) DO NOTHING",
            params![
                req.name,
                version,
                digest,
                size as i64,
                template,
                api_version,
                now(),
                req.note
            ],
        )?;
        tx.commit()?;
        let stored = self
            .db
            .version(&req.name, &version)?
            .ok_or_else(|| RegistryError::NotFound(req.name.clone(), version.clone()))?;
        if inserted == 0 {
            // Someone else added this name and version at the same moment.
            return self.existing(stored, &digest, bytes);
        }
        Ok(Added {
            version: stored,
            created: true,
        })
    }

    /// An add of a name and version that already exists.
    fn existing(&mut self, existing: ModuleVersion, digest: &str, bytes: &[u8]) -> Result<Added> {
        if existing.digest != digest {
            return Err(RegistryError::Conflict {
                name: existing.name,
                version: existing.version,
                stored: existing.digest,
                uploaded: digest.to_string(),
            });
        }
        if existing.status == Status::Retired {
            // The same bytes again: bring the version back.
            self.write_blob(digest, bytes)?;
            self.db.conn.execute(
                "UPDATE module_versions SET status = 'registered' WHERE id = ?1",
                params![existing.id],
            )?;
            let version = self.get(&existing.name, &existing.version)?;
            return Ok(Added {
                version,
                created: true,
            });
        }
        Ok(Added {
            version: existing,
            created: false,
        })
    }

    fn write_blob(&self, digest: &str, bytes: &[u8]) -> Result<()> {
        let path = self.home.blob(digest);
        if path.exists() {
            return Ok(());
        }
        let io = |e: std::io::Error| {
            RegistryError::Io(format!("cannot write module blob {}: {e}", path.display()))
        };
        std::fs::create_dir_all(self.home.blobs()).map_err(io)?;
        let mut tmp = tempfile::NamedTempFile::new_in(self.home.blobs()).map_err(io)?;
        std::io::Write::write_all(&mut tmp, bytes).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(&path).map_err(|e| io(e.error))?;
        Ok(())
    }

    /// Every version of every module (or of one).
    pub fn list(&self, name: Option<&str>) -> Result<Vec<ModuleVersion>> {
        Ok(self.db.versions(name)?)
    }

    pub fn get(&self, name: &str, version: &str) -> Result<ModuleVersion> {
        self.db
            .version(name, version)?
            .ok_or_else(|| RegistryError::NotFound(name.into(), version.into()))
    }

    pub fn history(&self, name: &str) -> Result<Vec<Deployment>> {
        Ok(self.db.history(name)?)
    }

    pub fn leases(&self, v: &ModuleVersion) -> Result<Vec<Lease>> {
        Ok(self.db.leases(v.id)?)
    }

    /// What `name` or `name@version` runs: the exact version, or the deployed one.
    pub fn resolve(&self, name: &str, version: Option<&str>) -> Result<ModuleVersion> {
        let v = match version {
            Some(v) => self.get(name, v)?,
            None => match self.db.deployed(name)? {
                Some(v) => v,
                None if self.db.versions(Some(name))?.is_empty() => {
                    return Err(RegistryError::NoModule(name.into()));
                }
                None => return Err(RegistryError::NoDeployed(name.into())),
            },
        };
        if v.status == Status::Retired {
            return Err(RegistryError::Retired {
                name: v.name,
                version: v.version,
            });
        }
        Ok(v)
    }

    /// The bytes of a version, checked against its digest.
    pub fn read_blob(&self, v: &ModuleVersion) -> Result<Vec<u8>> {
        let path = self.home.blob(&v.digest);
        let bytes = std::fs::read(&path).map_err(|e| {
            RegistryError::Io(format!(
                "cannot read the blob of {}@{} ({}): {e}",
                v.name,
                v.version,
                path.display()
            ))
        })?;
        let found = crate::digest::sha256(&bytes);
        if found != v.digest {
            return Err(RegistryError::Corrupt {
                name: v.name.clone(),
                version: v.version.clone(),
                expected: v.digest.clone(),
                found,
            });
        }
        Ok(bytes)
    }

    /// Makes `name@version` the deployed version, in one transaction.
    pub fn deploy(
        &mut self,
        name: &str,
        version: &str,
        note: Option<&str>,
    ) -> Result<ModuleVersion> {
        let target = self.resolve(name, Some(version))?;
        self.switch(&target, "deploy", note)?;
        self.get(name, &target.version)
    }

    /// Returns to the version deployed before the current one. Repeating it walks further
    /// back through the history.
    pub fn rollback(&mut self, name: &str) -> Result<ModuleVersion> {
        validate_name(name)?;
        let tx = self
            .db
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: Option<(i64, Option<i64>)> = tx
            .query_row(
                "SELECT id, previous FROM deployments WHERE name = ?1 ORDER BY id DESC LIMIT 1",
                params![name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ok();
        let Some((_, Some(previous))) = current else {
            drop(tx);
            let history = self.history(name)?;
            let text = match history.is_empty() {
                true => "never deployed".to_string(),
                false => history
                    .iter()
                    .map(|d| format!("{} {} at {}", d.action, d.version, d.at))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            return Err(RegistryError::NoHistory(name.into(), text));
        };
        let (version_id, before): (i64, Option<i64>) = tx.query_row(
            "SELECT version_id, previous FROM deployments WHERE id = ?1",
            params![previous],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let target = tx.query_row(
            &format!("SELECT {VERSION_COLUMNS} FROM module_versions WHERE id = ?1"),
            params![version_id],
            version_row,
        )?;
        if target.status == Status::Retired {
            return Err(RegistryError::Retired {
                name: target.name,
                version: target.version,
            });
        }
        Self::set_deployed(&tx, &target)?;
        tx.execute(
            "INSERT INTO deployments (name, version_id, action, at, previous) \
             VALUES (?1, ?2, 'rollback', ?3, ?4)",
            params![name, target.id, now(), before],
        )?;
        tx.commit()?;
        self.get(name, &target.version)
    }

    fn switch(&mut self, target: &ModuleVersion, action: &str, note: Option<&str>) -> Result<()> {
        let tx = self
            .db
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let previous: Option<i64> = tx
            .query_row(
                "SELECT id FROM deployments WHERE name = ?1 ORDER BY id DESC LIMIT 1",
                params![target.name],
                |r| r.get(0),
            )
            .ok();
        Self::set_deployed(&tx, target)?;
        tx.execute(
            "INSERT INTO deployments (name, version_id, action, at, previous, note) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![target.name, target.id, action, now(), previous, note],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn set_deployed(tx: &rusqlite::Transaction<'_>, target: &ModuleVersion) -> Result<()> {
        tx.execute(
            "UPDATE module_versions SET status = 'registered' \
             WHERE name = ?1 AND status = 'deployed'",
            params![target.name],
        )?;
        tx.execute(
            "UPDATE module_versions SET status = 'deployed', deploy_dt = ?2 WHERE id = ?1",
            params![target.id, now()],
        )?;
        Ok(())
    }

    /// Flags a version for removal. It stays runnable where pinned.
    pub fn deprecate(&mut self, name: &str, version: &str) -> Result<ModuleVersion> {
        let v = self.resolve(name, Some(version))?;
        if v.status == Status::Deployed {
            return Err(RegistryError::IsDeployed {
                name: v.name,
                version: v.version,
            });
        }
        self.db.conn.execute(
            "UPDATE module_versions SET status = 'deprecated' WHERE id = ?1",
            params![v.id],
        )?;
        self.get(name, &v.version)
    }

    /// Removes a version's bytes and marks it retired (its row stays, so history still says
    /// what ran). Refused while it is deployed, pinned or used by a live run.
    pub fn remove(&mut self, name: &str, version: &str) -> Result<ModuleVersion> {
        let v = self.resolve(name, Some(version))?;
        if v.status == Status::Deployed {
            return Err(RegistryError::IsDeployed {
                name: v.name,
                version: v.version,
            });
        }
        self.prune_dead_runs(v.id)?;
        let leases = self.db.leases(v.id)?;
        if !leases.is_empty() {
            let holders = leases
                .iter()
                .map(|l| format!("{} {}", l.kind, l.holder))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(RegistryError::InUse {
                name: v.name,
                version: v.version,
                holders,
            });
        }
        self.db.conn.execute(
            "UPDATE module_versions SET status = 'retired' WHERE id = ?1",
            params![v.id],
        )?;
        let still_used: i64 = self.db.conn.query_row(
            "SELECT count(*) FROM module_versions WHERE digest = ?1 AND status != 'retired'",
            params![v.digest],
            |r| r.get(0),
        )?;
        if still_used == 0 {
            let _ = std::fs::remove_file(self.home.blob(&v.digest));
        }
        self.get(name, &v.version)
    }

    /// Records that `holder` uses `v` (a run executing it, or a model rule pinning it).
    pub fn lease(&self, v: &ModuleVersion, kind: &str, holder: &str) -> Result<i64> {
        let pid = (kind == "run").then(std::process::id);
        self.db.conn.execute(
            "INSERT INTO leases (version_id, kind, holder, pid, at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![v.id, kind, holder, pid, now()],
        )?;
        Ok(self.db.conn.last_insert_rowid())
    }

    pub fn release(&self, lease: i64) -> Result<()> {
        self.db
            .conn
            .execute("DELETE FROM leases WHERE id = ?1", params![lease])?;
        Ok(())
    }

    /// Drops run leases whose process is gone (a killed `premod exec`).
    fn prune_dead_runs(&self, version_id: i64) -> Result<()> {
        for lease in self.db.leases(version_id)? {
            if let Some(pid) = lease.pid
                && lease.kind == "run"
                && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            {
                self.release(lease.id)?;
            }
        }
        Ok(())
    }
}

/// The language a component was written in, from its `producers` sections: componentize-py
/// and componentize-js mark their output; otherwise the first source language listed.
pub fn detect_template(bytes: &[u8]) -> Option<String> {
    use wasmparser::{Parser, Payload};
    let mut languages = Vec::new();
    let mut tools = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        let Ok(Payload::CustomSection(section)) = payload else {
            continue;
        };
        let wasmparser::KnownCustom::Producers(reader) = section.as_known() else {
            continue;
        };
        for field in reader.into_iter().flatten() {
            let values: Vec<String> = field
                .values
                .into_iter()
                .flatten()
                .map(|v| v.name.to_string())
                .collect();
            match field.name {
                "language" => languages.extend(values),
                "processed-by" => tools.extend(values),
                _ => {}
            }
        }
    }
    if tools.iter().any(|t| t.contains("componentize-py")) {
        return Some("Python".into());
    }
    if tools.iter().any(|t| t.contains("componentize-js")) {
        return Some("JavaScript".into());
    }
    ["Rust", "C11", "C", "Go", "Python", "JavaScript"]
        .iter()
        .find(|want| languages.iter().any(|l| l.starts_with(*want)))
        .map(|l| if *l == "C11" { "C" } else { l }.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions() {
        validate_name("image_classification_premodule").unwrap();
        for bad in ["", "Image", "a/b", "a.b", "a b", &"x".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(normalize_version("1.0").unwrap(), "1.0.0");
        assert_eq!(normalize_version("2.1.3-rc.1").unwrap(), "2.1.3-rc.1");
        assert!(normalize_version("one").is_err());
        assert_eq!(
            parse_ref("resize@1.2").unwrap(),
            ("resize".into(), Some("1.2.0".into()))
        );
        assert_eq!(parse_ref("resize").unwrap(), ("resize".into(), None));
    }
}
