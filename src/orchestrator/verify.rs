//! `farm build --verify-cache`: for each cache hit, the task also runs for real and its output is
//! compared with what the cache restored. A difference means the key missed something the task
//! reads (an undeclared input) or the task is not deterministic.

use crate::hash::{hash_file, KeyManifest};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One path that differs between the restored and the freshly built output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
  /// The path, relative to the project root.
  pub path: String,
  /// What differs.
  pub what: DiffKind,
}

/// How a path differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffKind {
  /// In the restored output only.
  OnlyCached,
  /// In the fresh output only.
  OnlyFresh,
  /// Different bytes.
  Content,
  /// Same bytes, different permission bits.
  Mode,
  /// A file in one, a directory or symlink in the other, or symlinks with other targets.
  Kind,
}

impl DiffKind {
  /// How it reads in a report.
  pub fn describe(self) -> &'static str {
    match self {
      DiffKind::OnlyCached => "only in the cached output",
      DiffKind::OnlyFresh => "only in the fresh output",
      DiffKind::Content => "contents differ",
      DiffKind::Mode => "modes differ",
      DiffKind::Kind => "file types or link targets differ",
    }
  }
}

#[derive(Debug, PartialEq, Eq)]
enum Node {
  File { digest: u128, mode: u32 },
  Dir,
  Link(PathBuf),
}

fn listing(base: &Path) -> BTreeMap<String, Node> {
  use std::os::unix::fs::PermissionsExt;
  let mut out = BTreeMap::new();
  let mut stack = vec![(base.to_path_buf(), String::new())];
  while let Some((abs, rel)) = stack.pop() {
    let Ok(meta) = std::fs::symlink_metadata(&abs) else { continue };
    let node = if meta.file_type().is_symlink() {
      Node::Link(std::fs::read_link(&abs).unwrap_or_default())
    } else if meta.is_dir() {
      if let Ok(rd) = std::fs::read_dir(&abs) {
        for e in rd.flatten() {
          let name = e.file_name().to_string_lossy().into_owned();
          let child = if rel.is_empty() { name } else { format!("{rel}/{name}") };
          stack.push((e.path(), child));
        }
      }
      Node::Dir
    } else {
      let digest = hash_file(&abs).map(|(d, _)| d.0).unwrap_or_default();
      Node::File { digest, mode: meta.permissions().mode() & 0o7777 }
    };
    out.insert(rel, node);
  }
  out
}

/// Compares a restored output (`cached`) with a fresh one (`fresh`): listing, bytes, modes and
/// link targets. `shown` is the output's path relative to the project root, for the report.
pub fn compare(cached: Option<&Path>, fresh: &Path, shown: &str) -> Vec<Difference> {
  let a = cached.map(listing).unwrap_or_default();
  let b = listing(fresh);
  let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
  let mut out = Vec::new();
  for k in keys {
    let what = match (a.get(k), b.get(k)) {
      (Some(_), None) => DiffKind::OnlyCached,
      (None, Some(_)) => DiffKind::OnlyFresh,
      (Some(Node::File { digest: d1, mode: m1 }), Some(Node::File { digest: d2, mode: m2 })) => {
        if d1 != d2 {
          DiffKind::Content
        } else if m1 != m2 {
          DiffKind::Mode
        } else {
          continue;
        }
      }
      (Some(x), Some(y)) if x == y => continue,
      _ => DiffKind::Kind,
    };
    let path = if k.is_empty() { shown.to_string() } else { format!("{shown}/{k}") };
    out.push(Difference { path, what });
  }
  out
}

/// Files under `root` that did not enter the key (`manifest.inputs`) and changed after the cache
/// entry was made (`since`): the likely undeclared inputs, newest first (at most `max`).
pub fn likely_undeclared(
  root: &Path,
  skip: &[PathBuf],
  manifest: &KeyManifest,
  since: SystemTime,
  max: usize,
) -> Vec<String> {
  let declared: BTreeSet<&str> = manifest.inputs.iter().map(|f| f.path.as_str()).collect();
  let mut found: Vec<(SystemTime, String)> = Vec::new();
  let mut stack = vec![(root.to_path_buf(), String::new())];
  let mut budget = 50_000usize;
  while let Some((dir, rel)) = stack.pop() {
    let Ok(rd) = std::fs::read_dir(&dir) else { continue };
    for e in rd.flatten() {
      if budget == 0 {
        break;
      }
      budget -= 1;
      let name = e.file_name().to_string_lossy().into_owned();
      let path = e.path();
      let child = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
      let Ok(ft) = e.file_type() else { continue };
      if ft.is_dir() {
        if !crate::hash::ALWAYS_IGNORED_DIRS.contains(&name.as_str())
          && !skip.iter().any(|s| s == &path)
        {
          stack.push((path, child));
        }
      } else if !declared.contains(child.as_str()) {
        if let Ok(m) = e.metadata().and_then(|m| m.modified()) {
          if m >= since {
            found.push((m, child));
          }
        }
      }
    }
  }
  found.sort_by_key(|f| std::cmp::Reverse(f.0));
  found.into_iter().take(max).map(|(_, p)| p).collect()
}

/// When an entry made at `unix_ms` was created.
pub fn entry_time(unix_ms: u64) -> SystemTime {
  UNIX_EPOCH + Duration::from_millis(unix_ms)
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn names_each_kind_of_difference() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    for dir in [&a, &b] {
      std::fs::create_dir_all(dir.join("sub")).unwrap();
      std::fs::write(dir.join("same.txt"), "x").unwrap();
    }
    std::fs::write(a.join("sub/gone.txt"), "1").unwrap();
    std::fs::write(b.join("new.txt"), "1").unwrap();
    std::fs::write(a.join("c.txt"), "old").unwrap();
    std::fs::write(b.join("c.txt"), "new").unwrap();
    std::fs::write(a.join("m.sh"), "m").unwrap();
    std::fs::write(b.join("m.sh"), "m").unwrap();
    std::fs::set_permissions(b.join("m.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let diffs = compare(Some(&a), &b, "dist/x");
    let got: Vec<(String, DiffKind)> = diffs.into_iter().map(|d| (d.path, d.what)).collect();
    assert_eq!(
      got,
      [
        ("dist/x/c.txt".to_string(), DiffKind::Content),
        ("dist/x/m.sh".to_string(), DiffKind::Mode),
        ("dist/x/new.txt".to_string(), DiffKind::OnlyFresh),
        ("dist/x/sub/gone.txt".to_string(), DiffKind::OnlyCached),
      ]
    );
    assert!(compare(Some(&a), &a, "dist/x").is_empty());
  }
}
