//! The set of generated deployment files and writing them to the output directory.

use std::path::{Path, PathBuf};

use super::context::DeployContext;
use super::dockerfile::BuilderKind;
use super::{compose, dockerfile, k8s, scripts};

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
  /// Path relative to the output directory (`/`-separated), e.g. `deploy/deploy-k8s.sh`.
  pub rel_path: String,
  /// File contents.
  pub contents: String,
  /// Whether the file gets mode 0755.
  pub executable: bool,
  /// Artifact kind, e.g. `dockerfile`, `compose`, `k8s`, `script`, `dockerignore`.
  pub kind: &'static str,
}

/// Writing a generated file failed.
#[derive(Debug, thiserror::Error)]
#[error(
  "cannot write generated file {path}: {source} (check that the output directory is writable)"
)]
pub struct WriteError {
  /// The file that could not be written.
  pub path: PathBuf,
  /// The I/O error.
  #[source]
  pub source: std::io::Error,
}

fn file(rel_path: &str, contents: String, kind: &'static str) -> GeneratedFile {
  GeneratedFile { rel_path: rel_path.to_string(), contents, executable: kind == "script", kind }
}

/// All deployment files for `ctx`: Dockerfile, Dockerfile.dev, Dockerfile.ollama (with Ollama),
/// .dockerignore (the production context's), Dockerfile.dev.dockerignore, the production image's
/// entry point (`image/farm_serve.py`), docker-compose.yml, k8s-manifests.yaml (when
/// `generate_k8s`) and the deploy scripts (deploy-k8s.sh only with `generate_k8s`). The
/// production `Dockerfile` is written for `builder` (see [`production_dockerfile`]).
pub fn generate_all(
  ctx: &DeployContext,
  generate_k8s: bool,
  builder: BuilderKind,
) -> Vec<GeneratedFile> {
  let mut files = vec![
    production_dockerfile(ctx, builder),
    file("Dockerfile.dev", dockerfile::development(ctx), "dockerfile"),
  ];
  if let Some(text) = dockerfile::ollama(ctx) {
    files.push(file("Dockerfile.ollama", text, "dockerfile"));
  }
  files.push(file(".dockerignore", dockerfile::dockerignore(ctx), "dockerignore"));
  files.push(file(
    "Dockerfile.dev.dockerignore",
    dockerfile::dev_dockerignore(ctx),
    "dockerignore",
  ));
  files.push(file(
    &format!("{}/{}", dockerfile::IMAGE_DIR, dockerfile::SERVE_MODULE),
    dockerfile::serve_module(ctx),
    "entrypoint",
  ));
  files.push(file("docker-compose.yml", compose::docker_compose(ctx), "compose"));
  files.push(file("deploy/deploy-compose.sh", scripts::deploy_compose(ctx), "script"));
  if generate_k8s {
    files.push(file("k8s-manifests.yaml", k8s::k8s_manifests(ctx), "k8s"));
    files.push(file("deploy/deploy-k8s.sh", scripts::deploy_k8s(ctx), "script"));
  }
  files
}

/// The production `Dockerfile` for `builder` (the first file of [`generate_all`]).
pub fn production_dockerfile(ctx: &DeployContext, builder: BuilderKind) -> GeneratedFile {
  file("Dockerfile", dockerfile::production(ctx, builder), "dockerfile")
}

/// Writes `files` under `output_dir` (creating directories) and returns the absolute paths.
/// Content is only rewritten when it changed, so file mtimes stay stable across no-op builds.
pub fn write_all(output_dir: &Path, files: &[GeneratedFile]) -> Result<Vec<PathBuf>, WriteError> {
  let mut written = Vec::with_capacity(files.len());
  for f in files {
    let path = output_dir.join(&f.rel_path);
    let err = |source| WriteError { path: path.clone(), source };
    if let Some(parent) = path.parent() {
      std::fs::create_dir_all(parent).map_err(err)?;
    }
    let same = std::fs::read(&path).map(|old| old == f.contents.as_bytes()).unwrap_or(false);
    if !same {
      std::fs::write(&path, &f.contents).map_err(err)?;
    }
    #[cfg(unix)]
    {
      use std::os::unix::fs::PermissionsExt;
      let mode = if f.executable { 0o755 } else { 0o644 };
      std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(err)?;
    }
    written.push(path);
  }
  Ok(written)
}

#[cfg(test)]
mod tests {
  use super::super::context::tests::sample;
  use super::*;

  #[test]
  fn file_set_depends_on_k8s_and_ollama() {
    let names = |fs: Vec<GeneratedFile>| fs.into_iter().map(|f| f.rel_path).collect::<Vec<_>>();
    assert_eq!(
      names(generate_all(&sample(), true, BuilderKind::Classic)),
      [
        "Dockerfile",
        "Dockerfile.dev",
        "Dockerfile.ollama",
        ".dockerignore",
        "Dockerfile.dev.dockerignore",
        "image/farm_serve.py",
        "docker-compose.yml",
        "deploy/deploy-compose.sh",
        "k8s-manifests.yaml",
        "deploy/deploy-k8s.sh"
      ]
    );
    let mut c = sample();
    c.ollama = None;
    assert_eq!(
      names(generate_all(&c, false, BuilderKind::Classic)),
      [
        "Dockerfile",
        "Dockerfile.dev",
        ".dockerignore",
        "Dockerfile.dev.dockerignore",
        "image/farm_serve.py",
        "docker-compose.yml",
        "deploy/deploy-compose.sh"
      ]
    );
  }

  #[cfg(unix)]
  #[test]
  fn writes_files_with_modes() {
    let dir = tempfile::tempdir().unwrap();
    let files = generate_all(&sample(), true, BuilderKind::Classic);
    let paths = write_all(dir.path(), &files).unwrap();
    assert_eq!(paths.len(), files.len());
    let script = dir.path().join("deploy/deploy-k8s.sh");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&script).unwrap().permissions().mode() & 0o777, 0o755);
    assert_eq!(std::fs::read_to_string(dir.path().join("Dockerfile")).unwrap(), files[0].contents);
  }
}
