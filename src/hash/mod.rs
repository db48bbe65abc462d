//! Content hashing for task keys: a parallel input walk with a persistent stat cache, and the
//! canonical, versioned task-key computation.
//!
//! Typical use per task:
//! ```ignore
//! let stat_cache = StatCache::load(".farm/stat-cache.bin");            // once per build
//! let inputs = hash_inputs(&InputSpec::new("apps/web", globs).ignore_dir("dist"), &stat_cache)?;
//! let manifest = KeyInput { task: "web:build".into(), inputs: inputs.files, ..Default::default() }
//!   .into_manifest();                                                   // manifest.key = 32 hex
//! stat_cache.save()?;                                                    // once, at the end
//! ```

mod digest;
mod error;
mod key;
mod stat_cache;
mod walk;

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod tests_many;

pub use digest::{hash_file, hash_open_file, hash_reader, Digest};
pub use error::HashError;
pub use key::{
  canonical_json, canonicalize, declared_env, env_value_digest, KeyInput, KeyManifest,
  KEY_ENCODING_VERSION, LOCATION_FACT,
};
pub use stat_cache::{
  modified_ns, FileCheck, FileStat, Observed, ObservedLookup, StatCache, FORGET_AFTER_DAYS,
};
pub use walk::{
  hash_inputs, hash_inputs_many, hash_inputs_observed, patient_parallelism, HashStats, InputFile,
  InputSet, InputSpec, ALWAYS_IGNORED_DIRS,
};
