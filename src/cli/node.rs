//! The Node.js the JavaScript CLI would run on: its path (for the hand-over and for tools such as
//! tsc) and its version (`process.version`, part of every cache key and of the config cache's key).

use std::path::{Path, PathBuf};

/// A Node.js executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
  /// Absolute, symlinks resolved (as `process.execPath`).
  pub path: PathBuf,
}

/// The environment variable through which `bin/farm.mjs` names the Node.js it runs on.
pub const NODE_ENV_VAR: &str = "FARM_NODE";

impl Node {
  /// `$FARM_NODE` when set (the Node that handed the command over), else `node` on `PATH`.
  pub fn locate() -> Option<Node> {
    let explicit = std::env::var_os(NODE_ENV_VAR).filter(|v| !v.is_empty()).map(PathBuf::from);
    let found = explicit.or_else(|| {
      let path = std::env::var_os("PATH")?;
      std::env::split_paths(&path).map(|d| d.join("node")).find(|p| is_executable(p))
    })?;
    let path = found.canonicalize().ok()?;
    Some(Node { path })
  }

  /// `process.version` (`v20.19.0`), from `node --version`, which answers before starting V8.
  pub fn version(&self) -> Option<String> {
    let out = std::process::Command::new(&self.path)
      .arg("--version")
      .stdin(std::process::Stdio::null())
      .stderr(std::process::Stdio::null())
      .output()
      .ok()?;
    let v = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && v.starts_with('v') && !v.contains(char::is_whitespace)).then_some(v)
  }
}

/// What identifies a Node.js binary on disk: a replaced or modified file changes its inode, size,
/// mtime or ctime (which nothing can set back).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Identity {
  path: PathBuf,
  dev: u64,
  ino: u64,
  size: u64,
  mtime_ns: i128,
  ctime_ns: i128,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Record {
  node: Identity,
  version: String,
}

impl Node {
  fn identity(&self) -> Option<Identity> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(&self.path).ok()?;
    let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
    Some(Identity {
      path: self.path.clone(),
      dev: m.dev(),
      ino: m.ino(),
      size: m.len(),
      mtime_ns: ns(m.mtime(), m.mtime_nsec()),
      ctime_ns: ns(m.ctime(), m.ctime_nsec()),
    })
  }

  /// [`Node::version`], remembered in `record` (a file in the project's `.farm/cache`) for this
  /// very binary: `node --version` costs a process start, the record a read and a stat. The record
  /// is written only where `.farm/cache` already exists.
  pub fn version_cached(&self, record: &Path) -> Option<String> {
    let id = self.identity();
    if let (Some(id), Ok(bytes)) = (&id, std::fs::read(record)) {
      if let Ok(r) = serde_json::from_slice::<Record>(&bytes) {
        if &r.node == id {
          return Some(r.version);
        }
      }
    }
    let version = self.version()?;
    let dir = record.parent()?;
    if let (Some(node), true) = (id, dir.parent().is_some_and(Path::is_dir)) {
      let r = Record { node, version: version.clone() };
      if let Ok(bytes) = serde_json::to_vec(&r) {
        let tmp = dir.join(format!(".node-version.{}.tmp", std::process::id()));
        let _ = std::fs::create_dir_all(dir)
          .and_then(|_| std::fs::write(&tmp, bytes))
          .and_then(|_| std::fs::rename(&tmp, record));
        let _ = std::fs::remove_file(&tmp);
      }
    }
    Some(version)
  }
}

fn is_executable(p: &Path) -> bool {
  use std::os::unix::fs::PermissionsExt;
  std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn the_version_is_remembered_for_this_binary_only() {
    let t = tempfile::tempdir().unwrap();
    let fake = t.path().join("node");
    std::fs::write(&fake, "#!/bin/sh\necho v1.2.3\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let node = Node { path: fake.canonicalize().unwrap() };
    let record = t.path().join("proj/.farm/cache/config/node-version.json");
    // No .farm/cache: the version is asked, nothing is written.
    assert_eq!(node.version_cached(&record).as_deref(), Some("v1.2.3"));
    assert!(!record.exists());
    std::fs::create_dir_all(t.path().join("proj/.farm/cache")).unwrap();
    assert_eq!(node.version_cached(&record).as_deref(), Some("v1.2.3"));
    assert!(record.exists());
    // The record answers while the binary is the same file...
    let r: Record = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    let doctored = Record { node: r.node.clone(), version: "v9.9.9".into() };
    std::fs::write(&record, serde_json::to_vec(&doctored).unwrap()).unwrap();
    assert_eq!(node.version_cached(&record).as_deref(), Some("v9.9.9"));
    // ...and not once it is replaced (as an upgrade does: a new file renamed over the old one).
    let new = t.path().join("node.new");
    std::fs::write(&new, "#!/bin/sh\necho v1.2.4\n").unwrap();
    std::fs::set_permissions(&new, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&new, &fake).unwrap();
    assert_eq!(node.version_cached(&record).as_deref(), Some("v1.2.4"));
  }
}
