//! String unions JavaScript sees (`#[napi(string_enum)]`: `index.d.ts` gets `'a' | 'b'` types).
//! Each mirrors a core enum through an exhaustive `From`, so a new core variant fails to compile
//! until it is added here.

use napi_derive::napi;

/// How a task ended.
#[napi(string_enum = "lowercase")]
pub enum TaskStatus {
  /// It ran and succeeded.
  Succeeded,
  /// It ran and failed.
  Failed,
  /// It did not run (a dependency failed, or the build stopped first).
  Skipped,
  /// It was running when the build was cancelled.
  Cancelled,
}

impl From<crate::run::TaskStatus> for TaskStatus {
  fn from(s: crate::run::TaskStatus) -> Self {
    use crate::run::TaskStatus as S;
    match s {
      S::Succeeded => TaskStatus::Succeeded,
      S::Failed => TaskStatus::Failed,
      S::Skipped => TaskStatus::Skipped,
      S::Cancelled => TaskStatus::Cancelled,
    }
  }
}

/// Whether a task came from the build cache.
#[napi(string_enum = "lowercase")]
pub enum CacheState {
  /// Restored from the cache; the builder did not run.
  Hit,
  /// Not in the cache; the builder ran (and its outputs were saved).
  Miss,
  /// Not cached (cache off, or a task that is never cached).
  Off,
}

/// Where a cache hit came from.
#[napi(string_enum = "lowercase")]
pub enum CacheSource {
  /// The local cache; no network was used.
  Local,
  /// The remote cache (downloaded into the local cache, then restored).
  Remote,
}

impl From<crate::orchestrator::caching::CacheSource> for CacheSource {
  fn from(s: crate::orchestrator::caching::CacheSource) -> Self {
    use crate::orchestrator::caching::CacheSource as S;
    match s {
      S::Local => CacheSource::Local,
      S::Remote => CacheSource::Remote,
    }
  }
}

impl From<crate::orchestrator::caching::CacheStatus> for CacheState {
  fn from(s: crate::orchestrator::caching::CacheStatus) -> Self {
    use crate::orchestrator::caching::CacheStatus as S;
    match s {
      S::Hit => CacheState::Hit,
      S::Miss => CacheState::Miss,
      S::Off => CacheState::Off,
    }
  }
}

/// What a build event is about.
#[napi(string_enum = "kebab-case")]
pub enum EventKind {
  /// A build phase started.
  PhaseStarted,
  /// A build phase finished.
  PhaseFinished,
  /// A task is in the plan and waits for its dependencies.
  TaskQueued,
  /// A task started.
  TaskStarted,
  /// A task succeeded.
  TaskFinished,
  /// A task failed; `message` holds the error.
  TaskFailed,
  /// A task did not run; `message` holds the reason.
  TaskSkipped,
  /// A running task was stopped by cancellation.
  TaskCancelled,
  /// A line of a task's output.
  Log,
  /// A warning that does not fail the build; `message` holds it.
  Warning,
}

impl From<crate::run::events::EventKind> for EventKind {
  fn from(k: crate::run::events::EventKind) -> Self {
    use crate::run::events::EventKind as K;
    match k {
      K::PhaseStarted => EventKind::PhaseStarted,
      K::PhaseFinished => EventKind::PhaseFinished,
      K::TaskQueued => EventKind::TaskQueued,
      K::TaskStarted => EventKind::TaskStarted,
      K::TaskFinished => EventKind::TaskFinished,
      K::TaskFailed => EventKind::TaskFailed,
      K::TaskSkipped => EventKind::TaskSkipped,
      K::TaskCancelled => EventKind::TaskCancelled,
      K::Log => EventKind::Log,
      K::Warning => EventKind::Warning,
    }
  }
}
