//! What a build reports: artifacts with sizes and content hashes, metrics, and `build-manifest.json`.
//!
//! Artifact hashes are SHA-256 so anyone can check them with standard tools:
//! a file's hash is `sha256:<hex of its bytes>`; a directory's is `sha256:<hex>` of its listing, one
//! line `<relative path>\t<size>\t<sha256 hex of the file>\n` per regular file, sorted by path
//! (paths with `/`). Symlinks inside a directory are listed as `<path>\t->\t<target>\n`.

pub mod git;
pub mod profile;

pub use git::{git_info, GitInfo};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// A file or directory a build produced.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
  /// The seed's artifact type: `frontend-bundle`, `backend-source`, ...
  #[serde(rename = "type")]
  pub kind: String,
  /// A short name (`web`, `api`, ...).
  pub name: String,
  /// Path relative to the project root, with `/`.
  pub path: String,
  /// Bytes (for a directory: the sum of its files).
  pub size: u64,
  /// `sha256:<hex>`, see the module docs.
  pub hash: String,
  /// Type-specific facts.
  pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// Describes `path` (a file or directory under `root`) as an artifact, hashing its content.
pub fn describe(root: &Path, path: &Path, kind: &str, name: &str) -> std::io::Result<Artifact> {
  let meta = std::fs::metadata(path)?;
  let (size, hash, files) = if meta.is_dir() {
    let (size, hash, n) = hash_dir(path)?;
    (size, hash, Some(n))
  } else {
    (meta.len(), sha256_file(path)?, None)
  };
  let mut metadata = serde_json::Map::new();
  if let Some(n) = files {
    metadata.insert("files".into(), n.into());
  }
  Ok(Artifact {
    kind: kind.into(),
    name: name.into(),
    path: rel_path(root, path),
    size,
    hash: format!("sha256:{hash}"),
    metadata,
  })
}

/// `path` relative to `root` with `/` separators (the path itself if it is not under `root`).
pub fn rel_path(root: &Path, path: &Path) -> String {
  let rel = path.strip_prefix(root).unwrap_or(path);
  rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// SHA-256 of a file's bytes, as hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
  let mut f = std::fs::File::open(path)?;
  let mut h = Sha256::new();
  let mut buf = vec![0u8; 256 * 1024];
  loop {
    let n = f.read(&mut buf)?;
    if n == 0 {
      break;
    }
    h.update(&buf[..n]);
  }
  Ok(hex(&h.finalize()))
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
  use std::fmt::Write;
  bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
    let _ = write!(s, "{b:02x}");
    s
  })
}

enum Entry {
  File(String, PathBuf),
  Link(String, String),
}

impl Entry {
  fn rel(&self) -> &str {
    match self {
      Entry::File(r, _) | Entry::Link(r, _) => r,
    }
  }
}

/// (total size, listing hash, file count) of a directory; files are hashed in parallel.
fn hash_dir(dir: &Path) -> std::io::Result<(u64, String, usize)> {
  let mut entries = Vec::new();
  collect(dir, dir, &mut entries)?;
  // Sort by the path string (byte order), not per directory: `a.txt` comes before `a/x.txt`.
  entries.sort_by(|a, b| a.rel().cmp(b.rel()));
  let lines: Vec<(String, u64)> = entries
    .par_iter()
    .map(|e| match e {
      Entry::File(rel, abs) => {
        let size = std::fs::metadata(abs)?.len();
        Ok((format!("{rel}\t{size}\t{}\n", sha256_file(abs)?), size))
      }
      Entry::Link(rel, target) => Ok((format!("{rel}\t->\t{target}\n"), 0)),
    })
    .collect::<std::io::Result<_>>()?;
  let mut h = Sha256::new();
  let mut total = 0;
  let mut files = 0;
  for (line, size) in &lines {
    h.update(line.as_bytes());
    total += size;
    files += usize::from(!line.contains("\t->\t"));
  }
  Ok((total, hex(&h.finalize()), files))
}

fn collect(base: &Path, dir: &Path, out: &mut Vec<Entry>) -> std::io::Result<()> {
  for e in std::fs::read_dir(dir)? {
    let e = e?;
    let p = e.path();
    let ft = e.file_type()?;
    if ft.is_dir() {
      collect(base, &p, out)?;
    } else if ft.is_symlink() {
      let target = std::fs::read_link(&p)?.to_string_lossy().into_owned();
      out.push(Entry::Link(rel_path(base, &p), target));
    } else if ft.is_file() {
      out.push(Entry::File(rel_path(base, &p), p));
    }
  }
  Ok(())
}

/// Peak resident memory so far: (this process, its largest finished child), in bytes; `(0, 0)`
/// where `getrusage` does not exist (not Unix).
#[cfg(not(unix))]
pub fn peak_memory() -> (u64, u64) {
  (0, 0)
}

/// Peak resident memory so far: (this process, its largest finished child), in bytes.
#[cfg(unix)]
pub fn peak_memory() -> (u64, u64) {
  fn maxrss(who: libc::c_int) -> u64 {
    // SAFETY: getrusage writes into the zeroed struct we own.
    unsafe {
      let mut ru: libc::rusage = std::mem::zeroed();
      if libc::getrusage(who, &mut ru) == 0 {
        (ru.ru_maxrss.max(0) as u64) * 1024
      } else {
        0
      }
    }
  }
  (maxrss(libc::RUSAGE_SELF), maxrss(libc::RUSAGE_CHILDREN))
}

/// Build metrics.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
  /// Wall time of the whole build, ms.
  pub total_ms: f64,
  /// Wall time per build phase (`pre-build`, `build`, `post-build`) and per stage of tasks
  /// (`parallel-builds`, `frontend-build`, ...: first start to last end), ms.
  pub phases: std::collections::BTreeMap<String, f64>,
  /// Run time per task, ms.
  pub tasks: std::collections::BTreeMap<String, f64>,
  /// Peak RSS of the build process (Node + addon), bytes.
  pub peak_rss_bytes: u64,
  /// Peak RSS of the largest child process (Python, tsc, Vite worker), bytes.
  pub peak_child_rss_bytes: u64,
}

/// The whole `build-manifest.json`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
  /// Manifest format version.
  pub schema_version: u32,
  /// The build's id.
  pub build_id: String,
  /// When the build started (RFC 3339, UTC).
  pub started_at: String,
  /// Whether every task succeeded.
  pub success: bool,
  /// The app's name and version.
  pub app_name: String,
  /// The app's version.
  pub version: String,
  /// The environment built for.
  pub environment: String,
  /// Every artifact of the succeeded tasks.
  pub artifacts: Vec<Artifact>,
  /// Each task's status and duration.
  pub tasks: Vec<serde_json::Value>,
  /// Tool name → version (node, python, vite, typescript, the addon).
  pub tool_versions: std::collections::BTreeMap<String, String>,
  /// The git commit of the project, when it is a git checkout.
  pub git: Option<GitInfo>,
  /// Timings and memory.
  pub metrics: Metrics,
}

/// Writes `bytes` to `path` atomically (temp file in the same directory, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
  let dir = path.parent().unwrap_or(Path::new("."));
  std::fs::create_dir_all(dir)?;
  let tmp = dir.join(format!(
    ".{}.tmp-{}",
    path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
    std::process::id()
  ));
  std::fs::write(&tmp, bytes)?;
  std::fs::rename(&tmp, path).inspect_err(|_| {
    let _ = std::fs::remove_file(&tmp);
  })
}

/// A time-sortable unique build id: `b-<UTC yyyymmddThhmmss.mmmZ>-<8 hex>`; ids sort by start time.
pub fn new_build_id(now: std::time::SystemTime) -> String {
  let d = now.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
  let random = {
    let mut h = Sha256::new();
    h.update(d.as_nanos().to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_le_bytes());
    let mut seed = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
      let _ = f.read_exact(&mut seed);
    }
    h.update(seed);
    hex(&h.finalize()[..4])
  };
  format!("b-{}-{random}", rfc3339(now).replace(['-', ':'], ""))
}

static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// RFC 3339 UTC time with milliseconds, e.g. `2026-11-25T18:55:58.123Z`.
pub fn rfc3339(t: std::time::SystemTime) -> String {
  let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
  let secs = d.as_secs() as i64;
  let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
  // Civil-from-days (Howard Hinnant's algorithm).
  let z = days + 719_468;
  let era = z.div_euclid(146_097);
  let doe = z - era * 146_097;
  let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
  let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  let mp = (5 * doy + 2) / 153;
  let day = doy - (153 * mp + 2) / 5 + 1;
  let month = if mp < 10 { mp + 3 } else { mp - 9 };
  let year = yoe + era * 400 + i64::from(month <= 2);
  format!(
    "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
    rem / 3600,
    (rem % 3600) / 60,
    rem % 60,
    d.subsec_millis()
  )
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn dates_and_ids_sort_by_time() {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_764_097_000_123);
    assert_eq!(rfc3339(t), "2025-11-25T18:56:40.123Z");
    let a = new_build_id(t);
    let b = new_build_id(t + std::time::Duration::from_millis(1));
    assert!(a < b, "{a} !< {b}");
    assert_ne!(new_build_id(t), new_build_id(t), "same instant still gives unique ids");
  }

  #[test]
  fn directory_hash_follows_the_documented_listing() {
    let d = std::env::temp_dir().join(format!("farm-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("a")).unwrap();
    std::fs::write(d.join("a/x.txt"), b"hello").unwrap();
    std::fs::write(d.join("a.txt"), b"").unwrap();
    let art = describe(&d, &d, "t", "n").unwrap();
    let line = |p: &str, c: &[u8]| format!("{p}\t{}\t{}\n", c.len(), hex(&Sha256::digest(c)));
    let listing = line("a.txt", b"") + &line("a/x.txt", b"hello");
    assert_eq!(art.hash, format!("sha256:{}", hex(&Sha256::digest(listing.as_bytes()))));
    assert_eq!(art.size, 5);
    std::fs::remove_dir_all(&d).unwrap();
  }
}
