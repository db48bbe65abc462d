//! What `farm build` prints: the header, one line per event, and the summary (task table,
//! artifacts, phases, memory, manifest, remote cache, warnings, the verdict). The summary is the
//! one renderer of both CLIs: the Node CLI calls it through the addon (`renderBuildSummary`).

use super::doc::BuildDoc;
use super::format::{fmt_bytes, fmt_ms, js_number, js_slice, pad_end, pad_start, table};
use crate::run::events::{Event, EventKind};

/// Text for stdout and for stderr, each ending with a newline per line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
  /// For stdout.
  pub stdout: String,
  /// For stderr.
  pub stderr: String,
}

/// The icon of a task status (`ICON` in `js/cli/build.mjs`).
pub fn icon(status: &str) -> &'static str {
  match status {
    "succeeded" => "✓",
    "failed" => "✗",
    "skipped" => "-",
    "cancelled" => "⊘",
    "running" => "…",
    "queued" => "·",
    _ => "?",
  }
}

/// What `farm build --dry-run` prints on stdout: the JSON document (`--json`), or a title and a
/// table of the tasks with their dependencies, cache state, key (or why there is none) and input
/// count. The one renderer of both CLIs (the Node CLI calls it through the addon).
pub fn dry_run(app_name: &str, rows: &[crate::orchestrator::DryRunTask], json: bool) -> String {
  let mut buf = Vec::new();
  // Writing to memory does not fail.
  let _ = write_dry_run(&mut buf, app_name, rows, json);
  String::from_utf8(buf).unwrap_or_default()
}

/// [`dry_run`] written to `w` as it is made: the JSON document lists every input file of every
/// task, tens of megabytes at 100,000 files, which need not be held in memory twice.
pub fn write_dry_run(
  w: &mut impl std::io::Write,
  app_name: &str,
  rows: &[crate::orchestrator::DryRunTask],
  json: bool,
) -> std::io::Result<()> {
  if json {
    super::format::write_json_pretty(&mut *w, &super::doc::DryRunDoc::new(rows))?;
    return w.write_all(b"\n");
  }
  w.write_all(dry_run_table(app_name, rows).as_bytes())
}

/// The plain `--dry-run` view: a title and a table.
fn dry_run_table(app_name: &str, rows: &[crate::orchestrator::DryRunTask]) -> String {
  let mut out = format!("farm build --dry-run · {app_name} · nothing is built\n");
  let cells: Vec<Vec<String>> = rows
    .iter()
    .map(|r| {
      let deps = if r.deps.is_empty() { "-".to_string() } else { r.deps.join(",") };
      let key = match (&r.key, &r.reason) {
        (Some(k), _) => k.clone(),
        (None, reason) => format!("- ({})", reason.as_deref().unwrap_or("undefined")),
      };
      vec![r.name.clone(), deps, r.cache.as_str().to_string(), key, r.inputs.to_string()]
    })
    .collect();
  table(&mut out, &["task", "deps", "cache", "key", "inputs"], &cells);
  out
}

/// The first line: `farm build · app@1.0.0 · production · targets: all`.
pub fn header(app_name: &str, version: &str, environment: &str, targets: &[String]) -> String {
  let t = if targets.is_empty() { "all".to_string() } else { targets.join(", ") };
  format!("farm build · {app_name}@{version} · {environment} · targets: {t}\n")
}

/// A warning line: `! task: message`.
fn warning_line(e: &Event) -> String {
  let task = e.task.as_deref().map(|t| format!("{t}: ")).unwrap_or_default();
  format!("! {task}{}", e.message.as_deref().unwrap_or("undefined"))
}

/// The line an event prints in the plain (non-TTY) view, if any.
pub fn plain_event_line(e: &Event) -> Option<String> {
  let task = e.task.as_deref().unwrap_or("undefined");
  let dur = || fmt_ms(e.duration_ms.unwrap_or(f64::NAN));
  let line = match e.kind {
    EventKind::TaskStarted => format!("▶ {task}"),
    EventKind::TaskFinished => format!("✓ {task} ({})", dur()),
    EventKind::TaskFailed => format!("✗ {task} failed ({})", dur()),
    EventKind::TaskCancelled => format!("⊘ {task} cancelled"),
    EventKind::TaskSkipped => {
      format!("- {task} skipped: {}", e.message.as_deref().unwrap_or("undefined"))
    }
    EventKind::Warning => warning_line(e),
    _ => return None,
  };
  Some(format!("{line}\n"))
}

/// The TTY view (`LiveView` of `js/cli/build.mjs`) once the build is over: warnings as they came,
/// then one line per task in its final state, as its last redraw leaves the screen.
pub fn live_final(events: &[Event], columns: usize) -> String {
  struct Row {
    name: String,
    status: &'static str,
    ms: f64,
    last: String,
  }
  let mut rows: Vec<Row> = Vec::new();
  let mut out = String::new();
  for e in events {
    let row = e.task.as_deref().and_then(|t| rows.iter().position(|r| r.name == t));
    match (e.kind, row) {
      (EventKind::TaskQueued, _) => {
        let name = e.task.clone().unwrap_or_default();
        let fresh = Row { name: name.clone(), status: "queued", ms: 0.0, last: String::new() };
        match row {
          Some(i) => rows[i] = fresh,
          None => rows.push(fresh),
        }
      }
      (EventKind::Log, Some(i)) => rows[i].last = e.message.clone().unwrap_or_default(),
      (EventKind::TaskStarted, Some(i)) => rows[i].status = "running",
      (EventKind::TaskFinished, Some(i)) => {
        (rows[i].status, rows[i].ms) = ("succeeded", e.duration_ms.unwrap_or(0.0))
      }
      (EventKind::TaskFailed, Some(i)) => {
        (rows[i].status, rows[i].ms) = ("failed", e.duration_ms.unwrap_or(0.0))
      }
      (EventKind::TaskCancelled, Some(i)) => {
        (rows[i].status, rows[i].ms) = ("cancelled", e.duration_ms.unwrap_or(0.0))
      }
      (EventKind::TaskSkipped, Some(i)) => {
        rows[i].status = "skipped";
        rows[i].last = e.message.clone().unwrap_or_default();
      }
      (EventKind::Warning, _) => {
        out.push_str(&warning_line(e));
        out.push('\n');
      }
      _ => {}
    }
  }
  for r in &rows {
    let ms =
      if r.ms != 0.0 && !r.ms.is_nan() { pad_start(&fmt_ms(r.ms), 7) } else { " ".repeat(7) };
    let line = format!(
      "{} {} {} {ms}  {}",
      icon(r.status),
      pad_end(&r.name, 10),
      pad_end(r.status, 9),
      r.last
    );
    out.push_str(&format!("\x1b[2K{}\n", js_slice(&line, columns.saturating_sub(1))));
  }
  out
}

/// The summary after a build (`PlainView.summary` of `js/cli/build.mjs`).
pub fn summary(r: &BuildDoc) -> Rendered {
  let mut out = String::from("\n");
  let mut err = String::new();
  let rows: Vec<Vec<String>> = r
    .tasks
    .iter()
    .map(|t| {
      vec![
        format!("{} {}", icon(&t.status), t.name),
        t.status.clone(),
        fmt_ms(t.duration_ms),
        match (t.cache.as_deref(), t.cache_source.as_deref()) {
          (Some("hit"), Some("remote")) => "hit (remote)".into(),
          (c, _) => c.unwrap_or("-").into(),
        },
        t.key.as_deref().map_or("-".into(), |k| js_slice(k, 10)),
        t.restore_ms.map_or("-".into(), fmt_ms),
      ]
    })
    .collect();
  table(&mut out, &["task", "status", "time", "cache", "key", "restore"], &rows);
  if !r.artifacts.is_empty() {
    out.push('\n');
    let rows: Vec<Vec<String>> = r
      .artifacts
      .iter()
      .map(|a| vec![a.kind.clone(), a.path.clone(), fmt_bytes(a.size), js_slice(&a.hash, 19)])
      .collect();
    table(&mut out, &["artifact", "path", "size", "hash"], &rows);
  }
  out.push('\n');
  let phases: Vec<String> =
    r.metrics.phases.iter().map(|(k, v)| format!("{k} {}", fmt_ms(*v))).collect();
  out.push_str(&format!("phases: {}\n", phases.join(" · ")));
  out.push_str(&format!(
    "peak memory: {} (largest child {})\n",
    fmt_bytes(r.metrics.peak_rss_bytes),
    fmt_bytes(r.metrics.peak_child_rss_bytes)
  ));
  if let Some(m) = r.manifest_path.as_deref().filter(|m| !m.is_empty()) {
    out.push_str(&format!("manifest: {m}\n"));
  }
  if let Some(u) = &r.upload {
    out.push_str(&format!(
      "uploaded: {} files ({}) to {} under {}/\n",
      js_number(u.files),
      fmt_bytes(u.bytes),
      u.location,
      u.prefix
    ));
  }
  if let Some(rc) = &r.remote {
    let up = if rc.write {
      let there = if rc.already_stored > 0.0 {
        format!(", {} already stored", js_number(rc.already_stored))
      } else {
        String::new()
      };
      format!("{} uploaded ({}){there}", js_number(rc.uploads), fmt_bytes(rc.uploaded_bytes))
    } else if let Some(status) = &rc.server_status {
      format!("uploads off (the server says caching is {status})")
    } else {
      "read-only, nothing uploaded".into()
    };
    out.push_str(&format!(
      "remote cache {}: {} hit{} ({} downloaded), {up}\n",
      rc.location,
      js_number(rc.hits),
      if rc.hits == 1.0 { "" } else { "s" },
      fmt_bytes(rc.downloaded_bytes)
    ));
  }
  if !r.warnings.is_empty() {
    let n = r.warnings.len();
    out.push_str(&format!("\n{n} warning{}:\n", if n == 1 { "" } else { "s" }));
    for w in &r.warnings {
      out.push_str(&format!("! {w}\n"));
    }
  }
  if r.success {
    out.push_str(&format!("✓ Build {} succeeded in {}\n", r.build_id, fmt_ms(r.duration)));
  } else {
    for t in r.tasks.iter().filter(|t| t.status == "failed") {
      err.push_str(&format!(
        "\n✗ {} failed:\n{}\n",
        t.name,
        t.message.as_deref().unwrap_or("undefined")
      ));
    }
    let (code, what) = match &r.error {
      Some(e) if e.code == "TASK_FAILED" => {
        (e.code.as_str(), format!("task `{}` failed", e.task.as_deref().unwrap_or("undefined")))
      }
      Some(e) => (e.code.as_str(), e.message.clone()),
      None => ("undefined", "undefined".into()),
    };
    err.push_str(&format!("\n✗ Build {} failed [{code}]: {what}\n", r.build_id));
  }
  Rendered { stdout: out, stderr: err }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::cli::doc::{ErrorDoc, MetricsDoc, TaskDoc};

  fn task(name: &str, status: &str, cache: Option<&str>) -> TaskDoc {
    TaskDoc {
      name: name.into(),
      status: status.into(),
      duration_ms: 3.4,
      message: (status == "failed").then(|| "exit 1".into()),
      cache: cache.map(Into::into),
      key: cache.map(|_| "0123456789abcdef0123456789abcdef".into()),
      restore_ms: (cache == Some("hit")).then_some(1.6),
      cache_reason: None,
      cache_source: (cache == Some("hit")).then(|| "local".into()),
      remote_bytes: None,
    }
  }

  fn doc(success: bool) -> BuildDoc {
    BuildDoc {
      success,
      build_id: "b1".into(),
      duration: 41.7,
      artifacts: vec![],
      metrics: MetricsDoc {
        total_ms: 41.7,
        phases: [("build".to_string(), 30.2), ("pre-build".to_string(), 1.0)].into(),
        tasks: Default::default(),
        peak_rss_bytes: 30.0 * 1048576.0,
        peak_child_rss_bytes: 0.0,
      },
      error: (!success).then(|| ErrorDoc {
        code: "TASK_FAILED".into(),
        message: "task `api` failed: exit 1".into(),
        task: Some("api".into()),
      }),
      tasks: vec![
        task("web", "succeeded", Some("hit")),
        task("api", if success { "succeeded" } else { "failed" }, None),
      ],
      warnings: vec!["web: slow".into()],
      manifest_path: Some("dist/build-manifest.json".into()),
      remote: None,
      upload: None,
    }
  }

  #[test]
  fn summary_of_a_cached_build() {
    let r = summary(&doc(true));
    assert_eq!(
      r.stdout,
      "\ntask   status     time  cache  key         restore\n\
       ─────  ─────────  ────  ─────  ──────────  ───────\n\
       ✓ web  succeeded  3ms   hit    0123456789  2ms\n\
       ✓ api  succeeded  3ms   -      -           -\n\
       \nphases: build 30ms · pre-build 1ms\n\
       peak memory: 30.0 MiB (largest child 0 B)\n\
       manifest: dist/build-manifest.json\n\
       \n1 warning:\n! web: slow\n\
       ✓ Build b1 succeeded in 42ms\n"
    );
    assert_eq!(r.stderr, "");
  }

  #[test]
  fn a_failure_goes_to_stderr() {
    let r = summary(&doc(false));
    assert_eq!(
      r.stderr,
      "\n✗ api failed:\nexit 1\n\n✗ Build b1 failed [TASK_FAILED]: task `api` failed\n"
    );
    assert!(!r.stdout.contains("succeeded in"));
  }

  #[test]
  fn event_lines() {
    let ev = |kind, task: Option<&str>, message: Option<&str>, d: Option<f64>| Event {
      kind,
      task: task.map(Into::into),
      message: message.map(Into::into),
      duration_ms: d,
      time_ms: 0.0,
    };
    assert_eq!(
      plain_event_line(&ev(EventKind::TaskStarted, Some("web"), None, None)).unwrap(),
      "▶ web\n"
    );
    assert_eq!(
      plain_event_line(&ev(EventKind::TaskFinished, Some("web"), None, Some(1500.0))).unwrap(),
      "✓ web (1.50s)\n"
    );
    assert_eq!(plain_event_line(&ev(EventKind::Warning, None, Some("w"), None)).unwrap(), "! w\n");
    assert_eq!(plain_event_line(&ev(EventKind::Log, Some("web"), Some("x"), None)), None);
    let live = live_final(
      &[
        ev(EventKind::TaskQueued, Some("web"), None, None),
        ev(EventKind::Log, Some("web"), Some("restored"), None),
        ev(EventKind::TaskStarted, Some("web"), None, None),
        ev(EventKind::TaskFinished, Some("web"), None, Some(12.0)),
      ],
      100,
    );
    assert_eq!(live, "\x1b[2K✓ web        succeeded    12ms  restored\n");
  }
}
