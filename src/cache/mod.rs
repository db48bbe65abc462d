//! Local build cache: content-addressed blobs, one entry per task key, all-or-nothing verified
//! restores, the production-venv store, TTL + LRU eviction over every store, `why` reports and
//! dry-run diffs.
//!
//! Scheduler wiring, per task (every `Err` becomes a warning; the build goes on):
//! ```ignore
//! let store = Store::open(cache_dir, StoreOptions { warn: Some(warn_fn), ..Default::default() })?;
//! match store.lookup(&manifest.key)? {
//!   Some(entry) => match store.restore_with_stat(&entry, &[("dist", &dist_dir)], Some(&stat)) {
//!     Ok(report) => { replay(report.logs); return Ok(report.result) }
//!     Err(e) => warn(&e.to_string()), // outputs untouched; bad entries dropped: rebuild
//!   },
//!   None => {}
//! }
//! let (result, logs) = run_task()?;
//! if let Err(e) = store.save(&manifest, &[("dist", &dist_dir)], &result, &logs) { warn(&e.to_string()) }
//! // once per build:
//! let _ = store.evict(SystemTime::now());
//! ```

mod diff;
mod entry;
mod error;
mod evict;
mod fsutil;
pub mod remote;
mod restore;
mod store;
mod tree;
mod txn;
mod venvs;
mod why;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_noop;
#[cfg(test)]
mod tests_restore;
#[cfg(test)]
mod tests_stores;

pub use diff::{
  diff_dry_runs, DryRunDiff, DryRunDiffError, DryRunEntry, DryRunFile, TaskDiff, TaskDiffKind,
};
pub use entry::{BlobRef, Entry, OutputKind, OutputRecord, ENTRY_FORMAT};
pub use error::{CacheError, DamageKind, RestoreError, TreeDamage};
pub use evict::{EvictReport, StoreStatus, EVICT_INTERVAL};
pub use store::{
  RestoreMode, RestoreReport, SaveReport, Store, StoreOptions, WarnFn, DEFAULT_MAX_SIZE,
  DEFAULT_TTL, LRU_GRANULARITY,
};
pub use tree::{TreeKind, TreeManifest, TreeRecord};
pub use venvs::{
  VenvCheck, VenvDamage, VenvLock, VenvMarker, VenvStore, VENV_MARKER, VENV_MARKER_FORMAT,
};
pub use why::{diff_manifests, Change, Previous, WhyReport};
