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

/// One spec a walk serves. A walk serves one spec, or several whose roots nest (see
/// [`hash_inputs_many`]); each view applies its own globs and pruning inside its own root.
#[derive(Debug)]
struct View {
  /// The spec's root relative to the walk's root, `/`-separated (`""`: the walk's root).
  prefix: String,
  /// `prefix` split into components.
  prefix_comps: Vec<String>,
  include: GlobSet,
  /// Some include glob is `**`: every file matches, skip the matcher.
  match_all: bool,
  exclude: GlobSet,
  /// Directories (relative paths) that an exclude removes whole.
  exclude_dirs: GlobSet,
  pruner: Pruner,
  ignore_dirs: Vec<String>,
}

/// Where a directory of the walk lies for one view.
enum Place<'a> {
  /// Neither at or below the view's root nor on the way to it.
  Outside,
  /// A strict ancestor of the view's root: only the next directory on the way is descended
  /// (none of the view's rules apply above its root, as in a walk that starts there).
  Above(&'a str),
  /// At or below the view's root: the directory relative to it, and how many leading
  /// components of a walk-relative path to drop.
  Inside(&'a str, usize),
}

impl View {
  fn place<'a>(&'a self, dir_rel: &'a str, dir_comps: &[&str]) -> Place<'a> {
    let n = self.prefix_comps.len();
    if n == 0 {
      return Place::Inside(dir_rel, 0);
    }
    if !self.prefix_comps.iter().zip(dir_comps).all(|(a, b)| a == b) {
      return Place::Outside;
    }
    match dir_comps.len() {
      d if d < n => Place::Above(&self.prefix_comps[d]),
      d if d == n => Place::Inside("", n),
      _ => Place::Inside(&dir_rel[self.prefix.len() + 1..], n),
    }
  }

  /// The path relative to this view's root of `rel` (relative to the walk's root, inside it).
  fn local<'a>(&self, rel: &'a str) -> &'a str {
    if self.prefix.is_empty() {
      rel
    } else {
      &rel[self.prefix.len() + 1..]
    }
  }

  /// Does this view descend into subdirectory `name` (absolute path `abs`) of a directory at
  /// `local_dir` (components `comps`, ending with `name`, relative to the view's root)?
  fn wants_dir(&self, local_dir: &str, comps: &[&str], name: &str, abs: &str) -> bool {
    if self.ignore_dirs.iter().any(|d| d.as_str() == abs) {
      return false;
    }
    if !self.exclude_dirs.is_empty() {
      let rel = if local_dir.is_empty() { name.to_string() } else { format!("{local_dir}/{name}") };
      if self.exclude_dirs.is_match(&rel) {
        return false;
      }
    }
    self.pruner.may_contain(comps)
  }

  /// Is `local` (a file path relative to this view's root) one of the view's inputs, before
  /// `.gitignore` rules?
  fn matches_file(&self, local: &str) -> bool {
    (self.match_all || self.include.is_match(local))
      && (self.exclude.is_empty() || !self.exclude.is_match(local))
  }
}

/// Everything the per-directory callback needs, shared across threads.
#[derive(Debug)]
struct WalkCtx {
  root_str: String,
  views: Vec<View>,
  use_gitignore: bool,
  cache: Snapshot,
}

/// Per-directory state, handed by jwalk from a directory to each of its subdirectories.
#[derive(Clone, Debug, Default)]
struct DirState {
  /// The `.gitignore` matchers in force, outermost first.
  gitignores: Arc<Vec<Arc<Gitignore>>>,
  /// With several views: the views that descend into each subdirectory (by name) of the
  /// directory that made this state. `None`: every view (the walk's root, or a single view).
  child_views: Option<Arc<std::collections::HashMap<String, u64>>>,
}

/// Per-file outcome, produced inside the parallel callback. `views` is a bit set of the views
/// (by index) the file or error belongs to.
#[derive(Debug, Default)]
enum Outcome {
  #[default]
  Skip,
  File {
    rel: String,
    hash: Digest,
    read: Source,
    views: u64,
  },
  Err(HashError, u64),
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
  /// The views whose root is at, below or above the walk-relative path `rel` (for an error
  /// there).
  fn views_at(&self, rel: &str) -> u64 {
    let comps: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
    let mut mask = 0;
    for (i, v) in self.views.iter().enumerate() {
      if !matches!(v.place(rel, &comps), Place::Outside) {
        mask |= 1 << i;
      }
    }
    mask
  }

  fn process_dir(
    &self,
    dir: &Path,
    state: &mut DirState,
    children: &mut Vec<jwalk::Result<jwalk::DirEntry<(DirState, Outcome)>>>,
  ) {
    let all = u64::MAX >> (64 - self.views.len());
    // The views this directory is walked for: its parent decided, per view.
    let here = match (&state.child_views, dir.file_name().and_then(OsStr::to_str)) {
      (Some(m), Some(name)) => m.get(name).copied().unwrap_or(0),
      _ => all,
    };
    if self.use_gitignore
      && children.iter().any(|c| c.as_ref().is_ok_and(|c| c.file_name == OsStr::new(".gitignore")))
    {
      if let Some(gi) = load_gitignore(dir) {
        let mut v = (*state.gitignores).clone();
        v.push(gi);
        state.gitignores = Arc::new(v);
      }
    }
    let mut child_views = std::collections::HashMap::new();
    let stack = &state.gitignores;
    let check_gitignore = self.use_gitignore && !stack.is_empty();
    let Some(dir_str) = dir.to_str() else {
      // A non-UTF-8 directory can only be here if an ancestor glob may match below it.
      for c in children.iter_mut().flatten() {
        c.read_children_path = None;
      }
      children.retain(|c| c.as_ref().is_ok_and(|c| c.file_type.is_dir()));
      if let Some(Ok(c)) = children.first_mut() {
        c.client_state = Outcome::Err(HashError::NonUtf8Path { path: dir.to_path_buf() }, here);
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
    let comps: Vec<&str> =
      if dir_rel.is_empty() { Vec::new() } else { dir_rel.split('/').collect() };
    let places: Vec<Place<'_>> = self
      .views
      .iter()
      .enumerate()
      .map(|(i, v)| if here & (1 << i) == 0 { Place::Outside } else { v.place(&dir_rel, &comps) })
      .collect();
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
    let ignored = |abs: &str, is_dir: bool| check_gitignore && is_ignored(stack, Path::new(abs), is_dir);
    children.retain_mut(|child| {
      let Ok(child) = child else { return true };
      let ft = child.file_type;
      let Some(name) = child.file_name.to_str() else {
        let lossy = format!("{dir_rel}/{}", child.file_name.to_string_lossy());
        let lossy = lossy.trim_start_matches('/');
        let mut mask = 0;
        for (i, (v, place)) in self.views.iter().zip(&places).enumerate() {
          if !matches!(place, Place::Outside) && (ft.is_dir() || v.include.is_match(v.local(lossy)))
          {
            mask |= 1 << i;
          }
        }
        if mask != 0 {
          child.client_state =
            Outcome::Err(HashError::NonUtf8Path { path: dir.join(&child.file_name) }, mask);
          child.read_children_path = None;
          return true;
        }
        return false;
      };
      abs.truncate(abs_len);
      abs.push_str(name);
      if ft.is_dir() {
        let always = ALWAYS_IGNORED_DIRS.contains(&name);
        let mut comps = comps.clone();
        comps.push(name);
        // `.gitignore` rules are the same for every view: asked at most once.
        let mut gitignored = None;
        let mut wanted = 0u64;
        for (i, (v, place)) in self.views.iter().zip(&places).enumerate() {
          let wants = match *place {
            Place::Outside => false,
            Place::Above(next) => next == name,
            Place::Inside(local_dir, skip) => {
              !always
                && v.wants_dir(local_dir, &comps[skip..], name, &abs)
                && !*gitignored.get_or_insert_with(|| ignored(&abs, true))
            }
          };
          if wants {
            wanted |= 1 << i;
          }
        }
        if wanted != 0 && self.views.len() > 1 {
          child_views.insert(name.to_string(), wanted);
        }
        return wanted != 0;
      }
      let mut rel = String::with_capacity(dir_rel.len() + 1 + name.len());
      if !dir_rel.is_empty() {
        rel.push_str(&dir_rel);
        rel.push('/');
      }
      rel.push_str(name);
      let mut views = 0u64;
      for (i, (v, place)) in self.views.iter().zip(&places).enumerate() {
        if matches!(place, Place::Inside(..)) && v.matches_file(v.local(&rel)) {
          views |= 1 << i;
        }
      }
      if views == 0 || ignored(&abs, false) {
        return false;
      }
      child.client_state =
        self.hash_one(rel, &abs, name, dirfd.as_ref(), &view, ft.is_symlink(), views);
      true
    });
    if self.views.len() > 1 {
      state.child_views = Some(Arc::new(child_views));
    }
  }

  #[allow(clippy::too_many_arguments)]
  fn hash_one(
    &self,
    rel: String,
    abs: &str,
    name: &str,
    dirfd: Option<&sys::DirFd>,
    view: &DirView<'_>,
    is_symlink: bool,
    views: u64,
  ) -> Outcome {
    let path = Path::new(abs);
    if is_symlink {
      return match fs::read_link(path) {
        Ok(target) => {
          let t = target.to_string_lossy();
          let mut bytes = b"symlink\0".to_vec();
          bytes.extend_from_slice(t.as_bytes());
          Outcome::File { rel, hash: Digest::of_bytes(&bytes), read: Source::Link, views }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Outcome::Skip,
        Err(e) => Outcome::Err(HashError::io("reading symlink", path, e), views),
      };
    }
    let nkey = name_key(name);
    let key = view.key(nkey);
    let skip_or_err = |action, e: io::Error| match e.kind() {
      io::ErrorKind::NotFound => Outcome::Skip,
      _ => Outcome::Err(HashError::io(action, path, e), views),
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
        return Outcome::File { rel, hash, read: Source::StatCache(key, stat, stale_day), views };
      }
      match sys::open(dirfd, name, path) {
        Ok(f) => (f, stat),
        Err(e) => return skip_or_err("reading", e),
      }
    };
    let mut file = file;
    match hash_open_file(&mut file) {
      Ok((hash, n)) => Outcome::File { rel, hash, read: Source::Read(n, key, stat), views },
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
  let mut out = hash_inputs_many(std::slice::from_ref(spec), cache);
  out.pop().unwrap_or_else(|| Ok(InputSet::default()))
}

/// [`hash_inputs`] of each spec, in order, with one walk for specs whose roots nest (a task
/// reading `apps/web` and another reading `apps/web/src`, or two reading `apps/web`): that
/// walk descends wherever one of them would and hashes a file once, however many read it. Each
/// result is the one [`hash_inputs`] gives for that spec alone. Separate walks run in parallel.
pub fn hash_inputs_many(specs: &[InputSpec], cache: &StatCache) -> Vec<Result<InputSet, HashError>> {
  let mut results: Vec<Option<Result<InputSet, HashError>>> = specs.iter().map(|_| None).collect();
  let mut prepared = Vec::new();
  for (i, spec) in specs.iter().enumerate() {
    match Prepared::new(spec) {
      Ok(Some(p)) => prepared.push((i, p)),
      Ok(None) => results[i] = Some(Ok(InputSet::default())),
      Err(e) => results[i] = Some(Err(e)),
    }
  }
  let groups = group_walks(prepared);
  let walked: Vec<(usize, Result<InputSet, HashError>)> = if groups.len() <= 1 {
    groups.into_iter().flat_map(|g| walk_group(g, cache)).collect()
  } else {
    std::thread::scope(|s| {
      let handles: Vec<_> =
        groups.into_iter().map(|g| s.spawn(move || walk_group(g, cache))).collect();
      handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    })
  };
  for (i, r) in walked {
    results[i] = Some(r);
  }
  results
    .into_iter()
    .zip(specs)
    .map(|(r, spec)| {
      r.unwrap_or_else(|| {
        Err(HashError::io("walking", &spec.root, io::Error::other("the walk thread panicked")))
      })
    })
    .collect()
}

/// Specs (with their index in the caller's list) in walks: each walk's first spec has the
/// outermost root, and every other spec of a walk [`Prepared::shares_walk`] with it.
fn group_walks(mut prepared: Vec<(usize, Prepared)>) -> Vec<Vec<(usize, Prepared)>> {
  // Sorted by root (after the `.gitignore` setting), a root's descendants follow it, before
  // any sibling's.
  prepared.sort_by(|a, b| (a.1.use_gitignore, &a.1.root).cmp(&(b.1.use_gitignore, &b.1.root)));
  let mut groups: Vec<Vec<(usize, Prepared)>> = Vec::new();
  for (i, p) in prepared {
    match groups.last_mut() {
      Some(g) if g.len() < 64 && g[0].1.shares_walk(&p) => g.push((i, p)),
      _ => groups.push(vec![(i, p)]),
    }
  }
  groups
}

/// The walks [`hash_inputs_many`] makes for `specs`: per walk, the indices of the specs it serves
/// (specs that cannot be walked, or have no include glob, are in none).
#[cfg(test)]
pub(crate) fn planned_walks(specs: &[InputSpec]) -> Vec<Vec<usize>> {
  let prepared =
    specs.iter().enumerate().filter_map(|(i, s)| Prepared::new(s).ok().flatten().map(|p| (i, p)));
  group_walks(prepared.collect()).into_iter().map(|g| g.into_iter().map(|(i, _)| i).collect()).collect()
}

/// A spec made ready to walk: its canonical root, compiled globs and ignored directories.
struct Prepared {
  root: PathBuf,
  include: GlobSet,
  exclude: GlobSet,
  exclude_dirs: GlobSet,
  pruner: Pruner,
  match_all: bool,
  ignore_dirs: Vec<String>,
  use_gitignore: bool,
  /// The nearest directory at or above `root` holding `.git` (only with `use_gitignore`).
  git_top: Option<PathBuf>,
}

impl Prepared {
  /// `None`: the spec has no include glob, so no inputs.
  fn new(spec: &InputSpec) -> Result<Option<Prepared>, HashError> {
    let root = fs::canonicalize(&spec.root)
      .map_err(|_| HashError::RootMissing { path: spec.root.clone() })?;
    if !root.is_dir() {
      return Err(HashError::RootMissing { path: spec.root.clone() });
    }
    if root.to_str().is_none() {
      return Err(HashError::NonUtf8Path { path: root });
    }
    let (include, exclude, includes, exclude_dirs) = build_globs(&spec.globs)?;
    if includes.is_empty() {
      return Ok(None);
    }
    let ignore_dirs = spec
      .ignore_dirs
      .iter()
      .map(|d| {
        let abs = if d.is_absolute() { d.clone() } else { root.join(d) };
        fs::canonicalize(&abs).unwrap_or(abs).to_string_lossy().into_owned()
      })
      .collect();
    let git_top = if spec.use_gitignore {
      root.ancestors().find(|d| d.join(".git").exists()).map(Path::to_path_buf)
    } else {
      None
    };
    Ok(Some(Prepared {
      pruner: Pruner::new(&includes),
      match_all: includes.contains(&"**"),
      include,
      exclude,
      exclude_dirs,
      ignore_dirs,
      use_gitignore: spec.use_gitignore,
      git_top,
      root,
    }))
  }

  /// Can `other` (whose root sorts after this one's) be served by a walk from this root with the
  /// same result as its own walk? Its root must be this root or below it, with the same
  /// `.gitignore` handling; below it, both must lie in one git work tree, so the `.gitignore`
  /// files above `other`'s root are the ones this walk loads on its way there.
  fn shares_walk(&self, other: &Prepared) -> bool {
    self.use_gitignore == other.use_gitignore
      && other.root.starts_with(&self.root)
      && (other.root == self.root
        || !self.use_gitignore
        || (self.git_top.is_some() && self.git_top == other.git_top))
  }

  fn into_view(self, walk_root: &Path) -> View {
    let prefix = self
      .root
      .strip_prefix(walk_root)
      .unwrap_or(Path::new(""))
      .components()
      .map(|c| c.as_os_str().to_string_lossy().into_owned())
      .collect::<Vec<_>>();
    View {
      prefix: prefix.join("/"),
      prefix_comps: prefix,
      include: self.include,
      match_all: self.match_all,
      exclude: self.exclude,
      exclude_dirs: self.exclude_dirs,
      pruner: self.pruner,
      ignore_dirs: self.ignore_dirs,
    }
  }
}

/// One walk from the first (outermost) root of `group`, serving every spec in it; results are
/// paired with the index each spec had in the caller's list.
fn walk_group(
  group: Vec<(usize, Prepared)>,
  cache: &StatCache,
) -> Vec<(usize, Result<InputSet, HashError>)> {
  let Some(first) = group.first() else { return Vec::new() };
  let root = first.1.root.clone();
  let use_gitignore = first.1.use_gitignore;
  let indices: Vec<usize> = group.iter().map(|(i, _)| *i).collect();
  let views: Vec<View> = group.into_iter().map(|(_, p)| p.into_view(&root)).collect();
  let n = views.len();
  let ctx = Arc::new(WalkCtx {
    root_str: root.to_string_lossy().into_owned(),
    views,
    use_gitignore,
    cache: cache.snapshot(),
  });
  let initial = if use_gitignore { ancestor_gitignores(&root) } else { Vec::new() };
  let cb = Arc::clone(&ctx);
  let walk = Walk::new(&root)
    .parallelism(patient_parallelism())
    .skip_hidden(false)
    .follow_links(false)
    .sort(false)
    .root_read_dir_state(DirState { gitignores: Arc::new(initial), child_views: None })
    .process_read_dir(move |depth, dir, state, children| {
      // jwalk first presents the root itself as the only child of its parent (depth None).
      if depth.is_some() {
        cb.process_dir(dir, state, children)
      }
    });

  let mut sets: Vec<Result<InputSet, HashError>> = (0..n).map(|_| Ok(InputSet::default())).collect();
  let fail = |sets: &mut Vec<Result<InputSet, HashError>>, mask: u64, e: HashError| {
    for (i, set) in sets.iter_mut().enumerate() {
      if mask & (1 << i) != 0 && set.is_ok() {
        *set = Err(e.duplicate());
      }
    }
  };
  let all = u64::MAX >> (64 - n);
  let mut updates = Vec::new();
  let mut seen = Vec::new();
  let mut observed = Vec::new();
  let observing = cache.is_observing();
  for item in walk {
    let entry = match item {
      Ok(e) => e,
      Err(e) => {
        let path = e.path().map(Path::to_path_buf).unwrap_or_else(|| root.clone());
        if let Some(io::ErrorKind::NotFound) = e.io_error().map(|io| io.kind()) {
          continue;
        }
        let mask = path
          .strip_prefix(&root)
          .ok()
          .and_then(Path::to_str)
          .map_or(all, |rel| ctx.views_at(&rel.replace('\\', "/")));
        let text = e.to_string();
        let source = e.into_io_error().unwrap_or_else(|| io::Error::other(text));
        fail(&mut sets, mask, HashError::io("reading directory", path, source));
        if sets.iter().all(Result::is_err) {
          break;
        }
        continue;
      }
    };
    match entry.client_state {
      Outcome::Skip => {}
      Outcome::Err(e, mask) => {
        fail(&mut sets, mask, e);
        if sets.iter().all(Result::is_err) {
          break;
        }
      }
      Outcome::File { rel, hash, read, views } => {
        let (files_read, bytes_read, hit) = match read {
          Source::Read(n, key, stat) => {
            if observing {
              observed.push((key, stat));
            }
            updates.push((key, stat, hash));
            (1, n, 0)
          }
          Source::StatCache(key, stat, touch) => {
            if touch {
              seen.push(key);
            }
            if observing {
              observed.push((key, stat));
            }
            (0, 0, 1)
          }
          Source::Link => (0, 0, 0),
        };
        let mut rel = Some(rel);
        let last = 63 - views.leading_zeros() as usize;
        for (i, set) in sets.iter_mut().enumerate() {
          if views & (1 << i) == 0 {
            continue;
          }
          let Ok(set) = set else { continue };
          let v = &ctx.views[i];
          let path = if i == last && v.prefix.is_empty() {
            rel.take().unwrap_or_default()
          } else {
            v.local(rel.as_deref().unwrap_or_default()).to_string()
          };
          set.stats.files += 1;
          set.stats.files_read += files_read;
          set.stats.bytes_read += bytes_read;
          set.stats.stat_cache_hits += hit;
          set.files.push(InputFile { path, hash });
        }
      }
    }
  }
  // Release the walk's snapshot so the cache update does not copy the map.
  drop(ctx);
  cache.update(updates, seen);
  cache.observe(observed);
  for set in sets.iter_mut().flatten() {
    if !set.files.is_sorted_by(|a, b| a.path <= b.path) {
      set.files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    }
    set.files.dedup_by(|a, b| a.path == b.path);
  }
  indices.into_iter().zip(sets).collect()
}
