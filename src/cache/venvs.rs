//! The production-venv store, `<cacheDir>/venvs/` (the backend builder builds the venvs; this
//! module owns their layout, verification and removal):
//!
//! ```text
//! <key>/                   a finished venv
//! <key>/.farm-venv.json    its marker: key, build path, dependency count and a TreeManifest of
//!                          every other path in <key>/ (written last, before the rename into place)
//! <key>.lock               per-key lock: held while the venv is verified, built or copied out,
//!                          so eviction never removes a venv in use
//! <key>.stat               stat cache of <key>/: verifying an unchanged venv reads no file
//! .tmp-<key>-<pid>/        a venv being built
//! ```
//!
//! A venv is verified against its manifest before every use; one that does not match (a file
//! edited, added or removed, a marker that does not parse) is reported as damaged, and the
//! builder deletes and rebuilds it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::super::hash::StatCache;
use super::error::{CacheError, TreeDamage};
use super::fsutil::{tree_size, KeyLock};
use super::tree::TreeManifest;

/// Name of the marker file in a finished venv.
pub const VENV_MARKER: &str = ".farm-venv.json";

/// Version of the marker format; a marker of another version is damage (the venv is rebuilt).
pub const VENV_MARKER_FORMAT: u32 = 2;

/// The marker of a finished venv.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VenvMarker {
  /// [`VENV_MARKER_FORMAT`].
  pub format: u32,
  /// The venv's key (its directory name).
  pub key: String,
  /// The directory it was built in (its scripts name it until they are relocated).
  pub built_at: String,
  /// Distributions installed from the requirements.
  pub dependency_count: usize,
  /// Every other path of the venv.
  pub files: TreeManifest,
}

/// The state of a cached venv, as found by [`VenvStore::check`].
#[derive(Debug)]
pub enum VenvCheck {
  /// No venv for this key.
  Absent,
  /// The venv matches its manifest.
  Valid(VenvMarker),
  /// The venv is there but cannot be trusted (the reason names the file).
  Damaged(VenvDamage),
}

/// Why a cached venv cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum VenvDamage {
  /// The marker is missing, unreadable, of another format or for another key.
  #[error("its marker {path} is {why}")]
  Marker {
    /// The marker file.
    path: PathBuf,
    /// What is wrong with it.
    why: String,
  },
  /// A path does not match the manifest.
  #[error(transparent)]
  Tree(#[from] TreeDamage),
}

/// A held per-key venv lock (see [`VenvStore::try_lock`]); released when dropped.
#[derive(Debug)]
pub struct VenvLock {
  key: String,
  _lock: KeyLock,
}

/// The venv store of one cache directory.
#[derive(Clone, Debug)]
pub struct VenvStore {
  dir: PathBuf,
}

/// One venv as eviction sees it.
#[derive(Debug)]
pub(crate) struct VenvUnit {
  /// Directory name (the key, or a `.tmp-…` build directory).
  pub name: String,
  /// Bytes on disk (from the manifest, else measured).
  pub bytes: u64,
  /// Last use: the marker's mtime (touched on every use), else the directory's.
  pub last_used: SystemTime,
}

fn is_key(name: &str) -> bool {
  name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

impl VenvStore {
  /// The store at `dir` (`<cacheDir>/venvs`); nothing is created until a venv is built.
  pub fn new(dir: impl Into<PathBuf>) -> VenvStore {
    VenvStore { dir: dir.into() }
  }

  /// The store's directory.
  pub fn dir(&self) -> &Path {
    &self.dir
  }

  /// Where the venv of `key` lives.
  pub fn path(&self, key: &str) -> PathBuf {
    self.dir.join(key)
  }

  /// A fresh directory name to build the venv of `key` in (inside the store, so the final rename
  /// stays on one filesystem).
  pub fn build_dir(&self, key: &str) -> PathBuf {
    self.dir.join(format!(".tmp-{key}-{}", std::process::id()))
  }

  fn lock_path(&self, key: &str) -> PathBuf {
    self.dir.join(format!("{key}.lock"))
  }

  fn stat_path(&self, key: &str) -> PathBuf {
    self.dir.join(format!("{key}.stat"))
  }

  /// Takes the per-key lock without waiting (`Ok(None)`: another build or an eviction holds it).
  /// Hold it while checking, building and copying the venv out.
  pub fn try_lock(&self, key: &str) -> Result<Option<VenvLock>, CacheError> {
    fs::create_dir_all(&self.dir).map_err(|e| CacheError::io("creating", &self.dir, e))?;
    let p = self.lock_path(key);
    let lock = KeyLock::try_acquire(&p).map_err(|e| CacheError::io("locking", &p, e))?;
    Ok(lock.map(|l| VenvLock { key: key.to_string(), _lock: l }))
  }

  /// Verifies the venv of the locked key against its manifest, through its stat cache (so an
  /// unchanged venv is checked with one `lstat` per path). A valid venv's marker is touched (its
  /// mtime is the venv's last use, for eviction).
  pub fn check(&self, lock: &VenvLock) -> VenvCheck {
    let dir = self.path(&lock.key);
    if fs::symlink_metadata(&dir).is_err() {
      return VenvCheck::Absent;
    }
    let marker_path = dir.join(VENV_MARKER);
    let marker = match read_marker(&marker_path) {
      Ok(m) if m.key == lock.key && m.format == VENV_MARKER_FORMAT => m,
      Ok(m) if m.format != VENV_MARKER_FORMAT => {
        let why = format!("of format {} (this farm writes {VENV_MARKER_FORMAT})", m.format);
        return VenvCheck::Damaged(VenvDamage::Marker { path: marker_path, why });
      }
      Ok(m) => {
        let why = format!("for another key ({})", m.key);
        return VenvCheck::Damaged(VenvDamage::Marker { path: marker_path, why });
      }
      Err(why) => return VenvCheck::Damaged(VenvDamage::Marker { path: marker_path, why }),
    };
    let stat = StatCache::load(self.stat_path(&lock.key));
    match marker.files.verify(&dir, &[VENV_MARKER], Some(&stat)) {
      Ok(read) => {
        if !read.is_empty() {
          stat.record_files(&read);
          let _ = stat.save();
        }
        if let Ok(f) = fs::OpenOptions::new().write(true).open(&marker_path) {
          let _ = f.set_modified(SystemTime::now());
        }
        VenvCheck::Valid(marker)
      }
      Err(d) => VenvCheck::Damaged(d.into()),
    }
  }

  /// Deletes the venv of the locked key (and its stat cache).
  pub fn remove(&self, lock: &VenvLock) -> Result<(), CacheError> {
    let dir = self.path(&lock.key);
    let _ = fs::remove_file(self.stat_path(&lock.key));
    match fs::remove_dir_all(&dir) {
      Ok(()) => Ok(()),
      Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
      Err(e) => Err(CacheError::io("removing", &dir, e)),
    }
  }

  /// Seals a venv built in `built` (see [`VenvStore::build_dir`]): writes its marker with a
  /// manifest of every path, renames it into place and records its files in its stat cache, so
  /// the next check reads nothing. The lock must be held for the marker's key.
  pub fn install(
    &self,
    lock: &VenvLock,
    built: &Path,
    built_at: &str,
    dependency_count: usize,
  ) -> Result<VenvMarker, CacheError> {
    let (files, digests) = TreeManifest::scan(built, &[VENV_MARKER])?;
    let marker = VenvMarker {
      format: VENV_MARKER_FORMAT,
      key: lock.key.clone(),
      built_at: built_at.to_string(),
      dependency_count,
      files,
    };
    let marker_path = built.join(VENV_MARKER);
    let bytes = serde_json::to_vec(&marker)
      .map_err(|e| CacheError::Json { path: marker_path.clone(), source: e })?;
    fs::write(&marker_path, bytes).map_err(|e| CacheError::io("writing", &marker_path, e))?;
    let dest = self.path(&lock.key);
    fs::rename(built, &dest).map_err(|e| CacheError::io("moving the venv into", &dest, e))?;
    let stat = StatCache::empty(self.stat_path(&lock.key));
    let moved: Vec<_> = digests
      .into_iter()
      .filter_map(|(p, d)| Some((dest.join(p.strip_prefix(built).ok()?), d)))
      .collect();
    stat.record_files(&moved);
    let _ = stat.save();
    Ok(marker)
  }

  /// Deletes venvs other than `keep` last used more than `max_age` ago, except those a build
  /// holds. Returns how many were removed.
  pub fn prune(&self, keep: &str, max_age: std::time::Duration) -> usize {
    let now = SystemTime::now();
    self
      .units()
      .into_iter()
      .filter(|u| u.name != keep && now.duration_since(u.last_used).unwrap_or_default() > max_age)
      .filter(|u| self.remove_unit(&u.name))
      .count()
  }

  /// Every venv and leftover build directory, for eviction and `farm cache status`.
  pub(crate) fn units(&self) -> Vec<VenvUnit> {
    let Ok(rd) = fs::read_dir(&self.dir) else { return Vec::new() };
    let mut out = Vec::new();
    for e in rd.flatten() {
      let name = e.file_name().to_string_lossy().into_owned();
      if !e.file_type().is_ok_and(|t| t.is_dir()) {
        continue;
      }
      let marker = e.path().join(VENV_MARKER);
      let (bytes, used) = match read_marker(&marker) {
        Ok(m) => (m.files.total_size(), fs::metadata(&marker).and_then(|m| m.modified())),
        Err(_) => (tree_size(&e.path()), e.metadata().and_then(|m| m.modified())),
      };
      out.push(VenvUnit { name, bytes, last_used: used.unwrap_or(UNIX_EPOCH) });
    }
    out
  }

  /// Removes the venv (or build directory) `name` unless a build holds its key's lock; returns
  /// whether it was removed. Stale lock and stat files of removed venvs go with them.
  pub(crate) fn remove_unit(&self, name: &str) -> bool {
    let key = if is_key(name) {
      name
    } else if let Some(k) = name.strip_prefix(".tmp-").and_then(|r| r.get(..32)) {
      k
    } else {
      // Not a venv this store made: removed only by a full clean.
      return fs::remove_dir_all(self.dir.join(name)).is_ok();
    };
    let Ok(Some(lock)) = self.try_lock(key) else { return false };
    let removed = fs::remove_dir_all(self.dir.join(name)).is_ok();
    if removed && name == key {
      // Deleting a held lock file is safe: a waiter that opened it sees it replaced (KeyLock).
      let _ = fs::remove_file(self.stat_path(key));
      let _ = fs::remove_file(self.lock_path(key));
    }
    drop(lock);
    removed
  }

  /// Removes lock and stat files whose venv is gone and that nobody holds, and any other stray
  /// file (after a full clean).
  pub(crate) fn remove_stale_files(&self) {
    let Ok(rd) = fs::read_dir(&self.dir) else { return };
    for e in rd.flatten() {
      let name = e.file_name().to_string_lossy().into_owned();
      if e.file_type().is_ok_and(|t| t.is_dir()) {
        continue;
      }
      let key = name.strip_suffix(".lock").or_else(|| name.strip_suffix(".stat"));
      match key {
        Some(k) if is_key(k) => {
          if self.path(k).exists() {
            continue;
          }
          if let Ok(Some(_held)) = self.try_lock(k) {
            let _ = fs::remove_file(self.stat_path(k));
            let _ = fs::remove_file(self.lock_path(k));
          }
        }
        _ => {
          let _ = fs::remove_file(e.path());
        }
      }
    }
  }
}

fn read_marker(path: &Path) -> Result<VenvMarker, String> {
  let bytes = fs::read(path).map_err(|e| match e.kind() {
    io::ErrorKind::NotFound => "missing".to_string(),
    _ => format!("unreadable ({e})"),
  })?;
  serde_json::from_slice(&bytes).map_err(|e| format!("not a valid marker ({e})"))
}
