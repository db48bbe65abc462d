//! The `types` task: exports the FastAPI app's OpenAPI document (importing the app with the project's
//! dev venv, else the production venv the backend task built, with the backend env of
//! `backend.envFile` / `backend.env`, values redacted from logs and errors) and generates TypeScript types from it natively ([`crate::typegen`]), in the shape
//! of openapi-typescript's output. The types file is rewritten only when its content changes, so the
//! frontend is keyed on the API's shape, not on every backend edit.

use super::backend::env::BackendEnv;
use super::backend::env::REDACT_MIN_LEN;
use super::backend::project::export_python;
use super::backend::{log_env, python_version};
use super::{process_error, Builder, IoContext, Output, TaskContext, TaskIo, Uncached};
use crate::config::{resolve, FarmConfig};
use crate::report;
use crate::run::process::Cmd;
use crate::run::{TaskError, TaskOutcome};
use crate::typegen::{generate, write_if_changed, GenerateOptions};
use futures_util::future::BoxFuture;

/// Imports `module:attr` from the current directory and prints `app.openapi()` as JSON. What the
/// app prints while it is imported goes to stderr (the task's log), so it cannot break the JSON.
const EXPORT_SCRIPT: &str = r#"
import importlib, json, os, sys
out, sys.stdout = sys.stdout, sys.stderr
sys.path.insert(0, os.getcwd())
module, _, attr = sys.argv[1].partition(":")
app = importlib.import_module(module)
for part in attr.split("."):
    app = getattr(app, part)
doc = json.dumps(app.openapi())
out.write(doc)
out.flush()
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
    // The app is imported from the backend's sources, with the dev venv (else the production
    // venv the backend task built): that interpreter's packages enter the key.
    let python = export_python(cx.root, be, &cx.output_dir());
    let reads = super::backend::source_reads(cx, be).map(|mut r| {
      r.tools = vec![super::Tool::Python(python)];
      // Of the backend's output, only the production venv is used (as the interpreter when there
      // is no dev venv), and its Python version and installed distributions are in the key: the
      // backend's key (machine-bound when it builds a venv) is not, so this key travels.
      r.outputs_of = vec![crate::plan::TaskKind::Backend];
      r.config =
        serde_json::json!({ "root": be.root, "app": be.app, "typesFile": types_file(cx.config) });
      r
    });
    let mut writes = vec![Output::new("schema", cx.output_dir().join("openapi"))];
    if let Some(tf) = types_file(cx.config) {
      writes.push(Output::new("types", resolve(cx.root, &tf)));
    }
    TaskIo { reads, writes }
  }

  fn build<'a>(
    &'a self,
    ctx: &'a TaskContext<'a>,
  ) -> BoxFuture<'a, Result<TaskOutcome, TaskError>> {
    Box::pin(async move {
      let be = ctx.backend()?;
      let benv = BackendEnv::load(be, ctx.root, |n| std::env::var(n).ok())
        .map_err(|e| TaskError::Failed(e.to_string()))?;
      let red = benv.redactor();
      let log = |l: &str| ctx.log(&red.redact(l));
      export_types(ctx, be, &benv, &log).await.map_err(|e| red.redact_error(e))
    })
  }
}

/// The `types` task, its messages going to `log`.
async fn export_types(
  ctx: &TaskContext<'_>,
  be: &crate::config::BackendConfig,
  benv: &BackendEnv,
  log: &(dyn Fn(&str) + Send + Sync),
) -> Result<TaskOutcome, TaskError> {
  let api = resolve(ctx.root, &be.root);
  let python = export_python(ctx.root, be, &ctx.output_dir);
  let py_version = python_version(&python, ctx).await?;
  log_env(be, benv, log);
  let cmd = Cmd::new(&python)
    .args(["-c", EXPORT_SCRIPT, be.app.as_str()])
    .cwd(&api)
    .env("PYTHONDONTWRITEBYTECODE", "1")
    .capture_stdout();
  let out = benv.apply(cmd).run(log, &ctx.cancel).await.map_err(process_error)?;
  if !out.success() {
    return Err(TaskError::Failed(format!(
      "importing the FastAPI app `{}` from {} failed (with {python}):\n{}",
      be.app,
      be.root,
      out.tail(30)
    )));
  }
  // The document is an output: say when it holds a value of the backend env (by name only).
  let leaked: Vec<&str> = benv
    .vars()
    .iter()
    .filter(|(_, v)| v.chars().count() >= REDACT_MIN_LEN && out.stdout.contains(v.as_str()))
    .map(|(k, _)| k.as_str())
    .collect();
  let mut outcome = TaskOutcome::default();
  if !leaked.is_empty() {
    outcome.warnings.push(format!(
          "the OpenAPI document (and the generated types) contains the value of {}: make sure it is not a secret",
          leaked.join(", ")
        ));
  }
  let doc: serde_json::Value = serde_json::from_str(&out.stdout)
    .map_err(|e| TaskError::Failed(format!("`{}`.openapi() did not print JSON: {e}", be.app)))?;
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
  schema.metadata.insert("openapiVersion".into(), doc.get("openapi").cloned().unwrap_or_default());
  schema.metadata.insert("endpoints".into(), endpoints.into());
  schema.metadata.insert("models".into(), models.into());
  schema.metadata.insert("pythonVersion".into(), py_version.into());

  outcome.artifacts.push(schema);
  if let Some(rel) = types_file(ctx.config) {
    let path = resolve(ctx.root, &rel);
    if let Some(dir) = path.parent() {
      std::fs::create_dir_all(dir)
        .map_err(|e| TaskError::Failed(format!("creating {}: {e}", dir.display())))?;
    }
    let changed = write_if_changed(&path, &ts)
      .map_err(|e| TaskError::Failed(format!("writing {}: {e}", path.display())))?;
    log(&format!("{rel}: {}", if changed { "updated" } else { "unchanged" }));
    let mut art = report::describe(ctx.root, &path, "api-types", "api-types")
      .map_err(|e| TaskError::Failed(format!("hashing {}: {e}", path.display())))?;
    art.metadata.insert("changed".into(), changed.into());
    outcome.artifacts.push(art);
  }
  Ok(outcome)
}
