//! The journal of a restore's commit: every change to the output paths is recorded as it is
//! made, so a failure at any step can be undone (newest first) and the outputs left exactly as
//! they were. Changes go through a staging directory beside each output (same filesystem):
//! files to write are staged there, and replaced or removed paths are moved there until the
//! restore succeeds.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::fsutil::{make_symlink, mode_of, set_mode, unique_tmp_name};
use super::store::Store;

/// Marks the staging directories of restores (`.<output name>.farm-restore.<pid>.…`).
const STAGING_TAG: &str = "farm-restore";

/// One undoable change.
pub(super) enum Undo {
  /// A directory this restore created.
  CreatedDir(PathBuf),
  /// A staging directory (removed with its contents).
  Staging(PathBuf),
  /// An existing path moved (or hard-linked) to `to`.
  MovedAside { from: PathBuf, to: PathBuf },
  /// A file or symlink this restore put at the path.
  Placed(PathBuf),
  /// A directory mode changed from `old`.
  Mode { path: PathBuf, old: u32 },
}

/// The journal of one restore.
pub(super) struct Txn<'s> {
  store: &'s Store,
  journal: Vec<Undo>,
  staging: HashMap<PathBuf, PathBuf>,
  counter: u64,
  steps: usize,
}

impl<'s> Txn<'s> {
  pub(super) fn new(store: &'s Store) -> Self {
    Txn { store, journal: Vec::new(), staging: HashMap::new(), counter: 0, steps: 0 }
  }

  /// Called before every change: the test-only fault injection point.
  pub(super) fn step(&mut self, path: &Path) -> io::Result<()> {
    let n = self.steps;
    self.steps += 1;
    self.store.fault(n, path)
  }

  /// Creates `dir` (its parent exists) and journals it.
  pub(super) fn mkdir(&mut self, dir: &Path) -> io::Result<()> {
    self.step(dir)?;
    fs::create_dir(dir)?;
    self.journal.push(Undo::CreatedDir(dir.to_path_buf()));
    Ok(())
  }

  /// The staging directory of output `root` (created on first use, beside it).
  pub(super) fn staging_for(&mut self, root: &Path) -> io::Result<PathBuf> {
    if let Some(s) = self.staging.get(root) {
      return Ok(s.clone());
    }
    let parent = root.parent().ok_or_else(|| io::Error::other("output path has no parent"))?;
    let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let dir = parent.join(unique_tmp_name(&format!("{name}.{STAGING_TAG}")));
    self.step(&dir)?;
    fs::create_dir(&dir)?;
    self.journal.push(Undo::Staging(dir.clone()));
    self.staging.insert(root.to_path_buf(), dir.clone());
    Ok(dir)
  }

  pub(super) fn next_name(&mut self, prefix: &str) -> String {
    self.counter += 1;
    format!("{prefix}{}", self.counter)
  }

  /// Moves `path` (anything) into the staging directory of `root`.
  pub(super) fn move_aside(&mut self, root: &Path, path: &Path) -> io::Result<()> {
    let to = self.staging_for(root)?.join(self.next_name("old-"));
    self.step(path)?;
    fs::rename(path, &to)?;
    self.journal.push(Undo::MovedAside { from: path.to_path_buf(), to });
    Ok(())
  }

  /// Puts the staged file `tmp` at `dest`; an existing regular file there is kept aside first
  /// (as a hard link where possible, so `dest` is never missing).
  pub(super) fn place_file(
    &mut self,
    root: &Path,
    tmp: &Path,
    dest: &Path,
    replace: bool,
  ) -> io::Result<()> {
    if replace {
      let to = self.staging_for(root)?.join(self.next_name("old-"));
      self.step(dest)?;
      if fs::hard_link(dest, &to).is_err() {
        fs::rename(dest, &to)?;
      }
      self.journal.push(Undo::MovedAside { from: dest.to_path_buf(), to });
    }
    self.step(dest)?;
    fs::rename(tmp, dest)?;
    self.journal.push(Undo::Placed(dest.to_path_buf()));
    Ok(())
  }

  pub(super) fn symlink(&mut self, target: &str, dest: &Path) -> io::Result<()> {
    self.step(dest)?;
    make_symlink(target, dest)?;
    self.journal.push(Undo::Placed(dest.to_path_buf()));
    Ok(())
  }

  pub(super) fn set_dir_mode(&mut self, path: &Path, mode: u32) -> io::Result<()> {
    let old = mode_of(&fs::symlink_metadata(path)?);
    if old == mode {
      return Ok(());
    }
    self.step(path)?;
    set_mode(path, mode)?;
    self.journal.push(Undo::Mode { path: path.to_path_buf(), old });
    Ok(())
  }

  /// Undoes every change, newest first. Returns the steps that could not be undone.
  pub(super) fn rollback(self) -> Vec<String> {
    let mut failed = Vec::new();
    for u in self.journal.into_iter().rev() {
      let (r, what) = match &u {
        Undo::CreatedDir(p) => (fs::remove_dir(p), p),
        Undo::Staging(p) => (fs::remove_dir_all(p), p),
        Undo::MovedAside { from, to } => (fs::rename(to, from), from),
        Undo::Placed(p) => (fs::remove_file(p), p),
        Undo::Mode { path, old } => (set_mode(path, *old), path),
      };
      if let Err(e) = r {
        failed.push(format!("{}: {e}", what.display()));
      }
    }
    failed
  }

  /// Success: deletes the staging directories (and the replaced files in them).
  pub(super) fn finish(self) {
    for s in self.staging.values() {
      let _ = fs::remove_dir_all(s);
    }
  }
}

/// Removes staging directories left beside `root` by restores whose process is gone.
pub(super) fn remove_stale_staging(root: &Path) {
  let (Some(parent), Some(name)) = (root.parent(), root.file_name()) else { return };
  let prefix = format!(".{}.{STAGING_TAG}.", name.to_string_lossy());
  let Ok(rd) = fs::read_dir(parent) else { return };
  for e in rd.flatten() {
    let n = e.file_name().to_string_lossy().into_owned();
    let Some(rest) = n.strip_prefix(&prefix) else { continue };
    let pid: Option<u32> = rest.split('.').next().and_then(|p| p.parse().ok());
    if pid.is_some_and(|p| p != std::process::id() && !process_alive(p)) {
      let _ = fs::remove_dir_all(e.path());
    }
  }
}

#[cfg(unix)]
fn process_alive(pid: u32) -> bool {
  let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
  // SAFETY: signal 0 only checks that the process exists.
  unsafe {
    libc::kill(pid, 0) == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
  }
}

#[cfg(not(unix))]
fn process_alive(_pid: u32) -> bool {
  true
}
