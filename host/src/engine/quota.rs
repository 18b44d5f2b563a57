//! Output quota: WASI has no notion of one, so the host counts every byte and file the module
//! writes while it writes, and traps the module the moment it would go over.

use std::sync::atomic::{AtomicU64, Ordering};

/// Shared counters for one step's writable mounts (`/output` and `/meta` together).
#[derive(Debug)]
pub(crate) struct OutputQuota {
    max_bytes: u64,
    max_files: u64,
    bytes: AtomicU64,
    files: AtomicU64,
}

/// The trap raised when a module goes over its output limits.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OutputLimitExceeded {
    #[error(
        "the module tried to write more than the output limit of {limit} bytes \
         ({attempted} requested); raise it with --max-output if the dataset really is that large"
    )]
    Bytes { limit: u64, attempted: u64 },
    #[error(
        "the module tried to create more than the limit of {limit} files and directories; \
         raise it with --max-files if the dataset really has that many"
    )]
    Files { limit: u64 },
}

impl OutputQuota {
    pub(crate) fn new(max_bytes: u64, max_files: u64) -> Self {
        OutputQuota {
            max_bytes,
            max_files,
            bytes: AtomicU64::new(0),
            files: AtomicU64::new(0),
        }
    }

    /// Reserves `n` bytes, or refuses without reserving anything.
    pub(crate) fn charge_bytes(&self, n: u64) -> Result<(), OutputLimitExceeded> {
        let mut current = self.bytes.load(Ordering::Relaxed);
        loop {
            let next = current.saturating_add(n);
            if next > self.max_bytes {
                return Err(OutputLimitExceeded::Bytes {
                    limit: self.max_bytes,
                    attempted: next,
                });
            }
            match self.bytes.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(seen) => current = seen,
            }
        }
    }

    /// Reserves one file or directory entry.
    pub(crate) fn charge_file(&self) -> Result<(), OutputLimitExceeded> {
        let previous = self.files.fetch_add(1, Ordering::Relaxed);
        if previous >= self.max_files {
            self.files.fetch_sub(1, Ordering::Relaxed);
            return Err(OutputLimitExceeded::Files {
                limit: self.max_files,
            });
        }
        Ok(())
    }

    /// Gives back a file reservation whose creation failed.
    pub(crate) fn refund_file(&self) {
        self.files.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn files(&self) -> u64 {
        self.files.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_without_reserving() {
        let q = OutputQuota::new(10, 1);
        q.charge_bytes(6).unwrap();
        assert!(q.charge_bytes(5).is_err());
        assert_eq!(q.bytes(), 6);
        q.charge_bytes(4).unwrap();
        assert_eq!(q.bytes(), 10);
        q.charge_file().unwrap();
        assert!(q.charge_file().is_err());
        assert_eq!(q.files(), 1);
        q.refund_file();
        q.charge_file().unwrap();
    }
}
