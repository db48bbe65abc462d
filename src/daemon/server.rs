//! The daemon: listens on the project's socket and answers `hello`, `inputs`, `status`, `stop`.

use super::error::DaemonError;
use super::memo::{rel_path, Memoized};
use super::protocol::{
  binary_identity, encode_set, read_line, socket_path, write_line, DaemonStatus, Reply, Request,
  WireSpec, PROTOCOL_VERSION,
};
use super::watch::Watch;
use crate::hash::{
  hash_file, hash_inputs_observed, Digest, FileStat, HashStats, InputSet, StatCache,
};
use std::io::{BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
  /// The project root (watched recursively).
  pub root: PathBuf,
  /// The project's cache dir (socket under `daemon/`, stat cache loaded from it).
  pub cache_dir: PathBuf,
  /// Exit after this long without a request.
  pub idle_timeout: Duration,
}

/// Why the daemon stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeEnd {
  /// A client sent `stop`.
  Stopped,
  /// No request for [`ServeOptions::idle_timeout`].
  Idle,
  /// The project directory disappeared.
  RootGone,
  /// The socket file was removed or replaced (its cache directory deleted, another daemon):
  /// no build can reach this daemon any more.
  SocketGone,
}

impl ServeEnd {
  /// `stopped`, `idle`, `root-gone` or `socket-gone`.
  pub fn as_str(self) -> &'static str {
    match self {
      ServeEnd::Stopped => "stopped",
      ServeEnd::Idle => "idle",
      ServeEnd::RootGone => "root-gone",
      ServeEnd::SocketGone => "socket-gone",
    }
  }
}

struct Daemon {
  root: PathBuf,
  socket: PathBuf,
  /// The inode of the socket file this daemon bound: the path is its own while it names it.
  socket_ino: u64,
  /// The listening socket's descriptor (shut down to wake the accept loop).
  listener_fd: std::os::fd::RawFd,
  identity: String,
  started: Instant,
  idle_timeout: Duration,
  last_request: Mutex<Instant>,
  watch: Watch,
  stat: StatCache,
  builds: AtomicU64,
  memo_hits: AtomicU64,
  walks: AtomicU64,
  end: Mutex<Option<ServeEnd>>,
  stopping: AtomicBool,
}

/// Binds the socket (replacing a stale one, refusing when a daemon answers on it).
fn bind(socket: &Path) -> Result<UnixListener, DaemonError> {
  if let Some(dir) = socket.parent() {
    std::fs::create_dir_all(dir).map_err(|e| DaemonError::io("creating", dir, e))?;
  }
  if socket.exists() {
    if UnixStream::connect(socket).is_ok() {
      return Err(DaemonError::AlreadyRunning(socket.to_path_buf()));
    }
    let _ = std::fs::remove_file(socket);
  }
  UnixListener::bind(socket).map_err(|e| DaemonError::io("listening on", socket, e))
}

/// Runs the daemon of a project until `stop`, the idle timeout or the root's removal.
pub fn serve(opts: &ServeOptions) -> Result<ServeEnd, DaemonError> {
  let root =
    std::fs::canonicalize(&opts.root).map_err(|e| DaemonError::io("resolving", &opts.root, e))?;
  let socket = socket_path(&root, &opts.cache_dir);
  let listener = bind(&socket)?;
  let socket_ino =
    std::fs::symlink_metadata(&socket).map_err(|e| DaemonError::io("reading", &socket, e))?.ino();
  eprintln!(
    "{} farm daemon {}: listening on {}",
    crate::report::rfc3339(std::time::SystemTime::now()),
    std::process::id(),
    socket.display()
  );
  let t_watch = Instant::now();
  let key = Digest::of_bytes(root.as_os_str().as_encoded_bytes()).to_hex();
  let marker_dir =
    std::env::temp_dir().join(format!("farm-daemon-{}-{}", &key[..16], std::process::id()));
  let watch = match Watch::start(&root, &marker_dir) {
    Ok(w) => w,
    Err(e) => {
      let _ = std::fs::remove_file(&socket);
      let _ = std::fs::remove_dir_all(&marker_dir);
      return Err(e);
    }
  };
  eprintln!(
    "{} farm daemon {}: watching {} ({} ms)",
    crate::report::rfc3339(std::time::SystemTime::now()),
    std::process::id(),
    root.display(),
    t_watch.elapsed().as_millis()
  );
  let d = Arc::new(Daemon {
    root: root.clone(),
    socket: socket.clone(),
    socket_ino,
    listener_fd: listener.as_raw_fd(),
    identity: binary_identity(),
    started: Instant::now(),
    idle_timeout: opts.idle_timeout,
    last_request: Mutex::new(Instant::now()),
    stat: StatCache::load(opts.cache_dir.join("stat-cache.bin")),
    watch,
    builds: AtomicU64::new(0),
    memo_hits: AtomicU64::new(0),
    walks: AtomicU64::new(0),
    end: Mutex::new(None),
    stopping: AtomicBool::new(false),
  });
  let monitor = Arc::clone(&d);
  std::thread::spawn(move || loop {
    std::thread::sleep(Duration::from_millis(250));
    if monitor.stopping.load(Ordering::SeqCst) {
      return;
    }
    let gone =
      !monitor.root.is_dir() || monitor.watch.state.0.lock().map(|s| s.root_gone).unwrap_or(true);
    let idle =
      monitor.last_request.lock().map(|t| t.elapsed() > monitor.idle_timeout).unwrap_or(true);
    let end = if gone {
      Some(ServeEnd::RootGone)
    } else if !monitor.owns_socket() {
      Some(ServeEnd::SocketGone)
    } else if idle {
      Some(ServeEnd::Idle)
    } else {
      None
    };
    if let Some(end) = end {
      monitor.finish(end);
      return;
    }
  });
  for conn in listener.incoming() {
    if d.stopping.load(Ordering::SeqCst) {
      break;
    }
    let Ok(conn) = conn else { continue };
    let d2 = Arc::clone(&d);
    std::thread::spawn(move || d2.handle(conn));
  }
  // A second daemon refuses to bind while this one listens; the file is removed only while it
  // is still this daemon's (never another daemon's socket at the same path).
  if d.owns_socket() {
    let _ = std::fs::remove_file(&socket);
  }
  drop(listener);
  let _ = std::fs::remove_dir_all(d.watch.marker_dir());
  let end = d.end.lock().ok().and_then(|e| *e).unwrap_or(ServeEnd::Stopped);
  Ok(end)
}

impl Daemon {
  /// Ends the accept loop: shutting the listening socket down makes a blocked `accept` return.
  fn finish(&self, why: ServeEnd) {
    if let Ok(mut e) = self.end.lock() {
      e.get_or_insert(why);
    }
    self.stopping.store(true, Ordering::SeqCst);
    // SAFETY: the descriptor is the listener's, open until `serve` drops it after the loop.
    unsafe { libc::shutdown(self.listener_fd, libc::SHUT_RDWR) };
  }

  /// Whether the socket path still names the socket this daemon bound.
  fn owns_socket(&self) -> bool {
    std::fs::symlink_metadata(&self.socket).is_ok_and(|m| m.ino() == self.socket_ino)
  }

  fn status(&self) -> DaemonStatus {
    let watcher = match self.watch.state.0.lock() {
      Ok(s) => s.failed.as_ref().map_or_else(|| "watching".to_string(), |f| format!("failed: {f}")),
      Err(_) => "failed: poisoned".into(),
    };
    DaemonStatus {
      pid: std::process::id(),
      uptime_ms: self.started.elapsed().as_millis() as u64,
      root: self.root.display().to_string(),
      socket: self.socket.display().to_string(),
      builds: self.builds.load(Ordering::Relaxed),
      memo_hits: self.memo_hits.load(Ordering::Relaxed),
      walks: self.walks.load(Ordering::Relaxed),
      watcher,
      protocol: PROTOCOL_VERSION,
      identity: self.identity.clone(),
      idle_timeout_ms: self.idle_timeout.as_millis() as u64,
    }
  }

  fn handle(&self, conn: UnixStream) {
    let Ok(write_half) = conn.try_clone() else { return };
    let mut w = std::io::BufWriter::new(write_half);
    let mut r = BufReader::new(conn);
    let mut greeted = false;
    while let Ok(Some(req)) = read_line::<Request>(&mut r) {
      if let Ok(mut t) = self.last_request.lock() {
        *t = Instant::now();
      }
      let res = match req {
        Request::Hello { protocol, identity } => {
          if protocol != PROTOCOL_VERSION || identity != self.identity {
            let why = format!(
              "client protocol {protocol} / {identity}, daemon protocol {PROTOCOL_VERSION} / {}",
              self.identity
            );
            let _ =
              write_line(&mut w, &Reply { ok: false, error: Some(why), ..Default::default() });
            let _ = w.flush();
            return;
          }
          greeted = true;
          self.builds.fetch_add(1, Ordering::Relaxed);
          write_line(&mut w, &Reply { ok: true, ..Default::default() })
        }
        Request::Inputs { spec } if greeted => self.inputs(&spec, &mut w),
        Request::Inputs { .. } => write_line(
          &mut w,
          &Reply { ok: false, error: Some("inputs before hello".into()), ..Default::default() },
        ),
        Request::Status => {
          write_line(&mut w, &Reply { ok: true, status: Some(self.status()), ..Default::default() })
        }
        Request::Stop => {
          let _ = write_line(&mut w, &Reply { ok: true, ..Default::default() });
          let _ = w.flush();
          self.finish(ServeEnd::Stopped);
          return;
        }
      };
      if res.and_then(|_| w.flush()).is_err() {
        return;
      }
    }
  }

  /// The memoized set with its files written in place since hashed again (and memoized so),
  /// or `None` when one of them is no longer a regular file or cannot be read (then the spec is
  /// walked afresh).
  fn refresh(&self, key: &str, m: Memoized) -> Option<Arc<InputSet>> {
    if m.stale.is_empty() {
      return Some(m.set);
    }
    let mut set = InputSet::clone(&m.set);
    set.stats = HashStats { files: set.files.len() as u64, ..HashStats::default() };
    for path in &m.stale {
      // Always read: the file changed, and a stat taken within the clock's granularity of the
      // write could look the same as before. The stat taken first is the one handed out: a
      // write after it changes the stat again, and the watcher reports that write.
      let meta = std::fs::symlink_metadata(path).ok().filter(|m| m.is_file())?;
      let (dir, name) = (path.parent()?.to_str()?, path.file_name()?.to_str()?);
      set.observed = set.observed.with(dir, name, FileStat::from_metadata(&meta));
      let (digest, n) = hash_file(path).ok()?;
      set.stats.files_read += 1;
      set.stats.bytes_read += n;
      let rel = rel_path(&m.root, path)?;
      let i = set.files.binary_search_by(|f| f.path.as_str().cmp(rel.as_str())).ok()?;
      set.files[i].hash = digest;
    }
    set.stats.stat_cache_hits = set.stats.files - set.stats.files_read;
    let set = Arc::new(set);
    if let Ok(mut s) = self.watch.state.0.lock() {
      s.memo.refreshed(key, m.generation, Arc::clone(&set));
    }
    Some(set)
  }

  /// Answers one spec: from memory when sound, else by walking now.
  fn inputs(&self, spec: &WireSpec, w: &mut impl Write) -> std::io::Result<()> {
    let fail = |w: &mut dyn Write, e: String| {
      write_line(w, &Reply { ok: false, error: Some(e), ..Default::default() })
    };
    let Ok(root) = std::fs::canonicalize(&spec.root) else {
      return fail(w, format!("input root {} is missing", spec.root.display()));
    };
    if !root.starts_with(&self.root) {
      return write_line(
        w,
        &Reply { ok: true, served: Some("outside".into()), ..Default::default() },
      );
    }
    let key = serde_json::to_string(spec).unwrap_or_default();
    let synced = self.watch.sync();
    let (lock, _) = &*self.watch.state;
    let trusted = synced && lock.lock().map(|s| s.failed.is_none()).unwrap_or(false);
    if trusted {
      let memoized = lock.lock().ok().and_then(|s| s.memo.get(&key));
      if let Some(set) = memoized.and_then(|m| self.refresh(&key, m)) {
        self.memo_hits.fetch_add(1, Ordering::Relaxed);
        return send_set(w, "memo", &encode_set(&set));
      }
    }
    let ignore_dirs = spec
      .ignore_dirs
      .iter()
      .map(|d| {
        let abs = if d.is_absolute() { d.clone() } else { root.join(d) };
        std::fs::canonicalize(&abs).unwrap_or(abs)
      })
      .collect();
    let generation = match lock.lock() {
      Ok(mut s) => s.memo.begin(&key, &root, ignore_dirs, spec.use_gitignore),
      Err(_) => return fail(w, "memo poisoned".into()),
    };
    self.walks.fetch_add(1, Ordering::Relaxed);
    match hash_inputs_observed(&spec.to_spec(), &self.stat) {
      Ok(set) => {
        let bytes = encode_set(&set);
        if trusted {
          if let Ok(mut s) = lock.lock() {
            if s.failed.is_none() {
              s.memo.store(&key, generation, Arc::new(set));
            }
          }
        }
        send_set(w, "walk", &bytes)
      }
      Err(e) => fail(w, e.to_string()),
    }
  }
}

fn send_set(w: &mut impl Write, served: &str, bytes: &[u8]) -> std::io::Result<()> {
  write_line(
    w,
    &Reply {
      ok: true,
      served: Some(served.into()),
      len: Some(bytes.len() as u64),
      ..Default::default()
    },
  )?;
  w.write_all(bytes)
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::daemon::{daemon_status, stop_daemon};

  /// Serves `root` on a thread; returns the thread and the socket once the daemon answers.
  fn start(root: &Path) -> (std::thread::JoinHandle<Result<ServeEnd, DaemonError>>, PathBuf) {
    let opts = ServeOptions {
      root: root.to_path_buf(),
      cache_dir: root.join(".farm/cache"),
      idle_timeout: Duration::from_secs(600),
    };
    let socket = socket_path(root, &opts.cache_dir);
    let h = std::thread::spawn(move || serve(&opts));
    for _ in 0..500 {
      if daemon_status(root, &root.join(".farm/cache")).ok().flatten().is_some() {
        return (h, socket);
      }
      std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the daemon did not answer within 5 s");
  }

  #[test]
  fn stop_ends_the_daemon_and_removes_its_socket() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().canonicalize().unwrap();
    let (h, socket) = start(&root);
    assert!(stop_daemon(&root, &root.join(".farm/cache")).unwrap());
    assert_eq!(h.join().unwrap().unwrap(), ServeEnd::Stopped);
    assert!(!socket.exists());
  }

  #[test]
  fn a_daemon_whose_socket_is_removed_or_replaced_exits_and_leaves_the_new_one_alone() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().canonicalize().unwrap();
    // Its cache directory deleted (as `rm -rf .farm` does): nobody can reach it, it exits.
    let (h, socket) = start(&root);
    std::fs::remove_dir_all(root.join(".farm")).unwrap();
    assert_eq!(h.join().unwrap().unwrap(), ServeEnd::SocketGone);
    // Its socket replaced by another daemon's: it exits without removing the other's socket.
    let (old, _) = start(&root);
    std::fs::remove_file(&socket).unwrap();
    let (new, _) = start(&root);
    assert_eq!(old.join().unwrap().unwrap(), ServeEnd::SocketGone);
    assert!(socket.exists(), "the new daemon's socket is still there");
    assert!(daemon_status(&root, &root.join(".farm/cache")).unwrap().is_some());
    assert!(stop_daemon(&root, &root.join(".farm/cache")).unwrap());
    assert_eq!(new.join().unwrap().unwrap(), ServeEnd::Stopped);
  }
}
