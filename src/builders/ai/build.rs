//! The ai-models build task: model configs, pull script, exports, custom models, `ai-config.json`.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::config::{AiConfig, OllamaProvider};
use super::custom::{bundle_custom_model, CustomModelError};
use super::export_index::{ExportIndex, IndexError, INDEX_FILE, INDEX_VERSION, MODELS_DIR};
use super::fsutil::{sha256_hex, write_atomic};
use super::ollama::{parse_parameters, Client, ClientOptions, OllamaError, ShowResponse, TagModel};
use super::secrets::scrub;
use super::store::{export_model, ModelName, Store, StoreError};

/// Where and for what the task builds.
#[derive(Debug, Clone)]
pub struct AiContext {
  /// Build output directory (`<outputDir>`).
  pub output_dir: PathBuf,
  /// Project root; relative `customModels[].path` are resolved against it.
  pub project_root: PathBuf,
  /// `development` / `production` / ... (written to `ai-config.json`).
  pub environment: String,
  /// Build version (written to `ai-config.json`).
  pub version: String,
  /// Ollama's model store; `None` → `$OLLAMA_MODELS`, else `~/.ollama/models`.
  pub ollama_models_dir: Option<PathBuf>,
}

/// One output file or directory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AiArtifact {
  /// `ollama-model-config`, `ollama-pull-script`, `ollama-model-export`, `custom-model`,
  /// `ai-deployment-config`.
  #[serde(rename = "type")]
  pub kind: String,
  /// Model name, or the file name for config/script.
  pub name: String,
  /// Path relative to `AiContext::output_dir` (`/`-separated).
  pub path: String,
  /// Bytes (for a directory: Σ of its files).
  pub size: u64,
  /// Kind-specific details.
  pub metadata: Value,
}

/// The task's result.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AiOutput {
  /// Everything written.
  pub artifacts: Vec<AiArtifact>,
  /// Warnings (also sent as [`AiEvent::Log`] with [`LogLevel::Warn`]).
  pub warnings: Vec<String>,
  /// Short Ollama model name → manifest sha256 hex, for every configured model found.
  /// Feed it to [`cache_key`].
  pub model_digests: BTreeMap<String, String>,
  /// Configured Ollama models that are not available (listed in `ai/scripts/pull-models.sh`).
  pub missing_models: Vec<String>,
}

/// Log level of an [`AiEvent::Log`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
  /// Progress information.
  Info,
  /// Something the user should look at; the build goes on.
  Warn,
}

/// Events sent to the caller's callback while the task runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum AiEvent {
  /// A log line.
  Log {
    /// Level.
    level: LogLevel,
    /// Message (never contains secrets).
    message: String,
  },
  /// One line of a streamed `ollama pull`, in arrival order.
  PullProgress {
    /// Short model name.
    model: String,
    /// Ollama's status text.
    status: String,
    /// Layer digest, for download lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
    /// Layer size.
    #[serde(skip_serializing_if = "Option::is_none")]
    total: Option<u64>,
    /// Bytes done.
    #[serde(skip_serializing_if = "Option::is_none")]
    completed: Option<u64>,
  },
}

/// Errors that fail the ai-models task.
#[derive(Debug, thiserror::Error)]
pub enum AiError {
  /// `ai` config values that fail [`AiConfig::validate`].
  #[error("invalid `ai` config: {}", .0.iter().map(|(k, v)| format!("ai.{k}: expected {v}")).collect::<Vec<_>>().join("; "))]
  Config(Vec<(String, String)>),
  /// The Ollama server is required (`ai.required: true`) but failed, or a required pull failed.
  #[error(transparent)]
  Ollama(#[from] OllamaError),
  /// Reading or exporting from Ollama's model store failed (corrupt blob, missing model, ...).
  #[error(transparent)]
  Store(#[from] StoreError),
  /// The store holds a different version of a model than the server reports.
  #[error("the Ollama store at {store} holds a different `{model}` (manifest sha256 {store_digest}) than the server at {url} ({server_digest}); point OLLAMA_MODELS (or ollamaModelsDir) at that server's store")]
  StoreMismatch {
    /// Model.
    model: String,
    /// Store root.
    store: PathBuf,
    /// Digest in the store.
    store_digest: String,
    /// Server URL.
    url: String,
    /// Digest on the server.
    server_digest: String,
  },
  /// A custom model could not be bundled.
  #[error(transparent)]
  Custom(#[from] CustomModelError),
  /// Writing an output file failed.
  #[error("cannot write {path}: {source}")]
  Io {
    /// The file.
    path: PathBuf,
    /// OS error.
    #[source]
    source: io::Error,
  },
  /// The exported-models index could not be written.
  #[error(transparent)]
  Index(#[from] IndexError),
  /// A blocking worker failed to run.
  #[error("internal error in the ai-models task: {0}")]
  Internal(String),
}

type Log<'a> = &'a (dyn Fn(AiEvent) + Send + Sync);

struct Run<'a> {
  log: Log<'a>,
  out: AiOutput,
  /// Per Ollama model: the data written to `ai-config.json`'s `models.ollama`.
  ollama_models: Vec<Value>,
}

impl Run<'_> {
  fn info(&self, message: String) {
    (self.log)(AiEvent::Log { level: LogLevel::Info, message });
  }
  fn warn(&mut self, message: String) {
    (self.log)(AiEvent::Log { level: LogLevel::Warn, message: message.clone() });
    self.out.warnings.push(message);
  }
  /// Applies `ai.required` to a server failure: error, or warning and go on.
  fn server_failure(&mut self, required: bool, e: OllamaError) -> Result<(), AiError> {
    if required {
      Err(AiError::Ollama(e))
    } else {
      self.warn(format!("{e} (ai.required is false: continuing without the server)"));
      Ok(())
    }
  }
  fn write(
    &self,
    out_dir: &Path,
    rel: &str,
    bytes: &[u8],
    executable: bool,
  ) -> Result<(), AiError> {
    let path = out_dir.join(rel);
    write_atomic(&path, bytes, executable).map_err(|source| AiError::Io { path, source })
  }
}

fn client_options(o: &OllamaProvider) -> ClientOptions {
  ClientOptions {
    timeout: Duration::from_millis(o.timeout_ms),
    retries: o.retries,
    ..ClientOptions::default()
  }
}

fn find_tag<'t>(tags: &'t [TagModel], name: &ModelName) -> Option<&'t TagModel> {
  tags.iter().find(|t| {
    [&t.name, &t.model]
      .iter()
      .any(|n| !n.is_empty() && ModelName::parse(n).is_ok_and(|p| &p == name))
  })
}

/// Runs the ai-models task. Writes `<out>/ai/models/<model>.json`, `<out>/ai/scripts/pull-models.sh`
/// (when models are missing), `<out>/models/<model>/` (with `export: true`),
/// `<out>/ai/custom-models/<name>/` and `<out>/ai-config.json` (secrets replaced by env
/// references). An unusable Ollama server fails the task when `ai.required`, else it is a warning.
pub async fn build_ai(cfg: &AiConfig, ctx: &AiContext, log: Log<'_>) -> Result<AiOutput, AiError> {
  cfg.validate().map_err(AiError::Config)?;
  let mut run = Run { log, out: AiOutput::default(), ollama_models: Vec::new() };
  if let Some(o) = cfg.providers.ollama.as_ref().filter(|o| o.enabled) {
    ollama_models(cfg.required, o, ctx, &mut run).await?;
  }
  for m in &cfg.custom_models {
    run.info(format!("bundling custom model {} ({})", m.name, m.kind.as_str()));
    let rel = format!("ai/custom-models/{}", m.name);
    let (model, root, dest) = (m.clone(), ctx.project_root.clone(), ctx.output_dir.join(&rel));
    let b = tokio::task::spawn_blocking(move || bundle_custom_model(&model, &root, &dest))
      .await
      .map_err(|e| AiError::Internal(e.to_string()))??;
    for w in b.warnings {
      run.warn(w);
    }
    let files = b.manifest.files.len();
    run.out.artifacts.push(AiArtifact {
      kind: "custom-model".into(),
      name: m.name.clone(),
      path: rel,
      size: b.manifest.total_size,
      metadata: json!({"type": m.kind.as_str(), "files": files, "conversion": "none", "manifest": "manifest.json"}),
    });
  }
  write_deployment_config(cfg, ctx, &mut run)?;
  Ok(run.out)
}

async fn ollama_models(
  required: bool,
  o: &OllamaProvider,
  ctx: &AiContext,
  run: &mut Run<'_>,
) -> Result<(), AiError> {
  let names: Vec<ModelName> = o.models.iter().filter_map(|m| ModelName::parse(m).ok()).collect();
  let client = match Client::new(&o.url, client_options(o)) {
    Ok(c) => Some(c),
    Err(e) => {
      run.server_failure(required, e)?;
      None
    }
  };
  // Server state: None when it cannot be used.
  let mut tags: Option<Vec<TagModel>> = None;
  if let Some(c) = &client {
    match c.version().await {
      Ok(v) => {
        run.info(format!("Ollama {v} at {}", c.base_url()));
        match c.tags().await {
          Ok(t) => tags = Some(t),
          Err(e) => run.server_failure(required, e)?,
        }
      }
      Err(e) => run.server_failure(required, e)?,
    }
  }
  let store = if o.export || tags.is_none() {
    Store::locate(ctx.ollama_models_dir.as_deref())
  } else {
    Err(StoreError::NoStoreDir)
  };
  let mut available: Vec<(ModelName, String)> = Vec::new(); // (name, digest)
  let mut missing: Vec<ModelName> = Vec::new();
  for name in &names {
    let short = name.short();
    let (Some(c), Some(t)) = (&client, &mut tags) else {
      // No server: the local store still tells which models exist (and their digests).
      match store.as_ref().ok().map(|s| s.read_manifest(name)) {
        Some(Ok(Some(local))) => available.push((name.clone(), local.digest)),
        Some(Err(e)) => return Err(e.into()),
        _ => missing.push(name.clone()),
      }
      continue;
    };
    let mut found = find_tag(t, name).cloned();
    if found.is_none() && o.pull {
      run.info(format!("pulling {short} from {}", c.base_url()));
      let log = run.log;
      let mut on_progress = |p: &super::ollama::PullProgress| {
        log(AiEvent::PullProgress {
          model: short.clone(),
          status: p.status.clone(),
          digest: p.digest.clone(),
          total: p.total,
          completed: p.completed,
        })
      };
      match c.pull(&short, &mut on_progress).await {
        Ok(()) => match c.tags().await {
          Ok(new) => {
            *t = new;
            found = find_tag(t, name).cloned();
            if found.is_none() {
              run
                .warn(format!("pulled {short} but {} does not list it in /api/tags", c.base_url()));
            }
          }
          Err(e) => run.server_failure(required, e)?,
        },
        Err(e) => run.server_failure(required, e)?,
      }
    }
    let Some(tag) = found else {
      missing.push(name.clone());
      continue;
    };
    let show = match c.show(&short).await {
      Ok(s) => s,
      Err(OllamaError::ModelNotFound { .. }) => {
        missing.push(name.clone());
        continue;
      }
      Err(e) => {
        run.server_failure(required, e)?;
        continue;
      }
    };
    write_model_config(name, &tag, &show, c.base_url(), ctx, run)?;
    available.push((name.clone(), tag.digest.clone()));
  }
  if tags.is_none() && !names.is_empty() {
    run.warn(format!(
      "Ollama model configs (ai/models/*.json) were not generated: the server at {} is not usable",
      o.url
    ));
  }
  for (name, digest) in &available {
    run.out.model_digests.insert(name.short(), digest.clone());
  }
  // Exports.
  let mut exported: BTreeMap<String, String> = BTreeMap::new();
  let models_dir = ctx.output_dir.join(MODELS_DIR);
  let mut index = ExportIndex { version: INDEX_VERSION, models: Vec::new() };
  if o.export && !available.is_empty() {
    let store = store?;
    for (name, digest) in &available {
      let rel = format!("{MODELS_DIR}/{}", name.file_stem());
      run.info(format!("exporting {} from {} to {rel}", name.short(), store.root().display()));
      let (s, n, dest) = (store.clone(), name.clone(), ctx.output_dir.join(&rel));
      let ex = tokio::task::spawn_blocking(move || export_model(&s, &n, &dest))
        .await
        .map_err(|e| AiError::Internal(e.to_string()))??;
      if &ex.manifest_digest != digest {
        let _ = std::fs::remove_dir_all(ctx.output_dir.join(&rel));
        return Err(AiError::StoreMismatch {
          model: name.short(),
          store: store.root().to_path_buf(),
          store_digest: ex.manifest_digest,
          url: o.url.clone(),
          server_digest: digest.clone(),
        });
      }
      for skipped in &ex.skipped_layers {
        run
          .warn(format!("{}: layer type {skipped} was not exported (not supported)", name.short()));
      }
      let hardlinked = ex.files.iter().filter(|f| f.hardlinked).count();
      run.out.artifacts.push(AiArtifact {
        kind: "ollama-model-export".into(),
        name: name.short(),
        path: rel.clone(),
        size: ex.total_size,
        metadata: json!({
          "model": name.short(), "digest": ex.manifest_digest, "modelfile": format!("{rel}/Modelfile"),
          "files": ex.files, "hardlinked": hardlinked, "format": "gguf",
        }),
      });
      index.models.push(ExportIndex::entry(&models_dir, &name.file_stem(), &ex)?);
      exported.insert(name.short(), rel);
    }
  }
  // The index the docker task reads: written when something was exported, else removed.
  if index.models.is_empty() {
    ExportIndex::remove(&models_dir)?;
  } else {
    index.write(&models_dir)?;
    let rel = format!("{MODELS_DIR}/{INDEX_FILE}");
    let size = std::fs::metadata(ExportIndex::path(&models_dir)).map(|m| m.len()).unwrap_or(0);
    run.info(format!("{rel}: {} exported model(s) for the docker task", index.models.len()));
    run.out.artifacts.push(AiArtifact {
      kind: "ollama-export-index".into(),
      name: INDEX_FILE.into(),
      path: rel,
      size,
      metadata: json!({"models": index.models.iter().map(|m| m.name.clone()).collect::<Vec<_>>()}),
    });
  }
  // Pull script.
  let script_rel = "ai/scripts/pull-models.sh";
  if missing.is_empty() {
    let _ = std::fs::remove_file(ctx.output_dir.join(script_rel));
  } else {
    let list: Vec<String> = missing.iter().map(ModelName::short).collect();
    run.warn(format!("Ollama models not available: {} (see {script_rel})", list.join(", ")));
    let script = pull_script(&o.url, &list);
    run.write(&ctx.output_dir, script_rel, script.as_bytes(), true)?;
    run.out.artifacts.push(AiArtifact {
      kind: "ollama-pull-script".into(),
      name: "pull-models.sh".into(),
      path: script_rel.into(),
      size: script.len() as u64,
      metadata: json!({"models": list}),
    });
    run.out.missing_models = list;
  }
  for name in &names {
    let short = name.short();
    let digest = run.out.model_digests.get(&short).cloned();
    let info = run
      .out
      .artifacts
      .iter()
      .find(|a| a.kind == "ollama-model-config" && a.name == short)
      .map(|a| a.metadata.clone())
      .unwrap_or(Value::Null);
    run.ollama_models.push(json!({
      "name": short,
      "available": digest.is_some(),
      "digest": digest,
      "size": info.get("size"),
      "family": info.get("family"),
      "parameterSize": info.get("parameterSize"),
      "quantization": info.get("quantization"),
      "exportedTo": exported.get(&short),
    }));
  }
  Ok(())
}

fn write_model_config(
  name: &ModelName,
  tag: &TagModel,
  show: &ShowResponse,
  url: &str,
  ctx: &AiContext,
  run: &mut Run<'_>,
) -> Result<(), AiError> {
  let d = show.details.clone().unwrap_or_else(|| tag.details.clone());
  let parameters = show.parameters.as_deref().map(parse_parameters).unwrap_or_default();
  let doc = json!({
    "name": name.short(),
    "provider": "ollama",
    "digest": tag.digest,
    "size": tag.size,
    "format": d.format,
    "family": d.family,
    "families": d.families,
    "parameterSize": d.parameter_size,
    "quantization": d.quantization_level,
    "architecture": show.model_info.get("general.architecture"),
    "template": show.template,
    "system": show.system,
    "parameters": parameters,
    "capabilities": show.capabilities,
    "modifiedAt": tag.modified_at,
    "source": url,
  });
  let bytes = to_json(&doc);
  let rel = format!("ai/models/{}.json", name.file_stem());
  run.write(&ctx.output_dir, &rel, &bytes, false)?;
  run.out.artifacts.push(AiArtifact {
    kind: "ollama-model-config".into(),
    name: name.short(),
    path: rel,
    size: bytes.len() as u64,
    metadata: json!({
      "model": name.short(), "digest": tag.digest, "size": tag.size, "family": d.family,
      "parameterSize": d.parameter_size, "quantization": d.quantization_level,
    }),
  });
  Ok(())
}

fn sh_quote(s: &str) -> String {
  format!("'{}'", s.replace('\'', r"'\''"))
}

fn pull_script(url: &str, models: &[String]) -> String {
  let mut s = String::from(
    "#!/usr/bin/env bash\n\
     # Generated by farm build: pulls the Ollama models that were missing at build time.\n\
     # Usage: OLLAMA_HOST=http://<host>:11434 ./pull-models.sh   (defaults to the configured URL)\n\
     set -euo pipefail\n",
  );
  s.push_str(&format!(
    "export OLLAMA_HOST=\"${{OLLAMA_HOST:-{}}}\"\n",
    url.replace(['"', '$', '`', '\\'], "")
  ));
  s.push_str("command -v ollama >/dev/null 2>&1 || { echo \"pull-models.sh: the ollama CLI is not installed\" >&2; exit 127; }\n");
  s.push_str("models=(\n");
  for m in models {
    s.push_str(&format!("  {}\n", sh_quote(m)));
  }
  s.push_str(")\nfor m in \"${models[@]}\"; do\n  echo \"pulling $m from $OLLAMA_HOST\"\n  ollama pull \"$m\"\ndone\n");
  s
}

fn to_json(v: &Value) -> Vec<u8> {
  let mut b = serde_json::to_vec_pretty(v).unwrap_or_default();
  b.push(b'\n');
  b
}

fn write_deployment_config(
  cfg: &AiConfig,
  ctx: &AiContext,
  run: &mut Run<'_>,
) -> Result<(), AiError> {
  let mut providers = Map::new();
  let mut models = Map::new();
  let mut default_model = Value::Null;
  let mut set_default = |provider: &str, model: Option<&String>, list: &[String]| {
    if default_model.is_null() {
      if let Some(m) = model.or(list.first()) {
        default_model = json!({"provider": provider, "model": m});
      }
    }
  };
  if let Some(o) = cfg.providers.ollama.as_ref().filter(|o| o.enabled) {
    providers.insert("ollama".into(), json!({
      "enabled": true, "url": o.url, "models": o.models, "defaultModel": o.default_model, "timeoutMs": o.timeout_ms,
    }));
    models.insert("ollama".into(), Value::Array(std::mem::take(&mut run.ollama_models)));
    set_default("ollama", o.default_model.as_ref(), &o.models);
  }
  if let Some(o) = cfg.providers.openai.as_ref().filter(|o| o.enabled) {
    providers.insert("openai".into(), serde_json::to_value(o).unwrap_or(Value::Null));
    models.insert(
      "openai".into(),
      json!(o.models.iter().map(|m| json!({"name": m})).collect::<Vec<_>>()),
    );
    set_default("openai", o.default_model.as_ref(), &o.models);
  }
  for (name, g) in cfg.providers.other.iter().filter(|(_, g)| g.enabled) {
    providers.insert(name.clone(), serde_json::to_value(g).unwrap_or(Value::Null));
    models
      .insert(name.clone(), json!(g.models.iter().map(|m| json!({"name": m})).collect::<Vec<_>>()));
    set_default(name, g.default_model.as_ref(), &g.models);
  }
  let n_providers = providers.len();
  let mut doc = json!({
    "providers": providers,
    "models": models,
    "defaultModel": default_model,
    "customModels": cfg.custom_models.iter().map(|m| json!({
      "name": m.name, "type": m.kind.as_str(), "path": format!("ai/custom-models/{}", m.name),
    })).collect::<Vec<_>>(),
    "routing": cfg.routing,
    "features": cfg.features,
    "deployment": {"environment": ctx.environment, "buildVersion": ctx.version},
  });
  let scrubbed = scrub(&mut doc, &mut Vec::new());
  let env_vars: Vec<String> = scrubbed.iter().map(|p| p.to_string()).collect();
  let bytes = to_json(&doc);
  run.write(&ctx.output_dir, "ai-config.json", &bytes, false)?;
  if !scrubbed.is_empty() {
    run.info(format!(
      "ai-config.json: {} secret value(s) replaced by env references",
      scrubbed.len()
    ));
  }
  run.out.artifacts.push(AiArtifact {
    kind: "ai-deployment-config".into(),
    name: "ai-config.json".into(),
    path: "ai-config.json".into(),
    size: bytes.len() as u64,
    metadata: json!({"providers": n_providers, "environment": ctx.environment, "scrubbedKeys": env_vars}),
  });
  Ok(())
}

/// Digests of the configured Ollama models, cheaply, before a build: one `/api/tags` call
/// (short timeout, no retries); if the server is not usable, the manifests in the local store
/// (`ollama_models_dir`, else `$OLLAMA_MODELS`, else `~/.ollama/models`). Models found
/// nowhere are absent from the map. The values match [`AiOutput::model_digests`].
pub async fn model_digests(
  cfg: &AiConfig,
  ollama_models_dir: Option<&Path>,
) -> Result<BTreeMap<String, String>, AiError> {
  let mut out = BTreeMap::new();
  let Some(o) = cfg.providers.ollama.as_ref().filter(|o| o.enabled) else { return Ok(out) };
  let names: Vec<ModelName> = o.models.iter().filter_map(|m| ModelName::parse(m).ok()).collect();
  if names.is_empty() {
    return Ok(out);
  }
  let opts = ClientOptions {
    timeout: Duration::from_millis(o.timeout_ms.min(5_000)),
    retries: 0,
    ..ClientOptions::default()
  };
  let tags = match Client::new(&o.url, opts) {
    Ok(c) => c.tags().await.ok(),
    Err(_) => None,
  };
  if let Some(tags) = tags {
    for n in &names {
      if let Some(t) = find_tag(&tags, n) {
        out.insert(n.short(), t.digest.clone());
      }
    }
    return Ok(out);
  }
  let Ok(store) = Store::locate(ollama_models_dir) else { return Ok(out) };
  for n in &names {
    if let Some(m) = store.read_manifest(n)? {
      out.insert(n.short(), m.digest);
    }
  }
  Ok(out)
}

/// Cache key of the ai-models task: sha256 over the config (secrets scrubbed first, so a
/// rotated API key does not invalidate it), environment, version and model digests.
/// Custom model files are not hashed here: add their paths to the task's input files.
pub fn cache_key(
  cfg: &AiConfig,
  environment: &str,
  version: &str,
  digests: &BTreeMap<String, String>,
) -> String {
  let mut c = serde_json::to_value(cfg).unwrap_or(Value::Null);
  scrub(&mut c, &mut Vec::new());
  let doc =
    json!({"v": 1, "config": c, "environment": environment, "version": version, "models": digests});
  sha256_hex(doc.to_string().as_bytes())
}
