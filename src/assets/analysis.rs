//! Bundle analysis: raw, gzip and brotli sizes of every output file (computed in parallel, on the
//! files as written), and per chunk its largest modules (from Vite's bundle information).
//!
//! Source maps (`*.map`) are counted but not compressed: browsers do not download them.

use super::compress::{self, Implementation};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Modules listed per chunk by default.
pub const DEFAULT_TOP_MODULES: usize = 10;

/// A failure of the analysis.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
  /// The output directory could not be listed.
  #[error("reading {path}: {source}. Fix: build the frontend first")]
  ReadDir {
    /// The directory.
    path: PathBuf,
    /// The I/O error.
    source: std::io::Error,
  },
  /// A file could not be read.
  #[error("reading {path}: {source}")]
  ReadFile {
    /// The file.
    path: PathBuf,
    /// The I/O error.
    source: std::io::Error,
  },
  /// A codec failed.
  #[error("compressing {path}: {source}")]
  Compress {
    /// The file.
    path: PathBuf,
    /// The codec error.
    source: compress::CompressError,
  },
}

/// One module of a chunk, as Vite reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ModuleInfo {
  /// The module id (made relative to the app's root by the caller; `virtual:` for virtual ones).
  pub id: String,
  /// Bytes of the module's code in the chunk (before minification of the chunk as a whole).
  pub rendered_length: u64,
}

/// One chunk of Vite's bundle (what the `farm()` plugin hands over).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ChunkInfo {
  /// The output file, relative to the output directory (`assets/index-abc123.js`).
  pub file_name: String,
  /// The chunk's name (`index`, `react-vendor`).
  pub name: Option<String>,
  /// An entry chunk.
  pub is_entry: bool,
  /// A dynamically imported chunk.
  pub is_dynamic_entry: bool,
  /// Its modules.
  pub modules: Vec<ModuleInfo>,
  /// Chunks it imports statically.
  pub imports: Vec<String>,
  /// Chunks it imports dynamically.
  pub dynamic_imports: Vec<String>,
}

/// Options of [`analyze_dir`].
#[derive(Debug, Clone)]
pub struct AnalyzeOptions {
  /// Modules listed per chunk (largest first).
  pub top_modules: usize,
  /// Compute brotli sizes (quality 11 is slow on big bundles). Default `true`.
  pub brotli: bool,
}

impl Default for AnalyzeOptions {
  fn default() -> Self {
    AnalyzeOptions { top_modules: DEFAULT_TOP_MODULES, brotli: true }
  }
}

/// Sizes of one output file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FileSizes {
  /// Relative to the output directory, `/`-separated.
  pub path: String,
  /// `js`, `css`, `html`, `image`, `font`, `json`, `sourcemap` or `other`.
  pub kind: String,
  /// Bytes on disk.
  pub raw: u64,
  /// `zlib.gzipSync(file).length` (level 6); 0 for source maps.
  pub gzip: u64,
  /// `zlib.brotliCompressSync(file).length` (quality 11); 0 for source maps or when off.
  pub brotli: u64,
}

/// A chunk with its sizes and largest modules.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChunkReport {
  /// The output file.
  pub file_name: String,
  /// The chunk's name (from Vite, else the file name without its hash).
  pub name: String,
  /// An entry chunk.
  pub is_entry: bool,
  /// A dynamically imported chunk.
  pub is_dynamic_entry: bool,
  /// Bytes on disk.
  pub raw: u64,
  /// Gzip size.
  pub gzip: u64,
  /// Brotli size.
  pub brotli: u64,
  /// How many modules it holds.
  pub module_count: usize,
  /// Its largest modules, biggest first.
  pub top_modules: Vec<ModuleInfo>,
  /// Chunks it imports statically.
  pub imports: Vec<String>,
}

/// Sums over all files but source maps.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
  /// Files counted.
  pub files: usize,
  /// Bytes on disk.
  pub raw: u64,
  /// Gzip bytes.
  pub gzip: u64,
  /// Brotli bytes.
  pub brotli: u64,
}

/// The content of `bundle-analysis.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Analysis {
  /// Format version of this document.
  pub version: u32,
  /// Which codecs computed the sizes.
  pub compression: Implementation,
  /// Every file, biggest first.
  pub files: Vec<FileSizes>,
  /// JavaScript chunks, biggest first.
  pub chunks: Vec<ChunkReport>,
  /// Sums (source maps excluded).
  pub totals: Totals,
  /// Sums of JavaScript and CSS only (what budgets' `total` measures).
  pub code_totals: Totals,
  /// Wall time of the analysis, ms (logged, not written: the document is a function of the
  /// bundle alone, so a cached analysis equals a fresh one).
  #[serde(skip_serializing, default)]
  pub duration_ms: f64,
}

/// The kind of an output file, from its extension.
pub fn kind_of(path: &str) -> &'static str {
  let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
  match ext.as_str() {
    "js" | "mjs" | "cjs" => "js",
    "css" => "css",
    "html" | "htm" => "html",
    "png" | "jpg" | "jpeg" | "gif" | "webp" | "avif" | "svg" | "ico" => "image",
    "woff" | "woff2" | "ttf" | "otf" | "eot" => "font",
    "json" | "webmanifest" => "json",
    "map" => "sourcemap",
    _ => "other",
  }
}

/// A chunk's name from its file name: `assets/react-vendor-DFVj3Tma.js` → `react-vendor`.
pub fn name_from_file(file: &str) -> String {
  let base = file.rsplit('/').next().unwrap_or(file);
  let stem = base.split_once('.').map(|(s, _)| s).unwrap_or(base);
  // Vite's default names end in `-` and an 8-character base64url hash (which may itself hold `-`).
  let b = stem.as_bytes();
  let hashed = b.len() > 9
    && b[b.len() - 9] == b'-'
    && b[b.len() - 8..].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-');
  if hashed {
    stem[..stem.len() - 9].to_string()
  } else {
    stem.to_string()
  }
}

/// Raw, gzip and brotli sizes of in-memory buffers, in parallel (the order is kept).
pub fn compressed_sizes(
  buffers: &[&[u8]],
  brotli: bool,
) -> Result<Vec<(u64, u64, u64)>, compress::CompressError> {
  buffers
    .par_iter()
    .map(|b| {
      let g = compress::gzip_size(b)?;
      let br = if brotli { compress::brotli_size(b)? } else { 0 };
      Ok((b.len() as u64, g, br))
    })
    .collect()
}

/// Analyzes the files under `dir` (as written), with `chunks` from Vite (may be empty).
pub fn analyze_dir(
  dir: &Path,
  chunks: &[ChunkInfo],
  opts: &AnalyzeOptions,
) -> Result<Analysis, AnalysisError> {
  let start = Instant::now();
  let mut paths = Vec::new();
  collect(dir, &mut paths).map_err(|source| AnalysisError::ReadDir { path: dir.into(), source })?;
  // Largest first: the slow brotli runs start early and the threads finish together.
  let mut sized: Vec<(PathBuf, u64)> = paths
    .into_iter()
    .map(|p| {
      let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
      (p, len)
    })
    .collect();
  sized.sort_by_key(|s| std::cmp::Reverse(s.1));
  let mut files: Vec<FileSizes> =
    sized.par_iter().map(|(p, _)| measure(dir, p, opts.brotli)).collect::<Result<_, _>>()?;
  files.sort_by(|a, b| b.raw.cmp(&a.raw).then_with(|| a.path.cmp(&b.path)));

  let info: HashMap<&str, &ChunkInfo> = chunks.iter().map(|c| (c.file_name.as_str(), c)).collect();
  let mut reports: Vec<ChunkReport> = files
    .iter()
    .filter(|f| f.kind == "js")
    .map(|f| {
      let ci = info.get(f.path.as_str());
      let mut modules = ci.map(|c| c.modules.clone()).unwrap_or_default();
      modules
        .sort_by(|a, b| b.rendered_length.cmp(&a.rendered_length).then_with(|| a.id.cmp(&b.id)));
      let module_count = modules.len();
      modules.truncate(opts.top_modules);
      ChunkReport {
        file_name: f.path.clone(),
        name: ci.and_then(|c| c.name.clone()).unwrap_or_else(|| name_from_file(&f.path)),
        is_entry: ci.is_some_and(|c| c.is_entry),
        is_dynamic_entry: ci.is_some_and(|c| c.is_dynamic_entry),
        raw: f.raw,
        gzip: f.gzip,
        brotli: f.brotli,
        module_count,
        top_modules: modules,
        imports: ci.map(|c| c.imports.clone()).unwrap_or_default(),
      }
    })
    .collect();
  reports.sort_by(|a, b| b.raw.cmp(&a.raw).then_with(|| a.file_name.cmp(&b.file_name)));

  let sum = |pred: &dyn Fn(&FileSizes) -> bool| {
    files.iter().filter(|f| pred(f)).fold(Totals::default(), |t, f| Totals {
      files: t.files + 1,
      raw: t.raw + f.raw,
      gzip: t.gzip + f.gzip,
      brotli: t.brotli + f.brotli,
    })
  };
  let totals = sum(&|f| f.kind != "sourcemap");
  let code_totals = sum(&|f| f.kind == "js" || f.kind == "css");
  Ok(Analysis {
    version: 1,
    compression: compress::implementation(),
    files,
    chunks: reports,
    totals,
    code_totals,
    duration_ms: start.elapsed().as_secs_f64() * 1000.0,
  })
}

fn measure(dir: &Path, p: &Path, brotli: bool) -> Result<FileSizes, AnalysisError> {
  let path = rel(dir, p);
  let kind = kind_of(&path);
  let data =
    std::fs::read(p).map_err(|source| AnalysisError::ReadFile { path: p.into(), source })?;
  let (gzip, br) = if kind == "sourcemap" {
    (0, 0)
  } else {
    let err = |source| AnalysisError::Compress { path: p.into(), source };
    let g = compress::gzip_size(&data).map_err(err)?;
    let b = if brotli { compress::brotli_size(&data).map_err(err)? } else { 0 };
    (g, b)
  };
  Ok(FileSizes { path, kind: kind.into(), raw: data.len() as u64, gzip, brotli: br })
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
  for entry in std::fs::read_dir(dir)? {
    let entry = entry?;
    let ft = entry.file_type()?;
    if ft.is_dir() {
      collect(&entry.path(), out)?;
    } else if ft.is_file() {
      out.push(entry.path());
    }
  }
  Ok(())
}

fn rel(dir: &Path, p: &Path) -> String {
  let r = p.strip_prefix(dir).unwrap_or(p);
  r.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::io::Write;

  fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("farm-analysis-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("assets")).unwrap();
    d
  }

  fn gzip_len(data: &[u8]) -> u64 {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    e.write_all(data).unwrap();
    e.finish().unwrap().len() as u64
  }

  #[test]
  fn sizes_per_file_chunks_with_largest_modules_and_totals() {
    let dir = temp("basic");
    let vendor = "function react(){return 'react'}\n".repeat(400);
    let entry = "import './vendor.js'; console.log('hello world');\n".repeat(30);
    std::fs::write(dir.join("assets/react-vendor-DFVj3Tma.js"), &vendor).unwrap();
    std::fs::write(dir.join("assets/index-BlrlEO0i.js"), &entry).unwrap();
    std::fs::write(dir.join("assets/index-BlrlEO0i.js.map"), "{\"version\":3}").unwrap();
    std::fs::write(dir.join("assets/index-BfNHD02k.css"), "body{margin:0}").unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><html></html>").unwrap();
    let chunks = vec![ChunkInfo {
      file_name: "assets/react-vendor-DFVj3Tma.js".into(),
      name: Some("react-vendor".into()),
      modules: (0..15)
        .map(|i| ModuleInfo { id: format!("node_modules/m{i}.js"), rendered_length: i * 10 })
        .collect(),
      ..Default::default()
    }];
    let a = analyze_dir(&dir, &chunks, &AnalyzeOptions { top_modules: 3, brotli: true }).unwrap();
    assert_eq!(a.files.len(), 5);
    assert_eq!(a.files[0].path, "assets/react-vendor-DFVj3Tma.js");
    let v = &a.files[0];
    assert_eq!(v.raw, vendor.len() as u64);
    // this test binary has no host zlib: the fallback is flate2 itself
    if !a.compression.matches_node {
      assert_eq!(v.gzip, gzip_len(vendor.as_bytes()));
    }
    assert!(v.brotli > 0 && v.brotli < v.gzip);
    let map = a.files.iter().find(|f| f.kind == "sourcemap").unwrap();
    assert_eq!((map.gzip, map.brotli), (0, 0));
    assert_eq!(a.chunks.len(), 2);
    let c = &a.chunks[0];
    assert_eq!(c.name, "react-vendor");
    assert_eq!(c.module_count, 15);
    let top: Vec<_> = c.top_modules.iter().map(|m| m.rendered_length).collect();
    assert_eq!(top, vec![140, 130, 120]);
    assert_eq!(a.chunks[1].name, "index", "name from the file name without Vite's info");
    assert_eq!(a.totals.files, 4, "source maps are not counted");
    assert_eq!(
      a.totals.raw,
      a.files.iter().filter(|f| f.kind != "sourcemap").map(|f| f.raw).sum::<u64>()
    );
    assert_eq!(a.code_totals.files, 3);
    let json = serde_json::to_value(&a).unwrap();
    assert!(json["compression"]["gzip"].as_str().unwrap().contains("level 6"));
    let back: Analysis = serde_json::from_value(json).unwrap();
    assert_eq!(back.files, a.files);
  }

  #[test]
  fn parallel_buffer_sizes_keep_the_order() {
    let bufs: Vec<Vec<u8>> = (0..50).map(|i| "abc".repeat(i * 20).into_bytes()).collect();
    let refs: Vec<&[u8]> = bufs.iter().map(|b| b.as_slice()).collect();
    let sizes = compressed_sizes(&refs, false).unwrap();
    for (b, s) in bufs.iter().zip(&sizes) {
      assert_eq!(s.0, b.len() as u64);
      assert_eq!(s.1, compress::gzip_size(b).unwrap());
      assert_eq!(s.2, 0);
    }
  }

  #[test]
  fn names_from_hashed_file_names() {
    assert_eq!(name_from_file("assets/react-vendor-DFVj3Tma.js"), "react-vendor");
    assert_eq!(name_from_file("assets/rolldown-runtime-WkwZ5CU-.js"), "rolldown-runtime");
    assert_eq!(name_from_file("assets/index-BfNHD02k.css"), "index");
    assert_eq!(name_from_file("sw.js"), "sw");
    assert_eq!(kind_of("a/b.JS"), "js");
    assert_eq!(kind_of("x.js.map"), "sourcemap");
  }

  #[test]
  fn a_missing_dir_is_an_error_with_a_fix() {
    let e = analyze_dir(Path::new("/nonexistent/farm/web"), &[], &AnalyzeOptions::default());
    assert!(e.unwrap_err().to_string().contains("build the frontend first"));
  }
}
