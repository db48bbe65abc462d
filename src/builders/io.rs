//! What a task reads and writes: the one description per task kind that its cache key, its
//! cache entry, the hermetic run (outputs moved aside before a miss) and `clean` all come from.
//!
//! Each builder states its [`TaskIo`] in [`Builder::io`](super::Builder::io); nothing else in the
//! crate decides what a task reads or owns.

use crate::config::FarmConfig;
use crate::plan::TaskKind;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a builder needs to describe a task.
#[derive(Debug, Clone, Copy)]
pub struct IoContext<'a> {
  /// The task's name (a command task's key in `tasks`).
  pub task: &'a str,
  /// The validated config.
  pub config: &'a FarmConfig,
  /// The project root (absolute).
  pub root: &'a Path,
}

impl IoContext<'_> {
  /// `outputDir`, absolute.
  pub fn output_dir(&self) -> PathBuf {
    crate::config::resolve(self.root, &self.config.output_dir)
  }

  /// `cacheDir`, absolute.
  pub fn cache_dir(&self) -> PathBuf {
    crate::config::resolve(self.root, &self.config.cache_dir)
  }

  /// The globs of `cache.inputs.<task>` when the user set them, else `default`.
  pub fn input_globs(&self, default: Vec<String>) -> Vec<String> {
    self.config.cache.inputs.get(self.task).cloned().unwrap_or(default)
  }

  /// The env names of `cache.env.<task>` when the user set them, else `default`.
  pub fn env_names(&self, default: Vec<String>) -> Vec<String> {
    self.config.cache.env.get(self.task).cloned().unwrap_or(default)
  }
}

/// A tool whose version enters the key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tool {
  /// A Python interpreter (a name on `PATH` or a path); its `major.minor.patch` is probed once per build.
  Python(String),
  /// An npm package as Node would resolve it from `from` (its `package.json` version).
  NodePackage {
    /// The package (`vite`, `typescript`).
    name: String,
    /// The directory resolution starts from.
    from: PathBuf,
  },
  /// An executable whose `--version` output enters keys (probed once per build), e.g. `uv`, which
  /// writes its version into the venvs it makes.
  Executable {
    /// The name it enters keys under.
    name: String,
    /// The executable.
    path: PathBuf,
  },
}

/// A fact of this machine that a task's outputs embed, so it enters the key. A key holding an
/// [`MachineFact::OutputPath`] is machine-bound ([`crate::hash::KeyManifest::is_machine_bound`]):
/// its entry agrees only with builds at the same absolute path, so it is never shared. A
/// [`MachineFact::PythonHome`] alone keeps the key portable: machines with the same interpreter
/// installation compute the same key and may share the entry, others compute another key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MachineFact {
  /// An absolute path the outputs name (the production venv's activate scripts and `pyvenv.cfg`
  /// name the venv's final location). Enters the key as `outputPath`.
  OutputPath(PathBuf),
  /// The interpreter a venv is created from (a name on `PATH` or a path): a venv's `pyvenv.cfg`
  /// names its directory as `home`, and its `bin/python` is a copy of it. Enters the key as
  /// `pythonHome`: the directory and a digest of the interpreter executable's bytes.
  PythonHome(String),
}

/// The files a task reads.
#[derive(Debug, Clone)]
pub struct Reads {
  /// The directory the globs are relative to (reported input paths are relative to it).
  pub root: PathBuf,
  /// Input globs (`!glob` excludes), over `/`-separated paths relative to `root`.
  pub globs: Vec<String>,
  /// Honour `.gitignore` files while walking.
  pub gitignore: bool,
  /// Directories never read (outputs, the cache, virtualenvs), absolute.
  pub ignore: Vec<PathBuf>,
  /// Single files read besides the walk (lockfiles above the root, env files that `.gitignore`
  /// hides, files a config imports from outside the root), absolute. Missing ones are skipped,
  /// so creating one changes the key.
  pub files: Vec<PathBuf>,
  /// Env vars whose values enter the key (hashed).
  pub env: Vec<String>,
  /// Env entries the builder resolved itself (the backend's `envFile` and `env`): names and
  /// value digests, never values.
  pub env_digests: Vec<(String, crate::hash::Digest)>,
  /// Tools whose versions enter the key.
  pub tools: Vec<Tool>,
  /// The task's config subset.
  pub config: Value,
  /// Dependencies whose outputs this task reads as files (among its inputs): their content enters
  /// the key, so their key does not (the frontend is keyed on the generated types, not on every
  /// backend edit).
  pub outputs_of: Vec<TaskKind>,
  /// Machine-bound facts the outputs embed; empty for a task whose outputs are portable (all but
  /// the backend with a production venv).
  pub machine: Vec<MachineFact>,
}

/// One output a task owns: a directory or a single file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
  /// A name for it in the cache entry (no `/`).
  pub label: String,
  /// Where it is, absolute.
  pub path: PathBuf,
}

impl Output {
  /// An output named `label` at `path`.
  pub fn new(label: impl Into<String>, path: impl Into<PathBuf>) -> Self {
    Output { label: label.into(), path: path.into() }
  }
}

/// What a task reads and writes.
#[derive(Debug, Clone)]
pub struct TaskIo {
  /// What it reads, when it can be cached; `Err` says why it is not.
  pub reads: Result<Reads, Uncached>,
  /// Everything it writes. Only these paths are moved aside before a run, restored from the cache
  /// and removed by `clean`.
  pub writes: Vec<Output>,
}

impl Default for Reads {
  fn default() -> Self {
    Reads {
      root: PathBuf::new(),
      globs: Vec::new(),
      gitignore: true,
      ignore: Vec::new(),
      files: Vec::new(),
      env: Vec::new(),
      env_digests: Vec::new(),
      tools: Vec::new(),
      config: Value::Null,
      outputs_of: Vec::new(),
      machine: Vec::new(),
    }
  }
}

/// Why a task is not cached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Uncached {
  /// The cache is off for this build (`--no-cache`, `cache.enabled: false`).
  #[error("cache disabled")]
  Disabled,
  /// The task talks to the network or to a daemon, which no key can describe.
  #[error("the `{0}` task is not cached (it has its own change detection or does network work)")]
  External(String),
  /// The user turned caching off for this task.
  #[error("`cache: false` for this task")]
  TurnedOff,
  /// A dependency is not cached, so this task's inputs are not known either.
  #[error("dependency `{0}` is not cached, so this task cannot be either")]
  UncachedDependency(String),
  /// A config section the task needs is missing.
  #[error("no `{0}` section in the config")]
  MissingSection(&'static str),
  /// Hashing the inputs failed (a warning: the task then runs uncached).
  #[error("hashing inputs: {0}")]
  HashFailed(String),
}

impl Uncached {
  /// Whether this is a problem worth a warning (rather than a task that is simply not cached).
  pub fn is_problem(&self) -> bool {
    matches!(self, Uncached::HashFailed(_))
  }
}

/// Tool versions resolved for a key.
pub type ToolVersions = BTreeMap<String, String>;

impl Reads {
  /// The walk these reads describe (without [`Reads::files`]).
  pub fn input_spec(&self) -> crate::hash::InputSpec {
    let mut spec = crate::hash::InputSpec::new(&self.root, self.globs.clone());
    spec.use_gitignore = self.gitignore;
    for d in &self.ignore {
      spec = spec.ignore_dir(d.clone());
    }
    spec
  }
}
