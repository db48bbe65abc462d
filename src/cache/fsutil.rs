//! Small filesystem helpers: unique temp names, hashed copies, modes, the store lock.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use xxhash_rust::xxh3::Xxh3;

use super::super::hash::Digest;

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A file name unique across processes and threads: `.<stem>.<pid>.<counter>.<nanos>.tmp`.
pub(crate) fn unique_tmp_name(stem: &str) -> String {
  let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
  let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
  format!(".{stem}.{}.{n}.{nanos}.farm-tmp", std::process::id())
}

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_ms(t: SystemTime) -> u64 {
  t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Copies `src` to a new file `dst` while hashing what is copied. Returns (digest, bytes).
pub(crate) fn copy_hashed(src: &Path, dst: &Path) -> io::Result<(Digest, u64)> {
  let mut input = File::open(src)?;
  let mut out = File::create(dst)?;
  let mut buf = vec![0u8; 256 * 1024];
  let mut h = Xxh3::new();
  let mut total = 0u64;
  loop {
    let n = match input.read(&mut buf) {
      Ok(0) => break,
      Ok(n) => n,
      Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
      Err(e) => return Err(e),
    };
    h.update(&buf[..n]);
    out.write_all(&buf[..n])?;
    total += n as u64;
  }
  Ok((Digest(h.digest128()), total))
}

/// Writes `bytes` to `path` atomically: a temp file in `tmp_dir`, then rename.
pub(crate) fn write_atomic(tmp_dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
  let tmp = tmp_dir.join(unique_tmp_name("w"));
  let res = (|| {
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    drop(f);
    fs::rename(&tmp, path)
  })();
  if res.is_err() {
    let _ = fs::remove_file(&tmp);
  }
  res
}

/// Permission bits of `meta` (`0o7777`); on non-Unix, 0o444 or 0o644 from the read-only flag.
pub(crate) fn mode_of(meta: &fs::Metadata) -> u32 {
  #[cfg(unix)]
  {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
  }
  #[cfg(not(unix))]
  {
    if meta.permissions().readonly() {
      0o444
    } else {
      0o644
    }
  }
}

/// Applies permission bits recorded by [`mode_of`].
pub(crate) fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
  #[cfg(unix)]
  {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
  }
  #[cfg(not(unix))]
  {
    let mut p = fs::metadata(path)?.permissions();
    p.set_readonly(mode & 0o222 == 0);
    fs::set_permissions(path, p)
  }
}

/// Creates a symlink (a file symlink on Windows).
pub(crate) fn make_symlink(target: &str, link: &Path) -> io::Result<()> {
  #[cfg(unix)]
  {
    std::os::unix::fs::symlink(target, link)
  }
  #[cfg(windows)]
  {
    std::os::windows::fs::symlink_file(target, link)
  }
  #[cfg(not(any(unix, windows)))]
  {
    let _ = (target, link);
    Err(io::Error::new(io::ErrorKind::Unsupported, "symlinks are not supported on this platform"))
  }
}

/// Advisory lock on `<cache>/LOCK`: shared for saves, restores and lookups, exclusive for
/// eviction and cleaning. A fresh descriptor per operation, so threads of one process do not
/// release each other's locks.
pub(crate) struct StoreLock(fd_lock::RwLock<File>);

impl StoreLock {
  pub(crate) fn open(path: &Path) -> io::Result<StoreLock> {
    let f =
      fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
    Ok(StoreLock(fd_lock::RwLock::new(f)))
  }
  pub(crate) fn shared(&self) -> io::Result<fd_lock::RwLockReadGuard<'_, File>> {
    self.0.read()
  }
  pub(crate) fn exclusive(&mut self) -> io::Result<fd_lock::RwLockWriteGuard<'_, File>> {
    self.0.write()
  }
  /// `Ok(None)` when another process holds the lock.
  pub(crate) fn try_exclusive(
    &mut self,
  ) -> io::Result<Option<fd_lock::RwLockWriteGuard<'_, File>>> {
    match self.0.try_write() {
      Ok(g) => Ok(Some(g)),
      Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
      Err(e) => Err(e),
    }
  }
}

/// An exclusive advisory lock on a lock file, held until dropped (unlike [`StoreLock`]'s guards,
/// it owns its descriptor, so it can be kept across `await`s and handed to a caller). Taking it
/// checks that the locked file is still the one at `path`: a lock file deleted and recreated by
/// an eviction while this process waited is not mistaken for the current one.
#[derive(Debug)]
pub struct KeyLock {
  #[allow(dead_code)] // held for its descriptor: closing it releases the lock
  file: File,
}

impl KeyLock {
  /// Takes the lock without waiting: `Ok(None)` when another holder has it.
  pub fn try_acquire(path: &Path) -> io::Result<Option<KeyLock>> {
    let file =
      fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
    if !try_flock_exclusive(&file)? {
      return Ok(None);
    }
    if !same_file(&file, path) {
      // The file was replaced between open and lock: whoever holds the new one wins.
      return Ok(None);
    }
    Ok(Some(KeyLock { file }))
  }
}

#[cfg(unix)]
fn try_flock_exclusive(file: &File) -> io::Result<bool> {
  use std::os::unix::io::AsRawFd;
  loop {
    // SAFETY: flock on a descriptor this function borrows; no memory is passed.
    let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == 0 {
      return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
      Some(libc::EWOULDBLOCK) => return Ok(false),
      Some(libc::EINTR) => continue,
      _ => return Err(e),
    }
  }
}

#[cfg(not(unix))]
fn try_flock_exclusive(_file: &File) -> io::Result<bool> {
  Err(io::Error::new(io::ErrorKind::Unsupported, "per-key cache locks need a Unix system"))
}

#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
  use std::os::unix::fs::MetadataExt;
  match (file.metadata(), fs::metadata(path)) {
    (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
    _ => false,
  }
}

#[cfg(not(unix))]
fn same_file(_file: &File, path: &Path) -> bool {
  path.exists()
}

/// Total size of the regular files under `dir` (symlinks not followed); 0 when unreadable.
pub(crate) fn tree_size(dir: &Path) -> u64 {
  let mut total = 0;
  let mut stack = vec![dir.to_path_buf()];
  while let Some(d) = stack.pop() {
    let Ok(rd) = fs::read_dir(&d) else { continue };
    for e in rd.flatten() {
      match e.file_type() {
        Ok(t) if t.is_dir() => stack.push(e.path()),
        Ok(t) if t.is_file() => total += e.metadata().map(|m| m.len()).unwrap_or(0),
        _ => {}
      }
    }
  }
  total
}
