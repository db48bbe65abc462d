//! The `typecheck` task: `tsc --noEmit` on the frontend, run beside the Vite build (Vite does not
//! check types). A type error fails the task with the compiler's messages.

use super::web_inputs::web_reads;
use super::{process_error, Builder, IoContext, TaskContext, TaskIo, Tool, Uncached};
use crate::config::resolve;
use crate::run::process::Cmd;
use crate::run::{TaskError, TaskOutcome};
use futures_util::future::BoxFuture;
use std::path::{Path, PathBuf};

/// Builds the `typecheck` task.
pub struct TypecheckBuilder;

impl Builder for TypecheckBuilder {
  /// Reads what the frontend build reads ([`web_reads`]) and TypeScript's version; writes nothing.
  fn io(&self, cx: &IoContext<'_>) -> TaskIo {
    let Some(fe) = cx.config.frontend.as_ref() else {
      return TaskIo { reads: Err(Uncached::MissingSection("frontend")), writes: Vec::new() };
    };
    let mut reads = web_reads(cx, fe);
    reads.env = cx.env_names(Vec::new());
    reads.tools = vec![Tool::NodePackage { name: "typescript".into(), from: reads.root.clone() }];
    reads.config = serde_json::json!({ "root": fe.root });
    TaskIo { reads: Ok(reads), writes: Vec::new() }
  }

  fn build<'a>(
    &'a self,
    ctx: &'a TaskContext<'a>,
  ) -> BoxFuture<'a, Result<TaskOutcome, TaskError>> {
    Box::pin(async move {
      let fe = ctx.frontend()?;
      let web = resolve(ctx.root, &fe.root);
      let tsconfig = web.join("tsconfig.json");
      if !tsconfig.is_file() {
        return Err(TaskError::Failed(format!(
          "{} does not exist: add a tsconfig.json, or set `frontend.typecheck: false`",
          tsconfig.display()
        )));
      }
      let Some(pkg) = find_package(&web, "typescript") else {
        return Err(TaskError::Failed(format!(
          "typescript is not installed for {}: run `npm install -D typescript` there, or set `frontend.typecheck: false`",
          web.display()
        )));
      };
      if let Some(v) = package_version(&pkg) {
        ctx.record_tool("typescript", &v);
      }
      let tsc = pkg.join("bin/tsc");
      let out = Cmd::new(ctx.node)
        .args([tsc.to_string_lossy().as_ref(), "--noEmit", "--pretty", "false", "-p"])
        .arg_path(&tsconfig)
        .cwd(&web)
        .run(&|l| ctx.log(l), &ctx.cancel)
        .await
        .map_err(process_error)?;
      if !out.success() {
        return Err(TaskError::Failed(format!(
          "tsc found errors in {} (exit {}):\n{}",
          fe.root,
          out.code.map_or("signal".into(), |c| c.to_string()),
          out.tail(40)
        )));
      }
      Ok(TaskOutcome::default())
    })
  }
}

/// The directory of npm package `name` as Node would resolve it from `from` (walking up `node_modules`).
pub fn find_package(from: &Path, name: &str) -> Option<PathBuf> {
  from
    .ancestors()
    .map(|d| d.join("node_modules").join(name))
    .find(|p| p.join("package.json").is_file())
}

/// The `version` field of a package directory's package.json.
pub fn package_version(pkg_dir: &Path) -> Option<String> {
  let text = std::fs::read_to_string(pkg_dir.join("package.json")).ok()?;
  let v: serde_json::Value = serde_json::from_str(&text).ok()?;
  v.get("version")?.as_str().map(str::to_owned)
}
