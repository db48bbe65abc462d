//! Which memoized walks a file-system event invalidates (pure logic, no I/O but `stat`).

use crate::hash::{InputSet, ALWAYS_IGNORED_DIRS};
use std::collections::{BTreeSet, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Identifies a spec: its canonical JSON.
pub type SpecKey = String;

/// The stat of a file outside the watched tree that a walk depends on (an ancestor `.gitignore`
/// or `.git`); `None` when absent.
type Probe = (PathBuf, Option<(u64, i64, i64, u64)>);

/// One spec's memo.
#[derive(Debug)]
struct Entry {
  /// Canonical root of the walk.
  root: PathBuf,
  /// Directories the walk prunes (as the walk resolves them).
  ignore_dirs: Vec<PathBuf>,
  /// Whether ancestor `.gitignore` files count.
  use_gitignore: bool,
  /// The last walk's result, while no event touched its tree.
  set: Option<Arc<InputSet>>,
  /// Ancestor files the last walk read, with their stats then.
  probes: Vec<Probe>,
  /// Bumped by every event that touches the tree.
  generation: u64,
  /// Files of `set` whose contents changed in place since it was made: re-hashed when next asked.
  stale: BTreeSet<PathBuf>,
}

/// A memoized walk as [`Memo::get`] hands it out.
#[derive(Debug, Clone)]
pub struct Memoized {
  /// The walk's result.
  pub set: Arc<InputSet>,
  /// Files of `set` (absolute) modified in place since: their digests must be computed again.
  pub stale: Vec<PathBuf>,
  /// The entry's generation, for [`Memo::refreshed`].
  pub generation: u64,
  /// The (canonical) root of the walk: `set` lists paths relative to it.
  pub root: PathBuf,
}

/// Walk results by spec, and the invalidation rules.
#[derive(Debug, Default)]
pub struct Memo {
  entries: HashMap<SpecKey, Entry>,
}

/// What a walk reads of an ancestor file: all of a `.gitignore` (its stat stands for its
/// contents), but of `.git` only whether it is there and is a directory (where the work tree
/// ends). Git changes the `.git` directory's times on every `git status` or commit, which must
/// not drop the memo.
fn probe_stat(p: &Path) -> Option<(u64, i64, i64, u64)> {
  let m = std::fs::symlink_metadata(p).ok()?;
  if p.file_name().is_some_and(|n| n == ".git") {
    return Some((u64::from(m.is_dir()), 0, 0, 0));
  }
  Some((m.len(), m.mtime(), m.mtime_nsec(), m.ino()))
}

/// The ancestor files a walk of `root` may read: `.gitignore` and `.git` of every ancestor.
fn probes_of(root: &Path) -> Vec<Probe> {
  root
    .ancestors()
    .skip(1)
    .flat_map(|d| [d.join(".gitignore"), d.join(".git")])
    .map(|p| {
      let s = probe_stat(&p);
      (p, s)
    })
    .collect()
}

impl Memo {
  /// An empty memo.
  pub fn new() -> Self {
    Memo::default()
  }

  /// The memoized set of `key`, if no event changed its tree but the contents of files it lists
  /// (those come as [`Memoized::stale`]) and its ancestor files are unchanged.
  pub fn get(&self, key: &str) -> Option<Memoized> {
    let e = self.entries.get(key)?;
    let set = e.set.as_ref()?;
    if e.probes.iter().any(|(p, s)| probe_stat(p) != *s) {
      return None;
    }
    Some(Memoized {
      set: Arc::clone(set),
      stale: e.stale.iter().cloned().collect(),
      generation: e.generation,
      root: e.root.clone(),
    })
  }

  /// Replaces the set of `key` by `set`, the memoized one with its stale files hashed again,
  /// unless an event touched the tree since [`Memo::get`] gave out `generation`. Returns whether
  /// it was kept.
  pub fn refreshed(&mut self, key: &str, generation: u64, set: Arc<InputSet>) -> bool {
    let Some(e) = self.entries.get_mut(key) else { return false };
    if e.generation != generation || e.set.is_none() {
      return false;
    }
    e.set = Some(set);
    e.stale.clear();
    true
  }

  /// Registers `key` before a walk and returns its generation, to pass to [`Memo::store`].
  pub fn begin(
    &mut self,
    key: &str,
    root: &Path,
    ignore_dirs: Vec<PathBuf>,
    use_gitignore: bool,
  ) -> u64 {
    let e = self.entries.entry(key.to_string()).or_insert_with(|| Entry {
      root: root.to_path_buf(),
      ignore_dirs,
      use_gitignore,
      set: None,
      probes: Vec::new(),
      generation: 0,
      stale: BTreeSet::new(),
    });
    e.generation
  }

  /// Keeps the result of a walk begun at `generation`, unless an event touched the tree since.
  /// Returns whether it was kept.
  pub fn store(&mut self, key: &str, generation: u64, set: Arc<InputSet>) -> bool {
    let Some(e) = self.entries.get_mut(key) else { return false };
    if e.generation != generation {
      return false;
    }
    e.probes = if e.use_gitignore { probes_of(&e.root) } else { Vec::new() };
    e.set = Some(set);
    e.stale.clear();
    true
  }

  /// Forgets every walk whose result an event on `path` may change.
  pub fn invalidate(&mut self, path: &Path) {
    for e in self.entries.values_mut() {
      if affects(e, path) {
        e.forget();
      }
    }
  }

  /// The contents or attributes of `path` changed in place (it was neither created, removed nor
  /// renamed). A walk that lists it keeps its set and hashes that file again when next asked. A
  /// regular file the set does not list stays out of it: it existed when the set was made (its
  /// creation would have dropped the set) and was left out by its path or an ignore file, not
  /// its contents. Anything else the event may change is forgotten, as by [`Memo::invalidate`]:
  /// a `.gitignore` (it decides what the walk lists), a directory, a path gone, a walk running.
  pub fn modified(&mut self, path: &Path) {
    let ignore_file = path.file_name().is_some_and(|n| n == ".gitignore");
    let regular_file = || std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file());
    for e in self.entries.values_mut() {
      if !affects(e, path) {
        continue;
      }
      let listed = match (&e.set, rel_path(&e.root, path)) {
        (Some(set), Some(rel)) if !ignore_file => {
          Some(set.files.binary_search_by(|f| f.path.as_str().cmp(rel.as_str())).is_ok())
        }
        _ => None,
      };
      match listed {
        Some(true) => {
          // A walk begun before this event may have read the old contents: it is not kept.
          e.generation += 1;
          e.stale.insert(path.to_path_buf());
        }
        Some(false) if regular_file() => {}
        _ => e.forget(),
      }
    }
  }

  /// Forgets everything (queue overflow, watcher error).
  pub fn clear(&mut self) {
    for e in self.entries.values_mut() {
      e.forget();
    }
  }

  /// How many walks are memoized.
  pub fn len(&self) -> usize {
    self.entries.values().filter(|e| e.set.is_some()).count()
  }

  /// Whether no walk is memoized.
  pub fn is_empty(&self) -> bool {
    self.len() == 0
  }
}

impl Entry {
  fn forget(&mut self) {
    self.set = None;
    self.stale.clear();
    self.generation += 1;
  }
}

/// `path` relative to `root`, `/`-separated as the walk lists it; `None` outside or not UTF-8.
pub fn rel_path(root: &Path, path: &Path) -> Option<String> {
  let rel = path.strip_prefix(root).ok()?;
  let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
  parts.filter(|p| !p.is_empty()).map(|p| p.join("/"))
}

/// Whether an event on `path` may change the walk of `e`. Conservative: only events strictly
/// inside a directory the walk prunes, or unrelated to its tree and its ancestor ignore files,
/// are ignored.
fn affects(e: &Entry, path: &Path) -> bool {
  if e.root.starts_with(path) {
    return true; // the root or one of its ancestors was created, removed or renamed
  }
  if let Ok(rel) = path.strip_prefix(&e.root) {
    if e.ignore_dirs.iter().any(|d| path.starts_with(d)) {
      return false;
    }
    let comps: Vec<_> = rel.components().collect();
    let inside_always_ignored = comps[..comps.len().saturating_sub(1)]
      .iter()
      .any(|c| ALWAYS_IGNORED_DIRS.iter().any(|d| c.as_os_str() == *d));
    return !inside_always_ignored;
  }
  // Outside the tree: only an ancestor's `.gitignore` / `.git` matters.
  let name = path.file_name().and_then(|n| n.to_str());
  matches!(name, Some(".gitignore") | Some(".git"))
    && path.parent().is_some_and(|p| e.root.starts_with(p))
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::hash::{Digest, InputFile};

  fn set(n: u128) -> Arc<InputSet> {
    Arc::new(InputSet {
      files: vec![InputFile { path: "a".into(), hash: Digest(n) }],
      ..Default::default()
    })
  }

  fn memo_with(root: &Path, ignore: &[&str]) -> Memo {
    let mut m = Memo::new();
    let g = m.begin("k", root, ignore.iter().map(|d| root.join(d)).collect(), true);
    assert!(m.store("k", g, set(1)));
    assert!(m.get("k").is_some());
    m
  }

  #[test]
  fn events_inside_the_tree_invalidate_and_pruned_dirs_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("app");
    std::fs::create_dir(&root).unwrap();
    let cases: &[(&str, bool)] = &[
      ("app/src/a.ts", true),
      ("app/a.ts", true),
      ("app/node_modules/x/index.js", false),
      ("app/src/node_modules/x.js", false),
      ("app/node_modules", true), // the directory itself (a file of that name would be an input)
      ("app/.git/index", false),
      ("app/.git", true),
      ("app/dist/out.js", false),
      ("app/dist", false),
      ("app/distant.ts", true),
      ("other/a.ts", false),
      (".gitignore", true), // an ancestor's ignore file
      ("other/.gitignore", false),
      ("app", true),
      ("", true), // the parent itself (renamed)
    ];
    for (p, expected) in cases {
      let mut m = memo_with(&root, &["dist"]);
      let path = if p.is_empty() { dir.path().to_path_buf() } else { dir.path().join(p) };
      m.invalidate(&path);
      assert_eq!(m.get("k").is_none(), *expected, "event on {p}");
    }
  }

  #[test]
  fn a_listed_file_written_in_place_keeps_the_memo_as_stale_and_anything_else_drops_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("app");
    std::fs::create_dir(&root).unwrap();
    let listed = |m: &Memo| m.get("k").map(|g| g.stale);
    // The set lists `a` only.
    let mut m = memo_with(&root, &[]);
    m.modified(&root.join("a"));
    assert_eq!(listed(&m), Some(vec![root.join("a")]));
    let g = m.get("k").unwrap().generation;
    assert!(m.refreshed("k", g, set(7)), "a refresh of the same generation is kept");
    assert_eq!(listed(&m), Some(vec![]));
    assert_eq!(m.get("k").unwrap().set.files[0].hash, Digest(7));
    // A refresh overtaken by another write is not kept (the file is still stale).
    m.modified(&root.join("a"));
    let g = m.get("k").unwrap().generation;
    m.modified(&root.join("a"));
    assert!(!m.refreshed("k", g, set(8)));
    assert_eq!(listed(&m), Some(vec![root.join("a")]));
    // A walk begun before a write is not kept.
    let g = m.begin("k", &root, Vec::new(), true);
    m.modified(&root.join("a"));
    assert!(!m.store("k", g, set(9)));
    // A regular file the set does not list (left out by its path) stays out.
    std::fs::write(root.join("b"), "x").unwrap();
    let mut m = memo_with(&root, &[]);
    m.modified(&root.join("b"));
    assert_eq!(listed(&m), Some(vec![]), "an unlisted file written in place changes nothing");
    // An ignore file, a directory or a path that is gone is a change of the tree.
    std::fs::write(root.join(".gitignore"), "b\n").unwrap();
    std::fs::create_dir(root.join("d")).unwrap();
    for p in [".gitignore", "d", "gone"] {
      let mut m = memo_with(&root, &[]);
      m.modified(&root.join(p));
      assert!(m.get("k").is_none(), "in-place event on {p} must drop the memo");
    }
    // While no set is kept (a walk running), any write drops the walk's result.
    let mut m = Memo::new();
    let g = m.begin("k", &root, Vec::new(), false);
    m.modified(&root.join("b"));
    assert!(!m.store("k", g, set(3)), "a walk overtaken by a write is not kept");
    // Events outside the tree or in pruned dirs change nothing.
    let mut m = memo_with(&root, &["dist"]);
    m.modified(&root.join("dist/a"));
    m.modified(&dir.path().join("other/a"));
    assert_eq!(listed(&m), Some(vec![]));
    // And a removal after a write drops it all.
    m.modified(&root.join("a"));
    m.invalidate(&root.join("a"));
    assert!(m.get("k").is_none());
  }

  #[test]
  fn a_walk_overtaken_by_an_event_is_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Memo::new();
    let g = m.begin("k", dir.path(), Vec::new(), false);
    m.invalidate(&dir.path().join("x"));
    assert!(!m.store("k", g, set(1)), "an event during the walk must drop its result");
    assert!(m.get("k").is_none());
    let g = m.begin("k", dir.path(), Vec::new(), false);
    assert!(m.store("k", g, set(2)));
    assert_eq!(m.get("k").unwrap().set.files[0].hash, Digest(2));
    m.clear();
    assert!(m.get("k").is_none() && m.is_empty());
  }

  #[test]
  fn a_changed_ancestor_gitignore_outside_the_watch_is_noticed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("app");
    std::fs::create_dir(&root).unwrap();
    let m = memo_with(&root, &[]);
    std::fs::write(dir.path().join(".gitignore"), "*.log\n").unwrap();
    assert!(m.get("k").is_none(), "a new ancestor .gitignore must drop the memo");
  }

  #[test]
  fn git_touching_an_ancestor_git_dir_keeps_the_memo_but_its_removal_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("app");
    std::fs::create_dir_all(&root).unwrap();
    let git = dir.path().join(".git");
    std::fs::create_dir(&git).unwrap();
    let m = memo_with(&root, &[]);
    // What `git status` or a commit does: files come and go in .git, whose times change.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(git.join("index.lock"), "x").unwrap();
    std::fs::rename(git.join("index.lock"), git.join("index")).unwrap();
    assert!(m.get("k").is_some(), "activity inside an ancestor .git must keep the memo");
    std::fs::remove_dir_all(&git).unwrap();
    assert!(m.get("k").is_none(), "the work tree's end moved: the memo must go");
  }
}
