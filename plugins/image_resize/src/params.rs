//! The rule's params.

use serde::Deserialize;

/// What the module can be told.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Guest folder holding the images; `None`: `/input` if mounted, else `/collection`.
    pub root: Option<String>,
    /// Width and height of the output, in pixels.
    pub size: u32,
    /// File-name endings that are images (compared ignoring case).
    pub extensions: Vec<String>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            root: None,
            size: 224,
            extensions: vec![".png".into(), ".jpg".into(), ".jpeg".into()],
        }
    }
}

impl Params {
    /// Parses the params JSON, naming the problem and the valid fields on error.
    pub fn parse(json: &str) -> Result<Params, String> {
        let p: Params = serde_json::from_str(json).map_err(|e| {
            format!("{e}; valid params are `root` (a folder), `size` (1..=8192), `extensions`")
        })?;
        if !(1..=8192).contains(&p.size) {
            return Err(format!("`size` must be 1..=8192, got {}", p.size));
        }
        Ok(p)
    }

    /// The item root for a step that has (or has not) an `/input`.
    pub fn root(&self, input: Option<&str>) -> String {
        match (&self.root, input) {
            (Some(root), _) => root.clone(),
            (None, Some(input)) => input.to_string(),
            (None, None) => "/collection".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors() {
        let p = Params::parse("{}").unwrap();
        assert_eq!(p.size, 224);
        assert_eq!(p.root(Some("/input")), "/input");
        assert_eq!(p.root(None), "/collection");
        assert!(
            Params::parse(r#"{"size": 0}"#)
                .unwrap_err()
                .contains("1..=8192")
        );
        assert!(
            Params::parse(r#"{"sise": 3}"#)
                .unwrap_err()
                .contains("`size`")
        );
    }
}
