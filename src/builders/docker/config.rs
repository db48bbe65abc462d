//! `docker` section of the FARM build config and its resolution into a [`DeployContext`].
//!
//! ```json
//! "docker": {
//!   "build": true, "generateK8s": true,
//!   "baseImages": { "node": "node:20-slim", "python": "python:3.11-slim", "ollama": "ollama/ollama:0.12.0" },
//!   "registry": { "url": "ghcr.io", "namespace": "acme", "usernameEnv": "REGISTRY_USER", "passwordEnv": "REGISTRY_TOKEN" },
//!   "port": 8000, "environment": { "LOG_LEVEL": "info", "OPENAI_API_KEY": "${OPENAI_API_KEY}" },
//!   "resources": { "app": { "memoryLimit": "1Gi" } }
//! }
//! ```

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::builders::ai::export_index::ExportIndex;
use crate::builders::ai::store::ModelName;
use crate::config::{Database, PostgresConfig};
use crate::deploy::context::{
  ApiSpec, BakedModel, BaseImages, DatabaseSpec, DeployContext, FrontendSpec, MongoSpec,
  OllamaSpec, PostgresSpec, RegistryRef, ResourceSpec, Resources,
};
use crate::deploy::env::classify_env;

use super::toolchain::Toolchain;

fn yes() -> bool {
  true
}
fn default_port() -> u16 {
  8000
}
fn default_health() -> String {
  "/health".into()
}
fn default_replicas() -> u32 {
  1
}

/// The `docker` config section. Every field is optional; defaults are documented per field.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DockerConfig {
  /// Build images with the Docker engine (default `true`); `false` only writes the files.
  #[serde(default = "yes")]
  pub build: bool,
  /// Also write `k8s-manifests.yaml` and `deploy/deploy-k8s.sh` (default `false`).
  #[serde(default)]
  pub generate_k8s: bool,
  /// Build the Ollama image too when AI with Ollama is enabled (default `true`).
  #[serde(default = "yes")]
  pub build_ollama_image: bool,
  /// Base images; each defaults from the detected toolchain (`node:<LTS>-slim`,
  /// `python:<major.minor>-slim`, `ollama/ollama:<server version>`).
  #[serde(default)]
  pub base_images: BaseImagesConfig,
  /// Registry to push to (default: none, no push).
  #[serde(default)]
  pub registry: Option<RegistryConfig>,
  /// API port inside the container (default `8000`).
  #[serde(default = "default_port")]
  pub port: u16,
  /// Health endpoint (default `/health`).
  #[serde(default = "default_health")]
  pub health_path: String,
  /// App environment. Values that look like secrets, or whose keys are named like secrets, are
  /// written as `${KEY}` references; `"${VAR}"` references another variable (default empty).
  #[serde(default)]
  pub environment: BTreeMap<String, String>,
  /// Kubernetes requests/limits (defaults: app 250m/1 CPU, 256Mi/512Mi; MongoDB 250m/1,
  /// 512Mi/1Gi; Ollama 1/4, 4Gi/8Gi).
  #[serde(default)]
  pub resources: ResourcesConfig,
  /// App replicas in Kubernetes (default `1`).
  #[serde(default = "default_replicas")]
  pub replicas: u32,
  /// The database service beside the app in `docker-compose.yml` and the Kubernetes manifests:
  /// `mongo` (the default), `postgres` or `none`.
  #[serde(default)]
  pub database: Database,
  /// MongoDB settings (with `database: "mongo"`).
  #[serde(default)]
  pub mongo: MongoConfig,
  /// PostgreSQL settings (with `database: "postgres"`).
  #[serde(default)]
  pub postgres: PostgresConfig,
  /// Docker endpoint (`unix:///path` or `tcp://host:port`); default `$DOCKER_HOST`, else
  /// `unix:///var/run/docker.sock`.
  #[serde(default)]
  pub host: Option<String>,
  /// Also tag and push `:latest` (default `true`).
  #[serde(default = "yes")]
  pub tag_latest: bool,
  /// Always rebuild, ignoring the context hash and the engine's layer cache (default `false`).
  #[serde(default)]
  pub no_cache: bool,
  /// After building, run the production image (`--network none`), wait for its HEALTHCHECK to
  /// pass, then remove the container; a failing check fails the task (default `false`; needs
  /// `build: true`).
  #[serde(default)]
  pub smoke: bool,
  /// Image builder of the production image: `auto` (the default: BuildKit when the engine offers
  /// it, with a pip cache mount in the dependency install; else the classic builder), `buildkit`
  /// (an error when the engine cannot) or `classic` (no `RUN --mount`). With `build: false`,
  /// `auto` writes the classic Dockerfile (it builds everywhere).
  #[serde(default)]
  pub builder: BuilderChoice,
}

/// `docker.builder`: which image builder builds the production image (and which variant of the
/// production `Dockerfile` is written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BuilderChoice {
  /// BuildKit when the engine offers it (API >= 1.39 on Linux, and the BuildKit session works),
  /// else classic. The default.
  #[default]
  Auto,
  /// Always BuildKit; an engine without it is an error.
  #[serde(rename = "buildkit")]
  BuildKit,
  /// Always the classic builder.
  Classic,
}

impl BuilderChoice {
  /// The name as written in the config (`auto`, `buildkit`, `classic`).
  pub fn as_str(self) -> &'static str {
    match self {
      BuilderChoice::Auto => "auto",
      BuilderChoice::BuildKit => "buildkit",
      BuilderChoice::Classic => "classic",
    }
  }
}

impl Default for DockerConfig {
  fn default() -> Self {
    // Same values as deserializing `{}`.
    DockerConfig {
      build: true,
      generate_k8s: false,
      build_ollama_image: true,
      base_images: BaseImagesConfig::default(),
      registry: None,
      port: default_port(),
      health_path: default_health(),
      environment: BTreeMap::new(),
      resources: ResourcesConfig::default(),
      replicas: default_replicas(),
      database: Database::default(),
      mongo: MongoConfig::default(),
      postgres: PostgresConfig::default(),
      host: None,
      tag_latest: true,
      no_cache: false,
      smoke: false,
      builder: BuilderChoice::Auto,
    }
  }
}

/// Base image overrides (each `None` = from the toolchain).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BaseImagesConfig {
  /// Frontend build stage image.
  pub node: Option<String>,
  /// Backend/runtime image.
  pub python: Option<String>,
  /// Ollama image (`Dockerfile.ollama`'s `FROM`).
  pub ollama: Option<String>,
}

/// Registry to push images to; credentials come from environment variables.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistryConfig {
  /// Registry host[:port], no scheme (e.g. `ghcr.io`, `127.0.0.1:5000`).
  pub url: String,
  /// Env var holding the user name (default `FARM_REGISTRY_USER`).
  #[serde(default = "default_user_env")]
  pub username_env: String,
  /// Env var holding the password or token (default `FARM_REGISTRY_PASSWORD`).
  #[serde(default = "default_password_env")]
  pub password_env: String,
  /// Optional namespace/organisation.
  #[serde(default)]
  pub namespace: Option<String>,
}

fn default_user_env() -> String {
  "FARM_REGISTRY_USER".into()
}
fn default_password_env() -> String {
  "FARM_REGISTRY_PASSWORD".into()
}

/// Per-container overrides of requests/limits (Kubernetes quantities).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceSpecConfig {
  /// CPU request, e.g. `250m`.
  pub cpu_request: Option<String>,
  /// CPU limit, e.g. `1`.
  pub cpu_limit: Option<String>,
  /// Memory request, e.g. `256Mi`.
  pub memory_request: Option<String>,
  /// Memory limit, e.g. `512Mi`.
  pub memory_limit: Option<String>,
}

impl ResourceSpecConfig {
  fn resolve(&self, d: [&str; 4]) -> ResourceSpec {
    let pick = |o: &Option<String>, def: &str| o.clone().unwrap_or_else(|| def.to_string());
    ResourceSpec {
      cpu_request: pick(&self.cpu_request, d[0]),
      cpu_limit: pick(&self.cpu_limit, d[1]),
      memory_request: pick(&self.memory_request, d[2]),
      memory_limit: pick(&self.memory_limit, d[3]),
    }
  }
}

/// Requests/limits per service.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourcesConfig {
  /// The app.
  #[serde(default)]
  pub app: ResourceSpecConfig,
  /// MongoDB.
  #[serde(default)]
  pub mongodb: ResourceSpecConfig,
  /// PostgreSQL.
  #[serde(default)]
  pub postgres: ResourceSpecConfig,
  /// Ollama.
  #[serde(default)]
  pub ollama: ResourceSpecConfig,
}

/// MongoDB service settings.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MongoConfig {
  /// Image (default `mongo:7`).
  #[serde(default = "default_mongo_image")]
  pub image: String,
  /// Database name (default: the app name with `-` → `_`).
  #[serde(default)]
  pub database: Option<String>,
  /// Env var with the root user name at deploy time (default `MONGO_USERNAME`).
  #[serde(default = "default_mongo_user")]
  pub username_env: String,
  /// Env var with the root password at deploy time (default `MONGO_PASSWORD`).
  #[serde(default = "default_mongo_password")]
  pub password_env: String,
  /// Kubernetes volume size (default `5Gi`).
  #[serde(default = "default_mongo_storage")]
  pub storage: String,
}

fn default_mongo_image() -> String {
  "mongo:7".into()
}
fn default_mongo_user() -> String {
  "MONGO_USERNAME".into()
}
fn default_mongo_password() -> String {
  "MONGO_PASSWORD".into()
}
fn default_mongo_storage() -> String {
  "5Gi".into()
}

impl Default for MongoConfig {
  fn default() -> Self {
    MongoConfig {
      image: default_mongo_image(),
      database: None,
      username_env: default_mongo_user(),
      password_env: default_mongo_password(),
      storage: default_mongo_storage(),
    }
  }
}

/// What the rest of the build knows about the project (from the main config and other tasks).
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectInfo {
  /// App name (any form; sanitized for Docker/Kubernetes).
  pub app_name: String,
  /// Version used as image tag.
  pub version: String,
  /// Environment (`production`, ...).
  pub environment: String,
  /// Output directory relative to the project root.
  pub output_rel: String,
  /// Frontend package, if any.
  pub frontend: Option<FrontendSpec>,
  /// Backend.
  pub api: ApiSpec,
  /// Ollama models when AI with Ollama is enabled (`None` = no Ollama).
  pub ollama_models: Option<Vec<String>>,
  /// The ai-models task's export index (`<outputDir>/models/exported-models.json`), if any.
  pub ollama_export: Option<ExportIndex>,
  /// Detected toolchain.
  pub toolchain: Toolchain,
}

/// Makes a name valid for Docker repositories and Kubernetes (DNS-1035 label): lowercase
/// `[a-z][a-z0-9-]*`, at most 40 characters (`@farm/My App` → `farm-my-app`).
pub fn sanitize_app_name(name: &str) -> String {
  let mut out = String::new();
  for c in name.chars() {
    if c.is_ascii_alphanumeric() {
      out.push(c.to_ascii_lowercase());
    } else if !out.ends_with('-') && !out.is_empty() {
      out.push('-');
    }
  }
  let mut out = out.trim_matches('-').to_string();
  if !out.starts_with(|c: char| c.is_ascii_lowercase()) {
    out = format!("app-{out}");
  }
  out.truncate(40);
  out.trim_end_matches('-').to_string()
}

/// Image tag form of a version (`[A-Za-z0-9_.-]`, max 128, `+` → `-`).
pub fn sanitize_tag(version: &str) -> String {
  let t: String = version
    .chars()
    .map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '-' })
    .take(128)
    .collect();
  if t.is_empty() || t.starts_with(['.', '-']) {
    format!("v{t}")
  } else {
    t
  }
}

fn valid_env_name(n: &str) -> bool {
  !n.is_empty()
    && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    && !n.starts_with(|c: char| c.is_ascii_digit())
}

/// A Kubernetes quantity such as `250m`, `1`, `0.5`, `512Mi`, `1G`.
pub fn valid_quantity(q: &str) -> bool {
  const SUFFIXES: &[&str] =
    &["Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "m", "k", "M", "G", "T", "P", "E", ""];
  SUFFIXES.iter().any(|s| {
    q.strip_suffix(s).is_some_and(|num| {
      let mut parts = num.splitn(2, '.');
      let int = parts.next().unwrap_or("");
      let frac = parts.next();
      !int.is_empty()
        && int.chars().all(|c| c.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_digit()))
    })
  })
}

/// An image reference with an explicit tag or digest, no spaces, not `:latest`.
fn valid_pinned_image(r: &str) -> bool {
  if r.is_empty() || r.chars().any(char::is_whitespace) {
    return false;
  }
  if r.contains('@') {
    return true;
  }
  let last = r.rsplit('/').next().unwrap_or(r);
  match last.split_once(':') {
    Some((name, tag)) => !name.is_empty() && !tag.is_empty() && tag != "latest",
    None => false,
  }
}

impl DockerConfig {
  /// Checks values serde cannot; returns `(key path, expected)` pairs, empty when valid.
  pub fn validate(&self) -> Vec<(String, String)> {
    let mut errs = Vec::new();
    let mut err = |k: &str, e: &str| errs.push((format!("docker.{k}"), e.to_string()));
    if self.port == 0 {
      err("port", "a TCP port between 1 and 65535");
    }
    if !self.health_path.starts_with('/') || self.health_path.contains(char::is_whitespace) {
      err("healthPath", "an absolute URL path such as /health");
    }
    if self.replicas == 0 {
      err("replicas", "an integer >= 1");
    }
    for (k, v) in [
      ("node", &self.base_images.node),
      ("python", &self.base_images.python),
      ("ollama", &self.base_images.ollama),
    ] {
      if let Some(img) = v {
        if !valid_pinned_image(img) {
          err(
            &format!("baseImages.{k}"),
            "an image reference with an explicit tag other than latest, e.g. python:3.11-slim",
          );
        }
      }
    }
    if let Some(r) = &self.registry {
      if r.url.is_empty()
        || r.url.contains("://")
        || r.url.contains(char::is_whitespace)
        || r.url.ends_with('/')
      {
        err(
          "registry.url",
          "a registry host[:port] without scheme, e.g. ghcr.io or 127.0.0.1:5000",
        );
      }
      if !valid_env_name(&r.username_env) {
        err("registry.usernameEnv", "an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
      }
      if !valid_env_name(&r.password_env) {
        err("registry.passwordEnv", "an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
      }
      if let Some(ns) = &r.namespace {
        if ns.is_empty()
          || !ns.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c))
        {
          err("registry.namespace", "a lowercase repository namespace, e.g. my-org");
        }
      }
    }
    for k in self.environment.keys() {
      if !valid_env_name(k) {
        err(&format!("environment.{k}"), "a variable name matching [A-Za-z_][A-Za-z0-9_]*");
      }
    }
    for (svc, spec) in [
      ("app", &self.resources.app),
      ("mongodb", &self.resources.mongodb),
      ("postgres", &self.resources.postgres),
      ("ollama", &self.resources.ollama),
    ] {
      for (field, v) in [
        ("cpuRequest", &spec.cpu_request),
        ("cpuLimit", &spec.cpu_limit),
        ("memoryRequest", &spec.memory_request),
        ("memoryLimit", &spec.memory_limit),
      ] {
        if let Some(q) = v {
          if !valid_quantity(q) {
            err(
              &format!("resources.{svc}.{field}"),
              "a Kubernetes quantity such as 250m, 1, 512Mi or 2Gi",
            );
          }
        }
      }
    }
    if !valid_env_name(&self.mongo.username_env) {
      err("mongo.usernameEnv", "an environment variable name");
    }
    if !valid_env_name(&self.mongo.password_env) {
      err("mongo.passwordEnv", "an environment variable name");
    }
    if !valid_quantity(&self.mongo.storage) {
      err("mongo.storage", "a Kubernetes quantity such as 5Gi");
    }
    if self.mongo.image.is_empty() || self.mongo.image.contains(char::is_whitespace) {
      err("mongo.image", "an image reference such as mongo:7");
    }
    if let Some(db) = &self.mongo.database {
      if db.is_empty() || db.contains(['/', '\\', '.', ' ', '"', '$']) {
        err("mongo.database", "a MongoDB database name without / \\ . space \" $");
      }
    }
    if self.smoke && !self.build {
      err("smoke", "false when `build` is false (the smoke run starts the built image)");
    }
    if let Some(h) = &self.host {
      if !(h.starts_with("unix://") || h.starts_with("tcp://") || h.starts_with("http://")) {
        err("host", "unix:///path/to/docker.sock or tcp://host:port");
      }
    }
    errs.extend(self.postgres.validate(valid_env_name, valid_quantity));
    errs
  }

  /// Resolves the config and project facts into the generators' input: models listed in the
  /// export index are baked into the Ollama image, the other configured models are pulled.
  pub fn deploy_context(&self, project: &ProjectInfo) -> DeployContext {
    let app_name = sanitize_app_name(&project.app_name);
    let tc = &project.toolchain;
    let images = BaseImages {
      node: self.base_images.node.clone().unwrap_or_else(|| tc.node_image()),
      python: self.base_images.python.clone().unwrap_or_else(|| tc.python_image()),
      ollama: self.base_images.ollama.clone().unwrap_or_else(|| tc.ollama_image()),
    };
    let ollama = project.ollama_models.as_ref().map(|models| {
      let mut baked: Vec<BakedModel> = Vec::new();
      let mut pull_models = Vec::new();
      for m in models {
        match project.ollama_export.as_ref().and_then(|i| i.get(m)) {
          Some(e) if !baked.iter().any(|b| b.name == e.name) => baked.push(BakedModel {
            name: e.name.clone(),
            dir: e.dir.clone(),
            modelfile: e.modelfile.clone(),
          }),
          Some(_) => {}
          None => pull_models.push(m.clone()),
        }
      }
      OllamaSpec { models: models.clone(), baked, pull_models }
    });
    DeployContext {
      version: sanitize_tag(&project.version),
      environment: project.environment.clone(),
      output_rel: project.output_rel.trim_end_matches('/').to_string(),
      frontend: project.frontend.clone(),
      api: project.api.clone(),
      images,
      port: self.port,
      health_path: self.health_path.clone(),
      ollama,
      database: match self.database {
        Database::Mongo => DatabaseSpec::Mongo(MongoSpec {
          image: self.mongo.image.clone(),
          database: self.mongo.database.clone().unwrap_or_else(|| app_name.replace('-', "_")),
          username_env: self.mongo.username_env.clone(),
          password_env: self.mongo.password_env.clone(),
          storage: self.mongo.storage.clone(),
        }),
        Database::Postgres => DatabaseSpec::Postgres(PostgresSpec {
          image: self.postgres.image.clone(),
          database: self.postgres.database.clone().unwrap_or_else(|| app_name.replace('-', "_")),
          username_env: self.postgres.username_env.clone(),
          password_env: self.postgres.password_env.clone(),
          storage: self.postgres.storage.clone(),
          url_scheme: self.postgres.url_scheme.as_str().to_string(),
        }),
        Database::None => DatabaseSpec::None,
      },
      env: classify_env(&self.environment),
      resources: Resources {
        app: self.resources.app.resolve(["250m", "1", "256Mi", "512Mi"]),
        mongodb: self.resources.mongodb.resolve(["250m", "1", "512Mi", "1Gi"]),
        postgres: self.resources.postgres.resolve(["250m", "1", "256Mi", "1Gi"]),
        ollama: self.resources.ollama.resolve(["1", "4", "4Gi", "8Gi"]),
      },
      registry: self.registry.as_ref().map(|r| RegistryRef {
        url: r.url.clone(),
        namespace: r.namespace.clone(),
        username_env: r.username_env.clone(),
        password_env: r.password_env.clone(),
      }),
      replicas: self.replicas,
      app_name,
    }
  }
}

/// `llama3.1` → `llama3.1:latest`; `ns/m:t` unchanged (Ollama's short form; unparsable names are
/// returned as given).
pub fn normalize_model(m: &str) -> String {
  ModelName::parse(m).map(|n| n.short()).unwrap_or_else(|_| m.to_string())
}

#[cfg(test)]
mod tests {
  use super::*;

  fn parse(json: &str) -> Result<DockerConfig, serde_json::Error> {
    serde_json::from_str(json)
  }

  #[test]
  fn defaults_match_empty_object() {
    let c = parse("{}").unwrap();
    assert_eq!(c, DockerConfig::default());
    assert!(c.build && !c.generate_k8s && c.port == 8000 && c.health_path == "/health");
    assert!(c.validate().is_empty());
  }

  #[test]
  fn unknown_fields_rejected_and_camel_case() {
    let e = parse(r#"{"generateK8S": true}"#).unwrap_err();
    assert!(e.to_string().contains("unknown field"), "{e}");
    let c = parse(
      r#"{"generateK8s": true, "registry": {"url": "127.0.0.1:5000", "namespace": "farm"},
          "resources": {"app": {"memoryLimit": "1Gi"}}, "baseImages": {"python": "python:3.12-slim"}}"#,
    )
    .unwrap();
    assert!(c.generate_k8s);
    let r = c.registry.as_ref().unwrap();
    assert_eq!(
      (r.username_env.as_str(), r.password_env.as_str()),
      ("FARM_REGISTRY_USER", "FARM_REGISTRY_PASSWORD")
    );
    assert!(parse(r#"{"registry": {"url": "x", "user": "y"}}"#).is_err());
  }

  #[test]
  fn builder_is_auto_buildkit_or_classic() {
    assert_eq!(parse("{}").unwrap().builder, BuilderChoice::Auto);
    for (text, choice) in [
      ("auto", BuilderChoice::Auto),
      ("buildkit", BuilderChoice::BuildKit),
      ("classic", BuilderChoice::Classic),
    ] {
      let c = parse(&format!(r#"{{"builder": "{text}"}}"#)).unwrap();
      assert_eq!((c.builder, c.builder.as_str()), (choice, text));
    }
    let e = parse(r#"{"builder": "BuildKit"}"#).unwrap_err().to_string();
    assert!(e.contains("unknown variant") && e.contains("`buildkit`"), "{e}");
  }

  #[test]
  fn validate_reports_key_paths() {
    let c = parse(
      r#"{"port": 0, "healthPath": "health", "replicas": 0,
          "baseImages": {"node": "node", "python": "python:latest"},
          "registry": {"url": "https://ghcr.io", "usernameEnv": "1BAD"},
          "environment": {"BAD-NAME": "x"},
          "resources": {"app": {"cpuLimit": "lots"}},
          "mongo": {"storage": "5 GB"}, "host": "/var/run/docker.sock"}"#,
    )
    .unwrap();
    let keys: Vec<String> = c.validate().into_iter().map(|(k, _)| k).collect();
    for k in [
      "docker.port",
      "docker.healthPath",
      "docker.replicas",
      "docker.baseImages.node",
      "docker.baseImages.python",
      "docker.registry.url",
      "docker.registry.usernameEnv",
      "docker.environment.BAD-NAME",
      "docker.resources.app.cpuLimit",
      "docker.mongo.storage",
      "docker.host",
    ] {
      assert!(keys.contains(&k.to_string()), "{k} missing in {keys:?}");
    }
    assert_eq!(keys.len(), 11, "{keys:?}");
  }

  #[test]
  fn quantities_and_names() {
    for q in ["250m", "1", "0.5", "512Mi", "2Gi", "1G"] {
      assert!(valid_quantity(q), "{q}");
    }
    for q in ["", "m", "1.", "lots", "5 GB", "-1"] {
      assert!(!valid_quantity(q), "{q}");
    }
    assert_eq!(sanitize_app_name("@farm/My App_v2"), "farm-my-app-v2");
    assert_eq!(sanitize_app_name("123"), "app-123");
    assert_eq!(sanitize_tag("1.0.0+build.5"), "1.0.0-build.5");
    assert_eq!(sanitize_tag("-x"), "v-x");
  }

  fn project(export: Option<ExportIndex>) -> ProjectInfo {
    ProjectInfo {
      app_name: "@acme/Shop".into(),
      version: "2.0.0".into(),
      environment: "production".into(),
      output_rel: "dist/docker/".into(),
      frontend: None,
      api: ApiSpec {
        dir_rel: "apps/api".into(),
        app: "main:app".into(),
        deps: crate::deploy::context::PythonDeps::None,
        out_rel: "api".into(),
      },
      ollama_models: Some(vec!["llama3.1".into(), "acme/tiny:q4".into()]),
      ollama_export: export,
      toolchain: Toolchain {
        node_major: Some(23),
        python: Some((3, 11)),
        ollama_version: Some("0.5.1".into()),
      },
    }
  }

  #[test]
  fn deploy_context_resolution() {
    use crate::builders::ai::export_index::{IndexedModel, INDEX_VERSION};
    let index = ExportIndex {
      version: INDEX_VERSION,
      models: vec![IndexedModel {
        name: "llama3.1:latest".into(),
        dir: "llama3.1-latest".into(),
        modelfile: "llama3.1-latest/Modelfile".into(),
        manifest_digest: "0".repeat(64),
        files: vec![],
      }],
    };
    let c = parse(
      r#"{"environment": {"LOG_LEVEL": "info", "STRIPE_SECRET": "sk_live_abcdefghijklmnop"},
          "baseImages": {"python": "python:3.12-slim"}}"#,
    )
    .unwrap();
    let ctx = c.deploy_context(&project(Some(index)));
    assert_eq!(ctx.app_name, "acme-shop");
    assert_eq!(ctx.output_rel, "dist/docker");
    assert_eq!(ctx.images.node, "node:22-slim");
    assert_eq!(ctx.images.python, "python:3.12-slim");
    assert_eq!(ctx.images.ollama, "ollama/ollama:0.5.1");
    assert!(matches!(&ctx.database, DatabaseSpec::Mongo(m) if m.database == "acme_shop"));
    let o = ctx.ollama.unwrap();
    assert_eq!(
      o.baked,
      vec![BakedModel {
        name: "llama3.1:latest".into(),
        dir: "llama3.1-latest".into(),
        modelfile: "llama3.1-latest/Modelfile".into()
      }]
    );
    assert_eq!(o.pull_models, vec!["acme/tiny:q4".to_string()]);
    assert!(ctx.env.iter().find(|e| e.name == "STRIPE_SECRET").unwrap().is_secret());
    assert!(!ctx.env.iter().find(|e| e.name == "LOG_LEVEL").unwrap().is_secret());
    // No export index: everything is pulled.
    let ctx = c.deploy_context(&project(None));
    assert_eq!(ctx.ollama.unwrap().pull_models.len(), 2);
  }

  #[test]
  fn smoke_needs_build() {
    let c = parse(r#"{"build": false, "smoke": true}"#).unwrap();
    assert_eq!(c.validate()[0].0, "docker.smoke");
    assert!(parse(r#"{"smoke": true}"#).unwrap().validate().is_empty());
  }

  #[test]
  fn model_names() {
    assert_eq!(normalize_model("llama3.1"), "llama3.1:latest");
    assert_eq!(normalize_model("host:5000/ns/m"), "host:5000/ns/m:latest");
    assert_eq!(normalize_model("m:7b"), "m:7b");
  }
}
