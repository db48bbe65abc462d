//! Process hygiene around a build: leftovers of a crashed build are killed when a build starts, and
//! each task runs under its per-task lock (see [`crate::run::task_lock`]), so concurrent builds of
//! one project run a task once and the others hit the cache.

use super::Orchestrator;
use crate::config::resolve;
use crate::plan::Task;
use crate::run::events::Emitter;
use crate::run::procs::reap_leftovers;
use crate::run::task_lock::{lock_path, LockError, TaskLock, TaskScope};
use crate::run::TaskError;
use std::future::Future;
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

/// What `task` writes, absolute, as its builder declares it (empty for tasks that write no files:
/// their lock is then per task name).
pub fn task_outputs(orch: &Orchestrator, task: &Task) -> Vec<PathBuf> {
  orch.io_of(task).writes.into_iter().map(|o| o.path).collect()
}

/// Kills what a crashed build of this project left running (see
/// [`crate::run::procs::reap_leftovers`]); what was killed, or a failure, is a warning.
pub async fn reap(orch: &Orchestrator, events: &Emitter) {
  let cache_dir = resolve(&orch.root, &orch.config.cache_dir);
  let r = tokio::task::spawn_blocking(move || reap_leftovers(&cache_dir)).await;
  match r {
    Ok(Ok(report)) => {
      for g in &report.killed {
        events.warn(
          Some(&g.task),
          format!(
            "killed processes left running by a crashed build (`{}`, process group {})",
            g.program, g.pgid
          ),
        );
      }
    }
    Ok(Err(e)) => events.warn(None, format!("checking for leftovers of a crashed build: {e}")),
    Err(e) => events.warn(None, format!("checking for leftovers of a crashed build: {e}")),
  }
}

/// Runs `body` (the whole task: cache lookup, run, save) holding the task's lock, in the task scope
/// its child processes inherit the lock from. Waits while another build holds it (logging "waiting
/// for another build of <task>" once); cancellable. If the lock file cannot be used at all, warns
/// and runs unlocked.
pub async fn locked<T>(
  orch: &Orchestrator,
  events: &Emitter,
  task: &Task,
  cancel: CancellationToken,
  body: impl Future<Output = Result<T, TaskError>>,
) -> Result<T, TaskError> {
  let cache_dir = resolve(&orch.root, &orch.config.cache_dir);
  let path = lock_path(&cache_dir, &task_outputs(orch, task), &task.name);
  match TaskLock::acquire(&path, &task.name, &|m| events.log(&task.name, m), &cancel).await {
    Ok(lock) => TaskScope::new(lock, &cache_dir, &task.name).run(body).await,
    Err(LockError::Cancelled) => Err(TaskError::Cancelled),
    Err(e) => {
      events.warn(Some(&task.name), format!("{e}; running without it"));
      body.await
    }
  }
}
