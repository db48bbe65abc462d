//! The build context: a sorted list of the files under the context root that `.dockerignore` keeps,
//! its content hash (xxh3-128) and a streamed tar archive of it, all made in Rust.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::Stream;
use xxhash_rust::xxh3::Xxh3;

use super::error::DockerError;
use super::ignore::IgnoreMatcher;

/// Kind of a context entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
  /// A directory.
  Dir,
  /// A regular file of `size` bytes.
  File {
    /// Size in bytes.
    size: u64,
  },
  /// A symbolic link (archived as a link, not followed).
  Symlink {
    /// Link target as stored.
    target: PathBuf,
  },
}

/// One path of the build context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextEntry {
  /// `/`-separated path relative to the context root (its name in the archive).
  pub rel: String,
  /// Where the bytes come from when not `<root>/<rel>` (a Dockerfile outside the context).
  pub source: Option<PathBuf>,
  /// What it is.
  pub kind: EntryKind,
  /// Permission bits.
  pub mode: u32,
  /// Modification time (seconds since the epoch), kept in the tar but not hashed.
  pub mtime: u64,
}

fn ctx_err(path: &Path) -> impl FnOnce(std::io::Error) -> DockerError + '_ {
  move |source| DockerError::Context { path: path.to_path_buf(), source }
}

#[cfg(unix)]
fn mode_of(meta: &std::fs::Metadata) -> u32 {
  use std::os::unix::fs::PermissionsExt;
  meta.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn mode_of(meta: &std::fs::Metadata) -> u32 {
  if meta.is_dir() {
    0o755
  } else {
    0o644
  }
}

fn entry_for(root: &Path, rel: &str) -> Result<Option<ContextEntry>, DockerError> {
  let path = root.join(rel);
  let meta = std::fs::symlink_metadata(&path).map_err(ctx_err(&path))?;
  let mtime = meta
    .modified()
    .ok()
    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
    .map_or(0, |d| d.as_secs());
  let ft = meta.file_type();
  let kind = if ft.is_symlink() {
    EntryKind::Symlink { target: std::fs::read_link(&path).map_err(ctx_err(&path))? }
  } else if ft.is_dir() {
    EntryKind::Dir
  } else if ft.is_file() {
    EntryKind::File { size: meta.len() }
  } else {
    // Sockets, FIFOs, devices: Docker cannot use them in a context either.
    return Ok(None);
  };
  Ok(Some(ContextEntry { rel: rel.to_string(), source: None, kind, mode: mode_of(&meta), mtime }))
}

/// An entry for a regular file outside the context root, archived as `rel`.
pub fn external_file(path: &Path, rel: &str) -> Result<ContextEntry, DockerError> {
  let meta = std::fs::metadata(path).map_err(ctx_err(path))?;
  let mtime = meta
    .modified()
    .ok()
    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
    .map_or(0, |d| d.as_secs());
  Ok(ContextEntry {
    rel: rel.to_string(),
    source: Some(path.to_path_buf()),
    kind: EntryKind::File { size: meta.len() },
    mode: mode_of(&meta),
    mtime,
  })
}

impl ContextEntry {
  /// The file this entry's bytes are read from.
  pub fn path(&self, root: &Path) -> PathBuf {
    self.source.clone().unwrap_or_else(|| root.join(&self.rel))
  }
}

/// Walks `root` and returns the entries `ignore` keeps, sorted by path; `force` paths (the
/// Dockerfile, like the Docker CLI does) are included even when ignored.
pub fn collect(
  root: &Path,
  ignore: &IgnoreMatcher,
  force: &[&str],
) -> Result<Vec<ContextEntry>, DockerError> {
  let mut out = Vec::new();
  let mut stack: Vec<String> = vec![String::new()];
  while let Some(dir) = stack.pop() {
    let abs = if dir.is_empty() { root.to_path_buf() } else { root.join(&dir) };
    let rd = std::fs::read_dir(&abs).map_err(ctx_err(&abs))?;
    for item in rd {
      let item = item.map_err(ctx_err(&abs))?;
      let name = item.file_name();
      let Some(name) = name.to_str() else {
        return Err(DockerError::Context {
          path: item.path(),
          source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "file name is not valid UTF-8",
          ),
        });
      };
      let rel = if dir.is_empty() { name.to_string() } else { format!("{dir}/{name}") };
      let excluded = ignore.is_excluded(&rel);
      let Some(entry) = entry_for(root, &rel)? else { continue };
      if entry.kind == EntryKind::Dir {
        if excluded && ignore.can_skip_dir(&rel) {
          continue;
        }
        stack.push(rel.clone());
      }
      if !excluded {
        out.push(entry);
      }
    }
  }
  for f in force {
    let rel = f.trim_start_matches("./");
    if !out.iter().any(|e| e.rel == rel) {
      if let Some(e) = entry_for(root, rel)? {
        out.push(e);
      }
    }
  }
  out.sort_by(|a, b| a.rel.cmp(&b.rel));
  Ok(out)
}

/// xxh3-128 (hex) over the sorted entries (path, kind, mode, content or link target), the
/// Dockerfile bytes and `extra` strings (e.g. base image ids, build target). Mtimes are ignored.
pub fn context_hash(
  root: &Path,
  entries: &[ContextEntry],
  dockerfile: &[u8],
  extra: &[String],
) -> Result<String, DockerError> {
  let mut h = Xxh3::new();
  let mut buf = vec![0u8; 64 * 1024];
  for e in entries {
    h.update(e.rel.as_bytes());
    h.update(&[0]);
    h.update(&e.mode.to_le_bytes());
    match &e.kind {
      EntryKind::Dir => h.update(b"d"),
      EntryKind::Symlink { target } => {
        h.update(b"l");
        h.update(target.to_string_lossy().as_bytes());
      }
      EntryKind::File { .. } => {
        h.update(b"f");
        let path = e.path(root);
        let mut f = std::fs::File::open(&path).map_err(ctx_err(&path))?;
        let mut fh = Xxh3::new();
        let mut n_total = 0u64;
        loop {
          let n = f.read(&mut buf).map_err(ctx_err(&path))?;
          if n == 0 {
            break;
          }
          n_total += n as u64;
          fh.update(&buf[..n]);
        }
        h.update(&n_total.to_le_bytes());
        h.update(&fh.digest128().to_le_bytes());
      }
    }
    h.update(&[0xff]);
  }
  h.update(b"\x00dockerfile\x00");
  h.update(dockerfile);
  for x in extra {
    h.update(b"\x00extra\x00");
    h.update(x.as_bytes());
  }
  Ok(format!("{:032x}", h.digest128()))
}

/// Writes the entries as a tar archive (uid/gid 0, real modes and mtimes) to `w`.
pub fn write_tar<W: Write>(root: &Path, entries: &[ContextEntry], w: W) -> Result<W, DockerError> {
  let mut b = tar::Builder::new(w);
  b.follow_symlinks(false);
  let io = |e: std::io::Error| DockerError::Context { path: root.to_path_buf(), source: e };
  for e in entries {
    let mut header = tar::Header::new_gnu();
    header.set_mode(e.mode);
    header.set_mtime(e.mtime);
    header.set_uid(0);
    header.set_gid(0);
    match &e.kind {
      EntryKind::Dir => {
        header.set_entry_type(tar::EntryType::Directory);
        header.set_size(0);
        b.append_data(&mut header, format!("{}/", e.rel), std::io::empty()).map_err(io)?;
      }
      EntryKind::Symlink { target } => {
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        b.append_link(&mut header, &e.rel, target).map_err(io)?;
      }
      EntryKind::File { .. } => {
        let path = e.path(root);
        let f = std::fs::File::open(&path).map_err(ctx_err(&path))?;
        let size = f.metadata().map_err(ctx_err(&path))?.len();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(size);
        // `take` guards against a file growing while it is archived.
        b.append_data(&mut header, &e.rel, f.take(size)).map_err(ctx_err(&path))?;
      }
    }
  }
  b.into_inner().map_err(io)
}

/// A `Write` that forwards 64 KiB chunks into a channel (used from a blocking thread).
struct ChannelWriter {
  buf: Vec<u8>,
  tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
}

impl ChannelWriter {
  fn send(&mut self) -> std::io::Result<()> {
    if self.buf.is_empty() {
      return Ok(());
    }
    let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(64 * 1024)));
    self.tx.blocking_send(Ok(chunk)).map_err(|_| {
      std::io::Error::new(
        std::io::ErrorKind::BrokenPipe,
        "the Docker engine stopped reading the build context",
      )
    })
  }
}

impl Write for ChannelWriter {
  fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
    self.buf.extend_from_slice(data);
    if self.buf.len() >= 64 * 1024 {
      self.send()?;
    }
    Ok(data.len())
  }

  fn flush(&mut self) -> std::io::Result<()> {
    self.send()
  }
}

/// Streams the tar archive of `entries`: a blocking task writes it in 64 KiB chunks while the
/// engine reads them, so the context is never held in memory as a whole.
pub fn tar_stream(
  root: PathBuf,
  entries: Vec<ContextEntry>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
  let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
  tokio::task::spawn_blocking(move || {
    let writer = ChannelWriter { buf: Vec::with_capacity(64 * 1024), tx: tx.clone() };
    let result = write_tar(&root, &entries, writer).and_then(|mut w| {
      w.flush().map_err(|source| DockerError::Context { path: root.clone(), source })
    });
    if let Err(e) = result {
      let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
    }
  });
  futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
}

#[cfg(test)]
mod tests {
  use super::*;

  fn tree() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    std::fs::create_dir_all(r.join("apps/api/__pycache__")).unwrap();
    std::fs::create_dir_all(r.join("apps/web/node_modules/x")).unwrap();
    std::fs::create_dir_all(r.join("out")).unwrap();
    std::fs::write(r.join("apps/api/main.py"), "app = 1\n").unwrap();
    std::fs::write(r.join("apps/api/.env"), "SECRET=1\n").unwrap();
    std::fs::write(r.join("apps/api/__pycache__/main.pyc"), "x").unwrap();
    std::fs::write(r.join("apps/web/node_modules/x/i.js"), "x").unwrap();
    std::fs::write(r.join("apps/web/index.html"), "<html>").unwrap();
    std::fs::write(r.join("out/Dockerfile"), "FROM scratch\n").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("main.py", r.join("apps/api/link.py")).unwrap();
    d
  }

  fn ignore() -> IgnoreMatcher {
    IgnoreMatcher::parse("**/node_modules\n**/__pycache__\n**/.env\nout\n", "t").unwrap()
  }

  #[test]
  fn collect_honours_ignore_and_forces_dockerfile() {
    let d = tree();
    let e = collect(d.path(), &ignore(), &["out/Dockerfile"]).unwrap();
    let rels: Vec<&str> = e.iter().map(|e| e.rel.as_str()).collect();
    assert_eq!(
      rels,
      [
        "apps",
        "apps/api",
        "apps/api/link.py",
        "apps/api/main.py",
        "apps/web",
        "apps/web/index.html",
        "out/Dockerfile"
      ]
    );
    assert!(matches!(e[2].kind, EntryKind::Symlink { .. }));
  }

  #[test]
  fn hash_changes_with_content_and_dockerfile_only() {
    let d = tree();
    let ig = ignore();
    let h = |df: &[u8]| {
      let e = collect(d.path(), &ig, &["out/Dockerfile"]).unwrap();
      context_hash(d.path(), &e, df, &["base:1".into()]).unwrap()
    };
    let h1 = h(b"FROM a");
    assert_eq!(h1.len(), 32);
    assert_eq!(h1, h(b"FROM a"));
    assert_ne!(h1, h(b"FROM b"));
    // Ignored files do not matter, mtimes do not matter.
    std::fs::write(d.path().join("apps/api/.env"), "SECRET=2\n").unwrap();
    std::fs::write(d.path().join("apps/api/main.py"), "app = 1\n").unwrap();
    assert_eq!(h1, h(b"FROM a"));
    std::fs::write(d.path().join("apps/api/main.py"), "app = 2\n").unwrap();
    assert_ne!(h1, h(b"FROM a"));
  }

  #[tokio::test]
  async fn tar_stream_round_trips() {
    use futures_util::StreamExt;
    let d = tree();
    let e = collect(d.path(), &ignore(), &["out/Dockerfile"]).unwrap();
    let mut s = Box::pin(tar_stream(d.path().to_path_buf(), e));
    let mut bytes = Vec::new();
    while let Some(chunk) = s.next().await {
      bytes.extend_from_slice(&chunk.unwrap());
    }
    let mut ar = tar::Archive::new(&bytes[..]);
    let mut names = Vec::new();
    for entry in ar.entries().unwrap() {
      let mut entry = entry.unwrap();
      let name = entry.path().unwrap().to_string_lossy().to_string();
      if name == "apps/api/main.py" {
        let mut s = String::new();
        entry.read_to_string(&mut s).unwrap();
        assert_eq!(s, "app = 1\n");
      }
      if name == "apps/api/link.py" {
        assert_eq!(entry.link_name().unwrap().unwrap().to_string_lossy(), "main.py");
      }
      names.push(name);
    }
    assert!(names.contains(&"out/Dockerfile".to_string()));
    assert!(!names.iter().any(|n| n.contains(".env") || n.contains("node_modules")));
  }
}
