//! The build cache as the orchestrator uses it: what each task reads and writes, its key, and
//! lookup / restore / save around the builder. Every cache problem is a warning; the task then
//! simply runs.
//!
//! What a task reads and writes comes from its builder ([`crate::builders::Builder::io`]). Keys (see
//! [`crate::hash::KeyInput`]) cover: the task's input files (contents and the set of paths), its
//! config subset, its env vars (values hashed), tool versions, and the keys of its dependencies —
//! except dependencies whose outputs it reads as files (the frontend is keyed on the generated
//! types file's content, not on every backend source).

use crate::builders::typecheck::{find_package, package_version};
use crate::builders::{MachineFact, Output, Reads, Tool, Uncached};
use crate::cache::remote::{RemoteCache, RemoteSettings};
use crate::cache::{RestoreMode, Store, StoreOptions};
use crate::config::{parse_duration, parse_size, resolve, FarmConfig};
use crate::hash::{
  declared_env, hash_file, hash_inputs, hash_inputs_many, HashStats, InputFile, InputSet, KeyInput,
  KeyManifest, StatCache,
};
use crate::plan::TaskKind;
use crate::report::profile::{Profiler, SpanCat};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
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

/// Where a hit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheSource {
  /// The local store had the entry; no network was used.
  Local,
  /// The entry was downloaded from the remote cache (into the local store), then restored.
  Remote,
}

impl CacheSource {
  /// `local` or `remote`.
  pub fn as_str(self) -> &'static str {
    match self {
      CacheSource::Local => "local",
      CacheSource::Remote => "remote",
    }
  }
}

/// What the cache did for one task.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheInfo {
  /// Hit, miss or off.
  pub status: CacheStatus,
  /// Where a hit came from (hits only).
  pub source: Option<CacheSource>,
  /// Bytes downloaded from the remote cache for this task (remote hits only).
  pub remote_bytes: Option<u64>,
  /// The task's key (32 hex), when computed.
  pub key: Option<String>,
  /// Time spent restoring outputs (hits), ms.
  pub restore_ms: Option<f64>,
  /// Why the task is not cached (off).
  pub reason: Option<String>,
}

impl CacheInfo {
  /// A task the cache does not handle.
  pub fn off(why: &Uncached) -> Self {
    CacheInfo {
      status: CacheStatus::Off,
      source: None,
      remote_bytes: None,
      key: None,
      restore_ms: None,
      reason: Some(why.to_string()),
    }
  }
}

/// A key computed in this build, as its dependents and the usage events need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownKey {
  /// The key (32 hex characters).
  pub key: String,
  /// Whether the key holds machine-bound facts (see [`KeyManifest::is_machine_bound`]).
  pub machine_bound: bool,
}

impl KnownKey {
  /// The key of `m`.
  pub fn of(m: &KeyManifest) -> KnownKey {
    KnownKey { key: m.key.clone(), machine_bound: m.is_machine_bound() }
  }
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
  /// Keys computed so far in this build, by task name (the key alone: the input list stays with
  /// the task that computed it, so a 100k-file key is held once).
  pub keys: Mutex<BTreeMap<String, KnownKey>>,
  /// Tool versions known for every task (node, the addon).
  pub base_tools: BTreeMap<String, String>,
  /// The remote cache (`cache.remote` / `FARM_REMOTE_CACHE_URL`), if any.
  pub remote: Option<RemoteCache>,
  /// Uploads to the remote cache still running (awaited at the end of the build).
  pub uploads: Mutex<Vec<tokio::task::JoinHandle<Result<crate::cache::remote::Uploaded, String>>>>,
  /// Remote cache warnings of this build's tasks (for the build result).
  pub remote_warnings: Mutex<Vec<String>>,
  /// Whether this build saved an entry (then eviction runs; see [`Store::evict_if_due`]).
  pub saved: std::sync::atomic::AtomicBool,
  /// Facts of the interpreters and executables keys name, remembered across builds.
  tools: super::tool_facts::ToolFacts,
  /// The project's warm-mode daemon, when one runs and speaks our version (see [`crate::daemon`]).
  warm: Mutex<Option<crate::daemon::Client>>,
}

/// Prints why the daemon is not used, when `FARM_DAEMON_DEBUG` is set.
fn daemon_debug(msg: &str) {
  if std::env::var_os("FARM_DAEMON_DEBUG").is_some() {
    eprintln!("farm daemon: {msg}");
  }
}

/// Connects to the project's daemon unless `FARM_NO_DAEMON` is set; any problem means the build
/// walks its inputs itself.
fn connect_daemon(root: &Path, cache_dir: &Path) -> Option<crate::daemon::Client> {
  if std::env::var_os("FARM_NO_DAEMON").is_some() {
    return None;
  }
  match crate::daemon::Client::connect(root, cache_dir) {
    Ok(c) => c,
    Err(e) => {
      daemon_debug(&format!("{e}; building without it"));
      None
    }
  }
}

/// What the remote cache did in one build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteSummary {
  /// Where the artifacts live (URL or bucket; no secrets).
  pub location: String,
  /// Tasks restored from the remote cache.
  pub hits: u64,
  /// Bytes downloaded for them.
  pub downloaded_bytes: u64,
  /// Artifacts uploaded.
  pub uploads: u64,
  /// Bytes uploaded.
  pub uploaded_bytes: u64,
  /// Artifacts the store already had (`HEAD`), so not sent again.
  pub already_stored: u64,
  /// Whether this build could upload (false: read-only, or the server takes no uploads).
  pub write: bool,
  /// The server's caching status when it said it takes no uploads (`paused`, `disabled`,
  /// `over_limit`).
  pub server_status: Option<String>,
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
      warn: Some({
        let w = Arc::clone(&warn);
        Arc::new(move |m: &str| w(m))
      }),
    };
    let remote =
      match RemoteSettings::resolve(cfg.cache.remote.as_ref(), &|n| std::env::var(n).ok())
        .and_then(|s| s.map(|s| RemoteCache::open(&s)).transpose())
      {
        Ok(r) => r,
        Err(e) => {
          warn(&format!("{e}; building with the local cache only"));
          None
        }
      };
    let store = Store::open(&dir, opts).map_err(|e| e.to_string())?;
    let stat = Arc::new(StatCache::load(dir.join("stat-cache.bin")).observing());
    Ok(BuildCache {
      store,
      stat,
      read: true,
      write: true,
      keys: Mutex::new(BTreeMap::new()),
      base_tools,
      remote,
      uploads: Mutex::new(Vec::new()),
      remote_warnings: Mutex::new(Vec::new()),
      saved: std::sync::atomic::AtomicBool::new(false),
      tools: super::tool_facts::ToolFacts::new(&dir),
      warm: Mutex::new(connect_daemon(root, &dir)),
    })
  }

  /// The Python version of an interpreter and a digest of the distributions installed in it
  /// (`3.11.7 pkgs:<16 hex>`): upgrading FastAPI or ruff in the environment changes the OpenAPI
  /// document or the tidied output, so it changes the key. See [`super::tool_facts`].
  fn python_version(&self, python: &str) -> String {
    self.tools.python(python).map_or_else(|| "unavailable".into(), |f| f.version)
  }

  /// The directory of the interpreter a venv created by `python` names as its `home` (that of
  /// `sys._base_executable`, which is the base interpreter when `python` is itself in a venv) and a
  /// digest of that executable's bytes (a venv's `bin/python` is a copy of it):
  /// `<home> exe:<16 hex>`. See [`super::tool_facts`].
  fn python_home(&self, python: &str) -> String {
    self.tools.python(python).map_or_else(|| "unavailable".into(), |f| f.home)
  }

  /// The first line of `<exe> --version` (see [`super::tool_facts`]).
  fn exe_version(&self, exe: &Path) -> String {
    self.tools.exe_version(exe)
  }

  /// A machine-bound fact as it enters keys: its name and value.
  fn machine_fact(&self, fact: &MachineFact) -> (String, String) {
    match fact {
      MachineFact::OutputPath(p) => {
        (crate::hash::LOCATION_FACT.into(), p.to_string_lossy().into_owned())
      }
      MachineFact::PythonHome(python) => ("pythonHome".into(), self.python_home(python)),
    }
  }

  /// The version of a tool, as it enters keys.
  fn tool_version(&self, tool: &Tool) -> (String, String) {
    match tool {
      Tool::Python(python) => ("python".into(), self.python_version(python)),
      Tool::Executable { name, path } => (name.clone(), self.exe_version(path)),
      Tool::NodePackage { name, from } => (
        name.clone(),
        find_package(from, name)
          .and_then(|p| package_version(&p))
          .unwrap_or_else(|| "absent".into()),
      ),
    }
  }

  /// The inputs of `spec` from the daemon, if one is connected and serves it; after an error the
  /// rest of the build goes without it.
  fn warm_inputs(&self, spec: &crate::hash::InputSpec) -> Option<crate::hash::InputSet> {
    let mut guard = self.warm.lock().ok()?;
    let client = guard.as_mut()?;
    match client.hash_inputs(spec) {
      Ok(Some(mut set)) => {
        // The daemon's stats of these files stand for this build's own (see
        // `crate::report::git`): they are current while its watcher reports no change.
        let observed = std::mem::take(&mut set.observed);
        self.stat.observe(observed.records().to_vec());
        Some(set)
      }
      Ok(None) => None,
      Err(e) => {
        daemon_debug(&format!("{e}; walking without it"));
        *guard = None;
        None
      }
    }
  }

  /// Computes the key of `task` from what it reads, given its dependencies (name and kind; each
  /// keyed before it in this build).
  pub fn key_for(
    &self,
    reads: &Reads,
    task: &str,
    deps: &[(String, TaskKind)],
  ) -> Result<KeyManifest, Uncached> {
    self.key_for_walked(reads, task, deps, None)
  }

  /// [`BuildCache::key_for`] with the task's input files already walked (by
  /// [`BuildCache::walk_together`]); `None` walks them now.
  pub fn key_for_walked(
    &self,
    reads: &Reads,
    task: &str,
    deps: &[(String, TaskKind)],
    walked: Option<InputSet>,
  ) -> Result<KeyManifest, Uncached> {
    self.key_for_profiled(reads, task, deps, &Profiler::off(), 0, walked).map(|(m, _)| m)
  }

  /// The input files of tasks keyed at one moment (a probe, a dry run), with one walk for tasks
  /// whose input roots nest or are the same (the frontend and the type check both read
  /// `apps/web`): see [`crate::hash::hash_inputs_many`]. Each set is what the task's own walk
  /// would give at that moment. `None` for a task whose walk failed (keying it walks again and
  /// reports why) and for every task when the warm-mode daemon serves walks.
  pub fn walk_together(&self, reads: &[Option<&Reads>]) -> Vec<Option<InputSet>> {
    let daemon = self.warm.lock().map(|w| w.is_some()).unwrap_or(true);
    if daemon {
      return reads.iter().map(|_| None).collect();
    }
    let specs: Vec<_> = reads.iter().flatten().map(|r| r.input_spec()).collect();
    let mut walked = hash_inputs_many(&specs, &self.stat).into_iter().map(Result::ok);
    reads.iter().map(|r| r.and_then(|_| walked.next().flatten())).collect()
  }

  /// [`BuildCache::key_for_walked`], recording the walk and the hashing of extra files on `lane`
  /// of `prof`, and returning the walk's counters.
  pub fn key_for_profiled(
    &self,
    reads: &Reads,
    task: &str,
    deps: &[(String, TaskKind)],
    prof: &Profiler,
    lane: u32,
    walked: Option<InputSet>,
  ) -> Result<(KeyManifest, HashStats), Uncached> {
    let mut dep_keys = BTreeMap::new();
    {
      let keys = self.keys.lock().map_err(|_| Uncached::HashFailed("key table poisoned".into()))?;
      for (d, kind) in deps {
        if reads.outputs_of.contains(kind) {
          continue; // its outputs are among this task's input files
        }
        match keys.get(d) {
          Some(m) => {
            dep_keys.insert(d.clone(), m.key.clone());
          }
          None => return Err(Uncached::UncachedDependency(d.clone())),
        }
      }
    }
    let mut walk = prof.span(SpanCat::Walk, lane, || format!("walk {task}"));
    let mut set = match walked {
      Some(set) => set,
      None => {
        let spec = reads.input_spec();
        match self.warm_inputs(&spec) {
          Some(set) => set,
          None => {
            hash_inputs(&spec, &self.stat).map_err(|e| Uncached::HashFailed(e.to_string()))?
          }
        }
      }
    };
    walk.num("files", set.stats.files as f64);
    walk.num("filesRead", set.stats.files_read as f64);
    walk.num("bytesRead", set.stats.bytes_read as f64);
    walk.num("statCacheHits", set.stats.stat_cache_hits as f64);
    walk.end();
    let extra = (!reads.files.is_empty()).then(|| {
      let mut g = prof.span(SpanCat::Hash, lane, || format!("hash extra files of {task}"));
      g.num("files", reads.files.len() as f64);
      g
    });
    for f in &reads.files {
      match hash_file(f) {
        Ok((hash, _)) => set.files.push(InputFile { path: relative_to(&reads.root, f), hash }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Uncached::HashFailed(format!("{}: {e}", f.display()))),
      }
    }
    drop(extra);
    let mut tools = self.base_tools.clone();
    let probe = (!reads.tools.is_empty())
      .then(|| prof.span(SpanCat::Python, lane, || format!("tool versions of {task}")));
    tools.extend(reads.tools.iter().map(|t| self.tool_version(t)));
    drop(probe);
    let manifest = KeyInput {
      schema_version: SCHEMA_VERSION,
      task: task.to_string(),
      inputs: set.files,
      config: reads.config.clone(),
      env: declared_env(&reads.env, |n| std::env::var(n).ok()),
      tools,
      deps: dep_keys,
      extra: BTreeMap::new(),
      machine: reads.machine.iter().map(|f| self.machine_fact(f)).collect(),
    }
    .into_manifest()
    .with_env_digests(reads.env_digests.iter().cloned());
    if let Ok(mut k) = self.keys.lock() {
      k.insert(task.to_string(), KnownKey::of(&manifest));
    }
    Ok((manifest, set.stats))
  }
}

/// `path` relative to `base`, `/`-separated, with `..` where it lies outside (keys never hold an
/// absolute path, so they agree across checkouts).
pub fn relative_to(base: &Path, path: &Path) -> String {
  let b: Vec<_> = base.components().collect();
  let p: Vec<_> = path.components().collect();
  let common = b.iter().zip(&p).take_while(|(x, y)| x == y).count();
  let mut parts: Vec<String> = std::iter::repeat_n("..".to_string(), b.len() - common).collect();
  parts.extend(p[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
  parts.join("/")
}

/// Output labels and paths in the form the store takes.
pub fn outputs_ref(writes: &[Output]) -> Vec<(&str, &Path)> {
  writes.iter().map(|o| (o.label.as_str(), o.path.as_path())).collect()
}
