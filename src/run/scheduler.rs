//! The DAG scheduler: runs a [`Plan`]'s tasks as soon as their dependencies succeed, at most
//! `concurrency` at a time; fail-fast (stop everything on the first failure) or continue (run what does
//! not depend on a failure); cancellation stops running tasks and reports them as cancelled.

use super::events::{Emitter, EventKind};
use crate::plan::{Plan, Task};
use crate::report::Artifact;
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a cancelled task's runner gets to stop its work before it is dropped.
const CANCEL_GRACE: Duration = Duration::from_secs(10);

/// What a successful task produced.
#[derive(Debug, Clone, Default)]
pub struct TaskOutcome {
  /// Files and directories it produced.
  pub artifacts: Vec<Artifact>,
  /// Things worth telling that did not fail it.
  pub warnings: Vec<String>,
  /// Task-specific facts (tool versions, counts, ...).
  pub metadata: serde_json::Map<String, serde_json::Value>,
  /// What the build cache did (set by the orchestrator).
  pub cache: Option<crate::orchestrator::caching::CacheInfo>,
}

/// Why a task did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskError {
  /// It failed; the message says why (with the tool's own output).
  Failed(String),
  /// It was stopped by cancellation.
  Cancelled,
}

impl From<String> for TaskError {
  fn from(s: String) -> Self {
    TaskError::Failed(s)
  }
}

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

impl TaskStatus {
  /// `succeeded`, `failed`, `skipped` or `cancelled`.
  pub fn as_str(self) -> &'static str {
    match self {
      TaskStatus::Succeeded => "succeeded",
      TaskStatus::Failed => "failed",
      TaskStatus::Skipped => "skipped",
      TaskStatus::Cancelled => "cancelled",
    }
  }
}

/// The record of one task in a build.
#[derive(Debug, Clone)]
pub struct TaskReport {
  /// The task's name.
  pub name: String,
  /// Its phase (the seed's stage).
  pub phase: String,
  /// How it ended.
  pub status: TaskStatus,
  /// When it started, in ms since the build started (`None` if it never ran).
  pub start_ms: Option<f64>,
  /// When it ended, in ms since the build started.
  pub end_ms: Option<f64>,
  /// The error, for failed tasks; the reason, for skipped ones.
  pub message: Option<String>,
  /// What it produced, when it succeeded.
  pub outcome: Option<TaskOutcome>,
}

impl TaskReport {
  /// How long it ran, in milliseconds (0 if it never ran).
  pub fn duration_ms(&self) -> f64 {
    match (self.start_ms, self.end_ms) {
      (Some(s), Some(e)) => e - s,
      _ => 0.0,
    }
  }
}

/// Runs one task; implemented by the orchestrator (and by fakes in tests).
pub trait TaskRunner: Send + Sync {
  /// Runs `task`. On `cancel`, stop the work (kill children) and return [`TaskError::Cancelled`].
  fn run<'a>(
    &'a self,
    task: &'a Task,
    cancel: CancellationToken,
  ) -> BoxFuture<'a, Result<TaskOutcome, TaskError>>;

  /// Awaited before a task starts (plugin `onTaskStart`); an error fails the task.
  fn before_task<'a>(&'a self, _task: &'a Task) -> BoxFuture<'a, Result<(), String>> {
    Box::pin(async { Ok(()) })
  }

  /// Awaited after a task ends, whatever the result (plugin `onTaskEnd`); an error fails the task.
  fn after_task<'a>(&'a self, _report: &'a TaskReport) -> BoxFuture<'a, Result<(), String>> {
    Box::pin(async { Ok(()) })
  }
}

/// How to schedule.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
  /// Tasks run at once (at least 1).
  pub concurrency: usize,
  /// Keep running tasks that do not depend on a failed one.
  pub continue_on_error: bool,
  /// Cancels the build.
  pub cancel: CancellationToken,
}

enum Slot {
  Pending,
  Running,
  Done,
}

/// Runs every task of `plan`; returns one report per task, in plan order.
pub async fn execute(
  plan: &Plan,
  runner: &dyn TaskRunner,
  opts: &SchedulerOptions,
  events: &Emitter,
) -> Vec<TaskReport> {
  let concurrency = opts.concurrency.max(1);
  // Stops running tasks: on user cancellation, and on the first failure when failing fast.
  let stop = opts.cancel.child_token();
  let mut slots: BTreeMap<&str, Slot> =
    plan.tasks().iter().map(|t| (t.name.as_str(), Slot::Pending)).collect();
  let mut reports: BTreeMap<String, TaskReport> = BTreeMap::new();
  let mut stopped_by: Option<String> = None;
  for t in plan.tasks() {
    events.emit(EventKind::TaskQueued, Some(&t.name), None, None);
  }
  let mut running = FuturesUnordered::new();
  loop {
    // Skip tasks whose dependencies did not succeed (repeat until nothing changes: skips cascade).
    loop {
      let mut changed = false;
      for t in plan.tasks() {
        if !matches!(slots.get(t.name.as_str()), Some(Slot::Pending)) {
          continue;
        }
        let bad_dep = t
          .deps
          .iter()
          .find(|d| reports.get(d.as_str()).is_some_and(|r| r.status != TaskStatus::Succeeded));
        if let Some(dep) = bad_dep {
          let why = match reports[dep.as_str()].status {
            TaskStatus::Failed => format!("dependency `{dep}` failed"),
            TaskStatus::Cancelled => format!("dependency `{dep}` was cancelled"),
            _ => format!("dependency `{dep}` did not run"),
          };
          reports.insert(t.name.clone(), skipped(t, why, events));
          slots.insert(&t.name, Slot::Done);
          changed = true;
        }
      }
      if !changed {
        break;
      }
    }
    // Start what is ready, unless the build is stopping.
    if !stop.is_cancelled() {
      for t in plan.tasks() {
        if running.len() >= concurrency {
          break;
        }
        let ready = matches!(slots.get(t.name.as_str()), Some(Slot::Pending))
          && t
            .deps
            .iter()
            .all(|d| reports.get(d.as_str()).is_some_and(|r| r.status == TaskStatus::Succeeded));
        if ready {
          slots.insert(&t.name, Slot::Running);
          running.push(run_one(t, runner, stop.child_token(), events));
        }
      }
    }
    let Some(report) = running.next().await else { break };
    if report.status == TaskStatus::Failed && !opts.continue_on_error && stopped_by.is_none() {
      stopped_by = Some(report.name.clone());
      stop.cancel();
    }
    slots.insert(plan.get(&report.name).map(|t| t.name.as_str()).unwrap_or(""), Slot::Done);
    reports.insert(report.name.clone(), report);
  }
  // Whatever never started: the build stopped first.
  for t in plan.tasks() {
    if matches!(slots.get(t.name.as_str()), Some(Slot::Pending)) {
      let why = match &stopped_by {
        Some(f) if !opts.cancel.is_cancelled() => {
          format!("build stopped after `{f}` failed (use --continue to run independent tasks)")
        }
        _ => "build cancelled".to_string(),
      };
      reports.insert(t.name.clone(), skipped(t, why, events));
    }
  }
  plan.tasks().iter().filter_map(|t| reports.remove(&t.name)).collect()
}

fn skipped(t: &Task, why: String, events: &Emitter) -> TaskReport {
  events.emit(EventKind::TaskSkipped, Some(&t.name), Some(why.clone()), None);
  TaskReport {
    name: t.name.clone(),
    phase: t.phase.clone(),
    status: TaskStatus::Skipped,
    start_ms: None,
    end_ms: None,
    message: Some(why),
    outcome: None,
  }
}

async fn run_one(
  task: &Task,
  runner: &dyn TaskRunner,
  cancel: CancellationToken,
  events: &Emitter,
) -> TaskReport {
  let start = events.elapsed_ms();
  events.emit(EventKind::TaskStarted, Some(&task.name), None, None);
  let result = match runner.before_task(task).await {
    Err(e) => Err(TaskError::Failed(e)),
    Ok(()) if cancel.is_cancelled() => Err(TaskError::Cancelled),
    Ok(()) => {
      let fut = runner.run(task, cancel.clone());
      tokio::pin!(fut);
      tokio::select! {
        r = &mut fut => r,
        _ = cancel.cancelled() => match tokio::time::timeout(CANCEL_GRACE, &mut fut).await {
          Ok(r) => r,
          Err(_) => Err(TaskError::Cancelled),
        },
      }
    }
  };
  let end = events.elapsed_ms();
  let (status, message, outcome) = match result {
    Ok(o) => (TaskStatus::Succeeded, None, Some(o)),
    Err(TaskError::Failed(m)) => (TaskStatus::Failed, Some(m), None),
    Err(TaskError::Cancelled) => (TaskStatus::Cancelled, Some("cancelled".to_string()), None),
  };
  let mut report = TaskReport {
    name: task.name.clone(),
    phase: task.phase.clone(),
    status,
    start_ms: Some(start),
    end_ms: Some(end),
    message,
    outcome,
  };
  if let Err(e) = runner.after_task(&report).await {
    report.status = TaskStatus::Failed;
    report.message = Some(e);
    report.outcome = None;
  }
  let kind = match report.status {
    TaskStatus::Succeeded => EventKind::TaskFinished,
    TaskStatus::Failed => EventKind::TaskFailed,
    TaskStatus::Cancelled => EventKind::TaskCancelled,
    TaskStatus::Skipped => EventKind::TaskSkipped,
  };
  events.emit(kind, Some(&task.name), report.message.clone(), Some(report.duration_ms()));
  report
}

#[cfg(test)]
mod tests;
