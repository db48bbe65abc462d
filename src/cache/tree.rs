//! Manifests of directory trees kept under the cache directory (the production venvs): every file,
//! directory and symlink with its mode, size, xxh3 digest or link target, written when the tree is
//! built and checked before each use. Verification goes through a [`StatCache`], so checking an
//! unchanged tree costs one `lstat` per path and reads no file.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::super::hash::{hash_file, Digest, StatCache};
use super::error::{CacheError, DamageKind, TreeDamage};
use super::fsutil::mode_of;

/// Kind of a [`TreeRecord`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TreeKind {
  /// A regular file.
  File,
  /// A directory.
  Dir,
  /// A symbolic link (its target is recorded, never followed).
  Symlink,
}

impl TreeKind {
  fn name(self) -> &'static str {
    match self {
      TreeKind::File => "file",
      TreeKind::Dir => "directory",
      TreeKind::Symlink => "symlink",
    }
  }

  fn of(meta: &fs::Metadata) -> Option<TreeKind> {
    let t = meta.file_type();
    if t.is_symlink() {
      Some(TreeKind::Symlink)
    } else if t.is_dir() {
      Some(TreeKind::Dir)
    } else if t.is_file() {
      Some(TreeKind::File)
    } else {
      None
    }
  }
}

/// One path of a tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeRecord {
  /// `/`-separated path relative to the tree's root.
  pub path: String,
  /// What it is.
  pub kind: TreeKind,
  /// Permission bits (files and directories; 0 for symlinks).
  pub mode: u32,
  /// Size in bytes (files; 0 otherwise).
  #[serde(default)]
  pub size: u64,
  /// xxh3-128 of the contents (files only).
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub hash: Option<Digest>,
  /// Link target as stored in the link (symlinks only).
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub target: Option<String>,
}

/// Every path of a directory tree (the root itself excluded), sorted by path.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeManifest {
  /// The records, sorted by `path`.
  pub records: Vec<TreeRecord>,
}

/// A scanned path: its record, and (for files) the absolute path and digest.
type Scanned = (TreeRecord, Option<(PathBuf, Digest)>);

/// One path found by [`walk`].
struct Found {
  rel: String,
  abs: PathBuf,
  meta: fs::Metadata,
}

/// Every path under `root` (not following symlinks), minus the top-level names in `skip`, sorted.
/// Directories are listed in parallel (jwalk on the rayon pool): a backend's venv output holds
/// thousands of directories.
fn walk(root: &Path, skip: &[&str]) -> Result<Vec<Found>, (PathBuf, io::Error)> {
  let skip: Vec<String> = skip.iter().map(|s| s.to_string()).collect();
  // A root that is a symlink is listed through (as `read_dir` does); paths stay under `root`.
  let base = match fs::symlink_metadata(root) {
    Ok(m) if m.file_type().is_symlink() => {
      fs::canonicalize(root).map_err(|e| (root.to_path_buf(), e))?
    }
    _ => root.to_path_buf(),
  };
  let walker = jwalk::WalkDir::new(&base)
    .parallelism(crate::hash::patient_parallelism())
    .skip_hidden(false)
    .follow_links(false)
    .sort(false)
    .process_read_dir(move |depth, _dir, _state, children| {
      if depth == Some(0) {
        children.retain(|c| {
          c.as_ref().map_or(true, |c| !skip.iter().any(|s| c.file_name == std::ffi::OsStr::new(s)))
        });
      }
    });
  let mut out = Vec::new();
  for item in walker {
    let item = item.map_err(|e| {
      let path = e.path().map_or_else(|| root.to_path_buf(), Path::to_path_buf);
      let text = e.to_string();
      (path, e.into_io_error().unwrap_or_else(|| io::Error::other(text)))
    })?;
    if item.depth == 0 {
      continue; // the root itself
    }
    let found = item.path();
    let inner = found
      .strip_prefix(&base)
      .map_err(|_| (found.clone(), io::Error::other("outside the walked root")))?;
    let rel =
      inner.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
    let abs = root.join(inner);
    let meta = fs::symlink_metadata(&abs).map_err(|e| (abs.clone(), e))?;
    out.push(Found { rel, abs, meta });
  }
  out.sort_by(|a, b| a.rel.cmp(&b.rel));
  Ok(out)
}

impl TreeManifest {
  /// Records every path under `root` except the top-level names in `skip`, hashing files in
  /// parallel. Returns the manifest and each file's (absolute path, digest), for a stat cache.
  pub fn scan(
    root: &Path,
    skip: &[&str],
  ) -> Result<(TreeManifest, Vec<(PathBuf, Digest)>), CacheError> {
    let found = walk(root, skip).map_err(|(p, e)| CacheError::io("reading", p, e))?;
    let records: Vec<Result<Scanned, CacheError>> = found
      .into_par_iter()
      .map(|f| {
        if f.abs.to_str().is_none() {
          return Err(CacheError::NonUtf8Path { path: f.abs });
        }
        let kind =
          TreeKind::of(&f.meta).ok_or(CacheError::UnsupportedOutput { path: f.abs.clone() })?;
        let mut r = TreeRecord { path: f.rel, kind, mode: 0, size: 0, hash: None, target: None };
        let mut seen = None;
        match kind {
          TreeKind::File => {
            let (h, n) = hash_file(&f.abs).map_err(|e| CacheError::io("hashing", &f.abs, e))?;
            r.mode = mode_of(&f.meta);
            r.size = n;
            r.hash = Some(h);
            seen = Some((f.abs, h));
          }
          TreeKind::Dir => r.mode = mode_of(&f.meta),
          TreeKind::Symlink => {
            let t = fs::read_link(&f.abs).map_err(|e| CacheError::io("reading link", &f.abs, e))?;
            let t = t.to_str().ok_or(CacheError::NonUtf8Path { path: f.abs.clone() })?;
            r.target = Some(t.to_string());
          }
        }
        Ok((r, seen))
      })
      .collect();
    let mut manifest = TreeManifest::default();
    let mut files = Vec::new();
    for r in records {
      let (rec, seen) = r?;
      manifest.records.push(rec);
      files.extend(seen);
    }
    Ok((manifest, files))
  }

  /// Total size of the files.
  pub fn total_size(&self) -> u64 {
    self.records.iter().map(|r| r.size).sum()
  }

  /// Checks that `root` holds exactly this tree (no path missing, none added, same kinds, modes,
  /// sizes, contents and link targets), ignoring the top-level names in `skip`. A file whose stat
  /// matches a trusted `stat` record is not read. Returns the (absolute path, digest) of each file
  /// that was read and found intact, for the caller to record in `stat` (empty when the stat cache
  /// vouched for every file); the first damage in path order otherwise.
  pub fn verify(
    &self,
    root: &Path,
    skip: &[&str],
    stat: Option<&StatCache>,
  ) -> Result<Vec<(PathBuf, Digest)>, TreeDamage> {
    let damage = |path: &Path, problem| TreeDamage { path: path.to_path_buf(), problem };
    let found =
      walk(root, skip).map_err(|(p, e)| damage(&p, DamageKind::Unreadable(e.to_string())))?;
    let listed: HashMap<&str, &TreeRecord> =
      self.records.iter().map(|r| (r.path.as_str(), r)).collect();
    let mut to_hash: Vec<(&Found, &TreeRecord)> = Vec::new();
    let mut files = Vec::new();
    for f in &found {
      let Some(rec) = listed.get(f.rel.as_str()) else {
        return Err(damage(&f.abs, DamageKind::Unexpected));
      };
      let kind = TreeKind::of(&f.meta);
      if kind != Some(rec.kind) {
        let found = kind.map_or("special file", TreeKind::name);
        return Err(damage(&f.abs, DamageKind::Kind { expected: rec.kind.name(), found }));
      }
      match rec.kind {
        TreeKind::Symlink => {
          let t = fs::read_link(&f.abs)
            .map_err(|e| damage(&f.abs, DamageKind::Unreadable(e.to_string())))?;
          let t = t.to_string_lossy();
          if Some(t.as_ref()) != rec.target.as_deref() {
            let expected = rec.target.clone().unwrap_or_default();
            return Err(damage(&f.abs, DamageKind::LinkTarget { expected, actual: t.into() }));
          }
        }
        TreeKind::Dir | TreeKind::File => {
          let mode = mode_of(&f.meta);
          if mode != rec.mode {
            return Err(damage(&f.abs, DamageKind::Mode { expected: rec.mode, actual: mode }));
          }
          if rec.kind == TreeKind::File {
            if f.meta.len() != rec.size {
              let problem = DamageKind::Size { expected: rec.size, actual: f.meta.len() };
              return Err(damage(&f.abs, problem));
            }
            let hash = rec.hash.unwrap_or_default();
            if stat.and_then(|s| s.known_digest(&f.abs, &f.meta)) != Some(hash) {
              to_hash.push((f, rec));
            }
          }
        }
      }
    }
    if found.len() != self.records.len() {
      let present: std::collections::HashSet<&str> = found.iter().map(|f| f.rel.as_str()).collect();
      if let Some(r) = self.records.iter().find(|r| !present.contains(r.path.as_str())) {
        return Err(damage(&root.join(&r.path), DamageKind::Missing));
      }
    }
    let hashed: Vec<Result<(PathBuf, Digest), TreeDamage>> = to_hash
      .into_par_iter()
      .map(|(f, rec)| {
        let expected = rec.hash.unwrap_or_default();
        match hash_file(&f.abs) {
          Ok((h, _)) if h == expected => Ok((f.abs.clone(), h)),
          Ok((h, _)) => Err(damage(
            &f.abs,
            DamageKind::Contents { expected: expected.to_hex(), actual: h.to_hex() },
          )),
          Err(e) => Err(damage(&f.abs, DamageKind::Unreadable(e.to_string()))),
        }
      })
      .collect();
    let mut first_bad: Option<TreeDamage> = None;
    for h in hashed {
      match h {
        Ok(v) => files.push(v),
        Err(d) if first_bad.as_ref().is_none_or(|b| d.path < b.path) => first_bad = Some(d),
        Err(_) => {}
      }
    }
    match first_bad {
      Some(d) => Err(d),
      None => Ok(files),
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn scan_lists_every_path_sorted_skips_top_level_names_and_lists_through_a_symlinked_root() {
    let t = tempfile::tempdir().unwrap();
    let real = t.path().join("real");
    for (p, text) in [("a/b.txt", "b"), ("a/c/d.txt", "d"), ("skip/x", "x"), ("a/skip", "kept")] {
      fs::create_dir_all(real.join(p).parent().unwrap()).unwrap();
      fs::write(real.join(p), text).unwrap();
    }
    std::os::unix::fs::symlink("b.txt", real.join("a/link")).unwrap();
    let linked = t.path().join("linked");
    std::os::unix::fs::symlink(&real, &linked).unwrap();
    for root in [&real, &linked] {
      let (m, digests) = TreeManifest::scan(root, &["skip"]).unwrap();
      let paths: Vec<_> = m.records.iter().map(|r| (r.path.as_str(), r.kind)).collect();
      assert_eq!(
        paths,
        [
          ("a", TreeKind::Dir),
          ("a/b.txt", TreeKind::File),
          ("a/c", TreeKind::Dir),
          ("a/c/d.txt", TreeKind::File),
          ("a/link", TreeKind::Symlink),
          ("a/skip", TreeKind::File),
        ]
      );
      assert!(digests.iter().all(|(p, _)| p.starts_with(root)), "{digests:?}");
      assert_eq!(digests.len(), 3);
    }
  }
}
