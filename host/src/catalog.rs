//! Datasets and preprocessing models, stored beside the module registry in the same database.

use crate::model::ModelDef;
use crate::registry::{Registry, RegistryError};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("dataset {0} already exists (collection {1}); remove it first or pick another name")]
    DatasetExists(String, String),
    #[error("collection folder {0} cannot be used: {1}")]
    BadCollection(String, String),
    #[error("no dataset named {0}; add it with `premod dataset add {0} --collection DIR`")]
    NoDataset(String),
    #[error("model {0} already exists; remove it with `premod model rm {0}` first")]
    ModelExists(String),
    #[error("no model named {0}; `premod model list` shows the models")]
    NoModel(String),
    #[error("dataset {0} is the reference dataset of model(s) {1}; remove those first")]
    DatasetInUse(String, String),
    #[error(
        "model {0} has {1} run(s); delete them first with `premod rm RUN` (`premod runs` lists them)"
    )]
    ModelHasRuns(String, i64),
    #[error("rules[{0}].module: {1}")]
    Module(usize, RegistryError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
}

impl CatalogError {
    pub fn is_bad_input(&self) -> bool {
        match self {
            CatalogError::Db(_) => false,
            CatalogError::Registry(e) | CatalogError::Module(_, e) => e.is_bad_input(),
            _ => true,
        }
    }
}

type Result<T> = std::result::Result<T, CatalogError>;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Dataset {
    pub name: String,
    pub collection: String,
    pub repo_type: String,
    pub created_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Model {
    #[serde(flatten)]
    pub def: ModelDef,
    pub created_at: String,
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn pin_holder(model: &str, rule: usize) -> String {
    format!("model {model} rule {rule}")
}

/// Adds, lists and removes datasets and models.
pub struct Catalog<'r> {
    reg: &'r mut Registry,
}

impl<'r> Catalog<'r> {
    pub fn new(reg: &'r mut Registry) -> Self {
        Catalog { reg }
    }

    fn conn(&self) -> &rusqlite::Connection {
        &self.reg.db().conn
    }

    pub fn add_dataset(&mut self, name: &str, collection: &Path) -> Result<Dataset> {
        crate::registry::validate_name(name)?;
        let shown = collection.display().to_string();
        let meta = std::fs::metadata(collection)
            .map_err(|e| CatalogError::BadCollection(shown.clone(), e.to_string()))?;
        if !meta.is_dir() {
            return Err(CatalogError::BadCollection(shown, "not a folder".into()));
        }
        let path = std::fs::canonicalize(collection)
            .map_err(|e| CatalogError::BadCollection(shown, e.to_string()))?;
        if let Ok(d) = self.dataset(name) {
            return Err(CatalogError::DatasetExists(d.name, d.collection));
        }
        self.conn().execute(
            "INSERT INTO datasets (name, collection, repo_type, created_at) \
             VALUES (?1, ?2, 'path', ?3)",
            params![name, path.display().to_string(), now()],
        )?;
        self.dataset(name)
    }

    pub fn dataset(&self, name: &str) -> Result<Dataset> {
        self.conn()
            .query_row(
                "SELECT name, collection, repo_type, created_at FROM datasets WHERE name = ?1",
                params![name],
                |r| {
                    Ok(Dataset {
                        name: r.get(0)?,
                        collection: r.get(1)?,
                        repo_type: r.get(2)?,
                        created_at: r.get(3)?,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| CatalogError::NoDataset(name.into()))
    }

    pub fn datasets(&self) -> Result<Vec<Dataset>> {
        let mut stmt = self.conn().prepare(
            "SELECT name, collection, repo_type, created_at FROM datasets ORDER BY name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Dataset {
                name: r.get(0)?,
                collection: r.get(1)?,
                repo_type: r.get(2)?,
                created_at: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn remove_dataset(&mut self, name: &str) -> Result<Dataset> {
        let d = self.dataset(name)?;
        let users: Vec<String> = self
            .models()?
            .into_iter()
            .filter(|m| m.def.dataset == name)
            .map(|m| m.def.name)
            .collect();
        if !users.is_empty() {
            return Err(CatalogError::DatasetInUse(name.into(), users.join(", ")));
        }
        self.conn()
            .execute("DELETE FROM datasets WHERE name = ?1", params![name])?;
        Ok(d)
    }

    /// Stores a validated model. Its dataset must exist and every rule's module must resolve
    /// now; rules that pin a version hold it (it cannot be removed while the model exists).
    pub fn create_model(&mut self, def: &ModelDef) -> Result<Model> {
        self.dataset(&def.dataset)?;
        if self.model(&def.name).is_ok() {
            return Err(CatalogError::ModelExists(def.name.clone()));
        }
        let mut pins = Vec::new();
        for (i, rule) in def.rules.iter().enumerate() {
            let (name, version) =
                crate::registry::parse_ref(&rule.module).map_err(|e| CatalogError::Module(i, e))?;
            match version {
                Some(v) => pins.push((
                    i,
                    self.reg
                        .resolve(&name, Some(&v))
                        .map_err(|e| CatalogError::Module(i, e))?,
                )),
                None => {
                    // Following the deployed version: the module must exist; it may be
                    // deployed later, and each run resolves it when it starts.
                    if self.reg.list(Some(&name))?.is_empty() {
                        return Err(CatalogError::Module(i, RegistryError::NoModule(name)));
                    }
                }
            }
        }
        let json = serde_json::to_string(def).expect("a model serializes");
        self.conn().execute(
            "INSERT INTO models (name, dataset, definition, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![def.name, def.dataset, json, now()],
        )?;
        for (i, v) in pins {
            self.reg.lease(&v, "pin", &pin_holder(&def.name, i))?;
        }
        self.model(&def.name)
    }

    pub fn model(&self, name: &str) -> Result<Model> {
        self.conn()
            .query_row(
                "SELECT definition, created_at FROM models WHERE name = ?1",
                params![name],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()?
            .map(|(json, created_at)| Model {
                def: serde_json::from_str(&json).expect("stored models are valid"),
                created_at,
            })
            .ok_or_else(|| CatalogError::NoModel(name.into()))
    }

    pub fn models(&self) -> Result<Vec<Model>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT definition, created_at FROM models ORDER BY name")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (json, created_at) = row?;
            out.push(Model {
                def: serde_json::from_str(&json).expect("stored models are valid"),
                created_at,
            });
        }
        Ok(out)
    }

    /// Removes a model and releases the versions it pinned.
    pub fn remove_model(&mut self, name: &str) -> Result<Model> {
        let m = self.model(name)?;
        let runs: i64 = self.conn().query_row(
            "SELECT count(*) FROM runs WHERE model = ?1",
            params![name],
            |r| r.get(0),
        )?;
        if runs > 0 {
            return Err(CatalogError::ModelHasRuns(name.into(), runs));
        }
        for i in 0..m.def.rules.len() {
            self.conn().execute(
                "DELETE FROM leases WHERE kind = 'pin' AND holder = ?1",
                params![pin_holder(name, i)],
            )?;
        }
        self.conn()
            .execute("DELETE FROM models WHERE name = ?1", params![name])?;
        Ok(m)
    }
}
