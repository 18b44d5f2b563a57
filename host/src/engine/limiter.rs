//! Memory limits for a whole instance. wasmtime's `StoreLimits` caps each linear memory on its
//! own; a component has several, so the host sums them (and tables) here.

use wasmtime::ResourceLimiter;

/// Trap raised when a module grows its memory past the step's limit.
#[derive(Debug, thiserror::Error)]
#[error(
    "the module tried to use {requested} bytes of memory, over the limit of {limit} bytes; \
     raise it with --memory if the dataset needs it"
)]
pub(crate) struct MemoryLimitExceeded {
    pub(crate) limit: u64,
    pub(crate) requested: u64,
}

/// Counts every memory and table of one store against one budget.
pub(crate) struct InstanceLimiter {
    limit: u64,
    current: u64,
    peak: u64,
}

/// Tables count as this many bytes per element (a function reference on the host).
const TABLE_ELEMENT_BYTES: u64 = 8;

impl InstanceLimiter {
    pub(crate) fn new(limit: u64) -> Self {
        InstanceLimiter {
            limit,
            current: 0,
            peak: 0,
        }
    }

    pub(crate) fn peak(&self) -> u64 {
        self.peak
    }

    fn grow(&mut self, from: u64, to: u64) -> wasmtime::Result<bool> {
        let next = self.current.saturating_sub(from).saturating_add(to);
        if next > self.limit {
            return Err(MemoryLimitExceeded {
                limit: self.limit,
                requested: next,
            }
            .into());
        }
        self.current = next;
        self.peak = self.peak.max(next);
        Ok(true)
    }
}

impl ResourceLimiter for InstanceLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(current as u64, desired as u64)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(
            current as u64 * TABLE_ELEMENT_BYTES,
            desired as u64 * TABLE_ELEMENT_BYTES,
        )
    }

    // A component instantiates a handful of core instances; these bounds are far above any
    // real module and far below what would exhaust the host.
    fn instances(&self) -> usize {
        256
    }

    fn tables(&self) -> usize {
        256
    }

    fn memories(&self) -> usize {
        64
    }
}
