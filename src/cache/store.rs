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
//! ```
//!
//! Blobs are xxh3-128 rather than SHA-256: this store is local to one machine and one user,
//! so collisions need only be accidental-proof (2^-64 birthday bound at 2^32 blobs); xxh3 runs
//! at memory bandwidth, which matters because every blob is re-hashed on every restore and each
//! input digest is reused. A shared remote cache must add SHA-256 and HMAC signing on transfer.
//!
//! No fsync: after a crash a blob or entry is either absent or complete (rename is atomic with
//! respect to SIGKILL), and after a power loss a torn blob fails verification on restore and a
//! torn entry fails to parse, both of which are misses.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::super::hash::{hash_file, Digest, KeyManifest, StatCache};
use super::entry::{check_entry, BlobRef, Entry, OutputKind, OutputRecord, ENTRY_FORMAT};
use super::error::{CacheError, RestoreError};
use super::fsutil::{
  check_no_symlink_parents, copy_hashed, make_symlink, mode_of, set_mode, unique_tmp_name, unix_ms,
  write_atomic, StoreLock,
};

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
    Ok(Store { dir, opts })
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

  /// Looks `key` up. A hit refreshes the entry's last-use time (LRU). Corrupt entries are
  /// removed and reported through the warning callback as misses.
  pub fn lookup(&self, key: &str) -> Result<Option<Entry>, CacheError> {
    check_key(key)?;
    let lock = self.lock()?;
    let _g = lock.shared().map_err(|e| CacheError::io("locking", self.dir.join("LOCK"), e))?;
    let entry = self.read_entry(key);
    match &entry {
      Some(_) => {
        let p = self.entry_path(key);
        if let Ok(f) = File::options().write(true).open(&p) {
          let _ = f.set_modified(SystemTime::now());
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

  /// Records a task's outputs under the manifest's key. `outputs` are `(label, directory)`;
  /// a directory that does not exist is recorded as absent. Blobs go in first, each through a
  /// temp file and rename, and the entry file is renamed into place last, so a crash at any
  /// point leaves either no entry or a complete one.
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
      match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => self.collect_dir(label, dir, "", &mut records, &mut report)?,
        Ok(_) => {
          return Err(CacheError::io(
            "reading output directory",
            *dir,
            io::Error::other("not a directory"),
          ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(CacheError::io("reading output directory", *dir, e)),
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

  /// Points the task's "last build" record at `key` (best effort).
  pub(crate) fn set_last_key(&self, task: &str, key: &str) {
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

  /// Restores `entry`'s outputs into the given `(label, directory)` pairs.
  ///
  /// Every blob is verified against its digest while it is materialized into a temp file next
  /// to its destination; only when all are verified are they renamed into place, so a corrupt
  /// or missing blob leaves the output directories untouched (and the entry removed). Files
  /// already identical (size, mode, digest) are not rewritten. Paths are checked first: `..`,
  /// absolute paths, symlinks leading outside, and writes through existing symlinks are refused.
  pub fn restore(
    &self,
    entry: &Entry,
    outputs: &[(&str, &Path)],
  ) -> Result<RestoreReport, RestoreError> {
    self.restore_with_stat(entry, outputs, None)
  }

  /// [`restore`](Store::restore), with a stat cache: an output file whose size, mtime, ctime and
  /// inode match what the stat cache recorded when it was last written or verified (and that is not
  /// racy, git's rule) is known identical without being read; every file written or verified is
  /// recorded. Blobs that are materialized are still verified against their digest.
  pub fn restore_with_stat(
    &self,
    entry: &Entry,
    outputs: &[(&str, &Path)],
    stat: Option<&StatCache>,
  ) -> Result<RestoreReport, RestoreError> {
    let mut seen_outputs: Vec<(PathBuf, Digest)> = Vec::new();
    let key = entry.key.clone();
    if let Err((path, reason)) = check_entry(entry) {
      self.drop_entry(&key, None);
      return Err(RestoreError::UnsafePath { key, path, reason });
    }
    let dirs: BTreeMap<&str, &Path> = outputs.iter().copied().collect();
    for o in &entry.outputs {
      if !dirs.contains_key(o.label.as_str()) {
        return Err(RestoreError::UnknownLabel { key, label: o.label.clone() });
      }
    }
    let ioerr = |action: &'static str, path: &Path, source: io::Error| RestoreError::Io {
      key: entry.key.clone(),
      action,
      path: path.to_path_buf(),
      source,
    };
    let lock = self.lock().map_err(|e| match e {
      CacheError::Io { action, path, source } => ioerr(action, &path, source),
      other => ioerr("locking", &self.dir, io::Error::other(other.to_string())),
    })?;
    let _g = lock.shared().map_err(|e| ioerr("locking", &self.dir.join("LOCK"), e))?;

    // Logs first: a corrupt log blob invalidates the entry before any output is touched.
    let logs = match entry.logs {
      None => Vec::new(),
      Some(b) => match self.read_blob(b) {
        Ok(bytes) => serde_json::from_slice::<Vec<String>>(&bytes).unwrap_or_default(),
        Err(p) => return Err(self.blob_error(entry, "(logs)", p)),
      },
    };

    let mut report =
      RestoreReport { result: entry.result.clone(), logs, ..RestoreReport::default() };
    // Phase 1: directories, then verified temp files for every file to (re)write.
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    let cleanup = |staged: &Vec<(PathBuf, PathBuf)>| {
      for (tmp, _) in staged {
        let _ = fs::remove_file(tmp);
      }
    };
    let mut reflink_ok = matches!(self.opts.restore_mode, RestoreMode::Auto | RestoreMode::Reflink);
    for o in &entry.outputs {
      let base = dirs[o.label.as_str()];
      let dest = if o.path.is_empty() { base.to_path_buf() } else { base.join(&o.path) };
      let parent_rel = o.path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
      let parent_check = if o.kind == OutputKind::Dir { o.path.as_str() } else { parent_rel };
      if let Err(bad) = check_no_symlink_parents(base, parent_check) {
        cleanup(&staged);
        let _ = bad;
        return Err(RestoreError::UnsafePath {
          key: entry.key.clone(),
          path: o.display_path(),
          reason: "would be written through a symlink in the output directory",
        });
      }
      match o.kind {
        OutputKind::Dir => {
          if fs::symlink_metadata(&dest).is_ok_and(|m| !m.is_dir()) {
            let _ = fs::remove_file(&dest);
          }
          if let Err(e) = fs::create_dir_all(&dest) {
            cleanup(&staged);
            return Err(ioerr("creating directory", &dest, e));
          }
        }
        OutputKind::Symlink => {}
        OutputKind::File => {
          let Some(b) = o.blob else { continue };
          report.bytes += b.size;
          match already_identical(&dest, b, o.mode, stat) {
            Identical::ByStat => {
              report.skipped_identical += 1;
              report.skipped_by_stat += 1;
              continue;
            }
            Identical::ByContent => {
              report.skipped_identical += 1;
              seen_outputs.push((dest.clone(), b.hash));
              continue;
            }
            Identical::No => seen_outputs.push((dest.clone(), b.hash)),
          }
          let Some(parent) = dest.parent() else { continue };
          if let Err(e) = fs::create_dir_all(parent) {
            cleanup(&staged);
            return Err(ioerr("creating directory", parent, e));
          }
          let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("out");
          let tmp = parent.join(unique_tmp_name(name));
          match self.materialize(b, o.mode, &tmp, &mut reflink_ok, &mut report) {
            Ok(()) => staged.push((tmp, dest)),
            Err(p) => {
              let _ = fs::remove_file(&tmp);
              cleanup(&staged);
              return Err(self.blob_error(entry, &o.display_path(), p));
            }
          }
        }
      }
    }
    // Phase 2: rename verified files into place, then create symlinks.
    for i in 0..staged.len() {
      let (tmp, dest) = &staged[i];
      if fs::symlink_metadata(dest).is_ok_and(|m| m.is_dir()) {
        let _ = fs::remove_dir_all(dest);
      }
      if let Err(e) = fs::rename(tmp, dest) {
        cleanup(&staged[i..].to_vec());
        return Err(ioerr("renaming into place", dest, e));
      }
    }
    for o in entry.outputs.iter().filter(|o| o.kind == OutputKind::Symlink) {
      let (Some(target), Some(base)) = (o.target.as_deref(), dirs.get(o.label.as_str())) else {
        continue;
      };
      let dest = base.join(&o.path);
      if fs::read_link(&dest).is_ok_and(|t| t.to_str() == Some(target)) {
        continue;
      }
      match fs::symlink_metadata(&dest) {
        Ok(m) if m.is_dir() => {
          let _ = fs::remove_dir_all(&dest);
        }
        Ok(_) => {
          let _ = fs::remove_file(&dest);
        }
        Err(_) => {}
      }
      make_symlink(target, &dest).map_err(|e| ioerr("creating symlink", &dest, e))?;
    }
    if let Some(stat) = stat {
      stat.record_files(&seen_outputs);
    }
    self.set_last_key(&entry.task, &entry.key);
    Ok(report)
  }

  fn blob_error(&self, entry: &Entry, output: &str, p: BlobProblem) -> RestoreError {
    let key = entry.key.clone();
    match p {
      BlobProblem::Missing(blob) => {
        self.drop_entry(&key, None);
        RestoreError::MissingBlob { key, output: output.into(), blob }
      }
      BlobProblem::Corrupt(blob, actual) => {
        self.drop_entry(&key, Some(&blob));
        let expected = entry
          .outputs
          .iter()
          .find(|o| o.display_path() == output)
          .and_then(|o| o.blob)
          .or(entry.logs);
        RestoreError::CorruptBlob {
          key,
          output: output.into(),
          expected: expected.map(|b| b.hash.to_hex()).unwrap_or_default(),
          actual: actual.to_hex(),
          blob,
        }
      }
      BlobProblem::Io(blob, source) => {
        RestoreError::Io { key, action: "reading blob", path: blob, source }
      }
    }
  }

  /// Creates `tmp` with the blob's verified contents and `mode`.
  fn materialize(
    &self,
    b: BlobRef,
    mode: u32,
    tmp: &Path,
    reflink_ok: &mut bool,
    report: &mut RestoreReport,
  ) -> Result<(), BlobProblem> {
    let blob = self.blob_path(b.hash);
    let meta = match fs::metadata(&blob) {
      Ok(m) => m,
      Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(BlobProblem::Missing(blob)),
      Err(e) => return Err(BlobProblem::Io(blob, e)),
    };
    let verify = |path: &Path| -> Result<(), BlobProblem> {
      let (h, n) = hash_file(path).map_err(|e| BlobProblem::Io(blob.clone(), e))?;
      if h != b.hash || n != b.size {
        return Err(BlobProblem::Corrupt(blob.clone(), h));
      }
      Ok(())
    };
    if self.opts.restore_mode == RestoreMode::Hardlink && mode_of(&meta) == mode {
      verify(&blob)?;
      if fs::hard_link(&blob, tmp).is_ok() {
        report.hardlinked += 1;
        return Ok(());
      }
    }
    if *reflink_ok {
      if reflink_copy::reflink(&blob, tmp).is_ok() {
        verify(tmp)?;
        set_mode(tmp, mode).map_err(|e| BlobProblem::Io(tmp.to_path_buf(), e))?;
        report.reflinked += 1;
        return Ok(());
      }
      let _ = fs::remove_file(tmp);
      *reflink_ok = false;
    }
    let (h, n) = copy_hashed(&blob, tmp).map_err(|e| BlobProblem::Io(blob.clone(), e))?;
    if h != b.hash || n != b.size {
      return Err(BlobProblem::Corrupt(blob, h));
    }
    set_mode(tmp, mode).map_err(|e| BlobProblem::Io(tmp.to_path_buf(), e))?;
    report.copied += 1;
    Ok(())
  }
}

/// Why a blob could not be used.
#[derive(Debug)]
pub(crate) enum BlobProblem {
  Missing(PathBuf),
  Corrupt(PathBuf, Digest),
  Io(PathBuf, io::Error),
}

/// How an existing output file compares with the blob it should hold.
enum Identical {
  /// Same size and mode, and the stat cache knows it holds the blob's digest (not read).
  ByStat,
  /// Same size, mode and content (read and hashed).
  ByContent,
  /// Different or absent: it must be written.
  No,
}

fn already_identical(dest: &Path, b: BlobRef, mode: u32, stat: Option<&StatCache>) -> Identical {
  match fs::symlink_metadata(dest) {
    Ok(m) if m.is_file() && m.len() == b.size && mode_of(&m) == mode => {
      if stat.and_then(|s| s.known_digest(dest, &m)) == Some(b.hash) {
        Identical::ByStat
      } else if hash_file(dest).is_ok_and(|(h, _)| h == b.hash) {
        Identical::ByContent
      } else {
        Identical::No
      }
    }
    _ => Identical::No,
  }
}

impl Store {
  /// Removes the entry of `key` (its blobs stay until eviction): the next lookup is a miss.
  pub fn forget(&self, key: &str) {
    if check_key(key).is_ok() {
      let _ = fs::remove_file(self.entry_path(key));
    }
  }
}
