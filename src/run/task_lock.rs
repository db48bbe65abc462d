//! Per-task locks, and the task scope that child processes inherit them through.
//!
//! Two builds of one project that would write the same outputs must not run the task at the same
//! time. Each task takes an exclusive `flock` on `<cacheDir>/locks/<id>.lock`, where the id hashes
//! the task's output paths (so any two builds writing the same outputs serialize), for as long as
//! it runs: the orchestrator takes it before the cache lookup, so a build that waited then finds the
//! entry the first one saved.
//!
//! The lock is held by an open file description, and the task's child processes inherit it:
//! [`crate::run::process::Cmd`] clears close-on-exec on the lock's descriptor in the forked child
//! only (other tasks spawn concurrently and must not inherit it). A leftover child of a crashed
//! build therefore keeps the lock until it is gone, and the next build waits for it (or reaps it,
//! see [`super::procs`]). For the same reason the lock is never released with `LOCK_UN` (that would
//! release it for the children too): it is released when the last descriptor is closed.
//!
//! How `Cmd` learns the current task: the orchestrator runs the task's future inside
//! [`TaskScope::run`], a `tokio::task_local!` scope; every `Cmd` run within that future (not in
//! futures it `tokio::spawn`s) finds it with [`current`]. Builders need no change.

use std::fs::File;
use std::future::Future;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The directory under `cacheDir` that holds the lock files.
pub const LOCKS_DIR: &str = "locks";

/// How often a waiting build retries the lock.
const POLL: Duration = Duration::from_millis(50);

tokio::task_local! {
  static SCOPE: Arc<TaskScope>;
}

/// Why a task lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
  /// The lock file could not be created, opened or locked.
  #[error("{what} the task lock {}: {source}", path.display())]
  Io {
    /// What was being done.
    what: &'static str,
    /// The lock file.
    path: PathBuf,
    /// Why.
    #[source]
    source: std::io::Error,
  },
  /// The build was cancelled while waiting.
  #[error("cancelled while waiting for the task lock")]
  Cancelled,
}

/// An exclusive lock on a task's outputs, released when dropped (and when every child process that
/// inherited it is gone).
#[derive(Debug)]
pub struct TaskLock {
  file: File,
  path: PathBuf,
}

/// The lock file of a task under `cache_dir`: named by a hash of its sorted, absolute output paths,
/// or of its name when it declares none.
pub fn lock_path(cache_dir: &Path, outputs: &[PathBuf], task: &str) -> PathBuf {
  let mut parts: Vec<String> = outputs.iter().map(|p| p.to_string_lossy().into_owned()).collect();
  parts.sort();
  parts.dedup();
  let key = if parts.is_empty() { format!("task\0{task}") } else { parts.join("\0") };
  let id = xxhash_rust::xxh3::xxh3_128(key.as_bytes());
  cache_dir.join(LOCKS_DIR).join(format!("{id:032x}.lock"))
}

impl TaskLock {
  /// Takes the lock at `path` if it is free right now (`None` if another holder has it).
  pub fn try_acquire(path: &Path) -> Result<Option<TaskLock>, LockError> {
    let io = |what| move |source| LockError::Io { what, path: path.to_path_buf(), source };
    if let Some(dir) = path.parent() {
      std::fs::create_dir_all(dir).map_err(io("creating the directory of"))?;
    }
    // std opens with close-on-exec: no child inherits it unless `Cmd` says so.
    let file = std::fs::OpenOptions::new()
      .read(true)
      .write(true)
      .create(true)
      .truncate(false)
      .open(path)
      .map_err(io("opening"))?;
    loop {
      // SAFETY: flock on a descriptor we own.
      if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(Some(TaskLock { file, path: path.to_path_buf() }));
      }
      let e = std::io::Error::last_os_error();
      match e.kind() {
        std::io::ErrorKind::WouldBlock => return Ok(None),
        std::io::ErrorKind::Interrupted => continue,
        _ => return Err(io("locking")(e)),
      }
    }
  }

  /// Takes the lock at `path`, waiting (without blocking a thread) while another build holds it;
  /// `on_wait` is told once, with "waiting for another build of `task`". Returns
  /// [`LockError::Cancelled`] if `cancel` fires first.
  pub async fn acquire(
    path: &Path,
    task: &str,
    on_wait: &(dyn Fn(&str) + Send + Sync),
    cancel: &CancellationToken,
  ) -> Result<TaskLock, LockError> {
    let mut told = false;
    loop {
      if cancel.is_cancelled() {
        return Err(LockError::Cancelled);
      }
      if let Some(lock) = TaskLock::try_acquire(path)? {
        return Ok(lock);
      }
      if !told {
        on_wait(&format!("waiting for another build of {task} (lock {})", path.display()));
        told = true;
      }
      tokio::select! {
        _ = tokio::time::sleep(POLL) => {}
        _ = cancel.cancelled() => return Err(LockError::Cancelled),
      }
    }
  }

  /// The lock file.
  pub fn path(&self) -> &Path {
    &self.path
  }

  /// The descriptor that holds the lock.
  pub fn fd(&self) -> RawFd {
    self.file.as_raw_fd()
  }
}

/// What a running task's child processes are started with: its lock (inherited) and where their
/// process groups are recorded.
#[derive(Debug)]
pub struct TaskScope {
  lock: TaskLock,
  procs_dir: PathBuf,
  task: String,
}

impl TaskScope {
  /// The scope of `task`, holding `lock`; pid files go to `<cache_dir>/procs/`.
  pub fn new(lock: TaskLock, cache_dir: &Path, task: &str) -> Self {
    TaskScope { lock, procs_dir: cache_dir.join(super::procs::PROCS_DIR), task: task.to_string() }
  }

  /// Runs `fut` in this scope; the lock is released when it is done (unless children still hold it).
  pub async fn run<F: Future>(self, fut: F) -> F::Output {
    SCOPE.scope(Arc::new(self), fut).await
  }

  /// The lock.
  pub fn lock(&self) -> &TaskLock {
    &self.lock
  }

  /// Where the task's process groups are recorded.
  pub fn procs_dir(&self) -> &Path {
    &self.procs_dir
  }

  /// The task's name.
  pub fn task(&self) -> &str {
    &self.task
  }
}

/// The scope of the task whose future is running, if any.
pub fn current() -> Option<Arc<TaskScope>> {
  SCOPE.try_with(Arc::clone).ok()
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::run::process::Cmd;
  use std::sync::Mutex;

  #[test]
  fn lock_path_depends_on_the_output_set_only() {
    let c = Path::new("/c");
    let a = lock_path(c, &[PathBuf::from("/p/out"), PathBuf::from("/p/b")], "x");
    let b = lock_path(c, &[PathBuf::from("/p/b"), PathBuf::from("/p/out")], "y");
    assert_eq!(a, b, "same outputs, any order or task name: one lock");
    assert_ne!(a, lock_path(c, &[PathBuf::from("/p/out")], "x"));
    assert_ne!(lock_path(c, &[], "x"), lock_path(c, &[], "y"));
    assert!(a.starts_with("/c/locks"));
  }

  #[tokio::test]
  async fn second_holder_waits_logs_once_and_can_be_cancelled() {
    let tmp = tempfile::tempdir().unwrap();
    let path = lock_path(tmp.path(), &[tmp.path().join("out")], "gen");
    let first = TaskLock::try_acquire(&path).unwrap().expect("free");
    assert!(TaskLock::try_acquire(&path).unwrap().is_none(), "held");
    let said = Mutex::new(Vec::new());
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    tokio::spawn(async move {
      tokio::time::sleep(Duration::from_millis(300)).await;
      c2.cancel();
    });
    let r =
      TaskLock::acquire(&path, "gen", &|m| said.lock().unwrap().push(m.to_string()), &cancel).await;
    assert!(matches!(r, Err(LockError::Cancelled)));
    let said = said.into_inner().unwrap();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].starts_with("waiting for another build of gen"), "{said:?}");
    // Released on drop: a waiter then gets it.
    let waiter = {
      let path = path.clone();
      tokio::spawn(async move {
        TaskLock::acquire(&path, "gen", &|_| {}, &CancellationToken::new()).await.map(|_| ())
      })
    };
    tokio::time::sleep(Duration::from_millis(120)).await;
    drop(first);
    tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap().unwrap();
  }

  /// The lock's descriptor reaches the children of its own task, and only those.
  #[cfg(target_os = "linux")]
  #[tokio::test]
  async fn children_inherit_their_own_tasks_lock_only() {
    let tmp = tempfile::tempdir().unwrap();
    let pa = lock_path(tmp.path(), &[tmp.path().join("a")], "a");
    let pb = lock_path(tmp.path(), &[tmp.path().join("b")], "b");
    let open_files = || async {
      let out = Cmd::new("sh")
        .args(["-c", "for f in /proc/$$/fd/*; do readlink $f; done"])
        .capture_stdout()
        .run(&|_| {}, &CancellationToken::new())
        .await
        .unwrap();
      out.stdout.lines().map(PathBuf::from).collect::<Vec<_>>()
    };
    let sa = TaskScope::new(TaskLock::try_acquire(&pa).unwrap().unwrap(), tmp.path(), "a");
    let sb = TaskScope::new(TaskLock::try_acquire(&pb).unwrap().unwrap(), tmp.path(), "b");
    let (fa, fb, none) = tokio::join!(sa.run(open_files()), sb.run(open_files()), open_files());
    assert!(fa.contains(&pa) && !fa.contains(&pb), "{fa:?}");
    assert!(fb.contains(&pb) && !fb.contains(&pa), "{fb:?}");
    assert!(!none.contains(&pa) && !none.contains(&pb), "{none:?}");
    // The pid files are gone once the commands ended.
    let left = std::fs::read_dir(tmp.path().join(super::super::procs::PROCS_DIR))
      .map(|d| d.count())
      .unwrap_or(0);
    assert_eq!(left, 0);
  }
}
