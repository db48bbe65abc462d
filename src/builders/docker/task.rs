//! The docker task: writes the deployment files, then (with `docker.build`) stages the production
//! context (requirements + wheelhouse), builds the app image from the outputs and the Ollama image
//! from the exported models through the engine (skipping unchanged ones), checks the app image
//! against the outputs, runs it (`docker.smoke`) and pushes the images to the registry.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::builders::ai::export_index::{ExportIndex, INDEX_FILE, MODELS_DIR};
use crate::deploy::context::{DeployContext, ImageKind};
use crate::deploy::dockerfile::{IMAGE_DIR, PIP_CACHE_MOUNT, PRODUCTION_TARGET};
use crate::deploy::env::EnvValue;
use crate::deploy::files::{generate_all, production_dockerfile, write_all};

use super::checks::{check_app_image, ImageCheckReport, SecretValue};
use super::config::{BuilderChoice, DockerConfig};
use super::container::SmokeReport;
use super::engine::{
  BuildKitProbe, BuildRequest, BuilderKind, BuiltImage, Engine, LogFn, RegistryAuth,
};
use super::error::DockerError;
use super::ignore::IgnoreMatcher;
use super::stage::{stage_python_deps, StagedDeps};

/// How long the smoke run waits for the HEALTHCHECK to pass.
pub const SMOKE_TIMEOUT: Duration = Duration::from_secs(90);

/// A generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileArtifact {
  /// Absolute path.
  pub path: PathBuf,
  /// Path relative to the output directory.
  pub rel_path: String,
  /// Kind (`dockerfile`, `dockerignore`, `entrypoint`, `compose`, `k8s`, `script`).
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
  /// The app image's checks against the outputs (`None` for the Ollama image).
  pub checks: Option<ImageCheckReport>,
  /// The smoke run (`docker.smoke`), app image only.
  pub smoke: Option<SmokeReport>,
  /// Models created in the Ollama image from the export (Ollama image only).
  pub baked_models: Vec<String>,
  /// The builder that built it (the Ollama image: always classic; its build may pull models,
  /// which BuildKit builds without network cannot).
  pub builder: BuilderKind,
}

/// The builder of the production image and why it was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuilderDecision {
  /// The builder used (the production `Dockerfile` is written for it).
  pub kind: BuilderKind,
  /// Why, e.g. `docker.builder is "auto" and the engine offers BuildKit (…)`.
  pub reason: String,
  /// The engine's default builder (`/_ping`'s `Builder-Version`); farm picks its own.
  pub engine_default: BuilderKind,
}

/// Picks the production image's builder from `docker.builder` and the engine's probe; `Err` when
/// BuildKit is required and the engine has none.
pub fn choose_builder(
  choice: BuilderChoice,
  probe: &BuildKitProbe,
  engine_default: BuilderKind,
  endpoint: &str,
) -> Result<BuilderDecision, DockerError> {
  let (kind, reason) = match (choice, probe) {
    (BuilderChoice::Classic, _) => {
      (BuilderKind::Classic, "docker.builder is \"classic\"".to_string())
    }
    (BuilderChoice::BuildKit, BuildKitProbe::Available { engine }) => {
      (BuilderKind::BuildKit, format!("docker.builder is \"buildkit\" ({engine})"))
    }
    (BuilderChoice::BuildKit, BuildKitProbe::Unavailable { reason }) => {
      return Err(DockerError::BuildKitUnavailable {
        endpoint: endpoint.to_string(),
        message: format!("docker.builder is \"buildkit\" but {reason}"),
      })
    }
    (BuilderChoice::Auto, BuildKitProbe::Available { engine }) => (
      BuilderKind::BuildKit,
      format!("docker.builder is \"auto\" and the engine offers BuildKit ({engine})"),
    ),
    (BuilderChoice::Auto, BuildKitProbe::Unavailable { reason }) => (
      BuilderKind::Classic,
      format!("docker.builder is \"auto\" and BuildKit is unavailable: {reason}"),
    ),
  };
  Ok(BuilderDecision { kind, reason, engine_default })
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
  /// The production image's builder and why, when the engine was used.
  pub builder: Option<BuilderDecision>,
  /// The staged Python dependencies, when the backend has requirements.
  pub deps: Option<StagedDeps>,
}

impl DockerTaskOutput {
  /// Sum of image sizes.
  pub fn total_image_size(&self) -> u64 {
    self.images.iter().map(|i| i.image.size).sum()
  }
}

/// What the docker task works on.
#[derive(Debug, Clone)]
pub struct DockerJob<'a> {
  /// The `docker` config section.
  pub config: &'a DockerConfig,
  /// The resolved deployment description.
  pub ctx: &'a DeployContext,
  /// The project root (absolute); `ctx.output_rel` is relative to it.
  pub project_root: &'a Path,
  /// The requirements list the backend task installed (absolute), if any: the
  /// [`ResolvedRequirements::file`](crate::builders::backend::project::ResolvedRequirements::file)
  /// of the same [`resolve_requirements`](crate::builders::backend::project::resolve_requirements).
  pub requirements: Option<PathBuf>,
  /// The backend root (absolute): relative paths in the requirements list resolve there.
  pub backend_dir: PathBuf,
  /// The project's Python interpreter (makes the wheelhouse).
  pub python: String,
  /// Where wheelhouses are cached (e.g. `<cacheDir>/wheelhouses`).
  pub wheel_cache: PathBuf,
}

impl DockerJob<'_> {
  /// `<project>/<outputDir>`.
  pub fn output_dir(&self) -> PathBuf {
    self.project_root.join(&self.ctx.output_rel)
  }
}

/// The production context's filter: the generated `<outputDir>/.dockerignore`.
pub fn app_ignore(output_dir: &Path) -> Result<IgnoreMatcher, DockerError> {
  let path = output_dir.join(".dockerignore");
  let text = std::fs::read_to_string(&path)
    .map_err(|source| DockerError::Context { path: path.clone(), source })?;
  IgnoreMatcher::parse(&text, &path.display().to_string())
}

/// The Ollama context's filter (the models directory): the index and the listed model
/// directories only, so stale exports neither travel nor change the context hash.
pub fn ollama_ignore(dirs: &[String]) -> Result<IgnoreMatcher, DockerError> {
  let keep: Vec<String> =
    std::iter::once(format!("!{INDEX_FILE}")).chain(dirs.iter().map(|d| format!("!{d}"))).collect();
  IgnoreMatcher::from_patterns(
    std::iter::once("*").chain(keep.iter().map(String::as_str)),
    "(ollama image context)",
  )
}

/// Secret values that must not appear in an image's history: the secret-classified entries of
/// `docker.environment` (a `${VAR}` reference is looked up in the environment) and the registry
/// password.
pub fn secret_values(
  config: &DockerConfig,
  ctx: &DeployContext,
  auth: Option<&RegistryAuth>,
) -> Vec<SecretValue> {
  let mut out = Vec::new();
  for var in &ctx.env {
    if let EnvValue::Secret { var: source } = &var.value {
      let raw = config.environment.get(&var.name).cloned().unwrap_or_default();
      let value = match raw.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
        Some(_) => std::env::var(source).unwrap_or_default(),
        None => raw,
      };
      if !value.is_empty() {
        out.push(SecretValue { label: format!("docker.environment.{}", var.name), value });
      }
    }
  }
  if let Some(a) = auth {
    out.push(SecretValue { label: format!("${}", a.password_env), value: a.password.clone() });
  }
  out
}

fn tags_for(config: &DockerConfig, ctx: &DeployContext) -> Vec<String> {
  let mut tags = vec![ctx.version.clone()];
  if config.tag_latest && ctx.version != "latest" {
    tags.push("latest".into());
  }
  tags
}

/// Runs the docker task (see the module docs). Cancelling `cancel` stops pip; dropping the future
/// removes any container it started.
pub async fn run_docker_task(
  job: &DockerJob<'_>,
  log: LogFn<'_>,
  cancel: &CancellationToken,
) -> Result<DockerTaskOutput, DockerError> {
  let (config, ctx) = (job.config, job.ctx);
  let out_dir = job.output_dir();
  // Before the engine is asked, the production Dockerfile is written for the builder the config
  // names (`auto`: classic, which builds everywhere); once the engine is probed it is rewritten
  // for the builder that builds it, so `<outputDir>/Dockerfile` is always what was built.
  let provisional = match config.builder {
    BuilderChoice::BuildKit => BuilderKind::BuildKit,
    BuilderChoice::Auto | BuilderChoice::Classic => BuilderKind::Classic,
  };
  let files = generate_all(ctx, config.generate_k8s, provisional);
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
    log(format!(
      "docker.build is false: image build skipped, files only (Dockerfile written for the {} builder, docker.builder is \"{}\")",
      provisional.as_str(),
      config.builder.as_str()
    ));
    return Ok(output);
  }

  // What the images are made of must exist before anything is built.
  let api_dir = out_dir.join(&ctx.api.out_rel);
  let web_dir = ctx.frontend.as_ref().map(|fe| out_dir.join(&fe.out_rel));
  for (dir, task) in [(Some(&api_dir), "backend"), (web_dir.as_ref(), "frontend")] {
    if let Some(d) = dir.filter(|d| !d.is_dir()) {
      return Err(DockerError::Stage(format!(
        "{} does not exist: the production image is made from the `{task}` task's output (build it first, e.g. `farm build --target docker`)",
        d.display()
      )));
    }
  }
  // Fail on missing credentials before spending minutes on builds.
  let auth = match &ctx.registry {
    Some(r) => Some(RegistryAuth::from_env(&r.url, &r.username_env, &r.password_env)?),
    None => None,
  };
  let engine = Engine::connect(config.host.as_deref()).await?;
  log(format!("Docker engine at {} (API {})", engine.endpoint(), engine.api_version()));
  output.api_version = Some(engine.api_version());
  let engine_default = engine.builder_kind().await?;
  let probe = engine.buildkit_probe().await?;
  let mut decision = choose_builder(config.builder, &probe, engine_default, engine.endpoint())?;
  log_builder(&decision, log);
  if decision.kind != provisional {
    rewrite_dockerfile(ctx, &out_dir, decision.kind, &mut output)?;
  }

  if let Some(req) = &job.requirements {
    let image_dir = out_dir.join(IMAGE_DIR);
    output.deps = Some(
      stage_python_deps(
        req,
        &job.backend_dir,
        &job.python,
        &image_dir,
        &job.wheel_cache,
        log,
        cancel,
      )
      .await?,
    );
  }

  let tags = tags_for(config, ctx);
  let secrets = secret_values(config, ctx, auth.as_ref());
  let labels = |repository: &str| {
    BTreeMap::from([
      ("org.opencontainers.image.title".to_string(), repository.to_string()),
      ("org.opencontainers.image.version".to_string(), ctx.version.clone()),
    ])
  };

  // The app image, from the outputs.
  let app_spec = ctx.build_spec(ImageKind::App);
  let app_req = BuildRequest {
    context_root: out_dir.join(&app_spec.context_rel),
    dockerfile: out_dir.join(&app_spec.context_rel).join(&app_spec.dockerfile_rel),
    ignore: app_ignore(&out_dir)?,
    repository: ctx.app_name.clone(),
    tags: tags.clone(),
    target: Some(PRODUCTION_TARGET.into()),
    labels: labels(&ctx.app_name),
    no_cache: config.no_cache,
    builder: decision.kind,
  };
  let image = match engine.build(&app_req, log).await {
    // `auto`: an engine that refuses the BuildKit session before the first step gets the
    // classic Dockerfile and build instead.
    Err(DockerError::BuildKitUnavailable { message, .. })
      if config.builder == BuilderChoice::Auto =>
    {
      decision = BuilderDecision {
        kind: BuilderKind::Classic,
        reason: format!(
          "docker.builder is \"auto\" and the engine refused the BuildKit build: {message}"
        ),
        engine_default,
      };
      log_builder(&decision, log);
      rewrite_dockerfile(ctx, &out_dir, BuilderKind::Classic, &mut output)?;
      engine.build(&BuildRequest { builder: BuilderKind::Classic, ..app_req }, log).await?
    }
    r => r?,
  };
  output.builder = Some(decision.clone());
  let primary = format!("{}:{}", image.repository, ctx.version);
  log(format!(
    "{primary} {} ({} bytes, {})",
    if image.skipped { "up to date" } else { "built" },
    image.size,
    image.id
  ));
  let checks = check_app_image(&engine, &primary, web_dir.as_deref(), &secrets).await?;
  log(format!(
    "image checks passed: /app/static = {} ({} files, {} bytes), {} .pyc in /app/api, no tests/.env/.venv, no secret in {} layers",
    web_dir.as_deref().map_or("-".into(), |w| w.display().to_string()),
    checks.static_files,
    checks.static_bytes,
    checks.pyc_files,
    checks.layers
  ));
  let smoke = if config.smoke {
    let env: Vec<String> = ctx
      .env
      .iter()
      .filter_map(|e| match &e.value {
        EnvValue::Plain(v) => Some(format!("{}={v}", e.name)),
        EnvValue::Secret { .. } => None,
      })
      .collect();
    Some(engine.smoke(&primary, env, SMOKE_TIMEOUT, log).await?)
  } else {
    None
  };
  let pushed = push_all(&engine, ctx, &image.repository, "", &tags, auth.as_ref(), log).await?;
  output.images.push(ImageArtifact {
    name: "app",
    image,
    dockerfile_rel: ctx.out_path("Dockerfile"),
    pushed,
    checks: Some(checks),
    smoke,
    baked_models: vec![],
    builder: decision.kind,
  });

  // The Ollama image, from the exported models.
  if let Some(ollama) = ctx.ollama.as_ref().filter(|_| config.build_ollama_image) {
    let spec = ctx.build_spec(ImageKind::Ollama);
    let context_root = out_dir.join(&spec.context_rel);
    let ignore = if ollama.baked.is_empty() {
      IgnoreMatcher::from_patterns(["*"], "(ollama image context)")?
    } else {
      // The files must be what the ai-models task exported.
      let models_dir = out_dir.join(MODELS_DIR);
      let index = ExportIndex::read(&models_dir)?.ok_or_else(|| {
        DockerError::Stage(format!(
          "{} is missing: rebuild the ai-models task",
          ExportIndex::path(&models_dir).display()
        ))
      })?;
      index.verify(&models_dir)?;
      let dirs: Vec<String> = ollama.baked.iter().map(|b| b.dir.clone()).collect();
      ollama_ignore(&dirs)?
    };
    let repository = format!("{}-ollama", ctx.app_name);
    let req = BuildRequest {
      context_root: context_root.clone(),
      dockerfile: out_dir.join("Dockerfile.ollama"),
      ignore,
      repository: repository.clone(),
      tags: tags.clone(),
      target: None,
      labels: labels(&repository),
      no_cache: config.no_cache,
      builder: BuilderKind::Classic,
    };
    let image = engine.build(&req, log).await?;
    log(format!(
      "{repository}:{} {} ({} bytes; created from the export: {}; pulled: {})",
      ctx.version,
      if image.skipped { "up to date" } else { "built" },
      image.size,
      if ollama.baked.is_empty() {
        "none".into()
      } else {
        ollama.baked.iter().map(|b| b.name.as_str()).collect::<Vec<_>>().join(", ")
      },
      if ollama.pull_models.is_empty() { "none".into() } else { ollama.pull_models.join(", ") },
    ));
    let pushed = push_all(&engine, ctx, &repository, "-ollama", &tags, auth.as_ref(), log).await?;
    output.images.push(ImageArtifact {
      name: "ollama",
      image,
      dockerfile_rel: ctx.out_path("Dockerfile.ollama"),
      pushed,
      checks: None,
      smoke: None,
      baked_models: ollama.baked.iter().map(|b| b.name.clone()).collect(),
      builder: BuilderKind::Classic,
    });
  }
  Ok(output)
}

fn log_builder(d: &BuilderDecision, log: LogFn<'_>) {
  log(format!(
    "image builder: {} ({}; the engine's default is {}); {}",
    d.kind.as_str(),
    d.reason,
    d.engine_default.as_str(),
    match d.kind {
      BuilderKind::BuildKit => format!(
        "the Python dependencies install offline from the staged wheelhouse with a pip cache mount ({PIP_CACHE_MOUNT})"
      ),
      BuilderKind::Classic => "the Python dependencies install offline from the staged wheelhouse with `pip install --no-cache-dir` (no cache mount: the classic builder has no RUN --mount)".to_string(),
    }
  ));
}

/// Rewrites `<outputDir>/Dockerfile` for `kind` (and its file artifact's size).
fn rewrite_dockerfile(
  ctx: &DeployContext,
  out_dir: &Path,
  kind: BuilderKind,
  output: &mut DockerTaskOutput,
) -> Result<(), DockerError> {
  let file = production_dockerfile(ctx, kind);
  write_all(out_dir, std::slice::from_ref(&file))?;
  if let Some(a) = output.files.iter_mut().find(|a| a.rel_path == file.rel_path) {
    a.size = file.contents.len() as u64;
  }
  Ok(())
}

async fn push_all(
  engine: &Engine,
  ctx: &DeployContext,
  repository: &str,
  suffix: &str,
  tags: &[String],
  auth: Option<&RegistryAuth>,
  log: LogFn<'_>,
) -> Result<Vec<PushedImage>, DockerError> {
  let mut pushed = Vec::new();
  let Some(auth) = auth else { return Ok(pushed) };
  let remote = ctx.repository(suffix);
  for t in tags {
    engine.tag(&format!("{repository}:{}", tags[0]), &remote, t).await?;
    let digest = engine.push(&remote, t, Some(auth), log).await?;
    log(format!("pushed {remote}:{t}"));
    pushed.push(PushedImage { reference: format!("{remote}:{t}"), digest });
  }
  Ok(pushed)
}

#[cfg(test)]
mod tests {
  use super::*;

  fn job<'a>(cfg: &'a DockerConfig, ctx: &'a DeployContext, root: &'a Path) -> DockerJob<'a> {
    DockerJob {
      config: cfg,
      ctx,
      project_root: root,
      requirements: None,
      backend_dir: root.join("apps/api"),
      python: "python3".into(),
      wheel_cache: root.join(".farm/cache/wheelhouses"),
    }
  }

  #[test]
  fn builder_follows_the_config_and_the_probe() {
    let yes = BuildKitProbe::Available { engine: "Engine 20.10.24, API 1.41, linux".into() };
    let no = BuildKitProbe::Unavailable { reason: "Engine API 1.38 < 1.39".into() };
    let pick = |c, p: &BuildKitProbe| choose_builder(c, p, BuilderKind::Classic, "unix:///s");
    let d = pick(BuilderChoice::Auto, &yes).unwrap();
    assert_eq!(d.kind, BuilderKind::BuildKit);
    assert!(
      d.reason.contains(r#""auto" and the engine offers BuildKit (Engine 20.10.24"#),
      "{d:?}"
    );
    let d = pick(BuilderChoice::Auto, &no).unwrap();
    assert_eq!(d.kind, BuilderKind::Classic);
    assert!(d.reason.contains("BuildKit is unavailable: Engine API 1.38 < 1.39"), "{d:?}");
    assert_eq!(pick(BuilderChoice::Classic, &yes).unwrap().kind, BuilderKind::Classic);
    assert_eq!(pick(BuilderChoice::BuildKit, &yes).unwrap().kind, BuilderKind::BuildKit);
    let err = pick(BuilderChoice::BuildKit, &no).unwrap_err();
    assert_eq!(err.code(), "DOCKER_BUILDKIT_UNAVAILABLE");
    let msg = err.to_string();
    assert!(msg.contains("1.38 < 1.39") && msg.contains(r#"docker.builder: "classic""#), "{msg}");
  }

  #[tokio::test]
  async fn build_false_writes_the_dockerfile_for_the_configured_builder() {
    let d = tempfile::tempdir().unwrap();
    let mut ctx = crate::deploy::context::tests::sample();
    ctx.registry = None;
    for (choice, mount) in [
      (BuilderChoice::Auto, false),
      (BuilderChoice::Classic, false),
      (BuilderChoice::BuildKit, true),
    ] {
      let cfg = DockerConfig { build: false, builder: choice, ..Default::default() };
      let out = run_docker_task(&job(&cfg, &ctx, d.path()), &|_| {}, &CancellationToken::new())
        .await
        .unwrap();
      let text = std::fs::read_to_string(d.path().join("dist/docker/Dockerfile")).unwrap();
      assert_eq!(text.contains("RUN --mount=type=cache,target=/root/.cache/pip"), mount, "{text}");
      let f = out.files.iter().find(|f| f.rel_path == "Dockerfile").unwrap();
      assert_eq!(f.size, text.len() as u64);
      assert!(out.builder.is_none());
    }
  }

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
    let out = run_docker_task(
      &job(&cfg, &ctx, d.path()),
      &|l| lines.lock().unwrap().push(l),
      &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(out.files.len(), 10);
    assert!(out.images.is_empty());
    assert!(d.path().join("dist/docker/k8s-manifests.yaml").is_file());
    assert!(d.path().join("dist/docker/image/farm_serve.py").is_file());
    assert!(lines.lock().unwrap().iter().any(|l| l.contains("files only")));
  }

  #[tokio::test]
  async fn missing_outputs_and_engine_are_clear_errors() {
    let d = tempfile::tempdir().unwrap();
    let mut ctx = crate::deploy::context::tests::sample();
    ctx.registry = None;
    let cfg =
      DockerConfig { host: Some("unix:///nonexistent/docker.sock".into()), ..Default::default() };
    let err = run_docker_task(&job(&cfg, &ctx, d.path()), &|_| {}, &CancellationToken::new())
      .await
      .unwrap_err();
    assert_eq!(err.code(), "DOCKER_STAGE_FAILED");
    assert!(err.to_string().contains("`backend` task's output"), "{err}");
    for o in ["dist/docker/api", "dist/docker/web"] {
      std::fs::create_dir_all(d.path().join(o)).unwrap();
    }
    let err = run_docker_task(&job(&cfg, &ctx, d.path()), &|_| {}, &CancellationToken::new())
      .await
      .unwrap_err();
    assert_eq!(err.code(), "DOCKER_UNAVAILABLE");
    assert!(err.to_string().contains("docker.build: false"));
    // The files are still written before the failure.
    assert!(d.path().join("dist/docker/Dockerfile").is_file());
  }

  #[test]
  fn ollama_context_is_only_the_listed_exports() {
    let m = ollama_ignore(&["tiny-latest".into()]).unwrap();
    assert!(!m.is_excluded("tiny-latest/model.gguf"));
    assert!(!m.is_excluded(INDEX_FILE));
    assert!(m.is_excluded("old-model-latest/model.gguf"));
  }

  #[test]
  fn ollama_archive_holds_the_outside_dockerfile_and_the_listed_export() {
    use super::super::context::{collect, external_file, write_tar};
    let d = tempfile::tempdir().unwrap();
    let models = d.path().join("models");
    for (rel, text) in [
      ("tiny-latest/model.gguf", "GGUF...."),
      ("tiny-latest/Modelfile", "FROM ./model.gguf\n"),
      ("old-latest/model.gguf", "GGUF"),
      (INDEX_FILE, "{}"),
    ] {
      std::fs::create_dir_all(models.join(rel).parent().unwrap()).unwrap();
      std::fs::write(models.join(rel), text).unwrap();
    }
    std::fs::write(d.path().join("Dockerfile.ollama"), "FROM x\n").unwrap();
    let mut entries =
      collect(&models, &ollama_ignore(&["tiny-latest".into()]).unwrap(), &[]).unwrap();
    entries.push(external_file(&d.path().join("Dockerfile.ollama"), ".farm-dockerfile").unwrap());
    let tar = write_tar(&models, &entries, Vec::new()).unwrap();
    let mut names: Vec<String> = tar::Archive::new(&tar[..])
      .entries()
      .unwrap()
      .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
      .collect();
    names.sort();
    assert_eq!(
      names,
      [
        ".farm-dockerfile",
        INDEX_FILE,
        "tiny-latest/",
        "tiny-latest/Modelfile",
        "tiny-latest/model.gguf"
      ]
    );
  }

  #[test]
  fn app_context_keeps_only_the_outputs() {
    let d = tempfile::tempdir().unwrap();
    let ctx = crate::deploy::context::tests::sample();
    let out = d.path().join(&ctx.output_rel);
    write_all(&out, &generate_all(&ctx, false, BuilderKind::Classic)).unwrap();
    let m = app_ignore(&out).unwrap();
    for inc in [
      "web/index.html",
      "web/assets/a-1234abcd.js",
      "api/main.pyc",
      "image/wheels/x.whl",
      "image/farm_serve.py",
    ] {
      assert!(!m.is_excluded(inc), "{inc}");
    }
    for ex in [
      "api/.venv/bin/python",
      "api/.env",
      "models/tiny-latest/model.gguf",
      "build-manifest.json",
      "openapi/openapi.json",
      "api/__pycache__/m.pyc",
      "docker-compose.yml",
    ] {
      assert!(m.is_excluded(ex), "{ex}");
    }
  }

  #[test]
  fn secrets_come_from_the_config_and_the_environment() {
    let mut ctx = crate::deploy::context::tests::sample();
    let cfg: DockerConfig = serde_json::from_str(
      r#"{"environment": {"LOG_LEVEL": "info", "OPENAI_API_KEY": "sk-test-1234567890abcdef", "JWT_SECRET": "${FARM_TEST_JWT_FOR_SECRETS}"}}"#,
    )
    .unwrap();
    ctx.env = crate::deploy::env::classify_env(&cfg.environment);
    std::env::set_var("FARM_TEST_JWT_FOR_SECRETS", "jwt-value-xyz");
    let s = secret_values(&cfg, &ctx, None);
    let labels: Vec<&str> = s.iter().map(|s| s.label.as_str()).collect();
    assert!(labels.contains(&"docker.environment.OPENAI_API_KEY"), "{labels:?}");
    assert!(s.iter().any(|s| s.value == "jwt-value-xyz"));
    assert!(!s.iter().any(|s| s.value == "info"));
  }
}
