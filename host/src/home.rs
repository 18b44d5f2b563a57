//! The premod home folder, resolved in one place: `--home`, then `PREMOD_HOME`, then
//! `$XDG_DATA_HOME/premod`, then `~/.local/share/premod`.
//!
//! ```text
//! $PREMOD_HOME/
//!   premod.db                      SQLite: the one source of truth for metadata
//!   modules/sha256/<hex>.wasm      module blobs, content-addressed, written before their row
//!   cache/wasmtime-<v>-<settings>/ precompiled artifacts (rebuildable; see engine::cache)
//! ```

use anyhow::Context;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// Resolves the home folder and creates it if needed.
    pub fn resolve(flag: Option<&Path>) -> anyhow::Result<Home> {
        let root = match flag {
            Some(p) => p.to_path_buf(),
            None => match std::env::var_os("PREMOD_HOME").filter(|v| !v.is_empty()) {
                Some(p) => PathBuf::from(p),
                None => default_home()?,
            },
        };
        Home::at(root)
    }

    /// Uses `root` as the home folder, creating it if needed.
    pub fn at(root: impl Into<PathBuf>) -> anyhow::Result<Home> {
        let root = root.into();
        std::fs::create_dir_all(&root)
            .with_context(|| format!("cannot create the premod home folder {}", root.display()))?;
        let root = std::fs::canonicalize(&root)?;
        Ok(Home { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn database(&self) -> PathBuf {
        self.root.join("premod.db")
    }

    pub fn blobs(&self) -> PathBuf {
        self.root.join("modules").join("sha256")
    }

    /// Where the blob with `digest` (`sha256:<hex>`) lives.
    pub fn blob(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.blobs().join(format!("{hex}.wasm"))
    }

    pub fn cache(&self) -> PathBuf {
        self.root.join("cache")
    }
}

fn default_home() -> anyhow::Result<PathBuf> {
    if let Some(data) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(data).join("premod"));
    }
    let home = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .context("cannot find a home folder for premod: set PREMOD_HOME or pass --home DIR")?;
    Ok(PathBuf::from(home).join(".local/share/premod"))
}
