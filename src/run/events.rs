//! Build events (task queued/started/finished/skipped, log lines) and their batching.
//!
//! Events go to an [`EventSink`]. Crossing into JavaScript costs ~15 µs a call, so the napi layer
//! puts a [`Batcher`] in between: events are coalesced and delivered as arrays, at most one call per
//! flush interval (or when a batch is full).

use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
  /// A build phase (`pre-build`, `build`, `post-build`) started.
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
  /// A warning that does not fail the build.
  Warning,
}

impl EventKind {
  /// The kebab-case name JavaScript sees (`task-started`, ...).
  pub fn as_str(self) -> &'static str {
    match self {
      EventKind::PhaseStarted => "phase-started",
      EventKind::PhaseFinished => "phase-finished",
      EventKind::TaskQueued => "task-queued",
      EventKind::TaskStarted => "task-started",
      EventKind::TaskFinished => "task-finished",
      EventKind::TaskFailed => "task-failed",
      EventKind::TaskSkipped => "task-skipped",
      EventKind::TaskCancelled => "task-cancelled",
      EventKind::Log => "log",
      EventKind::Warning => "warning",
    }
  }
}

/// One build event.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
  /// What happened.
  pub kind: EventKind,
  /// The task (or phase) it is about.
  pub task: Option<String>,
  /// A log line, an error, or a skip reason.
  pub message: Option<String>,
  /// For finished/failed/cancelled tasks and phases: how long it ran, in milliseconds.
  pub duration_ms: Option<f64>,
  /// Milliseconds since the build started.
  pub time_ms: f64,
}

/// Where events go.
pub type EventSink = Arc<dyn Fn(Event) + Send + Sync>;

/// Stamps events with the time since the build started and sends them to a sink.
#[derive(Clone)]
pub struct Emitter {
  start: Instant,
  sink: EventSink,
}

impl Emitter {
  /// An emitter whose clock starts now.
  pub fn new(sink: EventSink) -> Self {
    Emitter { start: Instant::now(), sink }
  }

  /// An emitter that drops every event.
  pub fn discard() -> Self {
    Emitter::new(Arc::new(|_| {}))
  }

  /// Milliseconds since the build started.
  pub fn elapsed_ms(&self) -> f64 {
    self.start.elapsed().as_secs_f64() * 1000.0
  }

  /// Sends an event.
  pub fn emit(
    &self,
    kind: EventKind,
    task: Option<&str>,
    message: Option<String>,
    duration_ms: Option<f64>,
  ) {
    (self.sink)(Event {
      kind,
      task: task.map(str::to_owned),
      message,
      duration_ms,
      time_ms: self.elapsed_ms(),
    });
  }

  /// Sends a log line of a task.
  pub fn log(&self, task: &str, line: impl Into<String>) {
    self.emit(EventKind::Log, Some(task), Some(line.into()), None);
  }

  /// Sends a warning.
  pub fn warn(&self, task: Option<&str>, message: impl Into<String>) {
    self.emit(EventKind::Warning, task, Some(message.into()), None);
  }
}

/// Coalesces events into batches delivered by one `flush` call each.
pub struct Batcher {
  tx: mpsc::UnboundedSender<Event>,
  done: tokio::task::JoinHandle<()>,
}

impl Batcher {
  /// Starts a batcher on the current tokio runtime: `flush` gets at most `max` events per call, and is
  /// called at most once per `interval` unless a batch fills up.
  pub fn start(
    interval: Duration,
    max: usize,
    flush: impl Fn(Vec<Event>) + Send + Sync + 'static,
  ) -> Self {
    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    let done = tokio::spawn(async move {
      let mut buf: Vec<Event> = Vec::new();
      loop {
        let first = match rx.recv().await {
          Some(e) => e,
          None => break,
        };
        buf.push(first);
        let deadline = tokio::time::Instant::now() + interval;
        let mut closed = false;
        while buf.len() < max {
          match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(e)) => buf.push(e),
            Ok(None) => {
              closed = true;
              break;
            }
            Err(_) => break,
          }
        }
        flush(std::mem::take(&mut buf));
        if closed {
          break;
        }
      }
      if !buf.is_empty() {
        flush(buf);
      }
    });
    Batcher { tx, done }
  }

  /// The sink to give to an [`Emitter`].
  pub fn sink(&self) -> EventSink {
    let tx = self.tx.clone();
    Arc::new(move |e| {
      let _ = tx.send(e);
    })
  }

  /// Flushes what is left and stops, once every sink clone is dropped.
  pub async fn finish(self) {
    drop(self.tx);
    let _ = self.done.await;
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::sync::Mutex;

  #[tokio::test]
  async fn batches_many_events_into_few_calls_in_order() {
    let calls: Arc<Mutex<Vec<Vec<f64>>>> = Arc::default();
    let c = calls.clone();
    let b = Batcher::start(Duration::from_millis(50), 1000, move |batch| {
      c.lock().unwrap().push(batch.iter().map(|e| e.duration_ms.unwrap()).collect());
    });
    let em = Emitter::new(b.sink());
    for i in 0..500 {
      em.emit(EventKind::Log, Some("t"), None, Some(i as f64));
    }
    drop(em);
    b.finish().await;
    let calls = calls.lock().unwrap();
    assert!(calls.len() <= 2, "expected coalescing, got {} calls", calls.len());
    let all: Vec<f64> = calls.iter().flatten().copied().collect();
    assert_eq!(all, (0..500).map(|i| i as f64).collect::<Vec<_>>());
  }

  #[tokio::test]
  async fn full_batches_flush_early() {
    let sizes: Arc<Mutex<Vec<usize>>> = Arc::default();
    let s = sizes.clone();
    let b =
      Batcher::start(Duration::from_secs(10), 10, move |batch| s.lock().unwrap().push(batch.len()));
    let em = Emitter::new(b.sink());
    for _ in 0..25 {
      em.log("t", "x");
    }
    drop(em);
    b.finish().await;
    assert_eq!(*sizes.lock().unwrap(), vec![10, 10, 5]);
  }
}
