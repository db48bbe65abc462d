//! The lifeline: a tiny watchdog process that kills every child process group farm started when
//! farm itself dies, however it dies (`kill -9`, a crash, the OOM killer).
//!
//! Once per process, farm starts `/bin/sh` running [`SCRIPT`] with the read end of a pipe as its
//! stdin. Farm alone holds the write end, close-on-exec, so no child ever inherits it. Farm tells the
//! watchdog, one line per message, which targets to kill if it dies (`+<id> <target>`, where the target
//! is `-<pgid>` for a process group or `<pid>` for a single process) and which are gone again
//! (`-<id>`). When farm dies the kernel closes the write end, the watchdog's `read` hits end of
//! file, and it SIGKILLs every target still registered, then exits. Farm exiting normally does the
//! same, with nothing left to kill.
//!
//! The watchdog runs in its own process group (a Ctrl-C in the terminal does not kill it before
//! farm's children), in `/`, with stdout and stderr on `/dev/null` (it never keeps the caller's
//! pipes open). Child process groups register themselves from the forked child, before `exec`, so
//! there is no moment when a started command is not covered (see [`ChildHook`]).
//!
//! If the watchdog cannot be started, farm still runs: children then only have `PR_SET_PDEATHSIG`
//! (Linux) and the pid files reaped by the next build (see [`super::procs`]).

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The watchdog: reads `+<id> <target>` / `-<id>` lines; on end of file kills what is registered.
/// Entries are kept as ` <id>=<target> ` words in `$l`.
pub const SCRIPT: &str = r#"trap '' INT HUP QUIT PIPE
l=' '
while IFS= read -r m; do
  case $m in
    +*) i=${m%% *}; i=${i#+}; t=${m#* }; l="$l$i=$t " ;;
    -*) i=${m#-}
        case $l in
          *" $i="*) r=${l#*" $i="}; t=${r%% *}; l="${l%%" $i=$t "*} ${l#*" $i=$t "}" ;;
        esac ;;
  esac
done
for e in $l; do kill -9 "${e#*=}" 2>/dev/null; done
"#;

/// What the watchdog kills when farm dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
  /// A whole process group, by its id.
  Group(u32),
  /// One process, by its pid.
  Process(u32),
}

struct Lifeline {
  write: File,
  pid: u32,
}

static LIFELINE: OnceLock<Option<Lifeline>> = OnceLock::new();
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The watchdog of this process, started on first use (`None` if it could not be started).
fn lifeline() -> Option<&'static Lifeline> {
  LIFELINE.get_or_init(|| start().ok()).as_ref()
}

fn start() -> std::io::Result<Lifeline> {
  let (read, write) = cloexec_pipe()?;
  let mut cmd = std::process::Command::new("/bin/sh");
  cmd
    .args(["-c", SCRIPT, "farm-lifeline"])
    .stdin(Stdio::from(read))
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .current_dir("/")
    .process_group(0);
  // Nothing but its stdin: a descriptor this process inherited without close-on-exec (a pipe of
  // the caller, an IPC channel) must not stay open in the watchdog after this process is gone.
  // SAFETY: `close_from` only calls close/close_range, which are async-signal-safe.
  unsafe {
    cmd.pre_exec(|| {
      close_from(3);
      Ok(())
    });
  }
  let child = cmd.spawn()?;
  // The watchdog is never waited for: it lives exactly as long as this process.
  Ok(Lifeline { write: File::from(write), pid: child.id() })
}

/// Closes every descriptor from `first` up. Async-signal-safe (for `pre_exec`).
fn close_from(first: libc::c_int) {
  #[cfg(target_os = "linux")]
  {
    // SAFETY: close_range only closes descriptors of this (forked) process.
    if unsafe { libc::syscall(libc::SYS_close_range, first as libc::c_uint, libc::c_uint::MAX, 0) }
      == 0
    {
      return;
    }
  }
  // SAFETY: sysconf and close are async-signal-safe; closing a descriptor that is not open is harmless.
  let max = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) };
  let max = if max <= 0 { 1024 } else { max.min(65_536) as libc::c_int };
  for fd in first..max {
    unsafe {
      libc::close(fd);
    }
  }
}

/// A pipe whose both ends are close-on-exec.
fn cloexec_pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
  let mut fds = [0 as libc::c_int; 2];
  #[cfg(not(target_vendor = "apple"))]
  {
    // SAFETY: pipe2 writes two descriptors into `fds`, which has room for two.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
      return Err(std::io::Error::last_os_error());
    }
  }
  #[cfg(target_vendor = "apple")]
  {
    // SAFETY: pipe writes two descriptors into `fds`; fcntl only changes their flags. (macOS has no
    // pipe2: a fork in another thread between the two calls could inherit them until its exec.)
    unsafe {
      if libc::pipe(fds.as_mut_ptr()) != 0 {
        return Err(std::io::Error::last_os_error());
      }
      for fd in fds {
        libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
      }
    }
  }
  // SAFETY: both descriptors were just created and are owned by nobody else.
  Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Sends one message; a watchdog that is gone is ignored (the pid files are the fallback).
fn send(l: &Lifeline, msg: &str) {
  let _ = (&l.write).write_all(msg.as_bytes());
}

/// Registers `target` to be killed if this process dies; returns the id for [`unwatch`], or `None`
/// if there is no watchdog.
pub fn watch(target: Target) -> Option<u64> {
  let l = lifeline()?;
  let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
  let t = match target {
    Target::Group(g) => format!("-{g}"),
    Target::Process(p) => format!("{p}"),
  };
  send(l, &format!("+{id} {t}\n"));
  Some(id)
}

/// Forgets a registration: the target ended (or was never started).
pub fn unwatch(id: u64) {
  if let Some(l) = lifeline() {
    send(l, &format!("-{id}\n"));
  }
}

/// The watchdog's pid (for diagnostics and tests).
pub fn watchdog_pid() -> Option<u32> {
  lifeline().map(|l| l.pid)
}

/// Lets a child about to `exec` register its own process group with the watchdog: made in the
/// parent before the fork, used in the child by [`ChildHook::register_self`].
#[derive(Debug, Clone, Copy)]
pub struct ChildHook {
  fd: RawFd,
  id: u64,
}

impl ChildHook {
  /// A hook with a fresh id, or `None` if there is no watchdog. The caller must send
  /// [`unwatch`]`(hook.id())` once the group is gone, or if the spawn failed.
  pub fn new() -> Option<ChildHook> {
    let l = lifeline()?;
    Some(ChildHook { fd: l.write.as_raw_fd(), id: NEXT_ID.fetch_add(1, Ordering::Relaxed) })
  }

  /// The registration id.
  pub fn id(&self) -> u64 {
    self.id
  }

  /// Registers the calling process's group (`+<id> -<getpid()>`). Only async-signal-safe calls and
  /// no allocation: meant for a `pre_exec` closure, in a child that leads its own process group.
  /// The pipe's end is close-on-exec, so the program run next does not inherit it.
  ///
  /// # Safety
  /// Call only in a forked child before `exec`, where `fd` is still this process's lifeline end.
  pub unsafe fn register_self(&self) {
    let mut buf = [0u8; 64];
    let mut n = 0;
    buf[n] = b'+';
    n += 1;
    n += write_decimal(&mut buf[n..], self.id);
    buf[n] = b' ';
    buf[n + 1] = b'-';
    n += 2;
    // SAFETY: getpid is async-signal-safe.
    let pid = unsafe { libc::getpid() } as u64;
    n += write_decimal(&mut buf[n..], pid);
    buf[n] = b'\n';
    n += 1;
    // SIGPIPE is back to its default here: a gone watchdog must not kill the child.
    // SAFETY: signal and write are async-signal-safe; `buf[..n]` is initialized.
    unsafe {
      let old = libc::signal(libc::SIGPIPE, libc::SIG_IGN);
      libc::write(self.fd, buf.as_ptr().cast(), n);
      libc::signal(libc::SIGPIPE, old);
    }
  }
}

/// Writes `v` in decimal at the start of `out` (which must have room for 20 digits); returns the
/// number of bytes written. No allocation.
fn write_decimal(out: &mut [u8], mut v: u64) -> usize {
  let mut digits = [0u8; 20];
  let mut len = 0;
  loop {
    digits[len] = b'0' + (v % 10) as u8;
    len += 1;
    v /= 10;
    if v == 0 {
      break;
    }
  }
  for i in 0..len {
    out[i] = digits[len - 1 - i];
  }
  len
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::path::Path;
  use std::time::Duration;

  #[test]
  fn decimal() {
    let mut b = [0u8; 20];
    let n = write_decimal(&mut b, 0);
    assert_eq!(&b[..n], b"0");
    let n = write_decimal(&mut b, u64::MAX);
    assert_eq!(&b[..n], u64::MAX.to_string().as_bytes());
  }

  /// The watchdog holds nothing but its three standard descriptors: stdin is the lifeline pipe,
  /// stdout and stderr are /dev/null (a caller reading this process's output sees its end).
  #[test]
  #[cfg(target_os = "linux")]
  fn the_watchdog_keeps_no_inherited_descriptor() {
    let pid = watchdog_pid().expect("a watchdog");
    let mut fds: Vec<(String, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
      .unwrap()
      .flatten()
      .map(|e| {
        let target = std::fs::read_link(e.path()).unwrap();
        (e.file_name().to_string_lossy().into_owned(), target.to_string_lossy().into_owned())
      })
      .collect();
    fds.sort();
    assert_eq!(fds.len(), 3, "{fds:?}");
    assert!(fds[0].1.starts_with("pipe:"), "{fds:?}");
    assert_eq!((fds[1].1.as_str(), fds[2].1.as_str()), ("/dev/null", "/dev/null"));
    assert_eq!(std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(), Path::new("/"));
  }

  /// The script itself: adds, removes (only the named id), kills the rest on end of file.
  #[test]
  #[cfg(target_os = "linux")]
  fn script_kills_what_is_still_registered_at_eof() {
    let spawn_group =
      || std::process::Command::new("sleep").arg("30").process_group(0).spawn().unwrap();
    let (mut a, mut b, mut c) = (spawn_group(), spawn_group(), spawn_group());
    let mut dog = std::process::Command::new("/bin/sh")
      .args(["-c", SCRIPT, "farm-lifeline"])
      .stdin(Stdio::piped())
      .spawn()
      .unwrap();
    let mut w = dog.stdin.take().unwrap();
    let (pa, pb, pc) = (a.id(), b.id(), c.id());
    write!(w, "+1 -{pa}\n+2 -{pb}\n+3 {pc}\n-2\n-9\n").unwrap();
    drop(w);
    dog.wait().unwrap();
    assert!(c.wait().is_ok_and(|s| s.code().is_none()), "single process target killed");
    assert!(a.wait().is_ok_and(|s| s.code().is_none()), "group target killed");
    std::thread::sleep(Duration::from_millis(100));
    assert!(b.try_wait().unwrap().is_none(), "unwatched group survives");
    b.kill().unwrap();
    b.wait().unwrap();
  }
}
