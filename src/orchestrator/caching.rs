//! The build cache as the orchestrator uses it: what each task reads and writes, its key, and
//! lookup / restore / save around the builder. Every cache problem is a warning; the task then
//! simply runs.
//!
//! Keys (see [`crate::hash::KeyInput`]) cover: the task's input files (contents and the set of
//! paths), its config subset, its declared env vars (values hashed), tool versions, and the keys of
//! its dependencies — except `types`: the frontend is keyed on the generated types file's content
//! (it is one of its inputs), not on every backend source.

use crate::builders::command::output_dirs;
use crate::builders::typecheck::{find_package, package_version};
use crate::builders::types::types_file;
use crate::cache::{RestoreMode, Store, StoreOptions};
use crate::config::{parse_duration, parse_size, resolve, FarmConfig};
use crate::hash::{declared_env, hash_inputs, Digest, InputSpec, KeyInput, KeyManifest, StatCache};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Bump when the meaning of a task's inputs or config subset changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Whether a task came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheStatus {
  /// Restored from the cache; the builder did not run.
  Hit,
  /// Not in the cache; the builder ran (and its outputs were saved).
  Miss,
  /// Not cached (cache off, or a task that is never cached).
  Off,
}

impl CacheStatus {
  /// `hit`, `miss` or `off`.
  pub fn as_str(self) -> &'static str {
    match self {
      CacheStatus::Hit => "hit",
      CacheStatus::Miss => "miss",
      CacheStatus::Off => "off",
    }
  }
}

/// What the cache did for one task.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheInfo {
  /// Hit, miss or off.
  pub status: CacheStatus,
  /// The task's key (32 hex), when computed.
  pub key: Option<String>,
  /// Time spent restoring outputs (hits), ms.
  pub restore_ms: Option<f64>,
  /// Why the task is not cached (off).
  pub reason: Option<String>,
}

impl CacheInfo {
  /// A task the cache does not handle.
  pub fn off(reason: impl Into<String>) -> Self {
    CacheInfo { status: CacheStatus::Off, key: None, restore_ms: None, reason: Some(reason.into()) }
  }
}

/// What a task reads and writes, for its key and its cache entry.
#[derive(Debug, Clone)]
pub struct CacheSpec {
  /// Directory the input globs are relative to.
  pub root: PathBuf,
  /// Input globs.
  pub globs: Vec<String>,
  /// Directories never read as inputs (outputs, cache, virtualenvs).
  pub ignore: Vec<PathBuf>,
  /// Output directories: (label, absolute path).
  pub outputs: Vec<(String, PathBuf)>,
  /// The task's config subset.
  pub config: Value,
  /// Declared env var names.
  pub env: Vec<String>,
  /// Tool versions that enter the key.
  pub tools: BTreeMap<String, String>,
  /// Env entries already digested (the backend's `envFile` / `env`): name → value digest.
  pub env_digests: Vec<(String, Digest)>,
  /// Extra content digests (files outside the input globs, e.g. `file:uv.lock`).
  pub extra: BTreeMap<String, Digest>,
}

/// The cache for one build.
pub struct BuildCache {
  /// The content-addressed store.
  pub store: Store,
  /// Path → (stat, hash) of input files seen before.
  pub stat: Arc<StatCache>,
  /// Look entries up (false with `--no-cache`... which also turns writes off; kept apart for `--force`-like use).
  pub read: bool,
  /// Save entries.
  pub write: bool,
  /// Keys computed so far in this build.
  pub keys: Mutex<BTreeMap<String, KeyManifest>>,
  /// Tool versions known for every task (node, the addon).
  pub base_tools: BTreeMap<String, String>,
  python_versions: Mutex<BTreeMap<String, String>>,
}

impl BuildCache {
  /// Opens the cache of a project (creating `cacheDir`).
  pub fn open(
    cfg: &FarmConfig,
    root: &Path,
    base_tools: BTreeMap<String, String>,
    warn: Arc<dyn Fn(&str) + Send + Sync>,
  ) -> Result<Self, String> {
    let dir = resolve(root, &cfg.cache_dir);
    let restore_mode = match cfg.cache.restore.as_str() {
      "reflink" => RestoreMode::Reflink,
      "hardlink" => RestoreMode::Hardlink,
      "copy" => RestoreMode::Copy,
      _ => RestoreMode::Auto,
    };
    let opts = StoreOptions {
      ttl: Duration::from_secs(parse_duration(&cfg.cache.ttl).unwrap_or(7 * 86_400)),
      max_size: parse_size(&cfg.cache.max_size).unwrap_or(5 << 30),
      restore_mode,
      warn: Some(Arc::new(move |m: &str| warn(m))),
    };
    let store = Store::open(&dir, opts).map_err(|e| e.to_string())?;
    let stat = Arc::new(StatCache::load(dir.join("stat-cache.bin")));
    Ok(BuildCache {
      store,
      stat,
      read: true,
      write: true,
      keys: Mutex::new(BTreeMap::new()),
      base_tools,
      python_versions: Mutex::new(BTreeMap::new()),
    })
  }

  /// The Python version of an interpreter (probed once per build).
  fn python_version(&self, python: &str) -> String {
    if let Some(v) = self.python_versions.lock().ok().and_then(|m| m.get(python).cloned()) {
      return v;
    }
    let v = crate::run::process::probe(
      python,
      &["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
      None,
    )
    .unwrap_or_else(|| "unavailable".into());
    if let Ok(mut m) = self.python_versions.lock() {
      m.insert(python.to_string(), v.clone());
    }
    v
  }

  /// The cache spec of `task`, or why it is not cached.
  pub fn spec_for(&self, task: &str, cfg: &FarmConfig, root: &Path) -> Result<CacheSpec, String> {
    let out = resolve(root, &cfg.output_dir);
    let mut ignore = vec![out.clone(), resolve(root, &cfg.cache_dir)];
    let mut tools = self.base_tools.clone();
    let env_names = |default: Vec<String>| cfg.cache.env.get(task).cloned().unwrap_or(default);
    let globs = |default: &[&str]| {
      cfg
        .cache
        .inputs
        .get(task)
        .cloned()
        .unwrap_or_else(|| default.iter().map(|s| s.to_string()).collect())
    };
    const PY: &[&str] = &["**/*.py", "requirements*.txt", "pyproject.toml"];
    const WEB: &[&str] = &[
      "src/**",
      "public/**",
      "index.html",
      "package.json",
      "vite.config.*",
      "tsconfig*.json",
      ".env",
      ".env.*",
    ];
    let py_ignore = [".venv", "venv", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"];
    match task {
      "backend" | "types" => {
        let be = cfg.backend.as_ref().ok_or("no backend section")?;
        let api = resolve(root, &be.root);
        ignore.extend(py_ignore.iter().map(|d| api.join(d)));
        let python = if task == "types" {
          crate::builders::backend::project::export_python(root, be, &out)
        } else {
          crate::builders::backend::python_for(root, be)
        };
        tools.insert("python".into(), self.python_version(&python));
        // The backend env (values as digests) and the dependency files outside the globs.
        let env_digests = crate::builders::backend::env::key_env(be, root)
          .map_err(|e| format!("the backend env cannot be read: {e}"))?;
        let extra = crate::builders::backend::project::key_files(be, root)
          .map_err(|e| format!("hashing inputs: {e}"))?
          .into_iter()
          .collect();
        let (outputs, config) = if task == "backend" {
          (
            vec![("api".to_string(), resolve(&out, &be.out_dir))],
            json!({
              "backend": crate::builders::backend::env::key_config(be),
              "environment": cfg.environment.as_str(),
            }),
          )
        } else {
          let mut outputs = vec![("schema".to_string(), out.join("openapi"))];
          if let Some(tf) = types_file(cfg) {
            if let Some(dir) = resolve(root, &tf).parent() {
              outputs.push(("types".to_string(), dir.to_path_buf()));
            }
          }
          (outputs, json!({ "root": be.root, "app": be.app, "typesFile": types_file(cfg) }))
        };
        Ok(CacheSpec {
          root: api,
          globs: globs(PY),
          ignore,
          outputs,
          config,
          env: env_names(vec![]),
          tools,
          env_digests,
          extra,
        })
      }
      "frontend" | "typecheck" => {
        let fe = cfg.frontend.as_ref().ok_or("no frontend section")?;
        let web = resolve(root, &fe.root);
        ignore.push(web.join("dist"));
        let (outputs, config) = if task == "frontend" {
          if let Some(v) = find_package(&web, "vite").and_then(|p| package_version(&p)) {
            tools.insert("vite".into(), v);
          }
          let config = json!({
            "frontend": fe,
            "environment": cfg.environment.as_str(),
            "appName": cfg.app_name,
            "version": cfg.version,
            "plugins": cfg.plugins,
          });
          let outputs = vec![
            ("web".to_string(), resolve(&out, &fe.out_dir)),
            ("analysis".to_string(), out.join("analysis")),
          ];
          (outputs, config)
        } else {
          if let Some(v) = find_package(&web, "typescript").and_then(|p| package_version(&p)) {
            tools.insert("typescript".into(), v);
          }
          (vec![], json!({ "root": fe.root }))
        };
        // Vite inlines VITE_* variables: every one set now is part of the key.
        let mut default_env: Vec<String> =
          std::env::vars().map(|(k, _)| k).filter(|k| k.starts_with("VITE_")).collect();
        default_env.push("NODE_ENV".into());
        Ok(CacheSpec {
          root: web,
          globs: globs(WEB),
          ignore,
          outputs,
          config,
          env: env_names(default_env),
          tools,
          env_digests: Vec::new(),
          extra: BTreeMap::new(),
        })
      }
      name => match cfg.tasks.get(name) {
        Some(t) if t.cache => {
          let outputs = output_dirs(root, t);
          ignore.extend(outputs.iter().map(|(_, p)| p.clone()));
          let config = serde_json::to_value(t).unwrap_or(Value::Null);
          Ok(CacheSpec {
            root: resolve(root, &t.cwd),
            globs: cfg.cache.inputs.get(name).cloned().unwrap_or_else(|| t.inputs.clone()),
            ignore,
            outputs,
            config,
            env: env_names(t.env.clone()),
            tools,
            env_digests: Vec::new(),
            extra: BTreeMap::new(),
          })
        }
        Some(_) => Err("`cache: false` for this task".into()),
        None => Err(format!(
          "the `{name}` task is not cached (it has its own change detection or does network work)"
        )),
      },
    }
  }

  /// Computes the key of `task` (hashing its inputs), given the keys of its dependencies.
  pub fn key_for(
    &self,
    spec: &CacheSpec,
    task: &str,
    deps: &[String],
  ) -> Result<KeyManifest, String> {
    let mut dep_keys = BTreeMap::new();
    {
      let keys = self.keys.lock().map_err(|_| "key table poisoned".to_string())?;
      for d in deps {
        if d == "types" {
          continue; // content-keyed: the generated file is one of this task's inputs
        }
        match keys.get(d) {
          Some(m) => {
            dep_keys.insert(d.clone(), m.key.clone());
          }
          None => {
            return Err(format!("dependency `{d}` is not cached, so this task cannot be either"))
          }
        }
      }
    }
    let mut input_spec = InputSpec::new(&spec.root, spec.globs.clone());
    for d in &spec.ignore {
      input_spec = input_spec.ignore_dir(d.clone());
    }
    let inputs =
      hash_inputs(&input_spec, &self.stat).map_err(|e| format!("hashing inputs: {e}"))?;
    let manifest = KeyInput {
      schema_version: SCHEMA_VERSION,
      task: task.to_string(),
      inputs: inputs.files,
      config: spec.config.clone(),
      env: declared_env(&spec.env, |n| std::env::var(n).ok()),
      tools: spec.tools.clone(),
      deps: dep_keys,
      extra: spec.extra.clone(),
    }
    .into_manifest()
    .with_env_digests(spec.env_digests.iter().cloned());
    if let Ok(mut k) = self.keys.lock() {
      k.insert(task.to_string(), manifest.clone());
    }
    Ok(manifest)
  }
}

/// The output dirs of a cached built-in task that live under `outputDir` (kept by `clean` when the
/// cache is on).
pub fn output_dirs_under(task: &str, cfg: &FarmConfig, root: &Path) -> Vec<PathBuf> {
  let out = resolve(root, &cfg.output_dir);
  match task {
    "backend" => cfg.backend.iter().map(|b| resolve(&out, &b.out_dir)).collect(),
    "types" => vec![out.join("openapi")],
    "frontend" => {
      cfg.frontend.iter().flat_map(|f| [resolve(&out, &f.out_dir), out.join("analysis")]).collect()
    }
    _ => Vec::new(),
  }
}

/// Removes from `dir` every file, link and directory that the restored `entry` does not list
/// under `label`: a restore then leaves exactly the cached outputs (nothing stale from an older
/// build). Only used for dirs under `outputDir`, never in source folders.
pub fn prune_unlisted(dir: &Path, label: &str, entry: &crate::cache::Entry) -> std::io::Result<()> {
  let listed: std::collections::HashSet<&str> =
    entry.outputs.iter().filter(|o| o.label == label).map(|o| o.path.as_str()).collect();
  let mut stack = vec![(dir.to_path_buf(), String::new())];
  while let Some((abs, rel)) = stack.pop() {
    let entries = match std::fs::read_dir(&abs) {
      Ok(e) => e,
      Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
      Err(e) => return Err(e),
    };
    for e in entries {
      let e = e?;
      let name = e.file_name().to_string_lossy().into_owned();
      let child_rel = if rel.is_empty() { name } else { format!("{rel}/{name}") };
      let ft = e.file_type()?;
      if listed.contains(child_rel.as_str()) {
        if ft.is_dir() {
          stack.push((e.path(), child_rel));
        }
      } else if ft.is_dir() {
        std::fs::remove_dir_all(e.path())?;
      } else {
        std::fs::remove_file(e.path())?;
      }
    }
  }
  Ok(())
}

impl BuildCache {
  /// The cache spec and key of a planned task (its dependencies keyed before it), or why it is
  /// not cached.
  pub fn keyed(
    &self,
    task: &crate::plan::Task,
    cfg: &FarmConfig,
    root: &Path,
  ) -> Result<(CacheSpec, KeyManifest), String> {
    let spec = self.spec_for(&task.name, cfg, root)?;
    let manifest = self.key_for(&spec, &task.name, &task.deps)?;
    Ok((spec, manifest))
  }
}

/// Output labels and directories in the form the store takes.
pub fn outputs_ref(spec: &CacheSpec) -> Vec<(&str, &Path)> {
  spec.outputs.iter().map(|(l, p)| (l.as_str(), p.as_path())).collect()
}
