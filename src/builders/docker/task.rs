//! The docker task: writes the deployment files, then (with `docker.build`) builds the app and
//! Ollama images through the engine, skipping unchanged ones, and pushes them to the registry.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::deploy::context::DeployContext;
use crate::deploy::files::{generate_all, write_all};

use super::config::DockerConfig;
use super::engine::{BuildRequest, BuiltImage, Engine, LogFn, RegistryAuth};
use super::error::DockerError;
use super::ignore::IgnoreMatcher;

/// A generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileArtifact {
  /// Absolute path.
  pub path: PathBuf,
  /// Path relative to the output directory.
  pub rel_path: String,
  /// Kind (`dockerfile`, `dockerignore`, `compose`, `k8s`, `script`).
  pub kind: &'static str,
  /// Size in bytes.
  pub size: u64,
}

/// A pushed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedImage {
  /// `registry/ns/repo:tag`.
  pub reference: String,
  /// Digest reported by the engine.
  pub digest: Option<String>,
}

/// A built (or reused) image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageArtifact {
  /// `app` or `ollama`.
  pub name: &'static str,
  /// Build result (id, size from inspect, hash, skipped).
  pub image: BuiltImage,
  /// Dockerfile used, relative to the project root.
  pub dockerfile_rel: String,
  /// Registry pushes.
  pub pushed: Vec<PushedImage>,
}

/// Everything the task produced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DockerTaskOutput {
  /// Written files.
  pub files: Vec<FileArtifact>,
  /// Images (empty with `build: false`).
  pub images: Vec<ImageArtifact>,
  /// Negotiated Engine API version when the engine was used.
  pub api_version: Option<String>,
}

impl DockerTaskOutput {
  /// Sum of image sizes.
  pub fn total_image_size(&self) -> u64 {
    self.images.iter().map(|i| i.image.size).sum()
  }
}

/// Loads the build context filter: the project's own `.dockerignore` (if any) followed by the
/// generated one (whose patterns win).
pub fn load_ignore(project_root: &Path, generated: &Path) -> Result<IgnoreMatcher, DockerError> {
  let mut m = IgnoreMatcher::default();
  for path in [project_root.join(".dockerignore"), generated.to_path_buf()] {
    match std::fs::read_to_string(&path) {
      Ok(text) => m.extend(IgnoreMatcher::parse(&text, &path.display().to_string())?),
      Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
      Err(source) => return Err(DockerError::Context { path, source }),
    }
  }
  Ok(m)
}

/// Context filter of the app image: [`load_ignore`] of the output's `.dockerignore`, plus the
/// Ollama model export (re-included there for `Dockerfile.ollama` only) excluded again.
pub fn app_ignore(project_root: &Path, ctx: &DeployContext) -> Result<IgnoreMatcher, DockerError> {
  let mut ignore =
    load_ignore(project_root, &project_root.join(&ctx.output_rel).join(".dockerignore"))?;
  if let Some(export) = ctx.ollama.as_ref().and_then(|o| o.exported_models_rel.as_deref()) {
    ignore
      .extend(IgnoreMatcher::from_patterns([export.trim_end_matches('/')], "(app image context)")?);
  }
  Ok(ignore)
}

/// Context filter of the Ollama image: everything except the exported model store, so that its
/// context hash (and the upload) only covers the models.
pub fn ollama_ignore(export_rel: Option<&str>) -> Result<IgnoreMatcher, DockerError> {
  let keep = export_rel.map(|e| format!("!{}", e.trim_end_matches('/')));
  IgnoreMatcher::from_patterns(
    std::iter::once("*").chain(keep.as_deref()),
    "(ollama image context)",
  )
}

/// Runs the docker task for `ctx` (see the module docs). `project_root` is the build context.
pub async fn run_docker_task(
  config: &DockerConfig,
  ctx: &DeployContext,
  project_root: &Path,
  log: LogFn<'_>,
) -> Result<DockerTaskOutput, DockerError> {
  let out_dir = project_root.join(&ctx.output_rel);
  let files = generate_all(ctx, config.generate_k8s);
  let paths = write_all(&out_dir, &files)?;
  let mut output = DockerTaskOutput::default();
  for (f, path) in files.iter().zip(paths) {
    log(format!("generated {}", path.display()));
    output.files.push(FileArtifact {
      path,
      rel_path: f.rel_path.clone(),
      kind: f.kind,
      size: f.contents.len() as u64,
    });
  }
  if !config.build {
    log("docker.build is false: image build skipped, files only".into());
    return Ok(output);
  }

  // Fail on missing credentials before spending minutes on builds.
  let auth = match &ctx.registry {
    Some(r) => Some(RegistryAuth::from_env(&r.url, &r.username_env, &r.password_env)?),
    None => None,
  };
  let engine = Engine::connect(config.host.as_deref()).await?;
  log(format!("Docker engine at {} (API {})", engine.endpoint(), engine.api_version()));
  output.api_version = Some(engine.api_version());
  let ignore = app_ignore(project_root, ctx)?;

  let mut tags = vec![ctx.version.clone()];
  if config.tag_latest && ctx.version != "latest" {
    tags.push("latest".into());
  }
  let mut builds: Vec<(&'static str, String, String, Option<String>, IgnoreMatcher)> = vec![(
    "app",
    ctx.app_name.clone(),
    ctx.out_path("Dockerfile"),
    Some(crate::deploy::dockerfile::PRODUCTION_TARGET.into()),
    ignore,
  )];
  if let Some(ollama) = ctx.ollama.as_ref().filter(|_| config.build_ollama_image) {
    builds.push((
      "ollama",
      format!("{}-ollama", ctx.app_name),
      ctx.out_path("Dockerfile.ollama"),
      None,
      ollama_ignore(ollama.exported_models_rel.as_deref())?,
    ));
  }
  for (name, repository, dockerfile_rel, target, ignore) in builds {
    let labels = BTreeMap::from([
      ("org.opencontainers.image.title".to_string(), repository.clone()),
      ("org.opencontainers.image.version".to_string(), ctx.version.clone()),
    ]);
    let req = BuildRequest {
      context_root: project_root.to_path_buf(),
      dockerfile_rel: dockerfile_rel.clone(),
      ignore,
      repository: repository.clone(),
      tags: tags.clone(),
      target,
      labels,
      no_cache: config.no_cache,
    };
    let image = engine.build(&req, log).await?;
    log(format!(
      "{}:{} {} ({} bytes, {})",
      repository,
      ctx.version,
      if image.skipped { "up to date" } else { "built" },
      image.size,
      image.id
    ));
    let mut pushed = Vec::new();
    if let Some(auth) = &auth {
      let suffix = repository.strip_prefix(&ctx.app_name).unwrap_or("");
      let remote = ctx.repository(suffix);
      for t in &tags {
        engine.tag(&format!("{repository}:{}", tags[0]), &remote, t).await?;
        let digest = engine.push(&remote, t, Some(auth), log).await?;
        log(format!("pushed {remote}:{t}"));
        pushed.push(PushedImage { reference: format!("{remote}:{t}"), digest });
      }
    }
    output.images.push(ImageArtifact { name, image, dockerfile_rel, pushed });
  }
  Ok(output)
}

#[cfg(test)]
mod tests {
  use super::*;

  #[tokio::test]
  async fn build_false_only_writes_files() {
    let d = tempfile::tempdir().unwrap();
    let mut ctx = crate::deploy::context::tests::sample();
    ctx.registry = None;
    let cfg = DockerConfig {
      build: false,
      generate_k8s: true,
      host: Some("unix:///nonexistent.sock".into()),
      ..Default::default()
    };
    let lines = std::sync::Mutex::new(Vec::new());
    let out =
      run_docker_task(&cfg, &ctx, d.path(), &|l| lines.lock().unwrap().push(l)).await.unwrap();
    assert_eq!(out.files.len(), 8);
    assert!(out.images.is_empty());
    assert!(d.path().join("dist/docker/k8s-manifests.yaml").is_file());
    assert!(lines.lock().unwrap().iter().any(|l| l.contains("files only")));
  }

  #[tokio::test]
  async fn no_engine_fails_with_docker_unavailable() {
    let d = tempfile::tempdir().unwrap();
    let mut ctx = crate::deploy::context::tests::sample();
    ctx.registry = None;
    let cfg =
      DockerConfig { host: Some("unix:///nonexistent/docker.sock".into()), ..Default::default() };
    let err = run_docker_task(&cfg, &ctx, d.path(), &|_| {}).await.unwrap_err();
    assert_eq!(err.code(), "DOCKER_UNAVAILABLE");
    assert!(err.to_string().contains("docker.build: false"));
    // The files are still written before the failure.
    assert!(d.path().join("dist/docker/Dockerfile").is_file());
  }

  #[test]
  fn ollama_context_is_only_the_export() {
    let m = ollama_ignore(Some("dist/ai-models/exported/")).unwrap();
    assert!(m.is_excluded("apps/api/main.py"));
    assert!(m.is_excluded("dist/docker/Dockerfile.ollama"));
    assert!(!m.is_excluded("dist/ai-models/exported/blobs/sha256-00"));
    assert!(!m.can_skip_dir("dist"));
    assert!(m.can_skip_dir("apps"));
    assert!(ollama_ignore(None).unwrap().is_excluded("anything"));
  }

  #[test]
  fn app_context_excludes_the_model_export() {
    let d = tempfile::tempdir().unwrap();
    let ctx = crate::deploy::context::tests::sample();
    write_all(&d.path().join(&ctx.output_rel), &generate_all(&ctx, false)).unwrap();
    let m = app_ignore(d.path(), &ctx).unwrap();
    assert!(m.is_excluded("dist/ai-models/exported/blobs/sha256-00"));
    assert!(m.is_excluded("apps/api/.env"));
    assert!(!m.is_excluded("apps/api/main.py"));
  }

  #[test]
  fn ignore_merges_project_and_generated() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join(".dockerignore"), "secret-dir\n").unwrap();
    std::fs::write(d.path().join("gen.ignore"), "**/.env\n").unwrap();
    let m = load_ignore(d.path(), &d.path().join("gen.ignore")).unwrap();
    assert!(m.is_excluded("secret-dir/x"));
    assert!(m.is_excluded("a/.env"));
    assert_eq!(load_ignore(d.path(), &d.path().join("missing")).unwrap().len(), 1);
  }
}
