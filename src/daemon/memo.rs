//! Which memoized walks a file-system event invalidates (pure logic, no I/O but `stat`).

use crate::hash::{InputSet, ALWAYS_IGNORED_DIRS};
use std::collections::HashMap;
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

  /// The memoized set of `key`, if no event touched it and its ancestor files are unchanged.
  pub fn get(&self, key: &str) -> Option<Arc<InputSet>> {
    let e = self.entries.get(key)?;
    let set = e.set.as_ref()?;
    if e.probes.iter().any(|(p, s)| probe_stat(p) != *s) {
      return None;
    }
    Some(Arc::clone(set))
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
    true
  }

  /// Forgets every walk whose result an event on `path` may change.
  pub fn invalidate(&mut self, path: &Path) {
    for e in self.entries.values_mut() {
      if affects(e, path) {
        e.set = None;
        e.generation += 1;
      }
    }
  }

  /// Forgets everything (queue overflow, watcher error).
  pub fn clear(&mut self) {
    for e in self.entries.values_mut() {
      e.set = None;
      e.generation += 1;
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
  fn a_walk_overtaken_by_an_event_is_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Memo::new();
    let g = m.begin("k", dir.path(), Vec::new(), false);
    m.invalidate(&dir.path().join("x"));
    assert!(!m.store("k", g, set(1)), "an event during the walk must drop its result");
    assert!(m.get("k").is_none());
    let g = m.begin("k", dir.path(), Vec::new(), false);
    assert!(m.store("k", g, set(2)));
    assert_eq!(m.get("k").unwrap().files[0].hash, Digest(2));
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
