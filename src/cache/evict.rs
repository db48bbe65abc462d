//! Eviction (TTL + LRU size cap), `farm cache clean`, and `farm cache status`, over every store
//! under the cache directory: entries with their blobs, production venvs (`venvs/`) and image
//! optimization results (`images/`). All three share the size cap and the TTL; least recently
//! used goes first whatever its kind. A venv whose lock a build holds is never removed.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::super::hash::Digest;
use super::entry::Entry;
use super::error::CacheError;
use super::fsutil::write_atomic;
use super::store::{check_key, Event, Store};
use super::venvs::VenvStore;

/// How often a build that saved nothing still runs eviction (for the TTL).
pub const EVICT_INTERVAL: Duration = Duration::from_secs(3600);

/// How many stats records are kept when the stats file is compacted.
const STATS_KEEP: usize = 10_000;
const STATS_RECORD: usize = 16;

/// What an eviction or clean did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EvictReport {
  /// True when another process held the lock and nothing was done (only from `evict`).
  pub skipped_busy: bool,
  /// Entries removed because they were unused for longer than the TTL.
  pub expired: u64,
  /// Entries removed, least recently used first, to get under the size cap.
  pub trimmed: u64,
  /// Blob files deleted (unreferenced after the removals, or orphaned by a crash).
  pub blobs_removed: u64,
  /// Production venvs (and leftover venv build directories) removed.
  pub venvs_removed: u64,
  /// Image optimization results removed.
  pub images_removed: u64,
  /// Bytes freed.
  pub bytes_freed: u64,
  /// Cache size afterwards (blobs, entry files, venvs and images).
  pub bytes_after: u64,
}

/// `farm cache status`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStatus {
  /// Number of entries.
  pub entries: u64,
  /// Bytes of every store: blobs, entry files, venvs and images.
  pub total_bytes: u64,
  /// Production venvs in `venvs/`.
  pub venvs: u64,
  /// Their bytes (included in `total_bytes`).
  pub venv_bytes: u64,
  /// Image optimization results in `images/`.
  pub images: u64,
  /// Their bytes (included in `total_bytes`).
  pub image_bytes: u64,
  /// Creation time of the oldest entry.
  pub oldest_entry: Option<SystemTime>,
  /// Creation time of the newest entry.
  pub newest_entry: Option<SystemTime>,
  /// Recent lookups that hit (the stats file keeps the last 10,000 events).
  pub hits: u64,
  /// Recent lookups that missed.
  pub misses: u64,
  /// Recent restores that failed verification (entry dropped, task rebuilt).
  pub restore_failures: u64,
  /// Recent saves.
  pub saves: u64,
  /// Time of the oldest event counted above.
  pub stats_since: Option<SystemTime>,
}

/// One image optimization result (or stray file) in `images/`.
struct ImageFile {
  path: PathBuf,
  bytes: u64,
  last_used: SystemTime,
}

/// Something least-recently-used eviction can remove.
enum Unit {
  Entry(usize),
  Venv(String, u64),
  Image(usize),
}

struct Listed {
  key: String,
  entry: Entry,
  last_used: SystemTime,
  file_size: u64,
}

impl Store {
  fn list_entries(&self) -> Vec<Listed> {
    let dir = self.dir.join("entries");
    let Ok(rd) = fs::read_dir(&dir) else { return Vec::new() };
    let mut out = Vec::new();
    for item in rd.flatten() {
      let name = item.file_name();
      let Some(key) = name.to_str().and_then(|n| n.strip_suffix(".json")) else { continue };
      if check_key(key).is_err() {
        continue;
      }
      let Ok(meta) = item.metadata() else { continue };
      if let Some(entry) = self.read_entry(key) {
        let last_used = meta.modified().unwrap_or(UNIX_EPOCH);
        out.push(Listed { key: key.to_string(), entry, last_used, file_size: meta.len() });
      }
    }
    out
  }

  fn venv_store(&self) -> VenvStore {
    VenvStore::new(self.dir.join("venvs"))
  }

  fn list_images(&self) -> Vec<ImageFile> {
    let Ok(rd) = fs::read_dir(self.dir.join("images")) else { return Vec::new() };
    let mut out = Vec::new();
    for f in rd.flatten() {
      let Ok(m) = f.metadata() else { continue };
      let bytes = if m.is_dir() { super::fsutil::tree_size(&f.path()) } else { m.len() };
      let last_used = m.modified().unwrap_or(UNIX_EPOCH);
      out.push(ImageFile { path: f.path(), bytes, last_used });
    }
    out
  }

  fn list_blobs(&self) -> HashMap<Digest, (PathBuf, u64)> {
    let mut out = HashMap::new();
    let Ok(rd) = fs::read_dir(self.dir.join("blobs")) else { return out };
    for sub in rd.flatten() {
      let Ok(files) = fs::read_dir(sub.path()) else { continue };
      for f in files.flatten() {
        let name = f.file_name();
        if let (Some(d), Ok(m)) = (name.to_str().and_then(Digest::from_hex), f.metadata()) {
          out.insert(d, (f.path(), m.len()));
        }
      }
    }
    out
  }

  /// Routine eviction, meant to run once per build: entries unused for longer than the
  /// configured TTL go, then least recently used entries until the cache is at most 80 % of
  /// the size cap; unreferenced blobs and stale temp files are deleted. Never waits: if another
  /// process holds the lock, returns with `skipped_busy`.
  pub fn evict(&self, now: SystemTime) -> Result<EvictReport, CacheError> {
    let mut lock = self.lock()?;
    let guard =
      lock.try_exclusive().map_err(|e| CacheError::io("locking", self.dir.join("LOCK"), e))?;
    if guard.is_none() {
      return Ok(EvictReport { skipped_busy: true, ..EvictReport::default() });
    }
    Ok(self.evict_locked(now, Some(self.opts.ttl), Some(self.opts.max_size)))
  }

  /// [`Store::evict`] when it may free something: always after a build that saved (`saved`),
  /// else at most once per [`EVICT_INTERVAL`] (for the TTL), so a no-op build neither lists nor
  /// parses the entries and blobs. The last eviction's time is the mtime of `last-evict`.
  /// `None` when it was not due.
  pub fn evict_if_due(
    &self,
    now: SystemTime,
    saved: bool,
  ) -> Result<Option<EvictReport>, CacheError> {
    let marker = self.dir.join("last-evict");
    let recent = fs::metadata(&marker)
      .and_then(|m| m.modified())
      .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age < EVICT_INTERVAL));
    if !saved && recent {
      return Ok(None);
    }
    let report = self.evict(now)?;
    if !report.skipped_busy {
      let touched = fs::File::options()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&marker)
        .and_then(|f| f.set_modified(now));
      if let Err(e) = touched {
        self.warn(&format!(
          "build cache: cannot record the eviction time in {}: {e}",
          marker.display()
        ));
      }
    }
    Ok(Some(report))
  }

  /// `farm cache clean`: like [`Store::evict`] with explicit limits (`None` = no limit of that
  /// kind; `Some(Duration::ZERO)` removes everything), waiting for the lock.
  pub fn clean(
    &self,
    older_than: Option<Duration>,
    max_size: Option<u64>,
  ) -> Result<EvictReport, CacheError> {
    let mut lock = self.lock()?;
    let _g = lock.exclusive().map_err(|e| CacheError::io("locking", self.dir.join("LOCK"), e))?;
    Ok(self.evict_locked(SystemTime::now(), older_than, max_size))
  }

  fn evict_locked(
    &self,
    now: SystemTime,
    ttl: Option<Duration>,
    max_size: Option<u64>,
  ) -> EvictReport {
    let mut report = EvictReport::default();
    // No save is in progress (we hold the exclusive lock): every temp file is garbage.
    if let Ok(rd) = fs::read_dir(self.tmp_dir()) {
      for f in rd.flatten() {
        let _ = fs::remove_file(f.path());
      }
    }
    let mut entries = self.list_entries();
    let remove_entry = |l: &Listed| {
      let _ = fs::remove_file(self.entry_path(&l.key));
    };
    let mut bytes_freed = 0;
    let venv_store = self.venv_store();
    let mut venvs = venv_store.units();
    let mut images = self.list_images();
    let remove_image = |i: &ImageFile| {
      if fs::symlink_metadata(&i.path).is_ok_and(|m| m.is_dir()) {
        fs::remove_dir_all(&i.path).is_ok()
      } else {
        fs::remove_file(&i.path).is_ok()
      }
    };
    if let Some(ttl) = ttl {
      let expired =
        |t: SystemTime| ttl.is_zero() || now.duration_since(t).unwrap_or(Duration::ZERO) > ttl;
      entries.retain(|l| {
        let expired = expired(l.last_used);
        if expired {
          remove_entry(l);
          bytes_freed += l.file_size;
          report.expired += 1;
        }
        !expired
      });
      venvs.retain(|v| {
        let gone = expired(v.last_used) && venv_store.remove_unit(&v.name);
        if gone {
          bytes_freed += v.bytes;
          report.venvs_removed += 1;
        }
        !gone
      });
      images.retain(|i| {
        let gone = expired(i.last_used) && remove_image(i);
        if gone {
          bytes_freed += i.bytes;
          report.images_removed += 1;
        }
        !gone
      });
    }
    let blobs = self.list_blobs();
    let mut refs: HashMap<Digest, u32> = HashMap::new();
    for l in &entries {
      for b in l.entry.blobs() {
        *refs.entry(b.hash).or_default() += 1;
      }
    }
    let mut total: u64 = entries.iter().map(|l| l.file_size).sum::<u64>()
      + venvs.iter().map(|v| v.bytes).sum::<u64>()
      + images.iter().map(|i| i.bytes).sum::<u64>();
    for (d, (path, size)) in &blobs {
      if refs.contains_key(d) {
        total += size;
      } else if fs::remove_file(path).is_ok() {
        report.blobs_removed += 1;
        bytes_freed += size;
      }
    }
    if let Some(cap) = max_size {
      if total > cap {
        let target = cap / 10 * 8 + (cap % 10) * 8 / 10;
        let mut units: Vec<(SystemTime, Unit)> = Vec::new();
        units.extend(entries.iter().enumerate().map(|(i, l)| (l.last_used, Unit::Entry(i))));
        units.extend(venvs.iter().map(|v| (v.last_used, Unit::Venv(v.name.clone(), v.bytes))));
        units.extend(images.iter().enumerate().map(|(i, f)| (f.last_used, Unit::Image(i))));
        units.sort_by_key(|u| u.0);
        for (_, unit) in units {
          if total <= target {
            break;
          }
          match unit {
            Unit::Entry(i) => {
              let l = &entries[i];
              remove_entry(l);
              report.trimmed += 1;
              total = total.saturating_sub(l.file_size);
              bytes_freed += l.file_size;
              for b in l.entry.blobs() {
                let Some(n) = refs.get_mut(&b.hash) else { continue };
                *n -= 1;
                if *n == 0 {
                  if let Some((path, size)) = blobs.get(&b.hash) {
                    if fs::remove_file(path).is_ok() {
                      report.blobs_removed += 1;
                      total = total.saturating_sub(*size);
                      bytes_freed += size;
                    }
                  }
                }
              }
            }
            // A venv in use stays (and keeps counting).
            Unit::Venv(name, bytes) => {
              if venv_store.remove_unit(&name) {
                report.venvs_removed += 1;
                total = total.saturating_sub(bytes);
                bytes_freed += bytes;
              }
            }
            Unit::Image(i) => {
              if remove_image(&images[i]) {
                report.images_removed += 1;
                total = total.saturating_sub(images[i].bytes);
                bytes_freed += images[i].bytes;
              }
            }
          }
        }
      }
    }
    if ttl.is_some_and(|t| t.is_zero()) || max_size == Some(0) {
      // Emptying the cache: stray lock and stat files of the venv store go too.
      venv_store.remove_stale_files();
    }
    // Drop task pointers whose entry is gone.
    if let Ok(rd) = fs::read_dir(self.dir.join("tasks")) {
      for f in rd.flatten() {
        let keep = fs::read(f.path())
          .ok()
          .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
          .and_then(|v| v.get("key").and_then(|k| k.as_str()).map(|k| self.entry_path(k).exists()))
          .unwrap_or(false);
        if !keep {
          let _ = fs::remove_file(f.path());
        }
      }
    }
    self.compact_stats();
    report.bytes_freed = bytes_freed;
    report.bytes_after = total;
    report
  }

  fn compact_stats(&self) {
    let p = self.dir.join("stats");
    let Ok(bytes) = fs::read(&p) else { return };
    let n = bytes.len() / STATS_RECORD;
    if n <= STATS_KEEP && bytes.len() % STATS_RECORD == 0 {
      return;
    }
    let start = n.saturating_sub(STATS_KEEP) * STATS_RECORD;
    let _ = write_atomic(&self.tmp_dir(), &p, &bytes[start..n * STATS_RECORD]);
  }

  /// `farm cache status`: entry count, sizes of every store, age range and recent hit/miss counts.
  pub fn status(&self) -> Result<StoreStatus, CacheError> {
    let lock = self.lock()?;
    let _g = lock.shared().map_err(|e| CacheError::io("locking", self.dir.join("LOCK"), e))?;
    let mut s = StoreStatus::default();
    for l in self.list_entries() {
      s.entries += 1;
      s.total_bytes += l.file_size;
      let created = UNIX_EPOCH + Duration::from_millis(l.entry.created_unix_ms);
      s.oldest_entry = Some(s.oldest_entry.map_or(created, |o| o.min(created)));
      s.newest_entry = Some(s.newest_entry.map_or(created, |o| o.max(created)));
    }
    s.total_bytes += self.list_blobs().values().map(|(_, n)| n).sum::<u64>();
    for v in self.venv_store().units() {
      s.venvs += 1;
      s.venv_bytes += v.bytes;
    }
    for i in self.list_images() {
      s.images += 1;
      s.image_bytes += i.bytes;
    }
    s.total_bytes += s.venv_bytes + s.image_bytes;
    if let Ok(bytes) = fs::read(self.dir.join("stats")) {
      for rec in bytes.chunks_exact(STATS_RECORD) {
        let mut ms = [0u8; 8];
        ms.copy_from_slice(&rec[..8]);
        let t = UNIX_EPOCH + Duration::from_millis(u64::from_le_bytes(ms));
        s.stats_since = Some(s.stats_since.map_or(t, |o| o.min(t)));
        match rec[8] {
          x if x == Event::Hit as u8 => s.hits += 1,
          x if x == Event::Miss as u8 => s.misses += 1,
          x if x == Event::RestoreFailed as u8 => s.restore_failures += 1,
          x if x == Event::Saved as u8 => s.saves += 1,
          _ => {}
        }
      }
    }
    Ok(s)
  }
}
