//! The `ai-models` task: runs [`build_ai`](super::build_ai) for the config's `ai` section and turns its
//! outputs into hashed artifacts.

use super::{build_ai, AiContext, AiEvent, LogLevel};
use crate::builders::{Builder, IoContext, Output, TaskContext, TaskIo, Uncached};
use crate::report;
use crate::run::{TaskError, TaskOutcome};
use futures_util::future::BoxFuture;

/// Builds the `ai-models` task.
pub struct AiModelsBuilder;

impl Builder for AiModelsBuilder {
  /// Not cached (it asks a running Ollama); writes `<outputDir>/ai`, `<outputDir>/models` and
  /// `<outputDir>/ai-config.json`.
  fn io(&self, cx: &IoContext<'_>) -> TaskIo {
    let out = cx.output_dir();
    TaskIo {
      reads: Err(Uncached::External("ai-models".into())),
      writes: vec![
        Output::new("ai", out.join("ai")),
        Output::new("models", out.join("models")),
        Output::new("ai-config", out.join("ai-config.json")),
      ],
    }
  }

  fn build<'a>(
    &'a self,
    ctx: &'a TaskContext<'a>,
  ) -> BoxFuture<'a, Result<TaskOutcome, TaskError>> {
    Box::pin(async move {
      let cfg = ctx
        .config
        .ai
        .as_ref()
        .ok_or_else(|| TaskError::Failed("no `ai` section in the config".into()))?;
      let actx = AiContext {
        output_dir: ctx.output_dir.clone(),
        project_root: ctx.root.to_path_buf(),
        environment: ctx.config.environment.as_str().into(),
        version: ctx.config.version.clone(),
        ollama_models_dir: None,
      };
      let log = |e: AiEvent| match e {
        // Warnings come back in `out.warnings`; the runner reports those once.
        AiEvent::Log { level: LogLevel::Warn, .. } => {}
        AiEvent::Log { message, .. } => ctx.log(&message),
        AiEvent::PullProgress { model, status, total, completed, .. } => match (completed, total) {
          (Some(c), Some(t)) if t > 0 => {
            ctx.log(&format!("pull {model}: {status} {}%", c * 100 / t))
          }
          _ => ctx.log(&format!("pull {model}: {status}")),
        },
      };
      let out = tokio::select! {
        r = build_ai(cfg, &actx, &log) => r.map_err(|e| TaskError::Failed(e.to_string()))?,
        _ = ctx.cancel.cancelled() => return Err(TaskError::Cancelled),
      };
      let mut outcome = TaskOutcome { warnings: out.warnings.clone(), ..TaskOutcome::default() };
      for a in out.artifacts {
        let abs = ctx.output_dir.join(&a.path);
        let mut art = report::describe(ctx.root, &abs, &a.kind, &a.name)
          .map_err(|e| TaskError::Failed(format!("hashing {}: {e}", abs.display())))?;
        if let serde_json::Value::Object(m) = a.metadata {
          art.metadata.extend(m);
        }
        outcome.artifacts.push(art);
      }
      outcome.metadata.insert(
        "modelDigests".into(),
        serde_json::to_value(&out.model_digests).unwrap_or_default(),
      );
      outcome.metadata.insert("missingModels".into(), out.missing_models.into());
      Ok(outcome)
    })
  }
}
