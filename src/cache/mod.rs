//! Local build cache: content-addressed blobs, one entry per task key, verified restores,
//! TTL + LRU eviction, and `why` reports.
//!
//! Scheduler wiring, per task (every `Err` becomes a warning; the build goes on):
//! ```ignore
//! let store = Store::open(cache_dir, StoreOptions { warn: Some(warn_fn), ..Default::default() })?;
//! match store.lookup(&manifest.key)? {
//!   Some(entry) => match store.restore(&entry, &[("dist", &dist_dir)]) {
//!     Ok(report) => { replay(report.logs); return Ok(report.result) }
//!     Err(e) => warn(&e.to_string()), // entry already dropped: fall through and rebuild
//!   },
//!   None => {}
//! }
//! let (result, logs) = run_task()?;
//! if let Err(e) = store.save(&manifest, &[("dist", &dist_dir)], &result, &logs) { warn(&e.to_string()) }
//! // once per build:
//! let _ = store.evict(SystemTime::now());
//! ```

mod entry;
mod error;
mod evict;
mod fsutil;
mod store;
mod why;

#[cfg(test)]
mod tests;

pub use entry::{BlobRef, Entry, OutputKind, OutputRecord, ENTRY_FORMAT};
pub use error::{CacheError, RestoreError};
pub use evict::{EvictReport, StoreStatus};
pub use store::{
  RestoreMode, RestoreReport, SaveReport, Store, StoreOptions, WarnFn, DEFAULT_MAX_SIZE,
  DEFAULT_TTL,
};
pub use why::{diff_manifests, Change, Previous, WhyReport};
