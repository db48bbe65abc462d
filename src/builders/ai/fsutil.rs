//! Small file helpers: atomic writes, hashing copies, hex encoding.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temp path next to `path` (same directory, so `rename` is atomic).
pub(super) fn temp_path_for(path: &Path) -> PathBuf {
  let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
  let name = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
  path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// Writes `bytes` to `path` atomically (temp file in the same directory + rename).
/// With `executable`, the file gets mode 0755 on Unix.
pub(super) fn write_atomic(path: &Path, bytes: &[u8], executable: bool) -> io::Result<()> {
  if let Some(dir) = path.parent() {
    fs::create_dir_all(dir)?;
  }
  let tmp = temp_path_for(path);
  let res = (|| {
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.flush()?;
    #[cfg(unix)]
    if executable {
      use std::os::unix::fs::PermissionsExt;
      f.set_permissions(fs::Permissions::from_mode(0o755))?;
    }
    #[cfg(not(unix))]
    let _ = executable;
    drop(f);
    fs::rename(&tmp, path)
  })();
  if res.is_err() {
    let _ = fs::remove_file(&tmp);
  }
  res
}

/// Lowercase hex of `bytes`.
pub(super) fn hex(bytes: &[u8]) -> String {
  const HEX: &[u8; 16] = b"0123456789abcdef";
  let mut s = String::with_capacity(bytes.len() * 2);
  for b in bytes {
    s.push(HEX[(b >> 4) as usize] as char);
    s.push(HEX[(b & 15) as usize] as char);
  }
  s
}

/// sha256 hex of a byte slice.
pub(super) fn sha256_hex(bytes: &[u8]) -> String {
  hex(&Sha256::digest(bytes))
}

const BUF: usize = 1 << 20;

/// Streams `path` through sha256; returns `(hex digest, size)`.
pub(super) fn sha256_file(path: &Path) -> io::Result<(String, u64)> {
  let mut f = File::open(path)?;
  let mut h = Sha256::new();
  let mut buf = vec![0u8; BUF];
  let mut n_total = 0u64;
  loop {
    let n = f.read(&mut buf)?;
    if n == 0 {
      break;
    }
    h.update(&buf[..n]);
    n_total += n as u64;
  }
  Ok((hex(&h.finalize()), n_total))
}

/// Copies `src` to `dst` atomically (temp + rename), hashing the bytes on the way.
/// Returns `(sha256 hex, size)`.
pub(super) fn copy_hashing(src: &Path, dst: &Path) -> io::Result<(String, u64)> {
  let tmp = temp_path_for(dst);
  let res = (|| {
    let mut input = File::open(src)?;
    let mut out = File::create(&tmp)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; BUF];
    let mut total = 0u64;
    loop {
      let n = input.read(&mut buf)?;
      if n == 0 {
        break;
      }
      h.update(&buf[..n]);
      out.write_all(&buf[..n])?;
      total += n as u64;
    }
    out.flush()?;
    drop(out);
    Ok((hex(&h.finalize()), total))
  })();
  match res {
    Ok(v) => {
      if let Err(e) = fs::rename(&tmp, dst) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
      }
      Ok(v)
    }
    Err(e) => {
      let _ = fs::remove_file(&tmp);
      Err(e)
    }
  }
}

/// Hardlinks `src` to `dst` atomically (link to a temp name + rename). `Err` when the
/// filesystem refuses (cross-device, unsupported): the caller then copies.
pub(super) fn hardlink_atomic(src: &Path, dst: &Path) -> io::Result<()> {
  let tmp = temp_path_for(dst);
  fs::hard_link(src, &tmp)?;
  if let Err(e) = fs::rename(&tmp, dst) {
    let _ = fs::remove_file(&tmp);
    return Err(e);
  }
  Ok(())
}

/// Moves the finished directory `tmp` to `dest`, replacing an existing `dest`.
pub(super) fn replace_dir(tmp: &Path, dest: &Path) -> io::Result<()> {
  if dest.exists() {
    let old = temp_path_for(dest);
    fs::rename(dest, &old)?;
    if let Err(e) = fs::rename(tmp, dest) {
      let _ = fs::rename(&old, dest);
      return Err(e);
    }
    let _ = fs::remove_dir_all(&old);
    Ok(())
  } else {
    fs::rename(tmp, dest)
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn atomic_write_and_hash_copy() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("sub/a.txt");
    write_atomic(&p, b"hello", false).unwrap();
    write_atomic(&p, b"hello world", true).unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"hello world");
    // No temp files left behind.
    assert_eq!(fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
    #[cfg(unix)]
    {
      use std::os::unix::fs::PermissionsExt;
      assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o755);
    }
    let q = d.path().join("b.txt");
    let (h, n) = copy_hashing(&p, &q).unwrap();
    assert_eq!(n, 11);
    assert_eq!(h, "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
    assert_eq!(sha256_file(&q).unwrap(), (h, 11));
  }
}
