//! Parallel input walk: globs + ignore rules → sorted `(relative path, digest)` list.
//!
//! The walk is jwalk on the rayon pool. Per directory, in parallel, it prunes subdirectories
//! that are ignored (always `.git` and `node_modules`, the spec's `ignore_dirs`, `.gitignore`
//! rules) or that no glob can reach, then `lstat`s matching files and hashes those the stat
//! cache cannot vouch for. Symlinks are not followed; a matching symlink is hashed as its
//! target string (like git).

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use globset::{Glob, GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::Match;
use jwalk::WalkDirGeneric;
use serde::{Deserialize, Serialize};

use super::digest::{hash_open_file, Digest};
use super::error::HashError;
use super::stat_cache::{dir_key, name_key, DirView, FileStat, Key, Lookup, Snapshot, StatCache};

/// Directory names never descended into, wherever they appear.
pub const ALWAYS_IGNORED_DIRS: &[&str] = &[".git", "node_modules"];

/// What a task reads: globs relative to `root`, plus directories to skip.
#[derive(Clone, Debug, Default)]
pub struct InputSpec {
  /// Directory the globs are relative to (a task's `cwd`). Reported paths are relative to it.
  pub root: PathBuf,
  /// Globs over `/`-separated relative file paths (`*` stays within one path component, `**`
  /// crosses them, `{a,b}` alternatives). A glob starting with `!` excludes. Order is irrelevant.
  pub globs: Vec<String>,
  /// Directories to prune (absolute, or relative to `root`): the task's output and cache dirs.
  pub ignore_dirs: Vec<PathBuf>,
  /// Apply `.gitignore` files from the enclosing git work tree down to each directory.
  pub use_gitignore: bool,
}

impl InputSpec {
  /// A spec with `.gitignore` handling on and no extra ignored directories.
  pub fn new(root: impl Into<PathBuf>, globs: impl IntoIterator<Item = impl Into<String>>) -> Self {
    InputSpec {
      root: root.into(),
      globs: globs.into_iter().map(Into::into).collect(),
      ignore_dirs: Vec::new(),
      use_gitignore: true,
    }
  }

  /// Adds a directory to prune (builder style).
  pub fn ignore_dir(mut self, dir: impl Into<PathBuf>) -> Self {
    self.ignore_dirs.push(dir.into());
    self
  }
}

/// One input file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InputFile {
  /// Path relative to the spec's root, `/`-separated.
  pub path: String,
  /// xxh3-128 of the contents (of the target string for a symlink).
  pub hash: Digest,
}

/// Counters describing one walk (for logs, profiles and tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HashStats {
  /// Input files found.
  pub files: u64,
  /// Files whose contents were read and hashed.
  pub files_read: u64,
  /// Bytes read while hashing.
  pub bytes_read: u64,
  /// Files whose digest came from the stat cache.
  pub stat_cache_hits: u64,
}

/// The inputs of a task, sorted by path (byte order), with walk counters.
#[derive(Clone, Debug, Default)]
pub struct InputSet {
  /// Files, sorted by `path`, no duplicates.
  pub files: Vec<InputFile>,
  /// How the set was obtained.
  pub stats: HashStats,
}

/// Matches globs per path component, to decide whether a directory can contain matches.
#[derive(Debug)]
pub(crate) struct Pruner {
  /// Per include glob: its components, `None` for `**`; `None` overall = may match anywhere.
  globs: Vec<Option<Vec<Option<GlobMatcher>>>>,
}

impl Pruner {
  pub(crate) fn new(includes: &[&str]) -> Pruner {
    let globs = includes
      .iter()
      .map(|g| {
        // A brace group containing '/' cannot be split per component: never prune for it.
        let mut depth = 0i32;
        for ch in g.chars() {
          match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            '/' if depth > 0 => return None,
            _ => {}
          }
        }
        let mut comps = Vec::new();
        for c in g.trim_start_matches("./").split('/').filter(|c| !c.is_empty()) {
          if c == "**" {
            comps.push(None);
          } else {
            comps.push(Some(Glob::new(c).ok()?.compile_matcher()));
          }
        }
        Some(comps)
      })
      .collect();
    Pruner { globs }
  }

  /// Can a file strictly below directory `rel_dir` (components) match some include glob?
  pub(crate) fn may_contain(&self, rel_dir: &[&str]) -> bool {
    self.globs.iter().any(|g| match g {
      None => true,
      Some(comps) => {
        for (i, d) in rel_dir.iter().enumerate() {
          match comps.get(i) {
            None => return false,
            Some(None) => return true,
            // The last component names the file itself, not a directory.
            Some(Some(_)) if i + 1 == comps.len() => return false,
            Some(Some(m)) => {
              if !m.is_match(d) {
                return false;
              }
            }
          }
        }
        comps.len() > rel_dir.len()
      }
    })
  }
}

/// Everything the per-directory callback needs, shared across threads.
#[derive(Debug)]
struct WalkCtx {
  root_str: String,
  include: GlobSet,
  /// Some include glob is `**`: every file matches, skip the matcher.
  match_all: bool,
  exclude: GlobSet,
  /// Directories (relative paths) that an exclude removes whole.
  exclude_dirs: GlobSet,
  pruner: Pruner,
  ignore_dirs: Vec<String>,
  use_gitignore: bool,
  cache: Snapshot,
}

/// Per-directory state: the `.gitignore` matchers in force, outermost first.
#[derive(Clone, Debug, Default)]
struct DirState(Arc<Vec<Arc<Gitignore>>>);

/// Per-file outcome, produced inside the parallel callback.
#[derive(Debug, Default)]
enum Outcome {
  #[default]
  Skip,
  File {
    rel: String,
    hash: Digest,
    read: Source,
  },
  Err(HashError),
}

/// Sort key of a directory entry: its name, followed by `/` for a directory.
fn sort_key(e: &jwalk::DirEntry<(DirState, Outcome)>) -> SortKey<'_> {
  SortKey(e.file_name.as_encoded_bytes(), e.file_type.is_dir())
}

#[derive(PartialEq, Eq)]
pub(crate) struct SortKey<'a>(pub(crate) &'a [u8], pub(crate) bool);

impl PartialOrd for SortKey<'_> {
  fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
    Some(self.cmp(other))
  }
}

impl Ord for SortKey<'_> {
  fn cmp(&self, other: &Self) -> std::cmp::Ordering {
    let n = self.0.len().min(other.0.len());
    match self.0[..n].cmp(&other.0[..n]) {
      std::cmp::Ordering::Equal => {
        // One name is a prefix of the other: compare what follows, a directory adding '/'.
        let slash = |dir: bool| if dir { &b"/"[..] } else { &b""[..] };
        let a = self.0[n..].iter().chain(slash(self.1));
        let b = other.0[n..].iter().chain(slash(other.1));
        a.cmp(b)
      }
      unequal => unequal,
    }
  }
}

/// Where a file's digest came from.
#[derive(Debug)]
enum Source {
  /// Read and hashed: bytes read, stat cache key, stat taken before reading.
  Read(u64, Key, FileStat),
  /// From the stat cache: its key, the `lstat` that matched, and whether its last-seen day
  /// needs refreshing.
  StatCache(Key, FileStat, bool),
  Link,
}

type Walk = WalkDirGeneric<(DirState, Outcome)>;

/// The parallelism every jwalk walk in this crate uses. jwalk aborts a walk (`ThreadpoolBusy`)
/// when rayon's pool has been busy for its `busy_timeout`, 1 s by default: under load, or with
/// several tasks hashing at once, that turned hashing into a spurious error. No walk runs inside a
/// rayon worker, so waiting for the pool cannot deadlock.
pub fn patient_parallelism() -> jwalk::Parallelism {
  jwalk::Parallelism::RayonDefaultPool { busy_timeout: std::time::Duration::from_secs(24 * 3600) }
}

/// Include globs, exclude globs, the include patterns, and the directories that excludes of the
/// form `!<dir>/**` remove whole (pruned, never walked).
type Globs<'a> = (GlobSet, GlobSet, Vec<&'a str>, GlobSet);

fn build_globs(globs: &[String]) -> Result<Globs<'_>, HashError> {
  let mut inc = GlobSetBuilder::new();
  let mut exc = GlobSetBuilder::new();
  let mut exc_dirs = GlobSetBuilder::new();
  let mut includes = Vec::new();
  for g in globs {
    let (neg, pat) = match g.strip_prefix('!') {
      Some(p) => (true, p),
      None => (false, g.as_str()),
    };
    let pat = pat.trim_start_matches("./");
    let glob = GlobBuilder::new(pat)
      .literal_separator(true)
      .backslash_escape(true)
      .build()
      .map_err(|source| HashError::BadGlob { glob: g.clone(), source })?;
    if neg {
      exc.add(glob);
      if let Some(dir) = pat.strip_suffix("/**").filter(|d| !d.is_empty()) {
        let dir_glob = GlobBuilder::new(dir)
          .literal_separator(true)
          .backslash_escape(true)
          .build()
          .map_err(|source| HashError::BadGlob { glob: g.clone(), source })?;
        exc_dirs.add(dir_glob);
      }
    } else {
      inc.add(glob);
      includes.push(pat);
    }
  }
  let bad = |source| HashError::BadGlob { glob: globs.join(", "), source };
  Ok((
    inc.build().map_err(bad)?,
    exc.build().map_err(bad)?,
    includes,
    exc_dirs.build().map_err(bad)?,
  ))
}

/// `.gitignore` files of the enclosing git work tree above `root` (outermost first).
fn ancestor_gitignores(root: &Path) -> Vec<Arc<Gitignore>> {
  let mut dirs = Vec::new();
  let mut cur = root.parent();
  let mut found_git = root.join(".git").exists();
  while let Some(d) = cur {
    if found_git {
      break;
    }
    dirs.push(d.to_path_buf());
    if d.join(".git").exists() {
      found_git = true;
    }
    cur = d.parent();
  }
  if !found_git {
    return Vec::new();
  }
  dirs.reverse();
  dirs.iter().filter_map(|d| load_gitignore(d)).collect()
}

fn load_gitignore(dir: &Path) -> Option<Arc<Gitignore>> {
  let file = dir.join(".gitignore");
  if !file.is_file() {
    return None;
  }
  let mut b = GitignoreBuilder::new(dir);
  // Malformed lines are skipped (git ignores them too).
  let _ = b.add(&file);
  b.build().ok().filter(|g| !g.is_empty()).map(Arc::new)
}

fn is_ignored(stack: &[Arc<Gitignore>], path: &Path, is_dir: bool) -> bool {
  for gi in stack.iter().rev() {
    match gi.matched(path, is_dir) {
      Match::None => continue,
      Match::Ignore(_) => return true,
      Match::Whitelist(_) => return false,
    }
  }
  false
}

impl WalkCtx {
  fn process_dir(
    &self,
    dir: &Path,
    state: &mut DirState,
    children: &mut Vec<jwalk::Result<jwalk::DirEntry<(DirState, Outcome)>>>,
  ) {
    if self.use_gitignore
      && children.iter().any(|c| c.as_ref().is_ok_and(|c| c.file_name == OsStr::new(".gitignore")))
    {
      if let Some(gi) = load_gitignore(dir) {
        let mut v = (*state.0).clone();
        v.push(gi);
        state.0 = Arc::new(v);
      }
    }
    let stack = &state.0;
    let check_gitignore = self.use_gitignore && !stack.is_empty();
    let Some(dir_str) = dir.to_str() else {
      // A non-UTF-8 directory can only be here if an ancestor glob may match below it.
      for c in children.iter_mut().flatten() {
        c.read_children_path = None;
      }
      children.retain(|c| c.as_ref().is_ok_and(|c| c.file_type.is_dir()));
      if let Some(Ok(c)) = children.first_mut() {
        c.client_state = Outcome::Err(HashError::NonUtf8Path { path: dir.to_path_buf() });
      }
      return;
    };
    let dir_rel = match dir_str.strip_prefix(self.root_str.as_str()) {
      Some(r) => r.trim_start_matches(std::path::is_separator),
      None => "",
    };
    let dir_rel = if std::path::MAIN_SEPARATOR == '/' {
      dir_rel.to_string()
    } else {
      dir_rel.replace('\\', "/")
    };
    let dir_comps: Vec<&str> =
      if dir_rel.is_empty() { Vec::new() } else { dir_rel.split('/').collect() };
    let mut abs = String::with_capacity(dir_str.len() + 64);
    abs.push_str(dir_str);
    if !abs.ends_with(std::path::MAIN_SEPARATOR) {
      abs.push(std::path::MAIN_SEPARATOR);
    }
    let abs_len = abs.len();
    // Sibling order = byte order of full paths when a directory sorts as `name/`: the walk
    // then yields files already sorted, and the final sort is a no-op check.
    children.sort_by(|a, b| match (a, b) {
      (Ok(a), Ok(b)) => sort_key(a).cmp(&sort_key(b)),
      (Ok(_), Err(_)) => std::cmp::Ordering::Less,
      (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
      (Err(_), Err(_)) => std::cmp::Ordering::Equal,
    });
    let dirfd = sys::DirFd::open(dir);
    let dkey = dir_key(abs[..abs_len].trim_end_matches(std::path::MAIN_SEPARATOR));
    let view = self.cache.dir(dkey);
    children.retain_mut(|child| {
      let Ok(child) = child else { return true };
      let ft = child.file_type;
      let Some(name) = child.file_name.to_str() else {
        let lossy = format!("{dir_rel}/{}", child.file_name.to_string_lossy());
        if ft.is_dir() || self.include.is_match(lossy.trim_start_matches('/')) {
          child.client_state =
            Outcome::Err(HashError::NonUtf8Path { path: dir.join(&child.file_name) });
          child.read_children_path = None;
          return true;
        }
        return false;
      };
      abs.truncate(abs_len);
      abs.push_str(name);
      if ft.is_dir() {
        if ALWAYS_IGNORED_DIRS.contains(&name) {
          return false;
        }
        if self.ignore_dirs.iter().any(|d| d.as_str() == abs) {
          return false;
        }
        if check_gitignore && is_ignored(stack, Path::new(&abs), true) {
          return false;
        }
        if !self.exclude_dirs.is_empty() {
          let rel = if dir_rel.is_empty() { name.to_string() } else { format!("{dir_rel}/{name}") };
          if self.exclude_dirs.is_match(&rel) {
            return false;
          }
        }
        let mut comps = dir_comps.clone();
        comps.push(name);
        return self.pruner.may_contain(&comps);
      }
      let mut rel = String::with_capacity(dir_rel.len() + 1 + name.len());
      if !dir_rel.is_empty() {
        rel.push_str(&dir_rel);
        rel.push('/');
      }
      rel.push_str(name);
      if !(self.match_all || self.include.is_match(&rel))
        || (!self.exclude.is_empty() && self.exclude.is_match(&rel))
      {
        return false;
      }
      if check_gitignore && is_ignored(stack, Path::new(&abs), false) {
        return false;
      }
      child.client_state = self.hash_one(rel, &abs, name, dirfd.as_ref(), &view, ft.is_symlink());
      true
    });
  }

  fn hash_one(
    &self,
    rel: String,
    abs: &str,
    name: &str,
    dirfd: Option<&sys::DirFd>,
    view: &DirView<'_>,
    is_symlink: bool,
  ) -> Outcome {
    let path = Path::new(abs);
    if is_symlink {
      return match fs::read_link(path) {
        Ok(target) => {
          let t = target.to_string_lossy();
          let mut bytes = b"symlink\0".to_vec();
          bytes.extend_from_slice(t.as_bytes());
          Outcome::File { rel, hash: Digest::of_bytes(&bytes), read: Source::Link }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Outcome::Skip,
        Err(e) => Outcome::Err(HashError::io("reading symlink", path, e)),
      };
    }
    let nkey = name_key(name);
    let key = view.key(nkey);
    let skip_or_err = |action, e: io::Error| match e.kind() {
      io::ErrorKind::NotFound => Outcome::Skip,
      _ => Outcome::Err(HashError::io(action, path, e)),
    };
    // Nothing cached for this directory: open first and stat the descriptor (no name lookup
    // for the stat). Otherwise stat by name and only open on a miss.
    let (file, stat) = if view.is_empty() {
      match sys::open(dirfd, name, path).and_then(|f| sys::fstat(&f).map(|st| (f, st))) {
        Ok((f, st)) => (f, st),
        Err(e) => return skip_or_err("reading", e),
      }
    } else {
      let stat = match sys::lstat(dirfd, name, path) {
        Ok(s) => s,
        Err(e) => return skip_or_err("stat of", e),
      };
      if let Lookup::Hit(hash, stale_day) = view.lookup(nkey, &stat) {
        return Outcome::File { rel, hash, read: Source::StatCache(key, stat, stale_day) };
      }
      match sys::open(dirfd, name, path) {
        Ok(f) => (f, stat),
        Err(e) => return skip_or_err("reading", e),
      }
    };
    let mut file = file;
    match hash_open_file(&mut file) {
      Ok((hash, n)) => Outcome::File { rel, hash, read: Source::Read(n, key, stat) },
      Err(e) => skip_or_err("reading", e),
    }
  }
}

/// Directory-relative `lstat`/`open` (no per-file path resolution) on Unix; plain paths elsewhere.
mod sys {
  use std::fs::File;
  use std::io;
  use std::path::Path;

  use super::FileStat;

  #[cfg(unix)]
  pub(super) struct DirFd(std::os::fd::OwnedFd);

  #[cfg(not(unix))]
  pub(super) struct DirFd;

  impl DirFd {
    #[cfg(unix)]
    pub(super) fn open(dir: &Path) -> Option<DirFd> {
      use std::os::fd::FromRawFd;
      use std::os::unix::ffi::OsStrExt;
      let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
      // SAFETY: `c` is a valid NUL-terminated string; the returned fd is owned below.
      let fd =
        unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
      if fd < 0 {
        return None;
      }
      // SAFETY: `fd` is a freshly opened descriptor that nothing else owns.
      Some(DirFd(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }))
    }
    #[cfg(not(unix))]
    pub(super) fn open(_dir: &Path) -> Option<DirFd> {
      None
    }
  }

  /// NUL-terminated copy of `name` in a stack buffer (names longer than 255 bytes: heap).
  #[cfg(unix)]
  fn with_cname<T>(name: &str, f: impl FnOnce(*const libc::c_char) -> T) -> io::Result<T> {
    let bytes = name.as_bytes();
    if bytes.contains(&0) {
      return Err(io::Error::new(io::ErrorKind::InvalidInput, "file name contains NUL"));
    }
    let mut buf = [0u8; 256];
    if bytes.len() < buf.len() {
      buf[..bytes.len()].copy_from_slice(bytes);
      Ok(f(buf.as_ptr().cast()))
    } else {
      let c =
        std::ffi::CString::new(bytes).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
      Ok(f(c.as_ptr()))
    }
  }

  /// `lstat` of `name` in `dir` (falls back to `path` without a directory descriptor).
  // The casts are no-ops on 64-bit Linux but not on every Unix.
  #[allow(clippy::unnecessary_cast)]
  pub(super) fn lstat(dir: Option<&DirFd>, name: &str, path: &Path) -> io::Result<FileStat> {
    #[cfg(unix)]
    if let Some(DirFd(fd)) = dir {
      use std::os::fd::AsRawFd;
      let raw = fd.as_raw_fd();
      let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
      // SAFETY: valid dirfd, NUL-terminated name, `st` is written by the call on success.
      let rc = with_cname(name, |c| unsafe {
        libc::fstatat(raw, c, st.as_mut_ptr(), libc::AT_SYMLINK_NOFOLLOW)
      })?;
      if rc != 0 {
        return Err(io::Error::last_os_error());
      }
      // SAFETY: fstatat returned 0, so `st` is initialized.
      let st = unsafe { st.assume_init() };
      return Ok(FileStat {
        size: st.st_size as u64,
        mtime_ns: (st.st_mtime as i64)
          .saturating_mul(1_000_000_000)
          .saturating_add(st.st_mtime_nsec as i64),
        ctime_ns: (st.st_ctime as i64)
          .saturating_mul(1_000_000_000)
          .saturating_add(st.st_ctime_nsec as i64),
        inode: st.st_ino as u64,
      });
    }
    let _ = (dir, name);
    std::fs::symlink_metadata(path).map(|m| FileStat::from_metadata(&m))
  }

  /// `fstat` of an open file, as a [`FileStat`].
  pub(super) fn fstat(file: &File) -> io::Result<FileStat> {
    file.metadata().map(|m| FileStat::from_metadata(&m))
  }

  /// Opens `name` in `dir` for reading without following a symlink (falls back to `path`).
  pub(super) fn open(dir: Option<&DirFd>, name: &str, path: &Path) -> io::Result<File> {
    #[cfg(unix)]
    if let Some(DirFd(fd)) = dir {
      use std::os::fd::{AsRawFd, FromRawFd};
      let raw = fd.as_raw_fd();
      // SAFETY: valid dirfd and NUL-terminated name.
      let f = with_cname(name, |c| unsafe {
        libc::openat(raw, c, libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW)
      })?;
      if f < 0 {
        return Err(io::Error::last_os_error());
      }
      // SAFETY: `f` is a freshly opened descriptor that nothing else owns.
      return Ok(unsafe { File::from_raw_fd(f) });
    }
    let _ = (dir, name);
    File::open(path)
  }
}

/// Walks `spec.root`, hashes every file matched by the globs (using and updating `cache`), and
/// returns them sorted by relative path. Nothing time- or order-dependent is in the result.
///
/// Call [`StatCache::save`] once at the end of the build to persist what was learned.
pub fn hash_inputs(spec: &InputSpec, cache: &StatCache) -> Result<InputSet, HashError> {
  let root =
    fs::canonicalize(&spec.root).map_err(|_| HashError::RootMissing { path: spec.root.clone() })?;
  if !root.is_dir() {
    return Err(HashError::RootMissing { path: spec.root.clone() });
  }
  let (include, exclude, includes, exclude_dirs) = build_globs(&spec.globs)?;
  if includes.is_empty() {
    return Ok(InputSet::default());
  }
  let ignore_dirs = spec
    .ignore_dirs
    .iter()
    .map(|d| {
      let abs = if d.is_absolute() { d.clone() } else { root.join(d) };
      fs::canonicalize(&abs).unwrap_or(abs).to_string_lossy().into_owned()
    })
    .collect();
  let root_str =
    root.to_str().ok_or_else(|| HashError::NonUtf8Path { path: root.clone() })?.to_string();
  let ctx = Arc::new(WalkCtx {
    pruner: Pruner::new(&includes),
    root_str,
    match_all: includes.contains(&"**"),
    include,
    exclude,
    exclude_dirs,
    ignore_dirs,
    use_gitignore: spec.use_gitignore,
    cache: cache.snapshot(),
  });
  let initial = if spec.use_gitignore { ancestor_gitignores(&root) } else { Vec::new() };
  let cb = Arc::clone(&ctx);
  let walk = Walk::new(&root)
    .parallelism(patient_parallelism())
    .skip_hidden(false)
    .follow_links(false)
    .sort(false)
    .root_read_dir_state(DirState(Arc::new(initial)))
    .process_read_dir(move |depth, dir, state, children| {
      // jwalk first presents the root itself as the only child of its parent (depth None).
      if depth.is_some() {
        cb.process_dir(dir, state, children)
      }
    });

  let mut files = Vec::new();
  let mut stats = HashStats::default();
  let mut updates = Vec::new();
  let mut seen = Vec::new();
  let mut observed = Vec::new();
  let observing = cache.is_observing();
  for item in walk {
    let entry = match item {
      Ok(e) => e,
      Err(e) => {
        let path = e.path().map(Path::to_path_buf).unwrap_or_else(|| root.clone());
        match e.io_error().map(|io| io.kind()) {
          Some(io::ErrorKind::NotFound) => continue,
          _ => {
            let text = e.to_string();
            let source = e.into_io_error().unwrap_or_else(|| io::Error::other(text));
            return Err(HashError::io("reading directory", path, source));
          }
        }
      }
    };
    match entry.client_state {
      Outcome::Skip => {}
      Outcome::Err(e) => return Err(e),
      Outcome::File { rel, hash, read } => {
        stats.files += 1;
        match read {
          Source::Read(n, key, stat) => {
            stats.files_read += 1;
            stats.bytes_read += n;
            if observing {
              observed.push((key, stat));
            }
            updates.push((key, stat, hash));
          }
          Source::StatCache(key, stat, touch) => {
            stats.stat_cache_hits += 1;
            if touch {
              seen.push(key);
            }
            if observing {
              observed.push((key, stat));
            }
          }
          Source::Link => {}
        }
        files.push(InputFile { path: rel, hash });
      }
    }
  }
  // Release the walk's snapshot so the cache update does not copy the map.
  drop(ctx);
  cache.update(updates, seen);
  cache.observe(observed);
  if !files.is_sorted_by(|a, b| a.path <= b.path) {
    files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
  }
  files.dedup_by(|a, b| a.path == b.path);
  Ok(InputSet { files, stats })
}
