//! The farm config's `ai` section (`farm.config.*` → `ai: { ... }`).
//!
//! Every field has a default, documented on the field. Unknown keys are rejected
//! (`deny_unknown_fields`) everywhere except in `providers`, where any key other than
//! `ollama` and `openai` is a [`GenericProvider`], and inside free-form objects
//! (`routing`, `features`, a generic provider's extra settings).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::store::ModelName;

/// Default Ollama base URL (Ollama's own default listen address).
pub const DEFAULT_OLLAMA_URL: &str = "http://localhost:11434";
/// Default per-request timeout for the Ollama client, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// Default number of retries (after the first attempt) for connection errors, timeouts and 5xx.
pub const DEFAULT_RETRIES: u32 = 3;

/// The `ai` section of the farm config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AiConfig {
  /// AI providers. Default: none configured.
  #[serde(default)]
  pub providers: Providers,
  /// When `true`, an unreachable Ollama server (or a failed pull) fails the ai-models task;
  /// when `false` (default) it is reported as a warning and the build goes on.
  #[serde(default)]
  pub required: bool,
  /// Custom model directories to bundle (copied with checksums, never converted). Default: `[]`.
  #[serde(default)]
  pub custom_models: Vec<CustomModel>,
  /// Free-form routing rules, copied (secrets scrubbed) into `ai-config.json`. Default: `{}`.
  #[serde(default)]
  pub routing: Map<String, Value>,
  /// Free-form feature flags, copied (secrets scrubbed) into `ai-config.json`. Default: `{}`.
  #[serde(default)]
  pub features: Map<String, Value>,
}

/// `ai.providers`: the two known providers plus any number of generic ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Providers {
  /// Local Ollama server. Default: absent (not used).
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub ollama: Option<OllamaProvider>,
  /// OpenAI (or an OpenAI-compatible API). Default: absent.
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub openai: Option<OpenAiProvider>,
  /// Any other provider (`anthropic`, `azure`, ...), keyed by name. Default: none.
  #[serde(flatten)]
  pub other: BTreeMap<String, GenericProvider>,
}

/// `ai.providers.ollama`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OllamaProvider {
  /// Whether the provider is used. Default: `true` (writing the section means using it).
  #[serde(default = "default_true")]
  pub enabled: bool,
  /// Base URL of the Ollama server, `http://` only for now. Default: `http://localhost:11434`.
  #[serde(default = "default_ollama_url")]
  pub url: String,
  /// Model names (`llama3.2`, `llama3.2:1b`, `ns/model:tag`, `host/ns/model:tag`). Default: `[]`.
  #[serde(default)]
  pub models: Vec<String>,
  /// The model used when a request names none; must be one of `models` when `models` is
  /// not empty. Default: none (the first of `models` is reported as default in `ai-config.json`).
  #[serde(default)]
  pub default_model: Option<String>,
  /// Timeout per request (and idle timeout between chunks of a streamed pull), in ms.
  /// Default: 30000.
  #[serde(default = "default_timeout_ms")]
  pub timeout_ms: u64,
  /// Retries after the first attempt, with exponential backoff, for connection errors,
  /// timeouts and HTTP 5xx (never for 4xx). Default: 3.
  #[serde(default = "default_retries")]
  pub retries: u32,
  /// Pull missing models during the build (with progress events). Default: `false`
  /// (missing models only go into `ai/scripts/pull-models.sh`).
  #[serde(default)]
  pub pull: bool,
  /// Export the models from Ollama's local store into `<outputDir>/models/<name>/`.
  /// Default: `false`.
  #[serde(default)]
  pub export: bool,
}

impl Default for OllamaProvider {
  fn default() -> Self {
    Self {
      enabled: true,
      url: default_ollama_url(),
      models: Vec::new(),
      default_model: None,
      timeout_ms: DEFAULT_TIMEOUT_MS,
      retries: DEFAULT_RETRIES,
      pull: false,
      export: false,
    }
  }
}

/// `ai.providers.openai`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpenAiProvider {
  /// Whether the provider is used. Default: `true`.
  #[serde(default = "default_true")]
  pub enabled: bool,
  /// API key. Never written to any output: `ai-config.json` gets `${FARM_OPENAI_API_KEY}`.
  /// Default: none.
  #[serde(default)]
  pub api_key: Option<String>,
  /// Model names. Default: `[]`.
  #[serde(default)]
  pub models: Vec<String>,
  /// Default model; must be one of `models` when `models` is not empty. Default: none.
  #[serde(default)]
  pub default_model: Option<String>,
  /// API base URL (http or https). Default: none (the OpenAI SDK's default).
  #[serde(default)]
  pub base_url: Option<String>,
}

/// Any other provider: the common fields plus free-form settings (secrets among them are
/// scrubbed from every output).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GenericProvider {
  /// Whether the provider is used. Default: `true`.
  #[serde(default = "default_true")]
  pub enabled: bool,
  /// Model names. Default: `[]`.
  #[serde(default)]
  pub models: Vec<String>,
  /// Default model; must be one of `models` when `models` is not empty. Default: none.
  #[serde(default)]
  pub default_model: Option<String>,
  /// Every other key of the provider object, as given. Default: `{}`.
  #[serde(flatten)]
  pub extra: Map<String, Value>,
}

/// One entry of `ai.customModels`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomModel {
  /// Name, used as the output directory name: `[A-Za-z0-9._-]`, not starting with `.`. Required.
  pub name: String,
  /// Kind of model directory. Required.
  #[serde(rename = "type")]
  pub kind: CustomModelKind,
  /// Directory (or single file), relative to the project root or absolute. Required.
  pub path: String,
}

/// The kind of a custom model. Only recorded (and sanity-checked); nothing is converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CustomModelKind {
  /// A Hugging Face model directory (`config.json`, weights).
  Huggingface,
  /// PyTorch weights (`*.pt`, `*.pth`, `*.bin`, `*.safetensors`).
  Pytorch,
  /// A TensorFlow SavedModel (`saved_model.pb`) or Keras file (`*.h5`, `*.keras`).
  Tensorflow,
}

impl CustomModelKind {
  /// The lowercase name used in config and manifests.
  pub fn as_str(self) -> &'static str {
    match self {
      Self::Huggingface => "huggingface",
      Self::Pytorch => "pytorch",
      Self::Tensorflow => "tensorflow",
    }
  }
}

fn default_true() -> bool {
  true
}
fn default_ollama_url() -> String {
  DEFAULT_OLLAMA_URL.to_string()
}
fn default_timeout_ms() -> u64 {
  DEFAULT_TIMEOUT_MS
}
fn default_retries() -> u32 {
  DEFAULT_RETRIES
}

/// Largest accepted `retries` value (backoff grows exponentially).
const MAX_RETRIES: u32 = 10;

impl AiConfig {
  /// Value checks that serde cannot express. Returns every problem as
  /// `(key path, what is expected)`, e.g. `("providers.ollama.url", "an http:// or https:// URL ...")`.
  pub fn validate(&self) -> Result<(), Vec<(String, String)>> {
    let mut errs: Vec<(String, String)> = Vec::new();
    if let Some(o) = &self.providers.ollama {
      let p = "providers.ollama";
      check_url(&mut errs, &format!("{p}.url"), &o.url);
      if o.timeout_ms == 0 {
        errs.push((format!("{p}.timeoutMs"), "a number of milliseconds greater than 0".into()));
      }
      if o.retries > MAX_RETRIES {
        errs.push((format!("{p}.retries"), format!("at most {MAX_RETRIES}")));
      }
      let mut safe_names: BTreeMap<String, String> = BTreeMap::new();
      for (i, m) in o.models.iter().enumerate() {
        match ModelName::parse(m) {
          Ok(n) => {
            if let Some(prev) = safe_names.insert(n.file_stem(), m.clone()) {
              errs.push((
                format!("{p}.models[{i}]"),
                format!("a model not listed twice (`{m}` is the same model as `{prev}`)"),
              ));
            }
          }
          Err(e) => errs.push((format!("{p}.models[{i}]"), e.to_string())),
        }
      }
      check_default(&mut errs, p, &o.models, o.default_model.as_deref(), true);
    }
    if let Some(o) = &self.providers.openai {
      let p = "providers.openai";
      if let Some(u) = &o.base_url {
        check_url(&mut errs, &format!("{p}.baseUrl"), u);
      }
      check_default(&mut errs, p, &o.models, o.default_model.as_deref(), false);
    }
    for (name, g) in &self.providers.other {
      let p = format!("providers.{name}");
      for key in ["url", "baseUrl", "endpoint"] {
        match g.extra.get(key) {
          Some(Value::String(u)) => check_url(&mut errs, &format!("{p}.{key}"), u),
          Some(Value::Null) | None => {}
          Some(_) => errs.push((format!("{p}.{key}"), "a string URL".into())),
        }
      }
      check_default(&mut errs, &p, &g.models, g.default_model.as_deref(), false);
    }
    let mut seen = BTreeMap::new();
    for (i, c) in self.custom_models.iter().enumerate() {
      let p = format!("customModels[{i}]");
      if !is_safe_dir_name(&c.name) {
        errs.push((
          format!("{p}.name"),
          "a non-empty name of letters, digits, `.`, `_`, `-`, not starting with `.`".into(),
        ));
      } else if seen.insert(c.name.clone(), i).is_some() {
        errs.push((format!("{p}.name"), format!("a unique name (`{}` is used twice)", c.name)));
      }
      if c.path.trim().is_empty() {
        errs.push((format!("{p}.path"), "a non-empty path to a model directory or file".into()));
      }
    }
    if errs.is_empty() {
      Ok(())
    } else {
      Err(errs)
    }
  }
}

fn check_default(
  errs: &mut Vec<(String, String)>,
  prefix: &str,
  models: &[String],
  default: Option<&str>,
  ollama_names: bool,
) {
  let Some(d) = default else { return };
  if models.is_empty() {
    return;
  }
  let same = |a: &str, b: &str| {
    if ollama_names {
      match (ModelName::parse(a), ModelName::parse(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
      }
    } else {
      a == b
    }
  };
  if !models.iter().any(|m| same(m, d)) {
    errs.push((format!("{prefix}.defaultModel"), format!("one of {models:?} (got `{d}`)")));
  }
}

/// `true` for names usable as one path component: `[A-Za-z0-9._-]+`, not starting with `.`.
pub(super) fn is_safe_dir_name(s: &str) -> bool {
  !s.is_empty()
    && !s.starts_with('.')
    && s.len() <= 200
    && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn check_url(errs: &mut Vec<(String, String)>, key: &str, url: &str) {
  if let Err(why) = check_http_url(url) {
    errs
      .push((key.to_string(), format!("an http:// or https:// URL with a host ({why}: `{url}`)")));
  }
}

/// Checks that `url` is `http(s)://host[:port][/path]` without credentials.
pub(super) fn check_http_url(url: &str) -> Result<(), &'static str> {
  let rest = if let Some(r) = url.strip_prefix("http://") {
    r
  } else if let Some(r) = url.strip_prefix("https://") {
    r
  } else {
    return Err("scheme is not http or https");
  };
  let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
  if authority.contains('@') {
    return Err("credentials in the URL are not allowed; use the provider's secret fields");
  }
  if authority.is_empty() || authority.starts_with(':') {
    return Err("host is missing");
  }
  if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
    return Err("contains whitespace");
  }
  Ok(())
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn defaults_are_documented_values() {
    let c: AiConfig = serde_json::from_str(r#"{"providers":{"ollama":{}}}"#).unwrap();
    let o = c.providers.ollama.clone().unwrap();
    assert_eq!(o, OllamaProvider::default());
    assert!(o.enabled && !o.pull && !o.export);
    assert_eq!(o.url, "http://localhost:11434");
    assert_eq!((o.timeout_ms, o.retries), (30_000, 3));
    assert!(!c.required);
    assert!(c.custom_models.is_empty() && c.routing.is_empty() && c.features.is_empty());
    assert_eq!(serde_json::from_str::<AiConfig>("{}").unwrap(), AiConfig::default());
  }

  #[test]
  fn parses_full_config_with_generic_providers() {
    let c: AiConfig = serde_json::from_value(serde_json::json!({
      "providers": {
        "ollama": {"enabled": true, "url": "http://127.0.0.1:9", "models": ["llama3.2", "qwen:0.5b"],
                   "defaultModel": "llama3.2:latest", "timeoutMs": 500, "retries": 1, "pull": true, "export": true},
        "openai": {"apiKey": "sk-x", "models": ["gpt-4o"], "defaultModel": "gpt-4o", "baseUrl": "https://api.openai.com/v1"},
        "anthropic": {"enabled": false, "apiKey": "k", "models": [], "auth": {"clientSecret": "s"}}
      },
      "required": true,
      "customModels": [{"name": "bert", "type": "huggingface", "path": "models/bert"}],
      "routing": {"chat": "ollama"}, "features": {"streaming": true}
    }))
    .unwrap();
    assert!(c.validate().is_ok(), "{:?}", c.validate());
    let a = &c.providers.other["anthropic"];
    assert!(!a.enabled);
    assert_eq!(a.extra["apiKey"], "k");
    assert_eq!(c.custom_models[0].kind, CustomModelKind::Huggingface);
  }

  #[test]
  fn rejects_unknown_keys_in_fixed_sections() {
    let e = serde_json::from_str::<AiConfig>(r#"{"providers":{"ollama":{"urll":"x"}}}"#);
    assert!(e.unwrap_err().to_string().contains("urll"));
    let e = serde_json::from_str::<AiConfig>(r#"{"requird":true}"#);
    assert!(e.is_err());
    let e = serde_json::from_str::<AiConfig>(
      r#"{"customModels":[{"name":"a","type":"onnx","path":"p"}]}"#,
    );
    assert!(e.unwrap_err().to_string().contains("onnx"));
  }

  #[test]
  fn validate_reports_key_paths() {
    let c: AiConfig = serde_json::from_value(serde_json::json!({
      "providers": {
        "ollama": {"url": "ftp://x", "models": ["ok", "../evil", "ok:latest"], "defaultModel": "nope", "timeoutMs": 0},
        "openai": {"baseUrl": "https://user:pw@host/v1"},
        "azure": {"endpoint": "not a url"}
      },
      "customModels": [{"name": "../x", "type": "pytorch", "path": ""}, {"name": "a", "type": "pytorch", "path": "p"},
                       {"name": "a", "type": "pytorch", "path": "q"}]
    }))
    .unwrap();
    let errs = c.validate().unwrap_err();
    let keys: Vec<&str> = errs.iter().map(|(k, _)| k.as_str()).collect();
    for k in [
      "providers.ollama.url",
      "providers.ollama.timeoutMs",
      "providers.ollama.models[1]",
      "providers.ollama.models[2]",
      "providers.ollama.defaultModel",
      "providers.openai.baseUrl",
      "providers.azure.endpoint",
      "customModels[0].name",
      "customModels[0].path",
      "customModels[2].name",
    ] {
      assert!(keys.contains(&k), "missing {k} in {errs:?}");
    }
    let url_err = &errs.iter().find(|(k, _)| k == "providers.ollama.url").unwrap().1;
    assert!(url_err.contains("http://") && url_err.contains("ftp://x"), "{url_err}");
  }

  #[test]
  fn https_is_a_valid_config_value() {
    assert!(check_http_url("https://ollama.example.com").is_ok());
    assert!(check_http_url("http://[::1]:11434/").is_ok());
    assert!(check_http_url("http://").is_err());
    assert!(check_http_url("localhost:11434").is_err());
  }
}
