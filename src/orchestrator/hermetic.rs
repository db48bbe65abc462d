//! Hermetic runs: before a task runs (a cache miss, or an uncached task), its declared outputs are
//! moved aside, so it always starts from nothing and its output is reproducible; they come back
//! if the task fails or is cancelled, and are deleted when it succeeds.
//!
//! Asides live under `<cacheDir>/tmp/aside/<pid>-<n>/` (same filesystem as the outputs in the usual
//! layout, so a move is a rename); an output on another filesystem is moved beside itself instead.
//! A crashed build's asides are swept by the next build ([`sweep_stale`]).

use crate::builders::Output;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Outputs moved out of the way while their task runs.
#[derive(Debug)]
pub struct Aside {
  /// (where the output lives, where it was moved).
  moved: Vec<(PathBuf, PathBuf)>,
  /// The aside folder under the cache (removed when done).
  dir: Option<PathBuf>,
  /// Every declared output, present or not (what a failed run may have created).
  outputs: Vec<PathBuf>,
  done: bool,
}

fn unique() -> u64 {
  static N: AtomicU64 = AtomicU64::new(0);
  N.fetch_add(1, Ordering::Relaxed)
}

fn remove_any(p: &Path) -> io::Result<()> {
  match std::fs::symlink_metadata(p) {
    Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
    Ok(_) => std::fs::remove_file(p),
    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
    Err(e) => Err(e),
  }
}

impl Aside {
  /// Moves every existing output in `outputs` aside (into `<cache_dir>/tmp/aside/`).
  pub fn take(outputs: &[Output], cache_dir: &Path) -> io::Result<Aside> {
    let mut aside = Aside {
      moved: Vec::new(),
      dir: None,
      outputs: outputs.iter().map(|o| o.path.clone()).collect(),
      done: false,
    };
    for (i, o) in outputs.iter().enumerate() {
      if std::fs::symlink_metadata(&o.path).is_err() {
        continue; // absent (or inside an output already moved)
      }
      let dir = match &aside.dir {
        Some(d) => d.clone(),
        None => {
          let d = cache_dir.join("tmp").join("aside").join(format!(
            "{}-{}",
            std::process::id(),
            unique()
          ));
          std::fs::create_dir_all(&d)?;
          aside.dir = Some(d.clone());
          d
        }
      };
      let target = dir.join(i.to_string());
      match std::fs::rename(&o.path, &target) {
        Ok(()) => aside.moved.push((o.path.clone(), target)),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
          let name =
            o.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
          let beside = o.path.with_file_name(format!(
            ".{name}.farm-aside-{}-{}",
            std::process::id(),
            unique()
          ));
          std::fs::rename(&o.path, &beside)?;
          aside.moved.push((o.path.clone(), beside));
        }
        Err(e) => {
          aside.restore_moved();
          return Err(e);
        }
      }
    }
    Ok(aside)
  }

  /// Where the output that lived at `original` was moved, if it existed.
  pub fn moved_path(&self, original: &Path) -> Option<&Path> {
    self.moved.iter().find(|(o, _)| o == original).map(|(_, a)| a.as_path())
  }

  /// The task succeeded: the old outputs are deleted.
  pub fn discard(mut self) {
    self.done = true;
    for (_, a) in &self.moved {
      let _ = remove_any(a);
    }
    if let Some(d) = &self.dir {
      let _ = std::fs::remove_dir_all(d);
    }
  }

  /// The task failed or was cancelled: what it wrote is removed and the old outputs come back.
  pub fn put_back(mut self) -> io::Result<()> {
    self.done = true;
    let mut first_err = None;
    for o in &self.outputs {
      if let Err(e) = remove_any(o) {
        first_err.get_or_insert(e);
      }
    }
    self.restore_moved();
    first_err.map_or(Ok(()), Err)
  }

  fn restore_moved(&mut self) {
    for (orig, a) in self.moved.drain(..).rev() {
      if let Some(parent) = orig.parent() {
        let _ = std::fs::create_dir_all(parent);
      }
      let _ = std::fs::rename(&a, &orig);
    }
    if let Some(d) = self.dir.take() {
      let _ = std::fs::remove_dir_all(d);
    }
  }
}

impl Drop for Aside {
  fn drop(&mut self) {
    if !self.done {
      for o in &self.outputs {
        let _ = remove_any(o);
      }
      self.restore_moved();
    }
  }
}

/// Deletes the asides of builds that are no longer running (killed mid-task). Their outputs are
/// rebuilt or restored by the next run of their task, so nothing is lost.
pub fn sweep_stale(cache_dir: &Path) {
  let dir = cache_dir.join("tmp").join("aside");
  let Ok(rd) = std::fs::read_dir(&dir) else { return };
  for e in rd.flatten() {
    let name = e.file_name().to_string_lossy().into_owned();
    let Some(pid) = name.split('-').next().and_then(|p| p.parse::<i32>().ok()) else { continue };
    if pid == std::process::id() as i32 || process_alive(pid) {
      continue;
    }
    let _ = std::fs::remove_dir_all(e.path());
  }
}

fn process_alive(pid: i32) -> bool {
  // SAFETY: kill(2) with signal 0 only checks that the process exists; no memory is involved.
  let r = unsafe { libc::kill(pid, 0) };
  r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn failed_runs_put_outputs_back_and_successful_ones_drop_them() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out");
    let file = d.path().join("src/types.ts");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(out.join("a.txt"), "old").unwrap();
    std::fs::write(&file, "old types").unwrap();
    let outputs = vec![Output::new("out", &out), Output::new("types", &file)];
    let cache = d.path().join(".cache");

    let a = Aside::take(&outputs, &cache).unwrap();
    assert!(!out.exists() && !file.exists(), "a task starts from nothing");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("half.txt"), "partial").unwrap();
    a.put_back().unwrap();
    assert_eq!(std::fs::read_to_string(out.join("a.txt")).unwrap(), "old");
    assert!(!out.join("half.txt").exists());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "old types");

    let a = Aside::take(&outputs, &cache).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("new.txt"), "new").unwrap();
    a.discard();
    assert!(out.join("new.txt").exists() && !out.join("a.txt").exists());
    assert!(!file.exists());
    assert_eq!(std::fs::read_dir(cache.join("tmp/aside")).unwrap().count(), 0);

    // Dropped without a verdict (a cancelled future): like a failure.
    std::fs::write(&file, "v2").unwrap();
    {
      let _a = Aside::take(&outputs, &cache).unwrap();
      std::fs::write(&file, "half").unwrap();
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "v2");
  }

  #[test]
  fn sweeps_only_dead_builds() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("tmp/aside");
    let mine = base.join(format!("{}-0", std::process::id()));
    // pid 2^22+1 is above Linux's pid_max default ceiling: never a live process.
    let dead = base.join("4194305-3");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::create_dir_all(&dead).unwrap();
    sweep_stale(d.path());
    assert!(mine.exists() && !dead.exists());
  }
}
