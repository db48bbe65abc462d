//! Persistent stat cache: path → (size, mtime, ctime, inode) → content digest.
//!
//! Lets an unchanged file be recognised from `lstat` alone. Follows git's racy-timestamp rule:
//! an entry whose mtime is not strictly older than the stat cache file's own mtime (both are
//! filesystem timestamps, so they share the filesystem's granularity) is never trusted, because
//! the file may have been modified again within the same timestamp tick after it was hashed.
//! Entries added in this process are untrusted until [`StatCache::save`] gives them a reference
//! timestamp.
//!
//! Entries are keyed by (xxh3-64 of the directory's absolute path, xxh3-64 of the file name),
//! not by the path itself: records are fixed-size and stored sorted by that key, so loading is
//! one sequential pass and a walk finds each directory's entries as one contiguous slice (one
//! random memory access per directory instead of one per file). A key collision is harmless:
//! a hit also requires equal size, mtime, ctime and inode, which two different files never
//! share on Unix (equal inode on one device = the same file, so the same contents).
//!
//! File format (little endian): `b"FARMSTAT"`, `u32` version, `u32` reserved, `u64` count, then
//! `count` 72-byte records `{u64 dir_key, u64 name_key, u64 size, i64 mtime_ns, i64 ctime_ns,
//! u64 inode, u32 last_seen_day, u32 reserved, u128 digest}` sorted by `(dir_key, name_key)`,
//! then a `u64` xxh3-64 checksum of everything before it. A file that fails any check is ignored (the cache starts empty), so a corrupt or
//! truncated file never fails a build. The file is memory-mapped and validated, not decoded:
//! a lookup decodes the one record it finds (a walk binary-searches each directory's range). Entries not seen for [`FORGET_AFTER_DAYS`] are dropped
//! on save.

use std::collections::HashMap;
use std::fs::{self, Metadata};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use xxhash_rust::xxh3::xxh3_64;

use super::digest::Digest;
use super::error::HashError;

const MAGIC: &[u8; 8] = b"FARMSTAT";
const VERSION: u32 = 3;
const HEADER_LEN: usize = 8 + 4 + 4 + 8;
const RECORD_LEN: usize = 72;

/// Entries whose file has not been looked up for this many days are dropped on save.
pub const FORGET_AFTER_DAYS: u32 = 30;

/// The stat fields compared to decide whether a file is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStat {
  /// Size in bytes.
  pub size: u64,
  /// Modification time, nanoseconds since the Unix epoch.
  pub mtime_ns: i64,
  /// Status-change time in nanoseconds (0 where the platform has none).
  pub ctime_ns: i64,
  /// Inode number (0 where the platform has none).
  pub inode: u64,
}

impl FileStat {
  /// Extracts the compared fields from `lstat`/`stat` metadata.
  pub fn from_metadata(meta: &Metadata) -> FileStat {
    #[cfg(unix)]
    {
      use std::os::unix::fs::MetadataExt;
      FileStat {
        size: meta.len(),
        mtime_ns: meta.mtime().saturating_mul(1_000_000_000).saturating_add(meta.mtime_nsec()),
        ctime_ns: meta.ctime().saturating_mul(1_000_000_000).saturating_add(meta.ctime_nsec()),
        inode: meta.ino(),
      }
    }
    #[cfg(not(unix))]
    {
      FileStat { size: meta.len(), mtime_ns: modified_ns(meta), ctime_ns: 0, inode: 0 }
    }
  }
}

/// Modification time of `meta` in nanoseconds since the Unix epoch (negative before it).
pub fn modified_ns(meta: &Metadata) -> i64 {
  match meta.modified() {
    Ok(t) => match t.duration_since(UNIX_EPOCH) {
      Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
      Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    },
    Err(_) => i64::MAX,
  }
}

/// The stat cache key of a directory (its absolute path, no trailing separator).
pub(crate) fn dir_key(dir: &str) -> u64 {
  xxh3_64(dir.as_bytes())
}

/// The stat cache key of a file name within its directory.
pub(crate) fn name_key(name: &str) -> u64 {
  xxh3_64(name.as_bytes())
}

fn today() -> u32 {
  SystemTime::now().duration_since(UNIX_EPOCH).map(|d| (d.as_secs() / 86_400) as u32).unwrap_or(0)
}

/// Keys are already uniformly distributed hashes: use them as is.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
  fn finish(&self) -> u64 {
    self.0
  }
  fn write(&mut self, bytes: &[u8]) {
    for b in bytes {
      self.0 = self.0.rotate_left(8) ^ u64::from(*b);
    }
  }
  fn write_u64(&mut self, n: u64) {
    self.0 = self.0.rotate_left(29) ^ n;
  }
}

/// One cached file.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StatEntry {
  pub(crate) stat: FileStat,
  pub(crate) digest: Digest,
  /// Day (since the epoch) the entry was last looked up or inserted.
  pub(crate) seen_day: u32,
  /// Added in this process and not yet covered by a saved file's timestamp.
  pub(crate) fresh: bool,
}

type Build = BuildHasherDefault<IdentityHasher>;

/// `(dir_key, name_key)` of a file.
pub(crate) type Key = (u64, u64);

/// The loaded (or last saved) entries, sorted by key: the file itself, memory-mapped (nothing is
/// decoded until looked up), or decoded records with a directory index (after a save, or where
/// the file cannot be mapped).
#[derive(Debug, Default)]
pub(crate) enum Base {
  /// No entries.
  #[default]
  Empty,
  /// Decoded records.
  Owned {
    recs: Vec<(Key, StatEntry)>,
    /// dir_key → (start, len) in `recs`.
    dirs: HashMap<u64, (u32, u32), Build>,
  },
  /// The validated file, mapped read-only; `count` records start at [`HEADER_LEN`].
  Mapped { map: memmap2::Mmap, count: usize },
}

/// The entries of one directory in a [`Base`].
#[derive(Clone, Copy)]
pub(crate) enum DirRecs<'a> {
  Owned(&'a [(Key, StatEntry)]),
  /// The directory's records, `RECORD_LEN` bytes each.
  Mapped(&'a [u8]),
}

impl DirRecs<'_> {
  fn is_empty(&self) -> bool {
    match self {
      DirRecs::Owned(r) => r.is_empty(),
      DirRecs::Mapped(b) => b.is_empty(),
    }
  }

  /// The entry of file `name` (see [`name_key`]).
  fn find(&self, name: u64) -> Option<StatEntry> {
    match self {
      DirRecs::Owned(r) => r.binary_search_by_key(&name, |r| r.0 .1).ok().map(|i| r[i].1),
      DirRecs::Mapped(b) => {
        let n = b.len() / RECORD_LEN;
        let i = partition(n, |i| le_u64(&b[i * RECORD_LEN + 8..]) < name);
        let r = b.get(i * RECORD_LEN..(i + 1) * RECORD_LEN)?;
        (le_u64(&r[8..]) == name).then(|| decode(r).1)
      }
    }
  }
}

/// The first index in `0..n` for which `before` is false (`before` holds for a prefix).
fn partition(n: usize, before: impl Fn(usize) -> bool) -> usize {
  let (mut lo, mut hi) = (0, n);
  while lo < hi {
    let mid = lo + (hi - lo) / 2;
    if before(mid) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  lo
}

/// The first index `i < n` with `at(i) >= key` (or `n`), for ascending `at`. Directory keys are
/// hashes, spread evenly: a few interpolation steps land next to the answer (about log log n
/// probes of the mapped file instead of log n), then bisection finishes.
fn lower_bound_interpolated(n: usize, key: u64, at: impl Fn(usize) -> u64) -> usize {
  let (mut lo, mut hi) = (0usize, n);
  let mut guesses = 0;
  while lo < hi {
    let i = if guesses < 4 {
      guesses += 1;
      let (first, last) = (at(lo), at(hi - 1));
      if key <= first {
        return lo;
      }
      if key > last {
        return hi;
      }
      // first < key <= last: a guess in [lo, hi - 1].
      let frac = u128::from(key - first) * (hi - 1 - lo) as u128 / u128::from(last - first);
      lo + frac as usize
    } else {
      lo + (hi - lo) / 2
    };
    if at(i) < key {
      lo = i + 1;
    } else {
      hi = i;
    }
  }
  lo
}

/// The end of the run of `key` that starts at `start` (`at(start) >= key`): gallops, then
/// bisects (a directory's records are few).
fn run_end(n: usize, start: usize, key: u64, at: impl Fn(usize) -> u64) -> usize {
  let mut step = 1;
  let mut lo = start;
  while lo + step <= n && at(lo + step - 1) <= key {
    lo += step;
    step *= 2;
  }
  let hi = (lo + step).min(n);
  lo + partition(hi - lo, |i| at(lo + i) <= key)
}

impl Base {
  fn from_sorted(recs: Vec<(Key, StatEntry)>) -> Base {
    let mut dirs: HashMap<u64, (u32, u32), Build> = HashMap::default();
    let mut i = 0;
    while i < recs.len() {
      let d = recs[i].0 .0;
      let start = i;
      while i < recs.len() && recs[i].0 .0 == d {
        i += 1;
      }
      dirs.insert(d, (start as u32, (i - start) as u32));
    }
    Base::Owned { recs, dirs }
  }

  fn len(&self) -> usize {
    match self {
      Base::Empty => 0,
      Base::Owned { recs, .. } => recs.len(),
      Base::Mapped { count, .. } => *count,
    }
  }

  fn mapped_records(map: &memmap2::Mmap, count: usize) -> &[u8] {
    &map[HEADER_LEN..HEADER_LEN + count * RECORD_LEN]
  }

  fn dir(&self, dir: u64) -> DirRecs<'_> {
    match self {
      Base::Empty => DirRecs::Owned(&[]),
      Base::Owned { recs, dirs } => DirRecs::Owned(match dirs.get(&dir) {
        Some(&(start, len)) => recs.get(start as usize..(start + len) as usize).unwrap_or(&[]),
        None => &[],
      }),
      Base::Mapped { map, count } => {
        let b = Base::mapped_records(map, *count);
        let dir_at = |i: usize| le_u64(&b[i * RECORD_LEN..]);
        let start = lower_bound_interpolated(*count, dir, dir_at);
        let end = run_end(*count, start, dir, dir_at);
        DirRecs::Mapped(&b[start * RECORD_LEN..end * RECORD_LEN])
      }
    }
  }

  /// Every entry, decoded, in key order.
  fn entries(&self) -> Box<dyn Iterator<Item = (Key, StatEntry)> + '_> {
    match self {
      Base::Empty => Box::new(std::iter::empty()),
      Base::Owned { recs, .. } => Box::new(recs.iter().copied()),
      Base::Mapped { map, count } => {
        Box::new(Base::mapped_records(map, *count).chunks_exact(RECORD_LEN).map(decode))
      }
    }
  }
}

/// Entries added since the last load/save.
pub(crate) type Overlay = HashMap<Key, StatEntry, Build>;

/// Result of a lookup.
pub(crate) enum Lookup {
  /// Trusted digest; `true` when the entry's last-seen day should be refreshed.
  Hit(Digest, bool),
  Miss,
}

/// An immutable view of the cache used by one walk (lock-free lookups from many threads).
#[derive(Clone, Debug)]
pub(crate) struct Snapshot {
  base: Arc<Base>,
  overlay: Arc<Overlay>,
  threshold_ns: i64,
  today: u32,
}

/// The entries of one directory, looked up once per directory by the walk.
pub(crate) struct DirView<'a> {
  snap: &'a Snapshot,
  dir: u64,
  base: DirRecs<'a>,
}

impl Snapshot {
  /// The view of directory `dir` (see [`dir_key`]).
  pub(crate) fn dir(&self, dir: u64) -> DirView<'_> {
    DirView { snap: self, dir, base: self.base.dir(dir) }
  }
}

impl DirView<'_> {
  /// True when nothing is cached for this directory.
  pub(crate) fn is_empty(&self) -> bool {
    self.base.is_empty() && self.snap.overlay.is_empty()
  }

  /// The full key of file `name` in this directory.
  pub(crate) fn key(&self, name: u64) -> Key {
    (self.dir, name)
  }

  /// The cached digest of file `name` (see [`name_key`]) if its stat matches and it is not racy.
  pub(crate) fn lookup(&self, name: u64, stat: &FileStat) -> Lookup {
    let s = self.snap;
    let e = if s.overlay.is_empty() { None } else { s.overlay.get(&(self.dir, name)).copied() };
    match e.or_else(|| self.base.find(name)) {
      Some(e) if !e.fresh && e.stat == *stat && e.stat.mtime_ns < s.threshold_ns => {
        Lookup::Hit(e.digest, e.seen_day != s.today)
      }
      _ => Lookup::Miss,
    }
  }
}

#[derive(Debug)]
struct Inner {
  base: Arc<Base>,
  overlay: Arc<Overlay>,
  /// mtime of the stat cache file when it was loaded or last saved; `i64::MIN` if none.
  threshold_ns: i64,
  /// Entries of `base` looked up on a day after their last-seen day (refreshed on save).
  touched: std::collections::HashSet<Key, Build>,
  dirty: bool,
}

/// The result of [`StatCache::check_file`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileCheck {
  /// Nothing at the path.
  Missing,
  /// The file holds the expected bytes; `by_stat` when the stat cache vouched for it unread.
  Matches {
    /// Known from the stat cache without reading the file.
    by_stat: bool,
  },
  /// Not a regular file, or another size or contents.
  Differs {
    /// The size found.
    size: u64,
    /// The digest of the contents, when they were read.
    actual: Option<Digest>,
  },
}

/// A persistent path → (stat → digest) table shared by all tasks of a build.
#[derive(Debug)]
pub struct StatCache {
  path: PathBuf,
  inner: RwLock<Inner>,
  load_note: Option<String>,
  /// Stats of the files walked in this process, when asked for ([`StatCache::observing`]).
  observed: Option<std::sync::Mutex<Vec<(Key, FileStat)>>>,
}

/// The stats walks took of the regular files they listed (see [`StatCache::observing`]), to
/// answer "what did this file look like when the build read it" without another `lstat`.
#[derive(Debug, Clone, Default)]
pub struct Observed(Arc<Vec<(Key, FileStat)>>);

impl Observed {
  /// The table of `recs` in the order they were taken: sorted by key, the latest stat of a file
  /// taken twice.
  pub(crate) fn from_records(mut recs: Vec<(Key, FileStat)>) -> Observed {
    // Stable sort keeps walk order within a key; the last of each run is the latest stat.
    recs.sort_by_key(|r| r.0);
    let mut out: Vec<(Key, FileStat)> = Vec::with_capacity(recs.len());
    for r in recs {
      match out.last_mut() {
        Some(last) if last.0 == r.0 => *last = r,
        _ => out.push(r),
      }
    }
    Observed(Arc::new(out))
  }

  /// The records, sorted by key.
  pub(crate) fn records(&self) -> &[(Key, FileStat)] {
    &self.0
  }

  /// This table with the stat of `name` in `dir` set to `stat` (added if absent).
  pub(crate) fn with(&self, dir: &str, name: &str, stat: FileStat) -> Observed {
    let key = (dir_key(dir), name_key(name));
    let mut v = Vec::clone(&self.0);
    match v.binary_search_by_key(&key, |r| r.0) {
      Ok(i) => v[i].1 = stat,
      Err(i) => v.insert(i, (key, stat)),
    }
    Observed(Arc::new(v))
  }

  /// The stat a walk took of the regular file `name` in directory `dir` (an absolute,
  /// canonical path, as walks resolve their roots), if one did.
  pub fn get(&self, dir: &str, name: &str) -> Option<FileStat> {
    self.get_key((dir_key(dir), name_key(name)))
  }

  pub(crate) fn get_key(&self, key: Key) -> Option<FileStat> {
    self.0.binary_search_by_key(&key, |r| r.0).ok().map(|i| self.0[i].1)
  }

  /// How many files were observed.
  pub fn len(&self) -> usize {
    self.0.len()
  }

  /// Whether no file was observed.
  pub fn is_empty(&self) -> bool {
    self.0.is_empty()
  }

  /// A lookup for many files in path order: a directory's records are found once for its
  /// files (they are adjacent, sorted by key), then each file among them.
  pub fn lookup(&self) -> ObservedLookup<'_> {
    ObservedLookup { observed: self, dir: None, records: &[] }
  }
}

/// See [`Observed::lookup`].
#[derive(Debug)]
pub struct ObservedLookup<'a> {
  observed: &'a Observed,
  /// The directory of `records`.
  dir: Option<String>,
  /// The observed records of `dir`.
  records: &'a [(Key, FileStat)],
}

impl ObservedLookup<'_> {
  /// As [`Observed::get`].
  pub fn get(&mut self, dir: &str, name: &str) -> Option<FileStat> {
    if self.dir.as_deref() != Some(dir) {
      let all = self.observed.0.as_slice();
      let dk = dir_key(dir);
      let lo = all.partition_point(|r| r.0 .0 < dk);
      let len = all[lo..].partition_point(|r| r.0 .0 == dk);
      self.records = &all[lo..lo + len];
      self.dir = Some(dir.to_string());
    }
    let nk = name_key(name);
    self.records.binary_search_by_key(&nk, |r| r.0 .1).ok().map(|i| self.records[i].1)
  }
}

impl std::fmt::Debug for IdentityHasher {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    f.write_str("IdentityHasher")
  }
}

impl StatCache {
  /// An empty cache that will be saved to `path`.
  pub fn empty(path: impl Into<PathBuf>) -> StatCache {
    StatCache {
      path: path.into(),
      inner: RwLock::new(Inner {
        base: Arc::default(),
        overlay: Arc::default(),
        threshold_ns: i64::MIN,
        touched: Default::default(),
        dirty: false,
      }),
      load_note: None,
      observed: None,
    }
  }

  /// From now on, keeps the stat of every regular file a walk lists (for
  /// [`StatCache::take_observed`]).
  /// For one build's cache, not a long-lived one: the table only grows.
  pub fn observing(mut self) -> StatCache {
    self.observed = Some(std::sync::Mutex::new(Vec::new()));
    self
  }

  /// Whether walks keep their stats here.
  pub(crate) fn is_observing(&self) -> bool {
    self.observed.is_some()
  }

  /// Adds the stats of one walk.
  pub(crate) fn observe(&self, recs: Vec<(Key, FileStat)>) {
    if let Some(Ok(mut o)) = self.observed.as_ref().map(|m| m.lock()) {
      o.extend(recs);
    }
  }

  /// Takes the stats walks took so far (the latest one of a file walked twice); the table starts
  /// over empty.
  pub fn take_observed(&self) -> Observed {
    let Some(Ok(mut o)) = self.observed.as_ref().map(|m| m.lock()) else {
      return Observed::default();
    };
    let recs = std::mem::take(&mut *o);
    drop(o);
    Observed::from_records(recs)
  }

  /// Loads the cache from `path`. Never fails: a missing file gives an empty cache, and an
  /// unreadable, truncated or corrupt one gives an empty cache plus a [`StatCache::load_note`].
  pub fn load(path: impl Into<PathBuf>) -> StatCache {
    let path = path.into();
    let mut cache = StatCache::empty(path.clone());
    let file = match fs::File::open(&path) {
      Ok(f) => f,
      Err(e) if e.kind() == io::ErrorKind::NotFound => return cache,
      Err(e) => {
        cache.load_note =
          Some(format!("stat cache {} unreadable ({e}); starting empty", path.display()));
        return cache;
      }
    };
    let threshold_ns = match file.metadata() {
      Ok(m) => modified_ns(&m),
      Err(_) => return cache,
    };
    match map_or_read(&file) {
      Ok(base) => {
        if let Ok(mut inner) = cache.inner.write() {
          inner.base = Arc::new(base);
          inner.threshold_ns = threshold_ns;
        }
      }
      Err(why) => {
        cache.load_note =
          Some(format!("stat cache {} is invalid ({why}); starting empty", path.display()))
      }
    }
    cache
  }

  /// Why the cache started empty although a file existed, if it did (for a warning).
  pub fn load_note(&self) -> Option<&str> {
    self.load_note.as_deref()
  }

  /// The file this cache loads from and saves to.
  pub fn path(&self) -> &Path {
    &self.path
  }

  /// Number of entries.
  pub fn len(&self) -> usize {
    self
      .inner
      .read()
      .map(|i| {
        let new = i.overlay.keys().filter(|k| i.base.dir(k.0).find(k.1).is_none());
        i.base.len() + new.count()
      })
      .unwrap_or(0)
  }

  /// True when there are no entries.
  pub fn is_empty(&self) -> bool {
    self.len() == 0
  }

  pub(crate) fn snapshot(&self) -> Snapshot {
    match self.inner.read() {
      Ok(i) => Snapshot {
        base: Arc::clone(&i.base),
        overlay: Arc::clone(&i.overlay),
        threshold_ns: i.threshold_ns,
        today: today(),
      },
      Err(_) => Snapshot {
        base: Arc::default(),
        overlay: Arc::default(),
        threshold_ns: i64::MIN,
        today: today(),
      },
    }
  }

  /// The digest recorded for the file at `path` if `meta` (its current `lstat`) matches the
  /// recorded stat and the entry is not racy. Used for outputs: a restore skips reading files the
  /// cache already knows.
  pub fn known_digest(&self, path: &Path, meta: &Metadata) -> Option<Digest> {
    let (dir, name) = (path.parent()?.to_str()?, path.file_name()?.to_str()?);
    match self.snapshot().dir(dir_key(dir)).lookup(name_key(name), &FileStat::from_metadata(meta)) {
      Lookup::Hit(digest, _) => Some(digest),
      Lookup::Miss => None,
    }
  }

  /// Checks that the regular file at `path` holds `size` bytes with digest `expected`. The stat
  /// cache answers when the file's `lstat` matches a trusted record (nothing is read); otherwise
  /// the file is read and hashed. A file whose stat changed since it was recorded is always
  /// re-hashed. Callers record what they verified with [`StatCache::record_files`], in one batch.
  pub fn check_file(&self, path: &Path, expected: Digest, size: u64) -> io::Result<FileCheck> {
    let meta = match fs::symlink_metadata(path) {
      Ok(m) => m,
      Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(FileCheck::Missing),
      Err(e) => return Err(e),
    };
    if !meta.is_file() {
      return Ok(FileCheck::Differs { size: meta.len(), actual: None });
    }
    if meta.len() != size {
      return Ok(FileCheck::Differs { size: meta.len(), actual: None });
    }
    if self.known_digest(path, &meta) == Some(expected) {
      return Ok(FileCheck::Matches { by_stat: true });
    }
    let (actual, n) = super::digest::hash_file(path)?;
    if actual == expected && n == size {
      Ok(FileCheck::Matches { by_stat: false })
    } else {
      Ok(FileCheck::Differs { size: n, actual: Some(actual) })
    }
  }

  /// Records files whose digest is known (outputs just written or verified), in one update.
  pub fn record_files(&self, files: &[(PathBuf, Digest)]) {
    let inserted: Vec<(Key, FileStat, Digest)> = files
      .iter()
      .filter_map(|(path, digest)| {
        let (dir, name) = (path.parent()?.to_str()?, path.file_name()?.to_str()?);
        let meta = std::fs::symlink_metadata(path).ok().filter(|m| m.is_file())?;
        Some(((dir_key(dir), name_key(name)), FileStat::from_metadata(&meta), *digest))
      })
      .collect();
    self.update(inserted, Vec::new());
  }

  /// Records freshly hashed files and refreshes the last-seen day of hits (called after a
  /// walk, once its snapshot is dropped).
  pub(crate) fn update(&self, inserted: Vec<(Key, FileStat, Digest)>, seen: Vec<Key>) {
    if inserted.is_empty() && seen.is_empty() {
      return;
    }
    let day = today();
    if let Ok(mut inner) = self.inner.write() {
      let inner = &mut *inner;
      if !inserted.is_empty() {
        let overlay = Arc::make_mut(&mut inner.overlay);
        overlay.reserve(inserted.len());
        for (key, stat, digest) in inserted {
          overlay.insert(key, StatEntry { stat, digest, seen_day: day, fresh: true });
        }
      }
      if !seen.is_empty() {
        let overlay = Arc::make_mut(&mut inner.overlay);
        for key in seen {
          match overlay.get_mut(&key) {
            Some(e) => e.seen_day = day,
            None => {
              inner.touched.insert(key);
            }
          }
        }
      }
      inner.dirty = true;
    }
  }

  /// Writes the cache atomically (temp file + rename) if anything changed since load/save,
  /// then adopts the new file's mtime as the racy-timestamp reference.
  pub fn save(&self) -> Result<(), HashError> {
    let mut inner = match self.inner.write() {
      Ok(i) => i,
      Err(_) => return Ok(()),
    };
    if !inner.dirty {
      return Ok(());
    }
    let forget_before = today().saturating_sub(FORGET_AFTER_DAYS);
    let day = today();
    let mut merged: Vec<(Key, StatEntry)> =
      Vec::with_capacity(inner.base.len() + inner.overlay.len());
    merged.extend(inner.overlay.iter().map(|(k, e)| (*k, StatEntry { fresh: false, ..*e })));
    merged.extend(inner.base.entries().filter(|(k, _)| !inner.overlay.contains_key(k)).map(
      |(k, e)| {
        let seen_day = if inner.touched.contains(&k) { day } else { e.seen_day };
        (k, StatEntry { seen_day, ..e })
      },
    ));
    merged.retain(|(_, e)| e.seen_day >= forget_before);
    merged.sort_unstable_by_key(|r| r.0);
    if let Some(dir) = self.path.parent() {
      if !dir.as_os_str().is_empty() {
        fs::create_dir_all(dir).map_err(|e| HashError::io("creating directory", dir, e))?;
      }
    }
    let tmp = tmp_path(&self.path);
    let write = || -> io::Result<()> {
      let mut f = io::BufWriter::with_capacity(1 << 16, fs::File::create(&tmp)?);
      write_records(&mut f, &merged)?;
      f.into_inner().map_err(io::IntoInnerError::into_error)?;
      fs::rename(&tmp, &self.path)
    };
    if let Err(e) = write() {
      let _ = fs::remove_file(&tmp);
      return Err(HashError::io("writing stat cache", &self.path, e));
    }
    let meta = fs::metadata(&self.path).map_err(|e| HashError::io("stat of", &self.path, e))?;
    inner.threshold_ns = modified_ns(&meta);
    inner.base = Arc::new(Base::from_sorted(merged));
    inner.overlay = Arc::default();
    inner.touched.clear();
    inner.dirty = false;
    Ok(())
  }
}

fn tmp_path(path: &Path) -> PathBuf {
  let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
  name.push(format!(".tmp.{}", std::process::id()));
  path.with_file_name(name)
}

/// The file's bytes for `recs` (sorted by key).
#[cfg(test)]
fn serialize(recs: &[(Key, StatEntry)]) -> Vec<u8> {
  let mut out = Vec::with_capacity(HEADER_LEN + recs.len() * RECORD_LEN + 8);
  write_records(&mut out, recs).expect("writing to memory");
  out
}

/// Writes the file format of `recs` (sorted by key) to `w` as it goes: header, records, then the
/// checksum of both (no copy of the file in memory).
fn write_records(w: &mut impl Write, recs: &[(Key, StatEntry)]) -> io::Result<()> {
  let mut sum = xxhash_rust::xxh3::Xxh3Default::new();
  let mut header = [0u8; HEADER_LEN];
  header[..8].copy_from_slice(MAGIC);
  header[8..12].copy_from_slice(&VERSION.to_le_bytes());
  header[16..24].copy_from_slice(&(recs.len() as u64).to_le_bytes());
  sum.update(&header);
  w.write_all(&header)?;
  for ((d, n), e) in recs {
    let mut r = [0u8; RECORD_LEN];
    r[..8].copy_from_slice(&d.to_le_bytes());
    r[8..16].copy_from_slice(&n.to_le_bytes());
    r[16..24].copy_from_slice(&e.stat.size.to_le_bytes());
    r[24..32].copy_from_slice(&e.stat.mtime_ns.to_le_bytes());
    r[32..40].copy_from_slice(&e.stat.ctime_ns.to_le_bytes());
    r[40..48].copy_from_slice(&e.stat.inode.to_le_bytes());
    r[48..52].copy_from_slice(&e.seen_day.to_le_bytes());
    r[56..72].copy_from_slice(&e.digest.0.to_le_bytes());
    sum.update(&r);
    w.write_all(&r)?;
  }
  w.write_all(&sum.digest().to_le_bytes())
}

fn le_u64(b: &[u8]) -> u64 {
  let mut a = [0u8; 8];
  a.copy_from_slice(&b[..8]);
  u64::from_le_bytes(a)
}

/// Checks a whole stat cache file (checksum, magic, version, size, order) and returns its count.
fn validate(bytes: &[u8]) -> Result<usize, &'static str> {
  if bytes.len() < HEADER_LEN + 8 {
    return Err("truncated");
  }
  let (body, sum) = bytes.split_at(bytes.len() - 8);
  if xxh3_64(body) != le_u64(sum) {
    return Err("checksum mismatch");
  }
  if &body[..8] != MAGIC {
    return Err("bad magic");
  }
  if body[8..12] != VERSION.to_le_bytes() {
    return Err("unsupported version");
  }
  let count = le_u64(&body[16..24]);
  let records = &body[HEADER_LEN..];
  if records.len() % RECORD_LEN != 0 || (records.len() / RECORD_LEN) as u64 != count {
    return Err("entry count does not match file size");
  }
  let mut prev: Option<Key> = None;
  for r in records.chunks_exact(RECORD_LEN) {
    let key = (le_u64(r), le_u64(&r[8..]));
    if prev.is_some_and(|p| p >= key) {
      return Err("records not sorted");
    }
    prev = Some(key);
  }
  Ok(count as usize)
}

/// One 72-byte record.
fn decode(r: &[u8]) -> (Key, StatEntry) {
  let mut d = [0u8; 16];
  d.copy_from_slice(&r[56..72]);
  let mut day = [0u8; 4];
  day.copy_from_slice(&r[48..52]);
  let stat = FileStat {
    size: le_u64(&r[16..]),
    mtime_ns: le_u64(&r[24..]) as i64,
    ctime_ns: le_u64(&r[32..]) as i64,
    inode: le_u64(&r[40..]),
  };
  let digest = Digest(u128::from_le_bytes(d));
  (
    (le_u64(r), le_u64(&r[8..])),
    StatEntry { stat, digest, seen_day: u32::from_le_bytes(day), fresh: false },
  )
}

/// Decodes a whole stat cache file.
fn parse(bytes: &[u8]) -> Result<Base, &'static str> {
  let count = validate(bytes)?;
  let records = &bytes[HEADER_LEN..HEADER_LEN + count * RECORD_LEN];
  Ok(Base::from_sorted(records.chunks_exact(RECORD_LEN).map(decode).collect()))
}

/// The file mapped read-only once validated (nothing is decoded until looked up); read and
/// decoded where it cannot be mapped. farm replaces the file by rename, never in place, so a
/// mapping never sees it change; another program truncating it in place during a build would.
fn map_or_read(file: &fs::File) -> Result<Base, String> {
  // SAFETY: the mapping is read-only and only read through slices checked against its length;
  // see above for the one way its contents can change under it.
  match unsafe { memmap2::Mmap::map(file) } {
    Ok(map) => {
      let count = validate(&map)?;
      Ok(Base::Mapped { map, count })
    }
    Err(_) => {
      let mut bytes = Vec::new();
      io::Read::read_to_end(&mut &*file, &mut bytes).map_err(|e| e.to_string())?;
      parse(&bytes).map_err(str::to_string)
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn entry(size: u64, seen_day: u32) -> StatEntry {
    let stat = FileStat { size, mtime_ns: 1_000, ctime_ns: 1_000, inode: size };
    StatEntry { stat, digest: Digest(u128::from(size)), seen_day, fresh: false }
  }

  /// A saved file of `recs` (sorted by key), as an earlier build would have left it.
  fn saved(dir: &Path, recs: &[(Key, StatEntry)]) -> PathBuf {
    let path = dir.join("stat-cache.bin");
    fs::write(&path, serialize(recs)).unwrap();
    path
  }

  #[test]
  fn a_loaded_file_is_mapped_and_answers_every_lookup_as_decoded_records_do() {
    let dir = tempfile::tempdir().unwrap();
    let today = today();
    // Three directories, a few files each, keys sorted.
    let recs: Vec<(Key, StatEntry)> = (1..=3u64)
      .flat_map(|d| (1..=4u64).map(move |n| ((d * 10, n * 7), entry(d * 100 + n, today))))
      .collect();
    let path = saved(dir.path(), &recs);
    let sc = StatCache::load(&path);
    assert!(sc.load_note().is_none());
    let snap = sc.snapshot();
    assert!(matches!(&*snap.base, Base::Mapped { count: 12, .. }), "{:?}", snap.base);
    let owned = parse(&fs::read(&path).unwrap()).unwrap();
    for d in [0u64, 10, 15, 20, 30, 40] {
      let (m, o) = (snap.base.dir(d), owned.dir(d));
      assert_eq!(m.is_empty(), o.is_empty(), "dir {d}");
      for n in 0..40u64 {
        let (a, b) = (m.find(n), o.find(n));
        assert_eq!(
          a.map(|e| (e.stat, e.digest)),
          b.map(|e| (e.stat, e.digest)),
          "dir {d} name {n}"
        );
      }
    }
    // Through the public lookup: a recorded stat is a hit (the file is older than the cache).
    let (key, e) = recs[5];
    assert!(
      matches!(snap.dir(key.0).lookup(key.1, &e.stat), Lookup::Hit(d, false) if d == e.digest)
    );
    let other = FileStat { size: 1, ..e.stat };
    assert!(matches!(snap.dir(key.0).lookup(key.1, &other), Lookup::Miss));
    assert_eq!(sc.len(), 12);
    drop(snap);
    // A save with nothing changed writes nothing; a new entry makes it decoded records.
    sc.save().unwrap();
    assert!(matches!(&*sc.snapshot().base, Base::Mapped { .. }));
    sc.update(vec![((10, 1), entry(9, today).stat, Digest(9))], Vec::new());
    sc.save().unwrap();
    assert_eq!(StatCache::load(&path).len(), 13);
  }

  #[test]
  fn looked_up_entries_get_todays_day_on_save_and_forgotten_ones_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let today = today();
    let old = today - FORGET_AFTER_DAYS - 1;
    let recs =
      vec![((1, 1), entry(1, old)), ((1, 2), entry(2, old)), ((2, 1), entry(3, today - 1))];
    let path = saved(dir.path(), &recs);
    let sc = StatCache::load(&path);
    let snap = sc.snapshot();
    // A lookup of an entry last seen before today says so, and the walk reports it.
    assert!(matches!(snap.dir(1).lookup(1, &recs[0].1.stat), Lookup::Hit(_, true)));
    drop(snap);
    sc.update(Vec::new(), vec![(1, 1)]);
    sc.save().unwrap();
    let reloaded = StatCache::load(&path);
    let snap = reloaded.snapshot();
    assert_eq!(snap.base.dir(1).find(1).map(|e| e.seen_day), Some(today), "touched today");
    assert!(snap.base.dir(1).find(2).is_none(), "not seen for too long: dropped");
    assert_eq!(snap.base.dir(2).find(1).map(|e| e.seen_day), Some(today - 1), "kept as it was");
    assert_eq!(reloaded.len(), 2);
  }

  #[test]
  fn a_damaged_file_is_ignored_whether_mapped_or_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = saved(dir.path(), &[((1, 1), entry(1, today()))]);
    let mut bytes = fs::read(&path).unwrap();
    bytes[HEADER_LEN + 20] ^= 1;
    fs::write(&path, &bytes).unwrap();
    let sc = StatCache::load(&path);
    assert!(sc.load_note().is_some_and(|n| n.contains("checksum")), "{:?}", sc.load_note());
    assert!(sc.is_empty());
    fs::write(&path, b"").unwrap();
    let sc = StatCache::load(&path);
    assert!(sc.load_note().is_some_and(|n| n.contains("truncated")), "{:?}", sc.load_note());
  }
}

#[cfg(test)]
mod search_tests {
  use super::{lower_bound_interpolated, partition, run_end};

  /// Against bisection, on sorted keys with runs (files of one directory share its key), empty
  /// input, keys before, between and after the present ones, and skewed distributions; the seed
  /// is printed.
  #[test]
  fn interpolated_search_finds_what_bisection_finds() {
    let seed =
      std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
        | 1;
    eprintln!("interpolated_search_finds_what_bisection_finds: seed {seed}");
    let mut x = seed;
    let mut next = move || {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      x
    };
    for round in 0..200 {
      let n = (next() % 300) as usize;
      let mut keys: Vec<u64> = (0..n)
        .map(|_| match round % 3 {
          0 => next(),
          1 => next() % 40,
          _ => next() >> (next() % 64),
        })
        .collect();
      // Runs: repeat some keys.
      for i in 1..keys.len() {
        if next() % 3 == 0 {
          keys[i] = keys[i - 1];
        }
      }
      keys.sort_unstable();
      let at = |i: usize| keys[i];
      let mut probes: Vec<u64> = keys.clone();
      probes.extend([0, 1, u64::MAX, u64::MAX - 1, next(), next() % 40]);
      for k in probes {
        let want_start = partition(n, |i| keys[i] < k);
        let want_end = partition(n, |i| keys[i] <= k);
        let start = lower_bound_interpolated(n, k, at);
        assert_eq!(start, want_start, "seed {seed} round {round} key {k}");
        assert_eq!(run_end(n, start, k, at), want_end, "seed {seed} round {round} key {k}");
      }
    }
  }
}
