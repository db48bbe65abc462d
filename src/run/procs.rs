//! Pid files of running task process groups, and reaping the leftovers of a crashed build.
//!
//! While a task's child process group runs, `<cacheDir>/procs/<pgid>.json` records it: the group id,
//! the pid of the farm process that owns it, and on Linux the start times of both (from
//! `/proc/<pid>/stat`), so that a pid the kernel has since given to another process is never taken
//! for ours. The file is removed when the group ends. If farm dies without removing it (and its
//! lifeline watchdog died too, see [`super::lifeline`]), the next build's [`reap_leftovers`] kills
//! the group and removes the file.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The directory under `cacheDir` that holds the pid files.
pub const PROCS_DIR: &str = "procs";

/// How long [`reap_leftovers`] waits for killed groups to be gone.
const REAP_WAIT: Duration = Duration::from_secs(1);

/// One running (or leftover) process group, as recorded in its pid file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRecord {
  /// The process group id (the pid of its leader).
  pub pgid: u32,
  /// The leader's start time (clock ticks since boot; Linux only).
  pub start: Option<u64>,
  /// The pid of the farm process that started it.
  pub owner: u32,
  /// The owner's start time (Linux only).
  pub owner_start: Option<u64>,
  /// The task it belongs to.
  pub task: String,
  /// The program that leads it.
  pub program: String,
}

/// What [`reap_leftovers`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReapReport {
  /// Groups of dead farm processes that were still running, and were killed.
  pub killed: Vec<GroupRecord>,
  /// Pid files removed (groups killed, already gone, or unreadable files).
  pub removed: usize,
}

/// Why the pid files could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProcsError {
  /// The directory or a file in it could not be read, written or removed.
  #[error("{what} {}: {source}", path.display())]
  Io {
    /// What was being done.
    what: &'static str,
    /// Where.
    path: PathBuf,
    /// Why.
    #[source]
    source: std::io::Error,
  },
}

/// A pid file that is removed when dropped.
#[derive(Debug)]
pub struct PidFile {
  path: PathBuf,
}

impl PidFile {
  /// Records the process group `pgid` (just started by this process for `task`) in `dir`.
  pub fn create(dir: &Path, pgid: u32, task: &str, program: &str) -> Result<PidFile, ProcsError> {
    let io = |what, path: &Path| {
      let path = path.to_path_buf();
      move |source| ProcsError::Io { what, path, source }
    };
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    let me = std::process::id();
    let rec = GroupRecord {
      pgid,
      start: start_time(pgid),
      owner: me,
      owner_start: own_start_time(),
      task: task.to_string(),
      program: program.to_string(),
    };
    let path = dir.join(format!("{pgid}.json"));
    let tmp = dir.join(format!(".{pgid}-{me}.tmp"));
    let body = serde_json::to_vec(&rec).map_err(|e| io("encoding", &path)(e.into()))?;
    std::fs::write(&tmp, body).map_err(io("writing", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(io("renaming", &tmp))?;
    Ok(PidFile { path })
  }

  /// Where it is.
  pub fn path(&self) -> &Path {
    &self.path
  }
}

impl Drop for PidFile {
  fn drop(&mut self) {
    let _ = std::fs::remove_file(&self.path);
  }
}

/// Kills the process groups recorded under `<cache_dir>/procs/` whose owning farm process is dead,
/// and removes their pid files. A group is killed only if it is provably the recorded one: on Linux
/// its leader's start time matches the record (or, with the leader gone, every process left in the
/// group started after it). Groups of live farm processes (a concurrent build) are left alone.
pub fn reap_leftovers(cache_dir: &Path) -> Result<ReapReport, ProcsError> {
  let dir = cache_dir.join(PROCS_DIR);
  let entries = match std::fs::read_dir(&dir) {
    Ok(e) => e,
    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ReapReport::default()),
    Err(source) => return Err(ProcsError::Io { what: "reading", path: dir, source }),
  };
  let mut report = ReapReport::default();
  for entry in entries.flatten() {
    let path = entry.path();
    let name = entry.file_name().to_string_lossy().into_owned();
    if name.ends_with(".tmp") {
      // Half-written by a process that died between write and rename.
      let old = entry
        .metadata()
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().is_ok_and(|a| a > Duration::from_secs(60)));
      if old && std::fs::remove_file(&path).is_ok() {
        report.removed += 1;
      }
      continue;
    }
    if !name.ends_with(".json") {
      continue;
    }
    let rec: GroupRecord =
      match std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok()) {
        Some(r) => r,
        None => {
          // Pid files are renamed into place whole: an unreadable one is not ours to keep.
          if std::fs::remove_file(&path).is_ok() {
            report.removed += 1;
          }
          continue;
        }
      };
    if owner_alive(&rec) {
      continue;
    }
    if group_is_recorded_one(&rec) {
      // SAFETY: kill(2) on a process group verified above; no memory involved.
      unsafe {
        libc::kill(-(rec.pgid as i32), libc::SIGKILL);
      }
      report.killed.push(rec);
    }
    match std::fs::remove_file(&path) {
      Ok(()) => report.removed += 1,
      Err(e) if e.kind() == std::io::ErrorKind::NotFound => {} // a concurrent build reaped it
      Err(source) => return Err(ProcsError::Io { what: "removing", path, source }),
    }
  }
  // SIGKILL is asynchronous: give the killed processes a moment to be gone before outputs are touched.
  let deadline = Instant::now() + REAP_WAIT;
  while Instant::now() < deadline && report.killed.iter().any(|r| group_exists(r.pgid)) {
    std::thread::sleep(Duration::from_millis(10));
  }
  Ok(report)
}

/// Whether the farm process that owns `rec` is still running.
fn owner_alive(rec: &GroupRecord) -> bool {
  #[cfg(target_os = "linux")]
  {
    match proc_stat(rec.owner) {
      Some(s) => s.state != 'Z' && (rec.owner_start.is_none() || rec.owner_start == Some(s.start)),
      None => false,
    }
  }
  #[cfg(not(target_os = "linux"))]
  {
    pid_exists(rec.owner)
  }
}

/// Whether the live group `rec.pgid` is the one recorded (not a reuse of its id).
fn group_is_recorded_one(rec: &GroupRecord) -> bool {
  #[cfg(target_os = "linux")]
  {
    let Some(start) = rec.start else { return false };
    let members = group_members(rec.pgid);
    if members.is_empty() {
      return false;
    }
    match members.iter().find(|(pid, _)| *pid == rec.pgid) {
      Some((_, leader_start)) => *leader_start == start,
      // The leader exited: Linux does not reuse a pid while a group still has that id, so what is
      // left was forked from our leader, after it started.
      None => members.iter().all(|(_, s)| *s >= start),
    }
  }
  #[cfg(not(target_os = "linux"))]
  {
    // No start times here: the group is trusted if it exists.
    pid_exists_group(rec.pgid)
  }
}

fn group_exists(pgid: u32) -> bool {
  #[cfg(target_os = "linux")]
  {
    !group_members(pgid).is_empty()
  }
  #[cfg(not(target_os = "linux"))]
  {
    pid_exists_group(pgid)
  }
}

#[cfg(not(target_os = "linux"))]
fn pid_exists(pid: u32) -> bool {
  // SAFETY: signal 0 only checks that the process exists.
  let r = unsafe { libc::kill(pid as i32, 0) };
  r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(target_os = "linux"))]
fn pid_exists_group(pgid: u32) -> bool {
  // SAFETY: signal 0 only checks that the group exists.
  unsafe { libc::kill(-(pgid as i32), 0) == 0 }
}

/// This process's start time (Linux), computed once.
fn own_start_time() -> Option<u64> {
  static OWN: OnceLock<Option<u64>> = OnceLock::new();
  *OWN.get_or_init(|| start_time(std::process::id()))
}

/// When `pid` started, in clock ticks since boot (Linux; `None` elsewhere or if it is gone).
pub fn start_time(pid: u32) -> Option<u64> {
  #[cfg(target_os = "linux")]
  {
    proc_stat(pid).map(|s| s.start)
  }
  #[cfg(not(target_os = "linux"))]
  {
    let _ = pid;
    None
  }
}

/// The fields of `/proc/<pid>/stat` used here.
#[cfg(target_os = "linux")]
struct ProcStat {
  state: char,
  pgrp: u32,
  start: u64,
}

#[cfg(target_os = "linux")]
fn proc_stat(pid: u32) -> Option<ProcStat> {
  let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
  parse_stat(&s)
}

/// Parses a `/proc/<pid>/stat` line (the command name may hold spaces and parentheses: the fields
/// start after the last `)`).
#[cfg(target_os = "linux")]
fn parse_stat(s: &str) -> Option<ProcStat> {
  let rest = s.get(s.rfind(')')? + 1..)?;
  let f: Vec<&str> = rest.split_whitespace().collect();
  // `f[0]` is field 3 (state); pgrp is field 5, starttime field 22.
  Some(ProcStat {
    state: f.first()?.chars().next()?,
    pgrp: f.get(2)?.parse().ok()?,
    start: f.get(19)?.parse().ok()?,
  })
}

/// (pid, start time) of the live (not zombie) processes in group `pgid`.
#[cfg(target_os = "linux")]
fn group_members(pgid: u32) -> Vec<(u32, u64)> {
  let Ok(dir) = std::fs::read_dir("/proc") else { return vec![] };
  dir
    .flatten()
    .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
    .filter_map(|pid| proc_stat(pid).map(|s| (pid, s)))
    .filter(|(_, s)| s.pgrp == pgid && s.state != 'Z')
    .map(|(pid, s)| (pid, s.start))
    .collect()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
  use super::*;
  use std::os::unix::process::CommandExt;

  fn group(cmd: &str) -> std::process::Child {
    std::process::Command::new("sh").args(["-c", cmd]).process_group(0).spawn().unwrap()
  }

  /// A pid that is dead now: a finished child's (its start time is gone with it).
  fn dead_owner() -> (u32, Option<u64>) {
    let mut c = std::process::Command::new("true").spawn().unwrap();
    let pid = c.id();
    let start = start_time(pid);
    c.wait().unwrap();
    (pid, start.or(Some(1)))
  }

  fn record(dir: &Path, rec: &GroupRecord) {
    let d = dir.join(PROCS_DIR);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join(format!("{}.json", rec.pgid)), serde_json::to_vec(rec).unwrap()).unwrap();
  }

  #[test]
  fn parses_stat_with_odd_names() {
    let line = "123 (a) b (c)) S 1 77 77 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 98765 1 2 3";
    let s = parse_stat(line).unwrap();
    assert_eq!((s.state, s.pgrp, s.start), ('S', 77, 98765));
  }

  #[test]
  fn reaps_groups_of_dead_owners_only_and_honours_start_time() {
    let tmp = tempfile::tempdir().unwrap();
    let (owner, owner_start) = dead_owner();
    // A leftover of a dead owner, with its recorded start time: killed.
    let mut left = group("sleep 30 & sleep 30; wait");
    let rec = |pgid: u32, start: Option<u64>, owner: u32, owner_start: Option<u64>| GroupRecord {
      pgid,
      start,
      owner,
      owner_start,
      task: "gen".into(),
      program: "sh".into(),
    };
    std::thread::sleep(Duration::from_millis(100));
    record(tmp.path(), &rec(left.id(), start_time(left.id()), owner, owner_start));
    // The same dead owner, but the live group's leader started at another time (a reused pid): kept.
    let mut reused = group("sleep 30");
    let wrong = start_time(reused.id()).unwrap() - 1;
    record(tmp.path(), &rec(reused.id(), Some(wrong), owner, owner_start));
    // A group of a live owner (this process): kept, and so is its file.
    let mut live = group("sleep 30");
    record(
      tmp.path(),
      &rec(live.id(), start_time(live.id()), std::process::id(), own_start_time()),
    );
    // The owner's pid now runs another process (start time differs): the owner counts as dead.
    let mut reused_owner = group("sleep 30");
    let ro = reused_owner.id();
    let fake_owner = std::process::Command::new("sleep").arg("30").spawn().unwrap();
    let fo = fake_owner.id();
    record(tmp.path(), &rec(ro, start_time(ro), fo, start_time(fo).map(|s| s - 1)));
    let mut fake_owner = fake_owner;

    let report = reap_leftovers(tmp.path()).unwrap();
    let mut killed: Vec<u32> = report.killed.iter().map(|r| r.pgid).collect();
    killed.sort();
    let mut want = vec![left.id(), ro];
    want.sort();
    assert_eq!(killed, want);
    assert_eq!(report.removed, 3);
    assert!(left.wait().unwrap().code().is_none(), "leftover killed");
    assert!(reused_owner.wait().unwrap().code().is_none(), "group of a reused owner pid killed");
    assert!(reused.try_wait().unwrap().is_none(), "a reused pid is never killed");
    assert!(live.try_wait().unwrap().is_none(), "a live owner's group is kept");
    assert!(tmp.path().join(PROCS_DIR).join(format!("{}.json", live.id())).exists());
    for c in [&mut reused, &mut live, &mut fake_owner] {
      c.kill().unwrap();
      c.wait().unwrap();
    }
  }

  #[test]
  fn reaps_a_group_whose_leader_exited() {
    let tmp = tempfile::tempdir().unwrap();
    let (owner, owner_start) = dead_owner();
    // The leader exits at once; its background child stays in the group.
    let pidfile = tmp.path().join("bg.pid");
    let mut lead = group(&format!("sleep 30 >/dev/null 2>&1 & echo $! > {}", pidfile.display()));
    let pgid = lead.id();
    let start = start_time(pgid);
    lead.wait().unwrap();
    let bg: u32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    record(
      tmp.path(),
      &GroupRecord { pgid, start, owner, owner_start, task: "t".into(), program: "sh".into() },
    );
    let report = reap_leftovers(tmp.path()).unwrap();
    assert_eq!(report.killed.len(), 1);
    assert!(proc_stat(bg).is_none_or(|s| s.state == 'Z'), "background child {bg} killed");
  }

  #[test]
  fn pid_file_round_trip_and_removal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(PROCS_DIR);
    let mut c = group("sleep 30");
    let f = PidFile::create(&dir, c.id(), "gen", "sh").unwrap();
    let rec: GroupRecord = serde_json::from_slice(&std::fs::read(f.path()).unwrap()).unwrap();
    assert_eq!((rec.pgid, rec.owner, rec.task.as_str()), (c.id(), std::process::id(), "gen"));
    assert_eq!(rec.start, start_time(c.id()));
    assert!(rec.owner_start.is_some());
    // Its owner (this process) is alive: nothing is reaped.
    assert_eq!(reap_leftovers(tmp.path()).unwrap(), ReapReport::default());
    let p = f.path().to_path_buf();
    drop(f);
    assert!(!p.exists());
    c.kill().unwrap();
    c.wait().unwrap();
  }
}
