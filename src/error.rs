//! The build's error type and its stable codes.

/// An error that ends a build (as opposed to a task failure, which is reported per task).
///
/// Each variant has a stable [`code`](BuildError::code) that JavaScript sees as `error.code`.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
  /// The configuration is invalid: the message names the file, the key path and what is expected.
  #[error("{0}")]
  ConfigInvalid(String),
  /// One or more tasks failed.
  #[error("{message}")]
  TaskFailed {
    /// Human-readable summary, naming the failed task and its error.
    message: String,
    /// The first task that failed.
    task: String,
  },
  /// The build was cancelled (AbortSignal or Ctrl-C).
  #[error("build cancelled")]
  Cancelled,
  /// `clean` refused to delete a directory (it is outside the project root, or is the root).
  #[error("{0}")]
  CleanRefused(String),
  /// A plugin hook threw or rejected.
  #[error("plugin `{plugin}` failed in `{hook}`: {message}")]
  PluginFailed {
    /// The plugin's name.
    plugin: String,
    /// The hook that failed (`preBuild`, `postBuild`, ...).
    hook: String,
    /// The error's message.
    message: String,
  },
  /// An I/O error outside any task (writing the manifest, cleaning, ...).
  #[error("{context}: {source}")]
  Io {
    /// What was being done, with the path.
    context: String,
    /// The underlying error.
    #[source]
    source: std::io::Error,
  },
}

impl BuildError {
  /// The stable code of this error: `CONFIG_INVALID`, `TASK_FAILED`, `CANCELLED`, `CLEAN_REFUSED`,
  /// `PLUGIN_FAILED` or `IO_ERROR`.
  pub fn code(&self) -> &'static str {
    match self {
      BuildError::ConfigInvalid(_) => "CONFIG_INVALID",
      BuildError::TaskFailed { .. } => "TASK_FAILED",
      BuildError::Cancelled => "CANCELLED",
      BuildError::CleanRefused(_) => "CLEAN_REFUSED",
      BuildError::PluginFailed { .. } => "PLUGIN_FAILED",
      BuildError::Io { .. } => "IO_ERROR",
    }
  }

  /// The task this error is about, if any.
  pub fn task(&self) -> Option<&str> {
    match self {
      BuildError::TaskFailed { task, .. } => Some(task),
      _ => None,
    }
  }

  /// Wraps an I/O error with what was being done.
  pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
    BuildError::Io { context: context.into(), source }
  }
}
