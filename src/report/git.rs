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
//! `git status` itself answers whenever this cannot: an index this reader does not know (split
//! or sparse index, an unknown version or extension flag), an unmerged or intent-to-add entry, a
//! submodule, a file whose contents differ from the index (filters such as `core.autocrlf` or
//! LFS may still call it clean), an executable bit that changed (`core.fileMode` decides), or a
//! failing `git` command.

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

/// One index entry, as far as the comparison needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
  ctime: (u32, u32),
  mtime: (u32, u32),
  ino: u32,
  mode: u32,
  size: u32,
  oid: Vec<u8>,
  stage: u16,
  assume_valid: bool,
  skip_worktree: bool,
  intent_to_add: bool,
  path: Vec<u8>,
}

/// Why the index cannot be read here (then `git status` answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Unreadable;

fn be32(b: &[u8], at: usize) -> Result<u32, Unreadable> {
  let s = b.get(at..at + 4).ok_or(Unreadable)?;
  Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn be16(b: &[u8], at: usize) -> Result<u16, Unreadable> {
  let s = b.get(at..at + 2).ok_or(Unreadable)?;
  Ok(u16::from_be_bytes([s[0], s[1]]))
}

/// Reads the entries of an index file (versions 2 to 4). A split or sparse index is refused:
/// its entries are not all in this file.
fn parse_index(b: &[u8], oid: Oid) -> Result<Vec<Entry>, Unreadable> {
  if b.get(..4) != Some(b"DIRC") {
    return Err(Unreadable);
  }
  let version = be32(b, 4)?;
  if !(2..=4).contains(&version) {
    return Err(Unreadable);
  }
  let count = be32(b, 8)? as usize;
  let oid_len = oid.len();
  let mut at = 12;
  let mut entries = Vec::with_capacity(count.min(b.len() / 62));
  let mut prev: Vec<u8> = Vec::new();
  for _ in 0..count {
    let start = at;
    let field = |i: usize| be32(b, start + 4 * i);
    let (ctime, mtime) = ((field(0)?, field(1)?), (field(2)?, field(3)?));
    let (ino, mode, size) = (field(5)?, field(6)?, field(9)?);
    let oid = b.get(start + 40..start + 40 + oid_len).ok_or(Unreadable)?.to_vec();
    let flags = be16(b, start + 40 + oid_len)?;
    at = start + 40 + oid_len + 2;
    let extended = flags & 0x4000 != 0;
    let mut ext = 0u16;
    if extended {
      if version < 3 {
        return Err(Unreadable);
      }
      ext = be16(b, at)?;
      at += 2;
      // Bits this reader does not know (besides skip-worktree and intent-to-add).
      if ext & !0x6000 != 0 {
        return Err(Unreadable);
      }
    }
    let path = if version == 4 {
      let (strip, n) = varint(b, at)?;
      at += n;
      let end =
        at + b.get(at..).ok_or(Unreadable)?.iter().position(|&c| c == 0).ok_or(Unreadable)?;
      let keep = prev.len().checked_sub(strip).ok_or(Unreadable)?;
      let mut p = prev[..keep].to_vec();
      p.extend_from_slice(&b[at..end]);
      at = end + 1;
      p
    } else {
      let end =
        at + b.get(at..).ok_or(Unreadable)?.iter().position(|&c| c == 0).ok_or(Unreadable)?;
      let p = b[at..end].to_vec();
      // Entries are padded with 1 to 8 NULs to a multiple of 8 bytes.
      let len = end - start;
      at = start + (len + 8) / 8 * 8;
      p
    };
    prev.clone_from(&path);
    entries.push(Entry {
      ctime,
      mtime,
      ino,
      mode,
      size,
      oid,
      stage: (flags >> 12) & 3,
      assume_valid: flags & 0x8000 != 0,
      skip_worktree: ext & 0x4000 != 0,
      intent_to_add: ext & 0x2000 != 0,
      path,
    });
  }
  // Extensions, up to the trailing checksum: a split index (`link`) or a sparse one (`sdir`)
  // keeps entries elsewhere.
  while at + 8 <= b.len().saturating_sub(oid_len) {
    let sig = &b[at..at + 4];
    if sig == b"link" || sig == b"sdir" {
      return Err(Unreadable);
    }
    at += 8 + be32(b, at + 4)? as usize;
  }
  Ok(entries)
}

/// git's offset varint (index version 4): returns the value and the bytes it took.
fn varint(b: &[u8], at: usize) -> Result<(usize, usize), Unreadable> {
  let mut i = at;
  let mut c = *b.get(i).ok_or(Unreadable)?;
  let mut val = usize::from(c & 127);
  while c & 128 != 0 {
    i += 1;
    c = *b.get(i).ok_or(Unreadable)?;
    val =
      val.checked_add(1).and_then(|v| v.checked_mul(128)).ok_or(Unreadable)? + usize::from(c & 127);
  }
  Ok((val, i + 1 - at))
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

/// Compares the work tree under `real_root` with the index of `git_dir`.
fn compare_work_tree(
  git_dir: &Path,
  top: &Path,
  real_root: &Path,
  oid: Oid,
  observed: &Observed,
  fresh: &[PathBuf],
) -> Verdict {
  let index_path = git_dir.join("index");
  let (Ok(bytes), Ok(index_meta)) = (std::fs::read(&index_path), std::fs::metadata(&index_path))
  else {
    return Verdict::AskGit;
  };
  let Ok(entries) = parse_index(&bytes, oid) else { return Verdict::AskGit };
  let Ok(sub) = real_root.strip_prefix(top) else { return Verdict::AskGit };
  let Some(sub) = sub.to_str() else { return Verdict::AskGit };
  let Some(top_str) = top.to_str() else { return Verdict::AskGit };
  // Outputs as real paths, to compare with paths under `top`.
  let fresh: Vec<PathBuf> =
    fresh.iter().map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())).collect();
  // git's racy rule, by the second (as a git built without nanosecond stat data counts it): an
  // entry not older than the index may have changed within the tick after it was recorded.
  let index_secs = index_meta.mtime() as u32;
  let prefix = if sub.is_empty() { String::new() } else { format!("{sub}/") };
  let mut verdict = Verdict::Clean;
  for e in &entries {
    let Ok(path) = std::str::from_utf8(&e.path) else { return Verdict::AskGit };
    if !path.starts_with(&prefix) {
      continue;
    }
    if e.stage != 0 || e.intent_to_add {
      return Verdict::AskGit;
    }
    if e.assume_valid || e.skip_worktree {
      continue; // git does not look at these files either
    }
    let kind = e.mode & 0o170000;
    if kind != 0o100000 && kind != 0o120000 {
      return Verdict::AskGit; // a submodule, or a mode this reader does not know
    }
    let abs = format!("{top_str}/{path}");
    let (dir, name) = abs.rsplit_once('/').unwrap_or(("", &abs));
    let walked = (kind == 0o100000 && !fresh.iter().any(|f| Path::new(&abs).starts_with(f)))
      .then(|| observed.get(dir, name))
      .flatten();
    let racy = e.mtime.0 >= index_secs;
    if let Some(st) = walked {
      if matches(e, &st) && !racy {
        continue;
      }
    }
    match check_file(e, &abs, oid, racy) {
      Verdict::Clean => {}
      Verdict::Dirty => verdict = Verdict::Dirty,
      Verdict::AskGit => return Verdict::AskGit,
    }
  }
  verdict
}

/// One entry against its file, by `lstat`, then by contents when the stat differs or is racy.
fn check_file(e: &Entry, abs: &str, oid: Oid, racy: bool) -> Verdict {
  let Ok(meta) = std::fs::symlink_metadata(abs) else { return Verdict::Dirty };
  let symlink = e.mode & 0o170000 == 0o120000;
  if symlink != meta.file_type().is_symlink() || (!symlink && !meta.is_file()) {
    return Verdict::Dirty; // gone or another type
  }
  if !symlink && (meta.mode() & 0o100 != 0) != (e.mode & 0o100 != 0) {
    return Verdict::AskGit; // the executable bit: core.fileMode decides
  }
  if !racy && matches(e, &FileStat::from_metadata(&meta)) {
    return Verdict::Clean;
  }
  let content = if symlink {
    std::fs::read_link(abs).map(|t| t.into_os_string().into_encoded_bytes())
  } else {
    std::fs::read(abs)
  };
  match content {
    Ok(c) if oid.blob(&c) == e.oid => Verdict::Clean,
    // Other bytes: git's filters (autocrlf, LFS, ...) may still make it clean.
    _ => Verdict::AskGit,
  }
}

#[cfg(test)]
mod tests;
