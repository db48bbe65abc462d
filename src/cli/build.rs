//! `farm build` without Node: answered when no task that runs JavaScript has to run — the
//! frontend (Vite) and everything it depends on are cache hits, checked before anything is
//! written (plan, keys, lookups) — and the config has no plugin hooks (a config with hooks is never
//! in the config cache). Rust tasks (backend, types, typecheck, AI models, docker, commands) run
//! here when they miss. Anything else is handed over to the JavaScript CLI, which then does all of
//! the work.

use super::args::{parse_build, BuildArgs};
use super::config;
use super::doc::BuildDoc;
use super::format::json_pretty;
use super::node::Node;
use super::output::{print, tty_columns, Mode, Stream};
use super::render;
use crate::builders::{Hook, HookError, Host};
use crate::orchestrator::{BuildRequest, Orchestrator};
use crate::run::events::{Emitter, Event};
use futures_util::future::BoxFuture;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// What the native path did with a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
  /// It answered (its output is printed); the process exits with this code.
  Exit(i32),
  /// Node must answer; nothing was printed. Decided before anything is written (but the cache's
  /// own bookkeeping, the stat cache), except in one race: an entry found by the probe that then
  /// fails to restore for a task that needs JavaScript. Node then redoes the same steps (cleaning
  /// and restoring are idempotent). The reason is for `FARM_DEBUG_NATIVE`.
  HandOver(String),
}

/// Runs `farm build ARGS` natively if it can.
pub fn build(args: &[String], node: &Node) -> Answer {
  let opts = match parse_build(args) {
    Ok(o) => o,
    Err(e) => return Answer::HandOver(format!("arguments: {e}")),
  };
  if let Err(e) = opts.check_supported() {
    return Answer::HandOver(e.to_string());
  }
  let cwd = match std::env::current_dir() {
    Ok(d) => d,
    Err(e) => return Answer::HandOver(format!("current directory: {e}")),
  };
  let root = config::normalize(&cwd.join(opts.root.as_deref().unwrap_or(".")));
  let record = root.join(".farm").join("cache").join("config").join("node-version.json");
  let Some(version) = node.version_cached(&record) else {
    return Answer::HandOver(format!("`{} --version` failed", node.path.display()));
  };
  let loaded = match config::load(&root, &version) {
    Ok(c) => c,
    Err(e) => return Answer::HandOver(e.to_string()),
  };
  let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
    Ok(r) => r,
    Err(e) => return Answer::HandOver(format!("tokio runtime: {e}")),
  };
  runtime.block_on(run(opts, root, loaded, version, node))
}

/// Prints a `CONFIG_INVALID`-style error as `build.mjs` does; exit code 2.
fn config_error(json: bool, code: &str, message: &str) -> Answer {
  if json {
    let doc =
      serde_json::json!({ "success": false, "error": { "code": code, "message": message } });
    print(&format!("{}\n", json_pretty(&doc)), "");
  } else {
    print("", &format!("✗ {message}\n"));
  }
  Answer::Exit(2)
}

async fn run(
  opts: BuildArgs,
  root: PathBuf,
  loaded: config::LoadedConfig,
  node_version: String,
  node: &Node,
) -> Answer {
  let mut value = loaded.value;
  if let (Ok(Some(env)), Some(o)) = (opts.environment(), value.as_object_mut()) {
    o.insert("environment".into(), env.into());
  }
  let orch = match Orchestrator::new(value, &root, &loaded.file) {
    Ok(o) => o,
    Err(e) => return config_error(opts.json, e.code(), &e.to_string()),
  };
  let plan = match orch.plan(&opts.targets) {
    Ok(p) => p,
    Err(e) => return config_error(opts.json, e.code(), &e.to_string()),
  };
  let tools: std::collections::BTreeMap<String, String> =
    [("node".to_string(), node_version)].into();
  if opts.dry_run {
    // Keys and lookups only, as `orch.dryRunText` in build.mjs; an error is Node's to report.
    return match orch.dry_run(&opts.targets, tools) {
      Ok(rows) => {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        // A closed stdout (`| head`) is not the build's failure.
        let _ = render::write_dry_run(&mut out, &orch.config().app_name, &rows, opts.json)
          .and_then(|()| std::io::Write::flush(&mut out));
        Answer::Exit(0)
      }
      Err(e) => Answer::HandOver(format!("dry run: {e}")),
    };
  }
  let needed_js = Arc::new(AtomicBool::new(false));
  let mode = match (opts.json, tty_columns()) {
    (true, _) => Mode::Json,
    (false, Some(columns)) => Mode::Tty(columns),
    (false, None) => Mode::Plain,
  };
  let cfg = orch.config();
  let header = match mode {
    Mode::Json => String::new(),
    _ => render::header(&cfg.app_name, &cfg.version, cfg.environment.as_str(), &opts.targets),
  };
  let js_tasks: BTreeSet<String> =
    plan.tasks().iter().filter(|t| t.kind.needs_js()).map(|t| t.name.clone()).collect();
  // Created after the probe: nothing is printed before the build is known to stay native.
  let stream: Arc<Mutex<Option<Arc<Stream>>>> = Arc::default();
  let early = Arc::new(Mutex::new(Vec::<Event>::new()));
  let sink = {
    let (stream, early) = (Arc::clone(&stream), Arc::clone(&early));
    Emitter::new(Arc::new(move |e| {
      let current = stream.lock().ok().and_then(|s| s.clone());
      match current {
        Some(s) => s.event(e),
        None => {
          if let Ok(mut v) = early.lock() {
            v.push(e);
          }
        }
      }
    }))
  };
  // Before anything is written: does the build need JavaScript (a task that runs Vite must be a
  // hit, and so must everything it depends on)?
  let t0 = std::time::Instant::now();
  let probe = {
    let (orch, targets, tools, sink) =
      (orch.clone(), opts.targets.clone(), tools.clone(), sink.clone());
    tokio::task::spawn_blocking(move || orch.probe(&targets, tools, &sink)).await
  };
  let probe = match probe {
    Ok(Ok(Some(p))) => p,
    Ok(Ok(None)) => return Answer::HandOver("the build cache is off".into()),
    Ok(Err(e)) => return Answer::HandOver(format!("probe: {e}")),
    Err(e) => return Answer::HandOver(format!("probe panicked: {e}")),
  };
  if let Some(why) = probe.needs_js() {
    let row = probe.tasks().last();
    let reason =
      row.and_then(|t| t.reason.as_deref()).map(|r| format!(" ({r})")).unwrap_or_default();
    return Answer::HandOver(format!("{why}{reason}"));
  }
  let probe_ms = t0.elapsed().as_secs_f64() * 1000.0;
  let out = Arc::new(Stream::new(mode, header, js_tasks, Arc::clone(&needed_js)));
  if let Ok(mut s) = stream.lock() {
    // Events of the probe (cache warnings) come first, as the build's own would.
    for e in early.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default() {
      out.event(e);
    }
    *s = Some(Arc::clone(&out));
  }
  let cancel = CancellationToken::new();
  watch_signals(cancel.clone(), opts.json);
  let host = NativeHost { needed_js };
  let req = BuildRequest {
    targets: opts.targets.clone(),
    continue_on_error: opts.continue_on_error.then_some(true),
    concurrency: opts.concurrency().ok().flatten(),
    clean: opts.no_clean.then_some(false),
    node: Some(node.path.to_string_lossy().into_owned()),
    tool_versions: tools,
    no_cache: false,
    verify_cache: false,
    upload: opts.upload,
    profile: false,
  };
  let t1 = std::time::Instant::now();
  let result = orch.build_probed(req, probe, &host, &sink, cancel).await;
  if super::debug_enabled() {
    let build_ms = t1.elapsed().as_secs_f64() * 1000.0;
    eprintln!("farm: native: probe {probe_ms:.1}ms, build {build_ms:.1}ms");
  }
  if host.needed_js.load(Ordering::SeqCst) {
    return Answer::HandOver(
      "a task needed JavaScript after all (its cache entry could not be restored)".into(),
    );
  }
  let doc = BuildDoc::from(result);
  let code = match &doc.error {
    None if doc.success => 0,
    Some(e) if e.code == "CONFIG_INVALID" => 2,
    _ => 1,
  };
  if opts.json {
    print(&format!("{}\n", json_pretty(&doc)), "");
    return Answer::Exit(code);
  }
  let mut text = out.finish();
  let summary = render::summary(&doc);
  text.push_str(&summary.stdout);
  print(&text, &summary.stderr);
  Answer::Exit(code)
}

/// Ctrl-C (or SIGTERM) cancels the build; a second one exits at once (130), as in `build.mjs`.
fn watch_signals(cancel: CancellationToken, quiet: bool) {
  use tokio::signal::unix::{signal, SignalKind};
  for kind in [SignalKind::interrupt(), SignalKind::terminate()] {
    let Ok(mut s) = signal(kind) else { continue };
    let cancel = cancel.clone();
    tokio::spawn(async move {
      while s.recv().await.is_some() {
        if cancel.is_cancelled() {
          std::process::exit(130);
        }
        if !quiet {
          print("", "\nCancelling… (Ctrl-C again to force)\n");
        }
        cancel.cancel();
      }
    });
  }
}

/// The host of a native build: no JavaScript. The probe made sure no task needs it; if one does
/// anyway (a frontend entry that fails to restore), the build is handed over to Node.
#[derive(Default)]
struct NativeHost {
  needed_js: Arc<AtomicBool>,
}

impl Host for NativeHost {
  fn run_frontend(
    &self,
    _request: serde_json::Value,
  ) -> BoxFuture<'static, Result<serde_json::Value, String>> {
    self.needed_js.store(true, Ordering::SeqCst);
    Box::pin(async { Err("the frontend build needs Node.js (Vite)".to_string()) })
  }
  fn cancel_frontend(&self, _task_id: &str) {}
  fn call_hook(
    &self,
    _hook: Hook,
    _payload: serde_json::Value,
  ) -> BoxFuture<'static, Result<(), HookError>> {
    // A config whose plugins have hooks is never in the config cache, so none reaches here.
    Box::pin(async { Ok(()) })
  }
}
