//! The local cache store: content-addressed blobs plus one JSON entry per task key.
//!
//! Layout of the cache directory:
//! ```text
//! LOCK                    advisory lock (shared: lookup/save/restore, exclusive: evict/clean)
//! CACHEDIR.TAG            marks the directory as a cache for backup tools
//! blobs/ab/<32 hex>       file contents, named by xxh3-128
//! entries/<key>.json      one per key, written last; its mtime is the entry's last use (LRU)
//! tasks/<id>.json         {task, key}: the last key built or restored for a task (for `why`)
//! stats                   append-only 16-byte event records (hits, misses, ...)
//! tmp/                    temp files, renamed into place (same filesystem)
//! stat-cache.bin          stat cache of inputs, outputs and verified blobs
//! venvs/                  production venvs, verified on use (see `venvs.rs`)
//! images/                 optimized PNGs, verified on use (see `crate::assets::images`)
//! ```
//!
//! Eviction and `farm cache clean` treat entries (with their blobs), venvs and image results
//! alike: one size cap, one TTL, least recently used first.
//!
//! Blobs are xxh3-128 rather than SHA-256: this store is local to one machine and one user,
//! so collisions need only be accidental-proof (2^-64 birthday bound at 2^32 blobs); xxh3 runs
//! at memory bandwidth, which matters because every blob a restore uses is verified (re-hashed
//! unless the stat cache vouches for it) and each input digest is reused. The remote cache
//! (`remote/`) does not trust xxh3 against an adversary: with a signature key, a whole artifact is
//! checked with HMAC-SHA256 before any of it is used; without one, the remote is trusted as a whole.
//!
//! No fsync: after a crash a blob or entry is either absent or complete (rename is atomic with
//! respect to SIGKILL), and after a power loss a torn blob fails verification on restore and a
//! torn entry fails to parse, both of which are misses.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::super::hash::{hash_file, Digest, KeyManifest};
use super::entry::{BlobRef, Entry, OutputKind, OutputRecord, ENTRY_FORMAT};
use super::error::CacheError;
use super::fsutil::{copy_hashed, mode_of, unique_tmp_name, unix_ms, write_atomic, StoreLock};

/// How fresh an entry's last-use time (its mtime) may be and still not be refreshed by a hit:
/// eviction works in days (TTL) and sizes, so an hour of imprecision costs nothing, and a no-op
/// build then writes nothing into the store but its statistics.
pub const LRU_GRANULARITY: Duration = Duration::from_secs(3600);

/// A warning sink supplied by the caller (the CLI prints, the napi layer forwards to JS).
pub type WarnFn = Arc<dyn Fn(&str) + Send + Sync>;

/// How restored files are materialized. Every mode falls back to a copy when it cannot apply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RestoreMode {
  /// Reflink (copy-on-write clone) where the filesystem supports it, else copy.
  #[default]
  Auto,
  /// Same as `Auto`; named for configs that want to state the preference.
  Reflink,
  /// Hard link to the blob when its mode equals the recorded mode, else copy. Fastest, but a
  /// tool that edits an output in place also edits the blob; the next restore detects that
  /// and drops the entry.
  Hardlink,
  /// Always copy.
  Copy,
}

/// Store configuration.
#[derive(Clone)]
pub struct StoreOptions {
  /// Entries not used for this long are evicted (default 7 days).
  pub ttl: Duration,
  /// Size cap in bytes (default 5 GiB); eviction trims to 80 % of it, least recently used first.
  pub max_size: u64,
  /// How restores materialize files.
  pub restore_mode: RestoreMode,
  /// Where non-fatal problems are reported.
  pub warn: Option<WarnFn>,
}

impl Default for StoreOptions {
  fn default() -> Self {
    StoreOptions {
      ttl: DEFAULT_TTL,
      max_size: DEFAULT_MAX_SIZE,
      restore_mode: RestoreMode::Auto,
      warn: None,
    }
  }
}

impl std::fmt::Debug for StoreOptions {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    f.debug_struct("StoreOptions")
      .field("ttl", &self.ttl)
      .field("max_size", &self.max_size)
      .field("restore_mode", &self.restore_mode)
      .field("warn", &self.warn.is_some())
      .finish()
  }
}

/// Default entry lifetime: 7 days since last use.
pub const DEFAULT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Default size cap: 5 GiB.
pub const DEFAULT_MAX_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// What `save` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SaveReport {
  /// The key saved.
  pub key: String,
  /// Output files recorded.
  pub files: u64,
  /// Their total size.
  pub bytes: u64,
  /// Blobs that were not in the store yet.
  pub new_blobs: u64,
  /// Bytes written for those.
  pub new_bytes: u64,
}

/// How restored files were materialized.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RestoreReport {
  /// Files written by reflink.
  pub reflinked: u64,
  /// Files written as hard links.
  pub hardlinked: u64,
  /// Files copied.
  pub copied: u64,
  /// Files left alone because they already had the right contents and mode.
  pub skipped_identical: u64,
  /// Of those, files known identical from the stat cache without being read.
  pub skipped_by_stat: u64,
  /// Paths removed because the entry does not list them (or lists them as another kind).
  pub removed: u64,
  /// Blobs known intact from the stat cache without being read (those of files left alone, and
  /// the manifest's).
  pub blobs_by_stat: u64,
  /// Bytes of all restored files (including skipped ones).
  pub bytes: u64,
  /// The task's result as saved.
  pub result: Value,
  /// The task's log lines, to replay.
  pub logs: Vec<String>,
}

/// A handle on a cache directory. Cheap; open one per process (or per build).
#[derive(Debug)]
pub struct Store {
  pub(crate) dir: PathBuf,
  pub(crate) opts: StoreOptions,
  /// Test-only fault injection: the restore step with this number fails (`usize::MAX`: none).
  #[cfg(test)]
  pub(crate) fault_at: std::sync::atomic::AtomicUsize,
}

/// Validates a key: exactly 32 lowercase hex characters.
pub(crate) fn check_key(key: &str) -> Result<(), CacheError> {
  if key.len() == 32 && key.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
    Ok(())
  } else {
    Err(CacheError::InvalidKey(key.to_string()))
  }
}

/// Event kinds in the stats file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
  Hit = 1,
  Miss = 2,
  RestoreFailed = 3,
  Saved = 4,
}

impl Store {
  /// Opens (creating if needed) the cache at `dir`.
  pub fn open(dir: impl Into<PathBuf>, opts: StoreOptions) -> Result<Store, CacheError> {
    let dir = dir.into();
    for sub in ["", "blobs", "entries", "tasks", "tmp"] {
      let d = dir.join(sub);
      fs::create_dir_all(&d).map_err(|e| CacheError::io("creating directory", &d, e))?;
    }
    let tag = dir.join("CACHEDIR.TAG");
    if !tag.exists() {
      let body = b"Signature: 8a477f597d28d172789f06886806bc55\n# This is the @farm/build-native build cache.\n";
      let _ = write_atomic(&dir.join("tmp"), &tag, body);
    }
    Ok(Store {
      dir,
      opts,
      #[cfg(test)]
      fault_at: std::sync::atomic::AtomicUsize::new(usize::MAX),
    })
  }

  /// The fault injection point of restores: fails step `step` when a test asked for it.
  #[cfg(test)]
  pub(crate) fn fault(&self, step: usize, path: &Path) -> io::Result<()> {
    if self.fault_at.load(std::sync::atomic::Ordering::SeqCst) == step {
      return Err(io::Error::other(format!("injected fault at step {step} ({})", path.display())));
    }
    Ok(())
  }

  /// The fault injection point of restores (never fails outside tests).
  #[cfg(not(test))]
  #[inline]
  pub(crate) fn fault(&self, _step: usize, _path: &Path) -> io::Result<()> {
    Ok(())
  }

  /// The cache directory.
  pub fn dir(&self) -> &Path {
    &self.dir
  }

  pub(crate) fn warn(&self, msg: &str) {
    if let Some(w) = &self.opts.warn {
      w(msg);
    }
  }

  pub(crate) fn lock(&self) -> Result<StoreLock, CacheError> {
    let p = self.dir.join("LOCK");
    StoreLock::open(&p).map_err(|e| CacheError::io("opening lock file", &p, e))
  }

  pub(crate) fn tmp_dir(&self) -> PathBuf {
    self.dir.join("tmp")
  }

  pub(crate) fn entry_path(&self, key: &str) -> PathBuf {
    self.dir.join("entries").join(format!("{key}.json"))
  }

  pub(crate) fn blob_path(&self, hash: Digest) -> PathBuf {
    let hex = hash.to_hex();
    self.dir.join("blobs").join(&hex[..2]).join(&hex)
  }

  pub(crate) fn task_pointer_path(&self, task: &str) -> PathBuf {
    self.dir.join("tasks").join(format!("{}.json", Digest::of_bytes(task.as_bytes()).to_hex()))
  }

  /// Appends an event record (best effort: stats never fail anything).
  pub(crate) fn record(&self, ev: Event) {
    let mut rec = [0u8; 16];
    rec[..8].copy_from_slice(&unix_ms(SystemTime::now()).to_le_bytes());
    rec[8] = ev as u8;
    let p = self.dir.join("stats");
    if let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(p) {
      let _ = f.write_all(&rec);
    }
  }

  /// Reads and checks an entry file; a corrupt one is deleted (with a warning) and is a miss.
  pub(crate) fn read_entry(&self, key: &str) -> Option<Entry> {
    let path = self.entry_path(key);
    let bytes = match fs::read(&path) {
      Ok(b) => b,
      Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
      Err(e) => {
        self.warn(&format!("build cache: cannot read {}: {e}; treating as a miss", path.display()));
        return None;
      }
    };
    match serde_json::from_slice::<Entry>(&bytes) {
      Ok(e) if e.format == ENTRY_FORMAT && e.key == key => Some(e),
      Ok(_) => {
        let _ = fs::remove_file(&path);
        None
      }
      Err(err) => {
        self.warn(&format!("build cache: entry {} is corrupt ({err}); removed", path.display()));
        let _ = fs::remove_file(&path);
        None
      }
    }
  }

  /// Looks `key` up. A hit refreshes the entry's last-use time (LRU) when it is older than
  /// [`LRU_GRANULARITY`] (so repeated no-op builds do not write to the entry). Corrupt entries are
  /// removed and reported through the warning callback as misses.
  pub fn lookup(&self, key: &str) -> Result<Option<Entry>, CacheError> {
    check_key(key)?;
    let lock = self.lock()?;
    let _g = lock.shared().map_err(|e| CacheError::io("locking", self.dir.join("LOCK"), e))?;
    let entry = self.read_entry(key);
    match &entry {
      Some(_) => {
        let p = self.entry_path(key);
        let now = SystemTime::now();
        let recent = fs::metadata(&p)
          .and_then(|m| m.modified())
          .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age < LRU_GRANULARITY));
        if !recent {
          if let Ok(f) = File::options().write(true).open(&p) {
            let _ = f.set_modified(now);
          }
        }
        self.record(Event::Hit);
      }
      None => self.record(Event::Miss),
    }
    Ok(entry)
  }

  /// Like [`lookup`](Store::lookup), but only looks: it neither counts a hit or miss in the
  /// statistics nor marks the entry as recently used (for `--dry-run`).
  pub fn peek(&self, key: &str) -> Result<Option<Entry>, CacheError> {
    check_key(key)?;
    let lock = self.lock()?;
    let _g = lock.shared().map_err(|e| CacheError::io("locking", self.dir.join("LOCK"), e))?;
    Ok(self.read_entry(key))
  }

  /// Records a task's outputs under the manifest's key. `outputs` are `(label, path)`: a
  /// directory is recorded with everything in it, a regular file as one file (a `File` record
  /// with an empty path), and a path that does not exist as absent (a restore removes whatever
  /// is there then). Blobs go in first, each through a temp file and rename, and the entry file
  /// is renamed into place last, so a crash at any point leaves either no entry or a complete one.
  pub fn save(
    &self,
    manifest: &KeyManifest,
    outputs: &[(&str, &Path)],
    result: &Value,
    logs: &[String],
  ) -> Result<SaveReport, CacheError> {
    check_key(&manifest.key)?;
    let lock = self.lock()?;
    let _g = lock.shared().map_err(|e| CacheError::io("locking", self.dir.join("LOCK"), e))?;
    let mut report = SaveReport { key: manifest.key.clone(), ..SaveReport::default() };
    let mut records = Vec::new();
    for (label, dir) in outputs {
      if label.is_empty() || label.contains(['/', '\\']) || *label == "." || *label == ".." {
        return Err(CacheError::InvalidLabel(label.to_string()));
      }
      let record = |kind, mode, blob| OutputRecord {
        label: label.to_string(),
        path: String::new(),
        kind,
        mode,
        blob,
        target: None,
      };
      match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => self.collect_dir(label, dir, "", &mut records, &mut report)?,
        Ok(m) if m.is_file() => {
          let blob = self.put_file(dir, &mut report)?;
          report.files += 1;
          report.bytes += blob.size;
          records.push(record(OutputKind::File, mode_of(&m), Some(blob)));
        }
        Ok(_) => return Err(CacheError::UnsupportedOutput { path: dir.to_path_buf() }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
          records.push(record(OutputKind::Absent, 0, None))
        }
        Err(e) => return Err(CacheError::io("reading output", *dir, e)),
      }
    }
    records.sort_by(|a: &OutputRecord, b| (&a.label, &a.path).cmp(&(&b.label, &b.path)));
    let tmp = self.tmp_dir();
    let logs_ref = if logs.is_empty() {
      None
    } else {
      let bytes =
        serde_json::to_vec(logs).map_err(|e| CacheError::Json { path: tmp.clone(), source: e })?;
      Some(self.put_bytes(&bytes, &mut report)?)
    };
    let mbytes = serde_json::to_vec(manifest)
      .map_err(|e| CacheError::Json { path: tmp.clone(), source: e })?;
    let manifest_ref = self.put_bytes(&mbytes, &mut report)?;
    let mut entry = Entry {
      format: ENTRY_FORMAT,
      key: manifest.key.clone(),
      task: manifest.task.clone(),
      created_unix_ms: unix_ms(SystemTime::now()),
      outputs: records,
      result: result.clone(),
      logs: logs_ref,
      manifest: manifest_ref,
      size: 0,
    };
    entry.size = entry.blobs().iter().map(|b| b.size).sum();
    let path = self.entry_path(&manifest.key);
    let bytes =
      serde_json::to_vec(&entry).map_err(|e| CacheError::Json { path: path.clone(), source: e })?;
    write_atomic(&tmp, &path, &bytes).map_err(|e| CacheError::io("writing entry", &path, e))?;
    self.set_last_key(&manifest.task, &manifest.key);
    self.record(Event::Saved);
    Ok(report)
  }

  fn collect_dir(
    &self,
    label: &str,
    dir: &Path,
    rel: &str,
    records: &mut Vec<OutputRecord>,
    report: &mut SaveReport,
  ) -> Result<(), CacheError> {
    let meta = fs::symlink_metadata(dir).map_err(|e| CacheError::io("stat of", dir, e))?;
    records.push(OutputRecord {
      label: label.into(),
      path: rel.into(),
      kind: OutputKind::Dir,
      mode: mode_of(&meta),
      blob: None,
      target: None,
    });
    let rd = fs::read_dir(dir).map_err(|e| CacheError::io("reading directory", dir, e))?;
    for item in rd {
      let item = item.map_err(|e| CacheError::io("reading directory", dir, e))?;
      let path = item.path();
      let name = item.file_name();
      let name = name.to_str().ok_or_else(|| CacheError::NonUtf8Path { path: path.clone() })?;
      let child_rel = if rel.is_empty() { name.to_string() } else { format!("{rel}/{name}") };
      let ft = item.file_type().map_err(|e| CacheError::io("stat of", &path, e))?;
      if ft.is_dir() {
        self.collect_dir(label, &path, &child_rel, records, report)?;
      } else if ft.is_symlink() {
        let target =
          fs::read_link(&path).map_err(|e| CacheError::io("reading symlink", &path, e))?;
        let target =
          target.to_str().ok_or_else(|| CacheError::NonUtf8Path { path: path.clone() })?;
        records.push(OutputRecord {
          label: label.into(),
          path: child_rel,
          kind: OutputKind::Symlink,
          mode: 0o777,
          blob: None,
          target: Some(target.to_string()),
        });
      } else if ft.is_file() {
        let meta = fs::symlink_metadata(&path).map_err(|e| CacheError::io("stat of", &path, e))?;
        let blob = self.put_file(&path, report)?;
        report.files += 1;
        report.bytes += blob.size;
        records.push(OutputRecord {
          label: label.into(),
          path: child_rel,
          kind: OutputKind::File,
          mode: mode_of(&meta),
          blob: Some(blob),
          target: None,
        });
      }
      // Sockets, FIFOs and devices are not build outputs; they are skipped.
    }
    Ok(())
  }

  /// Stores a file's contents as a blob (if not already present) and returns its reference.
  fn put_file(&self, src: &Path, report: &mut SaveReport) -> Result<BlobRef, CacheError> {
    let (hash, size) = hash_file(src).map_err(|e| CacheError::io("reading output", src, e))?;
    let dest = self.blob_path(hash);
    if let Ok(m) = fs::metadata(&dest) {
      if m.len() == size {
        return Ok(BlobRef { hash, size });
      }
    }
    let tmp = self.tmp_dir().join(unique_tmp_name("blob"));
    let copied = (|| -> io::Result<(Digest, u64)> {
      if matches!(self.opts.restore_mode, RestoreMode::Auto | RestoreMode::Reflink)
        && reflink_copy::reflink(src, &tmp).is_ok()
      {
        return hash_file(&tmp);
      }
      copy_hashed(src, &tmp)
    })();
    let (h2, n2) = match copied {
      Ok(v) => v,
      Err(e) => {
        let _ = fs::remove_file(&tmp);
        return Err(CacheError::io("copying output into cache", src, e));
      }
    };
    if h2 != hash || n2 != size {
      let _ = fs::remove_file(&tmp);
      return Err(CacheError::OutputChanged { path: src.to_path_buf() });
    }
    self.install_blob(&tmp, &dest)?;
    report.new_blobs += 1;
    report.new_bytes += size;
    Ok(BlobRef { hash, size })
  }

  fn put_bytes(&self, bytes: &[u8], report: &mut SaveReport) -> Result<BlobRef, CacheError> {
    let hash = Digest::of_bytes(bytes);
    let size = bytes.len() as u64;
    let dest = self.blob_path(hash);
    if fs::metadata(&dest).is_ok_and(|m| m.len() == size) {
      return Ok(BlobRef { hash, size });
    }
    let tmp = self.tmp_dir().join(unique_tmp_name("blob"));
    if let Err(e) = fs::write(&tmp, bytes) {
      let _ = fs::remove_file(&tmp);
      return Err(CacheError::io("writing blob", &tmp, e));
    }
    self.install_blob(&tmp, &dest)?;
    report.new_blobs += 1;
    report.new_bytes += size;
    Ok(BlobRef { hash, size })
  }

  fn install_blob(&self, tmp: &Path, dest: &Path) -> Result<(), CacheError> {
    let res = (|| {
      if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent)?;
      }
      fs::rename(tmp, dest)
    })();
    res.map_err(|e| {
      let _ = fs::remove_file(tmp);
      CacheError::io("storing blob", dest, e)
    })
  }

  /// Points the task's "last build" record at `key` (best effort); left alone (not rewritten)
  /// when it already does.
  pub(crate) fn set_last_key(&self, task: &str, key: &str) {
    if self.last_key(task).as_deref() == Some(key) {
      return;
    }
    let p = self.task_pointer_path(task);
    let body = serde_json::json!({ "task": task, "key": key }).to_string();
    if let Err(e) = write_atomic(&self.tmp_dir(), &p, body.as_bytes()) {
      self.warn(&format!("build cache: cannot record last key of {task}: {e}"));
    }
  }

  /// The last key built or restored for `task`, if recorded.
  pub fn last_key(&self, task: &str) -> Option<String> {
    let bytes = fs::read(self.task_pointer_path(task)).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    if v.get("task")?.as_str()? != task {
      return None;
    }
    let key = v.get("key")?.as_str()?.to_string();
    check_key(&key).ok()?;
    Some(key)
  }

  /// Reads a blob and checks its digest.
  pub(crate) fn read_blob(&self, b: BlobRef) -> Result<Vec<u8>, BlobProblem> {
    let p = self.blob_path(b.hash);
    let bytes = match fs::read(&p) {
      Ok(v) => v,
      Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(BlobProblem::Missing(p)),
      Err(e) => return Err(BlobProblem::Io(p, e)),
    };
    let actual = Digest::of_bytes(&bytes);
    if actual != b.hash {
      return Err(BlobProblem::Corrupt(p, actual));
    }
    Ok(bytes)
  }

  /// Removes an entry (and a blob known to be bad, so no later save deduplicates against it).
  pub(crate) fn drop_entry(&self, key: &str, bad_blob: Option<&Path>) {
    let _ = fs::remove_file(self.entry_path(key));
    if let Some(b) = bad_blob {
      let _ = fs::remove_file(b);
    }
    self.record(Event::RestoreFailed);
  }
}

/// Why a blob could not be used.
#[derive(Debug)]
pub(crate) enum BlobProblem {
  Missing(PathBuf),
  Corrupt(PathBuf, Digest),
  Io(PathBuf, io::Error),
}

impl Store {
  /// Removes the entry of `key` (its blobs stay until eviction): the next lookup is a miss.
  pub fn forget(&self, key: &str) {
    if check_key(key).is_ok() {
      let _ = fs::remove_file(self.entry_path(key));
    }
  }
}
