//! Child processes that stream their output as log lines and stop when the build is cancelled.
//!
//! Each child runs in its own process group; cancellation sends SIGTERM to the whole group, then
//! SIGKILL after a grace period, and waits for the child before returning. When the command ends,
//! whatever it left running in its group is killed, so no process is left.
//!
//! Every child also dies with farm, however farm dies:
//! - on Linux the child gets `PR_SET_PDEATHSIG(SIGKILL)` before `exec` (and exits at once if farm
//!   already died before that). The signal follows the *thread* that spawned it: `Cmd::run` must be
//!   awaited on a thread that outlives the child (tokio worker threads do);
//! - the child registers its process group with the lifeline watchdog before `exec` (see
//!   [`super::lifeline`]), which SIGKILLs the whole group when farm dies, grandchildren included;
//! - inside a task's scope (see [`super::task_lock`]) the group is recorded in a pid file under
//!   `<cacheDir>/procs/`, reaped by the next build if both farm and its watchdog died, and the child
//!   inherits the task's lock.

use super::lifeline::{self, ChildHook};
use super::procs::PidFile;
use super::task_lock;
use std::os::fd::RawFd;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

/// How long a cancelled child gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(3);
/// How many output lines are kept for error messages.
const KEEP_LINES: usize = 400;

/// Runs `program args` to the end (blocking, no stdin, stderr discarded) and returns its trimmed
/// stdout if it exited with 0. For quick probes: versions, git state.
pub fn probe(program: &str, args: &[&str], cwd: Option<&Path>) -> Option<String> {
  let mut cmd = std::process::Command::new(program);
  cmd.args(args).stdin(Stdio::null()).stderr(Stdio::null());
  if let Some(dir) = cwd {
    cmd.current_dir(dir);
  }
  cmd
    .output()
    .ok()
    .filter(|o| o.status.success())
    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// Makes this process get `SIGTERM` when its parent dies (Linux's `PR_SET_PDEATHSIG`; a build
/// cancels on it), and exits at once when the parent `expected` is already gone. For the native
/// executable run by the Node CLI: a `kill -9` of `farm` must not leave it building.
#[cfg(target_os = "linux")]
pub fn follow_parent(expected: u32) {
  // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number and touches no memory.
  unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong, 0, 0, 0) };
  if std::os::unix::process::parent_id() != expected {
    std::process::exit(1);
  }
}

/// Elsewhere the parent is not followed (see the Linux version).
#[cfg(not(target_os = "linux"))]
pub fn follow_parent(_expected: u32) {}

/// What a finished child left.
#[derive(Debug, Clone)]
pub struct ProcessOutput {
  /// Exit code (`None` if killed by a signal).
  pub code: Option<i32>,
  /// The last lines of stdout and stderr, interleaved as they came.
  pub lines: Vec<String>,
  /// All of stdout (only when captured).
  pub stdout: String,
}

impl ProcessOutput {
  /// Whether it exited with 0.
  pub fn success(&self) -> bool {
    self.code == Some(0)
  }

  /// The last `n` output lines, joined.
  pub fn tail(&self, n: usize) -> String {
    let start = self.lines.len().saturating_sub(n);
    self.lines[start..].join("\n")
  }
}

/// Why a child could not be run to the end.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
  /// The program could not be started.
  #[error("could not start `{program}`: {source}")]
  Spawn {
    /// The program.
    program: String,
    /// Why.
    #[source]
    source: std::io::Error,
  },
  /// The build was cancelled; the child was stopped.
  #[error("cancelled")]
  Cancelled,
  /// Waiting for the child failed.
  #[error("waiting for `{program}`: {source}")]
  Wait {
    /// The program.
    program: String,
    /// Why.
    #[source]
    source: std::io::Error,
  },
}

/// A command to run.
#[derive(Debug, Clone)]
pub struct Cmd {
  program: String,
  args: Vec<String>,
  cwd: Option<std::path::PathBuf>,
  env: Vec<(String, String)>,
  capture_stdout: bool,
}

impl Cmd {
  /// A command running `program`.
  pub fn new(program: impl Into<String>) -> Self {
    Cmd { program: program.into(), args: vec![], cwd: None, env: vec![], capture_stdout: false }
  }

  /// Adds arguments.
  pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
    self.args.extend(args.into_iter().map(Into::into));
    self
  }

  /// Adds one argument.
  pub fn arg(mut self, a: impl Into<String>) -> Self {
    self.args.push(a.into());
    self
  }

  /// Adds a path argument.
  pub fn arg_path(mut self, p: &Path) -> Self {
    self.args.push(p.to_string_lossy().into_owned());
    self
  }

  /// Sets the working directory.
  pub fn cwd(mut self, dir: &Path) -> Self {
    self.cwd = Some(dir.to_path_buf());
    self
  }

  /// Sets an environment variable.
  pub fn env(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
    self.env.push((k.into(), v.into()));
    self
  }

  /// Keeps stdout whole in [`ProcessOutput::stdout`] instead of streaming it as log lines.
  pub fn capture_stdout(mut self) -> Self {
    self.capture_stdout = true;
    self
  }

  /// The command line, for messages.
  pub fn display(&self) -> String {
    std::iter::once(self.program.as_str())
      .chain(self.args.iter().map(String::as_str))
      .collect::<Vec<_>>()
      .join(" ")
  }

  /// Runs it to the end; each output line goes to `on_line`. Cancellation stops the whole process group.
  pub async fn run(
    &self,
    on_line: &(dyn Fn(&str) + Send + Sync),
    cancel: &CancellationToken,
  ) -> Result<ProcessOutput, ProcessError> {
    let mut span = crate::report::profile::current_span(self.profile_cat(), || {
      let line = self.display();
      match line.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line,
      }
    });
    span.text("command", || self.display());
    let out = self.run_unprofiled(on_line, cancel).await;
    if let Ok(o) = &out {
      span.num("exit", o.code.map_or(-1.0, f64::from));
    }
    out
  }

  /// Python steps (an interpreter, uv, pip, ruff) and other processes, for `--profile`.
  fn profile_cat(&self) -> crate::report::profile::SpanCat {
    use crate::report::profile::SpanCat;
    let base = Path::new(&self.program).file_name().and_then(|n| n.to_str()).unwrap_or("");
    if base.starts_with("python") || matches!(base, "uv" | "pip" | "pip3" | "ruff") {
      SpanCat::Python
    } else {
      SpanCat::Process
    }
  }

  async fn run_unprofiled(
    &self,
    on_line: &(dyn Fn(&str) + Send + Sync),
    cancel: &CancellationToken,
  ) -> Result<ProcessOutput, ProcessError> {
    let mut cmd = Command::new(&self.program);
    cmd.args(&self.args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.kill_on_drop(true).process_group(0);
    if let Some(d) = &self.cwd {
      cmd.current_dir(d);
    }
    for (k, v) in &self.env {
      cmd.env(k, v);
    }
    let scope = task_lock::current();
    let hook = ChildHook::new();
    let lock_fd = scope.as_ref().map(|s| s.lock().fd());
    let parent = std::process::id();
    // SAFETY: `child_setup` only makes async-signal-safe calls and does not allocate.
    unsafe {
      cmd.pre_exec(move || child_setup(parent, hook, lock_fd));
    }
    let mut child = match cmd.spawn() {
      Ok(c) => c,
      Err(source) => {
        if let Some(h) = hook {
          lifeline::unwatch(h.id());
        }
        return Err(ProcessError::Spawn { program: self.program.clone(), source });
      }
    };
    let pid = child.id();
    let pid_file = match (&scope, pid) {
      (Some(s), Some(p)) => match PidFile::create(s.procs_dir(), p, s.task(), &self.program) {
        Ok(f) => Some(f),
        Err(e) => {
          on_line(&format!("farm: could not record the process group of `{}`: {e}", self.program));
          None
        }
      },
      _ => None,
    };
    let _group = GroupGuard { pgid: pid, hook, _pid_file: pid_file, _scope: scope };
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let lines = std::sync::Mutex::new(std::collections::VecDeque::<String>::new());
    let push = |l: String| {
      on_line(&l);
      if let Ok(mut q) = lines.lock() {
        if q.len() == KEEP_LINES {
          q.pop_front();
        }
        q.push_back(l);
      }
    };
    let mut captured = String::new();
    let read_out = async {
      if let Some(out) = stdout {
        let mut r = BufReader::new(out).lines();
        while let Ok(Some(l)) = r.next_line().await {
          if self.capture_stdout {
            captured.push_str(&l);
            captured.push('\n');
          } else {
            push(l);
          }
        }
      }
    };
    let read_err = async {
      if let Some(err) = stderr {
        let mut r = BufReader::new(err).lines();
        while let Ok(Some(l)) = r.next_line().await {
          push(l);
        }
      }
    };
    let status = {
      let work = async {
        tokio::join!(read_out, read_err);
        child.wait().await
      };
      tokio::pin!(work);
      tokio::select! {
        s = &mut work => s,
        _ = cancel.cancelled() => {
          kill_group(pid, libc::SIGTERM);
          if tokio::time::timeout(GRACE, &mut work).await.is_err() {
            kill_group(pid, libc::SIGKILL);
            let _ = work.await;
          }
          return Err(ProcessError::Cancelled);
        }
      }
    };
    let status =
      status.map_err(|source| ProcessError::Wait { program: self.program.clone(), source })?;
    let lines = lines.into_inner().map(Vec::from).unwrap_or_default();
    Ok(ProcessOutput { code: status.code(), lines, stdout: captured })
  }
}

/// Runs in the forked child before `exec`: the death signal, the lifeline registration, the task
/// lock. Only async-signal-safe calls, no allocation.
fn child_setup(
  parent: u32,
  hook: Option<ChildHook>,
  lock_fd: Option<RawFd>,
) -> std::io::Result<()> {
  #[cfg(any(target_os = "linux", target_os = "android"))]
  {
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number and touches no memory.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) } != 0
    {
      return Err(std::io::Error::last_os_error());
    }
  }
  if let Some(h) = hook {
    // SAFETY: this is the forked child, before exec; the lifeline's descriptor is still open here.
    unsafe { h.register_self() };
  }
  // Farm may have died before the death signal was armed: then never run the command. (The
  // watchdog cannot have seen end of file yet: this child still holds the pipe until exec.)
  // SAFETY: getppid and _exit are async-signal-safe.
  if unsafe { libc::getppid() } as u32 != parent {
    unsafe { libc::_exit(1) };
  }
  if let Some(fd) = lock_fd {
    // The task's lock survives exec in this child only (the parent keeps it close-on-exec).
    // SAFETY: fcntl on a descriptor inherited from the parent, open for the duration of the spawn.
    unsafe {
      let flags = libc::fcntl(fd, libc::F_GETFD);
      if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) != 0 {
        return Err(std::io::Error::last_os_error());
      }
    }
  }
  Ok(())
}

/// A started child's process group: when the run ends (or its future is dropped), kills what is left
/// in the group, then drops its lifeline registration and its pid file.
struct GroupGuard {
  pgid: Option<u32>,
  hook: Option<ChildHook>,
  _pid_file: Option<PidFile>,
  _scope: Option<std::sync::Arc<task_lock::TaskScope>>,
}

impl Drop for GroupGuard {
  fn drop(&mut self) {
    kill_group(self.pgid, libc::SIGKILL);
    if let Some(h) = self.hook {
      lifeline::unwatch(h.id());
    }
  }
}

fn kill_group(pid: Option<u32>, sig: libc::c_int) {
  if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
    // SAFETY: kill(2) with a negative pid signals the process group the child leads; no memory involved.
    unsafe {
      libc::kill(-pid, sig);
    }
  }
}

// The tests read /proc to see whether a process is gone.
#[cfg(all(test, target_os = "linux"))]
mod tests {
  use super::*;

  #[tokio::test]
  async fn streams_lines_and_exit_code() {
    let seen = std::sync::Mutex::new(Vec::new());
    let out = Cmd::new("sh")
      .args(["-c", "echo one; echo two >&2; exit 3"])
      .run(&|l| seen.lock().unwrap().push(l.to_string()), &CancellationToken::new())
      .await
      .unwrap();
    assert_eq!(out.code, Some(3));
    let mut s = seen.into_inner().unwrap();
    s.sort();
    assert_eq!(s, ["one", "two"]);
  }

  #[tokio::test]
  async fn cancel_kills_the_whole_group() {
    let dir = std::env::temp_dir().join(format!("farm-proc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pidfile = dir.join("grandchild.pid");
    let token = CancellationToken::new();
    let t2 = token.clone();
    tokio::spawn(async move {
      tokio::time::sleep(Duration::from_millis(300)).await;
      t2.cancel();
    });
    let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
    let r = Cmd::new("sh").args(["-c", &script]).run(&|_| {}, &token).await;
    assert!(matches!(r, Err(ProcessError::Cancelled)));
    let gpid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    // The grandchild got SIGTERM with its group; give the kernel a moment, then it must be gone.
    let mut alive = true;
    for _ in 0..50 {
      let st = std::fs::read_to_string(format!("/proc/{gpid}/stat")).unwrap_or_default();
      alive = !st.is_empty() && !st.contains(") Z ");
      if !alive {
        break;
      }
      std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive, "grandchild {gpid} survived cancellation");
    let _ = std::fs::remove_dir_all(dir);
  }

  // ------------------------------------------------ farm dies: a helper process plays farm

  use crate::run::procs::reap_leftovers;
  use crate::run::task_lock::{lock_path, TaskLock, TaskScope};
  use std::path::PathBuf;
  use std::time::Instant;

  fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
      .is_ok_and(|st| !st.is_empty() && !st.contains(") Z "))
  }

  /// Waits up to `secs` for `pid` to be gone.
  fn gone_within(pid: u32, secs: u64) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
      if !alive(pid) {
        return true;
      }
      std::thread::sleep(Duration::from_millis(20));
    }
    !alive(pid)
  }

  fn read_pid(path: &Path) -> u32 {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
      if let Some(p) = std::fs::read_to_string(path).ok().and_then(|s| s.trim().parse().ok()) {
        return p;
      }
      assert!(Instant::now() < end, "{} never written", path.display());
      std::thread::sleep(Duration::from_millis(20));
    }
  }

  fn kill9(pid: u32) {
    // SAFETY: kill(2), no memory involved.
    unsafe {
      libc::kill(pid as i32, libc::SIGKILL);
    }
  }

  /// Starts [`farm_stand_in`] in a new process, working in `work`.
  fn spawn_farm(work: &Path) -> std::process::Child {
    let module = module_path!();
    let name = format!("{}::farm_stand_in", module.split_once("::").map_or(module, |(_, r)| r));
    std::process::Command::new(std::env::current_exe().unwrap())
      .args([name.as_str(), "--exact", "--ignored", "--nocapture", "--test-threads=1"])
      .env("FARM_PROC_TEST_WORK", work)
      .stdout(Stdio::null())
      .stderr(Stdio::null())
      .spawn()
      .unwrap()
  }

  fn task_lock_path(work: &Path) -> PathBuf {
    lock_path(&work.join("cache"), &[work.join("out")], "gen")
  }

  /// Not a test: plays a farm process for the tests below (only when `FARM_PROC_TEST_WORK` is set).
  /// Runs, in the scope of a task `gen` holding its lock, a command that starts a grandchild; writes
  /// the pids, then waits to be killed.
  #[test]
  #[ignore = "entry point for child processes of other tests"]
  fn farm_stand_in() {
    let Ok(work) = std::env::var("FARM_PROC_TEST_WORK") else { return };
    let work = PathBuf::from(work);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
      let lock = TaskLock::try_acquire(&task_lock_path(&work)).unwrap().unwrap();
      let scope = TaskScope::new(lock, &work.join("cache"), "gen");
      let script = format!(
        "sleep 60 & echo $! > {w}/grandchild.tmp; mv {w}/grandchild.tmp {w}/grandchild.pid; echo $$ > {w}/child.pid; wait",
        w = work.display()
      );
      let wd = super::lifeline::watchdog_pid().unwrap();
      std::fs::write(work.join("watchdog.pid"), wd.to_string()).unwrap();
      let _ = scope.run(Cmd::new("sh").args(["-c", &script]).run(&|_| {}, &CancellationToken::new())).await;
    });
  }

  #[test]
  fn the_lifeline_kills_the_whole_group_when_farm_is_killed() {
    let work = tempfile::tempdir().unwrap();
    let mut farm = spawn_farm(work.path());
    let grandchild = read_pid(&work.path().join("grandchild.pid"));
    let child = read_pid(&work.path().join("child.pid"));
    let watchdog = read_pid(&work.path().join("watchdog.pid"));
    assert!(alive(grandchild) && alive(child) && alive(watchdog));
    kill9(farm.id());
    farm.wait().unwrap();
    let survived: Vec<u32> =
      [grandchild, child].into_iter().filter(|p| !gone_within(*p, 5)).collect();
    for p in &survived {
      kill9(*p);
    }
    assert!(survived.is_empty(), "survived farm's death: {survived:?}");
    assert!(gone_within(watchdog, 5), "the watchdog exits after its work");
  }

  /// Without the watchdog (killed first), `PR_SET_PDEATHSIG` still kills the direct child; the
  /// grandchild it left keeps the task lock (inherited), so a second build would wait, until the
  /// next build's reaping kills it (its owner is dead) and frees the lock.
  #[cfg(target_os = "linux")]
  #[test]
  fn pdeathsig_the_inherited_lock_and_reaping_when_the_watchdog_is_gone_too() {
    let work = tempfile::tempdir().unwrap();
    let mut farm = spawn_farm(work.path());
    let grandchild = read_pid(&work.path().join("grandchild.pid"));
    let child = read_pid(&work.path().join("child.pid"));
    let watchdog = read_pid(&work.path().join("watchdog.pid"));
    kill9(watchdog);
    assert!(gone_within(watchdog, 5));
    kill9(farm.id());
    farm.wait().unwrap();
    let child_gone = gone_within(child, 5);
    let gc_alive = alive(grandchild);
    let locked = TaskLock::try_acquire(&task_lock_path(work.path())).unwrap().is_none();
    let report = reap_leftovers(&work.path().join("cache")).unwrap();
    let gc_gone = gone_within(grandchild, 5);
    if !gc_gone {
      kill9(grandchild);
    }
    if !child_gone {
      kill9(child);
    }
    assert!(child_gone, "PR_SET_PDEATHSIG killed the direct child");
    assert!(gc_alive, "the grandchild was not covered by anything but the pid file");
    assert!(locked, "the leftover grandchild holds the task lock");
    assert_eq!(report.killed.iter().map(|r| r.task.as_str()).collect::<Vec<_>>(), ["gen"]);
    assert!(gc_gone, "reaping killed the leftover group");
    assert!(TaskLock::try_acquire(&task_lock_path(work.path())).unwrap().is_some(), "lock free");
    let left = std::fs::read_dir(work.path().join("cache/procs")).unwrap().count();
    assert_eq!(left, 0, "pid file removed");
  }
}
