//! The backend builder: a filtered copy of the FastAPI app, import-tidied, compiled to bytecode,
//! with a production virtualenv and optional migrations.
//!
//! Steps, all on a staging copy that replaces `<outputDir>/<outDir>` only when every step succeeded:
//! 0. check the interpreter against `requires-python` and `.python-version`
//!    ([`python_check`]), and assemble the environment of `backend.envFile` / `backend.env`
//!    ([`env`]);
//! 1. copy `backend.root` without caches, tests, virtualenvs, `.env` files nor `backend.envFile`
//!    (secrets never reach the output);
//! 2. tidy imports with ruff ([`tidy`]): unused imports removed, imports sorted, in the copy only;
//! 3. `python -m compileall -b` on the copy (a syntax error fails the task with Python's message,
//!    naming the user's file);
//! 4. the production venv ([`venv`]): from a requirements file or `pyproject.toml` (+ `uv.lock`)
//!    ([`project`]), built once per requirements content in `<cacheDir>/venvs`, copied to
//!    `<outDir>/.venv`, then the app's module is imported with it (and the backend env), so a
//!    missing requirement (or an import removed by tidying) fails the build, not the deployment;
//! 5. the migration command (`backend.migrate`), run in the copy with the venv on `PATH` and the
//!    backend env.
//!
//! The user's sources are never written to. Log lines and error messages go through the env's
//! [`env::Redactor`].

pub mod env;
pub mod project;
pub mod python_check;
pub mod tidy;
pub mod venv;

#[cfg(test)]
mod build_tests;

use super::staging::StagedDir;
use super::{
  process_error, Builder, IoContext, MachineFact, Output, Reads, TaskContext, TaskIo, Tool,
  Uncached,
};
use crate::config::{resolve, BackendConfig};
use crate::report;
use crate::run::process::Cmd;
use crate::run::{TaskError, TaskOutcome};
use futures_util::future::BoxFuture;
use globset::Glob;
use std::path::Path;

/// Directory names never copied.
const SKIP_DIRS: &[&str] = &[
  "__pycache__",
  ".pytest_cache",
  ".mypy_cache",
  ".ruff_cache",
  ".tox",
  ".venv",
  "venv",
  "env",
  "node_modules",
  ".git",
  "tests",
  "test",
];

/// File names never copied (globs on the name).
const SKIP_FILES: &[&str] =
  &["test_*.py", "*_test.py", "conftest.py", "*.pyc", "*.pyo", ".env", ".env.*", ".coverage"];

/// Cached venvs unused for this long are deleted when a new one is built.
const VENV_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(14 * 24 * 3600);

/// Imports the app's module from the current directory (the output copy).
const IMPORT_CHECK: &str =
  "import importlib, os, sys; sys.path.insert(0, os.getcwd()); importlib.import_module(sys.argv[1])";

/// Where a backend task's log lines go (already redacted).
type Log<'a> = dyn Fn(&str) + Send + Sync + 'a;

/// Builds the `backend` task.
pub struct BackendBuilder;

impl Builder for BackendBuilder {
  fn io(&self, cx: &IoContext<'_>) -> TaskIo {
    let Some(be) = cx.config.backend.as_ref() else {
      return TaskIo { reads: Err(Uncached::MissingSection("backend")), writes: Vec::new() };
    };
    let out = resolve(&cx.output_dir(), &be.out_dir);
    let writes = vec![Output::new("api", out.clone())];
    let reads = source_reads(cx, be).map(|mut r| {
      r.config = serde_json::json!({
        "backend": env::key_config(be),
        "environment": cx.config.environment.as_str(),
      });
      // The production venv names the interpreter's directory (`home` in `pyvenv.cfg`) and holds
      // a copy of it. uv makes it relocatable (activate scripts and entry points find the venv
      // from their own location), so with uv the key stays portable between machines with the
      // same interpreter, and uv's version enters it (it is written into `pyvenv.cfg`). pip's
      // `venv` writes the absolute location into the activate scripts: that output is bound to
      // this checkout, and so is its key (never shared through a remote cache).
      if builds_venv(be, cx.root) {
        r.machine = vec![MachineFact::PythonHome(python_for(cx.root, be))];
        match venv::Installer::resolve(be.installer.unwrap_or_default()) {
          Ok(venv::Installer::Uv(uv)) => {
            r.tools.push(Tool::Executable { name: "uv".into(), path: uv });
          }
          _ => r.machine.push(MachineFact::OutputPath(out.join(".venv"))),
        }
      }
      r
    });
    TaskIo { reads, writes }
  }

  fn after_restore<'a>(
    &'a self,
    ctx: &'a TaskContext<'a>,
  ) -> BoxFuture<'a, Result<Vec<String>, TaskError>> {
    Box::pin(async move {
      let be = ctx.backend()?;
      let Some(command) = &be.migrate else { return Ok(Vec::new()) };
      let out = ctx.output_dir.join(&be.out_dir);
      let has_venv = out.join(".venv/bin/python").exists();
      let benv = env::BackendEnv::load(be, ctx.root, |n| std::env::var(n).ok())
        .map_err(|e| TaskError::Failed(e.to_string()))?;
      let red = benv.redactor();
      let log = |l: &str| ctx.log(&red.redact(l));
      let warning = migrate(ctx, be, &benv, command, &out, &out, has_venv, &log)
        .await
        .map_err(|e| red.redact_error(e))?;
      Ok(warning.into_iter().map(|w| red.redact(&w)).collect())
    })
  }

  fn build<'a>(
    &'a self,
    ctx: &'a TaskContext<'a>,
  ) -> BoxFuture<'a, Result<TaskOutcome, TaskError>> {
    Box::pin(async move {
      let be = ctx.backend()?;
      let benv = env::BackendEnv::load(be, ctx.root, |n| std::env::var(n).ok())
        .map_err(|e| TaskError::Failed(e.to_string()))?;
      let red = benv.redactor();
      let log = |l: &str| ctx.log(&red.redact(l));
      match build_backend(ctx, be, &benv, &log).await {
        Ok(mut outcome) => {
          outcome.warnings = outcome.warnings.iter().map(|w| red.redact(w)).collect();
          Ok(outcome)
        }
        Err(e) => Err(red.redact_error(e)),
      }
    })
  }
}

/// Logs what the backend env holds: names and where they come from, never values.
pub(crate) fn log_env(be: &BackendConfig, benv: &env::BackendEnv, log: &Log<'_>) {
  if let Some(path) = &benv.missing_file {
    log(&format!(
      "backend.envFile {:?} does not exist ({}): the app's settings come from the process env only",
      be.env_file.as_deref().unwrap_or(""),
      path.display()
    ));
  }
  if !benv.invalid_lines.is_empty() {
    let lines: Vec<String> = benv.invalid_lines.iter().map(|n| n.to_string()).collect();
    log(&format!(
      "backend.envFile {:?}: could not parse line(s) {} (skipped, as python-dotenv does)",
      be.env_file.as_deref().unwrap_or(""),
      lines.join(", ")
    ));
  }
  if !benv.is_empty() {
    let names: Vec<&str> = benv.vars().keys().map(String::as_str).collect();
    log(&format!("env: {} (values hidden)", names.join(", ")));
  }
}

/// The backend task, its messages going to `log`.
async fn build_backend(
  ctx: &TaskContext<'_>,
  be: &BackendConfig,
  benv: &env::BackendEnv,
  log: &Log<'_>,
) -> Result<TaskOutcome, TaskError> {
  let src = resolve(ctx.root, &be.root);
  if !src.is_dir() {
    return Err(TaskError::Failed(format!(
      "backend.root {:?} is not a directory ({}): set `backend.root` to the FastAPI app's folder",
      be.root,
      src.display()
    )));
  }
  let python = python_for(ctx.root, be);
  let version = python_version(&python, ctx).await?;
  ctx.record_tool("python", &version);
  log(&format!("python {version} ({python})"));
  for note in python_check::check(&version, &python, be, ctx.root)
    .map_err(|e| TaskError::Failed(e.to_string()))?
  {
    log(&note);
  }
  log_env(be, benv, log);
  let mut outcome = TaskOutcome::default();

  let staged = StagedDir::new(&ctx.output_dir.join(&be.out_dir))
    .map_err(|e| TaskError::Failed(format!("creating the backend output dir: {e}")))?;
  check_excludes(be)?;
  let cx = IoContext { task: ctx.task, config: ctx.config, root: ctx.root };
  let reads = source_reads(&cx, be).map_err(|e| TaskError::Failed(e.to_string()))?;
  let dest = staged.path().to_path_buf();
  let copied = tokio::task::spawn_blocking(move || copy_sources(&reads, &dest))
    .await
    .map_err(|e| TaskError::Failed(format!("copy task panicked: {e}")))?
    .map_err(|e| TaskError::Failed(format!("copying {} to the output: {e}", src.display())))?;
  log(&format!("copied {} files", copied.copied + copied.links));

  let tidied = tidy_imports(ctx, be, &python, staged.path(), log).await?;

  let out = Cmd::new(&python)
    // checked-hash: the .pyc records the source's hash, not its mtime, so the output is
    // byte-for-byte the same on every build of the same sources (cached == clean).
    .args(["-m", "compileall", "-b", "-f", "-q", "--invalidation-mode", "checked-hash", "-d"])
    // The name tracebacks show, relative to the project: not the staging dir's (it holds a
    // pid), not the checkout's absolute path (outputs travel between machines).
    .arg(report::rel_path(ctx.root, staged.final_path()))
    .arg_path(staged.path())
    .cwd(staged.path())
    .env("PYTHONDONTWRITEBYTECODE", "")
    .run(log, &ctx.cancel)
    .await
    .map_err(process_error)?;
  if !out.success() {
    return Err(TaskError::Failed(format!(
      "python -m compileall failed (exit {}):\n{}",
      out.code.map_or("signal".into(), |c| c.to_string()),
      strip_staging(&out.tail(40), staged.path(), &src)
    )));
  }
  if ctx.cancel.is_cancelled() {
    return Err(TaskError::Cancelled);
  }
  let final_path = staged.final_path().to_path_buf();
  let venv = production_venv(ctx, be, &python, &src, staged.path(), &final_path, log).await?;
  if venv.is_some() {
    import_check(ctx, be, benv, staged.path(), &final_path, log).await?;
  }
  if let Some(command) = &be.migrate {
    let has_venv = venv.is_some();
    let (copy, fin) = (staged.path(), final_path.as_path());
    if let Some(w) = migrate(ctx, be, benv, command, copy, fin, has_venv, log).await? {
      outcome.warnings.push(w);
    }
  }
  if ctx.cancel.is_cancelled() {
    return Err(TaskError::Cancelled);
  }
  staged
    .commit()
    .map_err(|e| TaskError::Failed(format!("moving the backend output into place: {e}")))?;
  let mut art = report::describe(ctx.root, &final_path, "backend-source", "api")
    .map_err(|e| TaskError::Failed(format!("hashing {}: {e}", final_path.display())))?;
  art.metadata.insert("pythonVersion".into(), version.clone().into());
  art.metadata.insert("framework".into(), "FastAPI".into());
  art.metadata.insert("entryPoint".into(), be.app.clone().into());
  if let Some(n) = tidied {
    art.metadata.insert("importFixes".into(), n.into());
  }
  if let Some((v, installer)) = &venv {
    art.metadata.insert("dependencyCount".into(), v.dependency_count.into());
    art.metadata.insert("venv".into(), format!("{}/.venv", be.out_dir).into());
    art.metadata.insert("venvKey".into(), v.key.clone().into());
    art.metadata.insert("venvReused".into(), v.reused.into());
    art.metadata.insert("installer".into(), installer.clone().into());
    outcome.metadata.insert("dependencyCount".into(), v.dependency_count.into());
  }
  outcome.metadata.insert("pythonVersion".into(), version.into());
  outcome.metadata.insert("filesCopied".into(), copied.copied.into());
  outcome.artifacts.push(art);
  Ok(outcome)
}

/// Runs ruff on the copy when `tidyImports` asks for it (or, unset, when ruff is available).
/// Returns the number of fixes, `None` when not tidied.
async fn tidy_imports(
  ctx: &TaskContext<'_>,
  be: &BackendConfig,
  python: &str,
  copy: &Path,
  log: &Log<'_>,
) -> Result<Option<usize>, TaskError> {
  if be.tidy_imports == Some(false) {
    return Ok(None);
  }
  let Some(ruff) = tidy::Ruff::find(python, &ctx.cancel).await.map_err(process_error)? else {
    if be.tidy_imports == Some(true) {
      return Err(TaskError::Failed(format!(
        "backend.tidyImports is true but ruff is not available (neither `{python} -m ruff` nor `ruff` on PATH): install it with `{python} -m pip install ruff`, or set `tidyImports: false`"
      )));
    }
    log("ruff not found: imports are not tidied (install ruff, or set backend.tidyImports: false)");
    return Ok(None);
  };
  ctx.record_tool("ruff", ruff.version.trim_start_matches("ruff "));
  let n = ruff.tidy(copy, log, &ctx.cancel).await.map_err(|e| {
    if ctx.cancel.is_cancelled() {
      TaskError::Cancelled
    } else {
      TaskError::Failed(e)
    }
  })?;
  log(&format!("{}: {n} import fixes in the output copy", ruff.version));
  Ok(Some(n))
}

/// Builds (or reuses) the production venv and copies it to `<copy>/.venv`; `None` when there is
/// none to build. Returns the venv and the installer's name.
async fn production_venv(
  ctx: &TaskContext<'_>,
  be: &BackendConfig,
  python: &str,
  src: &Path,
  copy: &Path,
  final_path: &Path,
  log: &Log<'_>,
) -> Result<Option<(venv::CachedVenv, String)>, TaskError> {
  if be.venv == Some(false) {
    return Ok(None);
  }
  let project_fail = |e: project::ProjectError| match e {
    project::ProjectError::Process(p) => process_error(p),
    other => TaskError::Failed(format!("reading the backend's dependencies: {other}")),
  };
  let cache = project::venvs_dir(ctx.root, &ctx.config.cache_dir);
  let resolved = project::resolve_requirements(be, ctx.root, &cache, log, &ctx.cancel)
    .await
    .map_err(project_fail)?;
  let Some(project::ResolvedRequirements { file: requirements, installer, .. }) = resolved else {
    if be.venv == Some(true) {
      let requirements = match &be.requirements {
        Some(r) => resolve(src, r),
        None => src.join("requirements.txt"),
      };
      return Err(TaskError::Failed(format!(
        "backend.venv is true but the requirements file {} does not exist (nor a [project] table in pyproject.toml): create one, set `backend.requirements`, or set `venv: false`",
        requirements.display()
      )));
    }
    return Ok(None);
  };
  let fail = |e: venv::VenvError| match e {
    venv::VenvError::Process(p) => process_error(p),
    other => TaskError::Failed(format!("building the production venv: {other}")),
  };
  let spec = venv::VenvSpec {
    python: python.to_string(),
    requirements,
    cwd: src.to_path_buf(),
    installer,
    cache,
  };
  // The lock keeps the cached venv from being evicted or rebuilt until it has been copied out.
  let (cached, lock) = venv::ensure(&spec, log, &ctx.cancel).await.map_err(fail)?;
  if let Some(why) = &cached.repaired {
    ctx.events.warn(Some(ctx.task), format!("{why}: deleted and rebuilt"));
  }
  log(&format!(
    "venv {}: {} ({} dependencies)",
    cached.key,
    if cached.reused { "unchanged requirements, reused" } else { "built" },
    cached.dependency_count
  ));
  if !cached.reused {
    venv::prune(&spec.cache, &cached.key, VENV_MAX_AGE);
  }
  let (from, to, fin) = (cached.clone(), copy.join(".venv"), final_path.join(".venv"));
  tokio::task::spawn_blocking(move || venv::place(&from, &to, &fin))
    .await
    .map_err(|e| TaskError::Failed(format!("venv copy task panicked: {e}")))?
    .map_err(fail)?;
  drop(lock);
  log(&format!("venv copied to {}/.venv", be.out_dir));
  Ok(Some((cached, spec.installer.name().to_string())))
}

/// Imports the app's module from the output copy with the production venv and the backend env.
async fn import_check(
  ctx: &TaskContext<'_>,
  be: &BackendConfig,
  benv: &env::BackendEnv,
  copy: &Path,
  final_path: &Path,
  log: &Log<'_>,
) -> Result<(), TaskError> {
  let module = be.app.split_once(':').map_or(be.app.as_str(), |(m, _)| m);
  let py = copy.join(".venv/bin/python");
  let cmd = Cmd::new(py.to_string_lossy())
    .args(["-c", IMPORT_CHECK, module])
    .cwd(copy)
    .env("PYTHONDONTWRITEBYTECODE", "1");
  let out = benv.apply(cmd).run(log, &ctx.cancel).await.map_err(process_error)?;
  if out.success() {
    log(&format!("`{module}` imports with the production venv"));
  } else {
    let missing = benv.missing_file.as_ref().map_or(String::new(), |p| {
      format!(
        " (backend.envFile {} does not exist, so only the process env was given)",
        p.display()
      )
    });
    return Err(TaskError::Failed(format!(
      "the output copy does not import `{module}` with the production venv ({}/.venv): a package missing from the requirements file, an import that tidyImports removed (mark side-effect imports with `# noqa: F401`), or a setting the app reads at import time (give it with `backend.envFile` or `backend.env`){missing}:\n{}",
      be.out_dir,
      strip_staging(&out.tail(30), copy, final_path)
    )));
  }
  Ok(())
}

/// Runs `backend.migrate` through `sh -c` in the output copy, with the production venv (if any)
/// first on `PATH` and the backend env. A failure fails the task, or is returned as a warning when
/// `failOnMigrationError` is false.
#[allow(clippy::too_many_arguments)]
async fn migrate(
  ctx: &TaskContext<'_>,
  be: &BackendConfig,
  benv: &env::BackendEnv,
  command: &str,
  copy: &Path,
  final_path: &Path,
  has_venv: bool,
  log: &Log<'_>,
) -> Result<Option<String>, TaskError> {
  log(&format!("migrate: {command}"));
  let mut cmd =
    benv.apply(Cmd::new("sh").args(["-c", command]).cwd(copy)).env("PYTHONDONTWRITEBYTECODE", "1");
  if has_venv {
    let venv = copy.join(".venv");
    let path = std::env::var("PATH").unwrap_or_default();
    cmd = cmd
      .env("PATH", format!("{}/bin:{path}", venv.display()))
      .env("VIRTUAL_ENV", venv.to_string_lossy());
  }
  let out = cmd.run(log, &ctx.cancel).await.map_err(process_error)?;
  if out.success() {
    return Ok(None);
  }
  let msg = format!(
    "migration `{command}` failed (exit {}):\n{}",
    out.code.map_or("signal".into(), |c| c.to_string()),
    strip_staging(&out.tail(40), copy, final_path)
  );
  if be.fail_on_migration_error.unwrap_or(true) {
    Err(TaskError::Failed(msg))
  } else {
    Ok(Some(msg))
  }
}

/// The interpreter: `backend.python`, else a `.venv` in the project or backend root, else `python3`.
pub fn python_for(root: &Path, be: &BackendConfig) -> String {
  if let Some(p) = &be.python {
    return if p.contains('/') {
      resolve(root, p).to_string_lossy().into_owned()
    } else {
      p.clone()
    };
  }
  for base in [root.to_path_buf(), resolve(root, &be.root)] {
    let cand = base.join(".venv/bin/python");
    if cand.exists() {
      return cand.to_string_lossy().into_owned();
    }
  }
  "python3".into()
}

pub(crate) async fn python_version(
  python: &str,
  ctx: &TaskContext<'_>,
) -> Result<String, TaskError> {
  let out = Cmd::new(python)
    .args(["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"])
    .capture_stdout()
    .run(&|_| {}, &ctx.cancel)
    .await
    .map_err(|e| match e {
      crate::run::process::ProcessError::Spawn { program, source } => TaskError::Failed(format!(
        "cannot run the Python interpreter `{program}` ({source}): install Python 3, create `.venv`, or set `backend.python`"
      )),
      other => process_error(other),
    })?;
  if !out.success() {
    return Err(TaskError::Failed(format!("`{python}` does not run Python: {}", out.tail(5))));
  }
  Ok(out.stdout.trim().to_string())
}

fn check_excludes(be: &BackendConfig) -> Result<(), TaskError> {
  for (i, g) in be.exclude.iter().enumerate() {
    Glob::new(g).map_err(|e| {
      TaskError::Failed(format!("backend.exclude[{i}] {g:?} is not a valid glob: {e}"))
    })?;
  }
  Ok(())
}

/// How many files were copied.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CopyStats {
  /// Files copied.
  pub copied: usize,
  /// Symlinks recreated.
  pub links: usize,
}

/// The backend's sources as input globs over `backend.root`: every file except [`SKIP_DIRS`],
/// [`SKIP_FILES`] and `backend.exclude`. The copy takes exactly these files, and the key hashes
/// exactly these files, so the two cannot drift.
pub fn source_globs(be: &BackendConfig) -> Vec<String> {
  let mut g = vec!["**".to_string()];
  g.extend(SKIP_DIRS.iter().map(|d| format!("!**/{d}/**")));
  g.extend(SKIP_FILES.iter().map(|f| format!("!**/{f}")));
  for e in &be.exclude {
    let e = e.trim_end_matches('/');
    g.push(format!("!{e}"));
    g.push(format!("!{e}/**"));
  }
  g
}

/// What the backend's sources are, as the key and the copy see them: [`source_globs`] over
/// `backend.root` (`.gitignore` honoured), minus `outputDir`, `cacheDir` and the env file, plus the
/// files that decide the dependencies and the interpreter check wherever they live (requirements,
/// `pyproject.toml`, `uv.lock`, `.python-version`), the backend env (digests) and `python`.
pub fn source_reads(cx: &IoContext<'_>, be: &BackendConfig) -> Result<Reads, Uncached> {
  let root = resolve(cx.root, &be.root);
  let mut globs = cx.input_globs(source_globs(be));
  // The env file holds secrets: whatever its name, it is never copied (nor read as an input: its
  // values enter the key hashed, through the env).
  if let Some(rel) =
    env::env_file_path(be, cx.root).as_deref().and_then(|f| f.strip_prefix(&root).ok())
  {
    globs.push(format!("!{}", globset::escape(&rel.to_string_lossy())));
  }
  let env_digests = env::key_env(be, cx.root)
    .map_err(|e| Uncached::HashFailed(format!("the backend env cannot be read: {e}")))?;
  Ok(Reads {
    root,
    globs,
    gitignore: true,
    ignore: vec![cx.output_dir(), cx.cache_dir()],
    files: project::dependency_files(be, cx.root),
    env: cx.env_names(Vec::new()),
    env_digests,
    tools: vec![Tool::Python(python_for(cx.root, be))],
    ..Reads::default()
  })
}

/// Whether the backend task builds a production venv into its output: `backend.venv` is not
/// `false` and dependencies are declared (a requirements file, or a `[project]` table in
/// `pyproject.toml`). A broken `pyproject.toml` counts as declared (the build reports it).
pub fn builds_venv(be: &BackendConfig, root: &Path) -> bool {
  if be.venv == Some(false) {
    return false;
  }
  match project::dependencies(be, root) {
    Ok(project::Dependencies::Requirements(p)) => p.is_file() || be.venv == Some(true),
    Ok(project::Dependencies::PyProject { .. }) | Err(_) => true,
    Ok(project::Dependencies::None) => be.venv == Some(true),
  }
}

/// Copies the files of `reads` (see [`source_reads`]) into `dest`, keeping relative paths;
/// symlinks are recreated as symlinks.
pub fn copy_sources(reads: &Reads, dest: &Path) -> std::io::Result<CopyStats> {
  let stat = crate::hash::StatCache::empty(dest.join(".unused-stat-cache"));
  let set = crate::hash::hash_inputs(&reads.input_spec(), &stat).map_err(std::io::Error::other)?;
  let mut stats = CopyStats::default();
  std::fs::create_dir_all(dest)?;
  for f in &set.files {
    let from = reads.root.join(&f.path);
    let to = dest.join(&f.path);
    if let Some(parent) = to.parent() {
      std::fs::create_dir_all(parent)?;
    }
    let meta = std::fs::symlink_metadata(&from)?;
    if meta.file_type().is_symlink() {
      std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
      stats.links += 1;
    } else {
      std::fs::copy(&from, &to)?;
      stats.copied += 1;
    }
  }
  Ok(stats)
}

/// Error messages name `shown` (the user's sources, or the final output), not the staging copy.
fn strip_staging(text: &str, staging: &Path, shown: &Path) -> String {
  text.replace(&*staging.to_string_lossy(), &shown.to_string_lossy())
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn copy_leaves_out_tests_caches_and_secrets() {
    let base = std::env::temp_dir().join(format!("farm-be-copy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let (src, dest) = (base.join("src"), base.join("dest"));
    for d in ["routers", "tests", "__pycache__", ".pytest_cache", "scripts"] {
      std::fs::create_dir_all(src.join(d)).unwrap();
    }
    for f in [
      "main.py",
      "routers/users.py",
      "routers/test_users.py",
      "tests/test_x.py",
      "__pycache__/main.cpython-311.pyc",
      ".env",
      ".env.local",
      "conftest.py",
      "requirements.txt",
      "scripts/seed.py",
    ] {
      std::fs::write(src.join(f), "x").unwrap();
    }
    let cfg = crate::config::FarmConfig::from_json(
      serde_json::json!({ "appName": "x", "backend": { "root": "src", "exclude": ["scripts"] } }),
      "farm.config.json",
    )
    .unwrap();
    let cx = IoContext { task: "backend", config: &cfg, root: &base };
    let reads = source_reads(&cx, cfg.backend.as_ref().unwrap());
    let stats = copy_sources(&reads.unwrap(), &dest).unwrap();
    let mut got: Vec<String> = Vec::new();
    let mut stack = vec![dest.clone()];
    while let Some(d) = stack.pop() {
      for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
          stack.push(p);
        } else {
          got.push(report::rel_path(&dest, &p));
        }
      }
    }
    got.sort();
    assert_eq!(got, ["main.py", "requirements.txt", "routers/users.py"]);
    assert_eq!(stats.copied, 3);
    std::fs::remove_dir_all(&base).unwrap();
  }
}
