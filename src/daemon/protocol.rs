//! The wire format shared by the daemon and its client.

use super::error::DaemonError;
use crate::hash::{Digest, FileStat, HashStats, InputFile, InputSet, InputSpec, Observed};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};

/// Bump when a request or an answer changes meaning.
pub const PROTOCOL_VERSION: u32 = 2;

/// Longest socket path used under the cache dir (`sun_path` holds 104–108 bytes).
const MAX_SOCKET_PATH: usize = 100;

/// The socket of the daemon of the project at `root` with its cache in `cache_dir`:
/// `<cache_dir>/daemon/farm.sock`, or `<tmp>/farm-<hash of root>.sock` when that path is too long.
pub fn socket_path(root: &Path, cache_dir: &Path) -> PathBuf {
  let p = cache_dir.join("daemon").join("farm.sock");
  if p.as_os_str().len() <= MAX_SOCKET_PATH {
    return p;
  }
  let h = Digest::of_bytes(root.as_os_str().as_encoded_bytes()).to_hex();
  std::env::temp_dir().join(format!("farm-{}.sock", &h[..16]))
}

/// Identifies this build of the code: the crate version and a digest of the sources it was built
/// from (`build.rs`), so a rebuilt addon never talks to a daemon running other code, while the
/// addon and the native `farm` executable built from the same sources share a daemon.
pub fn binary_identity() -> String {
  format!("{}:src-{}", env!("CARGO_PKG_VERSION"), env!("FARM_SOURCE_DIGEST"))
}

/// An input spec as sent over the socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireSpec {
  /// [`InputSpec::root`].
  pub root: PathBuf,
  /// [`InputSpec::globs`].
  pub globs: Vec<String>,
  /// [`InputSpec::ignore_dirs`].
  pub ignore_dirs: Vec<PathBuf>,
  /// [`InputSpec::use_gitignore`].
  pub use_gitignore: bool,
}

impl From<&InputSpec> for WireSpec {
  fn from(s: &InputSpec) -> Self {
    WireSpec {
      root: s.root.clone(),
      globs: s.globs.clone(),
      ignore_dirs: s.ignore_dirs.clone(),
      use_gitignore: s.use_gitignore,
    }
  }
}

impl WireSpec {
  /// The spec to walk.
  pub fn to_spec(&self) -> InputSpec {
    InputSpec {
      root: self.root.clone(),
      globs: self.globs.clone(),
      ignore_dirs: self.ignore_dirs.clone(),
      use_gitignore: self.use_gitignore,
    }
  }
}

/// A request from the client.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum Request {
  /// Opens a build session: refused unless both sides run the same protocol and binary.
  Hello {
    /// [`PROTOCOL_VERSION`] of the client.
    protocol: u32,
    /// [`binary_identity`] of the client.
    identity: String,
  },
  /// The inputs of one spec (after `hello`).
  Inputs {
    /// What to walk.
    spec: WireSpec,
  },
  /// The daemon's [`DaemonStatus`].
  Status,
  /// Asks the daemon to exit.
  Stop,
}

/// The first line of every answer.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reply {
  /// Whether the request succeeded.
  pub ok: bool,
  /// Why not.
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub error: Option<String>,
  /// For `inputs`: `memo` (from memory), `walk` (walked now), `outside` (not under the
  /// watched root: the client walks itself); a binary file list follows for `memo`/`walk`.
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub served: Option<String>,
  /// For `inputs`: bytes of the file list that follows.
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub len: Option<u64>,
  /// For `status`.
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub status: Option<DaemonStatus>,
}

/// What `farm daemon status` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonStatus {
  /// The daemon's process id.
  pub pid: u32,
  /// Milliseconds since it started.
  pub uptime_ms: u64,
  /// The project root it watches.
  pub root: String,
  /// The socket it listens on.
  pub socket: String,
  /// Build sessions (`hello`s) served.
  pub builds: u64,
  /// Input specs answered from memory.
  pub memo_hits: u64,
  /// Input specs walked.
  pub walks: u64,
  /// `watching` or `failed: <why>` (then nothing is served from memory).
  pub watcher: String,
  /// Its [`PROTOCOL_VERSION`].
  pub protocol: u32,
  /// Its [`binary_identity`].
  pub identity: String,
  /// Milliseconds without a request after which it exits.
  pub idle_timeout_ms: u64,
}

/// Writes one JSON line.
pub fn write_line<T: Serialize>(w: &mut (impl Write + ?Sized), v: &T) -> std::io::Result<()> {
  let mut s = serde_json::to_vec(v).map_err(std::io::Error::other)?;
  s.push(b'\n');
  w.write_all(&s)
}

/// Reads one JSON line; `Ok(None)` at end of stream.
pub fn read_line<T: for<'de> Deserialize<'de>>(
  r: &mut impl BufRead,
) -> Result<Option<T>, DaemonError> {
  let mut line = String::new();
  let n =
    r.read_line(&mut line).map_err(|e| DaemonError::io("reading from", "daemon socket", e))?;
  if n == 0 {
    return Ok(None);
  }
  serde_json::from_str(&line)
    .map(Some)
    .map_err(|e| DaemonError::Protocol(format!("{e}: {line:.200}")))
}

/// The binary form of an input set: `files stat_hits files_read bytes_read` (u64 LE), then per
/// file `u32 LE path length, path, 16-byte LE digest`, then the walk's stats
/// ([`InputSet::observed`]): a u64 LE count, and per file its directory key, name key, size,
/// mtime, ctime and inode (u64/i64 LE).
pub fn encode_set(set: &InputSet) -> Vec<u8> {
  let recs = set.observed.records();
  let mut out = Vec::with_capacity(40 + set.files.len() * 64 + recs.len() * 48);
  for n in [set.stats.files, set.stats.stat_cache_hits, set.stats.files_read, set.stats.bytes_read]
  {
    out.extend_from_slice(&n.to_le_bytes());
  }
  for f in &set.files {
    out.extend_from_slice(&(f.path.len() as u32).to_le_bytes());
    out.extend_from_slice(f.path.as_bytes());
    out.extend_from_slice(&f.hash.0.to_le_bytes());
  }
  out.extend_from_slice(&(recs.len() as u64).to_le_bytes());
  for ((dir, name), st) in recs {
    for v in [*dir, *name, st.size, st.mtime_ns as u64, st.ctime_ns as u64, st.inode] {
      out.extend_from_slice(&v.to_le_bytes());
    }
  }
  out
}

/// Reads an input set written by [`encode_set`].
pub fn decode_set(b: &[u8]) -> Result<InputSet, DaemonError> {
  let bad = || DaemonError::Protocol("truncated input list".into());
  let mut i = 0usize;
  let mut take = |n: usize| -> Result<&[u8], DaemonError> {
    let s = b.get(i..i + n).ok_or_else(bad)?;
    i += n;
    Ok(s)
  };
  let mut u64s = [0u64; 4];
  for v in &mut u64s {
    *v = u64::from_le_bytes(take(8)?.try_into().map_err(|_| bad())?);
  }
  let stats = HashStats {
    files: u64s[0],
    stat_cache_hits: u64s[1],
    files_read: u64s[2],
    bytes_read: u64s[3],
  };
  let mut files = Vec::with_capacity(stats.files as usize);
  for _ in 0..stats.files {
    let len = u32::from_le_bytes(take(4)?.try_into().map_err(|_| bad())?) as usize;
    let path = std::str::from_utf8(take(len)?)
      .map_err(|_| DaemonError::Protocol("non-UTF-8 path in input list".into()))?
      .to_string();
    let hash = Digest(u128::from_le_bytes(take(16)?.try_into().map_err(|_| bad())?));
    files.push(InputFile { path, hash });
  }
  let mut u64_at = || -> Result<u64, DaemonError> {
    Ok(u64::from_le_bytes(take(8)?.try_into().map_err(|_| bad())?))
  };
  let n = u64_at()?;
  let mut recs = Vec::with_capacity(n.min(1 << 24) as usize);
  for _ in 0..n {
    let mut v = [0u64; 6];
    for x in &mut v {
      *x = u64_at()?;
    }
    let stat = FileStat { size: v[2], mtime_ns: v[3] as i64, ctime_ns: v[4] as i64, inode: v[5] };
    recs.push(((v[0], v[1]), stat));
  }
  if i != b.len() {
    return Err(DaemonError::Protocol("trailing bytes after input list".into()));
  }
  Ok(InputSet { files, stats, observed: Observed::from_records(recs) })
}

/// Reads exactly `len` bytes.
pub fn read_exact(r: &mut impl Read, len: u64) -> Result<Vec<u8>, DaemonError> {
  let mut buf = vec![0u8; len as usize];
  r.read_exact(&mut buf).map_err(|e| DaemonError::io("reading from", "daemon socket", e))?;
  Ok(buf)
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn input_sets_round_trip_and_truncation_is_an_error() {
    let set = InputSet {
      files: vec![
        InputFile { path: "a.ts".into(), hash: Digest(1) },
        InputFile { path: "dir/é.py".into(), hash: Digest(u128::MAX - 7) },
      ],
      stats: HashStats { files: 2, files_read: 1, bytes_read: 10, stat_cache_hits: 1 },
      observed: Observed::default().with(
        "/p/dir",
        "é.py",
        FileStat { size: 10, mtime_ns: -5, ctime_ns: 1 << 62, inode: 7 },
      ),
    };
    let b = encode_set(&set);
    let back = decode_set(&b).unwrap();
    assert_eq!(back.files, set.files);
    assert_eq!(back.stats, set.stats);
    assert_eq!(back.observed.records(), set.observed.records());
    assert_eq!(back.observed.get("/p/dir", "é.py").map(|s| s.mtime_ns), Some(-5));
    assert!(decode_set(&b[..b.len() - 1]).is_err());
  }

  #[test]
  fn long_cache_dirs_put_the_socket_in_the_temp_dir() {
    let short = socket_path(Path::new("/p"), Path::new("/p/.farm/cache"));
    assert_eq!(short, Path::new("/p/.farm/cache/daemon/farm.sock"));
    let deep = format!("/{}", "d".repeat(120));
    let long = socket_path(Path::new(&deep), &Path::new(&deep).join(".farm/cache"));
    assert!(long.starts_with(std::env::temp_dir()), "{}", long.display());
    assert_ne!(long, socket_path(Path::new("/other"), &Path::new(&deep).join(".farm/cache")));
  }
}
