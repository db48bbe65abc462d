//! The project configuration (`farm.config.{ts,mjs,js,json}`): its schema, defaults and validation.
//!
//! The file is loaded on the JavaScript side (TypeScript through Vite's config loader); what reaches
//! Rust is its JSON value. [`FarmConfig::from_json`] checks it strictly: an unknown key, a wrong type or
//! a bad value is a [`ConfigError`] naming the file, the key path, what is expected and how to fix it.

pub mod database;
pub mod schema;
mod suggest;

pub use database::{Database, PostgresConfig, PostgresScheme};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

/// The environment a build targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
  /// Minified, no source maps. The default.
  #[default]
  Production,
  /// Source maps, no minification.
  Development,
  /// Like production, with source maps.
  Staging,
}

impl Environment {
  /// The name as written in the config (`production`, `development`, `staging`).
  pub fn as_str(self) -> &'static str {
    match self {
      Environment::Production => "production",
      Environment::Development => "development",
      Environment::Staging => "staging",
    }
  }

  /// Parses a name; `None` if it is not one of the three.
  pub fn parse(s: &str) -> Option<Self> {
    match s {
      "production" | "prod" => Some(Environment::Production),
      "development" | "dev" => Some(Environment::Development),
      "staging" => Some(Environment::Staging),
      _ => None,
    }
  }
}

impl fmt::Display for Environment {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str(self.as_str())
  }
}

/// The whole project configuration, after defaults.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FarmConfig {
  /// The JSON Schema of the file (`farm.config.json` only), e.g.
  /// `"./node_modules/@farm/build-native/farm.config.schema.json"`. Ignored by the build.
  #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
  pub schema: Option<String>,
  /// The application's name: lowercase letters, digits, `-`, `_`, `.` (it names Docker images).
  #[schemars(length(min = 1, max = 128), pattern(r"^[a-z0-9][a-z0-9._-]*$"))]
  pub app_name: String,
  /// The application's version. Default `"0.0.0"`.
  #[serde(default = "default_version")]
  pub version: String,
  /// The target environment. Default `production`.
  #[serde(default)]
  pub environment: Environment,
  /// Where build outputs go, relative to the project root. Default `"dist"`.
  #[serde(default = "default_output_dir")]
  pub output_dir: String,
  /// Where the build cache lives, relative to the project root. Default `".farm/cache"`.
  #[serde(default = "default_cache_dir")]
  pub cache_dir: String,
  /// Options of the build as a whole.
  #[serde(default)]
  pub build: BuildOptions,
  /// The React/Vite frontend. Absent: no frontend tasks.
  #[serde(default)]
  pub frontend: Option<FrontendConfig>,
  /// The FastAPI backend. Absent: no backend tasks.
  #[serde(default)]
  pub backend: Option<BackendConfig>,
  /// AI models: Ollama models (configs, pulls, exports), custom models, `ai-config.json`.
  /// Absent: no `ai-models` task.
  #[serde(default)]
  pub ai: Option<crate::builders::ai::config::AiConfig>,
  /// Docker images (built through the Engine API) and deployment files (compose, Kubernetes,
  /// scripts). Absent: no `docker` task.
  #[serde(default)]
  pub docker: Option<crate::builders::docker::DockerConfig>,
  /// FARM plugins: names, or `{ name, options, enabled }`. Hook functions are passed separately by JS.
  #[serde(default)]
  pub plugins: Vec<PluginSpec>,
  /// The build cache.
  #[serde(default)]
  pub cache: CacheConfig,
  /// Extra tasks that run a shell command (like Turborepo's tasks), by name.
  #[serde(default)]
  pub tasks: BTreeMap<String, CommandTask>,
}

/// The build cache (`cache` in the config).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CacheConfig {
  /// Use the cache. Default `true` (`--no-cache` turns it off for one build).
  #[serde(default = "yes")]
  pub enabled: bool,
  /// Entries unused for longer are evicted: `"7d"`, `"12h"`, `"30m"`. Default `"7d"`.
  #[serde(default = "default_ttl")]
  pub ttl: String,
  /// Size cap; past it the least recently used entries go (down to 80 %). Default `"5GiB"`.
  #[serde(default = "default_max_size")]
  pub max_size: String,
  /// How outputs are restored: `auto` (reflink, else copy), `reflink`, `hardlink`, `copy`.
  #[serde(default = "default_restore")]
  #[schemars(with = "RestoreMode")]
  pub restore: String,
  /// Input globs per task, replacing the defaults (relative to the task's directory).
  #[serde(default)]
  pub inputs: BTreeMap<String, Vec<String>>,
  /// Environment variables per task that enter its key (only these; values are hashed).
  #[serde(default)]
  pub env: BTreeMap<String, Vec<String>>,
  /// A remote cache shared by a team and CI (see the README's "Remote cache"). The env vars
  /// `FARM_REMOTE_CACHE_URL`, `FARM_REMOTE_CACHE_TEAM` and `FARM_REMOTE_CACHE_READ_ONLY=1`
  /// override it; secrets come only from env vars.
  #[serde(default)]
  pub remote: Option<RemoteCacheConfig>,
}

/// `cache.remote`: where the shared cache lives and what this machine may do with it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemoteCacheConfig {
  /// A Turborepo remote cache API server (`http://host:port` or `https://…`, the `/v8/artifacts` API), e.g. the
  /// open-source `turborepo-remote-cache`. Give this or `bucket`.
  pub url: Option<String>,
  /// An S3-compatible bucket (AWS S3, MinIO, SeaweedFS, GCS through its XML API). Credentials
  /// come from the standard AWS env vars (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
  /// `AWS_SESSION_TOKEN`). Or an Azure Blob Storage container, `"az://<container>"`, with the
  /// account and its credentials from the `AZURE_STORAGE_*` env vars (`AZURE_STORAGE_ACCOUNT_NAME`,
  /// `AZURE_STORAGE_ACCOUNT_KEY`).
  pub bucket: Option<String>,
  /// The S3 endpoint (`http://127.0.0.1:8333` for a local SeaweedFS or MinIO, or `https://…`). Default: AWS
  /// (`AWS_ENDPOINT_URL` when set). For Azure, the account's blob endpoint (Azurite:
  /// `http://127.0.0.1:10000/devstoreaccount1`); default `https://<account>.blob.core.windows.net`.
  pub endpoint: Option<String>,
  /// The S3 region. Default: `AWS_REGION`, else `us-east-1`.
  pub region: Option<String>,
  /// Key prefix of the artifacts in the bucket. Default `"farm-cache"`.
  pub prefix: Option<String>,
  /// The team: Turborepo's `teamId` (or `slug` when it does not start with `team_`); part of what
  /// is signed.
  pub team: Option<String>,
  /// The env var holding the bearer token. Default `FARM_REMOTE_CACHE_TOKEN`.
  pub token_env: Option<String>,
  /// The env var holding the signature key. When that var is set, uploads are signed and
  /// downloads without a valid signature are refused.
  pub signature_key_env: Option<String>,
  /// Download entries missing locally. Default `true`.
  #[serde(default = "yes")]
  pub read: bool,
  /// Upload entries built here. Default `true`; set `false` (or `FARM_REMOTE_CACHE_READ_ONLY=1`)
  /// wherever untrusted code builds, such as pull requests.
  #[serde(default = "yes")]
  pub write: bool,
  /// Time limit of one request, ms (1 to 600000). Default 10000.
  pub timeout_ms: Option<u64>,
}

impl Default for CacheConfig {
  fn default() -> Self {
    CacheConfig {
      enabled: true,
      ttl: default_ttl(),
      max_size: default_max_size(),
      restore: default_restore(),
      inputs: BTreeMap::new(),
      env: BTreeMap::new(),
      remote: None,
    }
  }
}

fn default_ttl() -> String {
  "7d".into()
}
fn default_max_size() -> String {
  "5GiB".into()
}
fn default_restore() -> String {
  "auto".into()
}

/// How cached outputs are restored (`cache.restore`; the schema of that string).
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum RestoreMode {
  /// A reflink (copy-on-write clone) where the filesystem can, else a copy. The default.
  Auto,
  /// Reflinks only.
  Reflink,
  /// Hard links to the cache's blobs.
  Hardlink,
  /// Plain copies.
  Copy,
}

/// A task that runs a shell command (`tasks.<name>` in the config).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommandTask {
  /// The command, run with `sh -c` in `cwd`.
  pub command: String,
  /// Working directory, relative to the project root. Default `"."`.
  #[serde(default = "default_cwd")]
  pub cwd: String,
  /// Input globs relative to `cwd` (`!glob` excludes). Default `["**"]`.
  #[serde(default = "default_inputs")]
  pub inputs: Vec<String>,
  /// Output directories relative to `cwd` (`dist` or `dist/**`): cached and restored.
  #[serde(default)]
  pub outputs: Vec<String>,
  /// Environment variables that enter the key (values are hashed, never stored).
  #[serde(default)]
  pub env: Vec<String>,
  /// Tasks that must succeed first (any task name, built-in or not).
  #[serde(default)]
  pub depends_on: Vec<String>,
  /// Cache this task. Default `true`.
  #[serde(default = "yes")]
  pub cache: bool,
}

fn default_cwd() -> String {
  ".".into()
}
fn default_inputs() -> Vec<String> {
  vec!["**".into()]
}

/// Parses a duration like `7d`, `12h`, `30m`, `45s` (also `3d12h`) into seconds.
pub fn parse_duration(s: &str) -> Option<u64> {
  let mut total = 0u64;
  let mut num = String::new();
  let mut any = false;
  for c in s.trim().chars() {
    if c.is_ascii_digit() {
      num.push(c);
      continue;
    }
    let n: u64 = num.parse().ok()?;
    num.clear();
    let mult = match c {
      'w' => 604_800,
      'd' => 86_400,
      'h' => 3_600,
      'm' => 60,
      's' => 1,
      _ => return None,
    };
    total = total.checked_add(n.checked_mul(mult)?)?;
    any = true;
  }
  if !num.is_empty() || !any {
    return None;
  }
  Some(total)
}

/// Parses a size like `5GiB`, `500MB`, `1G`, `300KB`, `1024` (bytes) into bytes (K/M/G = 1024-based).
pub fn parse_size(s: &str) -> Option<u64> {
  let t = s.trim();
  let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
  let (n, unit) = t.split_at(split);
  let n: f64 = n.parse().ok()?;
  let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
    "" | "b" => 1.0,
    "k" | "kb" | "kib" => 1024.0,
    "m" | "mb" | "mib" => 1024.0 * 1024.0,
    "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
    "t" | "tb" | "tib" => 1024.0_f64.powi(4),
    _ => return None,
  };
  (n >= 0.0 && n.is_finite()).then(|| (n * mult) as u64)
}

/// Options of the build as a whole (`build` in the config).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "BuildSettings")] // `BuildOptions` in TypeScript is `build()`'s options.
pub struct BuildOptions {
  /// Tasks run at once (1 to 256). Default: the number of CPU cores.
  #[schemars(range(min = 1, max = 256))]
  pub concurrency: Option<u32>,
  /// Keep running tasks that do not depend on a failed one. Default `false` (fail fast).
  #[serde(default)]
  pub continue_on_error: bool,
  /// Delete `outputDir` before building. Default `true`.
  pub clean: Option<bool>,
  /// Where `farm build --upload` stores the build's files and `build-manifest.json`
  /// (`<prefix>/<buildId>/…`). With this set every successful build uploads. Default: the store
  /// of `cache.remote` when `--upload` is given.
  #[serde(default)]
  pub upload: Option<UploadConfig>,
}

/// `build.upload`: a store for the build's output files (same kinds of stores as `cache.remote`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UploadConfig {
  /// A Turborepo remote cache API server (`http://host:port` or `https://…`); each file is the artifact
  /// `<prefix>/<buildId>/<path>`. Give this or `bucket`.
  pub url: Option<String>,
  /// An S3-compatible bucket; credentials from the standard AWS env vars. Or an Azure Blob
  /// Storage container, `"az://<container>"` (credentials from the `AZURE_STORAGE_*` env vars).
  pub bucket: Option<String>,
  /// The S3 endpoint (MinIO, SeaweedFS), or the Azure account's blob endpoint. Default: AWS
  /// (Azure: `https://<account>.blob.core.windows.net`).
  pub endpoint: Option<String>,
  /// The S3 region. Default: `AWS_REGION`, else `us-east-1`.
  pub region: Option<String>,
  /// Key prefix. Default `"builds"`.
  pub prefix: Option<String>,
  /// The team (Turborepo API). Default: `cache.remote.team`, else `farm`.
  pub team: Option<String>,
  /// The env var holding the bearer token (Turborepo API). Default `FARM_REMOTE_CACHE_TOKEN`.
  pub token_env: Option<String>,
  /// Time limit of each request, ms (1 to 600000). Default 60000.
  pub timeout_ms: Option<u64>,
}

impl UploadConfig {
  /// The same fields as a remote cache config, for validation and store set-up.
  pub fn as_remote(&self) -> RemoteCacheConfig {
    RemoteCacheConfig {
      url: self.url.clone(),
      bucket: self.bucket.clone(),
      endpoint: self.endpoint.clone(),
      region: self.region.clone(),
      prefix: self.prefix.clone(),
      team: self.team.clone(),
      token_env: self.token_env.clone(),
      signature_key_env: None,
      read: false,
      write: true,
      timeout_ms: self.timeout_ms,
    }
  }
}

/// The frontend section (`frontend` in the config).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FrontendConfig {
  /// The Vite app's directory, relative to the project root. Default `"apps/web"`.
  #[serde(default = "default_web_root")]
  pub root: String,
  /// Output directory inside `outputDir`. Default `"web"`.
  #[serde(default = "default_web_out")]
  pub out_dir: String,
  /// Run `tsc --noEmit` as its own task, in parallel with the Vite build. Default: `true` when the
  /// app has a `tsconfig.json`.
  pub typecheck: Option<bool>,
  /// Public base path (Vite's `base`). Default: the user's `vite.config`, else `/`.
  pub base: Option<String>,
  /// Source maps. Default: on except in production.
  pub sourcemap: Option<bool>,
  /// Minification. Default: on in production and staging.
  pub minify: Option<bool>,
  /// Vendor chunk groups: chunk name → package names. Default: `react-vendor` (react, react-dom,
  /// scheduler), `router-vendor` (react-router, react-router-dom), `ui-vendor`, `utils-vendor`.
  pub chunks: Option<BTreeMap<String, Vec<String>>>,
  /// Extra compile-time constants (Vite's `define`), as JSON values.
  #[serde(default)]
  pub define: BTreeMap<String, serde_json::Value>,
  /// Size budgets that fail the build: `{ total?, chunk?, chunks?: { name: size }, measure? }`
  /// (gzip sizes by default; see `assets::budget`).
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub budgets: Option<crate::assets::budget::Budgets>,
}

/// The backend section (`backend` in the config).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackendConfig {
  /// The FastAPI app's directory, relative to the project root. Default `"apps/api"`.
  #[serde(default = "default_api_root")]
  pub root: String,
  /// Output directory inside `outputDir`. Default `"api"`.
  #[serde(default = "default_api_out")]
  pub out_dir: String,
  /// The Python interpreter. Default: `.venv/bin/python` in the project root or the backend root,
  /// else `python3` on `PATH`.
  pub python: Option<String>,
  /// The ASGI app as `module:attribute`, relative to `root`. Default `"main:app"`.
  #[serde(default = "default_api_app")]
  pub app: String,
  /// Generate TypeScript types from the app's OpenAPI document (the `types` task, between backend
  /// and frontend). Default: `true` when there is a `frontend` section.
  pub generate_types: Option<bool>,
  /// Where the generated types go, relative to the project root.
  /// Default: `<frontend.root>/src/types/api.ts`.
  pub types_file: Option<String>,
  /// Extra globs (relative to `root`) left out of the output copy, on top of the built-in ones
  /// (`__pycache__`, `.pytest_cache`, `tests/`, `test_*.py`, `*_test.py`, `conftest.py`, venvs, `.env*`).
  #[serde(default)]
  pub exclude: Vec<String>,
  /// Build a production virtualenv with the requirements installed, placed at `<outDir>/.venv`.
  /// It is built once per requirements content (+ Python, installer) under
  /// `<cacheDir>/venvs/<key>` and reused while they do not change.
  /// Default: `true` when the requirements file exists.
  pub venv: Option<bool>,
  /// The requirements file, relative to `root`. Default: `requirements.txt` when it exists, else
  /// `pyproject.toml`'s `[project.dependencies]` (pinned by `uv.lock` when there is one).
  pub requirements: Option<String>,
  /// `[project.optional-dependencies]` groups of `pyproject.toml` installed with the
  /// dependencies, e.g. `["prod"]`. Default: none.
  #[serde(default, skip_serializing_if = "Vec::is_empty")]
  pub extras: Vec<String>,
  /// Environment variables for the import check, the OpenAPI export and migrations: literal
  /// values, or `${VAR}` / `${VAR:-default}` references to the process environment (or to
  /// `envFile`). Values enter task keys only as digests and are redacted from logs.
  #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
  pub env: BTreeMap<String, String>,
  /// A dotenv file (python-dotenv syntax) read for the same steps, relative to `root`, e.g.
  /// `"../.env"`. Variables already set in the process environment win over it (as with
  /// pydantic-settings); `env` wins over both. A missing file (CI, where `.env` is not
  /// committed) leaves the process environment alone; the build log says so.
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub env_file: Option<String>,
  /// Who installs the requirements: `pip`, `uv`, or `auto` (uv when it is on `PATH`, else pip).
  /// Default `auto`.
  pub installer: Option<PythonInstaller>,
  /// A migration command run after the build (e.g. `"alembic upgrade head"`), through `sh -c`,
  /// in the output copy (`<outputDir>/<outDir>`, never the user's sources) with the production
  /// venv's `bin` first on `PATH`. Default: none.
  pub migrate: Option<String>,
  /// Fail the task when the migration command fails; `false` turns it into a warning. Default `true`.
  pub fail_on_migration_error: Option<bool>,
  /// Remove unused imports and sort imports with ruff (`ruff check --select F401,I --fix`) in the
  /// output copy only. Default: `true` when ruff is available (`python -m ruff` or `ruff` on
  /// `PATH`); `true` without ruff is an error.
  pub tidy_imports: Option<bool>,
}

/// Who installs the backend's requirements (`backend.installer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PythonInstaller {
  /// uv when it is on `PATH`, else pip. The default.
  #[default]
  Auto,
  /// `python -m venv` and `pip install -r`.
  Pip,
  /// `uv venv` and `uv pip install -r` (an error when uv is missing).
  Uv,
}

/// A plugin entry: a name, or an object with a name.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PluginSpec {
  /// Just the plugin's name.
  Name(String),
  /// A plugin with options.
  Full(PluginObject),
}

/// A plugin given as an object.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginObject {
  /// The plugin's name.
  pub name: String,
  /// Options handed to the plugin at runtime (`plugin-config.json`).
  #[serde(default)]
  pub options: serde_json::Value,
  /// Whether it is on. Default `true`.
  #[serde(default = "yes")]
  pub enabled: bool,
}

impl PluginSpec {
  /// The plugin's name.
  pub fn name(&self) -> &str {
    match self {
      PluginSpec::Name(n) => n,
      PluginSpec::Full(p) => &p.name,
    }
  }

  /// Whether the plugin is enabled.
  pub fn enabled(&self) -> bool {
    match self {
      PluginSpec::Name(_) => true,
      PluginSpec::Full(p) => p.enabled,
    }
  }
}

impl RemoteCacheConfig {
  /// Checks the remote cache settings at `at` (`cache.remote`) of `file`.
  pub fn validate(&self, at: &str, file: &str) -> Result<(), ConfigError> {
    let err = |field: &str, message: String, fix: &str| ConfigError {
      file: file.into(),
      path: format!("{at}.{field}"),
      message,
      fix: fix.into(),
    };
    if self.url.is_some() && self.bucket.is_some() {
      return Err(err(
        "url",
        "both `url` and `bucket` are set; a remote cache is one or the other".into(),
        "keep `url` for a Turborepo-API server, or `bucket` (with `endpoint`) for an S3-compatible store",
      ));
    }
    if let Some(u) = &self.url {
      check_http_url(u).map_err(|(m, fix)| err("url", m, fix))?;
    }
    if let Some(u) = &self.endpoint {
      check_http_url(u).map_err(|(m, fix)| err("endpoint", m, fix))?;
    }
    if let Some(c) = self.bucket.as_deref().and_then(|b| b.strip_prefix("az://")) {
      // Azure container names: 3 to 63 lowercase letters, digits and single inner `-`.
      let ok = (3..=63).contains(&c.len())
        && c.bytes().all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || x == b'-')
        && !c.starts_with('-')
        && !c.ends_with('-')
        && !c.contains("--");
      if !ok {
        return Err(err(
          "bucket",
          format!("{c:?} is not an Azure container name: expected 3 to 63 lowercase letters, digits or single inner `-`"),
          "write \"az://<container>\", e.g. \"az://farm-cache\"",
        ));
      }
    } else if let Some(b) = &self.bucket {
      let ok = (3..=63).contains(&b.len())
        && b
          .bytes()
          .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.');
      if !ok {
        return Err(err(
          "bucket",
          format!(
            "{b:?} is not a bucket name: expected 3 to 63 lowercase letters, digits, `-` or `.`"
          ),
          "use the bucket's name, e.g. \"farm-cache\"",
        ));
      }
    }
    if let Some(p) = &self.prefix {
      if p.is_empty()
        || p.starts_with('/')
        || p.split('/').any(|c| c.is_empty() || c == "." || c == "..")
      {
        return Err(err(
          "prefix",
          format!("{p:?} is not a key prefix: expected `/`-separated names without `.`/`..` or empty parts"),
          "use e.g. \"farm-cache\" or \"ci/farm\"",
        ));
      }
    }
    for (field, v) in [("tokenEnv", &self.token_env), ("signatureKeyEnv", &self.signature_key_env)]
    {
      if let Some(name) = v {
        if !is_env_name(name) {
          return Err(err(
            field,
            format!("{name:?} is not an environment variable name; this field names the variable that holds the secret, never the secret itself"),
            "write the variable's name, e.g. \"FARM_REMOTE_CACHE_TOKEN\", and set the secret in that variable",
          ));
        }
      }
    }
    if let Some(t) = self.timeout_ms {
      if t == 0 || t > 600_000 {
        return Err(err(
          "timeoutMs",
          format!("{t} is out of range: expected 1 to 600000 ms"),
          "remove it for the default of 10000 ms",
        ));
      }
    }
    Ok(())
  }
}

/// An `http(s)://host[:port][/path]` URL without credentials (https through rustls, see
/// `cache::remote::tls`).
pub(crate) fn check_http_url(u: &str) -> Result<(), (String, &'static str)> {
  let Some(rest) = u.strip_prefix("http://").or_else(|| u.strip_prefix("https://")) else {
    return Err((
      format!("{u:?} is not an http:// or https:// URL"),
      "write e.g. \"https://cache.example.com\" or \"http://127.0.0.1:3000\"",
    ));
  };
  let authority = rest.split('/').next().unwrap_or("");
  if authority.contains('@') {
    return Err((
      format!("{u:?} holds credentials; secrets never go in config files"),
      "remove `user:password@` and put the token in the env var named by `tokenEnv`",
    ));
  }
  if authority.is_empty() {
    return Err((format!("{u:?} has no host"), "write e.g. \"http://127.0.0.1:3000\""));
  }
  Ok(())
}

fn yes() -> bool {
  true
}
fn default_version() -> String {
  "0.0.0".into()
}
fn default_output_dir() -> String {
  "dist".into()
}
fn default_cache_dir() -> String {
  ".farm/cache".into()
}
fn default_web_root() -> String {
  "apps/web".into()
}
fn default_web_out() -> String {
  "web".into()
}
fn default_api_root() -> String {
  "apps/api".into()
}
fn default_api_out() -> String {
  "api".into()
}
fn default_api_app() -> String {
  "main:app".into()
}

/// A configuration error: where it is, what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
  /// The config file (or `<inline config>`).
  pub file: String,
  /// The key path, e.g. `frontend.sourcemap` or `plugins[1].name`; empty for the whole document.
  pub path: String,
  /// What is wrong and what is expected.
  pub message: String,
  /// How to fix it.
  pub fix: String,
}

impl fmt::Display for ConfigError {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if self.path.is_empty() {
      write!(f, "{}: {}", self.file, self.message)?;
    } else {
      write!(f, "{}: `{}`: {}", self.file, self.path, self.message)?;
    }
    if !self.fix.is_empty() {
      write!(f, ". Fix: {}", self.fix)?;
    }
    Ok(())
  }
}

impl std::error::Error for ConfigError {}

impl FarmConfig {
  /// Parses and validates a configuration from its JSON value; `file` names it in errors.
  pub fn from_json(value: serde_json::Value, file: &str) -> Result<Self, ConfigError> {
    if !value.is_object() {
      return Err(ConfigError {
        file: file.into(),
        path: String::new(),
        message: format!("the config must be an object, found {}", json_kind(&value)),
        fix: "export an object, e.g. `export default { appName: 'my-app' }`".into(),
      });
    }
    let cfg: FarmConfig =
      serde_path_to_error::deserialize(&value).map_err(|e| serde_error(e, &value, file))?;
    cfg.validate(file)?;
    Ok(cfg)
  }

  /// Checks values that the types alone do not: names, relative paths, ranges.
  fn validate(&self, file: &str) -> Result<(), ConfigError> {
    let err = |path: &str, message: String, fix: &str| ConfigError {
      file: file.into(),
      path: path.into(),
      message,
      fix: fix.into(),
    };
    let name_ok = !self.app_name.is_empty()
      && self.app_name.len() <= 128
      && self.app_name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
      && self
        .app_name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    if !name_ok {
      return Err(err(
        "appName",
        format!("{:?} is not a valid app name: expected lowercase letters, digits, `-`, `_` or `.`, starting with a letter or digit", self.app_name),
        "use a name like \"my-farm-app\" (it also names the Docker images)",
      ));
    }
    let version_ok = !self.version.is_empty()
      && self.version.len() <= 128
      && self
        .version
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'));
    if !version_ok {
      return Err(err(
        "version",
        format!(
          "{:?} is not a valid version: expected letters, digits, `.`, `-`, `_`, `+`",
          self.version
        ),
        "use a version like \"1.2.3\" (it tags the Docker images)",
      ));
    }
    check_relative(&self.output_dir, "outputDir", file)?;
    check_relative(&self.cache_dir, "cacheDir", file)?;
    if let Some(r) = &self.cache.remote {
      r.validate("cache.remote", file)?;
    }
    if let Some(u) = &self.build.upload {
      u.as_remote().validate("build.upload", file)?;
      if u.url.is_none() && u.bucket.is_none() {
        return Err(ConfigError {
          file: file.into(),
          path: "build.upload".into(),
          message: "needs `url` (a Turborepo-API server) or `bucket` (S3-compatible)".into(),
          fix: "add `bucket: \"my-builds\"` (with `endpoint` for MinIO/SeaweedFS) or `url`".into(),
        });
      }
    }
    if Path::new(&self.output_dir).components().all(|c| matches!(c, Component::CurDir)) {
      return Err(err(
        "outputDir",
        "must not be the project root itself (it is deleted before each build)".into(),
        "use a directory such as \"dist\"",
      ));
    }
    if let Some(c) = self.build.concurrency {
      if c == 0 || c > 256 {
        return Err(err(
          "build.concurrency",
          format!("{c} is out of range: expected a whole number from 1 to 256"),
          "remove it to use the number of CPU cores",
        ));
      }
    }
    if let Some(fe) = &self.frontend {
      check_relative(&fe.root, "frontend.root", file)?;
      check_relative(&fe.out_dir, "frontend.outDir", file)?;
      if let Some(chunks) = &fe.chunks {
        for (name, pkgs) in chunks {
          if name.is_empty() || pkgs.is_empty() {
            return Err(err(
              &format!("frontend.chunks.{name}"),
              "a chunk group needs a name and at least one package".into(),
              "write e.g. `chunks: { 'react-vendor': ['react', 'react-dom'] }`",
            ));
          }
        }
      }
      if let Some((path, expected)) = fe.budgets.iter().flat_map(|b| b.validate()).next() {
        return Err(err(
          &format!("frontend.budgets.{path}"),
          expected,
          "write sizes like \"500KB\" (K = 1024 bytes)",
        ));
      }
      for key in fe.define.keys() {
        let ident_ok =
          key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '.'));
        if !ident_ok {
          return Err(err(
            &format!("frontend.define.{key}"),
            "not a valid identifier or member expression".into(),
            "use names like `__API_URL__` or `import.meta.env.X`",
          ));
        }
      }
    }
    if let Some(be) = &self.backend {
      check_relative(&be.root, "backend.root", file)?;
      check_relative(&be.out_dir, "backend.outDir", file)?;
      let app_ok = be.app.split_once(':').is_some_and(|(m, a)| {
        !m.is_empty()
          && !a.is_empty()
          && m.split('.').all(is_py_ident)
          && a.split('.').all(is_py_ident)
      });
      if !app_ok {
        return Err(err(
          "backend.app",
          format!("{:?} is not `module:attribute`", be.app),
          "write it like uvicorn does, e.g. \"main:app\" or \"app.main:app\"",
        ));
      }
      if let Some(t) = &be.types_file {
        check_relative(t, "backend.typesFile", file)?;
        if !t.ends_with(".ts") {
          return Err(err(
            "backend.typesFile",
            format!("{t:?} is not a .ts file"),
            "use a path like \"apps/web/src/types/api.ts\"",
          ));
        }
      }
      if let Some(py) = &be.python {
        if py.trim().is_empty() {
          return Err(err(
            "backend.python",
            "must not be empty".into(),
            "remove it to use the default interpreter",
          ));
        }
      }
      if let Some(r) = &be.requirements {
        check_relative(r, "backend.requirements", file)?;
      }
      for (i, e) in be.extras.iter().enumerate() {
        let ok = e.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
          && e.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
          return Err(err(
            &format!("backend.extras[{i}]"),
            format!("{e:?} is not an extra's name"),
            "name a group of [project.optional-dependencies] in pyproject.toml, like \"prod\"",
          ));
        }
      }
      for (name, value) in &be.env {
        if !is_env_name(name) {
          return Err(err(
            &format!("backend.env.{name}"),
            "is not an environment variable name (letters, digits and `_`, not starting with a digit)".into(),
            "rename it, e.g. `DATABASE_URL`",
          ));
        }
        if let Some(bad) = bad_reference(value) {
          return Err(err(
            &format!("backend.env.{name}"),
            format!("has a malformed reference `{bad}`"),
            "write references as ${VAR} or ${VAR:-default}",
          ));
        }
      }
      if let Some(f) = &be.env_file {
        if f.trim().is_empty() || Path::new(f).is_absolute() {
          return Err(err(
            "backend.envFile",
            format!("{f:?} must be a file path relative to `backend.root`"),
            "write it like \".env\" or \"../.env\"",
          ));
        }
      }
      if let Some(m) = &be.migrate {
        if m.trim().is_empty() {
          return Err(err(
            "backend.migrate",
            "must not be empty".into(),
            "give a command such as \"alembic upgrade head\", or remove it",
          ));
        }
      }
    }
    if let Some(ai) = &self.ai {
      if let Err(errs) = ai.validate() {
        if let Some((path, expected)) = errs.into_iter().next() {
          return Err(err(
            &format!("ai.{path}"),
            expected,
            "see the `ai` section of the config reference",
          ));
        }
      }
    }
    if let Some(docker) = &self.docker {
      if let Some((path, expected)) = docker.validate().into_iter().next() {
        return Err(err(&path, expected, "see the `docker` section of the config reference"));
      }
    }
    if parse_duration(&self.cache.ttl).is_none() {
      return Err(err(
        "cache.ttl",
        format!("{:?} is not a duration", self.cache.ttl),
        "write it like \"7d\", \"12h\" or \"30m\"",
      ));
    }
    if parse_size(&self.cache.max_size).is_none() {
      return Err(err(
        "cache.maxSize",
        format!("{:?} is not a size", self.cache.max_size),
        "write it like \"5GiB\", \"500MB\" or \"1G\"",
      ));
    }
    if !["auto", "reflink", "hardlink", "copy"].contains(&self.cache.restore.as_str()) {
      return Err(err(
        "cache.restore",
        format!("{:?} is not a restore mode", self.cache.restore),
        "use \"auto\", \"reflink\", \"hardlink\" or \"copy\"",
      ));
    }
    for (name, t) in &self.tasks {
      let path = format!("tasks.{name}");
      let name_ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'));
      if !name_ok {
        return Err(err(
          &path,
          "a task name may only hold letters, digits, `-`, `_`, `:`, `.`".into(),
          "rename the task",
        ));
      }
      if crate::plan::BUILTIN_TASKS.contains(&name.as_str()) || name == "all" {
        return Err(err(
          &path,
          format!("`{name}` is a built-in task"),
          "give the command task another name",
        ));
      }
      if t.command.trim().is_empty() {
        return Err(err(
          &format!("{path}.command"),
          "must not be empty".into(),
          "give the shell command to run",
        ));
      }
      check_relative(&t.cwd, &format!("{path}.cwd"), file)?;
      for (i, o) in t.outputs.iter().enumerate() {
        let key = format!("{path}.outputs[{i}]");
        check_relative(o, &key, file)?;
        // An output is a path farm owns whole: it is moved aside before the task runs and
        // restored exactly from the cache. A glob that picks files inside a folder would hand
        // farm the whole folder (and the user's files in it).
        let whole = o.trim_end_matches("/**").trim_end_matches('/');
        if whole.contains(['*', '?', '[', '{']) || whole.is_empty() || whole == "." {
          return Err(err(
            &key,
            format!("{o:?} is not a directory or file the task owns whole"),
            "list the folder (or file) the command generates, e.g. \"out\" or \"src/generated/**\"; farm moves it aside before each run and restores it exactly, so it must hold nothing but the task's output",
          ));
        }
      }
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, p) in self.plugins.iter().enumerate() {
      let name = p.name();
      if name.trim().is_empty() {
        return Err(err(
          &format!("plugins[{i}].name"),
          "must not be empty".into(),
          "give the plugin a name",
        ));
      }
      if !seen.insert(name.to_string()) {
        return Err(err(
          &format!("plugins[{i}].name"),
          format!("plugin {name:?} is listed twice"),
          "keep one entry per plugin",
        ));
      }
    }
    Ok(())
  }

  /// The number of tasks to run at once: `build.concurrency`, else the number of cores.
  pub fn concurrency(&self) -> usize {
    self
      .build
      .concurrency
      .map(|c| c as usize)
      .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
  }
}

/// An environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_env_name(s: &str) -> bool {
  s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
    && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The first `${...}` in `value` that is not `${NAME}` or `${NAME:-default}` with a valid name.
fn bad_reference(value: &str) -> Option<String> {
  let mut rest = value;
  while let Some(i) = rest.find("${") {
    let body = &rest[i + 2..];
    let Some(end) = body.find('}') else { return Some(rest[i..].to_string()) };
    let inner = &body[..end];
    let name = inner.split_once(":-").map_or(inner, |(n, _)| n);
    if !is_env_name(name) {
      return Some(format!("${{{inner}}}"));
    }
    rest = &body[end + 1..];
  }
  None
}

fn is_py_ident(s: &str) -> bool {
  s.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
    && s.chars().all(|c| c.is_alphanumeric() || c == '_')
}

fn check_relative(p: &str, key: &str, file: &str) -> Result<(), ConfigError> {
  let path = Path::new(p);
  let bad = if p.is_empty() {
    Some("must not be empty")
  } else if path.is_absolute() {
    Some("must be relative to the project root, not absolute")
  } else if path.components().any(|c| matches!(c, Component::ParentDir)) {
    Some("must stay inside the project root (no `..`)")
  } else {
    None
  };
  match bad {
    Some(why) => Err(ConfigError {
      file: file.into(),
      path: key.into(),
      message: format!("{p:?} {why}"),
      fix: "use a path relative to the project root, like \"dist\" or \"apps/web\"".into(),
    }),
    None => Ok(()),
  }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
  match v {
    serde_json::Value::Null => "null",
    serde_json::Value::Bool(_) => "a boolean",
    serde_json::Value::Number(_) => "a number",
    serde_json::Value::String(_) => "a string",
    serde_json::Value::Array(_) => "an array",
    serde_json::Value::Object(_) => "an object",
  }
}

/// Turns a serde error into a [`ConfigError`] with the key path and a fix.
fn serde_error(
  e: serde_path_to_error::Error<serde_json::Error>,
  root: &serde_json::Value,
  file: &str,
) -> ConfigError {
  let path = render_path(e.path());
  let inner = e.inner().to_string();
  // serde_json appends " at line L column C", meaningless for a value: drop it.
  let msg = match inner.find(" at line ") {
    Some(i) => inner[..i].to_string(),
    None => inner,
  };
  if let Some(rest) = msg.strip_prefix("unknown field `") {
    let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
    // serde_path_to_error's path already ends with the unknown key.
    let full = if path.ends_with(field) {
      path.clone()
    } else if path.is_empty() {
      field.to_string()
    } else {
      format!("{path}.{field}")
    };
    let known: Vec<&str> = expected
      .trim_start_matches(", expected one of ")
      .trim_start_matches(", expected ")
      .split(", ")
      .map(|s| s.trim_matches('`'))
      .filter(|s| !s.is_empty())
      .collect();
    let fix = match suggest::closest(field, &known) {
      Some(s) => format!("did you mean `{s}`? Known keys here: {}", known.join(", ")),
      None => format!("remove it; known keys here: {}", known.join(", ")),
    };
    return ConfigError {
      file: file.into(),
      path: full,
      message: format!("unknown key `{field}`"),
      fix,
    };
  }
  if let Some(rest) = msg.strip_prefix("missing field `") {
    let field = rest.split('`').next().unwrap_or(rest);
    let full = if path.is_empty() { field.to_string() } else { format!("{path}.{field}") };
    return ConfigError {
      file: file.into(),
      path: full,
      message: "is required but missing".into(),
      fix: format!("add `{field}` to the config"),
    };
  }
  let found = lookup(root, e.path());
  let fix = if let Some(i) = msg.find("expected ") {
    format!("give `{path}` {}", &msg[i + "expected ".len()..])
  } else {
    "see the config reference in the README".into()
  };
  let message = match found {
    Some(v) if msg.starts_with("data did not match") => {
      format!("{} is not a valid value here", json_kind(&v))
    }
    _ => msg,
  };
  ConfigError { file: file.into(), path, message, fix }
}

fn render_path(p: &serde_path_to_error::Path) -> String {
  use serde_path_to_error::Segment;
  let mut out = String::new();
  for seg in p.iter() {
    match seg {
      Segment::Seq { index } => out.push_str(&format!("[{index}]")),
      Segment::Map { key } | Segment::Enum { variant: key } => {
        if !out.is_empty() {
          out.push('.');
        }
        out.push_str(key);
      }
      Segment::Unknown => {}
    }
  }
  out
}

fn lookup(root: &serde_json::Value, p: &serde_path_to_error::Path) -> Option<serde_json::Value> {
  use serde_path_to_error::Segment;
  let mut cur = root;
  for seg in p.iter() {
    cur = match seg {
      Segment::Seq { index } => cur.get(*index)?,
      Segment::Map { key } => cur.get(key.as_str())?,
      _ => return None,
    };
  }
  Some(cur.clone())
}

/// Resolves a config path (relative to the project root) to an absolute path.
pub fn resolve(root: &Path, rel: &str) -> PathBuf {
  let mut out = root.to_path_buf();
  for c in Path::new(rel).components() {
    match c {
      Component::CurDir => {}
      other => out.push(other),
    }
  }
  out
}

#[cfg(test)]
mod tests;
