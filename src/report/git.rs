//! The project's git state for the build manifest: `HEAD`'s commit and whether the files under
//! the project root differ from it (`git status --untracked-files=no -- .` says something).
//!
//! `git status` `lstat`s every tracked file: at 100,000 files that is as much work as farm's own
//! input walk, done a second time. So the work tree is compared with the index here, from the
//! stats this build's walks already took ([`Observed`]), and `lstat` only for the tracked files
//! no walk listed or that a task may have written since (its outputs). A file whose stat differs
//! from its index entry (or is racily clean) is read and its blob id compared, as git does. The
//! index against `HEAD` is `git diff-index --cached`, which reads no work-tree file.
//!
//! Tracked files no walk vouched for are `lstat`ed in parallel. Other bytes or another executable
//! bit are a change unless git's settings may say otherwise (a filter: an attributes file or
//! `core.autocrlf`/`core.eol`/`filter.*`; `core.fileMode` false): then, and for an index this
//! reader does not know (split or sparse index, an unknown version or extension flag), an
//! unmerged or intent-to-add entry, a submodule, or a failing `git` command, `git status` answers.

use crate::hash::{FileStat, Observed};
use serde::Serialize;
use sha2::Digest as _;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The project's git state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GitInfo {
  /// `HEAD`'s commit id.
  pub commit: String,
  /// Whether the work tree had uncommitted changes.
  pub dirty: bool,
}

/// Reads the git state of `root`, if it is inside a git work tree with a commit. `observed`: the
/// stats this build's walks took; `fresh`: paths a task may have written since (their files are
/// stat'ed again).
pub fn git_info(root: &Path, observed: &Observed, fresh: &[PathBuf]) -> Option<GitInfo> {
  let facts = probe(
    root,
    &["rev-parse", "--show-toplevel", "--show-object-format", "--absolute-git-dir", "HEAD"],
  )
  .and_then(|out| {
    let lines: Vec<&str> = out.lines().collect();
    match lines.as_slice() {
      [top, format, git_dir, commit] => {
        Some((PathBuf::from(top), format.to_string(), PathBuf::from(git_dir), commit.to_string()))
      }
      _ => None,
    }
  });
  let Some((top, format, git_dir, commit)) = facts else { return git_status_info(root) };
  // The index against HEAD (no work-tree file is read), beside the work tree's comparison.
  let staged = {
    let root = root.to_path_buf();
    std::thread::spawn(move || {
      let status = Command::new("git")
        .args(["--no-optional-locks", "diff-index", "--cached", "--quiet", "HEAD", "--", "."])
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
      match status.code() {
        Some(0) => Some(false),
        Some(1) => Some(true),
        _ => None,
      }
    })
  };
  let work_tree = match (Oid::of_format(&format), std::fs::canonicalize(root)) {
    (Some(oid), Ok(real_root)) => {
      compare_work_tree(&git_dir, &top, &real_root, oid, observed, fresh)
    }
    _ => Verdict::AskGit,
  };
  let staged = staged.join().ok().flatten();
  match (work_tree, staged) {
    (Verdict::Clean, Some(staged)) => Some(GitInfo { commit, dirty: staged }),
    (Verdict::Dirty, Some(_)) => Some(GitInfo { commit, dirty: true }),
    _ => git_status_info(root),
  }
}

/// The plain way: `git rev-parse HEAD` and `git status`.
fn git_status_info(root: &Path) -> Option<GitInfo> {
  let commit = probe(root, &["rev-parse", "HEAD"])?;
  // --no-optional-locks: a status that refreshes the index would write the user's .git/index
  // (farm writes only its outputs), and would wake the warm-mode daemon's watcher.
  let dirty = probe(
    root,
    &["--no-optional-locks", "status", "--porcelain", "--untracked-files=no", "--", "."],
  )
  .is_some_and(|s| !s.is_empty());
  Some(GitInfo { commit, dirty })
}

fn probe(root: &Path, args: &[&str]) -> Option<String> {
  crate::run::process::probe("git", args, Some(root))
}

/// What the comparison of the work tree with the index found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
  /// Every entry matches its file.
  Clean,
  /// A tracked file is gone or changed its type.
  Dirty,
  /// Only `git status` can tell.
  AskGit,
}

/// The object id hash of the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Oid {
  Sha1,
  Sha256,
}

impl Oid {
  fn of_format(format: &str) -> Option<Oid> {
    match format {
      "sha1" => Some(Oid::Sha1),
      "sha256" => Some(Oid::Sha256),
      _ => None,
    }
  }

  fn len(self) -> usize {
    match self {
      Oid::Sha1 => 20,
      Oid::Sha256 => 32,
    }
  }

  /// The blob id of `content`.
  fn blob(self, content: &[u8]) -> Vec<u8> {
    let header = format!("blob {}\0", content.len());
    match self {
      Oid::Sha1 => {
        let mut h = sha1::Sha1::new();
        h.update(header.as_bytes());
        h.update(content);
        h.finalize().to_vec()
      }
      Oid::Sha256 => {
        let mut h = sha2::Sha256::new();
        h.update(header.as_bytes());
        h.update(content);
        h.finalize().to_vec()
      }
    }
  }
}

/// One index entry, as far as the comparison needs it (borrowed from the reader's buffers).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry<'a> {
  ctime: (u32, u32),
  mtime: (u32, u32),
  ino: u32,
  mode: u32,
  size: u32,
  oid: &'a [u8],
  stage: u16,
  assume_valid: bool,
  skip_worktree: bool,
  intent_to_add: bool,
  path: &'a [u8],
}

/// Why the index cannot be read here (then `git status` answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Unreadable;

impl From<std::io::Error> for Unreadable {
  fn from(_: std::io::Error) -> Self {
    Unreadable
  }
}

fn be32(b: &[u8], at: usize) -> u32 {
  u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be16(b: &[u8], at: usize) -> u16 {
  u16::from_be_bytes([b[at], b[at + 1]])
}

/// Reads the index file from `r` (versions 2 to 4) and calls `visit` with each entry, in the
/// index's (path) order, without keeping them: at 100,000 files the file is 14 MB. `visit` may
/// stop the reading with a verdict. A split or sparse index is refused: its entries are not all
/// in this file (its extensions come last, so a refusal may follow visits: callers decide only
/// at the end).
fn read_index(
  r: &mut impl std::io::BufRead,
  oid: Oid,
  mut visit: impl FnMut(&Entry) -> Option<Verdict>,
) -> Result<Option<Verdict>, Unreadable> {
  let mut head = [0u8; 12];
  r.read_exact(&mut head)?;
  if &head[..4] != b"DIRC" {
    return Err(Unreadable);
  }
  let version = be32(&head, 4);
  if !(2..=4).contains(&version) {
    return Err(Unreadable);
  }
  let count = be32(&head, 8);
  let oid_len = oid.len();
  // ctime, mtime, dev, ino, mode, uid, gid, size (4 bytes each, ctime and mtime 8), the oid,
  // the flags; then extended flags when the `extended` bit is set.
  let fixed = 40 + oid_len + 2;
  let mut buf = vec![0u8; fixed + 2];
  let mut path: Vec<u8> = Vec::new();
  let mut pad = [0u8; 8];
  let mut stop = None;
  for _ in 0..count {
    r.read_exact(&mut buf[..fixed])?;
    let flags = be16(&buf, fixed - 2);
    let extended = flags & 0x4000 != 0;
    let mut ext = 0u16;
    if extended {
      if version < 3 {
        return Err(Unreadable);
      }
      r.read_exact(&mut buf[fixed..fixed + 2])?;
      ext = be16(&buf, fixed);
      // Bits this reader does not know (besides skip-worktree and intent-to-add).
      if ext & !0x6000 != 0 {
        return Err(Unreadable);
      }
    }
    if version == 4 {
      let strip = varint(r)?;
      let keep = path.len().checked_sub(strip).ok_or(Unreadable)?;
      path.truncate(keep);
      r.read_until(0, &mut path)?;
    } else {
      path.clear();
      r.read_until(0, &mut path)?;
      // Entries are padded with 1 to 8 NULs (the first one read above) to a multiple of 8.
      let len = fixed + if extended { 2 } else { 0 } + path.len() - 1;
      let padding = (len + 8) / 8 * 8 - len - 1;
      r.read_exact(&mut pad[..padding])?;
    }
    if path.pop() != Some(0) {
      return Err(Unreadable); // the file ended inside a path
    }
    if stop.is_some() {
      continue; // read on to the extensions: a split index must still be refused
    }
    let field = |i: usize| be32(&buf, 4 * i);
    let entry = Entry {
      ctime: (field(0), field(1)),
      mtime: (field(2), field(3)),
      ino: field(5),
      mode: field(6),
      size: field(9),
      oid: &buf[40..40 + oid_len],
      stage: (flags >> 12) & 3,
      assume_valid: flags & 0x8000 != 0,
      skip_worktree: ext & 0x4000 != 0,
      intent_to_add: ext & 0x2000 != 0,
      path: &path,
    };
    stop = visit(&entry);
  }
  // Extensions, up to the trailing checksum: a split index (`link`) or a sparse one (`sdir`)
  // keeps entries elsewhere.
  let mut rest = Vec::new();
  r.read_to_end(&mut rest)?;
  let mut at = 0;
  while at + 8 <= rest.len().saturating_sub(oid_len) {
    let sig = &rest[at..at + 4];
    if sig == b"link" || sig == b"sdir" {
      return Err(Unreadable);
    }
    at += 8 + be32(&rest, at + 4) as usize;
  }
  Ok(stop)
}

/// git's offset varint (index version 4).
fn varint(r: &mut impl std::io::BufRead) -> Result<usize, Unreadable> {
  let mut byte = [0u8; 1];
  r.read_exact(&mut byte)?;
  let mut c = byte[0];
  let mut val = usize::from(c & 127);
  while c & 128 != 0 {
    r.read_exact(&mut byte)?;
    c = byte[0];
    val =
      val.checked_add(1).and_then(|v| v.checked_mul(128)).ok_or(Unreadable)? + usize::from(c & 127);
  }
  Ok(val)
}

/// The index's view of a file's stat, as git stores it (32-bit fields).
fn matches(e: &Entry, st: &FileStat) -> bool {
  let split =
    |ns: i64| ((ns.div_euclid(1_000_000_000)) as u32, (ns.rem_euclid(1_000_000_000)) as u32);
  e.size == st.size as u32
    && e.mtime == split(st.mtime_ns)
    && e.ctime == split(st.ctime_ns)
    && e.ino == st.inode as u32
}

/// An index entry no walk vouched for, to check against its file (in parallel).
#[derive(Debug)]
struct Pending {
  abs: String,
  ctime: (u32, u32),
  mtime: (u32, u32),
  ino: u32,
  mode: u32,
  size: u32,
  oid: Vec<u8>,
  racy: bool,
}

impl Pending {
  fn entry(&self) -> Entry<'_> {
    Entry {
      ctime: self.ctime,
      mtime: self.mtime,
      ino: self.ino,
      mode: self.mode,
      size: self.size,
      oid: &self.oid,
      stage: 0,
      assume_valid: false,
      skip_worktree: false,
      intent_to_add: false,
      path: self.abs.as_bytes(),
    }
  }
}

/// What checking one file found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Found {
  /// The file matches its entry.
  Same,
  /// Its executable bit changed (a change unless `core.fileMode` is false).
  ModeChanged,
  /// Its bytes are not the entry's blob (a change unless a filter makes them so).
  OtherBytes,
  /// Gone, or another type.
  Changed,
  /// Could not be read.
  Unknown,
}

/// Compares the work tree under `real_root` (in the repository at `root`) with the index of
/// `git_dir`.
fn compare_work_tree(
  git_dir: &Path,
  top: &Path,
  real_root: &Path,
  oid: Oid,
  observed: &Observed,
  fresh: &[PathBuf],
) -> Verdict {
  use rayon::prelude::*;
  let index_path = git_dir.join("index");
  let (Ok(file), Ok(index_meta)) =
    (std::fs::File::open(&index_path), std::fs::metadata(&index_path))
  else {
    return Verdict::AskGit;
  };
  let Ok(sub) = real_root.strip_prefix(top) else { return Verdict::AskGit };
  let Some(sub) = sub.to_str() else { return Verdict::AskGit };
  let Some(top_str) = top.to_str() else { return Verdict::AskGit };
  // Outputs as real paths, to compare with paths under `top` (as strings: a byte prefix ending
  // at a `/` is a path prefix; `Path::starts_with` compares component by component).
  let fresh: Vec<String> = fresh
    .iter()
    .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
    .map(|p| p.to_string_lossy().trim_end_matches('/').to_string())
    .collect();
  let under = |abs: &str, dir: &str| {
    abs.strip_prefix(dir).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
  };
  // git's racy rule, by the second (as a git built without nanosecond stat data counts it): an
  // entry not older than the index may have changed within the tick after it was recorded.
  let index_secs = index_meta.mtime() as u32;
  let prefix = if sub.is_empty() { String::new() } else { format!("{sub}/") };
  let mut lookup = observed.lookup();
  let mut abs = String::with_capacity(top_str.len() + 256);
  let mut pending = Vec::new();
  let mut attributes = false;
  let visit = |e: &Entry| -> Option<Verdict> {
    let Ok(path) = std::str::from_utf8(e.path) else { return Some(Verdict::AskGit) };
    attributes |= path == ".gitattributes" || path.ends_with("/.gitattributes");
    if !path.starts_with(&prefix) {
      return None;
    }
    if e.stage != 0 || e.intent_to_add {
      return Some(Verdict::AskGit);
    }
    if e.assume_valid || e.skip_worktree {
      return None; // git does not look at these files either
    }
    let kind = e.mode & 0o170000;
    if kind != 0o100000 && kind != 0o120000 {
      return Some(Verdict::AskGit); // a submodule, or a mode this reader does not know
    }
    abs.clear();
    abs.push_str(top_str);
    abs.push('/');
    abs.push_str(path);
    let racy = e.mtime.0 >= index_secs;
    if kind == 0o100000 && !racy && !fresh.iter().any(|f| under(&abs, f)) {
      let (dir, name) = abs.rsplit_once('/').unwrap_or(("", &abs));
      if lookup.get(dir, name).is_some_and(|st| matches(e, &st)) {
        return None;
      }
    }
    pending.push(Pending {
      abs: abs.clone(),
      ctime: e.ctime,
      mtime: e.mtime,
      ino: e.ino,
      mode: e.mode,
      size: e.size,
      oid: e.oid.to_vec(),
      racy,
    });
    None
  };
  let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
  match read_index(&mut reader, oid, visit) {
    Ok(Some(v)) => return v,
    Ok(None) => {}
    Err(Unreadable) => return Verdict::AskGit,
  }
  // The worst finding decides (in `Found`'s order).
  let found = pending
    .par_iter()
    .map(|p| check_file(&p.entry(), &p.abs, oid, p.racy))
    .max()
    .unwrap_or(Found::Same);
  match found {
    Found::Same => Verdict::Clean,
    Found::Changed => Verdict::Dirty,
    Found::Unknown => Verdict::AskGit,
    Found::ModeChanged | Found::OtherBytes => {
      match worktree_settings(real_root, git_dir, attributes) {
        Some(s) if found == Found::OtherBytes && !s.filters => Verdict::Dirty,
        Some(s) if found == Found::ModeChanged && s.file_mode => Verdict::Dirty,
        _ => Verdict::AskGit,
      }
    }
  }
}

/// What decides whether other bytes or another executable bit are a change for git.
#[derive(Debug, Clone, Copy)]
struct WorktreeSettings {
  /// Some filter may turn the file's bytes into other blob bytes: an attributes file
  /// (`.gitattributes` in the index, `info/attributes`, the user's or the system's) or a setting
  /// that converts (`core.autocrlf`, `core.eol`, `core.attributesFile`, `filter.*`).
  filters: bool,
  /// `core.fileMode` (true unless set false).
  file_mode: bool,
}

/// Reads the settings of [`WorktreeSettings`] (`git config`); `None` when git does not answer.
fn worktree_settings(
  root: &Path,
  git_dir: &Path,
  attributes_in_index: bool,
) -> Option<WorktreeSettings> {
  let out = Command::new("git")
    .args(["config", "--get-regexp", r"^(core\.(autocrlf|eol|attributesfile|filemode)|filter\.)"])
    .current_dir(root)
    .stdin(Stdio::null())
    .stderr(Stdio::null())
    .output()
    .ok()?;
  // Exit 1: no such setting.
  if !(out.status.success() || out.status.code() == Some(1)) {
    return None;
  }
  let text = String::from_utf8_lossy(&out.stdout);
  let mut s = WorktreeSettings { filters: attributes_in_index, file_mode: true };
  for line in text.lines() {
    let (key, value) = line.split_once(' ').unwrap_or((line, ""));
    let key = key.to_ascii_lowercase();
    match key.as_str() {
      "core.filemode" => {
        s.file_mode = !matches!(value.to_ascii_lowercase().as_str(), "false" | "no" | "off" | "0")
      }
      "core.autocrlf" => {
        s.filters |= !matches!(value.to_ascii_lowercase().as_str(), "false" | "no" | "off" | "0")
      }
      _ => s.filters = true,
    }
  }
  let home = std::env::var_os("HOME").map(PathBuf::from);
  let xdg = std::env::var_os("XDG_CONFIG_HOME")
    .map(PathBuf::from)
    .or_else(|| home.map(|h| h.join(".config")));
  let attribute_files = [
    Some(git_dir.join("info/attributes")),
    xdg.map(|x| x.join("git/attributes")),
    Some(PathBuf::from("/etc/gitattributes")),
    Some(PathBuf::from("/usr/local/etc/gitattributes")),
  ];
  s.filters |= attribute_files.iter().flatten().any(|p| p.exists());
  Some(s)
}

/// One entry against its file, by `lstat`, then by contents when the stat differs or is racy.
fn check_file(e: &Entry, abs: &str, oid: Oid, racy: bool) -> Found {
  let Ok(meta) = std::fs::symlink_metadata(abs) else { return Found::Changed };
  let symlink = e.mode & 0o170000 == 0o120000;
  if symlink != meta.file_type().is_symlink() || (!symlink && !meta.is_file()) {
    return Found::Changed; // gone or another type
  }
  if !symlink && (meta.mode() & 0o100 != 0) != (e.mode & 0o100 != 0) {
    return Found::ModeChanged;
  }
  if !racy && matches(e, &FileStat::from_metadata(&meta)) {
    return Found::Same;
  }
  let content = if symlink {
    std::fs::read_link(abs).map(|t| t.into_os_string().into_encoded_bytes())
  } else {
    std::fs::read(abs)
  };
  match content {
    Ok(c) if oid.blob(&c) == e.oid => Found::Same,
    Ok(_) => Found::OtherBytes,
    Err(_) => Found::Unknown,
  }
}

#[cfg(test)]
mod tests;
