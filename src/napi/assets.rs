//! Bindings of [`crate::assets`]: image optimization, bundle analysis, size budgets.

use super::Code;
use crate::assets::analysis::{self, AnalyzeOptions, ChunkInfo};
use crate::assets::budget::Budgets;
use crate::assets::images::{self, ImageOptions};
use napi_derive::napi;
use std::path::PathBuf;

/// Options of `optimizeImages`.
#[napi(object)]
pub struct OptimizeImagesOptions {
  /// oxipng preset, 0 (fastest) to 6 (smallest). Default 2.
  pub level: Option<u32>,
  /// Remove chunks that do not change how the image looks (text, EXIF, time). Default true.
  pub strip_metadata: Option<bool>,
  /// Cache directory (results keyed by content hash). Default: no cache.
  pub cache_dir: Option<String>,
  /// Only report; do not rewrite files.
  pub dry_run: Option<bool>,
  /// Only these files (relative to `dir`). Default: every image under `dir`.
  pub files: Option<Vec<String>>,
}

/// Options of `analyzeBundle`.
#[napi(object)]
pub struct AnalyzeBundleOptions {
  /// Modules listed per chunk, largest first. Default 10.
  pub top_modules: Option<u32>,
  /// Compute brotli sizes (quality 11). Default true.
  pub brotli: Option<bool>,
}

fn err(code: &str, e: impl std::fmt::Display) -> napi::Error<Code> {
  napi::Error::new(Code(code.into()), e.to_string())
}

fn json<T: serde::Serialize>(v: &T) -> napi::Result<serde_json::Value, Code> {
  serde_json::to_value(v).map_err(|e| err("IO_ERROR", e))
}

/// An error of an async export (their promises reject with a plain `Error`; the message starts
/// with the code).
fn async_err(code: &str, e: impl std::fmt::Display) -> napi::Error {
  napi::Error::from_reason(format!("{code}: {e}"))
}

/// Losslessly optimizes the PNGs under `dir` (oxipng, in parallel; a file that would grow is kept).
/// Resolves to `{ files: [{ path, format, status, originalBytes, optimizedBytes, savedBytes, cached,
/// error }], originalBytes, optimizedBytes, savedBytes, cacheHits, durationMs }`. Rejects with
/// `IMAGE_ERROR: …` when `dir` cannot be read.
#[napi(ts_return_type = "Promise<Record<string, any>>")]
pub async fn optimize_images(
  dir: String,
  options: Option<OptimizeImagesOptions>,
) -> napi::Result<serde_json::Value> {
  let o = options.unwrap_or(OptimizeImagesOptions {
    level: None,
    strip_metadata: None,
    cache_dir: None,
    dry_run: None,
    files: None,
  });
  let opts = ImageOptions {
    level: o.level.unwrap_or(2).min(255) as u8,
    strip_metadata: o.strip_metadata.unwrap_or(true),
    cache_dir: o.cache_dir.map(PathBuf::from),
    dry_run: o.dry_run.unwrap_or(false),
  };
  let dir = PathBuf::from(dir);
  let files = o.files;
  let report = tokio::task::spawn_blocking(move || match files {
    Some(f) => {
      let f: Vec<PathBuf> = f.into_iter().map(PathBuf::from).collect();
      images::optimize_files(&dir, &f, &opts)
    }
    None => images::optimize_dir(&dir, &opts),
  })
  .await
  .map_err(|e| async_err("IMAGE_ERROR", e))?
  .map_err(|e| async_err("IMAGE_ERROR", e))?;
  serde_json::to_value(&report).map_err(|e| async_err("IO_ERROR", e))
}

/// Raw, gzip (level 6) and brotli (quality 11) sizes of every file under `dir`, computed in parallel
/// on the files as written, with each chunk's largest modules from `chunks` (Vite's bundle info).
/// Resolves to the content of `bundle-analysis.json`. Rejects with `ANALYSIS_ERROR: …`.
#[napi(ts_return_type = "Promise<Record<string, any>>")]
pub async fn analyze_bundle(
  dir: String,
  #[napi(ts_arg_type = "Array<Record<string, any>>")] chunks: Option<serde_json::Value>,
  options: Option<AnalyzeBundleOptions>,
) -> napi::Result<serde_json::Value> {
  let chunks: Vec<ChunkInfo> = match chunks {
    Some(v) => {
      serde_json::from_value(v).map_err(|e| async_err("ANALYSIS_ERROR", format!("chunks: {e}")))?
    }
    None => Vec::new(),
  };
  let mut opts = AnalyzeOptions::default();
  if let Some(o) = options {
    opts.top_modules = o.top_modules.map_or(opts.top_modules, |n| n as usize);
    opts.brotli = o.brotli.unwrap_or(true);
  }
  let dir = PathBuf::from(dir);
  let a = tokio::task::spawn_blocking(move || analysis::analyze_dir(&dir, &chunks, &opts))
    .await
    .map_err(|e| async_err("ANALYSIS_ERROR", e))?
    .map_err(|e| async_err("ANALYSIS_ERROR", e))?;
  serde_json::to_value(&a).map_err(|e| async_err("IO_ERROR", e))
}

/// Checks an analysis (from `analyzeBundle` or `bundle-analysis.json`) against `budgets`
/// (`{ total?, chunk?, chunks?, measure? }`). Returns `{ violations: [{ name, file, size, limit }],
/// table }` (`table` is empty when nothing is over). Throws `BUDGET_INVALID` for a bad size.
#[napi(
  ts_return_type = "{ violations: Array<{ name: string; file: string | null; size: number; limit: number }>; table: string }"
)]
pub fn check_budgets(
  #[napi(ts_arg_type = "Record<string, any>")] analysis: serde_json::Value,
  #[napi(
    ts_arg_type = "{ total?: string; chunk?: string; chunks?: Record<string, string>; measure?: 'gzip' | 'brotli' | 'raw' }"
  )]
  budgets: serde_json::Value,
) -> napi::Result<serde_json::Value, Code> {
  let a: analysis::Analysis = serde_json::from_value(analysis)
    .map_err(|e| err("BUDGET_INVALID", format!("analysis: {e}")))?;
  let b: Budgets =
    serde_json::from_value(budgets).map_err(|e| err("BUDGET_INVALID", format!("budgets: {e}")))?;
  if let Some((path, msg)) = b.validate().into_iter().next() {
    return Err(err("BUDGET_INVALID", format!("budgets.{path}: {msg}")));
  }
  let v = b.check(&a).map_err(|e| err("BUDGET_INVALID", e))?;
  let table = if v.is_empty() { String::new() } else { b.table(&v) };
  Ok(serde_json::json!({ "violations": v, "table": table }))
}

/// Which codecs compute gzip and brotli sizes in this process: `{ gzip, brotli, matchesNode }`.
#[napi(ts_return_type = "{ gzip: string; brotli: string; matchesNode: boolean }")]
pub fn compression_info() -> napi::Result<serde_json::Value, Code> {
  json(&crate::assets::compress::implementation())
}
