//! Errors of the warm-mode daemon and its client.

use std::path::PathBuf;

/// What went wrong talking to, or running, the daemon.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
  /// A socket or file operation failed.
  #[error("{what} {path}: {source}")]
  Io {
    /// The operation.
    what: &'static str,
    /// The file or socket.
    path: PathBuf,
    /// The OS error.
    #[source]
    source: std::io::Error,
  },
  /// The daemon speaks another protocol or runs another build of the addon.
  #[error("daemon version mismatch: {0}")]
  Mismatch(String),
  /// The daemon answered something that is not the protocol.
  #[error("daemon protocol error: {0}")]
  Protocol(String),
  /// The daemon reported an error for a request.
  #[error("daemon error: {0}")]
  Remote(String),
  /// Another daemon already serves this project.
  #[error("a daemon already serves this project (socket {0})")]
  AlreadyRunning(PathBuf),
  /// The file-system watcher could not start.
  #[error("file-system watcher: {0}")]
  Watch(String),
}

impl DaemonError {
  /// An I/O error with its operation and path.
  pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
    DaemonError::Io { what, path: path.into(), source }
  }
}
