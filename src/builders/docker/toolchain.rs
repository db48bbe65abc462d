//! Detection of the toolchain the project actually uses, to pick default base images: the Node LTS
//! major (`.nvmrc`/`.node-version`, else `node --version`) and the Python `major.minor` of the
//! project's interpreter (`.python-version`, else the interpreter itself).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Fallback Node LTS major when nothing is detected.
pub const FALLBACK_NODE_MAJOR: u32 = 22;
/// Fallback Python version when nothing is detected.
pub const FALLBACK_PYTHON: (u32, u32) = (3, 12);
/// Fallback Ollama image tag when the server version is unknown (`latest` fails hadolint DL3007).
pub const FALLBACK_OLLAMA: &str = "0.12.0";

/// Detected toolchain versions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Toolchain {
  /// Node major version in use.
  pub node_major: Option<u32>,
  /// Python `(major, minor)` of the project's interpreter.
  pub python: Option<(u32, u32)>,
  /// Version reported by the Ollama server (`/api/version`), if the AI task knows it.
  pub ollama_version: Option<String>,
}

const LTS_CODENAMES: &[(&str, u32)] = &[
  ("argon", 4),
  ("boron", 6),
  ("carbon", 8),
  ("dubnium", 10),
  ("erbium", 12),
  ("fermium", 14),
  ("gallium", 16),
  ("hydrogen", 18),
  ("iron", 20),
  ("jod", 22),
  ("krypton", 24),
];

/// Parses a Node version spec (`v20.11.1`, `20`, `lts/iron`, `node 20.1.0`) into its major.
pub fn parse_node_major(spec: &str) -> Option<u32> {
  let s = spec.trim().trim_start_matches("nodejs").trim_start_matches("node").trim();
  if let Some(name) = s.strip_prefix("lts/") {
    return LTS_CODENAMES.iter().find(|(n, _)| name.eq_ignore_ascii_case(n)).map(|(_, m)| *m);
  }
  s.trim_start_matches('v').split('.').next()?.trim().parse().ok()
}

/// Parses `3.11.7`, `Python 3.11.7`, `3.11` into `(3, 11)`.
pub fn parse_python(spec: &str) -> Option<(u32, u32)> {
  let s = spec.trim().trim_start_matches("Python").trim();
  let mut it = s.split(['.', '-', ' ', '\n']);
  let major = it.next()?.parse().ok()?;
  let minor = it.next()?.parse().ok()?;
  Some((major, minor))
}

/// The LTS line for a Node major: odd (current, non-LTS) releases map to the previous even one.
pub fn lts_major(major: u32) -> u32 {
  if major % 2 == 1 {
    major - 1
  } else {
    major
  }
}

fn first_line_of(paths: &[PathBuf]) -> Option<String> {
  paths.iter().find_map(|p| {
    std::fs::read_to_string(p).ok().and_then(|s| {
      s.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).map(String::from)
    })
  })
}

fn run(cmd: &Path, args: &[&str]) -> Option<String> {
  let out = Command::new(cmd).args(args).output().ok()?;
  out.status.success().then(|| {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
  })
}

impl Toolchain {
  /// Detects versions for the project at `root` (with its API in `api_dir`), using the project's
  /// Python interpreter `python` (e.g. the backend venv) or `python3` on `PATH`.
  pub fn detect(root: &Path, api_dir: &Path, python: Option<&Path>) -> Toolchain {
    let node_major = first_line_of(&[root.join(".nvmrc"), root.join(".node-version")])
      .and_then(|s| parse_node_major(&s))
      .or_else(|| run(Path::new("node"), &["--version"]).and_then(|s| parse_node_major(&s)));
    let python = first_line_of(&[api_dir.join(".python-version"), root.join(".python-version")])
      .and_then(|s| parse_python(&s))
      .or_else(|| {
        let py = python.unwrap_or(Path::new("python3"));
        run(py, &["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
          .and_then(|s| parse_python(&s))
      });
    Toolchain { node_major, python, ollama_version: None }
  }

  /// Default Node image: `node:<LTS major>-slim`.
  pub fn node_image(&self) -> String {
    format!("node:{}-slim", lts_major(self.node_major.unwrap_or(FALLBACK_NODE_MAJOR)))
  }

  /// Default Python image: `python:<major>.<minor>-slim`.
  pub fn python_image(&self) -> String {
    let (a, b) = self.python.unwrap_or(FALLBACK_PYTHON);
    format!("python:{a}.{b}-slim")
  }

  /// Default Ollama image: `ollama/ollama:<server version>`.
  pub fn ollama_image(&self) -> String {
    format!("ollama/ollama:{}", self.ollama_version.as_deref().unwrap_or(FALLBACK_OLLAMA))
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn parses_versions() {
    assert_eq!(parse_node_major("v20.11.1\n"), Some(20));
    assert_eq!(parse_node_major("lts/iron"), Some(20));
    assert_eq!(parse_node_major("22"), Some(22));
    assert_eq!(parse_node_major("garbage"), None);
    assert_eq!(parse_python("Python 3.11.7\n"), Some((3, 11)));
    assert_eq!(parse_python("3.12"), Some((3, 12)));
    assert_eq!(parse_python("3"), None);
    assert_eq!(lts_major(23), 22);
    assert_eq!(lts_major(20), 20);
  }

  #[test]
  fn version_files_win_and_images_follow() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join(".nvmrc"), "v21.7.0\n").unwrap();
    std::fs::write(d.path().join(".python-version"), "3.10.4\n").unwrap();
    let t =
      Toolchain::detect(d.path(), &d.path().join("api"), Some(Path::new("/nonexistent/python")));
    assert_eq!(t.node_major, Some(21));
    assert_eq!(t.node_image(), "node:20-slim");
    assert_eq!(t.python_image(), "python:3.10-slim");
    assert_eq!(t.ollama_image(), "ollama/ollama:0.12.0");
  }

  #[test]
  fn detects_real_interpreters() {
    // The machine's node/python3 (Node 20, Python 3.11 in CI); asserts agreement with the tools.
    let d = tempfile::tempdir().unwrap();
    let t = Toolchain::detect(d.path(), d.path(), None);
    if let Some(out) = run(Path::new("python3"), &["--version"]) {
      assert_eq!(t.python, parse_python(&out));
    }
    if let Some(out) = run(Path::new("node"), &["--version"]) {
      assert_eq!(t.node_major, parse_node_major(&out));
    }
  }
}
