//! The `types` task: exports the FastAPI app's OpenAPI document (importing the app with the project's
//! own interpreter) and generates TypeScript types from it natively ([`crate::typegen`]), in the shape
//! of openapi-typescript's output. The types file is rewritten only when its content changes, so the
//! frontend is keyed on the API's shape, not on every backend edit.

use super::backend::{python_for, python_version};
use super::{process_error, Builder, IoContext, Output, TaskContext, TaskIo, Uncached};
use crate::config::{resolve, FarmConfig};
use crate::report;
use crate::run::process::Cmd;
use crate::run::{TaskError, TaskOutcome};
use crate::typegen::{generate, write_if_changed, GenerateOptions};
use futures_util::future::BoxFuture;

/// Imports `module:attr` from the current directory and prints `app.openapi()` as JSON.
const EXPORT_SCRIPT: &str = r#"
import importlib, json, os, sys
sys.path.insert(0, os.getcwd())
module, _, attr = sys.argv[1].partition(":")
app = importlib.import_module(module)
for part in attr.split("."):
    app = getattr(app, part)
sys.stdout.write(json.dumps(app.openapi()))
"#;

/// Builds the `types` task.
pub struct TypesBuilder;

/// Where the generated types go (relative to the project root): `backend.typesFile`, else
/// `<frontend.root>/src/types/api.ts`.
pub fn types_file(cfg: &FarmConfig) -> Option<String> {
  let be = cfg.backend.as_ref()?;
  if let Some(f) = &be.types_file {
    return Some(f.clone());
  }
  cfg.frontend.as_ref().map(|fe| format!("{}/src/types/api.ts", fe.root.trim_end_matches('/')))
}

impl Builder for TypesBuilder {
  /// Reads the backend's sources (the app is imported from them) with the project's interpreter;
  /// writes `<outputDir>/openapi` and exactly one file in the user's sources, the types file.
  fn io(&self, cx: &IoContext<'_>) -> TaskIo {
    let Some(be) = cx.config.backend.as_ref() else {
      return TaskIo { reads: Err(Uncached::MissingSection("backend")), writes: Vec::new() };
    };
    let mut reads = super::backend::source_reads(cx, be);
    reads.config =
      serde_json::json!({ "root": be.root, "app": be.app, "typesFile": types_file(cx.config) });
    let mut writes = vec![Output::new("schema", cx.output_dir().join("openapi"))];
    if let Some(tf) = types_file(cx.config) {
      writes.push(Output::new("types", resolve(cx.root, &tf)));
    }
    TaskIo { reads: Ok(reads), writes }
  }

  fn build<'a>(
    &'a self,
    ctx: &'a TaskContext<'a>,
  ) -> BoxFuture<'a, Result<TaskOutcome, TaskError>> {
    Box::pin(async move {
      let be = ctx.backend()?;
      let api = resolve(ctx.root, &be.root);
      let python = python_for(ctx.root, be);
      let py_version = python_version(&python, ctx).await?;
      let out = Cmd::new(&python)
        .args(["-c", EXPORT_SCRIPT, be.app.as_str()])
        .cwd(&api)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .capture_stdout()
        .run(&|l| ctx.log(l), &ctx.cancel)
        .await
        .map_err(process_error)?;
      if !out.success() {
        return Err(TaskError::Failed(format!(
          "importing the FastAPI app `{}` from {} failed (with {python}):\n{}",
          be.app,
          be.root,
          out.tail(30)
        )));
      }
      let doc: serde_json::Value = serde_json::from_str(&out.stdout).map_err(|e| {
        TaskError::Failed(format!("`{}`.openapi() did not print JSON: {e}", be.app))
      })?;
      let ts = generate(&doc, &GenerateOptions::default()).map_err(|e| {
        TaskError::Failed(format!("generating TypeScript from the OpenAPI document: {e}"))
      })?;

      let schema_path = ctx.output_dir.join("openapi").join("openapi.json");
      let pretty = serde_json::to_vec_pretty(&doc).map_err(|e| TaskError::Failed(e.to_string()))?;
      report::write_atomic(&schema_path, &pretty)
        .map_err(|e| TaskError::Failed(format!("writing {}: {e}", schema_path.display())))?;
      let mut schema = report::describe(ctx.root, &schema_path, "openapi-schema", "openapi")
        .map_err(|e| TaskError::Failed(format!("hashing {}: {e}", schema_path.display())))?;
      let endpoints: usize = doc
        .get("paths")
        .and_then(|p| p.as_object())
        .map(|p| p.values().filter_map(|m| m.as_object()).map(|m| m.len()).sum())
        .unwrap_or(0);
      let models =
        doc.pointer("/components/schemas").and_then(|s| s.as_object()).map_or(0, |s| s.len());
      schema
        .metadata
        .insert("openapiVersion".into(), doc.get("openapi").cloned().unwrap_or_default());
      schema.metadata.insert("endpoints".into(), endpoints.into());
      schema.metadata.insert("models".into(), models.into());
      schema.metadata.insert("pythonVersion".into(), py_version.into());

      let mut outcome = TaskOutcome::default();
      outcome.artifacts.push(schema);
      if let Some(rel) = types_file(ctx.config) {
        let path = resolve(ctx.root, &rel);
        if let Some(dir) = path.parent() {
          std::fs::create_dir_all(dir)
            .map_err(|e| TaskError::Failed(format!("creating {}: {e}", dir.display())))?;
        }
        let changed = write_if_changed(&path, &ts)
          .map_err(|e| TaskError::Failed(format!("writing {}: {e}", path.display())))?;
        ctx.log(&format!("{rel}: {}", if changed { "updated" } else { "unchanged" }));
        let mut art = report::describe(ctx.root, &path, "api-types", "api-types")
          .map_err(|e| TaskError::Failed(format!("hashing {}: {e}", path.display())))?;
        art.metadata.insert("changed".into(), changed.into());
        outcome.artifacts.push(art);
      }
      Ok(outcome)
    })
  }
}
