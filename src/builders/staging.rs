//! Output directories written aside and swapped in only on success.

use std::path::{Path, PathBuf};

/// A directory that becomes `final_path` on [`commit`](StagedDir::commit), and is deleted otherwise.
#[derive(Debug)]
pub struct StagedDir {
  final_path: PathBuf,
  tmp: PathBuf,
  committed: bool,
}

impl StagedDir {
  /// Creates an empty staging directory beside `final_path` (same filesystem, so the swap is a rename).
  pub fn new(final_path: &Path) -> std::io::Result<Self> {
    let parent = final_path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let name = final_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = parent.join(format!(".{name}.partial-{}-{}", std::process::id(), unique()));
    if tmp.exists() {
      std::fs::remove_dir_all(&tmp)?;
    }
    std::fs::create_dir_all(&tmp)?;
    Ok(StagedDir { final_path: final_path.to_path_buf(), tmp, committed: false })
  }

  /// Where to write.
  pub fn path(&self) -> &Path {
    &self.tmp
  }

  /// Where it ends up.
  pub fn final_path(&self) -> &Path {
    &self.final_path
  }

  /// Replaces `final_path` with the staged content.
  pub fn commit(mut self) -> std::io::Result<()> {
    let parent = self.final_path.parent().unwrap_or(Path::new("."));
    let name =
      self.final_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let old = parent.join(format!(".{name}.old-{}-{}", std::process::id(), unique()));
    let had_old = match std::fs::rename(&self.final_path, &old) {
      Ok(()) => true,
      Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
      Err(e) => return Err(e),
    };
    std::fs::rename(&self.tmp, &self.final_path)?;
    self.committed = true;
    if had_old {
      std::fs::remove_dir_all(&old)?;
    }
    Ok(())
  }
}

impl Drop for StagedDir {
  fn drop(&mut self) {
    if !self.committed {
      let _ = std::fs::remove_dir_all(&self.tmp);
    }
  }
}

fn unique() -> u64 {
  static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
  N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn commit_swaps_and_drop_discards() {
    let base = std::env::temp_dir().join(format!("farm-stage-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let fin = base.join("web");
    std::fs::create_dir_all(&fin).unwrap();
    std::fs::write(fin.join("old.txt"), "old").unwrap();
    {
      let s = StagedDir::new(&fin).unwrap();
      std::fs::write(s.path().join("half.txt"), "x").unwrap();
    } // dropped: failed task
    assert!(fin.join("old.txt").exists());
    assert_eq!(std::fs::read_dir(&base).unwrap().count(), 1, "staging dir left behind");
    let s = StagedDir::new(&fin).unwrap();
    std::fs::write(s.path().join("new.txt"), "new").unwrap();
    s.commit().unwrap();
    assert!(fin.join("new.txt").exists() && !fin.join("old.txt").exists());
    assert_eq!(std::fs::read_dir(&base).unwrap().count(), 1);
    std::fs::remove_dir_all(&base).unwrap();
  }
}
