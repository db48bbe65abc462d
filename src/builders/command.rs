//! Command tasks (`tasks.<name>` in the config): a shell command in a directory, with declared
//! inputs and output directories, like a Turborepo task.

use super::{process_error, Builder, IoContext, Output, Reads, TaskContext, TaskIo, Uncached};
use crate::config::{resolve, CommandTask};
use crate::report;
use crate::run::process::Cmd;
use crate::run::{TaskError, TaskOutcome};
use futures_util::future::BoxFuture;
use std::path::PathBuf;

/// Builds a command task.
pub struct CommandBuilder;

/// A command task's output directories, absolute: `dist/**` and `dist/` mean `dist`.
pub fn output_dirs(root: &std::path::Path, t: &CommandTask) -> Vec<(String, PathBuf)> {
  let cwd = resolve(root, &t.cwd);
  t.outputs
    .iter()
    .map(|o| {
      let prefix: Vec<&str> = o
        .split('/')
        .take_while(|seg| !seg.contains(['*', '?', '[', '{']))
        .filter(|s| !s.is_empty())
        .collect();
      let rel = prefix.join("/");
      (rel.replace('/', "__"), resolve(&cwd, &rel))
    })
    .filter(|(label, _)| !label.is_empty())
    .collect()
}

impl Builder for CommandBuilder {
  /// Reads the declared `inputs` under `cwd` and the declared `env`; writes the declared `outputs`.
  fn io(&self, cx: &IoContext<'_>) -> TaskIo {
    let Some(t) = cx.config.tasks.get(cx.task) else {
      return TaskIo { reads: Err(Uncached::MissingSection("tasks")), writes: Vec::new() };
    };
    let writes: Vec<Output> =
      output_dirs(cx.root, t).into_iter().map(|(label, path)| Output::new(label, path)).collect();
    if !t.cache {
      return TaskIo { reads: Err(Uncached::TurnedOff), writes };
    }
    let mut ignore = vec![cx.output_dir(), cx.cache_dir()];
    ignore.extend(writes.iter().map(|o| o.path.clone()));
    let reads = Reads {
      root: resolve(cx.root, &t.cwd),
      globs: cx.input_globs(t.inputs.clone()),
      gitignore: true,
      ignore,
      env: cx.env_names(t.env.clone()),
      config: serde_json::to_value(t).unwrap_or_default(),
      ..Reads::default()
    };
    TaskIo { reads: Ok(reads), writes }
  }

  fn build<'a>(
    &'a self,
    ctx: &'a TaskContext<'a>,
  ) -> BoxFuture<'a, Result<TaskOutcome, TaskError>> {
    Box::pin(async move {
      let t = ctx
        .config
        .tasks
        .get(ctx.task)
        .ok_or_else(|| TaskError::Failed(format!("no task `{}` in the config", ctx.task)))?;
      let cwd = resolve(ctx.root, &t.cwd);
      if !cwd.is_dir() {
        return Err(TaskError::Failed(format!(
          "tasks.{}.cwd {:?} is not a directory ({})",
          ctx.task,
          t.cwd,
          cwd.display()
        )));
      }
      let out = Cmd::new("sh")
        .args(["-c", t.command.as_str()])
        .cwd(&cwd)
        .run(&|l| ctx.log(l), &ctx.cancel)
        .await
        .map_err(process_error)?;
      if !out.success() {
        return Err(TaskError::Failed(format!(
          "`{}` failed (exit {}):\n{}",
          t.command,
          out.code.map_or("signal".into(), |c| c.to_string()),
          out.tail(30)
        )));
      }
      let mut outcome = TaskOutcome::default();
      for (label, dir) in output_dirs(ctx.root, t) {
        if dir.exists() {
          let art =
            report::describe(ctx.root, &dir, "task-output", &format!("{}:{label}", ctx.task))
              .map_err(|e| TaskError::Failed(format!("hashing {}: {e}", dir.display())))?;
          outcome.artifacts.push(art);
        }
      }
      Ok(outcome)
    })
  }
}
