//! Preprocessing models as users write them: a TOML (or JSON) file with the model's name, its
//! reference dataset, the dataset's columns and an ordered list of rules. Parsing rejects
//! unknown fields and reports the file, line and field of every mistake.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// A model definition, as written in a model file and stored in the database.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelDef {
    /// Model name: a-z, 0-9, `_`, `-`.
    pub name: String,
    /// The reference dataset (`premod dataset add`).
    pub dataset: String,
    /// The dataset's columns, in order.
    pub columns: Vec<ColumnDef>,
    /// The rules, applied in order.
    pub rules: Vec<RuleDef>,
}

/// One dataset column (the seed's Step 2: used, column, type, ID, LABEL).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnDef {
    pub name: String,
    #[serde(default = "yes")]
    pub used: bool,
    /// `file`, `text`, `number`, `category`, `datetime` or `image`.
    #[serde(rename = "type")]
    pub data_type: String,
    #[serde(default)]
    pub id: bool,
    #[serde(default)]
    pub label: bool,
}

fn yes() -> bool {
    true
}

/// One rule (the seed's Step 3: source column -> premodule).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    /// Position of the rule; rules run in this order, numbered from 0.
    pub rule_no: u32,
    /// Columns the rule reads; each must be a used column of the model.
    pub source_columns: Vec<String>,
    /// `name` (follows the deployed version) or `name@version` (pinned).
    pub module: String,
    /// The rule's parameters, a JSON/TOML table.
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
}

/// Column types a model may use.
pub const COLUMN_TYPES: &[&str] = &["file", "text", "number", "category", "datetime", "image"];

/// A model file that could not be used: where, and what to fix.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {message}", location.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
pub struct ModelFileError {
    pub file: String,
    /// 1-based line and column, when the mistake is at one place in the file.
    pub location: Option<(usize, usize)>,
    pub message: String,
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, col)
}

impl ModelDef {
    /// The columns `rule` reads, with their types from the model's column list: what a step
    /// of that rule is given as its source columns.
    pub fn source_columns(&self, rule: &RuleDef) -> Vec<crate::step::Column> {
        rule.source_columns
            .iter()
            .map(|c| crate::step::Column {
                name: c.clone(),
                data_type: self
                    .columns
                    .iter()
                    .find(|d| &d.name == c)
                    .map(|d| d.data_type.clone())
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// Reads a model file: `.json` as JSON, anything else as TOML.
    pub fn from_file(path: &Path) -> Result<ModelDef, ModelFileError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ModelFileError {
            file: file.clone(),
            location: None,
            message: format!("cannot read the model file: {e}"),
        })?;
        let json = path.extension().is_some_and(|e| e == "json");
        Self::parse(&file, &text, json)
    }

    /// Parses and validates model text; `file` names it in errors.
    pub fn parse(file: &str, text: &str, json: bool) -> Result<ModelDef, ModelFileError> {
        let def: ModelDef = if json {
            serde_json::from_str(text).map_err(|e| ModelFileError {
                file: file.into(),
                location: Some((e.line(), e.column())),
                message: e.to_string(),
            })?
        } else {
            toml::from_str(text).map_err(|e| ModelFileError {
                file: file.into(),
                location: e.span().map(|s| line_col(text, s.start)),
                message: e.message().trim().to_string(),
            })?
        };
        def.validate().map_err(|message| ModelFileError {
            file: file.into(),
            location: None,
            message,
        })?;
        Ok(def)
    }

    /// Checks what the format cannot: names, types, rule order, source columns.
    pub fn validate(&self) -> Result<(), String> {
        crate::registry::validate_name(&self.name).map_err(|e| format!("name: {e}"))?;
        crate::registry::validate_name(&self.dataset).map_err(|e| format!("dataset: {e}"))?;
        if self.columns.is_empty() {
            return Err("columns: a model needs at least one column".into());
        }
        for (i, c) in self.columns.iter().enumerate() {
            if !COLUMN_TYPES.contains(&c.data_type.as_str()) {
                return Err(format!(
                    "columns[{i}].type: unknown column type {:?}; use one of {}",
                    c.data_type,
                    COLUMN_TYPES.join(", ")
                ));
            }
            if self.columns[..i].iter().any(|o| o.name == c.name) {
                return Err(format!(
                    "columns[{i}].name: column {:?} is listed twice",
                    c.name
                ));
            }
        }
        if self.rules.is_empty() {
            return Err("rules: a model needs at least one rule".into());
        }
        for (i, r) in self.rules.iter().enumerate() {
            if r.rule_no as usize != i {
                return Err(format!(
                    "rules[{i}].rule_no: rules are numbered 0, 1, 2, ... in order; expected {i}, \
                     got {}",
                    r.rule_no
                ));
            }
            crate::registry::parse_ref(&r.module).map_err(|e| format!("rules[{i}].module: {e}"))?;
            if r.source_columns.is_empty() {
                return Err(format!(
                    "rules[{i}].source_columns: name at least one column"
                ));
            }
            for s in &r.source_columns {
                match self.columns.iter().find(|c| &c.name == s) {
                    None => {
                        return Err(format!(
                            "rules[{i}].source_columns: no column named {s:?} (columns: {})",
                            self.columns
                                .iter()
                                .map(|c| c.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                    Some(c) if !c.used => {
                        return Err(format!(
                            "rules[{i}].source_columns: column {s:?} is not used (used = false)"
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }

    /// The step name of rule `i`: `{rule_no}_{module name}`, as the seed shows it.
    pub fn step_name(&self, i: usize) -> String {
        let module = self.rules[i].module.split('@').next().unwrap_or_default();
        format!("{}_{module}", self.rules[i].rule_no)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("../../examples/models/image_classification_premodel.toml");

    #[test]
    fn the_seed_model_parses() {
        let m = ModelDef::parse("seed.toml", SEED, false).unwrap();
        assert_eq!(m.name, "image_classification_premodel");
        assert_eq!(m.dataset, "image_classification_dataset");
        assert_eq!(m.columns[0].data_type, "file");
        assert!(m.columns[0].used && !m.columns[0].id && !m.columns[0].label);
        assert_eq!(m.rules[0].module, "image_classification_premodule");
        assert_eq!(m.step_name(0), "0_image_classification_premodule");
    }

    #[test]
    fn errors_name_the_file_line_and_field() {
        let typo = SEED.replace("source_columns", "source_colums");
        let e = ModelDef::parse("m.toml", &typo, false).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("m.toml:"), "{text}");
        assert!(text.contains("source_colums"), "{text}");
        let line = typo
            .lines()
            .position(|l| l.contains("source_colums"))
            .unwrap()
            + 1;
        assert_eq!(e.location.map(|l| l.0), Some(line), "{text}");

        let bad_type = SEED.replace("type = \"file\"", "type = \"blob\"");
        let e = ModelDef::parse("m.toml", &bad_type, false).unwrap_err();
        assert!(e.to_string().contains("columns[0].type"), "{e}");

        let missing = SEED.replace(
            "source_columns = [\"dataset\"]",
            "source_columns = [\"pixels\"]",
        );
        let e = ModelDef::parse("m.toml", &missing, false).unwrap_err();
        assert!(e.to_string().contains("no column named \"pixels\""), "{e}");

        let e = ModelDef::parse("m.json", "{\"name\": 1}", true).unwrap_err();
        assert_eq!(e.location.map(|l| l.0), Some(1), "{e}");
    }
}
