//! The `docker` task: generates the Dockerfiles, compose file, Kubernetes manifests and deploy scripts,
//! then builds (and pushes) the images through the Engine API.

use super::config::ProjectInfo;
use super::task::{run_docker_task, DockerJob};
use super::toolchain::Toolchain;
use crate::builders::ai::export_index::{ExportIndex, MODELS_DIR};
use crate::builders::backend::project::{self, Dependencies, ResolvedRequirements};
use crate::builders::backend::python_for;
use crate::builders::backend::venv::Installer;
use crate::builders::{Builder, IoContext, Output, TaskContext, TaskIo, Uncached};
use crate::config::{resolve, BackendConfig};
use crate::deploy::context::{ApiSpec, FrontendSpec, Lockfile, PythonDeps, UvLock};
use crate::report;
use crate::run::{TaskError, TaskOutcome};
use futures_util::future::BoxFuture;
use serde_json::json;
use std::path::Path;

/// What the development image installs, from the backend's resolved requirements: the requirements
/// file (as `backend.requirements` names it, relative to the backend root), or the pyproject
/// dependencies with the `uv.lock` next to `pyproject.toml` (when uv is there to pin its version).
pub fn python_deps(
  resolved: Option<&ResolvedRequirements>,
  be: &BackendConfig,
  api_dir: &Path,
) -> PythonDeps {
  let Some(r) = resolved else { return PythonDeps::None };
  match &r.deps {
    Dependencies::None => PythonDeps::None,
    Dependencies::Requirements(_) => PythonDeps::Requirements {
      file_rel: be.requirements.clone().unwrap_or_else(|| "requirements.txt".into()),
    },
    Dependencies::PyProject { requirements, extras, lock, .. } => {
      let uv = match &r.installer {
        Installer::Uv(uv) => Some(uv.clone()),
        Installer::Pip => project_uv(),
      };
      let uv_lock = lock
        .as_ref()
        .filter(|l| l.parent() == Some(api_dir))
        .and(uv)
        .and_then(|uv| uv_version(&uv))
        .map(|uv_version| UvLock { uv_version });
      PythonDeps::PyProject { extras: extras.clone(), requirements: requirements.clone(), uv_lock }
    }
  }
}

fn project_uv() -> Option<std::path::PathBuf> {
  crate::builders::backend::venv::find_on_path("uv")
}

/// `uv --version` → `0.13.9`.
fn uv_version(uv: &Path) -> Option<String> {
  let out = std::process::Command::new(uv).arg("--version").output().ok()?;
  let text = String::from_utf8_lossy(&out.stdout);
  let v = text.split_whitespace().nth(1)?;
  (out.status.success() && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'))
    .then(|| v.to_string())
}

/// Builds the `docker` task.
pub struct DockerBuilder;

/// The deployment files the docker task writes, relative to `outputDir`.
pub const GENERATED: &[&str] = &[
  "Dockerfile",
  "Dockerfile.dev",
  "Dockerfile.ollama",
  ".dockerignore",
  "Dockerfile.dev.dockerignore",
  "docker-compose.yml",
  "k8s-manifests.yaml",
  "deploy",
  crate::deploy::dockerfile::IMAGE_DIR,
];

impl Builder for DockerBuilder {
  /// Not cached (images live in the engine; it has its own context-hash skip); writes the
  /// deployment files ([`GENERATED`]) under `outputDir`.
  fn io(&self, cx: &IoContext<'_>) -> TaskIo {
    let out = cx.output_dir();
    TaskIo {
      reads: Err(Uncached::External("docker".into())),
      writes: GENERATED
        .iter()
        .map(|rel| Output::new(rel.trim_start_matches('.').replace('.', "-"), out.join(rel)))
        .collect(),
    }
  }

  fn build<'a>(
    &'a self,
    ctx: &'a TaskContext<'a>,
  ) -> BoxFuture<'a, Result<TaskOutcome, TaskError>> {
    Box::pin(async move {
      let cfg = ctx.config;
      let docker = cfg
        .docker
        .as_ref()
        .ok_or_else(|| TaskError::Failed("no `docker` section in the config".into()))?;
      let be = cfg
        .backend
        .as_ref()
        .ok_or_else(|| TaskError::Failed("the docker task needs a `backend` section".into()))?;
      let api_dir = resolve(ctx.root, &be.root);
      let python = python_for(ctx.root, be);
      let frontend = cfg.frontend.as_ref().map(|fe| {
        // Its own lockfile, or the one at the root of the workspace it belongs to.
        let lockfile = match Lockfile::find(ctx.root, &resolve(ctx.root, &fe.root)) {
          Ok(l) => Some(l),
          Err(why) => {
            ctx.log(&format!("Dockerfile.dev has no web-dev stage: {why}"));
            None
          }
        };
        FrontendSpec { dir_rel: fe.root.clone(), lockfile, out_rel: fe.out_dir.clone() }
      });
      if let Some(ws) = frontend.as_ref().and_then(|f| f.lockfile.as_ref()?.workspace.as_ref()) {
        let root = if ws.root_rel == "." { "the project root" } else { ws.root_rel.as_str() };
        ctx.log(&format!(
          "Dockerfile.dev: the frontend installs as the member {} of the workspace at {root} \
           (its lockfile, {} manifests)",
          ws.member_rel,
          ws.manifests.len()
        ));
      }
      // The exact list the backend task installed (same function, same generated file).
      let log_line = |l: &str| ctx.log(l);
      let resolved = project::resolve_requirements(
        be,
        ctx.root,
        &project::venvs_dir(ctx.root, &cfg.cache_dir),
        &log_line,
        &ctx.cancel,
      )
      .await
      .map_err(|e| {
        TaskError::Failed(format!("DOCKER_STAGE: reading the backend's dependencies: {e}"))
      })?;
      let deps = python_deps(resolved.as_ref(), be, &api_dir);
      let ollama = cfg.ai.as_ref().and_then(|a| a.providers.ollama.as_ref()).filter(|o| o.enabled);
      let ollama_export = match ollama {
        Some(_) => ExportIndex::read(&ctx.output_dir.join(MODELS_DIR))
          .map_err(|e| TaskError::Failed(format!("DOCKER_EXPORT_INDEX: {e}")))?,
        None => None,
      };
      let project = ProjectInfo {
        app_name: cfg.app_name.clone(),
        version: cfg.version.clone(),
        environment: cfg.environment.as_str().into(),
        output_rel: cfg.output_dir.clone(),
        frontend,
        api: ApiSpec {
          dir_rel: be.root.clone(),
          app: be.app.clone(),
          deps,
          out_rel: be.out_dir.clone(),
        },
        ollama_models: ollama.map(|o| o.models.clone()),
        ollama_export,
        toolchain: Toolchain::detect(ctx.root, &api_dir, Some(Path::new(&python))),
      };
      let dctx = docker.deploy_context(&project);
      let job = DockerJob {
        config: docker,
        ctx: &dctx,
        project_root: ctx.root,
        requirements: resolved.map(|r| r.file),
        backend_dir: api_dir.clone(),
        python,
        wheel_cache: resolve(ctx.root, &cfg.cache_dir).join("wheelhouses"),
      };
      let log = |line: String| ctx.log(&line);
      let out = tokio::select! {
        r = run_docker_task(&job, &log, &ctx.cancel) => r.map_err(|e| TaskError::Failed(format!("{}: {e}", e.code())))?,
        _ = ctx.cancel.cancelled() => return Err(TaskError::Cancelled),
      };
      let mut outcome = TaskOutcome::default();
      for f in &out.files {
        let art = report::describe(ctx.root, &f.path, &format!("docker-{}", f.kind), &f.rel_path)
          .map_err(|e| TaskError::Failed(format!("hashing {}: {e}", f.path.display())))?;
        outcome.artifacts.push(art);
      }
      for img in &out.images {
        let mut metadata = serde_json::Map::new();
        metadata.insert("imageId".into(), img.image.id.clone().into());
        metadata.insert("imageSize".into(), img.image.size.into());
        metadata.insert("tags".into(), json!(img.image.tags));
        metadata.insert("contextHash".into(), img.image.context_hash.clone().into());
        metadata.insert("skipped".into(), img.image.skipped.into());
        metadata.insert("dockerfile".into(), img.dockerfile_rel.clone().into());
        metadata.insert("builder".into(), img.builder.as_str().into());
        let reason = match &out.builder {
          Some(d) if img.name == "app" => {
            metadata.insert("engineDefaultBuilder".into(), d.engine_default.as_str().into());
            d.reason.clone()
          }
          _ => {
            "the Ollama image is always built by the classic builder (its build may pull models)"
              .to_string()
          }
        };
        metadata.insert("builderReason".into(), reason.into());
        metadata.insert(
          "pushed".into(),
          json!(img
            .pushed
            .iter()
            .map(|p| json!({"reference": p.reference, "digest": p.digest}))
            .collect::<Vec<_>>()),
        );
        if let Some(c) = &img.checks {
          metadata.insert(
            "checks".into(),
            json!({"staticFiles": c.static_files, "staticBytes": c.static_bytes, "apiFiles": c.api_files,
                   "pycFiles": c.pyc_files, "historyLayers": c.layers, "passed": true}),
          );
        }
        if let Some(s) = &img.smoke {
          metadata.insert(
            "smoke".into(),
            json!({"healthy": true, "healthyAfterMs": s.healthy_after_ms, "checks": s.checks, "network": "none"}),
          );
        }
        if img.name == "app" {
          if let Some(d) = &out.deps {
            metadata.insert(
              "pythonDeps".into(),
              json!({"requirements": d.files, "wheels": d.wheels, "wheelhouseKey": d.key, "wheelhouseReused": d.reused}),
            );
          }
        } else {
          metadata.insert("bakedModels".into(), json!(img.baked_models));
        }
        if img.image.skipped {
          ctx.log(&format!(
            "image {} unchanged (context hash {}): build skipped",
            img.image.repository, img.image.context_hash
          ));
        }
        outcome.artifacts.push(report::Artifact {
          kind: "docker-image".into(),
          name: img.name.into(),
          path: format!("{}:{}", img.image.repository, cfg.version),
          size: img.image.size,
          hash: img.image.id.clone(),
          metadata,
        });
      }
      if let Some(v) = out.api_version {
        ctx.record_tool("docker-api", &v);
      }
      Ok(outcome)
    })
  }
}
