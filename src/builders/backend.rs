//! The backend builder: a filtered copy of the FastAPI app, compiled to bytecode.
//!
//! The copy leaves out caches, tests, virtualenvs and `.env` files (secrets never reach the output),
//! then `python -m compileall -b` compiles the copy (never the user's sources). A syntax error fails
//! the task with Python's own message.

use super::staging::StagedDir;
use super::{process_error, Builder, TaskContext};
use crate::config::{resolve, BackendConfig};
use crate::report;
use crate::run::process::Cmd;
use crate::run::{TaskError, TaskOutcome};
use futures_util::future::BoxFuture;
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::path::{Path, PathBuf};

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

/// Builds the `backend` task.
pub struct BackendBuilder;

impl Builder for BackendBuilder {
  fn build<'a>(
    &'a self,
    ctx: &'a TaskContext<'a>,
  ) -> BoxFuture<'a, Result<TaskOutcome, TaskError>> {
    Box::pin(async move {
      let be = ctx
        .config
        .backend
        .as_ref()
        .ok_or_else(|| TaskError::Failed("no `backend` section in the config".into()))?;
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
      ctx.log(&format!("python {version} ({python})"));

      let staged = StagedDir::new(&ctx.output_dir.join(&be.out_dir))
        .map_err(|e| TaskError::Failed(format!("creating the backend output dir: {e}")))?;
      let excludes = user_excludes(be)?;
      let dest = staged.path().to_path_buf();
      let src2 = src.clone();
      let copied = tokio::task::spawn_blocking(move || copy_filtered(&src2, &dest, &excludes))
        .await
        .map_err(|e| TaskError::Failed(format!("copy task panicked: {e}")))?
        .map_err(|e| TaskError::Failed(format!("copying {} to the output: {e}", src.display())))?;
      ctx.log(&format!("copied {} files ({} left out)", copied.copied, copied.skipped));

      let out = Cmd::new(&python)
        .args(["-m", "compileall", "-b", "-f", "-q"])
        .arg_path(staged.path())
        .cwd(staged.path())
        .env("PYTHONDONTWRITEBYTECODE", "")
        .run(&|l| ctx.log(l), &ctx.cancel)
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
      staged
        .commit()
        .map_err(|e| TaskError::Failed(format!("moving the backend output into place: {e}")))?;
      let mut art = report::describe(ctx.root, &final_path, "backend-source", "api")
        .map_err(|e| TaskError::Failed(format!("hashing {}: {e}", final_path.display())))?;
      art.metadata.insert("pythonVersion".into(), version.clone().into());
      art.metadata.insert("framework".into(), "FastAPI".into());
      art.metadata.insert("entryPoint".into(), be.app.clone().into());
      let mut outcome = TaskOutcome::default();
      outcome.metadata.insert("pythonVersion".into(), version.into());
      outcome.metadata.insert("filesCopied".into(), copied.copied.into());
      outcome.artifacts.push(art);
      Ok(outcome)
    })
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

fn user_excludes(be: &BackendConfig) -> Result<GlobSet, TaskError> {
  let mut b = GlobSetBuilder::new();
  for (i, g) in be.exclude.iter().enumerate() {
    let glob = Glob::new(g).map_err(|e| {
      TaskError::Failed(format!("backend.exclude[{i}] {g:?} is not a valid glob: {e}"))
    })?;
    b.add(glob);
  }
  b.build().map_err(|e| TaskError::Failed(format!("backend.exclude: {e}")))
}

/// How many files were copied and left out.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CopyStats {
  /// Files copied.
  pub copied: usize,
  /// Files and directories left out.
  pub skipped: usize,
}

/// Copies `src` into `dest`, leaving out [`SKIP_DIRS`], [`SKIP_FILES`] and `extra` (globs on the
/// path relative to `src`). Symlinks are not followed.
pub fn copy_filtered(src: &Path, dest: &Path, extra: &GlobSet) -> std::io::Result<CopyStats> {
  let skip_files = {
    let mut b = GlobSetBuilder::new();
    for g in SKIP_FILES {
      if let Ok(glob) = Glob::new(g) {
        b.add(glob);
      }
    }
    b.build().map_err(std::io::Error::other)?
  };
  let mut stats = CopyStats::default();
  let mut stack: Vec<PathBuf> = vec![PathBuf::new()];
  while let Some(rel) = stack.pop() {
    let dir = src.join(&rel);
    std::fs::create_dir_all(dest.join(&rel))?;
    for entry in std::fs::read_dir(&dir)? {
      let entry = entry?;
      let name = entry.file_name();
      let name_s = name.to_string_lossy();
      let child_rel = rel.join(&name);
      let ft = entry.file_type()?;
      if extra.is_match(&child_rel) {
        stats.skipped += 1;
        continue;
      }
      if ft.is_dir() {
        if SKIP_DIRS.contains(&name_s.as_ref()) {
          stats.skipped += 1;
        } else {
          stack.push(child_rel);
        }
      } else if ft.is_file() {
        if skip_files.is_match(Path::new(name_s.as_ref())) {
          stats.skipped += 1;
        } else {
          std::fs::copy(entry.path(), dest.join(&child_rel))?;
          stats.copied += 1;
        }
      } else {
        stats.skipped += 1;
      }
    }
  }
  Ok(stats)
}

/// Error messages name the user's source files, not the staging copy.
fn strip_staging(text: &str, staging: &Path, src: &Path) -> String {
  text.replace(&*staging.to_string_lossy(), &src.to_string_lossy())
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
    let mut b = GlobSetBuilder::new();
    b.add(Glob::new("scripts/**").unwrap());
    b.add(Glob::new("scripts").unwrap());
    let stats = copy_filtered(&src, &dest, &b.build().unwrap()).unwrap();
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
