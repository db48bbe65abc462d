//! Errors of the cache store. Every one of them should become a warning at the call site:
//! a cache failure never fails a build.

use std::io;
use std::path::PathBuf;

/// A failure while opening, saving to, or maintaining the store.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
  /// An I/O operation failed (disk full, permissions, ...).
  #[error("build cache: {action} {path}: {source}")]
  Io {
    /// What was being done.
    action: &'static str,
    /// The file or directory concerned.
    path: PathBuf,
    /// The underlying error.
    #[source]
    source: io::Error,
  },
  /// A key is not 32 lowercase hex characters.
  #[error("build cache: invalid key {0:?} (expected 32 lowercase hex characters)")]
  InvalidKey(String),
  /// An output label is empty or contains a path separator.
  #[error("build cache: invalid output label {0:?} (use a plain name such as \"dist\")")]
  InvalidLabel(String),
  /// An output file changed while it was being copied into the cache.
  #[error("build cache: output {path} changed while it was being saved; not caching this run")]
  OutputChanged {
    /// The output file.
    path: PathBuf,
  },
  /// A path inside an output directory is not valid UTF-8.
  #[error("build cache: output path {path} is not valid UTF-8; not caching this task")]
  NonUtf8Path {
    /// The offending path.
    path: PathBuf,
  },
  /// Serializing or parsing a cache file failed.
  #[error("build cache: {path}: {source}")]
  Json {
    /// The file.
    path: PathBuf,
    /// The serde_json error.
    #[source]
    source: serde_json::Error,
  },
}

impl CacheError {
  pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
    CacheError::Io { action, path: path.into(), source }
  }
}

/// Why a cache entry could not be restored. The caller logs it as a warning and rebuilds the
/// task; for every variant except [`RestoreError::UnknownLabel`] and [`RestoreError::Io`] the
/// entry has already been removed from the store.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
  /// The entry names a path outside its output directory (`..`, absolute, escaping symlink)
  /// or would write through a symlink already in the output directory.
  #[error("cache entry {key} refused: output {path:?} {reason}; entry removed, rebuilding")]
  UnsafePath {
    /// Entry key.
    key: String,
    /// The offending output path as recorded.
    path: String,
    /// What is wrong with it.
    reason: &'static str,
  },
  /// A blob's contents do not match its digest.
  #[error("cache entry {key} is corrupt: blob {blob} for output {output} hashes to {actual}, expected {expected}; entry removed, rebuilding")]
  CorruptBlob {
    /// Entry key.
    key: String,
    /// The output file (label/path) the blob was for.
    output: String,
    /// The blob file.
    blob: PathBuf,
    /// Digest recorded in the entry.
    expected: String,
    /// Digest of the bytes found.
    actual: String,
  },
  /// A blob is missing from the store.
  #[error("cache entry {key} is incomplete: blob {blob} for output {output} is missing; entry removed, rebuilding")]
  MissingBlob {
    /// Entry key.
    key: String,
    /// The output file (label/path) the blob was for.
    output: String,
    /// The blob file.
    blob: PathBuf,
  },
  /// The entry has outputs under a label the caller did not pass a directory for.
  #[error("cache entry {key} has outputs labelled {label:?} but no directory was given for it")]
  UnknownLabel {
    /// Entry key.
    key: String,
    /// The label.
    label: String,
  },
  /// Writing the restored outputs failed.
  #[error("restoring cache entry {key}: {action} {path}: {source}")]
  Io {
    /// Entry key.
    key: String,
    /// What was being done.
    action: &'static str,
    /// The file concerned.
    path: PathBuf,
    /// The underlying error.
    #[source]
    source: io::Error,
  },
}
