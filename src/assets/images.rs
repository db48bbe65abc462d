//! Lossless image optimization: PNGs are recompressed with oxipng (pixels unchanged), in parallel
//! (rayon), with results cached by content hash, and a file that would not shrink kept as it is.
//!
//! Only PNG is optimized: no maintained pure-Rust crate does lossless JPEG/WebP/GIF/AVIF
//! recompression, so those files are reported as `unsupported` and never touched.
//!
//! Cache: `<cacheDir>/<xxh3-128 of (input bytes, level, strip, oxipng version)>.img` holds
//! `FARMIMG1`, a kind byte (1: optimized bytes follow, 0: the input cannot be made smaller), the
//! xxh3-128 of the payload and the payload. Every entry is verified against its digest when it is
//! used: a damaged one (a torn write, a flipped bit, an edit) is deleted, counted in
//! [`ImageReport::cache_repaired`] and recomputed. Entries are written to a temporary name and
//! renamed, so a crash never leaves a half-written entry; a hit touches the entry's mtime, which
//! the build cache's eviction uses as its last use.

use rayon::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;
use xxhash_rust::xxh3::Xxh3;

/// Extensions of images that are listed (as `unsupported`) but not optimized.
const OTHER_IMAGES: &[&str] = &["jpg", "jpeg", "gif", "webp", "avif"];
/// oxipng's version, part of the cache key (a new optimizer may give other bytes).
const OXIPNG_VERSION: &str = "oxipng-10";

/// A failure that stops the whole run (a per-file failure is reported in its [`ImageResult`]).
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
  /// The directory to optimize could not be read.
  #[error("reading {path}: {source}. Fix: pass an existing directory")]
  ReadDir {
    /// The directory.
    path: PathBuf,
    /// The I/O error.
    source: std::io::Error,
  },
  /// The optimization level is out of range.
  #[error("image optimization level {0} is out of range: expected 0 (fastest) to 6 (smallest)")]
  Level(u8),
}

/// How to optimize.
#[derive(Debug, Clone)]
pub struct ImageOptions {
  /// oxipng preset, 0 (fastest) to 6 (smallest). Default 2 (oxipng's default).
  pub level: u8,
  /// Remove chunks that do not affect how the image looks (text, EXIF, timestamps); colour chunks
  /// (`iCCP`, `sRGB`, `gAMA`, `cHRM`) are kept. Default `true`.
  pub strip_metadata: bool,
  /// Where results are cached; `None`: no cache.
  pub cache_dir: Option<PathBuf>,
  /// Only report what would be saved; leave the files unchanged.
  pub dry_run: bool,
}

impl Default for ImageOptions {
  fn default() -> Self {
    ImageOptions { level: 2, strip_metadata: true, cache_dir: None, dry_run: false }
  }
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageStatus {
  /// Rewritten smaller.
  Optimized,
  /// Already as small as the optimizer gets it: left as it is.
  Unchanged,
  /// Not a format this optimizer handles (JPEG, WebP, GIF, AVIF): left as it is.
  Unsupported,
  /// Could not be decoded or written: left as it is (see `error`).
  Failed,
}

/// One file's result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageResult {
  /// Relative to the optimized directory, `/`-separated.
  pub path: String,
  /// `png`, `jpg`, ...
  pub format: String,
  /// What happened.
  pub status: ImageStatus,
  /// Bytes before.
  pub original_bytes: u64,
  /// Bytes after (equal to `original_bytes` unless `optimized`).
  pub optimized_bytes: u64,
  /// `original_bytes - optimized_bytes`.
  pub saved_bytes: u64,
  /// The result came from the cache (no optimization run).
  pub cached: bool,
  /// Why it failed.
  pub error: Option<String>,
}

/// The result of a run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageReport {
  /// Every image found, biggest saving first.
  pub files: Vec<ImageResult>,
  /// Bytes of all images before.
  pub original_bytes: u64,
  /// Bytes of all images after.
  pub optimized_bytes: u64,
  /// Total bytes saved.
  pub saved_bytes: u64,
  /// How many results came from the cache.
  pub cache_hits: usize,
  /// Damaged cache entries found, deleted and recomputed.
  pub cache_repaired: usize,
  /// Wall time, ms.
  pub duration_ms: f64,
}

/// Optimizes every image under `dir` (recursively; symlinks are not followed).
pub fn optimize_dir(dir: &Path, opts: &ImageOptions) -> Result<ImageReport, ImageError> {
  let mut files = Vec::new();
  collect(dir, &mut files).map_err(|source| ImageError::ReadDir { path: dir.into(), source })?;
  optimize_files(dir, &files, opts)
}

/// Optimizes `files` (paths relative to `dir`, or absolute under it).
pub fn optimize_files(
  dir: &Path,
  files: &[PathBuf],
  opts: &ImageOptions,
) -> Result<ImageReport, ImageError> {
  if opts.level > 6 {
    return Err(ImageError::Level(opts.level));
  }
  let start = Instant::now();
  if let Some(c) = &opts.cache_dir {
    // A cache that cannot be created only costs speed: results are then not cached.
    let _ = std::fs::create_dir_all(c);
  }
  let repaired = std::sync::atomic::AtomicUsize::new(0);
  let mut results: Vec<ImageResult> =
    files.par_iter().filter_map(|f| optimize_one(dir, &dir.join(f), opts, &repaired)).collect();
  results.sort_by(|a, b| b.saved_bytes.cmp(&a.saved_bytes).then_with(|| a.path.cmp(&b.path)));
  let original_bytes = results.iter().map(|r| r.original_bytes).sum();
  let optimized_bytes = results.iter().map(|r| r.optimized_bytes).sum();
  Ok(ImageReport {
    cache_hits: results.iter().filter(|r| r.cached).count(),
    cache_repaired: repaired.into_inner(),
    files: results,
    original_bytes,
    optimized_bytes,
    saved_bytes: original_bytes - optimized_bytes,
    duration_ms: start.elapsed().as_secs_f64() * 1000.0,
  })
}

/// Losslessly recompresses one PNG. Returns the smaller bytes, or `None` when the input cannot be
/// made smaller.
pub fn optimize_png(
  data: &[u8],
  level: u8,
  strip_metadata: bool,
) -> Result<Option<Vec<u8>>, String> {
  let mut o = oxipng::Options::from_preset(level.min(6));
  o.strip = if strip_metadata { oxipng::StripChunks::Safe } else { oxipng::StripChunks::None };
  // Never change the colour values of fully transparent pixels: the decoded RGBA stays identical.
  o.optimize_alpha = false;
  let out = oxipng::optimize_from_memory(data, &o).map_err(|e| e.to_string())?;
  Ok((out.len() < data.len()).then_some(out))
}

fn format_of(path: &Path) -> Option<String> {
  let ext = path.extension()?.to_str()?.to_ascii_lowercase();
  (ext == "png" || OTHER_IMAGES.contains(&ext.as_str())).then_some(ext)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
  for entry in std::fs::read_dir(dir)? {
    let entry = entry?;
    let ft = entry.file_type()?;
    let p = entry.path();
    if ft.is_dir() {
      collect(&p, out)?;
    } else if ft.is_file() && format_of(&p).is_some() {
      out.push(p);
    }
  }
  Ok(())
}

fn rel(dir: &Path, p: &Path) -> String {
  let r = p.strip_prefix(dir).unwrap_or(p);
  r.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

fn optimize_one(
  dir: &Path,
  path: &Path,
  opts: &ImageOptions,
  repaired: &std::sync::atomic::AtomicUsize,
) -> Option<ImageResult> {
  let format = format_of(path)?;
  let mut r = ImageResult {
    path: rel(dir, path),
    format: format.clone(),
    status: ImageStatus::Unsupported,
    original_bytes: 0,
    optimized_bytes: 0,
    saved_bytes: 0,
    cached: false,
    error: None,
  };
  let data = match std::fs::read(path) {
    Ok(d) => d,
    Err(e) => {
      r.status = ImageStatus::Failed;
      r.error = Some(format!("reading {}: {e}", path.display()));
      return Some(r);
    }
  };
  r.original_bytes = data.len() as u64;
  r.optimized_bytes = r.original_bytes;
  if format != "png" {
    return Some(r);
  }
  let key = cache_key(&data, opts);
  let lookup = cache_get(opts, &key);
  if lookup == CacheLookup::Damaged {
    repaired.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
  }
  let (smaller, cached) = match lookup {
    CacheLookup::Hit(hit) => (hit, true),
    CacheLookup::Miss | CacheLookup::Damaged => {
      match optimize_png(&data, opts.level, opts.strip_metadata) {
        Ok(out) => {
          cache_put(opts, &key, out.as_deref());
          (out, false)
        }
        Err(e) => {
          r.status = ImageStatus::Failed;
          r.error = Some(format!("{}: {e}", path.display()));
          return Some(r);
        }
      }
    }
  };
  r.cached = cached;
  match smaller {
    Some(bytes) if bytes.len() < data.len() => {
      if !opts.dry_run {
        if let Err(e) = write_atomic(path, &bytes) {
          r.status = ImageStatus::Failed;
          r.error = Some(format!("writing {}: {e}", path.display()));
          return Some(r);
        }
      }
      r.status = ImageStatus::Optimized;
      r.optimized_bytes = bytes.len() as u64;
      r.saved_bytes = r.original_bytes - r.optimized_bytes;
    }
    _ => r.status = ImageStatus::Unchanged,
  }
  Some(r)
}

fn cache_key(data: &[u8], opts: &ImageOptions) -> String {
  let mut h = Xxh3::new();
  h.update(OXIPNG_VERSION.as_bytes());
  h.update(&[opts.level, u8::from(opts.strip_metadata)]);
  h.update(data);
  format!("{:032x}", h.digest128())
}

/// Header of a cache entry: magic, kind, xxh3-128 of the payload.
const ENTRY_MAGIC: &[u8; 8] = b"FARMIMG1";
const ENTRY_HEADER: usize = 8 + 1 + 16;

/// A cache lookup's outcome.
#[derive(Debug, PartialEq, Eq)]
enum CacheLookup {
  /// `Some(bytes)`: the optimized bytes; `None`: the input is known not to shrink.
  Hit(Option<Vec<u8>>),
  /// No entry (or no cache).
  Miss,
  /// An entry that failed verification; it has been deleted.
  Damaged,
}

/// The bytes of a cache entry (see the module docs).
fn encode_entry(optimized: Option<&[u8]>) -> Vec<u8> {
  let payload = optimized.unwrap_or_default();
  let mut out = Vec::with_capacity(ENTRY_HEADER + payload.len());
  out.extend_from_slice(ENTRY_MAGIC);
  out.push(u8::from(optimized.is_some()));
  out.extend_from_slice(&xxhash_rust::xxh3::xxh3_128(payload).to_le_bytes());
  out.extend_from_slice(payload);
  out
}

/// Parses and verifies a cache entry; `None` when it is damaged.
fn decode_entry(bytes: &[u8]) -> Option<Option<Vec<u8>>> {
  if bytes.len() < ENTRY_HEADER || &bytes[..8] != ENTRY_MAGIC {
    return None;
  }
  let mut digest = [0u8; 16];
  digest.copy_from_slice(&bytes[9..ENTRY_HEADER]);
  let payload = &bytes[ENTRY_HEADER..];
  if xxhash_rust::xxh3::xxh3_128(payload) != u128::from_le_bytes(digest) {
    return None;
  }
  match bytes[8] {
    0 if payload.is_empty() => Some(None),
    1 if payload.starts_with(b"\x89PNG\r\n\x1a\n") => Some(Some(payload.to_vec())),
    _ => None,
  }
}

fn cache_get(opts: &ImageOptions, key: &str) -> CacheLookup {
  let Some(dir) = opts.cache_dir.as_ref() else { return CacheLookup::Miss };
  let path = dir.join(format!("{key}.img"));
  let Ok(bytes) = std::fs::read(&path) else { return CacheLookup::Miss };
  match decode_entry(&bytes) {
    Some(hit) => {
      // Last use, for the build cache's eviction (LRU).
      if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&path) {
        let _ = f.set_modified(std::time::SystemTime::now());
      }
      CacheLookup::Hit(hit)
    }
    None => {
      let _ = std::fs::remove_file(&path);
      CacheLookup::Damaged
    }
  }
}

fn cache_put(opts: &ImageOptions, key: &str, optimized: Option<&[u8]>) {
  let Some(dir) = &opts.cache_dir else { return };
  // Failing to cache only costs a later recomputation.
  let _ = write_atomic(&dir.join(format!("{key}.img")), &encode_entry(optimized));
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
  static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
  let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
  let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
  let tmp = path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()));
  std::fs::write(&tmp, bytes)?;
  std::fs::rename(&tmp, path).inspect_err(|_| {
    let _ = std::fs::remove_file(&tmp);
  })
}

#[cfg(test)]
mod tests {
  use super::*;

  fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("farm-img-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
  }

  /// An unoptimized PNG (fast compression, no filter) of a smooth gradient.
  fn encode(w: u32, h: u32, color: png::ColorType, depth: png::BitDepth, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
      let mut enc = png::Encoder::new(&mut out, w, h);
      enc.set_color(color);
      enc.set_depth(depth);
      enc.set_compression(png::Compression::Fastest);
      enc.set_filter(png::Filter::NoFilter);
      let mut wr = enc.write_header().unwrap();
      wr.write_image_data(pixels).unwrap();
    }
    out
  }

  /// Decodes to 16-bit RGBA, whatever the colour type and depth, so pixels can be compared.
  fn rgba(data: &[u8]) -> (u32, u32, Vec<u16>) {
    let mut dec = png::Decoder::new(std::io::Cursor::new(data));
    dec.set_transformations(png::Transformations::EXPAND);
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let buf = &buf[..info.buffer_size()];
    let samples: Vec<u16> = match info.bit_depth {
      png::BitDepth::Sixteen => buf.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect(),
      _ => buf.iter().map(|&b| u16::from(b) * 257).collect(),
    };
    let px: Vec<u16> = match info.color_type {
      png::ColorType::Grayscale => samples.iter().flat_map(|&g| [g, g, g, 65535]).collect(),
      png::ColorType::GrayscaleAlpha => {
        samples.chunks(2).flat_map(|c| [c[0], c[0], c[0], c[1]]).collect()
      }
      png::ColorType::Rgb => samples.chunks(3).flat_map(|c| [c[0], c[1], c[2], 65535]).collect(),
      png::ColorType::Rgba => samples,
      png::ColorType::Indexed => unreachable!("EXPAND turns palettes into RGB(A)"),
    };
    (info.width, info.height, px)
  }

  fn samples() -> Vec<(&'static str, Vec<u8>)> {
    let (w, h) = (96u32, 64u32);
    let mut rgba8 = Vec::new();
    let mut rgb16 = Vec::new();
    let mut few = Vec::new();
    let mut gray = Vec::new();
    for y in 0..h {
      for x in 0..w {
        // fully transparent pixels with varied colour: must survive as they are
        let a = if x < 8 { 0 } else { (x * 255 / w) as u8 };
        rgba8.extend_from_slice(&[(x * 2) as u8, (y * 3) as u8, ((x + y) % 256) as u8, a]);
        for v in [x * 600, y * 900, (x * y) % 65536] {
          rgb16.extend_from_slice(&(v as u16).to_be_bytes());
        }
        // four colours only: oxipng can turn it into a palette image
        let c = [[255, 0, 0], [0, 128, 0], [0, 0, 255], [250, 250, 250]]
          [((x / 12 + y / 16) % 4) as usize];
        few.extend_from_slice(&c);
        gray.push(((x + y) % 256) as u8);
      }
    }
    vec![
      ("rgba8.png", encode(w, h, png::ColorType::Rgba, png::BitDepth::Eight, &rgba8)),
      ("rgb16.png", encode(w, h, png::ColorType::Rgb, png::BitDepth::Sixteen, &rgb16)),
      ("few-colours.png", encode(w, h, png::ColorType::Rgb, png::BitDepth::Eight, &few)),
      ("gray.png", encode(w, h, png::ColorType::Grayscale, png::BitDepth::Eight, &gray)),
    ]
  }

  #[test]
  fn pngs_shrink_and_decode_to_identical_pixels() {
    let dir = temp("lossless");
    std::fs::create_dir_all(dir.join("nested")).unwrap();
    let originals = samples();
    for (name, bytes) in &originals {
      std::fs::write(dir.join("nested").join(name), bytes).unwrap();
    }
    let report = optimize_dir(&dir, &ImageOptions::default()).unwrap();
    assert_eq!(report.files.len(), originals.len());
    for (name, before) in &originals {
      let after = std::fs::read(dir.join("nested").join(name)).unwrap();
      assert!(after.len() <= before.len(), "{name} grew: {} > {}", after.len(), before.len());
      assert_eq!(rgba(&after), rgba(before), "{name}: decoded pixels differ");
      let r = report.files.iter().find(|r| r.path == format!("nested/{name}")).unwrap();
      assert_eq!(r.optimized_bytes, after.len() as u64);
      assert_eq!(r.original_bytes, before.len() as u64);
      assert_eq!(r.saved_bytes, r.original_bytes - r.optimized_bytes);
    }
    // unoptimized inputs: every one shrinks, and the total is the sum
    assert!(report.files.iter().all(|r| r.status == ImageStatus::Optimized), "{report:?}");
    let saved: u64 = report.files.iter().map(|r| r.saved_bytes).sum();
    assert_eq!(report.saved_bytes, saved);
    assert!(saved > 0);
  }

  #[test]
  fn a_file_that_would_grow_is_kept_byte_identical() {
    let dir = temp("keep");
    let (_, bytes) = &samples()[0];
    let best = optimize_png(bytes, 2, true).unwrap().unwrap();
    std::fs::write(dir.join("best.png"), &best).unwrap();
    let report = optimize_dir(&dir, &ImageOptions::default()).unwrap();
    assert_eq!(report.files[0].status, ImageStatus::Unchanged);
    assert_eq!(report.saved_bytes, 0);
    assert_eq!(std::fs::read(dir.join("best.png")).unwrap(), best);
  }

  #[test]
  fn results_are_cached_by_content_hash() {
    let dir = temp("cache-src");
    let cache = temp("cache");
    let (_, bytes) = &samples()[1];
    std::fs::write(dir.join("a.png"), bytes).unwrap();
    let opts = ImageOptions { cache_dir: Some(cache.clone()), ..Default::default() };
    let first = optimize_dir(&dir, &opts).unwrap();
    assert_eq!(first.cache_hits, 0);
    let optimized = std::fs::read(dir.join("a.png")).unwrap();
    // the same content under another name: served from the cache, same bytes
    std::fs::write(dir.join("a.png"), bytes).unwrap();
    std::fs::write(dir.join("b.png"), bytes).unwrap();
    let second = optimize_dir(&dir, &opts).unwrap();
    assert_eq!(second.cache_hits, 2);
    assert_eq!(std::fs::read(dir.join("b.png")).unwrap(), optimized);
    // the optimized file itself cannot shrink: recorded as a `.keep` entry, then a cache hit
    let third = optimize_dir(&dir, &opts).unwrap();
    assert!(third.files.iter().all(|r| r.status == ImageStatus::Unchanged));
    let fourth = optimize_dir(&dir, &opts).unwrap();
    assert_eq!(fourth.cache_hits, 2);
    // another level is another key
    let other = optimize_dir(&dir, &ImageOptions { level: 1, ..opts.clone() }).unwrap();
    assert_eq!(other.cache_hits, 0);
  }

  #[test]
  fn a_damaged_cache_entry_is_dropped_and_recomputed() {
    let dir = temp("repair-src");
    let cache = temp("repair-cache");
    let (_, bytes) = &samples()[3];
    std::fs::write(dir.join("g.png"), bytes).unwrap();
    let opts = ImageOptions { cache_dir: Some(cache.clone()), ..Default::default() };
    optimize_dir(&dir, &opts).unwrap();
    let good = std::fs::read(dir.join("g.png")).unwrap();
    let entries: Vec<PathBuf> =
      std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert!(entry.extension().is_some_and(|e| e == "img"));
    let intact = std::fs::read(entry).unwrap();
    // A flipped bit in the payload (still a PNG signature), a truncation, a garbled header.
    let mut flipped = intact.clone();
    let n = flipped.len();
    flipped[n - 20] ^= 1;
    for damaged in [flipped, intact[..intact.len() / 2].to_vec(), b"FARMIMG1\x01".to_vec()] {
      std::fs::write(dir.join("g.png"), bytes).unwrap();
      std::fs::write(entry, &damaged).unwrap();
      let r = optimize_dir(&dir, &opts).unwrap();
      assert_eq!((r.cache_repaired, r.cache_hits), (1, 0), "{r:?}");
      assert_eq!(
        std::fs::read(dir.join("g.png")).unwrap(),
        good,
        "recomputed, not the damaged bytes"
      );
      assert_eq!(std::fs::read(entry).unwrap(), intact, "the entry is rewritten");
    }
    // A `.keep` entry is verified too: an edited one is not trusted.
    let r = optimize_dir(&dir, &opts).unwrap();
    assert_eq!(r.files[0].status, ImageStatus::Unchanged);
    let keep: Vec<PathBuf> = std::fs::read_dir(&cache)
      .unwrap()
      .map(|e| e.unwrap().path())
      .filter(|p| p != entry)
      .collect();
    assert_eq!(keep.len(), 1);
    let mut k = std::fs::read(&keep[0]).unwrap();
    k[8] = 1; // claims optimized bytes, carries none
    std::fs::write(&keep[0], &k).unwrap();
    let r = optimize_dir(&dir, &opts).unwrap();
    assert_eq!((r.cache_repaired, r.files[0].status), (1, ImageStatus::Unchanged));
    assert_eq!(std::fs::read(dir.join("g.png")).unwrap(), good);
  }

  #[test]
  fn broken_and_unsupported_files_are_reported_and_left_alone() {
    let dir = temp("bad");
    std::fs::write(dir.join("broken.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    std::fs::write(dir.join("photo.JPG"), b"\xff\xd8\xff jpeg bytes").unwrap();
    std::fs::write(dir.join("app.js"), b"console.log(1)").unwrap();
    let r = optimize_dir(&dir, &ImageOptions { dry_run: false, ..Default::default() }).unwrap();
    assert_eq!(r.files.len(), 2);
    let broken = r.files.iter().find(|f| f.path == "broken.png").unwrap();
    assert_eq!(broken.status, ImageStatus::Failed);
    assert!(broken.error.as_deref().unwrap_or("").contains("broken.png"));
    let jpg = r.files.iter().find(|f| f.path == "photo.JPG").unwrap();
    assert_eq!(jpg.status, ImageStatus::Unsupported);
    assert_eq!(std::fs::read(dir.join("broken.png")).unwrap(), b"\x89PNG\r\n\x1a\nnot really");
    assert!(matches!(
      optimize_dir(&dir.join("missing"), &ImageOptions::default()),
      Err(ImageError::ReadDir { .. })
    ));
    assert!(matches!(
      optimize_dir(&dir, &ImageOptions { level: 9, ..Default::default() }),
      Err(ImageError::Level(9))
    ));
  }

  #[test]
  fn dry_run_reports_without_writing() {
    let dir = temp("dry");
    let (_, bytes) = &samples()[2];
    std::fs::write(dir.join("x.png"), bytes).unwrap();
    let r = optimize_dir(&dir, &ImageOptions { dry_run: true, ..Default::default() }).unwrap();
    assert!(r.saved_bytes > 0);
    assert_eq!(&std::fs::read(dir.join("x.png")).unwrap(), bytes);
  }
}
