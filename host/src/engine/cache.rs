//! Precompiled components on disk, keyed by module digest and by everything about the engine
//! that makes compiled code compatible (wasmtime version and settings).
//!
//! Only premod writes these files: a component is compiled from bytes that passed `check`,
//! serialized, and written atomically beside a CRC-32 of the artifact. Loading maps the file
//! and verifies the CRC over the mapping before anything from it runs; anything missing,
//! stale or corrupt is deleted and rebuilt. premod never loads a precompiled file it did not write (deserializing
//! untrusted artifacts is unsafe), so there is no way to import one.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use wasmtime::component::Component;

pub(crate) struct ArtifactCache {
    dir: PathBuf,
}

impl ArtifactCache {
    /// The cache folder for this engine under `root`: `root/wasmtime-<version>-<settings>`.
    pub(crate) fn new(root: &Path, engine: &wasmtime::Engine) -> Self {
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let key = format!("wasmtime-{}-{:016x}", wasmtime_version(), hasher.finish());
        ArtifactCache {
            dir: root.join(key),
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn paths(&self, digest: &str) -> (PathBuf, PathBuf) {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        (
            self.dir.join(format!("{hex}.cwasm")),
            self.dir.join(format!("{hex}.crc")),
        )
    }

    /// The cached component for `digest`, if a valid one exists.
    ///
    /// The artifact is mapped, not read: wasmtime's `deserialize_file` maps the file and runs
    /// the code from that mapping, so nothing is copied. The CRC-32 is then checked over that
    /// very mapping (`image_range` is the whole file: wasmtime applies no relocations to it)
    /// before anything from it runs. Artifacts are only ever replaced by rename, so a mapped
    /// file never changes under a running module.
    pub(crate) fn load(&self, engine: &wasmtime::Engine, digest: &str) -> Option<Component> {
        let (art, sum) = self.paths(digest);
        if !art.is_file() {
            return None;
        }
        let corrupt = |why: &str| {
            tracing::warn!(path = %art.display(), why, "precompiled artifact is corrupt or incomplete; rebuilding");
            self.remove(digest);
            None
        };
        let Ok(expected) = std::fs::read_to_string(&sum) else {
            return corrupt("no checksum file");
        };
        // SAFETY: the artifact was produced by `Component::serialize` in `store` below (only
        // premod writes this folder, atomically); its checksum is verified right below,
        // before the component is used.
        let component = match unsafe { Component::deserialize_file(engine, &art) } {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(path = %art.display(), error = %e, "precompiled artifact is stale or unreadable; rebuilding");
                self.remove(digest);
                return None;
            }
        };
        let image = component.image_range();
        // SAFETY: `image_range` is the mapping the component owns; it lives as long as
        // `component` and is only read here.
        let bytes = unsafe {
            std::slice::from_raw_parts(image.start, image.end as usize - image.start as usize)
        };
        if checksum(bytes) != expected {
            return corrupt("checksum mismatch");
        }
        Some(component)
    }

    /// Writes `component`'s artifact for `digest`. Failures only cost a later recompile.
    pub(crate) fn store(&self, component: &Component, digest: &str) {
        if let Err(e) = self.try_store(component, digest) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot write precompiled artifact");
        }
    }

    fn try_store(&self, component: &Component, digest: &str) -> anyhow::Result<()> {
        let bytes = component.serialize()?;
        std::fs::create_dir_all(&self.dir)?;
        let (art, sum) = self.paths(digest);
        write_atomic(&art, &bytes)?;
        write_atomic(&sum, checksum(&bytes).as_bytes())?;
        Ok(())
    }

    pub(crate) fn remove(&self, digest: &str) {
        let (art, sum) = self.paths(digest);
        let _ = std::fs::remove_file(art);
        let _ = std::fs::remove_file(sum);
    }
}

fn wasmtime_version() -> &'static str {
    // The exact pin in the workspace manifest; cache keys also hash the engine's own
    // compatibility data, so a mismatch here only costs a recompile.
    "48.0.8"
}

fn checksum(bytes: &[u8]) -> String {
    format!("crc32:{:08x} len:{}", crc32fast::hash(bytes), bytes.len())
}

/// Writes `path` so that readers see the old file or the whole new one, never a part.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
