//! The build orchestrator: pre-build (validate, plan, plugins, clean), the scheduled tasks, and
//! post-build (manifest, metrics, plugins). Plain Rust; the napi layer wraps it.

pub mod caching;
pub mod hermetic;
pub mod locking;
pub mod tool_facts;
pub mod verify;

#[cfg(test)]
mod probe_tests;
#[cfg(test)]
mod travel_tests;

use crate::builders::{builder_for, Builder, Hook, Host, IoContext, TaskContext, TaskIo, Uncached};
use crate::cache::remote::Uploaded;
use crate::config::{resolve, FarmConfig};
use crate::error::BuildError;
use crate::hash::KeyManifest;
use crate::plan::{plan_for_targets, Plan, PlanFacts, Task};
use crate::report::profile::{self as profile, Lane, Profiler, Span, SpanCat};
use crate::report::{self, Artifact, Manifest, Metrics};
use crate::run::events::{Emitter, EventKind};
use crate::run::{
  execute, SchedulerOptions, TaskError, TaskOutcome, TaskReport, TaskRunner, TaskStatus,
};
use caching::{outputs_ref, BuildCache, CacheInfo, CacheSource, CacheStatus, RemoteSummary};
use futures_util::future::BoxFuture;
use hermetic::Aside;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};
use tokio_util::sync::CancellationToken;

/// A validated project, ready to build.
#[derive(Debug, Clone)]
pub struct Orchestrator {
  config: FarmConfig,
  root: PathBuf,
  config_file: String,
}

/// What to build and how; everything optional overrides the config.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
  /// Targets (`all`, `frontend`, `backend`, `typecheck`); empty means all.
  pub targets: Vec<String>,
  /// Keep running independent tasks after a failure.
  pub continue_on_error: Option<bool>,
  /// Tasks run at once.
  pub concurrency: Option<usize>,
  /// Delete the outputs before building.
  pub clean: Option<bool>,
  /// The Node.js executable (for tsc); default `node`.
  pub node: Option<String>,
  /// Versions known on the JavaScript side (node, ...), for the manifest.
  pub tool_versions: BTreeMap<String, String>,
  /// Neither read nor write the build cache for this build (`--no-cache`).
  pub no_cache: bool,
  /// For each cache hit, also run the task and compare its output with the restored one
  /// (`--verify-cache`); a difference fails the task with the files and the likely cause.
  pub verify_cache: bool,
  /// After a successful build, store the output files and `build-manifest.json` under
  /// `<prefix>/<buildId>/` (`--upload`; `build.upload` in the config does it for every build).
  pub upload: bool,
  /// Record timed spans (`--profile`); they come back in [`BuildResult::profile`].
  pub profile: bool,
}

/// The stable error of a failed build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorInfo {
  /// `CONFIG_INVALID`, `TASK_FAILED`, `CANCELLED`, `CLEAN_REFUSED`, `PLUGIN_FAILED`, `IO_ERROR`.
  pub code: String,
  /// What went wrong.
  pub message: String,
  /// The task, for `TASK_FAILED`.
  pub task: Option<String>,
}

impl From<&BuildError> for ErrorInfo {
  fn from(e: &BuildError) -> Self {
    ErrorInfo { code: e.code().into(), message: e.to_string(), task: e.task().map(str::to_owned) }
  }
}

/// One task's line in the result.
#[derive(Debug, Clone)]
pub struct TaskSummary {
  /// The task.
  pub name: String,
  /// `succeeded`, `failed`, `skipped`, `cancelled`.
  pub status: TaskStatus,
  /// Run time, ms.
  pub duration_ms: f64,
  /// Error (failed) or reason (skipped).
  pub message: Option<String>,
  /// What the cache did (succeeded tasks).
  pub cache: Option<CacheInfo>,
}

/// The result of a build (the seed's `BuildResult`, plus per-task lines and warnings).
#[derive(Debug, Clone)]
pub struct BuildResult {
  /// Whether every planned task succeeded.
  pub success: bool,
  /// Unique, time-sortable id.
  pub build_id: String,
  /// Wall time, ms.
  pub duration_ms: f64,
  /// Artifacts of the succeeded tasks.
  pub artifacts: Vec<Artifact>,
  /// Timings and memory.
  pub metrics: Metrics,
  /// Why it failed.
  pub error: Option<ErrorInfo>,
  /// Every planned task, in plan order.
  pub tasks: Vec<TaskSummary>,
  /// Warnings that did not fail the build.
  pub warnings: Vec<String>,
  /// Where `build-manifest.json` was written (relative to the root), if it was.
  pub manifest_path: Option<String>,
  /// What the remote cache did, when one is configured.
  pub remote: Option<RemoteSummary>,
  /// Where the build's files were uploaded (`--upload` / `build.upload`).
  pub upload: Option<crate::cache::remote::upload::UploadReport>,
  /// The spans recorded with [`BuildRequest::profile`], in start order, and the lanes' names.
  pub profile: Option<(Vec<Span>, Vec<Lane>)>,
}

impl Orchestrator {
  /// Validates `config` (a JSON value, as loaded by the JavaScript side from `config_file`) for the
  /// project at `root`.
  pub fn new(
    config: serde_json::Value,
    root: &Path,
    config_file: &str,
  ) -> Result<Self, BuildError> {
    let cfg = FarmConfig::from_json(config, config_file)
      .map_err(|e| BuildError::ConfigInvalid(e.to_string()))?;
    let root = root.canonicalize().map_err(|e| {
      BuildError::ConfigInvalid(format!(
        "{config_file}: project root {} cannot be opened: {e}",
        root.display()
      ))
    })?;
    Ok(Orchestrator { config: cfg, root, config_file: config_file.into() })
  }

  /// The validated config.
  pub fn config(&self) -> &FarmConfig {
    &self.config
  }

  /// The project root (absolute, canonical).
  pub fn root(&self) -> &Path {
    &self.root
  }

  /// What a planned task reads and writes, as its builder states it.
  pub fn io_of(&self, task: &Task) -> TaskIo {
    builder_for(task.kind).io(&IoContext {
      task: &task.name,
      config: &self.config,
      root: &self.root,
    })
  }

  /// A task's dependencies with their kinds.
  fn dep_kinds(&self, task: &Task) -> Vec<(String, crate::plan::TaskKind)> {
    task
      .deps
      .iter()
      .map(|d| {
        let kind = crate::plan::TaskKind::of_builtin(d)
          .filter(|_| !self.config.tasks.contains_key(d))
          .unwrap_or(crate::plan::TaskKind::Command);
        (d.clone(), kind)
      })
      .collect()
  }

  /// Facts about the project that shape the plan.
  pub fn facts(&self) -> PlanFacts {
    let typecheck = self.config.frontend.as_ref().is_some_and(|fe| {
      fe.typecheck.unwrap_or_else(|| resolve(&self.root, &fe.root).join("tsconfig.json").is_file())
    });
    PlanFacts { typecheck }
  }

  /// The plan for `targets`, or a `CONFIG_INVALID` error naming the bad target.
  pub fn plan(&self, targets: &[String]) -> Result<Plan, BuildError> {
    plan_for_targets(&self.config, self.facts(), targets)
      .map_err(|e| BuildError::ConfigInvalid(format!("{}: {e}", self.config_file)))
  }

  /// Runs a build. Never panics into the caller and never returns `Err`: failures are in the result.
  pub async fn build(
    &self,
    req: BuildRequest,
    host: &dyn Host,
    events: &Emitter,
    cancel: CancellationToken,
  ) -> BuildResult {
    self.build_inner(req, None, host, events, cancel).await
  }

  /// Runs a build after [`Orchestrator::probe`]: with the probe's cache (one stat cache, one
  /// daemon session) and its keys of the tasks nothing before them in the build can change.
  pub async fn build_probed(
    &self,
    req: BuildRequest,
    probe: Probe,
    host: &dyn Host,
    events: &Emitter,
    cancel: CancellationToken,
  ) -> BuildResult {
    self.build_inner(req, Some(probe), host, events, cancel).await
  }

  async fn build_inner(
    &self,
    req: BuildRequest,
    probe: Option<Probe>,
    host: &dyn Host,
    events: &Emitter,
    cancel: CancellationToken,
  ) -> BuildResult {
    let started = Instant::now();
    let started_wall = SystemTime::now();
    let build_id = report::new_build_id(started_wall);
    let started_at = report::rfc3339(started_wall);
    let output_dir = resolve(&self.root, &self.config.output_dir);
    let tools = Mutex::new(req.tool_versions.clone());
    if let Ok(mut t) = tools.lock() {
      t.insert("@farm/build-native".into(), env!("CARGO_PKG_VERSION").into());
    }
    let mut phases = BTreeMap::new();
    let mut warnings = Vec::new();
    let prof = if req.profile { Profiler::on() } else { Profiler::off() };
    // Leftovers of a crashed build must not write into the outputs this build cleans and makes.
    let reap = prof.span(SpanCat::Run, 0, || "reap leftovers".into());
    locking::reap(self, events).await;
    reap.end();

    // Pre-build.
    let t0 = Instant::now();
    events.emit(EventKind::PhaseStarted, Some("pre-build"), None, None);
    let pre = self.pre_build(&req, host, &build_id, &output_dir, &cancel, &prof).await;
    prof.record_since(SpanCat::Phase, 0, t0, || "pre-build".into(), BTreeMap::new);
    phases.insert("pre-build".to_string(), ms(t0));
    events.emit(EventKind::PhaseFinished, Some("pre-build"), None, Some(ms(t0)));
    let plan = match pre {
      Ok(plan) => plan,
      Err(e) => {
        return self
          .finish(
            FinishArgs {
              build_id,
              started,
              started_at,
              reports: vec![],
              error: Some(e),
              phases,
              warnings,
              tools,
              prof,
              // No manifest is written: no git state.
              git: tokio::task::spawn_blocking(|| None),
            },
            host,
            events,
            &output_dir,
            false,
          )
          .await;
      }
    };

    // Build.
    let t1 = Instant::now();
    events.emit(EventKind::PhaseStarted, Some("build"), None, None);
    let node = req.node.clone().unwrap_or_else(|| "node".into());
    let opening = prof.span(SpanCat::Cache, 0, || "open cache".into());
    let (cache, known) = match probe {
      Some(p) if !req.no_cache => (Some(p.cache), p.reusable),
      _ => (self.open_cache(&req, events), BTreeMap::new()),
    };
    hermetic::sweep_stale(&resolve(&self.root, &self.config.cache_dir));
    opening.end();
    let runner = Runner {
      cache: cache.clone(),
      orch: self,
      host,
      events,
      build_id: &build_id,
      started_at: &started_at,
      output_dir: output_dir.clone(),
      node: &node,
      tools: &tools,
      verify: req.verify_cache,
      prof: prof.clone(),
      known: Mutex::new(known),
      outputs: Mutex::default(),
    };
    let opts = SchedulerOptions {
      concurrency: req.concurrency.unwrap_or_else(|| self.config.concurrency()),
      continue_on_error: req.continue_on_error.unwrap_or(self.config.build.continue_on_error),
      cancel: cancel.clone(),
    };
    let reports = execute(&plan, &runner, &opts, events).await;
    // The manifest's git state, beside the saves below: the work tree is compared with the index
    // from the stats the walks took (outputs stat'ed again), see `report::git`.
    let git = {
      let root = self.root.clone();
      let observed = cache.as_ref().map(|c| c.stat.take_observed()).unwrap_or_default();
      let mut fresh = runner.outputs.lock().map(|o| o.clone()).unwrap_or_default();
      fresh.push(output_dir.clone());
      let prof = prof.clone();
      tokio::task::spawn_blocking(move || {
        let lane = prof.named_lane("git");
        let _span = prof.span(SpanCat::Manifest, lane, || "git state".into());
        report::git_info(&root, &observed, &fresh)
      })
    };
    let remote = match &cache {
      Some(c) => remote_summary(c, &reports, events, &mut warnings).await,
      None => None,
    };
    if let Some(c) = cache {
      let _saving = prof.span(SpanCat::Cache, 0, || "save stat cache, evict".into());
      let stat = Arc::clone(&c.stat);
      let store_c = Arc::clone(&c);
      let done = tokio::task::spawn_blocking(move || {
        let mut problems = Vec::new();
        if let Err(e) = stat.save() {
          problems.push(format!("cache: saving the stat cache: {e}"));
        }
        let saved = store_c.saved.load(std::sync::atomic::Ordering::Relaxed);
        if let Err(e) = store_c.store.evict_if_due(SystemTime::now(), saved) {
          problems.push(format!("cache: eviction: {e}"));
        }
        problems
      })
      .await
      .unwrap_or_default();
      for p in done {
        events.warn(None, p);
      }
    }
    prof.record_since(SpanCat::Phase, 0, t1, || "build".into(), BTreeMap::new);
    phases.insert("build".to_string(), ms(t1));
    events.emit(EventKind::PhaseFinished, Some("build"), None, Some(ms(t1)));
    for (phase, span) in stage_spans(&reports) {
      phases.insert(phase, span);
    }
    for r in &reports {
      if let Some(o) = &r.outcome {
        warnings.extend(o.warnings.iter().map(|w| format!("{}: {w}", r.name)));
      }
    }
    let error = if cancel.is_cancelled() {
      Some(BuildError::Cancelled)
    } else {
      reports.iter().find(|r| r.status == TaskStatus::Failed).map(|r| BuildError::TaskFailed {
        message: format!(
          "task `{}` failed: {}",
          r.name,
          r.message.as_deref().unwrap_or("unknown error")
        ),
        task: r.name.clone(),
      })
    };
    let mut result = self
      .finish(
        FinishArgs {
          build_id,
          started,
          started_at,
          reports,
          error,
          phases,
          warnings,
          tools,
          prof,
          git,
        },
        host,
        events,
        &output_dir,
        true,
      )
      .await;
    result.remote = remote;
    if result.success {
      self.upload_build(&req, &output_dir, &mut result).await;
    }
    result
  }

  /// `--upload` / `build.upload`: stores the output files under `<prefix>/<buildId>/`. A failure
  /// fails the build (`IO_ERROR`): the upload was asked for.
  async fn upload_build(&self, req: &BuildRequest, output_dir: &Path, result: &mut BuildResult) {
    use crate::cache::remote::upload::UploadTarget;
    let target = match UploadTarget::resolve(&self.config, req.upload, &|n| std::env::var(n).ok()) {
      Ok(Some(t)) => t,
      Ok(None) => return,
      Err(e) => {
        result.success = false;
        result.error =
          Some(ErrorInfo { code: "IO_ERROR".into(), message: format!("upload: {e}"), task: None });
        return;
      }
    };
    match target.upload_dir(output_dir, &result.build_id).await {
      Ok(r) => result.upload = Some(r),
      Err(e) => {
        result.success = false;
        result.error = Some(ErrorInfo {
          code: "IO_ERROR".into(),
          message: format!("uploading the build to {} failed: {e}", target.location()),
          task: None,
        });
      }
    }
  }

  async fn pre_build(
    &self,
    req: &BuildRequest,
    host: &dyn Host,
    build_id: &str,
    output_dir: &Path,
    cancel: &CancellationToken,
    prof: &Profiler,
  ) -> Result<Plan, BuildError> {
    let planning = prof.span(SpanCat::Plan, 0, || "plan".into());
    let plan = self.plan(&req.targets)?;
    planning.end();
    let payload = json!({
      "buildId": build_id,
      "appName": self.config.app_name,
      "version": self.config.version,
      "environment": self.config.environment.as_str(),
      "root": self.root,
      "outputDir": output_dir,
      "tasks": plan.tasks().iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
    });
    let hook = prof.span(SpanCat::Hook, 0, || "plugins preBuild".into());
    host.call_hook(Hook::PreBuild, payload).await.map_err(|e| BuildError::PluginFailed {
      plugin: e.plugin,
      hook: Hook::PreBuild.as_str().into(),
      message: e.message,
    })?;
    hook.end();
    if cancel.is_cancelled() {
      return Err(BuildError::Cancelled);
    }
    if req.clean.unwrap_or(self.config.build.clean.unwrap_or(true)) {
      let full = req.targets.is_empty() || req.targets.iter().any(|t| t == "all");
      // The planned tasks' own outputs are not cleaned here: each task resets them under its lock
      // (a hit restores exactly its entry; a run starts from nothing, see `hermetic`), so a
      // concurrent build of the same project never sees them deleted under its feet.
      let keep: Vec<PathBuf> = plan
        .tasks()
        .iter()
        .flat_map(|t| self.io_of(t).writes.into_iter().map(|o| o.path))
        .filter(|p| p.starts_with(output_dir))
        .collect();
      let _cleaning = prof.span(SpanCat::Run, 0, || "clean outputs".into());
      self.clean(output_dir, full, &plan, &keep)?;
    }
    Ok(plan)
  }

  /// Deletes the outputs: all of `outputDir` for a full build, else only the selected tasks' dirs.
  /// Refuses any path that is not strictly inside the project root.
  fn clean(
    &self,
    output_dir: &Path,
    full: bool,
    plan: &Plan,
    keep: &[PathBuf],
  ) -> Result<(), BuildError> {
    // outputDir itself (followed through symlinks) must be strictly inside the root.
    if let Ok(real) = output_dir.canonicalize() {
      if real == self.root || !real.starts_with(&self.root) {
        return Err(BuildError::CleanRefused(format!(
          "refusing to clean {}: it resolves to {}, which is not inside the project root {} (check `outputDir` and symlinks)",
          output_dir.display(),
          real.display(),
          self.root.display()
        )));
      }
    }
    let mut targets = Vec::new();
    if full && keep.is_empty() {
      targets.push(output_dir.to_path_buf());
    } else if full {
      // Everything in outputDir but the kept dirs (and the dirs that lead to them).
      let mut stack = vec![output_dir.to_path_buf()];
      while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
          let p = e.path();
          if keep.iter().any(|k| k == &p) {
            continue;
          }
          if keep.iter().any(|k| k.starts_with(&p)) && e.file_type().is_ok_and(|t| t.is_dir()) {
            stack.push(p);
          } else {
            targets.push(p);
          }
        }
      }
    } else {
      for t in plan.tasks() {
        for o in self.io_of(t).writes {
          if o.path.starts_with(output_dir) && !keep.contains(&o.path) {
            targets.push(o.path);
          }
        }
      }
    }
    for dir in targets {
      let meta = match std::fs::symlink_metadata(&dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
        Err(e) => return Err(BuildError::io(format!("reading {}", dir.display()), e)),
      };
      // Resolve symlinks (in the parents, and the dir itself unless it is a link, which is removed
      // as a link): the real location must be strictly under the real root, or nothing is deleted.
      let resolved = if meta.file_type().is_symlink() {
        dir
          .parent()
          .and_then(|p| p.canonicalize().ok())
          .and_then(|p| dir.file_name().map(|n| p.join(n)))
      } else {
        dir.canonicalize().ok()
      };
      let real = resolved.ok_or_else(|| {
        BuildError::io(
          format!("resolving {}", dir.display()),
          std::io::Error::other("cannot resolve the path"),
        )
      })?;
      if real == self.root || !real.starts_with(&self.root) {
        return Err(BuildError::CleanRefused(format!(
          "refusing to delete {}: it resolves to {}, which is not inside the project root {} (check `outputDir` and symlinks)",
          dir.display(),
          real.display(),
          self.root.display()
        )));
      }
      let res = if meta.file_type().is_symlink() || meta.is_file() {
        std::fs::remove_file(&dir)
      } else {
        std::fs::remove_dir_all(&dir)
      };
      res.map_err(|e| BuildError::io(format!("cleaning {}", dir.display()), e))?;
    }
    Ok(())
  }

  async fn finish(
    &self,
    a: FinishArgs,
    host: &dyn Host,
    events: &Emitter,
    output_dir: &Path,
    write_manifest: bool,
  ) -> BuildResult {
    let FinishArgs {
      build_id,
      started,
      started_at,
      reports,
      mut error,
      mut phases,
      mut warnings,
      tools,
      prof,
      git,
    } = a;
    // Task warnings were already sent as events while the tasks ran; only new ones are sent below.
    let already_sent = warnings.len();
    let t2 = Instant::now();
    events.emit(EventKind::PhaseStarted, Some("post-build"), None, None);
    let artifacts: Vec<Artifact> = reports
      .iter()
      .filter_map(|r| r.outcome.as_ref())
      .flat_map(|o| o.artifacts.iter().cloned())
      .collect();
    let tasks: Vec<TaskSummary> = reports
      .iter()
      .map(|r| TaskSummary {
        name: r.name.clone(),
        status: r.status,
        duration_ms: r.duration_ms(),
        message: r.message.clone(),
        cache: r.outcome.as_ref().and_then(|o| o.cache.clone()),
      })
      .collect();
    let success = error.is_none();
    let summary = json!({
      "buildId": build_id,
      "success": success,
      "artifacts": artifacts.iter().map(|a| json!({ "type": a.kind, "name": a.name, "path": a.path, "size": a.size, "hash": a.hash })).collect::<Vec<_>>(),
      "tasks": tasks.iter().map(|t| json!({ "name": t.name, "status": t.status.as_str(), "durationMs": t.duration_ms })).collect::<Vec<_>>(),
      "error": error.as_ref().map(|e| json!({ "code": e.code(), "message": e.to_string(), "task": e.task() })),
    });
    let hook = prof.span(SpanCat::Hook, 0, || "plugins postBuild".into());
    let posted = host.call_hook(Hook::PostBuild, summary).await;
    hook.end();
    if let Err(e) = posted {
      if error.is_none() {
        error = Some(BuildError::PluginFailed {
          plugin: e.plugin,
          hook: Hook::PostBuild.as_str().into(),
          message: e.message,
        });
      } else {
        warnings.push(format!("plugin `{}` failed in postBuild: {}", e.plugin, e.message));
      }
    }
    phases.insert("post-build".into(), ms(t2));
    let (peak, peak_child) = report::peak_memory();
    let mut metrics = Metrics {
      total_ms: ms(started),
      phases,
      tasks: reports
        .iter()
        .filter(|r| r.start_ms.is_some())
        .map(|r| (r.name.clone(), r.duration_ms()))
        .collect(),
      peak_rss_bytes: peak,
      peak_child_rss_bytes: peak_child,
    };
    let mut manifest_path = None;
    // Awaited whatever happens, so no `git` process outlives the build.
    let git_info = git.await.ok().flatten();
    if write_manifest {
      let _writing = prof.span(SpanCat::Manifest, 0, || "manifest".into());
      let tool_versions = tools.lock().map(|t| t.clone()).unwrap_or_default();
      let manifest = Manifest {
        schema_version: 1,
        build_id: build_id.clone(),
        started_at,
        success: error.is_none(),
        app_name: self.config.app_name.clone(),
        version: self.config.version.clone(),
        environment: self.config.environment.as_str().into(),
        artifacts: artifacts.clone(),
        tasks: tasks
          .iter()
          .map(|t| json!({ "name": t.name, "status": t.status.as_str(), "durationMs": t.duration_ms, "message": t.message }))
          .collect(),
        tool_versions,
        git: git_info,
        metrics: metrics.clone(),
      };
      let path = output_dir.join("build-manifest.json");
      match serde_json::to_vec_pretty(&manifest)
        .map_err(std::io::Error::other)
        .and_then(|b| report::write_atomic(&path, &b))
      {
        Ok(()) => manifest_path = Some(report::rel_path(&self.root, &path)),
        Err(e) => {
          let err = BuildError::io(format!("writing {}", path.display()), e);
          if error.is_none() {
            error = Some(err);
          } else {
            warnings.push(err.to_string());
          }
        }
      }
    }
    events.emit(EventKind::PhaseFinished, Some("post-build"), None, Some(ms(t2)));
    prof.record_since(SpanCat::Phase, 0, t2, || "post-build".into(), BTreeMap::new);
    prof.record_since(SpanCat::Phase, 0, started, || "orchestrator build".into(), BTreeMap::new);
    metrics.total_ms = ms(started);
    for w in &warnings[already_sent..] {
      events.warn(None, w.clone());
    }
    BuildResult {
      success: error.is_none(),
      build_id,
      duration_ms: ms(started),
      artifacts,
      metrics,
      error: error.as_ref().map(ErrorInfo::from),
      tasks,
      warnings,
      manifest_path,
      remote: None,
      upload: None,
      profile: prof.is_on().then(|| prof.spans()),
    }
  }
}

struct FinishArgs {
  build_id: String,
  started: Instant,
  started_at: String,
  reports: Vec<TaskReport>,
  error: Option<BuildError>,
  phases: BTreeMap<String, f64>,
  warnings: Vec<String>,
  tools: Mutex<BTreeMap<String, String>>,
  prof: Profiler,
  git: tokio::task::JoinHandle<Option<report::GitInfo>>,
}

fn ms(since: Instant) -> f64 {
  since.elapsed().as_secs_f64() * 1000.0
}

/// Per stage (`parallel-builds`, `frontend-build`, ...): first start to last end of its tasks.
fn stage_spans(reports: &[TaskReport]) -> BTreeMap<String, f64> {
  let mut spans: BTreeMap<String, (f64, f64)> = BTreeMap::new();
  for r in reports {
    if let (Some(s), Some(e)) = (r.start_ms, r.end_ms) {
      let span = spans.entry(r.phase.clone()).or_insert((s, e));
      span.0 = span.0.min(s);
      span.1 = span.1.max(e);
    }
  }
  spans.into_iter().map(|(k, (s, e))| (k, e - s)).collect()
}

/// Runs the plan's tasks with their builders, calling plugin hooks around each.
struct Runner<'a> {
  cache: Option<Arc<BuildCache>>,
  orch: &'a Orchestrator,
  host: &'a dyn Host,
  events: &'a Emitter,
  build_id: &'a str,
  started_at: &'a str,
  output_dir: PathBuf,
  node: &'a str,
  tools: &'a Mutex<BTreeMap<String, String>>,
  verify: bool,
  prof: Profiler,
  /// Keys a probe computed just before, for tasks whose inputs the build cannot change first
  /// (each taken by its task).
  known: Mutex<BTreeMap<String, KeyManifest>>,
  /// The declared outputs of the tasks started so far (files there may have changed since the
  /// walks saw them).
  outputs: Mutex<Vec<std::path::PathBuf>>,
}

/// One cached task being run: what the runner's steps share.
#[derive(Clone, Copy)]
struct Job<'a> {
  cache: &'a Arc<BuildCache>,
  builder: &'a dyn Builder,
  task: &'a Task,
  io: &'a TaskIo,
  manifest: &'a crate::hash::KeyManifest,
  cancel: &'a CancellationToken,
  logs: &'a Mutex<Vec<String>>,
}

impl TaskRunner for Runner<'_> {
  fn run<'a>(
    &'a self,
    task: &'a Task,
    cancel: CancellationToken,
  ) -> BoxFuture<'a, Result<TaskOutcome, TaskError>> {
    // The task's lock is held from before the cache lookup until after the save.
    let lane = self.prof.lane(&task.name);
    let mut span = self.prof.span(SpanCat::Task, lane, || format!("task {}", task.name));
    let inner = locking::locked(self.orch, self.events, task, cancel.clone(), async move {
      let builder = builder_for(task.kind);
      let io = self.orch.io_of(task);
      if let Ok(mut o) = self.outputs.lock() {
        o.extend(io.writes.iter().map(|w| w.path.clone()));
      }
      let logs = Mutex::new(Vec::new());
      let keyed = match &self.cache {
        Some(c) => self.cache_key(c, task, &io, lane).await.map(|m| (c, m)),
        None => Err(Uncached::Disabled),
      };
      let (c, manifest) = match keyed {
        Ok(v) => v,
        Err(why) => {
          if why.is_problem() {
            self.events.warn(Some(&task.name), format!("cache: {why}"));
          }
          let mut o = self.run_hermetic(builder, task, &io, cancel, &logs).await?;
          o.cache = Some(CacheInfo::off(&why));
          return Ok(o);
        }
      };
      if c.read {
        let job = Job {
          cache: c,
          builder,
          task,
          io: &io,
          manifest: &manifest,
          cancel: &cancel,
          logs: &logs,
        };
        if let Some(hit) = self.try_restore(&job).await? {
          return Ok(hit);
        }
      }
      if c.write && !manifest.is_machine_bound() {
        // This task's entry will be uploaded: ask (once, in the background) whether the server
        // takes uploads, while the task runs.
        if let Some(r) = &c.remote {
          r.check_status_soon();
        }
      }
      let t_run = Instant::now();
      let mut outcome = self.run_hermetic(builder, task, &io, cancel, &logs).await?;
      if c.write {
        let _saving = self.prof.span(SpanCat::Cache, lane, || "cache save".into());
        let result = outcome_to_json(&outcome);
        let lines = logs.lock().map(|l| l.clone()).unwrap_or_default();
        c.saved.store(true, std::sync::atomic::Ordering::Relaxed);
        match c.store.save(&manifest, &outputs_ref(&io.writes), &result, &lines) {
          // A machine-bound entry (a venv naming this checkout's paths) stays on this machine.
          Ok(_) if manifest.is_machine_bound() => {}
          Ok(_) => upload_in_background(c, &manifest.key, &task.name, ms(t_run) as u64),
          Err(e) => {
            self.events.warn(Some(&task.name), format!("cache: could not save the outputs: {e}"))
          }
        }
      }
      outcome.cache = Some(CacheInfo {
        status: CacheStatus::Miss,
        source: None,
        remote_bytes: None,
        key: Some(manifest.key.clone()),
        restore_ms: None,
        reason: None,
      });
      Ok(outcome)
    });
    let prof = self.prof.clone();
    Box::pin(async move {
      let r = profile::scope(prof, lane, inner).await;
      span.text("cache", || match &r {
        Ok(o) => o.cache.as_ref().map_or("-", |c| c.status.as_str()).to_string(),
        Err(_) => "failed".into(),
      });
      r
    })
  }

  fn before_task<'a>(&'a self, task: &'a Task) -> BoxFuture<'a, Result<(), String>> {
    Box::pin(async move {
      let payload = json!({ "buildId": self.build_id, "task": task.name, "phase": task.phase, "deps": task.deps });
      self
        .host
        .call_hook(Hook::OnTaskStart, payload)
        .await
        .map_err(|e| format!("plugin `{}` failed in onTaskStart: {}", e.plugin, e.message))
    })
  }

  fn after_task<'a>(&'a self, r: &'a TaskReport) -> BoxFuture<'a, Result<(), String>> {
    Box::pin(async move {
      let payload = json!({
        "buildId": self.build_id,
        "task": r.name,
        "status": r.status.as_str(),
        "durationMs": r.duration_ms(),
        "error": if r.status == TaskStatus::Failed { r.message.clone() } else { None },
      });
      self
        .host
        .call_hook(Hook::OnTaskEnd, payload)
        .await
        .map_err(|e| format!("plugin `{}` failed in onTaskEnd: {}", e.plugin, e.message))
    })
  }
}

impl<'r> Runner<'r> {
  /// The context a builder runs with.
  fn context<'a>(
    &'a self,
    task: &'a Task,
    cancel: CancellationToken,
    logs: &'a Mutex<Vec<String>>,
  ) -> TaskContext<'a> {
    TaskContext {
      task: &task.name,
      config: &self.orch.config,
      root: &self.orch.root,
      output_dir: self.output_dir.clone(),
      build_id: self.build_id,
      started_at: self.started_at,
      events: self.events,
      cancel,
      host: self.host,
      node: self.node,
      tools: self.tools,
      logs,
    }
  }

  /// Runs the task's builder with a context.
  async fn run_builder(
    &self,
    builder: &dyn crate::builders::Builder,
    task: &Task,
    cancel: CancellationToken,
    logs: &Mutex<Vec<String>>,
  ) -> Result<TaskOutcome, TaskError> {
    let ctx = self.context(task, cancel, logs);
    let outcome = builder.build(&ctx).await?;
    for w in &outcome.warnings {
      self.events.warn(Some(&task.name), w.clone());
    }
    Ok(outcome)
  }

  /// The task's key, or why it is not cached.
  async fn cache_key(
    &self,
    c: &Arc<BuildCache>,
    task: &Task,
    io: &TaskIo,
    lane: u32,
  ) -> Result<crate::hash::KeyManifest, Uncached> {
    let mut span = self.prof.span(SpanCat::Hash, lane, || format!("key {}", task.name));
    // Taken, not cloned: each task is keyed once per build, and its input list can be large.
    if let Some(m) = self.known.lock().ok().and_then(|mut k| k.remove(&task.name)) {
      span.text("from", || "probe".into());
      return Ok(m);
    }
    let reads = io.reads.clone()?;
    let deps = self.orch.dep_kinds(task);
    let (c2, name, prof) = (Arc::clone(c), task.name.clone(), self.prof.clone());
    let r = tokio::task::spawn_blocking(move || {
      c2.key_for_profiled(&reads, &name, &deps, &prof, lane, None)
    })
    .await
    .unwrap_or_else(|e| Err(Uncached::HashFailed(format!("hashing panicked: {e}"))));
    if let Ok((_, stats)) = &r {
      span.num("files", stats.files as f64);
      span.num("filesRead", stats.files_read as f64);
    }
    r.map(|(m, _)| m)
  }

  /// Runs the builder with its declared outputs moved aside first: the task starts from nothing,
  /// and its old outputs come back if it fails or is cancelled.
  async fn run_hermetic(
    &self,
    builder: &dyn Builder,
    task: &Task,
    io: &TaskIo,
    cancel: CancellationToken,
    logs: &Mutex<Vec<String>>,
  ) -> Result<TaskOutcome, TaskError> {
    let aside = self.take_aside(task, io).await?;
    let running = profile::current_span(SpanCat::Run, || format!("run {}", task.name));
    let r = self.run_builder(builder, task, cancel, logs).await;
    running.end();
    self.settle_aside(task, aside, r.is_ok()).await;
    r
  }

  async fn take_aside(&self, task: &Task, io: &TaskIo) -> Result<Aside, TaskError> {
    let (writes, cache_dir) =
      (io.writes.clone(), resolve(&self.orch.root, &self.orch.config.cache_dir));
    tokio::task::spawn_blocking(move || Aside::take(&writes, &cache_dir))
      .await
      .map_err(|e| TaskError::Failed(format!("moving the old outputs aside panicked: {e}")))?
      .map_err(|e| {
        TaskError::Failed(format!("moving the old outputs of `{}` aside: {e}", task.name))
      })
  }

  async fn settle_aside(&self, task: &Task, aside: Aside, success: bool) {
    let r = tokio::task::spawn_blocking(move || {
      if success {
        aside.discard();
        Ok(())
      } else {
        aside.put_back()
      }
    })
    .await;
    if let Ok(Err(e)) = r {
      self.events.warn(Some(&task.name), format!("putting the previous outputs back: {e}"));
    }
  }

  /// Looks the key up and restores the entry; `None` when the task must run (a miss, or an entry
  /// that could not be restored, which the store then drops).
  async fn try_restore(&self, job: &Job<'_>) -> Result<Option<TaskOutcome>, TaskError> {
    let Job { cache: c, builder, task, io, manifest, cancel, logs } = *job;
    let t0 = Instant::now();
    let lookup = profile::current_span(SpanCat::Cache, || "cache lookup".into());
    let looked = c.store.lookup(&manifest.key);
    lookup.end();
    let (entry, source, remote_bytes) = match looked {
      Ok(Some(entry)) => (entry, CacheSource::Local, None),
      // Machine-bound keys are never asked of (nor sent to) the remote cache.
      Ok(None) if manifest.is_machine_bound() => return Ok(None),
      Ok(None) => match self.fetch_remote(c, task, &manifest.key).await {
        Some((entry, bytes)) => (entry, CacheSource::Remote, Some(bytes)),
        None => return Ok(None),
      },
      Err(e) => {
        self.events.warn(Some(&task.name), format!("cache: lookup failed: {e}; rebuilding"));
        return Ok(None);
      }
    };
    let mut restoring =
      profile::current_span(SpanCat::Restore, || format!("restore {}", task.name));
    let restored = c.store.restore_with_stat(&entry, &outputs_ref(&io.writes), Some(&c.stat));
    if let Ok(r) = &restored {
      restoring.num("written", (r.reflinked + r.hardlinked + r.copied) as f64);
      restoring.num("identical", r.skipped_identical as f64);
      restoring.num("identicalByStat", r.skipped_by_stat as f64);
      restoring.num("blobsByStat", r.blobs_by_stat as f64);
      restoring.num("bytes", r.bytes as f64);
    }
    restoring.end();
    let report = match restored {
      Ok(r) => r,
      Err(e) => {
        self.events.warn(Some(&task.name), format!("cache: {e}; rebuilding"));
        return Ok(None);
      }
    };
    for l in &report.logs {
      self.events.log(&task.name, l.clone());
    }
    let restore_ms = ms(t0);
    if self.verify {
      self.verify_hit(job, &entry).await?;
    }
    let mut o: TaskOutcome = outcome_from_json(&report.result);
    for w in &o.warnings {
      self.events.warn(Some(&task.name), w.clone());
    }
    let ctx = self.context(task, cancel.clone(), logs);
    let after_span = profile::current_span(SpanCat::Run, || "after restore".into());
    let after = builder.after_restore(&ctx).await?;
    after_span.end();
    for w in &after {
      self.events.warn(Some(&task.name), w.clone());
    }
    o.warnings.extend(after);
    o.cache = Some(CacheInfo {
      status: CacheStatus::Hit,
      source: Some(source),
      remote_bytes,
      key: Some(manifest.key.clone()),
      restore_ms: Some(restore_ms),
      reason: None,
    });
    Ok(Some(o))
  }

  /// On a local miss: downloads the key's artifact from the remote cache, verifies it whole and
  /// unpacks it into the local store, which then serves it as a local entry. `None` (after a
  /// warning for anything but a plain remote miss) when the task must run.
  async fn fetch_remote(
    &self,
    c: &Arc<BuildCache>,
    task: &Task,
    key: &str,
  ) -> Option<(crate::cache::Entry, u64)> {
    let remote = c.remote.as_ref().filter(|r| r.read)?;
    // Cache usage events, as turbo sends them: this local miss, then the remote's answer.
    use crate::cache::remote::{EventKind, EventSource};
    remote.record_event(EventSource::Local, EventKind::Miss, key, 0);
    let warn = |m: String| {
      let m = format!("{m}; building locally");
      self.events.warn(Some(&task.name), m.clone());
      if let Ok(mut w) = c.remote_warnings.lock() {
        w.push(format!("{}: {m}", task.name));
      }
    };
    let download = match remote.fetch(key).await {
      Ok(Some(d)) => d,
      Ok(None) => {
        remote.record_event(EventSource::Remote, EventKind::Miss, key, 0);
        return None;
      }
      Err(e) => {
        warn(e.to_string());
        return None;
      }
    };
    let bytes = download.body.len() as u64;
    let saved_ms = download.duration_ms.unwrap_or(0);
    let (c2, k) = (Arc::clone(c), key.to_string());
    let limit = self.orch.config.cache.max_size.as_str();
    let limit = crate::config::parse_size(limit).unwrap_or(5 << 30);
    let imported = tokio::task::spawn_blocking(move || {
      crate::cache::remote::artifact::unpack_into(&c2.store, &download.body, &k, limit)
    })
    .await;
    match imported {
      Ok(Ok(_)) => {}
      Ok(Err(source)) => {
        // The store's artifact is unusable: this build's upload replaces it.
        remote.replace_on_upload(key);
        warn(
          crate::cache::remote::RemoteError::Artifact { key: key.to_string(), source }.to_string(),
        );
        return None;
      }
      Err(e) => {
        warn(format!("remote cache: unpacking panicked: {e}"));
        return None;
      }
    }
    match c.store.lookup(key) {
      Ok(Some(entry)) => {
        remote.record_event(EventSource::Remote, EventKind::Hit, key, saved_ms);
        self.events.log(
          &task.name,
          format!("cache: hit (remote): {bytes} bytes downloaded from {}", remote.location()),
        );
        Some((entry, bytes))
      }
      _ => None,
    }
  }

  /// `--verify-cache`: runs the task from empty outputs and compares with the restored ones; the
  /// fresh outputs stay either way. Different: the entry is dropped and the task fails with the
  /// differences and the likely undeclared inputs.
  async fn verify_hit(&self, job: &Job<'_>, entry: &crate::cache::Entry) -> Result<(), TaskError> {
    let Job { cache: c, builder, task, io, manifest, cancel, logs } = *job;
    let aside = self.take_aside(task, io).await?;
    let fresh_logs = Mutex::new(Vec::new());
    let r = self.run_builder(builder, task, cancel.clone(), &fresh_logs).await;
    if let Err(e) = r {
      self.settle_aside(task, aside, false).await;
      return Err(match e {
        TaskError::Failed(m) => TaskError::Failed(format!(
          "--verify-cache: the task was restored from the cache, but running it failed:\n{m}"
        )),
        other => other,
      });
    }
    let mut diffs = Vec::new();
    for o in &io.writes {
      let shown = crate::report::rel_path(&self.orch.root, &o.path);
      diffs.extend(verify::compare(aside.moved_path(&o.path), &o.path, &shown));
    }
    if diffs.is_empty() {
      self
        .events
        .log(&task.name, "--verify-cache: a fresh run gives the restored outputs byte for byte");
      self.settle_aside(task, aside, true).await;
      if let Ok(mut l) = logs.lock() {
        l.extend(fresh_logs.into_inner().unwrap_or_default());
      }
      return Ok(());
    }
    self.settle_aside(task, aside, true).await;
    c.store.forget(&manifest.key);
    let mut msg = format!(
      "--verify-cache: the cached output differs from a fresh run ({} path{}):",
      diffs.len(),
      if diffs.len() == 1 { "" } else { "s" }
    );
    for d in diffs.iter().take(20) {
      msg.push_str(&format!("\n  {}: {}", d.path, d.what.describe()));
    }
    if diffs.len() > 20 {
      msg.push_str(&format!("\n  … and {} more", diffs.len() - 20));
    }
    let suspects = match &io.reads {
      Ok(reads) => verify::likely_undeclared(
        &reads.root,
        &reads.ignore,
        manifest,
        verify::entry_time(entry.created_unix_ms),
        5,
      ),
      Err(_) => Vec::new(),
    };
    if suspects.is_empty() {
      msg.push_str("\nlikely cause: an input outside the task's folder, an env var the key does not list, or a tool that is not deterministic (timestamps, random ids)");
    } else {
      msg
        .push_str("\nlikely undeclared inputs (changed since the entry was made, not in the key):");
      for s in &suspects {
        msg.push_str(&format!("\n  {s}"));
      }
      msg.push_str(
        "\nadd them to the task's inputs (`cache.inputs`, or `inputs` of a command task)",
      );
    }
    msg.push_str("\nthe fresh output was kept and the cache entry dropped");
    Err(TaskError::Failed(msg))
  }
}

/// Packs the entry of `key` and uploads it to the remote cache, in the background (when the
/// build has a writable remote cache); the build awaits it at the end ([`remote_summary`]).
/// Packing is skipped when the server already said it takes no uploads.
fn upload_in_background(c: &Arc<BuildCache>, key: &str, task: &str, duration_ms: u64) {
  let Some(remote) = c.remote.as_ref().filter(|r| r.write).cloned() else { return };
  let (c2, key, task) = (Arc::clone(c), key.to_string(), task.to_string());
  let handle = tokio::spawn(async move {
    if let Some(status) = remote.uploads_refused() {
      return Ok(Uploaded::Refused(status));
    }
    let k = key.clone();
    let packed =
      tokio::task::spawn_blocking(move || crate::cache::remote::artifact::pack(&c2.store, &k))
        .await
        .map_err(|e| format!("{task}: remote cache: packing panicked: {e}"))?
        .map_err(|e| format!("{task}: remote cache: cannot pack {key}: {e}"))?;
    remote
      .upload(&key, packed.into(), duration_ms)
      .await
      .map_err(|e| format!("{task}: {e}; the local cache has it"))
  });
  if let Ok(mut u) = c.uploads.lock() {
    u.push(handle);
  }
}

/// Waits (within a time bound) for the build's uploads, and sums up what the remote cache did;
/// one warning when the server said it takes no uploads (`/v8/artifacts/status`).
async fn remote_summary(
  c: &Arc<BuildCache>,
  reports: &[TaskReport],
  events: &Emitter,
  warnings: &mut Vec<String>,
) -> Option<RemoteSummary> {
  let remote = c.remote.as_ref()?;
  warnings
    .extend(c.remote_warnings.lock().map(|mut w| std::mem::take(&mut *w)).unwrap_or_default());
  let mut warn = |m: String| {
    events.warn(None, m.clone());
    warnings.push(m);
  };
  let mut s =
    RemoteSummary { location: remote.location(), write: remote.write, ..Default::default() };
  for info in reports.iter().filter_map(|r| r.outcome.as_ref()?.cache.as_ref()) {
    if info.source == Some(CacheSource::Remote) {
      s.hits += 1;
      s.downloaded_bytes += info.remote_bytes.unwrap_or(0);
    }
  }
  let handles = c.uploads.lock().map(|mut u| std::mem::take(&mut *u)).unwrap_or_default();
  // Each request (status, HEAD, PUT) has its own time limit; packing is local. Past this bound,
  // uploads are dropped.
  let bound = remote.timeout.saturating_mul(3) + std::time::Duration::from_secs(5);
  let deadline = tokio::time::Instant::now() + bound;
  for mut h in handles {
    match tokio::time::timeout_at(deadline, &mut h).await {
      Ok(Ok(Ok(Uploaded::Sent(n)))) => {
        s.uploads += 1;
        s.uploaded_bytes += n;
      }
      Ok(Ok(Ok(Uploaded::AlreadyStored))) => s.already_stored += 1,
      Ok(Ok(Ok(Uploaded::Refused(_)))) => {}
      Ok(Ok(Err(m))) => warn(m),
      Ok(Err(e)) => warn(format!("remote cache: an upload panicked: {e}")),
      Err(_) => {
        h.abort();
        warn(format!(
          "remote cache: an upload did not finish within {} ms and was abandoned",
          bound.as_millis()
        ));
      }
    }
  }
  if let Some(status) = remote.uploads_refused() {
    s.write = false;
    s.server_status = Some(status.as_str().to_string());
    warn(format!(
      "remote cache {}: the server says caching is {} (/v8/artifacts/status): uploads are off for this build",
      remote.location(),
      status.as_str()
    ));
  }
  send_events(c, remote, reports, deadline).await;
  Some(s)
}

/// Sends the build's last cache usage events (Turborepo API), within the uploads' bound. Local
/// hits are reported only by a build that talks to the server anyway (it looked something up):
/// a build of local hits only stays off the network. Failures are never warnings (as in turbo);
/// `FARM_REMOTE_CACHE_DEBUG=1` prints them.
async fn send_events(
  c: &Arc<BuildCache>,
  remote: &crate::cache::remote::RemoteCache,
  reports: &[TaskReport],
  deadline: tokio::time::Instant,
) {
  use crate::cache::remote::{EventKind, EventSource};
  if remote.events_active() {
    let keys = c.keys.lock().map(|k| k.clone()).unwrap_or_default();
    for r in reports {
      let Some(info) = r.outcome.as_ref().and_then(|o| o.cache.as_ref()) else { continue };
      let (CacheStatus::Hit, Some(CacheSource::Local), Some(key)) =
        (&info.status, info.source, info.key.as_deref())
      else {
        continue;
      };
      if keys.get(&r.name).is_some_and(|m| m.key == key && !m.machine_bound) {
        remote.record_event(EventSource::Local, EventKind::Hit, key, 0);
      }
    }
  }
  if let Some(stats) = remote.close_events(deadline).await {
    if std::env::var_os("FARM_REMOTE_CACHE_DEBUG").is_some() && (stats.sent + stats.dropped) > 0 {
      eprintln!(
        "farm remote cache: {} cache usage event(s) sent, {} dropped{}",
        stats.sent,
        stats.dropped,
        stats.first_error.map(|e| format!(" ({e})")).unwrap_or_default()
      );
    }
  }
}

/// A task's outcome as stored in its cache entry.
fn outcome_to_json(o: &TaskOutcome) -> serde_json::Value {
  json!({ "artifacts": o.artifacts, "warnings": o.warnings, "metadata": o.metadata })
}

/// The outcome of a restored task.
fn outcome_from_json(v: &serde_json::Value) -> TaskOutcome {
  TaskOutcome {
    artifacts: v
      .get("artifacts")
      .and_then(|a| serde_json::from_value(a.clone()).ok())
      .unwrap_or_default(),
    warnings: v
      .get("warnings")
      .and_then(|a| serde_json::from_value(a.clone()).ok())
      .unwrap_or_default(),
    metadata: v.get("metadata").and_then(|a| a.as_object().cloned()).unwrap_or_default(),
    cache: None,
  }
}

impl Orchestrator {
  /// Opens the build cache unless it is off; a failure is a warning and the build runs uncached.
  fn open_cache(&self, req: &BuildRequest, events: &Emitter) -> Option<Arc<BuildCache>> {
    if req.no_cache || !self.config.cache.enabled {
      return None;
    }
    let mut tools = req.tool_versions.clone();
    tools.insert("@farm/build-native".into(), env!("CARGO_PKG_VERSION").into());
    let ev = events.clone();
    let warn: Arc<dyn Fn(&str) + Send + Sync> =
      Arc::new(move |m: &str| ev.warn(None, format!("cache: {m}")));
    match BuildCache::open(&self.config, &self.root, tools, warn) {
      Ok(c) => Some(Arc::new(c)),
      Err(e) => {
        events.warn(
          None,
          format!("cache: cannot open {}: {e}; building without the cache", self.config.cache_dir),
        );
        None
      }
    }
  }
}

/// One task of a dry run: its key and whether the cache has it.
#[derive(Debug, Clone)]
pub struct DryRunTask {
  /// The task.
  pub name: String,
  /// Its dependencies.
  pub deps: Vec<String>,
  /// Hit, miss or off.
  pub cache: CacheStatus,
  /// The key, when the task is cached.
  pub key: Option<String>,
  /// How many input files went into the key.
  pub inputs: usize,
  /// Why it is not cached.
  pub reason: Option<String>,
  /// What the key was computed from (env values as digests), for `farm cache diff`.
  pub manifest: Option<KeyManifest>,
}

impl DryRunTask {
  /// The row of a task keyed as `m`, found in the cache or not.
  fn keyed(t: &crate::plan::Task, m: KeyManifest, hit: bool) -> DryRunTask {
    DryRunTask {
      name: t.name.clone(),
      deps: t.deps.clone(),
      cache: if hit { CacheStatus::Hit } else { CacheStatus::Miss },
      key: Some(m.key.clone()),
      inputs: m.inputs.len(),
      reason: None,
      manifest: Some(m),
    }
  }

  /// The row of a task that is not cached, and why.
  fn uncached(t: &crate::plan::Task, reason: &Uncached) -> DryRunTask {
    DryRunTask {
      name: t.name.clone(),
      deps: t.deps.clone(),
      cache: CacheStatus::Off,
      key: None,
      inputs: 0,
      reason: Some(reason.to_string()),
      manifest: None,
    }
  }
}

/// What [`Orchestrator::probe`] found: each planned task's key and whether the local cache has it,
/// and the open cache for [`Orchestrator::build_probed`].
pub struct Probe {
  cache: Arc<BuildCache>,
  tasks: Vec<DryRunTask>,
  reusable: BTreeMap<String, KeyManifest>,
  needs_js: Option<String>,
}

impl std::fmt::Debug for Probe {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    f.debug_struct("Probe").field("tasks", &self.tasks).finish_non_exhaustive()
  }
}

impl Probe {
  /// The planned tasks, in plan order, with their keys and `hit`/`miss`/`off` (up to the one that
  /// needs JavaScript, see [`Probe::needs_js`]).
  pub fn tasks(&self) -> &[DryRunTask] {
    &self.tasks
  }

  /// Why the build needs the JavaScript host: a task that runs JavaScript (the frontend, through
  /// Vite) is not a hit, or depends on a task that is not. `None`: every such task is a hit and so
  /// are all its dependencies, so a build without JavaScript restores it and runs only Rust tasks.
  pub fn needs_js(&self) -> Option<&str> {
    self.needs_js.as_deref()
  }
}

impl Orchestrator {
  /// Plans `targets` and computes each task's key, looking it up in the local cache, without
  /// writing anything (the cache directory aside): what a caller that must know, before building,
  /// whether a build needs JavaScript asks (the native CLI; see [`Probe::needs_js`], where it
  /// stops). `None` when the cache is off. A task whose
  /// inputs a dependency produces is keyed on their current content; the build keys it again
  /// after the dependency, and so does every task whose inputs the build's clean step could touch.
  pub fn probe(
    &self,
    targets: &[String],
    tool_versions: BTreeMap<String, String>,
    events: &Emitter,
  ) -> Result<Option<Probe>, BuildError> {
    let plan = self.plan(targets)?;
    let req = BuildRequest { tool_versions, ..BuildRequest::default() };
    let Some(cache) = self.open_cache(&req, events) else { return Ok(None) };
    let output_dir = resolve(&self.root, &self.config.output_dir);
    let mut tasks = Vec::new();
    let mut reusable = BTreeMap::new();
    let mut dirty = std::collections::BTreeSet::new();
    let mut needs_js = None;
    let (all_reads, walked) = self.walk_plan(&plan, &cache);
    for ((t, reads), walked) in plan.tasks().iter().zip(all_reads).zip(walked) {
      let keyed =
        reads.clone().and_then(|r| cache.key_for_walked(&r, &t.name, &self.dep_kinds(t), walked));
      let row = match keyed {
        Ok(m) => {
          let hit = cache.store.peek(&m.key).ok().flatten().is_some();
          let untouched = |p: &Path| !(p.starts_with(&output_dir) || output_dir.starts_with(p));
          let stable = t.deps.is_empty()
            && reads
              .as_ref()
              .is_ok_and(|r| untouched(&r.root) && r.files.iter().all(|f| untouched(f)));
          let mut row = DryRunTask::keyed(t, m, hit);
          // The build takes the key over (the row keeps its key and counts, not a second copy
          // of the input list).
          if let (true, Some(m)) = (stable, row.manifest.take()) {
            reusable.insert(t.name.clone(), m);
          }
          row
        }
        Err(reason) => DryRunTask::uncached(t, &reason),
      };
      // A task must run if it is not a hit, or may have to if a dependency runs.
      let stale = if row.cache != CacheStatus::Hit {
        Some(format!("task `{}` is a cache {}", t.name, row.cache.as_str()))
      } else {
        t.deps
          .iter()
          .find(|d| dirty.contains(*d))
          .map(|d| format!("task `{}` depends on `{d}`, which is not a cache hit", t.name))
      };
      tasks.push(row);
      if let Some(why) = stale {
        dirty.insert(t.name.clone());
        if t.kind.needs_js() {
          needs_js = Some(why);
          break;
        }
      }
    }
    Ok(Some(Probe { cache, tasks, reusable, needs_js }))
  }

  /// What each task of `plan` reads, and its input files walked now, together (see
  /// [`BuildCache::walk_together`]): for keying every task of a plan at one moment, on the
  /// files' current content.
  fn walk_plan(
    &self,
    plan: &Plan,
    cache: &BuildCache,
  ) -> (Vec<Result<crate::builders::Reads, Uncached>>, Vec<Option<crate::hash::InputSet>>) {
    let reads: Vec<_> = plan.tasks().iter().map(|t| self.io_of(t).reads).collect();
    let walked = cache.walk_together(&reads.iter().map(|r| r.as_ref().ok()).collect::<Vec<_>>());
    (reads, walked)
  }

  /// Opens the cache for a command that is not a build (dry run, why, status, clean).
  fn cache_for_query(
    &self,
    tool_versions: BTreeMap<String, String>,
  ) -> Result<BuildCache, BuildError> {
    let mut tools = tool_versions;
    tools.insert("@farm/build-native".into(), env!("CARGO_PKG_VERSION").into());
    BuildCache::open(&self.config, &self.root, tools, Arc::new(|_| {})).map_err(|e| {
      BuildError::io(
        format!("opening the cache {}", self.config.cache_dir),
        std::io::Error::other(e),
      )
    })
  }

  /// The plan for `targets` with each task's key and hit/miss; nothing is built. A task whose
  /// inputs are produced by a dependency (the generated API types) is keyed on their current content.
  pub fn dry_run(
    &self,
    targets: &[String],
    tool_versions: BTreeMap<String, String>,
  ) -> Result<Vec<DryRunTask>, BuildError> {
    let plan = self.plan(targets)?;
    let cache = self.cache_for_query(tool_versions)?;
    let mut out = Vec::new();
    let (all_reads, walked) = self.walk_plan(&plan, &cache);
    for ((t, reads), walked) in plan.tasks().iter().zip(all_reads).zip(walked) {
      let row =
        match reads.and_then(|r| cache.key_for_walked(&r, &t.name, &self.dep_kinds(t), walked)) {
          Ok(m) => {
            let hit = cache.store.peek(&m.key).ok().flatten().is_some();
            DryRunTask::keyed(t, m, hit)
          }
          Err(reason) => DryRunTask::uncached(t, &reason),
        };
      out.push(row);
    }
    let _ = cache.stat.save();
    Ok(out)
  }

  /// What changed for `task` since its last cached build: files, env vars, config, tools, deps.
  pub fn why(
    &self,
    task: &str,
    tool_versions: BTreeMap<String, String>,
  ) -> Result<crate::cache::WhyReport, BuildError> {
    let plan = self.plan(&[task.to_string()])?;
    let cache = self.cache_for_query(tool_versions)?;
    let mut current = None;
    let (all_reads, walked) = self.walk_plan(&plan, &cache);
    for ((t, reads), walked) in plan.tasks().iter().zip(all_reads).zip(walked) {
      let m = reads.and_then(|r| cache.key_for_walked(&r, &t.name, &self.dep_kinds(t), walked));
      if t.name == task {
        current = Some(
          m.map_err(|e| BuildError::ConfigInvalid(format!("`{task}` has no cache key: {e}")))?,
        );
      }
    }
    let current =
      current.ok_or_else(|| BuildError::ConfigInvalid(format!("unknown task `{task}`")))?;
    Ok(cache.store.why(task, &current))
  }

  /// The cache's size, entries and recent hits/misses.
  pub fn cache_status(&self) -> Result<crate::cache::StoreStatus, BuildError> {
    let cache = self.cache_for_query(BTreeMap::new())?;
    cache
      .store
      .status()
      .map_err(|e| BuildError::io("reading the cache status", std::io::Error::other(e.to_string())))
  }

  /// Evicts entries unused for longer than `older_than` and trims the cache to `max_size` bytes.
  pub fn cache_clean(
    &self,
    older_than: Option<std::time::Duration>,
    max_size: Option<u64>,
  ) -> Result<crate::cache::EvictReport, BuildError> {
    let cache = self.cache_for_query(BTreeMap::new())?;
    cache
      .store
      .clean(older_than, max_size)
      .map_err(|e| BuildError::io("cleaning the cache", std::io::Error::other(e.to_string())))
  }
}
