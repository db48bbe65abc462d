//! Parallel input walk: globs + ignore rules → sorted `(relative path, digest)` list.
//!
//! The walk is one job per directory on the rayon pool. A job opens its directory once, lists
//! it, prunes subdirectories that are ignored (always `.git` and `node_modules`, the spec's
//! `ignore_dirs`, `.gitignore` rules) or that no glob can reach and hands each of the others to
//! a job of its own, then `lstat`s matching files by name relative to the open directory and
//! hashes those the stat cache cannot vouch for. Each directory's results land in a node of a
//! tree that is read in order at the end, so files come out sorted without a sort. Symlinks are
//! not followed; a matching symlink is hashed as its target string (like git). Sockets, FIFOs
//! and devices are never inputs.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use globset::{Glob, GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::Match;
use serde::{Deserialize, Serialize};

use super::digest::{hash_open_file, Digest};
use super::error::HashError;
use super::stat_cache::{
  dir_key, name_key, DirView, FileStat, Key, Lookup, Observed, Snapshot, StatCache,
};

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
  /// The `lstat`s the walk took of the regular files it listed, when asked for them
  /// ([`hash_inputs_observed`]); empty otherwise. The warm-mode daemon hands them to builds, whose
  /// git state check then needs no `lstat` of its own.
  pub observed: Observed,
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
  /// The directories (components) of includes of the form `<literal dirs>/**`.
  subtrees: Vec<Vec<String>>,
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
  /// `.gitignore` rules? `covered`: its directory is under a `<dir>/**` include (see
  /// [`View::covers`]), so no include needs matching.
  fn matches_file(&self, local: &str, covered: bool) -> bool {
    (covered || self.match_all || self.include.is_match(local))
      && (self.exclude.is_empty() || !self.exclude.is_match(local))
  }

  /// Does an include of the form `<literal dirs>/**` match every file below directory `comps`
  /// (relative to the view's root)?
  fn covers(&self, comps: &[&str]) -> bool {
    self.subtrees.iter().any(|t| t.len() <= comps.len() && t.iter().zip(comps).all(|(a, b)| a == b))
  }
}

/// Everything the per-directory callback needs, shared across threads.
#[derive(Debug)]
struct WalkCtx {
  root_str: String,
  views: Vec<View>,
  use_gitignore: bool,
  cache: Snapshot,
  /// Whether to keep every stat taken (see [`StatCache::observe`]).
  observing: bool,
  learned: std::sync::Mutex<Learned>,
}

/// A directory for the walk to read (one rayon job).
struct DirJob {
  /// Its absolute path.
  abs: String,
  /// Its path relative to the walk's root, `/`-separated (`""` for the root).
  rel: String,
  /// The `.gitignore` matchers in force above it, outermost first.
  gitignores: Arc<Vec<Arc<Gitignore>>>,
  /// The views it is walked for (a bit set by view index).
  views: u64,
  /// Where its items go.
  node: Arc<Node>,
}

/// What one directory held for the walk, in byte order of paths: the outcomes of its files and
/// its subdirectories' nodes, filled by the directory's job.
#[derive(Default)]
struct Node(std::sync::Mutex<Vec<Item>>);

/// One item of a [`Node`].
enum Item {
  /// An input file of the views in the bit set, by its path relative to the walk's root.
  File(Box<str>, Digest, u64),
  /// An error for the views in the bit set.
  Err(HashError, u64),
  Dir(Arc<Node>),
}

/// What the directory jobs learn for the stat cache and the counters, merged once per directory.
#[derive(Debug, Default)]
struct Learned {
  /// Files read: stat cache key, the stat taken before reading, digest.
  updates: Vec<(Key, FileStat, Digest)>,
  /// Stat cache entries whose last-seen day needs refreshing.
  seen: Vec<Key>,
  /// Every stat taken (when the cache observes them, see [`StatCache::observe`]).
  observed: Vec<(Key, FileStat)>,
  /// Per view: files read, bytes read, stat cache hits.
  counts: Vec<[u64; 3]>,
}

impl Learned {
  fn merge(&mut self, other: Learned) {
    self.updates.extend(other.updates);
    self.seen.extend(other.seen);
    self.observed.extend(other.observed);
    if self.counts.len() < other.counts.len() {
      self.counts.resize(other.counts.len(), [0; 3]);
    }
    for (a, b) in self.counts.iter_mut().zip(other.counts) {
      for k in 0..3 {
        a[k] += b[k];
      }
    }
  }
}

/// What hashing one file gave (the directory's job files it under the views that read it).
#[derive(Debug)]
enum Outcome {
  Skip,
  File { rel: String, hash: Digest, read: Source },
  Err(HashError),
}

/// Sort key of a directory entry: its name, and whether it is a directory (sorted as `name/`).
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
  /// Reads the directory of `job`: its entries' outcomes go to its node in byte order of paths,
  /// and each subdirectory some view descends into becomes a job of its own on `scope`.
  fn read_dir<'s>(&'s self, scope: &rayon::Scope<'s>, job: DirJob) {
    let items = self.dir_items(scope, &job);
    if let Ok(mut n) = job.node.0.lock() {
      *n = items;
    }
  }

  fn dir_items<'s>(&'s self, scope: &rayon::Scope<'s>, job: &DirJob) -> Vec<Item> {
    let (dirfd, mut listing) = match sys::list(&job.abs) {
      Ok(listed) => listed,
      Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
      Err(e) => {
        let err = HashError::io("reading directory", &job.abs, e);
        return vec![Item::Err(err, job.views)];
      }
    };
    let mut stack = Arc::clone(&job.gitignores);
    if self.use_gitignore && listing.entries.iter().any(|e| listing.bytes(e) == b".gitignore") {
      if let Some(gi) = load_gitignore(Path::new(&job.abs)) {
        let mut v = (*stack).clone();
        v.push(gi);
        stack = Arc::new(v);
      }
    }
    let check_gitignore = self.use_gitignore && !stack.is_empty();
    let dir_rel = job.rel.as_str();
    let comps: Vec<&str> =
      if dir_rel.is_empty() { Vec::new() } else { dir_rel.split('/').collect() };
    let places: Vec<Place<'_>> = self
      .views
      .iter()
      .enumerate()
      .map(
        |(i, v)| if job.views & (1 << i) == 0 { Place::Outside } else { v.place(dir_rel, &comps) },
      )
      .collect();
    let mut abs = String::with_capacity(job.abs.len() + 64);
    abs.push_str(&job.abs);
    if !abs.ends_with(std::path::MAIN_SEPARATOR) {
      abs.push(std::path::MAIN_SEPARATOR);
    }
    let abs_len = abs.len();
    // Sibling order = byte order of full paths when a directory sorts as `name/`: the walk
    // then yields files already sorted, and the final sort is a no-op check.
    let mut entries = std::mem::take(&mut listing.entries);
    entries.sort_unstable_by(|a, b| {
      SortKey(listing.bytes(a), a.kind == sys::Kind::Dir)
        .cmp(&SortKey(listing.bytes(b), b.kind == sys::Kind::Dir))
    });
    let dkey = dir_key(abs[..abs_len].trim_end_matches(std::path::MAIN_SEPARATOR));
    let view = self.cache.dir(dkey);
    let ignored =
      |abs: &str, is_dir: bool| check_gitignore && is_ignored(&stack, Path::new(abs), is_dir);
    let mut items = Vec::with_capacity(entries.len());
    let mut learned = Learned::default();
    // Per view, whether a `<dir>/**` include covers this directory (asked at the first file).
    let mut covered: Vec<Option<bool>> = vec![None; self.views.len()];
    for entry in &entries {
      let kind = entry.kind;
      if kind == sys::Kind::Other {
        continue;
      }
      let Some(name) = listing.name(entry).to_str() else {
        let lossy = format!("{dir_rel}/{}", listing.name(entry).to_string_lossy());
        let lossy = lossy.trim_start_matches('/');
        let mut mask = 0;
        for (i, (v, place)) in self.views.iter().zip(&places).enumerate() {
          if !matches!(place, Place::Outside)
            && (kind == sys::Kind::Dir || v.include.is_match(v.local(lossy)))
          {
            mask |= 1 << i;
          }
        }
        if mask != 0 {
          let path = Path::new(&job.abs).join(listing.name(entry));
          items.push(Item::Err(HashError::NonUtf8Path { path }, mask));
        }
        continue;
      };
      abs.truncate(abs_len);
      abs.push_str(name);
      if kind == sys::Kind::Dir {
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
        if wanted != 0 {
          let node = Arc::new(Node::default());
          items.push(Item::Dir(Arc::clone(&node)));
          let rel = if dir_rel.is_empty() { name.to_string() } else { format!("{dir_rel}/{name}") };
          let child =
            DirJob { abs: abs.clone(), rel, gitignores: Arc::clone(&stack), views: wanted, node };
          scope.spawn(move |s| self.read_dir(s, child));
        }
        continue;
      }
      let mut rel = String::with_capacity(dir_rel.len() + 1 + name.len());
      if !dir_rel.is_empty() {
        rel.push_str(dir_rel);
        rel.push('/');
      }
      rel.push_str(name);
      let mut views = 0u64;
      for (i, (v, place)) in self.views.iter().zip(&places).enumerate() {
        if let Place::Inside(_, skip) = *place {
          let covered = *covered[i].get_or_insert_with(|| v.covers(&comps[skip..]));
          if v.matches_file(v.local(&rel), covered) {
            views |= 1 << i;
          }
        }
      }
      if views == 0 || ignored(&abs, false) {
        continue;
      }
      let is_symlink = kind == sys::Kind::Symlink;
      match self.hash_one(rel, &abs, name, dirfd.as_ref(), &view, is_symlink) {
        Outcome::Skip => {}
        Outcome::Err(e) => items.push(Item::Err(e, views)),
        Outcome::File { rel, hash, read } => {
          let count = match read {
            Source::Read(n, key, stat) => {
              if self.observing {
                learned.observed.push((key, stat));
              }
              learned.updates.push((key, stat, hash));
              [1, n, 0]
            }
            Source::StatCache(key, stat, touch) => {
              if touch {
                learned.seen.push(key);
              }
              if self.observing {
                learned.observed.push((key, stat));
              }
              [0, 0, 1]
            }
            Source::Link => [0, 0, 0],
          };
          if count != [0; 3] {
            learned.counts.resize(self.views.len(), [0; 3]);
            for (i, c) in learned.counts.iter_mut().enumerate() {
              if views & (1 << i) != 0 {
                for k in 0..3 {
                  c[k] += count[k];
                }
              }
            }
          }
          items.push(Item::File(rel.into_boxed_str(), hash, views));
        }
      }
    }
    if let Ok(mut l) = self.learned.lock() {
      l.merge(learned);
    }
    items
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

  /// What a directory entry is, without following a symlink.
  #[derive(Clone, Copy, Debug, PartialEq, Eq)]
  pub(super) enum Kind {
    Dir,
    File,
    Symlink,
    /// A socket, FIFO or device: never an input (git does not track them either).
    Other,
  }

  /// One entry of a directory listing: its name is `names[start..start + len]` of the listing.
  #[derive(Clone, Copy)]
  pub(super) struct RawEntry {
    start: u32,
    len: u32,
    pub(super) kind: Kind,
  }

  /// A directory's entries, their names in one buffer (no allocation per name).
  #[derive(Default)]
  pub(super) struct Listing {
    names: Vec<u8>,
    pub(super) entries: Vec<RawEntry>,
  }

  impl Listing {
    fn push(&mut self, name: &[u8], kind: Kind) {
      let start = self.names.len() as u32;
      self.names.extend_from_slice(name);
      self.entries.push(RawEntry { start, len: name.len() as u32, kind });
    }

    /// The name of `e`, as the platform encodes it.
    pub(super) fn bytes(&self, e: &RawEntry) -> &[u8] {
      &self.names[e.start as usize..(e.start + e.len) as usize]
    }

    /// The name of `e`.
    pub(super) fn name(&self, e: &RawEntry) -> &std::ffi::OsStr {
      // SAFETY: the bytes are those of an `OsStr` of this platform (`as_encoded_bytes`, or the
      // raw name on Unix), copied unchanged.
      unsafe { std::ffi::OsStr::from_encoded_bytes_unchecked(self.bytes(e)) }
    }
  }

  /// An open directory, for `lstat`/`open` of its entries by name. On Linux it is the stream
  /// the directory was listed through (one `open` per directory).
  #[cfg(target_os = "linux")]
  pub(super) struct DirFd(std::ptr::NonNull<libc::DIR>);

  #[cfg(all(unix, not(target_os = "linux")))]
  pub(super) struct DirFd(std::os::fd::OwnedFd);

  #[cfg(not(unix))]
  pub(super) struct DirFd;

  #[cfg(target_os = "linux")]
  impl Drop for DirFd {
    fn drop(&mut self) {
      // SAFETY: the stream came from `fdopendir` and is closed once, here.
      unsafe { libc::closedir(self.0.as_ptr()) };
    }
  }

  impl DirFd {
    #[cfg(target_os = "linux")]
    fn raw(&self) -> libc::c_int {
      // SAFETY: the stream is open until drop.
      unsafe { libc::dirfd(self.0.as_ptr()) }
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    fn raw(&self) -> libc::c_int {
      use std::os::fd::AsRawFd;
      self.0.as_raw_fd()
    }
  }

  /// Opens `dir` and lists its entries (`.` and `..` left out), unsorted; the open directory
  /// is returned for the entries' `lstat`/`open` by name.
  #[cfg(target_os = "linux")]
  pub(super) fn list(dir: &str) -> io::Result<(Option<DirFd>, Listing)> {
    let c =
      std::ffi::CString::new(dir).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a valid NUL-terminated string.
    let fd =
      unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    if fd < 0 {
      return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is an open directory descriptor; on success the stream owns it.
    let Some(stream) = std::ptr::NonNull::new(unsafe { libc::fdopendir(fd) }) else {
      let e = io::Error::last_os_error();
      // SAFETY: `fdopendir` failed, so `fd` is still ours to close.
      unsafe { libc::close(fd) };
      return Err(e);
    };
    let d = DirFd(stream);
    let mut out = Listing::default();
    loop {
      // SAFETY: `readdir64` reports an error only through errno, which is cleared first.
      unsafe { *libc::__errno_location() = 0 };
      // SAFETY: the stream is open and used by this thread only.
      let ent = unsafe { libc::readdir64(d.0.as_ptr()) };
      if ent.is_null() {
        // SAFETY: reading errno of this thread.
        match unsafe { *libc::__errno_location() } {
          0 => break,
          n => return Err(io::Error::from_raw_os_error(n)),
        }
      }
      // SAFETY: a non-null entry is valid until the next `readdir64` on this stream.
      let (name, d_type) =
        unsafe { (std::ffi::CStr::from_ptr((*ent).d_name.as_ptr()), (*ent).d_type) };
      let bytes = name.to_bytes();
      if bytes == b"." || bytes == b".." {
        continue;
      }
      let kind = match d_type {
        libc::DT_DIR => Kind::Dir,
        libc::DT_REG => Kind::File,
        libc::DT_LNK => Kind::Symlink,
        libc::DT_UNKNOWN => {
          let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
          // SAFETY: valid dirfd and NUL-terminated name; `st` is written on success.
          let rc = unsafe {
            libc::fstatat(d.raw(), name.as_ptr(), st.as_mut_ptr(), libc::AT_SYMLINK_NOFOLLOW)
          };
          if rc != 0 {
            continue; // gone since the listing
          }
          // SAFETY: fstatat returned 0.
          match unsafe { st.assume_init() }.st_mode & libc::S_IFMT {
            libc::S_IFDIR => Kind::Dir,
            libc::S_IFREG => Kind::File,
            libc::S_IFLNK => Kind::Symlink,
            _ => Kind::Other,
          }
        }
        _ => Kind::Other,
      };
      out.push(bytes, kind);
    }
    Ok((Some(d), out))
  }

  /// Lists `dir` through the standard library (and opens it again for `lstat`/`open` by name on
  /// Unix).
  #[cfg(not(target_os = "linux"))]
  pub(super) fn list(dir: &str) -> io::Result<(Option<DirFd>, Listing)> {
    let mut out = Listing::default();
    for e in std::fs::read_dir(dir)? {
      let e = e?;
      let Ok(ft) = e.file_type() else { continue };
      let kind = if ft.is_dir() {
        Kind::Dir
      } else if ft.is_symlink() {
        Kind::Symlink
      } else if ft.is_file() {
        Kind::File
      } else {
        Kind::Other
      };
      out.push(e.file_name().as_encoded_bytes(), kind);
    }
    Ok((open_fd(dir), out))
  }

  #[cfg(all(unix, not(target_os = "linux")))]
  fn open_fd(dir: &str) -> Option<DirFd> {
    use std::os::fd::FromRawFd;
    let c = std::ffi::CString::new(dir).ok()?;
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
  fn open_fd(_dir: &str) -> Option<DirFd> {
    None
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
    if let Some(d) = dir {
      let raw = d.raw();
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
    if let Some(d) = dir {
      use std::os::fd::FromRawFd;
      let raw = d.raw();
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
  let mut out = walk_specs(std::slice::from_ref(spec), cache, false);
  out.pop().unwrap_or_else(|| Ok(InputSet::default()))
}

/// [`hash_inputs`], with the stats the walk took in [`InputSet::observed`] (rather than in the
/// cache's own table, see [`StatCache::observing`]).
pub fn hash_inputs_observed(spec: &InputSpec, cache: &StatCache) -> Result<InputSet, HashError> {
  let mut out = walk_specs(std::slice::from_ref(spec), cache, true);
  out.pop().unwrap_or_else(|| Ok(InputSet::default()))
}

/// [`hash_inputs`] of each spec, in order, with one walk for specs whose roots nest (a task
/// reading `apps/web` and another reading `apps/web/src`, or two reading `apps/web`): that
/// walk descends wherever one of them would and hashes a file once, however many read it. Each
/// result is the one [`hash_inputs`] gives for that spec alone. Separate walks run in parallel.
pub fn hash_inputs_many(
  specs: &[InputSpec],
  cache: &StatCache,
) -> Vec<Result<InputSet, HashError>> {
  walk_specs(specs, cache, false)
}

/// [`hash_inputs_many`]; `keep`: the stats go to each set's [`InputSet::observed`].
fn walk_specs(
  specs: &[InputSpec],
  cache: &StatCache,
  keep: bool,
) -> Vec<Result<InputSet, HashError>> {
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
    groups.into_iter().flat_map(|g| walk_group(g, cache, keep)).collect()
  } else {
    std::thread::scope(|s| {
      let handles: Vec<_> =
        groups.into_iter().map(|g| s.spawn(move || walk_group(g, cache, keep))).collect();
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
  group_walks(prepared.collect())
    .into_iter()
    .map(|g| g.into_iter().map(|(i, _)| i).collect())
    .collect()
}

/// The directory components of an include `<literal dirs>/**` (`src/**`: `["src"]`), which
/// matches every file below them; `None` for any other glob.
pub(crate) fn literal_subtree(glob: &str) -> Option<Vec<String>> {
  let dir = glob.strip_suffix("/**")?;
  let literal = |c: &str| {
    !c.is_empty() && c != "." && c != ".." && !c.contains(['*', '?', '[', ']', '{', '}', '\\'])
  };
  let comps: Vec<&str> = dir.split('/').collect();
  comps.iter().all(|c| literal(c)).then(|| comps.iter().map(|c| c.to_string()).collect())
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
  subtrees: Vec<Vec<String>>,
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
      subtrees: includes.iter().filter_map(|g| literal_subtree(g)).collect(),
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
      subtrees: self.subtrees,
    }
  }
}

/// One walk from the first (outermost) root of `group`, serving every spec in it; results are
/// paired with the index each spec had in the caller's list.
fn walk_group(
  group: Vec<(usize, Prepared)>,
  cache: &StatCache,
  keep: bool,
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
    observing: keep || cache.is_observing(),
    learned: std::sync::Mutex::new(Learned::default()),
  });
  let initial = if use_gitignore { ancestor_gitignores(&root) } else { Vec::new() };
  let all = u64::MAX >> (64 - n);
  let top = Arc::new(Node::default());
  let job = DirJob {
    abs: ctx.root_str.clone(),
    rel: String::new(),
    gitignores: Arc::new(initial),
    views: all,
    node: Arc::clone(&top),
  };
  let walker: &WalkCtx = &ctx;
  rayon::scope(|s| walker.read_dir(s, job));

  let mut sets: Vec<Result<InputSet, HashError>> =
    (0..n).map(|_| Ok(InputSet::default())).collect();
  let fail = |sets: &mut Vec<Result<InputSet, HashError>>, mask: u64, e: HashError| {
    for (i, set) in sets.iter_mut().enumerate() {
      if mask & (1 << i) != 0 && set.is_ok() {
        *set = Err(e.duplicate());
      }
    }
  };
  // The nodes in order: every file after the ones of the directories sorting before it.
  let take = |node: &Node| node.0.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default();
  let mut pending = vec![take(&top).into_iter()];
  'walk: while let Some(items) = pending.last_mut() {
    let Some(item) = items.next() else {
      pending.pop();
      continue;
    };
    match item {
      Item::Dir(node) => pending.push(take(&node).into_iter()),
      Item::Err(e, mask) => {
        fail(&mut sets, mask, e);
        if sets.iter().all(Result::is_err) {
          break 'walk;
        }
      }
      Item::File(rel, hash, views) => {
        let mut rel = Some(rel);
        let last = 63 - views.leading_zeros() as usize;
        for (i, set) in sets.iter_mut().enumerate() {
          if views & (1 << i) == 0 {
            continue;
          }
          let Ok(set) = set else { continue };
          let v = &ctx.views[i];
          let path = if i == last && v.prefix.is_empty() {
            rel.take().map(String::from).unwrap_or_default()
          } else {
            v.local(rel.as_deref().unwrap_or_default()).to_string()
          };
          set.stats.files += 1;
          set.files.push(InputFile { path, hash });
        }
      }
    }
  }
  let learned = ctx.learned.lock().map(|mut l| std::mem::take(&mut *l)).unwrap_or_default();
  for (set, c) in sets.iter_mut().zip(&learned.counts) {
    if let Ok(set) = set {
      set.stats.files_read = c[0];
      set.stats.bytes_read = c[1];
      set.stats.stat_cache_hits = c[2];
    }
  }
  // Release the walk's snapshot so the cache update does not copy the map.
  drop(ctx);
  cache.update(learned.updates, learned.seen);
  if keep {
    let observed = Observed::from_records(learned.observed);
    for set in sets.iter_mut().flatten() {
      set.observed = observed.clone();
    }
  } else {
    cache.observe(learned.observed);
  }
  for set in sets.iter_mut().flatten() {
    if !set.files.is_sorted_by(|a, b| a.path <= b.path) {
      set.files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    }
    set.files.dedup_by(|a, b| a.path == b.path);
  }
  indices.into_iter().zip(sets).collect()
}
