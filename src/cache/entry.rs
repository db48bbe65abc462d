//! On-disk entry format and the path checks applied before anything is restored.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::hash::Digest;

/// Version of the entry JSON format; entries of another format are misses (and removed).
/// 2: single-file outputs (a `File` record with an empty path) and `Absent` records.
pub const ENTRY_FORMAT: u32 = 2;

/// A reference to a content-addressed blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
  /// xxh3-128 of the contents (also the blob's file name).
  pub hash: Digest,
  /// Size in bytes.
  pub size: u64,
}

/// Kind of an output record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
  /// A regular file, stored as a blob.
  File,
  /// A directory (recorded so empty directories are recreated).
  Dir,
  /// A symbolic link with a relative target inside the output directory.
  Symlink,
  /// The output path did not exist when the entry was saved (path `""` only): a restore removes
  /// whatever is there.
  Absent,
}

/// One file, directory or symlink of a task's outputs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputRecord {
  /// Which output directory (the label given to `save`/`restore`).
  pub label: String,
  /// `/`-separated path relative to that directory; `""` is the output path itself (a directory,
  /// a single file, or absent).
  pub path: String,
  /// What it is.
  pub kind: OutputKind,
  /// Unix permission bits (`0o7777` mask).
  pub mode: u32,
  /// The contents (files only).
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub blob: Option<BlobRef>,
  /// Link target (symlinks only).
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub target: Option<String>,
}

impl OutputRecord {
  /// `label/path` for messages.
  pub fn display_path(&self) -> String {
    if self.path.is_empty() {
      self.label.clone()
    } else {
      format!("{}/{}", self.label, self.path)
    }
  }
}

/// A cache entry: what a task produced for one key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
  /// [`ENTRY_FORMAT`].
  pub format: u32,
  /// The task key.
  pub key: String,
  /// Task name.
  pub task: String,
  /// When the entry was written (ms since the Unix epoch).
  pub created_unix_ms: u64,
  /// Outputs, sorted by (label, path).
  pub outputs: Vec<OutputRecord>,
  /// The task's result as the scheduler reported it (exit code, duration, artifacts...).
  pub result: Value,
  /// The task's log lines (a JSON array blob), replayed on restore.
  pub logs: Option<BlobRef>,
  /// The [`super::super::hash::KeyManifest`] (JSON blob), for `farm cache why`.
  pub manifest: BlobRef,
  /// Total size of the distinct blobs this entry references.
  pub size: u64,
}

impl Entry {
  /// Distinct blobs referenced by the entry (outputs, logs, manifest).
  pub fn blobs(&self) -> Vec<BlobRef> {
    let mut v: Vec<BlobRef> = self.outputs.iter().filter_map(|o| o.blob).collect();
    v.extend(self.logs);
    v.push(self.manifest);
    v.sort_by_key(|b| b.hash);
    v.dedup_by_key(|b| b.hash);
    v
  }
}

/// Checks that a recorded output path stays inside its directory.
pub(crate) fn check_rel_path(path: &str) -> Result<(), &'static str> {
  if path.is_empty() {
    return Ok(());
  }
  if path.starts_with('/') || path.contains('\\') || path.contains(':') || path.contains('\0') {
    return Err("is absolute or contains a forbidden character");
  }
  for c in path.split('/') {
    match c {
      "" | "." => return Err("has an empty or '.' component"),
      ".." => return Err("contains '..'"),
      _ => {}
    }
  }
  Ok(())
}

/// Checks that a symlink at `link_path` with `target` resolves (lexically) inside the directory.
pub(crate) fn check_symlink_target(link_path: &str, target: &str) -> Result<(), &'static str> {
  if target.is_empty()
    || target.starts_with('/')
    || target.contains('\\')
    || target.contains(':')
    || target.contains('\0')
  {
    return Err("is a symlink with an absolute or malformed target");
  }
  let mut depth: i64 = link_path.split('/').count() as i64 - 1;
  for c in target.split('/') {
    match c {
      "" | "." => {}
      ".." => {
        depth -= 1;
        if depth < 0 {
          return Err("is a symlink leading outside the output directory");
        }
      }
      _ => depth += 1,
    }
  }
  Ok(())
}

/// Validates every record of an entry before anything is written.
pub(crate) fn check_entry(entry: &Entry) -> Result<(), (String, &'static str)> {
  let mut links: Vec<(&str, &str)> = Vec::new();
  for o in &entry.outputs {
    let fail = |r| (o.display_path(), r);
    if o.label.is_empty()
      || o.label.contains('/')
      || o.label.contains('\\')
      || o.label == ".."
      || o.label == "."
    {
      return Err(fail("has an invalid label"));
    }
    check_rel_path(&o.path).map_err(fail)?;
    match o.kind {
      OutputKind::File if o.blob.is_none() => return Err(fail("is a file without a blob")),
      OutputKind::Absent if !o.path.is_empty() => {
        return Err(fail("is marked absent below the output path"))
      }
      OutputKind::Symlink => {
        let Some(t) = o.target.as_deref() else {
          return Err(fail("is a symlink without a target"));
        };
        if o.path.is_empty() {
          return Err(fail("replaces the output directory with a symlink"));
        }
        check_symlink_target(&o.path, t).map_err(fail)?;
        links.push((&o.label, &o.path));
      }
      _ => {}
    }
  }
  // Nothing may be written through a symlink the entry itself creates.
  for o in &entry.outputs {
    for (label, link) in &links {
      if o.label == *label
        && o.path.len() > link.len()
        && o.path.starts_with(link)
        && o.path.as_bytes()[link.len()] == b'/'
      {
        return Err((o.display_path(), "lies beneath a symlink of the same entry"));
      }
    }
  }
  // Sorted by (label, path), no duplicates: each label's records form one group.
  if entry.outputs.windows(2).any(|w| (&w[0].label, &w[0].path) >= (&w[1].label, &w[1].path)) {
    return Err(("(entry)".into(), "lists its outputs unsorted or twice"));
  }
  // A label is a directory (a `Dir` record at "" and everything below it), a single file or
  // absent; every record below the root lies in a directory the entry lists.
  for group in entry.outputs.chunk_by(|a, b| a.label == b.label) {
    let fail = |o: &OutputRecord, r| Err((o.display_path(), r));
    match group.first().filter(|o| o.path.is_empty()).map(|o| o.kind) {
      Some(OutputKind::Dir) => {
        let dirs: HashSet<&str> =
          group.iter().filter(|o| o.kind == OutputKind::Dir).map(|o| o.path.as_str()).collect();
        for o in &group[1..] {
          if !dirs.contains(o.path.rsplit_once('/').map_or("", |(p, _)| p)) {
            return fail(o, "lies under a path the entry does not list as a directory");
          }
        }
      }
      Some(OutputKind::Symlink) | None => {
        return fail(&group[0], "has no record for its output path")
      }
      Some(_) if group.len() > 1 => {
        return fail(&group[1], "lies below a single-file or absent output")
      }
      Some(_) => {}
    }
  }
  Ok(())
}
