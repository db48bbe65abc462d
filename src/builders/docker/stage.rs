//! What the production image needs besides the outputs, staged under
//! `<outputDir>/`[`IMAGE_DIR`](crate::deploy::dockerfile::IMAGE_DIR): the requirements list the
//! backend task installed ([`resolve_requirements`](crate::builders::backend::project::resolve_requirements):
//! the user's requirements file, or the list resolved from `pyproject.toml` / `uv.lock`) as
//! [`STAGED_REQUIREMENTS`] (the files it includes under `requirements/`, its include lines
//! rewritten to point there), and a wheelhouse made from it on the host
//! with the project's interpreter (`pip wheel`), so that the image's builder stage installs
//! offline (`pip install --no-index --find-links`). The build itself needs no network.
//!
//! Wheelhouses are cached in `<cacheDir>/wheelhouses/<key>/`, keyed like the backend's venvs
//! (requirements with their includes, the interpreter's identity): unchanged requirements never
//! run pip and give byte-identical wheels, so the image's context hash stays the same.

use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use super::engine::LogFn;
use super::error::DockerError;
use crate::deploy::dockerfile::STAGED_REQUIREMENTS;
use crate::run::process::Cmd;

/// What [`stage_python_deps`] staged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedDeps {
  /// Requirement files: [`STAGED_REQUIREMENTS`] first, then the files it includes, relative to
  /// `<IMAGE_DIR>/requirements`.
  pub files: Vec<String>,
  /// Wheels in `<IMAGE_DIR>/wheels`.
  pub wheels: usize,
  /// The wheelhouse's cache key.
  pub key: String,
  /// Whether the wheelhouse came from the cache (pip did not run).
  pub reused: bool,
}

fn stage_err(m: impl Into<String>) -> DockerError {
  DockerError::Stage(m.into())
}

/// The requirements file and the files it includes (`-r`, `-c`, long forms), as
/// (absolute path, path relative to the main file's directory). An include outside that
/// directory is an error (it could not be staged with its relative path intact).
pub fn requirement_files(main: &Path) -> Result<Vec<(PathBuf, String)>, DockerError> {
  let base = main.parent().unwrap_or(Path::new("."));
  let mut out: Vec<(PathBuf, String)> = Vec::new();
  let mut stack = vec![main.to_path_buf()];
  while let Some(path) = stack.pop() {
    if out.iter().any(|(p, _)| p == &path) || out.len() > 64 {
      continue;
    }
    let text = std::fs::read_to_string(&path)
      .map_err(|source| DockerError::Context { path: path.clone(), source })?;
    let rel = path
      .strip_prefix(base)
      .ok()
      .map(|p| p.to_string_lossy().replace('\\', "/"))
      .filter(|r| !r.split('/').any(|c| c == ".."))
      .ok_or_else(|| {
        stage_err(format!(
          "{} is included by {} but lies outside {}: move it next to the requirements file",
          path.display(),
          main.display(),
          base.display()
        ))
      })?;
    out.push((path.clone(), rel));
    let dir = path.parent().unwrap_or(Path::new("."));
    for line in text.lines() {
      if let Some((_, inc)) = include_of(line) {
        let p = dir.join(inc);
        // Normalise `a/../b` lexically so the outside check sees the real location.
        let mut norm = PathBuf::new();
        for c in p.components() {
          match c {
            std::path::Component::ParentDir => {
              norm.pop();
            }
            std::path::Component::CurDir => {}
            other => norm.push(other),
          }
        }
        stack.push(norm);
      }
    }
  }
  Ok(out)
}

/// The include of a requirements line (`-r file`, `--constraint=file`, ...): (flag, path); `None`
/// for other lines and for URLs.
fn include_of(line: &str) -> Option<(&str, &str)> {
  let (flag, inc) = line.trim().split_once([' ', '\t', '='])?;
  let inc = inc.trim();
  (["-r", "--requirement", "-c", "--constraint"].contains(&flag)
    && !inc.is_empty()
    && !inc.contains("://"))
  .then_some((flag, inc))
}

/// The main requirements file as staged at `<IMAGE_DIR>/`[`STAGED_REQUIREMENTS`]: its include lines
/// point into `requirements/`, where the included files are staged at their relative paths.
pub fn staged_main(text: &str) -> String {
  let mut out = String::with_capacity(text.len() + 64);
  for line in text.lines() {
    match include_of(line) {
      Some((flag, inc)) => out.push_str(&format!("{flag} requirements/{inc}")),
      None => out.push_str(line),
    }
    out.push('\n');
  }
  out
}

fn copy_dir_files(from: &Path, to: &Path, ext: &str) -> std::io::Result<usize> {
  std::fs::create_dir_all(to)?;
  let mut n = 0;
  let mut names: Vec<_> =
    std::fs::read_dir(from)?.filter_map(Result::ok).map(|e| e.path()).collect();
  names.sort();
  for p in names.into_iter().filter(|p| p.is_file() && p.to_string_lossy().ends_with(ext)) {
    if let Some(name) = p.file_name() {
      std::fs::copy(&p, to.join(name))?;
      n += 1;
    }
  }
  Ok(n)
}

/// Stages the requirements list (see the module docs) and the wheelhouse into `image_dir`
/// (replacing what was there). `python` is the project's interpreter (the backend's), used for
/// `pip wheel`; `cwd` is where relative paths in the list resolve (the backend root, as for the
/// backend's venv).
pub async fn stage_python_deps(
  requirements: &Path,
  cwd: &Path,
  python: &str,
  image_dir: &Path,
  cache: &Path,
  log: LogFn<'_>,
  cancel: &CancellationToken,
) -> Result<StagedDeps, DockerError> {
  let files = requirement_files(requirements)?;
  let main_dest = image_dir.join(STAGED_REQUIREMENTS);
  let req_dir = image_dir.join("requirements");
  let wheels_dir = image_dir.join("wheels");
  for d in [&req_dir, &wheels_dir] {
    if d.exists() {
      std::fs::remove_dir_all(d)
        .map_err(|source| DockerError::Context { path: d.clone(), source })?;
    }
  }
  // Always present (maybe empty): the Dockerfile copies it.
  std::fs::create_dir_all(&req_dir)
    .map_err(|source| DockerError::Context { path: req_dir.clone(), source })?;
  for (i, (abs, rel)) in files.iter().enumerate() {
    let dest = if i == 0 { main_dest.clone() } else { req_dir.join(rel) };
    let io = |source| DockerError::Context { path: dest.clone(), source };
    std::fs::create_dir_all(dest.parent().unwrap_or(&req_dir)).map_err(io)?;
    if i == 0 {
      let text = std::fs::read_to_string(abs)
        .map_err(|source| DockerError::Context { path: abs.clone(), source })?;
      crate::report::write_atomic(&dest, staged_main(&text).as_bytes()).map_err(io)?;
    } else {
      std::fs::copy(abs, &dest).map_err(io)?;
    }
  }

  let probe = Cmd::new(python)
    .args([
      "-c",
      "import sys, sysconfig; print(sys.version); print(sysconfig.get_platform()); print(sys.implementation.cache_tag)",
    ])
    .capture_stdout()
    .run(&|_| {}, cancel)
    .await
    .map_err(|e| stage_err(format!("running {python}: {e}")))?;
  if !probe.success() {
    return Err(stage_err(format!("{python} failed: {}", probe.tail(10))));
  }
  let key = crate::builders::backend::venv::venv_key(requirements, &probe.stdout, "pip-wheel")
    .map_err(|e| stage_err(e.to_string()))?;
  let entry = cache.join(&key);
  let reused = entry.join(".complete").is_file();
  if reused {
    log(format!("wheelhouse {key}: unchanged requirements, reused from {}", cache.display()));
  } else {
    std::fs::create_dir_all(cache)
      .map_err(|source| DockerError::Context { path: cache.to_path_buf(), source })?;
    // Unique per call, not only per process: two builds in one process (tests, the daemon) may
    // make the same wheelhouse at once; each downloads into its own directory, the first rename wins.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = cache.join(format!(".tmp-{key}-{}-{seq}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    log(format!("wheelhouse {key}: {python} -m pip wheel -r {}", requirements.display()));
    let out = Cmd::new(python)
      .args(["-m", "pip", "wheel", "--disable-pip-version-check", "--quiet", "--wheel-dir"])
      .arg_path(&tmp)
      .args(["-r"])
      .arg_path(requirements)
      .cwd(cwd)
      .run(&|l| log(l.to_string()), cancel)
      .await
      .map_err(|e| stage_err(format!("running pip wheel: {e}")))?;
    if !out.success() {
      let _ = std::fs::remove_dir_all(&tmp);
      return Err(stage_err(format!(
        "`{python} -m pip wheel -r {}` failed (exit {}): the image's dependencies come from this wheelhouse\n{}",
        requirements.display(),
        out.code.map_or("signal".into(), |c| c.to_string()),
        out.tail(30)
      )));
    }
    std::fs::write(tmp.join(".complete"), &key)
      .map_err(|source| DockerError::Context { path: tmp.clone(), source })?;
    if std::fs::rename(&tmp, &entry).is_err() {
      // Another build made the same entry meanwhile: use it.
      let _ = std::fs::remove_dir_all(&tmp);
    }
  }
  let wheels = copy_dir_files(&entry, &wheels_dir, ".whl")
    .map_err(|source| DockerError::Context { path: wheels_dir.clone(), source })?;
  log(format!(
    "staged {} requirement file(s) and {wheels} wheel(s) for the image's builder stage",
    files.len()
  ));
  let files = std::iter::once(STAGED_REQUIREMENTS.to_string())
    .chain(files.into_iter().skip(1).map(|(_, r)| r))
    .collect();
  Ok(StagedDeps { files, wheels, key, reused })
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn includes_are_followed_and_must_stay_inside() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    std::fs::create_dir_all(r.join("api/reqs")).unwrap();
    std::fs::write(
      r.join("api/requirements.txt"),
      "-r reqs/base.txt\n-c ./reqs/../constraints.txt\nfastapi\n",
    )
    .unwrap();
    std::fs::write(r.join("api/reqs/base.txt"), "uvicorn\n").unwrap();
    std::fs::write(r.join("api/constraints.txt"), "uvicorn<1\n").unwrap();
    let files = requirement_files(&r.join("api/requirements.txt")).unwrap();
    let rels: Vec<&str> = files.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(rels[0], "requirements.txt");
    assert!(rels.contains(&"reqs/base.txt") && rels.contains(&"constraints.txt"), "{rels:?}");
    std::fs::write(r.join("api/reqs/base.txt"), "-r ../../shared.txt\n").unwrap();
    std::fs::write(r.join("shared.txt"), "x\n").unwrap();
    let e = requirement_files(&r.join("api/requirements.txt")).unwrap_err();
    assert!(e.to_string().contains("shared.txt") && e.to_string().contains("outside"), "{e}");
  }

  #[test]
  fn staged_main_points_includes_into_the_requirements_dir() {
    let text = "-r reqs/base.txt\n--constraint=./c.txt\n-r https://x/r.txt\nfastapi==1.0 ; python_version>'3'\n# c\n";
    assert_eq!(
      staged_main(text),
      "-r requirements/reqs/base.txt\n--constraint requirements/./c.txt\n-r https://x/r.txt\nfastapi==1.0 ; python_version>'3'\n# c\n"
    );
  }

  /// The staged list of a pyproject backend is the backend task's list, byte for byte.
  #[tokio::test]
  async fn pyproject_backend_stages_the_backend_tasks_list() {
    use crate::builders::backend::project::{resolve_requirements, venvs_dir};
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    std::fs::create_dir_all(r.join("apps/api")).unwrap();
    std::fs::write(
      r.join("apps/api/pyproject.toml"),
      "[project]\nname = \"api\"\nversion = \"0\"\ndependencies = [\"six==1.17.0\"]\n\n\
       [project.optional-dependencies]\nextra = [\"six==1.17.0\"]\n",
    )
    .unwrap();
    let be: crate::config::BackendConfig = serde_json::from_value(serde_json::json!({
      "root": "apps/api", "extras": ["extra"], "installer": "pip"
    }))
    .unwrap();
    let venvs = venvs_dir(r, ".farm/cache");
    std::fs::create_dir_all(&venvs).unwrap();
    let cancel = CancellationToken::new();
    let resolved = resolve_requirements(&be, r, &venvs, &|_| {}, &cancel).await.unwrap().unwrap();
    assert!(resolved.file.starts_with(&venvs), "{}", resolved.file.display());
    let listed = std::fs::read_to_string(&resolved.file).unwrap();
    assert!(listed.ends_with("\nsix==1.17.0\n"), "{listed}");
    let image = r.join("dist/image");
    let staged = stage_python_deps(
      &resolved.file,
      &r.join("apps/api"),
      "python3",
      &image,
      &r.join(".farm/cache/wheelhouses"),
      &|_| {},
      &cancel,
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read_to_string(image.join(STAGED_REQUIREMENTS)).unwrap(), listed);
    assert_eq!(staged.files, [STAGED_REQUIREMENTS]);
    assert_eq!(staged.wheels, 1);
    assert!(image.join("wheels/six-1.17.0-py2.py3-none-any.whl").is_file());
    assert!(image.join("requirements").is_dir(), "always there: the Dockerfile copies it");
  }
}
