//! The backend's Python project files: where its dependencies come from and which files decide
//! them.
//!
//! Dependencies come from, in order: `backend.requirements` (when set), `requirements.txt` in the
//! backend root, else `pyproject.toml`'s `[project.dependencies]` plus the
//! `[project.optional-dependencies]` groups named by `backend.extras`. A `uv.lock` (in the backend
//! root or a parent up to the project root, as uv finds it) pins them: `uv export --frozen` turns
//! it into an exact requirements list. Either way the venv builder gets a requirements file
//! ([`materialize`]), so the venv key is the content of what is installed.

use super::venv::{find_on_path, Installer, VenvError};
use crate::config::{resolve, BackendConfig};
use crate::run::process::{Cmd, ProcessError};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

/// Why the project files could not be read or turned into a requirements list.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
  /// `pyproject.toml` could not be read.
  #[error("reading {}: {source}", path.display())]
  Read {
    /// The file.
    path: PathBuf,
    /// Why.
    #[source]
    source: std::io::Error,
  },
  /// `pyproject.toml` is not valid TOML or a `[project]` field has the wrong type.
  #[error("{} is not a valid pyproject.toml: {message}", path.display())]
  Toml {
    /// The file.
    path: PathBuf,
    /// The parser's message (with the line and the key).
    message: String,
  },
  /// `backend.extras` names a group that `[project.optional-dependencies]` does not have.
  #[error("backend.extras names {extra:?}, but {} has no such group in [project.optional-dependencies] (it has: {known}): fix `backend.extras`", path.display())]
  UnknownExtra {
    /// The pyproject file.
    path: PathBuf,
    /// The group asked for.
    extra: String,
    /// The groups it has.
    known: String,
  },
  /// `backend.extras` is set but dependencies do not come from pyproject.toml.
  #[error("backend.extras is set, but the dependencies come from {} (extras are groups of [project.optional-dependencies] in pyproject.toml): remove `backend.extras`, or remove `backend.requirements`/requirements.txt to install from pyproject.toml", path.display())]
  ExtrasWithoutPyProject {
    /// The requirements file in use.
    path: PathBuf,
  },
  /// `pyproject.toml` declares its dependencies as dynamic (filled in by a build backend).
  #[error("{} lists \"dependencies\" in [project] dynamic, so farm cannot read them: set `backend.requirements` to the file that lists them", path.display())]
  DynamicDependencies {
    /// The pyproject file.
    path: PathBuf,
  },
  /// There is a `uv.lock` but no `uv` to read it with.
  #[error("{} pins the dependencies but `uv` is not on PATH: install uv (`pip install uv`, or https://docs.astral.sh/uv/), or set `backend.installer: \"pip\"` to install the ranges of [project.dependencies] without the lock", lock.display())]
  UvMissingForLock {
    /// The lock file.
    lock: PathBuf,
  },
  /// `uv export` failed (typically: the lock is out of date with pyproject.toml).
  #[error("`{command}` failed (exit {code}): {output}\nFix: run `uv lock` to update {} after changing pyproject.toml", lock.display())]
  Export {
    /// The command line.
    command: String,
    /// Its exit code.
    code: String,
    /// Its last lines.
    output: String,
    /// The lock file.
    lock: PathBuf,
  },
  /// `uv.lock` does not list what `pyproject.toml` asks for (it was not re-locked).
  #[error("{} is out of date with {}: {detail}. Fix: run `uv lock` in the backend's project and commit uv.lock", lock.display(), pyproject.display())]
  StaleLock {
    /// The lock file.
    lock: PathBuf,
    /// The pyproject file.
    pyproject: PathBuf,
    /// What differs.
    detail: String,
  },
  /// A child process could not run.
  #[error(transparent)]
  Process(#[from] ProcessError),
  /// The installer (`backend.installer`) could not be resolved (e.g. `uv` asked for, not on PATH).
  #[error(transparent)]
  Installer(#[from] VenvError),
  /// Writing the generated requirements list failed.
  #[error("writing {}: {source}", path.display())]
  Write {
    /// The file.
    path: PathBuf,
    /// Why.
    #[source]
    source: std::io::Error,
  },
}

/// The `[project]` table fields farm reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ProjectTable {
  /// `name`.
  pub name: Option<String>,
  /// `requires-python`, a PEP 440 specifier set.
  pub requires_python: Option<String>,
  /// `dependencies`: PEP 508 requirement strings.
  pub dependencies: Option<Vec<String>>,
  /// `optional-dependencies`: group → requirement strings.
  #[serde(default)]
  pub optional_dependencies: BTreeMap<String, Vec<String>>,
  /// `dynamic`: fields a build backend fills in.
  #[serde(default)]
  pub dynamic: Vec<String>,
}

/// A parsed `pyproject.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyProject {
  /// The file.
  pub path: PathBuf,
  /// Its `[project]` table, when it has one (Poetry-only files have none).
  pub project: Option<ProjectTable>,
}

#[derive(Deserialize)]
struct PyProjectFile {
  project: Option<ProjectTable>,
}

impl PyProject {
  /// Parses pyproject text; `path` names the file in errors.
  pub fn parse(text: &str, path: &Path) -> Result<PyProject, ProjectError> {
    let file: PyProjectFile = toml::from_str(text).map_err(|e| ProjectError::Toml {
      path: path.to_path_buf(),
      message: e.to_string().trim().replace('\n', " "),
    })?;
    Ok(PyProject { path: path.to_path_buf(), project: file.project })
  }

  /// Reads and parses `path`.
  pub fn read(path: &Path) -> Result<PyProject, ProjectError> {
    let text = std::fs::read_to_string(path)
      .map_err(|source| ProjectError::Read { path: path.to_path_buf(), source })?;
    PyProject::parse(&text, path)
  }

  /// `requires-python`, when declared.
  pub fn requires_python(&self) -> Option<&str> {
    self.project.as_ref()?.requires_python.as_deref()
  }
}

/// PEP 685 extra-name normalization: lowercase, runs of `-`, `_`, `.` become one `-`.
pub fn normalize_extra(name: &str) -> String {
  let mut out = String::new();
  for c in name.trim().chars() {
    if matches!(c, '-' | '_' | '.') {
      if !out.ends_with('-') {
        out.push('-');
      }
    } else {
      out.extend(c.to_lowercase());
    }
  }
  out
}

/// A distribution name normalized as PEP 503 does: lowercase, runs of `-`, `_`, `.` become `-`.
pub fn normalize_name(name: &str) -> String {
  normalize_extra(name)
}

/// The normalized distribution name of a PEP 508 requirement (`"Foo_Bar[x]>=1; marker"` →
/// `foo-bar`); `None` when it does not start with a name.
pub fn requirement_name(req: &str) -> Option<String> {
  let req = req.trim();
  let end = req
    .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    .unwrap_or(req.len());
  (end > 0).then(|| normalize_name(&req[..end]))
}

/// What a `uv.lock` is missing or has extra compared to the `[project]` table (dependencies and
/// every optional group, by name): `None` when they agree. uv records the project's requirements
/// under `[package.metadata] requires-dist` of the package named like the project; `uv export
/// --frozen` does not check them, so a dependency added without `uv lock` would silently be left
/// out of the venv.
pub fn lock_mismatch(project: &ProjectTable, lock_text: &str) -> Option<String> {
  let name = normalize_name(project.name.as_deref()?);
  let lock: toml::Value = match toml::from_str(lock_text) {
    Ok(v) => v,
    Err(e) => {
      return Some(format!("it is not valid TOML ({})", e.to_string().trim().replace('\n', " ")))
    }
  };
  let packages = lock.get("package").and_then(|p| p.as_array()).map(Vec::as_slice).unwrap_or(&[]);
  let Some(pkg) = packages
    .iter()
    .find(|p| p.get("name").and_then(|n| n.as_str()).is_some_and(|n| normalize_name(n) == name))
  else {
    return Some(format!("it has no package {name:?} (the project's name)"));
  };
  let locked: std::collections::BTreeSet<String> = pkg
    .get("metadata")
    .and_then(|m| m.get("requires-dist"))
    .and_then(|r| r.as_array())
    .map(|r| r.iter().filter_map(|d| d.get("name")?.as_str().map(normalize_name)).collect())
    .unwrap_or_default();
  let wanted: std::collections::BTreeSet<String> = project
    .dependencies
    .iter()
    .flatten()
    .chain(project.optional_dependencies.values().flatten())
    .filter_map(|r| requirement_name(r))
    .collect();
  let missing: Vec<&String> = wanted.difference(&locked).collect();
  let extra: Vec<&String> = locked.difference(&wanted).collect();
  let list = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
  match (missing.is_empty(), extra.is_empty()) {
    (true, true) => None,
    (false, true) => {
      Some(format!("pyproject.toml requires {} but uv.lock does not", list(&missing)))
    }
    (true, false) => {
      Some(format!("uv.lock still requires {} that pyproject.toml no longer lists", list(&extra)))
    }
    (false, false) => Some(format!(
      "pyproject.toml requires {} but uv.lock does not, and uv.lock still requires {}",
      list(&missing),
      list(&extra)
    )),
  }
}

/// Where the backend's dependencies come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dependencies {
  /// A requirements file: `backend.requirements`, or `requirements.txt` in the backend root.
  /// It may not exist when `backend.requirements` names it.
  Requirements(PathBuf),
  /// `[project.dependencies]` (+ extras) of the backend's `pyproject.toml`.
  PyProject {
    /// The pyproject file.
    pyproject: PathBuf,
    /// `[project.dependencies]` followed by each selected extra group's requirements.
    requirements: Vec<String>,
    /// The selected extras, normalized.
    extras: Vec<String>,
    /// The `uv.lock` that pins them, when there is one.
    lock: Option<PathBuf>,
  },
  /// Nothing declares dependencies (no requirements file, no `[project]` table).
  None,
}

/// The `uv.lock` uv would use for a project in `dir`: in `dir` or a parent, up to `root`.
pub fn find_uv_lock(dir: &Path, root: &Path) -> Option<PathBuf> {
  ancestors_within(dir, root).map(|d| d.join("uv.lock")).find(|p| p.is_file())
}

/// `dir` and its parents up to and including `root` (only `dir` when it is not under `root`).
pub fn ancestors_within<'a>(dir: &'a Path, root: &'a Path) -> impl Iterator<Item = &'a Path> {
  let inside = dir.starts_with(root);
  dir.ancestors().take_while(move |d| if inside { d.starts_with(root) } else { *d == dir })
}

/// Where the backend's dependencies come from (see the module docs). Errors for extras that do not
/// exist, extras without pyproject dependencies, dynamic dependencies, and a broken pyproject.toml.
pub fn dependencies(be: &BackendConfig, root: &Path) -> Result<Dependencies, ProjectError> {
  let api = resolve(root, &be.root);
  let requirements = match &be.requirements {
    Some(r) => Some(resolve(&api, r)),
    None => Some(api.join("requirements.txt")).filter(|p| p.is_file()),
  };
  if let Some(path) = requirements {
    if !be.extras.is_empty() {
      return Err(ProjectError::ExtrasWithoutPyProject { path });
    }
    return Ok(Dependencies::Requirements(path));
  }
  let pyproject = api.join("pyproject.toml");
  if !pyproject.is_file() {
    return Ok(Dependencies::None);
  }
  let parsed = PyProject::read(&pyproject)?;
  let Some(project) = parsed.project else { return Ok(Dependencies::None) };
  if project.dependencies.is_none() && project.dynamic.iter().any(|d| d == "dependencies") {
    return Err(ProjectError::DynamicDependencies { path: pyproject });
  }
  let mut reqs = project.dependencies.clone().unwrap_or_default();
  let groups: BTreeMap<String, &Vec<String>> =
    project.optional_dependencies.iter().map(|(k, v)| (normalize_extra(k), v)).collect();
  let mut extras = Vec::new();
  for e in &be.extras {
    let n = normalize_extra(e);
    let group = groups.get(&n).ok_or_else(|| ProjectError::UnknownExtra {
      path: pyproject.clone(),
      extra: e.clone(),
      known: if groups.is_empty() {
        "none".into()
      } else {
        groups.keys().cloned().collect::<Vec<_>>().join(", ")
      },
    })?;
    reqs.extend(group.iter().cloned());
    extras.push(n);
  }
  let mut seen = std::collections::BTreeSet::new();
  reqs.retain(|r| seen.insert(r.trim().to_string()));
  Ok(Dependencies::PyProject {
    pyproject,
    requirements: reqs,
    extras,
    lock: find_uv_lock(&api, root),
  })
}

/// The files whose content decides the backend's dependencies and interpreter check, beyond the
/// task's input globs: the requirements file, `pyproject.toml`, `uv.lock` (wherever uv finds it) and
/// `.python-version` (backend root up to the project root). Only existing files, sorted.
pub fn dependency_files(be: &BackendConfig, root: &Path) -> Vec<PathBuf> {
  let api = resolve(root, &be.root);
  let mut out = Vec::new();
  match &be.requirements {
    Some(r) => out.push(resolve(&api, r)),
    None => out.push(api.join("requirements.txt")),
  }
  out.push(api.join("pyproject.toml"));
  out.extend(find_uv_lock(&api, root));
  out.extend(super::python_check::find_python_version_file(&api, root));
  out.extend(super::python_check::find_requires_python(&api, root).ok().flatten().map(|r| r.file));
  out.retain(|p| p.is_file());
  out.sort();
  out.dedup();
  out
}

/// The backend files for the task key as (label, digest): each of [`dependency_files`] by its path
/// relative to the project root (e.g. `file:apps/api/uv.lock`).
pub fn key_files(
  be: &BackendConfig,
  root: &Path,
) -> std::io::Result<Vec<(String, crate::hash::Digest)>> {
  dependency_files(be, root)
    .into_iter()
    .map(|p| {
      let (d, _) = crate::hash::hash_file(&p)?;
      Ok((format!("file:{}", crate::report::rel_path(root, &p)), d))
    })
    .collect()
}

/// The requirements list the venv is built from, as text: a generated header, then one
/// requirement per line.
pub fn requirements_text(requirements: &[String], source: &str) -> String {
  let mut s = format!("# generated by farm from {source}\n");
  for r in requirements {
    s.push_str(r.trim());
    s.push('\n');
  }
  s
}

/// A requirements file for [`Dependencies`]: the file itself, or a generated list written into
/// `dir` (`<cacheDir>/venvs`) as `.req-<digest>.txt` — from `uv export --frozen --no-dev
/// --no-hashes` when there is a `uv.lock`, else from pyproject's requirement strings. `None` when
/// nothing declares dependencies. `log` gets what is done (never the user's environment).
pub async fn materialize(
  deps: &Dependencies,
  be: &BackendConfig,
  root: &Path,
  installer: &Installer,
  dir: &Path,
  log: &(dyn Fn(&str) + Send + Sync),
  cancel: &CancellationToken,
) -> Result<Option<PathBuf>, ProjectError> {
  let (pyproject, requirements, extras, lock) = match deps {
    Dependencies::None => return Ok(None),
    Dependencies::Requirements(p) => return Ok(Some(p.clone())),
    Dependencies::PyProject { pyproject, requirements, extras, lock } => {
      (pyproject, requirements, extras, lock)
    }
  };
  let rel = |p: &Path| crate::report::rel_path(root, p);
  let text = match lock {
    Some(lock) => {
      let uv = match installer {
        Installer::Uv(uv) => Some(uv.clone()),
        Installer::Pip => find_on_path("uv"),
      };
      let lock_text = std::fs::read_to_string(lock)
        .map_err(|source| ProjectError::Read { path: lock.clone(), source })?;
      if let Some(project) = PyProject::read(pyproject)?.project {
        if let Some(detail) = lock_mismatch(&project, &lock_text) {
          return Err(ProjectError::StaleLock {
            lock: lock.clone(),
            pyproject: pyproject.clone(),
            detail,
          });
        }
      }
      match uv {
        Some(uv) => export_lock(&uv, be, root, lock, extras, log, cancel).await?,
        None if be.installer == Some(crate::config::PythonInstaller::Pip) => {
          log(&format!(
            "{} is not used: `uv` is not on PATH and backend.installer is \"pip\"; installing the ranges of [project.dependencies]",
            rel(lock)
          ));
          requirements_text(requirements, &rel(pyproject))
        }
        None => return Err(ProjectError::UvMissingForLock { lock: lock.clone() }),
      }
    }
    None => {
      log(&format!(
        "dependencies from {} ([project.dependencies]{})",
        rel(pyproject),
        extras.iter().map(|e| format!(" + [{e}]")).collect::<String>()
      ));
      requirements_text(requirements, &rel(pyproject))
    }
  };
  let digest = crate::hash::Digest::of_bytes(text.as_bytes()).to_hex();
  let path = dir.join(format!(".req-{digest}.txt"));
  let write = |source| ProjectError::Write { path: path.clone(), source };
  if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
    // Mark it used, so pruning (`venv::prune`) leaves it alone while this build reads it.
    let f = std::fs::OpenOptions::new().write(true).open(&path).map_err(write)?;
    f.set_modified(std::time::SystemTime::now()).map_err(write)?;
  } else {
    crate::report::write_atomic(&path, text.as_bytes()).map_err(write)?;
  }
  Ok(Some(path))
}

/// The requirements list the backend's dependencies are installed from: the one list the backend
/// task builds the production venv from and the docker task makes the image's wheelhouse from
/// (both call [`resolve_requirements`], so the image gets exactly what the venv got).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedRequirements {
  /// Where the dependencies come from.
  pub deps: Dependencies,
  /// The requirements file: the user's own, or the list generated into `<cacheDir>/venvs`
  /// (`.req-<digest>.txt`, see [`materialize`]).
  pub file: PathBuf,
  /// The installer `backend.installer` resolves to.
  pub installer: Installer,
}

/// Whether [`Dependencies`] declare anything to install (a requirements file that exists, or a
/// `[project]` table).
pub fn declares_dependencies(deps: &Dependencies) -> bool {
  match deps {
    Dependencies::Requirements(p) => p.is_file(),
    Dependencies::PyProject { .. } => true,
    Dependencies::None => false,
  }
}

/// `<cacheDir>/venvs`: where the venvs and the generated requirements lists live.
pub fn venvs_dir(root: &Path, cache_dir: &str) -> PathBuf {
  resolve(root, cache_dir).join("venvs")
}

/// The backend's resolved requirements ([`dependencies`], the installer, [`materialize`] into
/// `venvs` = [`venvs_dir`]); `None` when nothing declares dependencies.
pub async fn resolve_requirements(
  be: &BackendConfig,
  root: &Path,
  venvs: &Path,
  log: &(dyn Fn(&str) + Send + Sync),
  cancel: &CancellationToken,
) -> Result<Option<ResolvedRequirements>, ProjectError> {
  let deps = dependencies(be, root)?;
  if !declares_dependencies(&deps) {
    return Ok(None);
  }
  let installer = Installer::resolve(be.installer.unwrap_or_default())?;
  let Some(file) = materialize(&deps, be, root, &installer, venvs, log, cancel).await? else {
    return Ok(None);
  };
  Ok(Some(ResolvedRequirements { deps, file, installer }))
}

/// `uv export --frozen --no-dev --no-hashes` of the backend's project: its locked, exact
/// requirements (the project itself left out: its sources are copied, not installed).
async fn export_lock(
  uv: &Path,
  be: &BackendConfig,
  root: &Path,
  lock: &Path,
  extras: &[String],
  log: &(dyn Fn(&str) + Send + Sync),
  cancel: &CancellationToken,
) -> Result<String, ProjectError> {
  let mut cmd = Cmd::new(uv.to_string_lossy()).args([
    "export",
    "--frozen",
    "--no-dev",
    "--no-hashes",
    "--no-header",
    "--no-annotate",
    "--no-emit-project",
    "--format",
    "requirements-txt",
  ]);
  for e in extras {
    cmd = cmd.args(["--extra", e.as_str()]);
  }
  let cmd = cmd.cwd(&resolve(root, &be.root)).env("UV_NO_PROGRESS", "1").capture_stdout();
  log(&format!(
    "dependencies locked by {}: {}",
    crate::report::rel_path(root, lock),
    cmd.display()
  ));
  let out = cmd.run(log, cancel).await?;
  if !out.success() {
    return Err(ProjectError::Export {
      command: cmd.display(),
      code: out.code.map_or("signal".into(), |c| c.to_string()),
      output: out.tail(20),
      lock: lock.to_path_buf(),
    });
  }
  Ok(format!(
    "# generated by farm: uv export of {}\n{}",
    crate::report::rel_path(root, lock),
    out.stdout
  ))
}

/// The interpreter that exports the OpenAPI document: the project's dev venv (`.venv` in the
/// project or backend root) when there is one, else the production venv the backend task built
/// (`<outputDir>/<outDir>/.venv`), else the backend's interpreter ([`super::python_for`]).
pub fn export_python(root: &Path, be: &BackendConfig, output_dir: &Path) -> String {
  for base in [root.to_path_buf(), resolve(root, &be.root)] {
    let dev = base.join(".venv/bin/python");
    if dev.exists() {
      return dev.to_string_lossy().into_owned();
    }
  }
  let prod = resolve(output_dir, &be.out_dir).join(".venv/bin/python");
  if prod.exists() {
    return prod.to_string_lossy().into_owned();
  }
  super::python_for(root, be)
}

#[cfg(test)]
mod tests {
  use super::*;
  use serde_json::json;

  fn be(v: serde_json::Value) -> BackendConfig {
    serde_json::from_value(v).unwrap()
  }

  #[test]
  fn reads_project_fields_and_ignores_the_rest() {
    let text = r#"
[build-system]
requires = ["hatchling"]

[project]
name = "api"
version = "0.1.0"
requires-python = ">=3.12"
dependencies = ["fastapi>=0.115", "pydantic-settings~=2.6"]

[project.optional-dependencies]
Prod = ["gunicorn>=23"]
dev = ["pytest"]

[tool.uv]
dev-dependencies = ["ruff"]
"#;
    let p = PyProject::parse(text, Path::new("pyproject.toml")).unwrap();
    let t = p.project.as_ref().unwrap();
    assert_eq!(t.name.as_deref(), Some("api"));
    assert_eq!(p.requires_python(), Some(">=3.12"));
    assert_eq!(t.dependencies.as_ref().unwrap(), &["fastapi>=0.115", "pydantic-settings~=2.6"]);
    assert_eq!(t.optional_dependencies["Prod"], ["gunicorn>=23"]);
    let poetry = PyProject::parse("[tool.poetry]\nname = \"x\"\n", Path::new("p")).unwrap();
    assert_eq!(poetry.project, None);
    let bad =
      PyProject::parse("[project]\ndependencies = \"fastapi\"\n", Path::new("api/pyproject.toml"));
    let m = bad.unwrap_err().to_string();
    assert!(m.contains("api/pyproject.toml") && m.contains("dependencies"), "{m}");
    let broken = PyProject::parse("[project\n", Path::new("p.toml")).unwrap_err().to_string();
    assert!(broken.contains("p.toml is not a valid pyproject.toml"), "{broken}");
  }

  #[test]
  fn dependency_source_order_extras_and_lock() {
    let d = std::env::temp_dir().join(format!("farm-proj-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    let api = d.join("api");
    std::fs::create_dir_all(&api).unwrap();
    std::fs::write(
      api.join("pyproject.toml"),
      "[project]\nname='a'\ndependencies=['fastapi']\n[project.optional-dependencies]\nprod_server=['gunicorn','fastapi']\n",
    )
    .unwrap();
    let deps = dependencies(&be(json!({ "root": "api", "extras": ["Prod.Server"] })), &d).unwrap();
    assert_eq!(
      deps,
      Dependencies::PyProject {
        pyproject: api.join("pyproject.toml"),
        requirements: vec!["fastapi".into(), "gunicorn".into()],
        extras: vec!["prod-server".into()],
        lock: None,
      }
    );
    let e = dependencies(&be(json!({ "root": "api", "extras": ["gpu"] })), &d).unwrap_err();
    assert!(e.to_string().contains("\"gpu\"") && e.to_string().contains("prod-server"), "{e}");
    // a uv.lock at the project root (a uv workspace) pins the backend
    std::fs::write(d.join("uv.lock"), "version = 1\n").unwrap();
    let Dependencies::PyProject { lock, .. } =
      dependencies(&be(json!({ "root": "api" })), &d).unwrap()
    else {
      panic!()
    };
    assert_eq!(lock, Some(d.join("uv.lock")));
    // requirements.txt wins, and extras then make no sense
    std::fs::write(api.join("requirements.txt"), "fastapi\n").unwrap();
    assert_eq!(
      dependencies(&be(json!({ "root": "api" })), &d).unwrap(),
      Dependencies::Requirements(api.join("requirements.txt"))
    );
    assert!(dependencies(&be(json!({ "root": "api", "extras": ["prod-server"] })), &d).is_err());
    let files: Vec<String> = dependency_files(&be(json!({ "root": "api" })), &d)
      .iter()
      .map(|p| crate::report::rel_path(&d, p))
      .collect();
    assert_eq!(files, ["api/pyproject.toml", "api/requirements.txt", "uv.lock"]);
    // dynamic dependencies cannot be read
    std::fs::remove_file(api.join("requirements.txt")).unwrap();
    std::fs::write(api.join("pyproject.toml"), "[project]\nname='a'\ndynamic=['dependencies']\n")
      .unwrap();
    let e = dependencies(&be(json!({ "root": "api" })), &d).unwrap_err().to_string();
    assert!(e.contains("dynamic") && e.contains("backend.requirements"), "{e}");
    std::fs::remove_dir_all(&d).unwrap();
  }

  #[test]
  fn a_lock_that_misses_a_dependency_is_stale() {
    let project = |deps: &[&str], prod: &[&str]| ProjectTable {
      name: Some("My_Api".into()),
      dependencies: Some(deps.iter().map(|s| s.to_string()).collect()),
      optional_dependencies: BTreeMap::from([(
        "prod".to_string(),
        prod.iter().map(|s| s.to_string()).collect(),
      )]),
      ..Default::default()
    };
    let lock = r#"
version = 1
[[package]]
name = "my-api"
version = "0.1.0"
source = { virtual = "." }
[package.metadata]
requires-dist = [
    { name = "idna", marker = "extra == 'prod'", specifier = ">=3" },
    { name = "six", specifier = ">=1.15" },
]
[[package]]
name = "six"
version = "1.15.0"
"#;
    assert_eq!(
      lock_mismatch(&project(&["Six >= 1.15"], &["idna[all]>=3; python_version>'3'"]), lock),
      None
    );
    let m = lock_mismatch(&project(&["six>=1.15", "certifi"], &["idna>=3"]), lock).unwrap();
    assert_eq!(m, "pyproject.toml requires certifi but uv.lock does not");
    let m = lock_mismatch(&project(&["six"], &[]), lock).unwrap();
    assert_eq!(m, "uv.lock still requires idna that pyproject.toml no longer lists");
    let other = ProjectTable { name: Some("other".into()), ..project(&[], &[]) };
    assert!(lock_mismatch(&other, lock).unwrap().contains("no package \"other\""));
    assert_eq!(requirement_name("  Foo.Bar_baz[x] @ https://x"), Some("foo-bar-baz".into()));
    assert_eq!(requirement_name(">=1"), None);
  }

  #[test]
  fn extra_names_normalize() {
    assert_eq!(normalize_extra("Prod__Server.x"), "prod-server-x");
  }
}
