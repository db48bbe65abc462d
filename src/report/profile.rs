//! `farm build --profile`: a recorder of timed spans (config load, plan, walk, hashing, each task,
//! restores, Vite, Python steps, manifest) that the CLI writes as a Chrome trace event file.
//!
//! A [`Profiler`] is either off — every call is a branch on `None`, no clock read, no allocation,
//! and span names are built by closures that are never called — or on, when spans are appended to
//! one shared list. Times are microseconds since the Unix epoch, so that spans recorded by the
//! JavaScript side (`performance.timeOrigin + performance.now()`) merge onto the same clock.
//!
//! Each span has a lane (a Chrome trace `tid`): lane 0 is the orchestrator, each task gets its own
//! lane the first time it records a span, so spans on one lane nest.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// What a span measures (its Chrome trace `cat`); the CLI's "where the time went" line sums by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SpanCat {
  /// A build phase (pre-build, build, post-build) or the whole build.
  Phase,
  /// Planning the task graph.
  Plan,
  /// Opening the cache (stat cache, store), saving the stat cache, eviction.
  Cache,
  /// Walking a task's input tree and hashing the files whose stat changed.
  Walk,
  /// Computing a task's cache key (walk included) and hashing extra files.
  Hash,
  /// One task, from its lock to its cache save.
  Task,
  /// Restoring a cache hit's outputs.
  Restore,
  /// A Vite build (run by the JavaScript side).
  Vite,
  /// A Python step (an interpreter, uv, pip, ruff run as a child process).
  Python,
  /// Another child process (a command task, tsc, docker).
  Process,
  /// A builder's own work outside child processes.
  Run,
  /// Plugin hooks.
  Hook,
  /// Writing `build-manifest.json` (artifacts, git, metrics).
  Manifest,
}

impl SpanCat {
  /// The `cat` of the trace event.
  pub fn as_str(self) -> &'static str {
    match self {
      SpanCat::Phase => "phase",
      SpanCat::Plan => "plan",
      SpanCat::Cache => "cache",
      SpanCat::Walk => "walk",
      SpanCat::Hash => "hash",
      SpanCat::Task => "task",
      SpanCat::Restore => "restore",
      SpanCat::Vite => "vite",
      SpanCat::Python => "python",
      SpanCat::Process => "process",
      SpanCat::Run => "run",
      SpanCat::Hook => "hook",
      SpanCat::Manifest => "manifest",
    }
  }
}

/// A value of a span's `args`.
#[derive(Debug, Clone, PartialEq)]
pub enum ArgValue {
  /// A count or a size.
  Num(f64),
  /// A label (a cache status, a command line).
  Text(String),
}

/// One finished span.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
  /// What ran (`walk backend`, `task frontend`, `python -m ruff`...).
  pub name: String,
  /// Its category.
  pub cat: SpanCat,
  /// Start, microseconds since the Unix epoch.
  pub start_us: f64,
  /// Duration, microseconds.
  pub dur_us: f64,
  /// Lane: 0 for the orchestrator, one per task.
  pub lane: u32,
  /// Counters and labels.
  pub args: BTreeMap<String, ArgValue>,
}

/// The name of a lane (for the trace's thread names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lane {
  /// The `tid`.
  pub id: u32,
  /// `farm` or `task <name>`.
  pub name: String,
}

#[derive(Debug)]
struct Recorder {
  origin: Instant,
  origin_us: f64,
  spans: Mutex<Vec<Span>>,
  lanes: Mutex<Vec<String>>,
}

/// Records spans when on; does nothing (cheaply) when off. Clones share the same recording.
#[derive(Debug, Clone, Default)]
pub struct Profiler(Option<Arc<Recorder>>);

impl Profiler {
  /// A profiler that records nothing.
  pub fn off() -> Self {
    Profiler(None)
  }

  /// A profiler that records from now.
  pub fn on() -> Self {
    let origin_us =
      SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64() * 1e6).unwrap_or(0.0);
    Profiler(Some(Arc::new(Recorder {
      origin: Instant::now(),
      origin_us,
      spans: Mutex::new(Vec::new()),
      lanes: Mutex::new(vec!["farm".into()]),
    })))
  }

  /// Whether spans are recorded.
  pub fn is_on(&self) -> bool {
    self.0.is_some()
  }

  /// The lane of a task (assigned on first use); 0 when off.
  pub fn lane(&self, task: &str) -> u32 {
    if self.0.is_none() {
      return 0;
    }
    self.named_lane(&format!("task {task}"))
  }

  /// The lane called `name` (assigned on first use), for work beside the tasks; 0 when off.
  pub fn named_lane(&self, name: &str) -> u32 {
    let Some(r) = &self.0 else { return 0 };
    let Ok(mut lanes) = r.lanes.lock() else { return 0 };
    if let Some(i) = lanes.iter().position(|l| l == name) {
      return i as u32;
    }
    lanes.push(name.to_string());
    (lanes.len() - 1) as u32
  }

  /// Starts a span on `lane`, ended when the guard is dropped (or by [`SpanGuard::end`]). `name`
  /// is only called when the profiler is on.
  pub fn span(&self, cat: SpanCat, lane: u32, name: impl FnOnce() -> String) -> SpanGuard {
    SpanGuard(self.0.as_ref().map(|r| Open {
      rec: Arc::clone(r),
      name: name(),
      cat,
      lane,
      start: Instant::now(),
      args: BTreeMap::new(),
    }))
  }

  /// Records a span that started at `start` and ends now.
  pub fn record_since(
    &self,
    cat: SpanCat,
    lane: u32,
    start: Instant,
    name: impl FnOnce() -> String,
    args: impl FnOnce() -> BTreeMap<String, ArgValue>,
  ) {
    if let Some(r) = &self.0 {
      r.push(name(), cat, lane, start, Instant::now(), args());
    }
  }

  /// The spans recorded so far, in start order, and the lanes' names.
  pub fn spans(&self) -> (Vec<Span>, Vec<Lane>) {
    let Some(r) = &self.0 else { return (Vec::new(), Vec::new()) };
    let mut spans = r.spans.lock().map(|s| s.clone()).unwrap_or_default();
    spans.sort_by(|a, b| a.start_us.total_cmp(&b.start_us));
    let lanes = r
      .lanes
      .lock()
      .map(|l| l.iter().enumerate().map(|(i, n)| Lane { id: i as u32, name: n.clone() }).collect())
      .unwrap_or_default();
    (spans, lanes)
  }
}

impl Recorder {
  fn push(
    &self,
    name: String,
    cat: SpanCat,
    lane: u32,
    start: Instant,
    end: Instant,
    args: BTreeMap<String, ArgValue>,
  ) {
    let start_off = start.saturating_duration_since(self.origin).as_secs_f64() * 1e6;
    let dur_us = end.saturating_duration_since(start).as_secs_f64() * 1e6;
    let span = Span { name, cat, start_us: self.origin_us + start_off, dur_us, lane, args };
    if let Ok(mut s) = self.spans.lock() {
      s.push(span);
    }
  }
}

#[derive(Debug)]
struct Open {
  rec: Arc<Recorder>,
  name: String,
  cat: SpanCat,
  lane: u32,
  start: Instant,
  args: BTreeMap<String, ArgValue>,
}

/// An open span; recorded when dropped. Empty (and free) when the profiler is off.
#[derive(Debug)]
#[must_use = "a span ends when its guard is dropped"]
pub struct SpanGuard(Option<Open>);

impl SpanGuard {
  /// Adds a counter to the span's args.
  pub fn num(&mut self, key: &str, value: f64) {
    if let Some(o) = &mut self.0 {
      o.args.insert(key.to_string(), ArgValue::Num(value));
    }
  }

  /// Adds a label to the span's args (`value` is only called when on).
  pub fn text(&mut self, key: &str, value: impl FnOnce() -> String) {
    if let Some(o) = &mut self.0 {
      o.args.insert(key.to_string(), ArgValue::Text(value()));
    }
  }

  /// Ends the span now.
  pub fn end(self) {
    drop(self)
  }
}

impl Drop for SpanGuard {
  fn drop(&mut self) {
    if let Some(o) = self.0.take() {
      o.rec.push(o.name, o.cat, o.lane, o.start, Instant::now(), o.args);
    }
  }
}

tokio::task_local! {
  static CURRENT: (Profiler, u32);
}

/// Runs `fut` with `profiler` and `lane` as the current ones (see [`current_span`]).
pub async fn scope<F: std::future::Future>(profiler: Profiler, lane: u32, fut: F) -> F::Output {
  CURRENT.scope((profiler, lane), fut).await
}

/// A span on the lane of the task whose future is running (nothing outside a task or when off).
pub fn current_span(cat: SpanCat, name: impl FnOnce() -> String) -> SpanGuard {
  CURRENT.try_with(|(p, lane)| p.span(cat, *lane, name)).unwrap_or(SpanGuard(None))
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn off_records_nothing_and_never_builds_names() {
    let p = Profiler::off();
    let mut g = p.span(SpanCat::Walk, 0, || panic!("name built while off"));
    g.text("k", || panic!("arg built while off"));
    drop(g);
    assert!(!p.is_on());
    assert_eq!(p.spans().0.len(), 0);
    assert_eq!(p.lane("backend"), 0);
  }

  #[test]
  fn spans_nest_on_their_lane_and_use_the_epoch_clock() {
    let p = Profiler::on();
    let lane = p.lane("backend");
    assert_eq!(lane, 1);
    assert_eq!(p.lane("web"), 2);
    assert_eq!(p.lane("backend"), 1);
    let before =
      SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64() * 1e6 - 1_000_000.0;
    {
      let _outer = p.span(SpanCat::Task, lane, || "task backend".into());
      std::thread::sleep(std::time::Duration::from_millis(5));
      let mut inner = p.span(SpanCat::Walk, lane, || "walk backend".into());
      inner.num("files", 3.0);
      std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let (spans, lanes) = p.spans();
    assert_eq!(lanes.len(), 3);
    assert_eq!(lanes[1].name, "task backend");
    assert_eq!(spans.len(), 2);
    let (outer, inner) = (&spans[0], &spans[1]);
    assert_eq!(outer.name, "task backend");
    assert!(outer.start_us > before, "epoch clock: {}", outer.start_us);
    assert!(inner.start_us >= outer.start_us);
    assert!(inner.start_us + inner.dur_us <= outer.start_us + outer.dur_us);
    assert!(inner.dur_us >= 4_000.0 && outer.dur_us >= 9_000.0, "{spans:?}");
    assert_eq!(inner.args.get("files"), Some(&ArgValue::Num(3.0)));
  }

  #[tokio::test]
  async fn current_span_uses_the_task_scope() {
    let p = Profiler::on();
    drop(current_span(SpanCat::Python, || "outside".into()));
    scope(p.clone(), 4, async { drop(current_span(SpanCat::Python, || "python".into())) }).await;
    let (spans, _) = p.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!((spans[0].name.as_str(), spans[0].lane), ("python", 4));
  }
}
