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
  /// An output path is neither a directory nor a regular file (a symlink, socket, device...).
  #[error(
    "build cache: output {path} is neither a directory nor a regular file; not caching this task"
  )]
  UnsupportedOutput {
    /// The output path.
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
/// task. The output paths are exactly as they were before the restore. For every variant except
/// [`RestoreError::UnknownLabel`], [`RestoreError::OutputIsSymlink`] and [`RestoreError::Io`] the
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
  /// An output path is a symbolic link: the restore would write through it, so it is left alone.
  #[error("cache entry {key} not restored: output {path} is a symbolic link; replace it with a directory, rebuilding")]
  OutputIsSymlink {
    /// Entry key.
    key: String,
    /// The output path.
    path: PathBuf,
  },
  /// Writing the restored outputs failed; every change was rolled back (the entry is kept).
  #[error(
    "restoring cache entry {key}: {action} {path}: {source}; outputs left as they were, rebuilding"
  )]
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

/// Why a directory tree no longer matches its manifest (see [`super::TreeManifest::verify`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct TreeDamage {
  /// The damaged path (absolute).
  pub path: PathBuf,
  /// What is wrong with it.
  pub problem: DamageKind,
}

/// What is wrong with one path of a verified tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DamageKind {
  /// A listed path is gone.
  #[error("missing")]
  Missing,
  /// A path the manifest does not list.
  #[error("not part of the original tree")]
  Unexpected,
  /// A file, directory or symlink became another kind of thing.
  #[error("is a {found}, expected a {expected}")]
  Kind {
    /// What the manifest lists.
    expected: &'static str,
    /// What is there.
    found: &'static str,
  },
  /// A file's size changed.
  #[error("size {actual}, expected {expected}")]
  Size {
    /// Listed size.
    expected: u64,
    /// Size found.
    actual: u64,
  },
  /// A file's contents changed.
  #[error("contents changed (xxh3 {actual}, expected {expected})")]
  Contents {
    /// Listed digest (hex).
    expected: String,
    /// Digest found (hex).
    actual: String,
  },
  /// Permission bits changed.
  #[error("mode {actual:o}, expected {expected:o}")]
  Mode {
    /// Listed mode.
    expected: u32,
    /// Mode found.
    actual: u32,
  },
  /// A symlink points elsewhere.
  #[error("link to {actual:?}, expected {expected:?}")]
  LinkTarget {
    /// Listed target.
    expected: String,
    /// Target found.
    actual: String,
  },
  /// The path could not be read.
  #[error("unreadable: {0}")]
  Unreadable(String),
}
