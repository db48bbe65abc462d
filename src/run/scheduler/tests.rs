use super::*;
use crate::run::events::Event;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A runner whose tasks sleep for a set time, optionally fail, and record when they ran.
struct FakeRunner {
  t0: Instant,
  sleep: BTreeMap<String, u64>,
  fail: Vec<String>,
  spans: Mutex<BTreeMap<String, (u128, u128)>>,
  cancelled: Mutex<Vec<String>>,
  running: Mutex<usize>,
  max_running: Mutex<usize>,
}

impl FakeRunner {
  fn new(sleep: &[(&str, u64)], fail: &[&str]) -> Self {
    FakeRunner {
      t0: Instant::now(),
      sleep: sleep.iter().map(|(n, s)| (n.to_string(), *s)).collect(),
      fail: fail.iter().map(|s| s.to_string()).collect(),
      spans: Mutex::default(),
      cancelled: Mutex::default(),
      running: Mutex::new(0),
      max_running: Mutex::new(0),
    }
  }
  fn span(&self, n: &str) -> (u128, u128) {
    self.spans.lock().unwrap()[n]
  }
}

impl TaskRunner for FakeRunner {
  fn run<'a>(
    &'a self,
    task: &'a Task,
    cancel: CancellationToken,
  ) -> BoxFuture<'a, Result<TaskOutcome, TaskError>> {
    Box::pin(async move {
      let start = self.t0.elapsed().as_millis();
      {
        let mut r = self.running.lock().unwrap();
        *r += 1;
        let mut m = self.max_running.lock().unwrap();
        *m = (*m).max(*r);
      }
      let ms = self.sleep.get(&task.name).copied().unwrap_or(10);
      let res = tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(ms)) => {
          if self.fail.contains(&task.name) { Err(TaskError::Failed(format!("{} exploded", task.name))) } else { Ok(TaskOutcome::default()) }
        }
        _ = cancel.cancelled() => {
          self.cancelled.lock().unwrap().push(task.name.clone());
          Err(TaskError::Cancelled)
        }
      };
      *self.running.lock().unwrap() -= 1;
      self.spans.lock().unwrap().insert(task.name.clone(), (start, self.t0.elapsed().as_millis()));
      res
    })
  }
}

fn t(n: &str, d: &[&str]) -> Task {
  Task {
    name: n.into(),
    kind: crate::plan::TaskKind::Command,
    deps: d.iter().map(|s| s.to_string()).collect(),
    phase: "p".into(),
  }
}

fn opts(continue_on_error: bool) -> SchedulerOptions {
  SchedulerOptions { concurrency: 4, continue_on_error, cancel: CancellationToken::new() }
}

fn status(reports: &[TaskReport], n: &str) -> TaskStatus {
  reports.iter().find(|r| r.name == n).unwrap().status
}

#[tokio::test]
async fn dependencies_run_first_and_independent_tasks_overlap() {
  // seed shape: backend ∥ ai → frontend → docker
  let plan = Plan::new(vec![
    t("backend", &[]),
    t("ai", &[]),
    t("frontend", &["backend"]),
    t("docker", &["frontend", "backend"]),
  ])
  .unwrap();
  let r = FakeRunner::new(&[("backend", 150), ("ai", 150), ("frontend", 30), ("docker", 10)], &[]);
  let reports = execute(&plan, &r, &opts(false), &Emitter::discard()).await;
  assert!(reports.iter().all(|x| x.status == TaskStatus::Succeeded));
  let (b, a, f, d) = (r.span("backend"), r.span("ai"), r.span("frontend"), r.span("docker"));
  assert!(f.0 >= b.1, "frontend started before backend ended: {f:?} {b:?}");
  assert!(d.0 >= f.1, "docker started before frontend ended");
  // backend and ai overlap in time
  assert!(a.0 < b.1 && b.0 < a.1, "independent tasks did not overlap: {a:?} {b:?}");
}

#[tokio::test]
async fn concurrency_is_bounded() {
  let plan = Plan::new((0..6).map(|i| t(&format!("t{i}"), &[])).collect()).unwrap();
  let r = FakeRunner::new(&[], &[]);
  let o = SchedulerOptions { concurrency: 2, ..opts(false) };
  execute(&plan, &r, &o, &Emitter::discard()).await;
  assert_eq!(*r.max_running.lock().unwrap(), 2);
}

#[tokio::test]
async fn failure_skips_dependents_naming_the_cause_and_stops_others() {
  let plan = Plan::new(vec![
    t("backend", &[]),
    t("slow", &[]),
    t("frontend", &["backend"]),
    t("docker", &["frontend"]),
  ])
  .unwrap();
  let r = FakeRunner::new(&[("backend", 20), ("slow", 5000)], &["backend"]);
  let events: Arc<Mutex<Vec<Event>>> = Arc::default();
  let ev = events.clone();
  let em = Emitter::new(Arc::new(move |e| ev.lock().unwrap().push(e)));
  let started = Instant::now();
  let reports = execute(&plan, &r, &opts(false), &em).await;
  assert!(started.elapsed() < Duration::from_secs(3), "fail-fast did not stop the slow task");
  assert_eq!(status(&reports, "backend"), TaskStatus::Failed);
  assert_eq!(reports[0].message.as_deref(), Some("backend exploded"));
  assert_eq!(status(&reports, "slow"), TaskStatus::Cancelled);
  let fe = reports.iter().find(|x| x.name == "frontend").unwrap();
  assert_eq!(fe.status, TaskStatus::Skipped);
  assert_eq!(fe.message.as_deref(), Some("dependency `backend` failed"));
  let dk = reports.iter().find(|x| x.name == "docker").unwrap();
  assert_eq!(dk.message.as_deref(), Some("dependency `frontend` did not run"));
  let ev = events.lock().unwrap();
  assert!(ev
    .iter()
    .any(|e| e.kind == EventKind::TaskSkipped && e.task.as_deref() == Some("frontend")));
}

#[tokio::test]
async fn continue_runs_what_does_not_depend_on_the_failure() {
  let plan = Plan::new(vec![t("a", &[]), t("b", &[]), t("a2", &["a"]), t("b2", &["b"])]).unwrap();
  let r = FakeRunner::new(&[("b", 100)], &["a"]);
  let reports = execute(&plan, &r, &opts(true), &Emitter::discard()).await;
  assert_eq!(status(&reports, "a"), TaskStatus::Failed);
  assert_eq!(status(&reports, "a2"), TaskStatus::Skipped);
  assert_eq!(status(&reports, "b"), TaskStatus::Succeeded);
  assert_eq!(status(&reports, "b2"), TaskStatus::Succeeded);
}

#[tokio::test]
async fn cancellation_stops_running_tasks_and_skips_the_rest() {
  let plan = Plan::new(vec![t("a", &[]), t("b", &[]), t("c", &["a"])]).unwrap();
  let r = FakeRunner::new(&[("a", 10_000), ("b", 10_000)], &[]);
  let o = opts(false);
  let cancel = o.cancel.clone();
  tokio::spawn(async move {
    tokio::time::sleep(Duration::from_millis(100)).await;
    cancel.cancel();
  });
  let started = Instant::now();
  let reports = execute(&plan, &r, &o, &Emitter::discard()).await;
  assert!(started.elapsed() < Duration::from_secs(2));
  assert_eq!(status(&reports, "a"), TaskStatus::Cancelled);
  assert_eq!(status(&reports, "b"), TaskStatus::Cancelled);
  assert_eq!(status(&reports, "c"), TaskStatus::Skipped);
  let mut c = r.cancelled.lock().unwrap().clone();
  c.sort();
  assert_eq!(c, ["a", "b"], "the runners themselves saw the cancellation");
}
