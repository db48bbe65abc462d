//! Checks of a built production image, against the outputs it was made from: `/app/static` is
//! `<outputDir>/web` file for file and byte for byte; `/app/api` has bytecode and no tests,
//! `conftest.py`, `.env*`, `.venv` or `__pycache__`; no layer's command (`docker history`)
//! contains a secret value.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::engine::Engine;
use super::error::DockerError;

/// What the checks saw (for the artifact's metadata).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageCheckReport {
  /// Files under `/app/static` (all equal to the frontend output).
  pub static_files: usize,
  /// Their bytes.
  pub static_bytes: u64,
  /// Files under `/app/api`.
  pub api_files: usize,
  /// `.pyc` files among them.
  pub pyc_files: usize,
  /// Layers whose commands were scanned for secrets.
  pub layers: usize,
}

/// A secret value that must not appear in the image's history; `label` names it in errors
/// (never the value).
#[derive(Clone)]
pub struct SecretValue {
  /// E.g. `docker.environment.OPENAI_API_KEY`.
  pub label: String,
  /// The value.
  pub value: String,
}

impl std::fmt::Debug for SecretValue {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    f.debug_struct("SecretValue").field("label", &self.label).finish_non_exhaustive()
  }
}

fn sha_hex(bytes: &[u8]) -> String {
  Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Regular files of a `docker cp`-style archive of `/app/<top>`: path below `top/` → (size, sha256).
fn tar_files(bytes: &[u8], top: &str) -> Result<BTreeMap<String, (u64, String)>, String> {
  let mut out = BTreeMap::new();
  let mut ar = tar::Archive::new(bytes);
  for entry in ar.entries().map_err(|e| e.to_string())? {
    let mut entry = entry.map_err(|e| e.to_string())?;
    if !entry.header().entry_type().is_file() {
      continue;
    }
    let path = entry.path().map_err(|e| e.to_string())?.to_string_lossy().replace('\\', "/");
    let rel = path.strip_prefix(&format!("{top}/")).unwrap_or(&path).to_string();
    let mut buf = Vec::new();
    entry.read_to_end(&mut buf).map_err(|e| e.to_string())?;
    out.insert(rel, (buf.len() as u64, sha_hex(&buf)));
  }
  Ok(out)
}

/// Regular files under `dir` on disk: relative path → (size, sha256). Symlinks are followed.
fn disk_files(dir: &Path) -> std::io::Result<BTreeMap<String, (u64, String)>> {
  let mut out = BTreeMap::new();
  let mut stack = vec![dir.to_path_buf()];
  while let Some(d) = stack.pop() {
    for e in std::fs::read_dir(&d)? {
      let p = e?.path();
      if p.is_dir() {
        stack.push(p);
      } else if p.is_file() {
        let bytes = std::fs::read(&p)?;
        let rel = p.strip_prefix(dir).unwrap_or(&p).to_string_lossy().replace('\\', "/");
        out.insert(rel, (bytes.len() as u64, sha_hex(&bytes)));
      }
    }
  }
  Ok(out)
}

/// Why an `/app/api` path must not be in the image, if it must not.
pub fn forbidden_api_path(rel: &str) -> Option<&'static str> {
  let parts: Vec<&str> = rel.split('/').collect();
  let name = parts.last().copied().unwrap_or("");
  let dirs = &parts[..parts.len().saturating_sub(1)];
  if dirs.iter().any(|d| *d == ".venv" || *d == "venv") {
    return Some("a virtualenv");
  }
  if dirs.iter().any(|d| *d == "tests" || *d == "test") {
    return Some("a test directory");
  }
  if dirs.iter().any(|d| *d == "__pycache__" || *d == ".pytest_cache") {
    return Some("a cache directory");
  }
  if name == "conftest.py" || name == "conftest.pyc" {
    return Some("pytest's conftest");
  }
  let stem = name.trim_end_matches(".pyc").trim_end_matches(".py");
  if name.ends_with(".py") || name.ends_with(".pyc") {
    if stem.starts_with("test_") || stem.ends_with("_test") {
      return Some("a test module");
    }
  }
  if name == ".env" || name.starts_with(".env.") {
    return Some("an env file");
  }
  None
}

/// Runs the checks on `image`. `web_dir` is the frontend output (`None` without a frontend).
pub async fn check_app_image(
  engine: &Engine,
  image: &str,
  web_dir: Option<&Path>,
  secrets: &[SecretValue],
) -> Result<ImageCheckReport, DockerError> {
  let mut problems = Vec::new();
  let mut report = ImageCheckReport::default();
  if let Some(web) = web_dir {
    let tar = engine.read_path(image, "/app/static").await?;
    let in_image = tar_files(&tar, "static")
      .map_err(|m| DockerError::Stage(format!("reading /app/static of {image}: {m}")))?;
    let on_disk =
      disk_files(web).map_err(|e| DockerError::Context { path: web.into(), source: e })?;
    for (rel, (size, sha)) in &on_disk {
      match in_image.get(rel) {
        None => problems.push(format!("/app/static/{rel} is missing ({} has it)", web.display())),
        Some((s, h)) if s != size || h != sha => problems.push(format!(
          "/app/static/{rel} differs from {}/{rel} ({s} vs {size} bytes)",
          web.display()
        )),
        Some(_) => {}
      }
    }
    for rel in in_image.keys().filter(|r| !on_disk.contains_key(*r)) {
      problems.push(format!("/app/static/{rel} is not in {}", web.display()));
    }
    report.static_files = in_image.len();
    report.static_bytes = in_image.values().map(|(s, _)| s).sum();
  }
  let tar = engine.read_path(image, "/app/api").await?;
  let api = tar_files(&tar, "api")
    .map_err(|m| DockerError::Stage(format!("reading /app/api of {image}: {m}")))?;
  for rel in api.keys() {
    if let Some(why) = forbidden_api_path(rel) {
      problems.push(format!("/app/api/{rel} is in the image ({why})"));
    }
  }
  report.api_files = api.len();
  report.pyc_files = api.keys().filter(|r| r.ends_with(".pyc")).count();
  if api.keys().any(|r| r.ends_with(".py")) && report.pyc_files == 0 {
    problems.push("/app/api has no .pyc files (the backend output is not compiled)".into());
  }
  let history = engine.history(image).await?;
  report.layers = history.len();
  for s in secrets.iter().filter(|s| s.value.len() >= 4) {
    if history.iter().any(|line| line.contains(&s.value)) {
      problems.push(format!("the value of {} appears in the image's layer history", s.label));
    }
  }
  if problems.is_empty() {
    Ok(report)
  } else {
    Err(DockerError::ImageCheck { image: image.to_string(), problems })
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn forbidden_paths() {
    for bad in [
      "tests/test_users.py",
      "conftest.py",
      "pkg/conftest.pyc",
      "test_x.py",
      "x_test.pyc",
      ".env",
      ".env.production",
      ".venv/bin/python",
      "pkg/__pycache__/m.cpython-311.pyc",
    ] {
      assert!(forbidden_api_path(bad).is_some(), "{bad}");
    }
    for ok in ["main.py", "main.pyc", "routers/users.pyc", "testing_utils.py"] {
      assert_eq!(forbidden_api_path(ok), None, "{ok}");
    }
  }

  #[test]
  fn tar_listing_strips_the_top_dir() {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, "static/assets/a.js", &b"abc"[..]).unwrap();
    let bytes = b.into_inner().unwrap();
    let files = tar_files(&bytes, "static").unwrap();
    assert_eq!(files["assets/a.js"], (3, sha_hex(b"abc")));
    let debug = format!("{:?}", SecretValue { label: "L".into(), value: "hunter2-secret".into() });
    assert!(!debug.contains("hunter2"));
  }
}
