//! The `docker` task: generates the Dockerfiles, compose file, Kubernetes manifests and deploy scripts,
//! then builds (and pushes) the images through the Engine API.

use super::config::ProjectInfo;
use super::task::run_docker_task;
use super::toolchain::Toolchain;
use crate::builders::backend::python_for;
use crate::builders::{Builder, IoContext, Output, TaskContext, TaskIo, Uncached};
use crate::config::resolve;
use crate::deploy::context::{ApiSpec, FrontendSpec};
use crate::report;
use crate::run::{TaskError, TaskOutcome};
use futures_util::future::BoxFuture;
use serde_json::json;
use std::path::Path;

/// Builds the `docker` task.
pub struct DockerBuilder;

/// The deployment files the docker task writes, relative to `outputDir`.
pub const GENERATED: &[&str] = &[
  "Dockerfile",
  "Dockerfile.dev",
  "Dockerfile.ollama",
  ".dockerignore",
  "docker-compose.yml",
  "k8s-manifests.yaml",
  "deploy",
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
        let dir = resolve(ctx.root, &fe.root);
        FrontendSpec {
          dir_rel: fe.root.clone(),
          dist_rel: "dist".into(),
          lockfile: ["package-lock.json", "pnpm-lock.yaml", "yarn.lock"]
            .iter()
            .find(|l| dir.join(l).is_file())
            .map(|l| l.to_string()),
          build_script: "build".into(),
        }
      });
      let ollama = cfg.ai.as_ref().and_then(|a| a.providers.ollama.as_ref()).filter(|o| o.enabled);
      let export_rel = format!("{}/models", cfg.output_dir.trim_end_matches('/'));
      let project = ProjectInfo {
        app_name: cfg.app_name.clone(),
        version: cfg.version.clone(),
        environment: cfg.environment.as_str().into(),
        output_rel: cfg.output_dir.clone(),
        frontend,
        api: ApiSpec {
          dir_rel: be.root.clone(),
          app: be.app.clone(),
          requirements_rel: api_dir
            .join("requirements.txt")
            .is_file()
            .then(|| "requirements.txt".into()),
        },
        ollama_models: ollama.map(|o| o.models.clone()),
        ollama_export_rel: (ollama.is_some() && resolve(ctx.root, &export_rel).is_dir())
          .then_some(export_rel),
        toolchain: Toolchain::detect(ctx.root, &api_dir, Some(Path::new(&python))),
      };
      let dctx = docker.deploy_context(&project, ctx.root);
      let log = |line: String| ctx.log(&line);
      let out = tokio::select! {
        r = run_docker_task(docker, &dctx, ctx.root, &log) => r.map_err(|e| TaskError::Failed(format!("{}: {e}", e.code())))?,
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
        metadata.insert("tags".into(), json!(img.image.tags));
        metadata.insert("contextHash".into(), img.image.context_hash.clone().into());
        metadata.insert("skipped".into(), img.image.skipped.into());
        metadata.insert("dockerfile".into(), img.dockerfile_rel.clone().into());
        metadata.insert(
          "pushed".into(),
          json!(img.pushed.iter().map(|p| format!("{p:?}")).collect::<Vec<_>>()),
        );
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
