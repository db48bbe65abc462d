//! The Node.js binding: thin wrappers that convert types and errors. The only module that imports napi.

use crate::builders::{Hook, HookError, Host};
use crate::orchestrator::{BuildRequest, BuildResult, Orchestrator};
use crate::report::profile::{ArgValue, Lane, Span};
use crate::run::events::{Batcher, Emitter, Event};
use futures_util::future::BoxFuture;
use napi::bindgen_prelude::{AbortSignal, Promise, PromiseRaw};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Status};
use napi_derive::napi;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

mod assets;
mod cli;
mod daemon;
mod dry_run;
mod enums;
mod hook;

pub use dry_run::JsDryRunTask;
pub use enums::{CacheSource, CacheState, EventKind, TaskStatus};
use hook::HookReturn;

/// A JS callback: plain `(arg)` signature, never keeps Node alive by itself.
type Callback<A, R> = ThreadsafeFunction<A, R, A, Status, false, true>;

/// An error code JavaScript sees as `error.code`.
pub struct Code(String);

impl AsRef<str> for Code {
  fn as_ref(&self) -> &str {
    &self.0
  }
}

impl From<Status> for Code {
  fn from(s: Status) -> Self {
    Code(s.as_ref().to_string())
  }
}

/// Where the project is.
#[napi(object)]
pub struct OrchestratorOptions {
  /// The project root. Default: the current directory.
  pub root: Option<String>,
  /// The config file's name, used in error messages. Default: `farm.config`.
  pub config_file: Option<String>,
}

/// A build event.
#[napi(object, js_name = "BuildEvent")]
pub struct JsBuildEvent {
  /// What happened.
  pub kind: EventKind,
  /// The task (or phase) it is about.
  pub task: Option<String>,
  /// A log line, an error, or a skip reason.
  pub message: Option<String>,
  /// For finished tasks and phases: how long, in ms.
  pub duration_ms: Option<f64>,
  /// Milliseconds since the build started.
  pub time_ms: f64,
}

impl From<Event> for JsBuildEvent {
  fn from(e: Event) -> Self {
    JsBuildEvent {
      kind: e.kind.into(),
      task: e.task,
      message: e.message,
      duration_ms: e.duration_ms,
      time_ms: e.time_ms,
    }
  }
}

/// A FARM plugin: a name and optional hooks, sync or async; a returned promise is awaited before
/// the build goes on, and a throw or rejection fails the build with `PLUGIN_FAILED`.
#[napi(object, object_to_js = false, js_name = "FarmPluginHooks")]
pub struct JsPlugin {
  /// The plugin's name (used in error messages).
  pub name: String,
  /// Before any task, after config validation.
  #[napi(ts_type = "(ctx: PreBuildContext) => void | Promise<void>")]
  pub pre_build: Option<Callback<serde_json::Value, HookReturn>>,
  /// After the build, with its summary.
  #[napi(ts_type = "(result: PostBuildSummary) => void | Promise<void>")]
  pub post_build: Option<Callback<serde_json::Value, HookReturn>>,
  /// Before each task.
  #[napi(ts_type = "(task: TaskStartContext) => void | Promise<void>")]
  pub on_task_start: Option<Callback<serde_json::Value, HookReturn>>,
  /// After each task.
  #[napi(ts_type = "(task: TaskEndContext) => void | Promise<void>")]
  pub on_task_end: Option<Callback<serde_json::Value, HookReturn>>,
}

/// Options of one build.
#[napi(object, object_to_js = false)]
pub struct BuildOptions {
  /// Cancels the build: running child processes and JS tasks are stopped; the result says `CANCELLED`.
  pub signal: Option<AbortSignal>,
  /// Receives progress events in batches (at most one call per 50 ms).
  #[napi(ts_type = "(events: BuildEvent[]) => void")]
  pub on_event: Option<Callback<Vec<JsBuildEvent>, ()>>,
  /// Plugins whose hooks are awaited (in order) around the build and each task.
  pub plugins: Option<Vec<JsPlugin>>,
  /// Runs a Vite build; given by `@farm/build-native`'s JS entry (see `js/vite.mjs`).
  #[napi(ts_type = "(request: any) => Promise<any>")]
  pub frontend_runner: Option<Callback<serde_json::Value, Promise<serde_json::Value>>>,
  /// Stops a running Vite build by task id.
  #[napi(ts_type = "(taskId: string) => void")]
  pub cancel_frontend: Option<Callback<String, ()>>,
  /// Keep running tasks that do not depend on a failed one. Default: `build.continueOnError`.
  pub continue_on_error: Option<bool>,
  /// Tasks run at once. Default: `build.concurrency`, else the number of cores.
  pub concurrency: Option<u32>,
  /// Delete outputs first. Default: `build.clean` (true).
  pub clean: Option<bool>,
  /// The Node.js executable for tools run as processes (tsc). Default `node`.
  pub node_path: Option<String>,
  /// Tool versions known to the caller (e.g. `{ node: process.version }`), for the manifest
  /// and the cache keys.
  pub tool_versions: Option<HashMap<String, String>>,
  /// Neither read nor write the build cache for this build.
  pub no_cache: Option<bool>,
  /// For each cache hit, also run the task and compare its output with the restored one; a
  /// difference fails the task, naming the files and the likely undeclared inputs.
  pub verify_cache: Option<bool>,
  /// After a successful build, store the output files and `build-manifest.json` under
  /// `<prefix>/<buildId>/` in `build.upload`'s store (else `cache.remote`'s).
  pub upload: Option<bool>,
  /// Record timed spans (`farm build --profile`); they come back in `result.profile`.
  pub profile: Option<bool>,
}

/// One timed span of a profiled build (a Chrome trace "X" event once written).
#[napi(object, js_name = "ProfileSpan")]
pub struct JsProfileSpan {
  /// What ran.
  pub name: String,
  /// `phase`, `plan`, `cache`, `walk`, `hash`, `task`, `restore`, `vite`, `python`, `process`,
  /// `run`, `hook` or `manifest`.
  pub cat: String,
  /// Start, microseconds since the Unix epoch.
  pub ts: f64,
  /// Duration, microseconds.
  pub dur: f64,
  /// Lane (trace thread id): 0 for the orchestrator, one per task.
  pub lane: u32,
  /// Counters and labels.
  #[napi(ts_type = "Record<string, number | string>")]
  pub args: serde_json::Value,
}

/// A lane of a profiled build.
#[napi(object, js_name = "ProfileLane")]
pub struct JsProfileLane {
  /// Its id (the spans' `lane`).
  pub id: u32,
  /// `farm` or `task <name>`.
  pub name: String,
}

/// The spans of a profiled build.
#[napi(object, js_name = "BuildProfile")]
pub struct JsProfile {
  /// In start order.
  pub spans: Vec<JsProfileSpan>,
  /// The lanes' names.
  pub lanes: Vec<JsProfileLane>,
}

impl From<(Vec<Span>, Vec<Lane>)> for JsProfile {
  fn from((spans, lanes): (Vec<Span>, Vec<Lane>)) -> Self {
    JsProfile {
      spans: spans
        .into_iter()
        .map(|s| JsProfileSpan {
          name: s.name,
          cat: s.cat.as_str().into(),
          ts: s.start_us,
          dur: s.dur_us,
          lane: s.lane,
          args: serde_json::Value::Object(
            s.args
              .into_iter()
              .map(|(k, v)| {
                let v = match v {
                  ArgValue::Num(n) => serde_json::json!(n),
                  ArgValue::Text(t) => serde_json::Value::String(t),
                };
                (k, v)
              })
              .collect(),
          ),
        })
        .collect(),
      lanes: lanes.into_iter().map(|l| JsProfileLane { id: l.id, name: l.name }).collect(),
    }
  }
}

/// A file or directory the build produced.
#[napi(object, js_name = "BuildArtifact")]
pub struct JsArtifact {
  /// `frontend-bundle`, `backend-source`, ...
  #[napi(js_name = "type")]
  pub kind: String,
  /// Short name.
  pub name: String,
  /// Relative to the project root.
  pub path: String,
  /// Bytes (a directory: sum of its files).
  pub size: f64,
  /// `sha256:<hex>` of the file, or of the directory's sorted listing (see the README).
  pub hash: String,
  /// Type-specific facts.
  #[napi(ts_type = "Record<string, unknown>")]
  pub metadata: serde_json::Value,
}

/// Build timings and memory.
#[napi(object, js_name = "BuildMetrics")]
pub struct JsMetrics {
  /// Wall time, ms.
  pub total_ms: f64,
  /// Per phase and per stage, ms (keys in sorted order).
  pub phases: BTreeMap<String, f64>,
  /// Per task, ms (keys in sorted order).
  pub tasks: BTreeMap<String, f64>,
  /// Peak RSS of this process, bytes.
  pub peak_rss_bytes: f64,
  /// Peak RSS of the largest child process, bytes.
  pub peak_child_rss_bytes: f64,
}

/// Why a build failed. `code`: `CONFIG_INVALID`, `TASK_FAILED`, `CANCELLED`, `CLEAN_REFUSED`,
/// `PLUGIN_FAILED`, `IO_ERROR`.
#[napi(object, js_name = "BuildError")]
pub struct JsBuildError {
  /// Stable code.
  pub code: String,
  /// What went wrong.
  pub message: String,
  /// The failed task, for `TASK_FAILED`.
  pub task: Option<String>,
}

/// One task of the build.
#[napi(object, js_name = "TaskResult")]
pub struct JsTaskResult {
  /// The task.
  pub name: String,
  /// How it ended.
  pub status: TaskStatus,
  /// Run time, ms.
  pub duration_ms: f64,
  /// The error (failed) or the reason (skipped).
  pub message: Option<String>,
  /// Whether it came from the cache.
  pub cache: Option<CacheState>,
  /// The task's cache key (32 hex).
  pub key: Option<String>,
  /// Time spent restoring its outputs (hits), ms.
  pub restore_ms: Option<f64>,
  /// Why the task is not cached (`off`).
  pub cache_reason: Option<String>,
  /// Where a hit came from: `local` or `remote`.
  pub cache_source: Option<CacheSource>,
  /// Bytes downloaded from the remote cache for this task (remote hits).
  pub remote_bytes: Option<f64>,
}

/// Where `--upload` stored a build.
#[napi(object, js_name = "BuildUpload")]
pub struct JsUploadReport {
  /// The store (URL or bucket; never a secret).
  pub location: String,
  /// `<prefix>/<buildId>`: the key prefix of every file.
  pub prefix: String,
  /// Files uploaded.
  pub files: u32,
  /// Their total size.
  pub bytes: f64,
}

/// What the remote cache did in a build.
#[napi(object, js_name = "RemoteCacheSummary")]
pub struct JsRemoteSummary {
  /// Where the artifacts live (URL or bucket; never a secret).
  pub location: String,
  /// Tasks restored from the remote cache.
  pub hits: u32,
  /// Bytes downloaded for them.
  pub downloaded_bytes: f64,
  /// Artifacts uploaded.
  pub uploads: u32,
  /// Bytes uploaded.
  pub uploaded_bytes: f64,
  /// Artifacts the store already had (a `HEAD` said so), so not sent again.
  pub already_stored: u32,
  /// Whether this build could upload (false: read-only, or the server takes no uploads).
  pub write: bool,
  /// The server's caching status when it said it takes no uploads (`paused`, `disabled`,
  /// `over_limit`; from `/v8/artifacts/status`).
  pub server_status: Option<String>,
}

/// The result of a build.
#[napi(object, js_name = "BuildResult")]
pub struct JsBuildResult {
  /// Whether every planned task succeeded.
  pub success: bool,
  /// Unique, time-sortable id.
  pub build_id: String,
  /// Wall time, ms.
  pub duration: f64,
  /// Artifacts of the succeeded tasks.
  pub artifacts: Vec<JsArtifact>,
  /// Timings and memory.
  pub metrics: JsMetrics,
  /// Why it failed (absent on success).
  pub error: Option<JsBuildError>,
  /// Every planned task.
  pub tasks: Vec<JsTaskResult>,
  /// Warnings that did not fail the build.
  pub warnings: Vec<String>,
  /// `build-manifest.json`, relative to the project root.
  pub manifest_path: Option<String>,
  /// What the remote cache did (absent without one).
  pub remote: Option<JsRemoteSummary>,
  /// Where the build's files were uploaded (`upload` / `build.upload`).
  pub upload: Option<JsUploadReport>,
  /// The build's spans, with the `profile` option.
  pub profile: Option<JsProfile>,
}

impl From<BuildResult> for JsBuildResult {
  fn from(r: BuildResult) -> Self {
    JsBuildResult {
      success: r.success,
      build_id: r.build_id,
      duration: r.duration_ms,
      artifacts: r
        .artifacts
        .into_iter()
        .map(|a| JsArtifact {
          kind: a.kind,
          name: a.name,
          path: a.path,
          size: a.size as f64,
          hash: a.hash,
          metadata: serde_json::Value::Object(a.metadata),
        })
        .collect(),
      metrics: JsMetrics {
        total_ms: r.metrics.total_ms,
        phases: r.metrics.phases,
        tasks: r.metrics.tasks,
        peak_rss_bytes: r.metrics.peak_rss_bytes as f64,
        peak_child_rss_bytes: r.metrics.peak_child_rss_bytes as f64,
      },
      error: r.error.map(|e| JsBuildError { code: e.code, message: e.message, task: e.task }),
      tasks: r
        .tasks
        .into_iter()
        .map(|t| JsTaskResult {
          name: t.name,
          status: t.status.into(),
          duration_ms: t.duration_ms,
          message: t.message,
          cache: t.cache.as_ref().map(|c| c.status.into()),
          key: t.cache.as_ref().and_then(|c| c.key.clone()),
          restore_ms: t.cache.as_ref().and_then(|c| c.restore_ms),
          cache_source: t.cache.as_ref().and_then(|c| c.source).map(Into::into),
          remote_bytes: t.cache.as_ref().and_then(|c| c.remote_bytes).map(|b| b as f64),
          cache_reason: t.cache.and_then(|c| c.reason),
        })
        .collect(),
      warnings: r.warnings,
      manifest_path: r.manifest_path,
      remote: r.remote.map(|s| JsRemoteSummary {
        location: s.location,
        hits: s.hits as u32,
        downloaded_bytes: s.downloaded_bytes as f64,
        uploads: s.uploads as u32,
        uploaded_bytes: s.uploaded_bytes as f64,
        already_stored: s.already_stored as u32,
        write: s.write,
        server_status: s.server_status,
      }),
      upload: r.upload.map(|u| JsUploadReport {
        location: u.location,
        prefix: u.prefix,
        files: u.files as u32,
        bytes: u.bytes as f64,
      }),
      profile: r.profile.map(JsProfile::from),
    }
  }
}

/// The FARM build orchestrator: validates the config on construction, then builds the task DAG.
#[napi]
pub struct BuildOrchestrator {
  inner: Arc<Orchestrator>,
}

impl BuildOrchestrator {
  /// The rows of a dry run (behind `dryRun` and `dryRunText`).
  fn dry_rows(
    &self,
    targets: Option<Vec<String>>,
    tool_versions: Option<HashMap<String, String>>,
  ) -> napi::Result<Vec<crate::orchestrator::DryRunTask>, Code> {
    self
      .inner
      .dry_run(
        &targets.unwrap_or_default(),
        tool_versions.unwrap_or_default().into_iter().collect(),
      )
      .map_err(to_code)
  }
}

#[napi]
impl BuildOrchestrator {
  /// Validates `config` (the object exported by `farm.config.*`). Throws an `Error` with
  /// `code: 'CONFIG_INVALID'` whose message names the file, the key path, what is expected and the fix.
  #[napi(
    constructor,
    ts_args_type = "config: FarmConfig, options?: OrchestratorOptions | undefined | null"
  )]
  pub fn new(
    config: serde_json::Value,
    options: Option<OrchestratorOptions>,
  ) -> napi::Result<Self, Code> {
    let opts = options.unwrap_or(OrchestratorOptions { root: None, config_file: None });
    let root = match opts.root {
      Some(r) => PathBuf::from(r),
      None => std::env::current_dir()
        .map_err(|e| napi::Error::new(Code("IO_ERROR".into()), e.to_string()))?,
    };
    let file = opts.config_file.unwrap_or_else(|| "farm.config".into());
    let inner = Orchestrator::new(config, &root, &file)
      .map_err(|e| napi::Error::new(Code(e.code().into()), e.to_string()))?;
    Ok(BuildOrchestrator { inner: Arc::new(inner) })
  }

  /// The validated config with every default filled in.
  #[napi(
    getter,
    ts_return_type = "FarmConfig & Required<Pick<FarmConfig, 'version' | 'environment' | 'outputDir' | 'cacheDir' | 'build' | 'plugins' | 'cache' | 'tasks'>>"
  )]
  pub fn config(&self) -> napi::Result<serde_json::Value> {
    serde_json::to_value(self.inner.config()).map_err(|e| napi::Error::from_reason(e.to_string()))
  }

  /// The project root (absolute).
  #[napi(getter)]
  pub fn root(&self) -> String {
    self.inner.root().to_string_lossy().into_owned()
  }

  /// The tasks `targets` would run, dependencies first: `[{ name, deps, phase }]`. Throws
  /// `CONFIG_INVALID` for an unknown target.
  #[napi(ts_return_type = "Array<{ name: string; deps: string[]; phase: string }>")]
  pub fn plan(&self, targets: Option<Vec<String>>) -> napi::Result<serde_json::Value, Code> {
    let plan = self
      .inner
      .plan(&targets.unwrap_or_default())
      .map_err(|e| napi::Error::new(Code(e.code().into()), e.to_string()))?;
    Ok(serde_json::Value::Array(
      plan
        .tasks()
        .iter()
        .map(|t| serde_json::json!({ "name": t.name, "deps": t.deps, "phase": t.phase }))
        .collect(),
    ))
  }

  /// The plan for `targets` with each task's cache key, `hit`/`miss`/`off`, and the key's manifest
  /// (what it was computed from, for `farm cache diff`); nothing is built.
  #[napi]
  pub fn dry_run(
    &self,
    targets: Option<Vec<String>>,
    tool_versions: Option<HashMap<String, String>>,
  ) -> napi::Result<Vec<JsDryRunTask>, Code> {
    let rows = self.dry_rows(targets, tool_versions)?;
    Ok(rows.into_iter().map(Into::into).collect())
  }

  /// What `farm build --dry-run` prints: the rows of [`Self::dry_run`] as the JSON document
  /// (`json`) or as a title and a table, rendered as the native `farm` executable renders them.
  #[napi]
  pub fn dry_run_text(
    &self,
    targets: Option<Vec<String>>,
    json: bool,
    tool_versions: Option<HashMap<String, String>>,
  ) -> napi::Result<String, Code> {
    let rows = self.dry_rows(targets, tool_versions)?;
    Ok(crate::cli::render::dry_run(&self.inner.config().app_name, &rows, json))
  }

  /// What changed for `task` since its last cached build: `{ previous, filesAdded, filesRemoved,
  /// filesModified, env, config, tools, deps, ..., lines }` (`lines`: the report as text).
  #[napi(ts_return_type = "Record<string, any> & { lines: string[] }")]
  pub fn cache_why(
    &self,
    task: String,
    tool_versions: Option<HashMap<String, String>>,
  ) -> napi::Result<serde_json::Value, Code> {
    let report = self
      .inner
      .why(&task, tool_versions.unwrap_or_default().into_iter().collect())
      .map_err(to_code)?;
    let mut v = serde_json::to_value(&report)
      .map_err(|e| napi::Error::new(Code("IO_ERROR".into()), e.to_string()))?;
    if let Some(o) = v.as_object_mut() {
      o.insert("lines".into(), serde_json::json!(report.lines()));
    }
    Ok(v)
  }

  /// The cache: `{ dir, entries, totalBytes, oldestEntry, newestEntry, hits, misses, restoreFailures,
  /// venvs: { count, bytes }, images: { count, bytes } }` (times as ms since the epoch; `totalBytes`
  /// covers every store: entries, blobs, venvs and images).
  #[napi(
    ts_return_type = "{ dir: string; entries: number; totalBytes: number; oldestEntry: number | null; newestEntry: number | null; hits: number; misses: number; restoreFailures: number; venvs: { count: number; bytes: number }; images: { count: number; bytes: number } }"
  )]
  pub fn cache_status(&self) -> napi::Result<serde_json::Value, Code> {
    let s = self.inner.cache_status().map_err(to_code)?;
    let ms = |t: Option<std::time::SystemTime>| {
      t.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_millis() as u64)
    };
    Ok(serde_json::json!({
      "dir": crate::config::resolve(self.inner.root(), &self.inner.config().cache_dir),
      "entries": s.entries,
      "totalBytes": s.total_bytes,
      "oldestEntry": ms(s.oldest_entry),
      "newestEntry": ms(s.newest_entry),
      "hits": s.hits,
      "misses": s.misses,
      "restoreFailures": s.restore_failures,
      "venvs": { "count": s.venvs, "bytes": s.venv_bytes },
      "images": { "count": s.images, "bytes": s.image_bytes },
    }))
  }

  /// Removes entries, venvs and image results unused for longer than `olderThan` (`"3d"`) and
  /// trims the cache to `maxSize` (`"1G"`), least recently used first; with neither, empties every
  /// store (a venv a running build holds is kept). Returns `{ removed, entries, venvs, images,
  /// bytesFreed, bytesAfter }` (`removed` is the sum of the three counts).
  #[napi(
    ts_return_type = "{ removed: number; entries: number; venvs: number; images: number; bytesFreed: number; bytesAfter: number }"
  )]
  pub fn cache_clean(
    &self,
    older_than: Option<String>,
    max_size: Option<String>,
  ) -> napi::Result<serde_json::Value, Code> {
    let bad = |what: &str, v: &str| {
      napi::Error::new(
        Code("CONFIG_INVALID".into()),
        format!("{what} {v:?}: expected e.g. 3d / 12h (age) or 1G / 500MB (size)"),
      )
    };
    let age = match &older_than {
      Some(v) => Some(std::time::Duration::from_secs(
        crate::config::parse_duration(v).ok_or_else(|| bad("--older-than", v))?,
      )),
      None => None,
    };
    let size = match &max_size {
      Some(v) => Some(crate::config::parse_size(v).ok_or_else(|| bad("--max-size", v))?),
      None => None,
    };
    let (age, size) = if age.is_none() && size.is_none() { (None, Some(0)) } else { (age, size) };
    let r = self.inner.cache_clean(age, size).map_err(to_code)?;
    Ok(serde_json::json!({
      "removed": r.expired + r.trimmed + r.venvs_removed + r.images_removed,
      "entries": r.expired + r.trimmed,
      "venvs": r.venvs_removed,
      "images": r.images_removed,
      "bytesFreed": r.bytes_freed,
      "bytesAfter": r.bytes_after,
    }))
  }

  /// Builds `targets` (default: all). Resolves to a `BuildResult` — failures are in `result.error`,
  /// never a rejection.
  #[napi(ts_return_type = "Promise<BuildResult>")]
  pub fn build<'e>(
    &self,
    env: &'e Env,
    targets: Option<Vec<String>>,
    options: Option<BuildOptions>,
  ) -> napi::Result<PromiseRaw<'e, JsBuildResult>> {
    let cancel = CancellationToken::new();
    let mut opts = options.unwrap_or(BuildOptions {
      signal: None,
      on_event: None,
      plugins: None,
      frontend_runner: None,
      cancel_frontend: None,
      continue_on_error: None,
      concurrency: None,
      clean: None,
      node_path: None,
      tool_versions: None,
      no_cache: None,
      verify_cache: None,
      upload: None,
      profile: None,
    });
    if let Some(signal) = opts.signal.take() {
      let c = cancel.clone();
      signal.on_abort(move || c.cancel());
    }
    let host = JsHost {
      frontend: opts.frontend_runner.take().map(Arc::new),
      cancel_frontend: opts.cancel_frontend.take(),
      plugins: Arc::new(opts.plugins.take().unwrap_or_default()),
    };
    let on_event = opts.on_event.take();
    let req = BuildRequest {
      targets: targets.unwrap_or_default(),
      continue_on_error: opts.continue_on_error,
      concurrency: opts.concurrency.map(|c| c.max(1) as usize),
      clean: opts.clean,
      node: opts.node_path,
      tool_versions: opts.tool_versions.unwrap_or_default().into_iter().collect(),
      no_cache: opts.no_cache.unwrap_or(false),
      verify_cache: opts.verify_cache.unwrap_or(false),
      upload: opts.upload.unwrap_or(false),
      profile: opts.profile.unwrap_or(false),
    };
    let inner = Arc::clone(&self.inner);
    env.spawn_future(async move {
      let batcher = on_event.map(|cb| {
        Batcher::start(Duration::from_millis(50), 500, move |batch| {
          let events: Vec<JsBuildEvent> = batch.into_iter().map(Into::into).collect();
          cb.call(events, ThreadsafeFunctionCallMode::NonBlocking);
        })
      });
      let emitter = match &batcher {
        Some(b) => Emitter::new(b.sink()),
        None => Emitter::discard(),
      };
      let result = inner.build(req, &host, &emitter, cancel).await;
      drop(emitter);
      if let Some(b) = batcher {
        b.finish().await;
      }
      Ok(JsBuildResult::from(result))
    })
  }
}

fn to_code(e: crate::error::BuildError) -> napi::Error<Code> {
  napi::Error::new(Code(e.code().into()), e.to_string())
}

/// The JavaScript side of a build, reached through threadsafe functions.
struct JsHost {
  frontend: Option<Arc<Callback<serde_json::Value, Promise<serde_json::Value>>>>,
  cancel_frontend: Option<Callback<String, ()>>,
  plugins: Arc<Vec<JsPlugin>>,
}

impl Host for JsHost {
  fn run_frontend(
    &self,
    request: serde_json::Value,
  ) -> BoxFuture<'static, Result<serde_json::Value, String>> {
    let Some(f) = self.frontend.clone() else {
      return crate::builders::NoHost.run_frontend(request);
    };
    Box::pin(async move {
      let promise = f.call_async_catch(request).await.map_err(|e| e.reason.clone())?;
      promise.await.map_err(|e| e.reason.clone())
    })
  }

  fn cancel_frontend(&self, task_id: &str) {
    if let Some(f) = &self.cancel_frontend {
      f.call(task_id.to_string(), ThreadsafeFunctionCallMode::NonBlocking);
    }
  }

  fn call_hook(
    &self,
    hook: Hook,
    payload: serde_json::Value,
  ) -> BoxFuture<'static, Result<(), HookError>> {
    let plugins = Arc::clone(&self.plugins);
    Box::pin(async move {
      for p in plugins.iter() {
        let f = match hook {
          Hook::PreBuild => &p.pre_build,
          Hook::PostBuild => &p.post_build,
          Hook::OnTaskStart => &p.on_task_start,
          Hook::OnTaskEnd => &p.on_task_end,
        };
        let Some(f) = f else { continue };
        let err = |e: napi::Error| HookError { plugin: p.name.clone(), message: e.reason.clone() };
        let returned = f.call_async_catch(payload.clone()).await.map_err(err)?;
        if let Some(promise) = returned.into_promise() {
          promise.await.map_err(err)?;
        }
      }
      Ok(())
    })
  }
}

/// The addon's version.
#[napi]
pub fn version() -> String {
  env!("CARGO_PKG_VERSION").to_string()
}

/// The names of the built-in tasks (`backend`, `types`, ...), in plan order; a config's
/// `tasks.<name>` add command tasks.
#[napi]
pub fn builtin_tasks() -> Vec<String> {
  crate::plan::BUILTIN_TASKS.iter().map(|t| t.to_string()).collect()
}

/// Validates a config without building. Returns it with defaults filled in; throws `CONFIG_INVALID`.
#[napi(
  ts_args_type = "config: FarmConfig, configFile?: string | undefined | null",
  ts_return_type = "FarmConfig"
)]
pub fn validate_config(
  config: serde_json::Value,
  config_file: Option<String>,
) -> napi::Result<serde_json::Value, Code> {
  let file = config_file.unwrap_or_else(|| "farm.config".into());
  let cfg = crate::config::FarmConfig::from_json(config, &file)
    .map_err(|e| napi::Error::new(Code("CONFIG_INVALID".into()), e.to_string()))?;
  serde_json::to_value(cfg).map_err(|e| napi::Error::new(Code("IO_ERROR".into()), e.to_string()))
}

/// Generates TypeScript types (openapi-typescript 7's shape: `paths`, `components`, `operations`)
/// from an OpenAPI 3.0/3.1 document. Throws `TYPEGEN_ERROR` naming the JSON pointer of a bad part.
#[napi]
pub fn generate_types(openapi: serde_json::Value) -> napi::Result<String, Code> {
  crate::typegen::generate(&openapi, &crate::typegen::GenerateOptions::default())
    .map_err(|e| napi::Error::new(Code("TYPEGEN_ERROR".into()), e.to_string()))
}

/// Registers a child process (by pid) that must not outlive this process: if this process dies, the
/// process watchdog SIGKILLs it. Returns a token for `unwatchProcess`, or `null` when there is no
/// watchdog (the child then relies on its own checks).
#[napi]
pub fn watch_process(pid: u32) -> Option<i64> {
  crate::run::lifeline::watch(crate::run::lifeline::Target::Process(pid))
    .and_then(|id| i64::try_from(id).ok())
}

/// Forgets a process registered with `watchProcess` (call it when the process has exited).
#[napi]
pub fn unwatch_process(token: i64) {
  if let Ok(id) = u64::try_from(token) {
    crate::run::lifeline::unwatch(id);
  }
}
