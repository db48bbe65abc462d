//! Builders: one module per kind of task, each behind the [`Builder`] trait.
//!
//! A builder writes into a [`staging::StagedDir`] and commits it only on success, so a failed or
//! cancelled task never leaves a half-written output that looks good.

pub mod ai;
pub mod backend;
pub mod command;
pub mod docker;
pub mod frontend;
pub mod io;
pub mod staging;
pub mod typecheck;
pub mod types;
pub mod web_inputs;

use crate::config::FarmConfig;
use crate::plan::TaskKind;
use crate::run::events::Emitter;
use crate::run::{TaskError, TaskOutcome};
use futures_util::future::BoxFuture;
pub use io::{IoContext, MachineFact, Output, Reads, TaskIo, Tool, Uncached};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// Everything a builder may use while running one task.
pub struct TaskContext<'a> {
  /// The task's name.
  pub task: &'a str,
  /// The validated config.
  pub config: &'a FarmConfig,
  /// The project root (absolute).
  pub root: &'a Path,
  /// `outputDir`, absolute.
  pub output_dir: PathBuf,
  /// The build's id.
  pub build_id: &'a str,
  /// When the build started (RFC 3339).
  pub started_at: &'a str,
  /// Where log lines and warnings go.
  pub events: &'a Emitter,
  /// Fires when the task must stop.
  pub cancel: CancellationToken,
  /// The JavaScript side (Vite runner, plugin hooks).
  pub host: &'a dyn Host,
  /// The Node.js executable, for tools run as child processes (tsc).
  pub node: &'a str,
  /// Tool versions discovered while building (python, vite, typescript), for the manifest.
  pub tools: &'a Mutex<BTreeMap<String, String>>,
  /// The task's log lines so far (saved with its cache entry, replayed on a hit).
  pub logs: &'a Mutex<Vec<String>>,
}

impl<'a> TaskContext<'a> {
  /// Records a tool's version for the manifest.
  pub fn record_tool(&self, name: &str, version: &str) {
    if let Ok(mut t) = self.tools.lock() {
      t.insert(name.to_string(), version.to_string());
    }
  }

  /// The config's `backend` section, or the error a task that needs it reports.
  pub fn backend(&self) -> Result<&'a crate::config::BackendConfig, TaskError> {
    self
      .config
      .backend
      .as_ref()
      .ok_or_else(|| TaskError::Failed("no `backend` section in the config".into()))
  }

  /// The config's `frontend` section, or the error a task that needs it reports.
  pub fn frontend(&self) -> Result<&'a crate::config::FrontendConfig, TaskError> {
    self
      .config
      .frontend
      .as_ref()
      .ok_or_else(|| TaskError::Failed("no `frontend` section in the config".into()))
  }

  /// Sends a log line of this task (and keeps it for the cache entry).
  pub fn log(&self, line: &str) {
    self.events.log(self.task, line);
    if let Ok(mut l) = self.logs.lock() {
      l.push(line.to_string());
    }
  }
}

/// One kind of task.
pub trait Builder: Send + Sync {
  /// What the task reads (its key) and writes (its outputs): the one description the key, the
  /// cache entry, the hermetic run and `clean` come from.
  fn io(&self, cx: &IoContext<'_>) -> TaskIo;

  /// Runs the task. Honour `ctx.cancel`: stop children and return [`TaskError::Cancelled`].
  /// The task's outputs ([`TaskIo::writes`]) are absent when it starts.
  fn build<'a>(&'a self, ctx: &'a TaskContext<'a>)
    -> BoxFuture<'a, Result<TaskOutcome, TaskError>>;

  /// Work that must happen even when the outputs were restored from the cache (migrations);
  /// returns warnings. Default: nothing.
  fn after_restore<'a>(
    &'a self,
    _ctx: &'a TaskContext<'a>,
  ) -> BoxFuture<'a, Result<Vec<String>, TaskError>> {
    Box::pin(async { Ok(Vec::new()) })
  }
}

/// A plugin hook, called on the JavaScript side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
  /// Before any task, after config validation.
  PreBuild,
  /// After the build, with its result.
  PostBuild,
  /// Before each task starts.
  OnTaskStart,
  /// After each task ends.
  OnTaskEnd,
}

impl Hook {
  /// The hook's JavaScript name.
  pub fn as_str(self) -> &'static str {
    match self {
      Hook::PreBuild => "preBuild",
      Hook::PostBuild => "postBuild",
      Hook::OnTaskStart => "onTaskStart",
      Hook::OnTaskEnd => "onTaskEnd",
    }
  }
}

/// A plugin hook that threw or rejected.
#[derive(Debug, Clone)]
pub struct HookError {
  /// The plugin's name.
  pub plugin: String,
  /// The error's message.
  pub message: String,
}

/// The JavaScript side of a build, as seen from Rust (implemented by the napi layer and by test fakes).
pub trait Host: Send + Sync {
  /// Runs a Vite build described by `request` (see `js/vite.mjs` for its shape); resolves to the
  /// summary of the written bundle, or to the build's error message.
  fn run_frontend(
    &self,
    request: serde_json::Value,
  ) -> BoxFuture<'static, Result<serde_json::Value, String>>;
  /// Asks the JavaScript side to stop the frontend task `task_id` (kills its Vite process).
  fn cancel_frontend(&self, task_id: &str);
  /// Calls `hook` on every plugin that has it, in order, awaiting each.
  fn call_hook(
    &self,
    hook: Hook,
    payload: serde_json::Value,
  ) -> BoxFuture<'static, Result<(), HookError>>;
}

/// A [`Host`] without JavaScript: no frontend runner, no plugins.
pub struct NoHost;

impl Host for NoHost {
  fn run_frontend(
    &self,
    _request: serde_json::Value,
  ) -> BoxFuture<'static, Result<serde_json::Value, String>> {
    Box::pin(async {
      Err("no frontend runner: build through the JavaScript API (`import { BuildOrchestrator } from '@farm/build-native'`), which runs Vite".to_string())
    })
  }
  fn cancel_frontend(&self, _task_id: &str) {}
  fn call_hook(
    &self,
    _hook: Hook,
    _payload: serde_json::Value,
  ) -> BoxFuture<'static, Result<(), HookError>> {
    Box::pin(async { Ok(()) })
  }
}

/// The builder of a kind of task.
pub fn builder_for(kind: TaskKind) -> &'static dyn Builder {
  match kind {
    TaskKind::Backend => &backend::BackendBuilder,
    TaskKind::Frontend => &frontend::FrontendBuilder,
    TaskKind::Typecheck => &typecheck::TypecheckBuilder,
    TaskKind::AiModels => &ai::AiModelsBuilder,
    TaskKind::Types => &types::TypesBuilder,
    TaskKind::Docker => &docker::DockerBuilder,
    TaskKind::Command => &command::CommandBuilder,
  }
}

/// Maps a child-process error to a task error.
pub(crate) fn process_error(e: crate::run::process::ProcessError) -> TaskError {
  match e {
    crate::run::process::ProcessError::Cancelled => TaskError::Cancelled,
    other => TaskError::Failed(other.to_string()),
  }
}
