//! Errors of the hashing layer.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while hashing task inputs or persisting the stat cache.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
  /// An I/O operation on `path` failed.
  #[error("{action} {path}: {source}")]
  Io {
    /// What was being done ("reading", "stat of", ...).
    action: &'static str,
    /// The file or directory concerned.
    path: PathBuf,
    /// The underlying error.
    #[source]
    source: io::Error,
  },
  /// The input root of a task does not exist or is not a directory.
  #[error("input root {path} does not exist or is not a directory (check the task's `cwd`)")]
  RootMissing {
    /// The configured root.
    path: PathBuf,
  },
  /// A path is not valid UTF-8, so it cannot be represented stably in a task key.
  #[error("path {path} is not valid UTF-8; rename it or exclude it from the task's inputs")]
  NonUtf8Path {
    /// The offending path (lossy display).
    path: PathBuf,
  },
  /// An input glob failed to compile.
  #[error("invalid input glob {glob:?}: {source}")]
  BadGlob {
    /// The glob as written in the config.
    glob: String,
    /// The parser's message.
    #[source]
    source: globset::Error,
  },
}

impl HashError {
  pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
    HashError::Io { action, path: path.into(), source }
  }

  /// The same error again, for each of the tasks one shared walk failed for (an `io::Error` is
  /// not `Clone`: the copy keeps its kind and message).
  pub(crate) fn duplicate(&self) -> Self {
    match self {
      HashError::Io { action, path, source } => HashError::Io {
        action,
        path: path.clone(),
        source: io::Error::new(source.kind(), source.to_string()),
      },
      HashError::RootMissing { path } => HashError::RootMissing { path: path.clone() },
      HashError::NonUtf8Path { path } => HashError::NonUtf8Path { path: path.clone() },
      HashError::BadGlob { glob, source } => {
        HashError::BadGlob { glob: glob.clone(), source: source.clone() }
      }
    }
  }
}
