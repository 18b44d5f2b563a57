//! Step outputs are written to a staging folder beside the target and moved into place only
//! when the step succeeds, so a failed or interrupted step never leaves a half-written output
//! that looks complete, and the target keeps what it had.

use crate::error::StepError;
use std::path::{Path, PathBuf};

/// A staging folder for one target folder. Dropping it without [`Staged::commit`] removes it.
#[derive(Debug)]
pub struct Staged {
    target: PathBuf,
    staging: PathBuf,
    replace: bool,
    committed: bool,
}

/// Prefix of every staging folder name; recovery removes leftovers with it.
pub const STAGING_PREFIX: &str = ".premod-staging-";

fn sibling(target: &Path, tag: &str) -> Result<PathBuf, StepError> {
    let name = target.file_name().ok_or_else(|| {
        StepError::invalid_input(format!(
            "output folder {} has no name; give a folder such as ./out",
            target.display()
        ))
    })?;
    let parent = target.parent().unwrap_or(Path::new("."));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    Ok(parent.join(format!(
        "{tag}{}-{}-{nanos}",
        name.to_string_lossy(),
        std::process::id()
    )))
}

impl Staged {
    /// Checks `target` and creates an empty staging folder beside it. Without `replace`,
    /// `target` must be missing or empty.
    pub fn prepare(target: &Path, replace: bool) -> Result<Staged, StepError> {
        match std::fs::symlink_metadata(target) {
            Ok(meta) if meta.is_dir() => {
                let non_empty = std::fs::read_dir(target)
                    .map_err(|e| {
                        StepError::invalid_input(format!("cannot read {}: {e}", target.display()))
                    })?
                    .next()
                    .is_some();
                if non_empty && !replace {
                    return Err(StepError::invalid_input(format!(
                        "output folder {} is not empty; premod writes into an empty or new folder \
                         (choose another folder, empty this one, or pass --replace to swap its \
                         contents when the step succeeds)",
                        target.display()
                    )));
                }
            }
            Ok(_) => {
                return Err(StepError::invalid_input(format!(
                    "{} exists and is not a folder; give a folder for the output",
                    target.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(StepError::invalid_input(format!(
                    "cannot inspect {}: {e}",
                    target.display()
                )));
            }
        }
        let staging = sibling(target, STAGING_PREFIX)?;
        if let Some(parent) = staging.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                StepError::invalid_input(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        std::fs::create_dir(&staging).map_err(|e| {
            StepError::invalid_input(format!(
                "cannot create the staging folder {}: {e}",
                staging.display()
            ))
        })?;
        Ok(Staged {
            target: target.to_path_buf(),
            staging,
            replace,
            committed: false,
        })
    }

    /// Where the step writes.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Moves the staging folder into place. Renames within one parent folder, so the target
    /// switches from its old contents to the new ones without a half-copied state.
    pub fn commit(mut self) -> std::io::Result<()> {
        match std::fs::symlink_metadata(&self.target) {
            Ok(_) if self.replace => {
                let old = sibling(&self.target, ".premod-old-")
                    .map_err(|e| std::io::Error::other(e.message))?;
                std::fs::rename(&self.target, &old)?;
                if let Err(e) = std::fs::rename(&self.staging, &self.target) {
                    // Put the old contents back; the staging folder is removed on drop.
                    let _ = std::fs::rename(&old, &self.target);
                    return Err(e);
                }
                self.committed = true;
                std::fs::remove_dir_all(&old)?;
            }
            Ok(_) => {
                // Checked empty in prepare(); remove_dir fails if something appeared since.
                std::fs::remove_dir(&self.target)?;
                std::fs::rename(&self.staging, &self.target)?;
                self.committed = true;
            }
            Err(_) => {
                std::fs::rename(&self.staging, &self.target)?;
                self.committed = true;
            }
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            // std's remove_dir_all does not follow symbolic links.
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_moves_into_a_new_folder_and_drop_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        let staged = Staged::prepare(&target, false).unwrap();
        std::fs::write(staged.path().join("a.txt"), "a").unwrap();
        staged.commit().unwrap();
        assert_eq!(std::fs::read_to_string(target.join("a.txt")).unwrap(), "a");

        let again = Staged::prepare(&target, false).unwrap_err();
        assert!(again.message.contains("not empty"), "{again}");

        let staged = Staged::prepare(&target, true).unwrap();
        std::fs::write(staged.path().join("b.txt"), "b").unwrap();
        let staging = staged.path().to_path_buf();
        drop(staged);
        assert!(!staging.exists());
        assert!(
            target.join("a.txt").exists(),
            "failed step left the target as it was"
        );

        let staged = Staged::prepare(&target, true).unwrap();
        std::fs::write(staged.path().join("b.txt"), "b").unwrap();
        staged.commit().unwrap();
        assert!(!target.join("a.txt").exists());
        assert!(target.join("b.txt").exists());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "only the target remains");
    }
}
