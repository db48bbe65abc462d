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

fn is_executable(p: &Path) -> bool {
  use std::os::unix::fs::PermissionsExt;
  std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
