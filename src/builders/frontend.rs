//! The frontend builder: a Vite build, run on the JavaScript side through the [`Host`](super::Host).
//!
//! Rust decides what to build (paths, environment, source maps, minification, vendor chunks, defines)
//! and hands a request to JavaScript, which runs Vite (the app's own dependency) in a child process it
//! can kill. Vite writes into a staging directory, committed only when the build succeeded. Sizes and
//! hashes are measured on the files as written.

use super::staging::StagedDir;
use super::web_inputs::web_reads;
use super::{Builder, IoContext, Output, TaskContext, TaskIo, Tool, Uncached};
use crate::assets::analysis::{self, ChunkInfo};
use crate::assets::budget::fmt_size;
use crate::config::{resolve, Environment, FrontendConfig};
use crate::report;
use crate::run::{TaskError, TaskOutcome};
use futures_util::future::BoxFuture;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a cancelled Vite build gets to stop before the task is reported cancelled anyway.
const CANCEL_WAIT: Duration = Duration::from_secs(5);

/// Builds the `frontend` task.
pub struct FrontendBuilder;

/// The default vendor chunk groups: chunk name → packages.
pub fn default_chunks() -> BTreeMap<String, Vec<String>> {
  let g = |pkgs: &[&str]| pkgs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
  BTreeMap::from([
    ("react-vendor".to_string(), g(&["react", "react-dom", "scheduler"])),
    ("router-vendor".to_string(), g(&["react-router", "react-router-dom", "@remix-run/router"])),
    ("ui-vendor".to_string(), g(&["@headlessui/react", "@radix-ui", "lucide-react"])),
    ("data-vendor".to_string(), g(&["@tanstack/react-query", "zustand", "axios"])),
    ("utils-vendor".to_string(), g(&["lodash", "lodash-es", "date-fns", "zod", "clsx"])),
  ])
}

/// The request handed to the JavaScript Vite runner.
pub fn frontend_request(
  ctx: &TaskContext<'_>,
  fe: &FrontendConfig,
  out_dir: &std::path::Path,
) -> serde_json::Value {
  let env = ctx.config.environment;
  let plugins: Vec<_> = ctx
    .config
    .plugins
    .iter()
    .filter(|p| p.enabled())
    .map(|p| match p {
      crate::config::PluginSpec::Name(n) => json!({ "name": n, "options": {} }),
      crate::config::PluginSpec::Full(o) => json!({ "name": o.name, "options": o.options }),
    })
    .collect();
  json!({
    "taskId": format!("{}:{}", ctx.build_id, ctx.task),
    "root": resolve(ctx.root, &fe.root),
    "projectRoot": ctx.root,
    "outDir": out_dir,
    "mode": if env == Environment::Development { "development" } else { "production" },
    "environment": env.as_str(),
    "appName": ctx.config.app_name,
    "version": ctx.config.version,
    // What goes into the bundle is a function of the inputs only: no build id, no wall clock.
    "buildId": serde_json::Value::Null,
    "buildTimestamp": build_timestamp(),
    "sourcemap": fe.sourcemap.unwrap_or(env != Environment::Production),
    "minify": fe.minify.unwrap_or(env != Environment::Development),
    "base": fe.base,
    "chunks": fe.chunks.clone().unwrap_or_else(default_chunks),
    "define": fe.define,
    "plugins": plugins,
    "imageCacheDir": resolve(ctx.root, &ctx.config.cache_dir).join("images"),
  })
}

/// Where the analysis of a bundle that failed its budgets is kept (`farm analyze bundle` reads it
/// when it is newer than `<outputDir>/analysis/bundle-analysis.json`).
pub fn failed_analysis_path(
  root: &std::path::Path,
  cfg: &crate::config::FarmConfig,
) -> std::path::PathBuf {
  resolve(root, &cfg.cache_dir).join("analysis").join("bundle-analysis.json")
}

/// Analyzes the bundle as written (raw, gzip and brotli sizes; chunks with their largest modules
/// from the response's `chunks`), writes `<outputDir>/analysis/bundle-analysis.json` and checks the budgets.
/// Returns the `bundle-analysis` artifact; a budget exceeded fails the task with a table.
async fn analyze(
  ctx: &TaskContext<'_>,
  dir: &std::path::Path,
  response: &serde_json::Value,
) -> Result<report::Artifact, TaskError> {
  let chunks: Vec<ChunkInfo> = response
    .get("chunks")
    .cloned()
    .map(serde_json::from_value)
    .transpose()
    .map_err(|e| TaskError::Failed(format!("the Vite runner's chunk information: {e}")))?
    .unwrap_or_default();
  let images = response.get("images").and_then(|i| i.get("files")).and_then(|f| f.as_array());
  for f in images.into_iter().flatten() {
    let saved = f["savedBytes"].as_u64().unwrap_or(0);
    if saved > 0 {
      ctx.log(&format!(
        "image {}: {} → {} (-{})",
        f["path"].as_str().unwrap_or("?"),
        fmt_size(f["originalBytes"].as_u64().unwrap_or(0)),
        fmt_size(f["optimizedBytes"].as_u64().unwrap_or(0)),
        fmt_size(saved)
      ));
    }
  }
  let owned = dir.to_path_buf();
  let job = tokio::task::spawn_blocking(move || {
    analysis::analyze_dir(&owned, &chunks, &analysis::AnalyzeOptions::default())
  });
  let a = tokio::select! {
    r = job => r
      .map_err(|e| TaskError::Failed(format!("bundle analysis: {e}")))?
      .map_err(|e| TaskError::Failed(format!("bundle analysis: {e}")))?,
    _ = ctx.cancel.cancelled() => return Err(TaskError::Cancelled),
  };
  let t = &a.totals;
  ctx.log(&format!(
    "bundle: {} files, {} raw, {} gzip, {} brotli (analysed in {:.0} ms)",
    t.files,
    fmt_size(t.raw),
    fmt_size(t.gzip),
    fmt_size(t.brotli),
    a.duration_ms
  ));
  let path = ctx.output_dir.join("analysis").join("bundle-analysis.json");
  let text = serde_json::to_vec_pretty(&a)
    .map_err(|e| TaskError::Failed(format!("bundle-analysis.json: {e}")))?;
  std::fs::create_dir_all(ctx.output_dir.join("analysis"))
    .and_then(|()| report::write_atomic(&path, &text))
    .map_err(|e| TaskError::Failed(format!("writing {}: {e}", path.display())))?;
  if let Some(b) = ctx.config.frontend.as_ref().and_then(|f| f.budgets.as_ref()) {
    let over = b.check(&a).map_err(TaskError::Failed)?;
    if !over.is_empty() {
      // The task fails, so its outputs are put back as they were; the analysis of this bundle is
      // kept in the cache dir for `farm analyze bundle`.
      let kept = failed_analysis_path(ctx.root, ctx.config);
      if let Some(dir) = kept.parent() {
        let _ = std::fs::create_dir_all(dir).and_then(|()| report::write_atomic(&kept, &text));
      }
      return Err(TaskError::Failed(b.table(&over)));
    }
  }
  let mut art = report::describe(ctx.root, &path, "bundle-analysis", "bundle-analysis")
    .map_err(|e| TaskError::Failed(format!("hashing {}: {e}", path.display())))?;
  art.metadata.insert("raw".into(), t.raw.into());
  art.metadata.insert("gzip".into(), t.gzip.into());
  art.metadata.insert("brotli".into(), t.brotli.into());
  art.metadata.insert("compression".into(), json!(a.compression));
  Ok(art)
}

/// Env vars a Vite build reads: every `VITE_*` set now (Vite inlines them), `NODE_ENV`, and
/// `SOURCE_DATE_EPOCH` (the build timestamp).
pub fn vite_env() -> Vec<String> {
  let mut env: Vec<String> = std::env::vars_os()
    .filter_map(|(k, _)| k.into_string().ok())
    .filter(|k| k.starts_with("VITE_"))
    .collect();
  env.sort();
  env.push("NODE_ENV".into());
  env.push("SOURCE_DATE_EPOCH".into());
  env
}

/// `__BUILD_TIMESTAMP__`: `SOURCE_DATE_EPOCH` (seconds, the reproducible-builds convention) when
/// set, else the Unix epoch, so the same sources always give the same bundle (cached == clean).
pub fn build_timestamp() -> String {
  let secs =
    std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(0);
  report::rfc3339(std::time::UNIX_EPOCH + Duration::from_secs(secs))
}

impl Builder for FrontendBuilder {
  /// Reads the app's folder, lockfiles, env files and config imports ([`web_reads`]), the `VITE_*`
  /// env and Vite's version; writes `<outputDir>/<outDir>` and `<outputDir>/analysis`.
  fn io(&self, cx: &IoContext<'_>) -> TaskIo {
    let Some(fe) = cx.config.frontend.as_ref() else {
      return TaskIo { reads: Err(Uncached::MissingSection("frontend")), writes: Vec::new() };
    };
    let out = cx.output_dir();
    let mut reads = web_reads(cx, fe);
    reads.env = cx.env_names(vite_env());
    reads.tools = vec![Tool::NodePackage { name: "vite".into(), from: reads.root.clone() }];
    reads.config = json!({
      "frontend": fe,
      "environment": cx.config.environment.as_str(),
      "appName": cx.config.app_name,
      "version": cx.config.version,
      "plugins": cx.config.plugins,
    });
    TaskIo {
      reads: Ok(reads),
      writes: vec![
        Output::new("web", resolve(&out, &fe.out_dir)),
        Output::new("analysis", out.join("analysis")),
      ],
    }
  }

  fn build<'a>(
    &'a self,
    ctx: &'a TaskContext<'a>,
  ) -> BoxFuture<'a, Result<TaskOutcome, TaskError>> {
    Box::pin(async move {
      let fe = ctx.frontend()?;
      let web = resolve(ctx.root, &fe.root);
      if !web.join("index.html").is_file() {
        return Err(TaskError::Failed(format!(
          "{} has no index.html: set `frontend.root` to the Vite app's folder",
          web.display()
        )));
      }
      let staged = StagedDir::new(&ctx.output_dir.join(&fe.out_dir))
        .map_err(|e| TaskError::Failed(format!("creating the frontend output dir: {e}")))?;
      let request = frontend_request(ctx, fe, staged.path());
      let task_id = request["taskId"].as_str().unwrap_or_default().to_string();
      let vite =
        crate::report::profile::current_span(crate::report::profile::SpanCat::Vite, || {
          "vite build".into()
        });
      let run = ctx.host.run_frontend(request);
      tokio::pin!(run);
      let response = tokio::select! {
        r = &mut run => r,
        _ = ctx.cancel.cancelled() => {
          ctx.host.cancel_frontend(&task_id);
          let _ = tokio::time::timeout(CANCEL_WAIT, &mut run).await;
          return Err(TaskError::Cancelled);
        }
      };
      vite.end();
      let response = response.map_err(|m| TaskError::Failed(format!("vite build failed: {m}")))?;
      for line in response.get("logs").and_then(|l| l.as_array()).into_iter().flatten() {
        if let Some(s) = line.as_str() {
          ctx.log(s);
        }
      }
      if let Some(v) = response.get("viteVersion").and_then(|v| v.as_str()) {
        ctx.record_tool("vite", v);
      }
      if !staged.path().join("index.html").is_file() {
        return Err(TaskError::Failed("vite reported success but wrote no index.html".into()));
      }
      let analysis = analyze(ctx, staged.path(), &response).await?;
      let final_path = staged.final_path().to_path_buf();
      staged
        .commit()
        .map_err(|e| TaskError::Failed(format!("moving the frontend output into place: {e}")))?;
      let mut art = report::describe(ctx.root, &final_path, "frontend-bundle", "web")
        .map_err(|e| TaskError::Failed(format!("hashing {}: {e}", final_path.display())))?;
      let files = response.get("files").and_then(|f| f.as_array()).cloned().unwrap_or_default();
      let chunks = files.iter().filter(|f| f["type"] == "chunk").count();
      art.metadata.insert("entryPoints".into(), json!(["index.html"]));
      art.metadata.insert("chunks".into(), chunks.into());
      art.metadata.insert("assets".into(), (files.len() - chunks).into());
      let mut outcome = TaskOutcome::default();
      outcome.metadata.insert("files".into(), files.into());
      if let Some(w) = response.get("warnings").and_then(|w| w.as_array()) {
        outcome.warnings.extend(w.iter().filter_map(|x| x.as_str().map(str::to_owned)));
      }
      if let Some(images) = response.get("images").filter(|i| i.is_object()) {
        let repaired = images["cacheRepaired"].as_u64().unwrap_or(0);
        if repaired > 0 {
          let dir = resolve(ctx.root, &ctx.config.cache_dir).join("images");
          let msg = format!(
            "{repaired} damaged image cache entries in {} deleted and recomputed",
            dir.display()
          );
          ctx.events.warn(Some(ctx.task), msg);
        }
        art.metadata.insert("imagesSavedBytes".into(), images["savedBytes"].clone());
        outcome.metadata.insert("images".into(), images.clone());
      }
      outcome.artifacts.push(art);
      outcome.artifacts.push(analysis);
      Ok(outcome)
    })
  }
}
