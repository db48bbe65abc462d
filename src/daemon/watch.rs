//! The file-system watcher: feeds events into the [`Memo`] and provides a synchronization point
//! (every event queued before [`Watch::sync`] has been applied when it returns).

use super::error::DaemonError;
use super::memo::Memo;
use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{Event, EventKind, RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Shared state between the watcher thread and the request handlers.
#[derive(Debug, Default)]
pub struct WatchState {
  /// The memo the events invalidate.
  pub memo: Memo,
  /// Why the watcher cannot be trusted any more (then nothing is served from memory).
  pub failed: Option<String>,
  /// Highest sync marker seen.
  pub synced: u64,
  /// The watched root is gone.
  pub root_gone: bool,
}

/// A recursive watch of the project root plus a marker directory for synchronization.
pub struct Watch {
  /// State shared with the event handler.
  pub state: Arc<(Mutex<WatchState>, Condvar)>,
  marker_dir: PathBuf,
  next_marker: Mutex<u64>,
  _watcher: notify::RecommendedWatcher,
}

/// How long a sync may wait for its marker before the walk is done afresh.
const SYNC_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether an event can change a file's contents, its presence or the tree (opens and
/// read-only closes cannot).
fn changes_something(kind: &EventKind) -> bool {
  !matches!(
    kind,
    EventKind::Access(AccessKind::Open(_))
      | EventKind::Access(AccessKind::Read)
      | EventKind::Access(AccessKind::Close(AccessMode::Read))
  )
}

/// Whether an event changed a file's contents or attributes in place (a write, a truncation, a
/// `chmod` or `touch`), as opposed to its presence or name (create, remove, rename).
fn in_place(kind: &EventKind) -> bool {
  matches!(
    kind,
    EventKind::Modify(ModifyKind::Data(_))
      | EventKind::Modify(ModifyKind::Metadata(_))
      | EventKind::Access(AccessKind::Close(AccessMode::Write))
  )
}

fn marker_number(path: &Path, marker_dir: &Path) -> Option<u64> {
  let name = path.strip_prefix(marker_dir).ok()?.to_str()?;
  name.strip_prefix("sync-")?.parse().ok()
}

/// Applies one watcher callback to the state.
fn apply(st: &mut WatchState, res: notify::Result<Event>, root: &Path, marker_dir: &Path) {
  match res {
    Err(e) => {
      st.memo.clear();
      st.failed.get_or_insert_with(|| e.to_string());
    }
    Ok(ev) if ev.need_rescan() => {
      st.memo.clear();
      st.failed.get_or_insert_with(|| "event queue overflowed".into());
    }
    Ok(ev) => {
      for p in &ev.paths {
        if p.starts_with(marker_dir) {
          if let Some(n) = marker_number(p, marker_dir) {
            st.synced = st.synced.max(n);
          }
          continue;
        }
        if !changes_something(&ev.kind) {
          continue;
        }
        if in_place(&ev.kind) {
          st.memo.modified(p);
        } else {
          st.memo.invalidate(p);
        }
        if root.starts_with(p) && !root.exists() {
          st.root_gone = true;
        }
      }
      if ev.paths.is_empty() && changes_something(&ev.kind) {
        st.memo.clear();
      }
    }
  }
}

impl Watch {
  /// Watches `root` (canonical) recursively and `marker_dir` (created) for sync markers.
  pub fn start(root: &Path, marker_dir: &Path) -> Result<Watch, DaemonError> {
    std::fs::create_dir_all(marker_dir).map_err(|e| DaemonError::io("creating", marker_dir, e))?;
    let marker_dir =
      std::fs::canonicalize(marker_dir).map_err(|e| DaemonError::io("resolving", marker_dir, e))?;
    let state = Arc::new((Mutex::new(WatchState::default()), Condvar::new()));
    let (s2, r2, m2) = (Arc::clone(&state), root.to_path_buf(), marker_dir.clone());
    let handler = move |res: notify::Result<Event>| {
      let (lock, cv) = &*s2;
      if let Ok(mut st) = lock.lock() {
        apply(&mut st, res, &r2, &m2);
      }
      cv.notify_all();
    };
    let config = notify::Config::default().with_follow_symlinks(false);
    let mut watcher = notify::RecommendedWatcher::new(handler, config)
      .map_err(|e| DaemonError::Watch(e.to_string()))?;
    watcher
      .watch(&marker_dir, RecursiveMode::NonRecursive)
      .map_err(|e| DaemonError::Watch(format!("{}: {e}", marker_dir.display())))?;
    watcher
      .watch(root, RecursiveMode::Recursive)
      .map_err(|e| DaemonError::Watch(format!("{}: {e}", root.display())))?;
    Ok(Watch { state, marker_dir, next_marker: Mutex::new(0), _watcher: watcher })
  }

  /// Waits until every event queued before this call has been applied (a marker file's event
  /// comes after them in the same queue). `false` on timeout or error: do not trust the memo.
  pub fn sync(&self) -> bool {
    let n = {
      let Ok(mut m) = self.next_marker.lock() else { return false };
      *m += 1;
      *m
    };
    let file = self.marker_dir.join(format!("sync-{n}"));
    if std::fs::write(&file, b"").is_err() {
      return false;
    }
    let (lock, cv) = &*self.state;
    let ok = match lock.lock() {
      Ok(g) => cv
        .wait_timeout_while(g, SYNC_TIMEOUT, |st| st.synced < n && st.failed.is_none())
        .map(|(st, _)| st.synced >= n)
        .unwrap_or(false),
      Err(_) => false,
    };
    let _ = std::fs::remove_file(&file);
    ok
  }

  /// The marker directory (removed when the daemon exits).
  pub fn marker_dir(&self) -> &Path {
    &self.marker_dir
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::hash::{InputSet, StatCache};

  fn walk(root: &Path) -> Arc<InputSet> {
    let spec = crate::hash::InputSpec::new(root, ["**"]);
    Arc::new(crate::hash::hash_inputs(&spec, &StatCache::empty(root.join("none"))).unwrap())
  }

  #[test]
  fn edits_after_a_walk_invalidate_it_by_the_next_sync() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap().join("p");
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join("src/a.ts"), "1").unwrap();
    let markers = tempfile::tempdir().unwrap();
    let w = Watch::start(&root, markers.path()).unwrap();
    assert!(w.sync());
    let memoize = |w: &Watch| {
      let g = w.state.0.lock().unwrap().memo.begin("k", &root, Vec::new(), false);
      let s = walk(&root);
      assert!(w.state.0.lock().unwrap().memo.store("k", g, s));
    };
    memoize(&w);
    assert!(w.sync());
    assert!(w.state.0.lock().unwrap().memo.get("k").is_some(), "reading files must not invalidate");
    // Each kind of change, then a sync: a change of the tree drops the memo; a file written in
    // place keeps it, listed as stale (it is hashed again when next asked).
    let stale = |w: &Watch| -> Option<Vec<PathBuf>> {
      w.state.0.lock().unwrap().memo.get("k").map(|m| m.stale)
    };
    type Step<'a> = (Box<dyn Fn() + 'a>, Option<&'static str>);
    let steps: Vec<Step> = vec![
      (Box::new(|| std::fs::write(root.join("src/a.ts"), "2").unwrap()), Some("src/a.ts")),
      (Box::new(|| std::fs::write(root.join("src/b.ts"), "new").unwrap()), None),
      (Box::new(|| std::fs::remove_file(root.join("src/b.ts")).unwrap()), None),
      (Box::new(|| std::fs::create_dir_all(root.join("src/deep/er")).unwrap()), None),
      (Box::new(|| std::fs::write(root.join("src/deep/er/c.ts"), "c").unwrap()), None),
      (Box::new(|| std::fs::rename(root.join("src/deep"), root.join("src/moved")).unwrap()), None),
      (
        Box::new(|| std::fs::write(root.join("src/moved/er/c.ts"), "c2").unwrap()),
        Some("src/moved/er/c.ts"),
      ),
      (Box::new(|| std::fs::write(root.join(".gitignore"), "*.log\n").unwrap()), None),
      (Box::new(|| std::fs::write(root.join(".gitignore"), "*.tmp\n").unwrap()), None),
    ];
    for (i, (step, in_place)) in steps.iter().enumerate() {
      memoize(&w);
      step();
      assert!(w.sync(), "step {i}: sync");
      match in_place {
        Some(f) => assert_eq!(stale(&w), Some(vec![root.join(f)]), "step {i}: written in place"),
        None => assert_eq!(stale(&w), None, "step {i}: memo survived"),
      }
    }
    assert!(w.state.0.lock().unwrap().failed.is_none());
  }
}
