//! The production virtualenv: built once per requirements content under
//! `<cacheDir>/venvs/<key>/`, then copied into the output as `<outDir>/.venv`.
//!
//! The key is the xxh3-128 of the requirements file (and the files it includes with `-r`/`-c`), the
//! interpreter (version, base prefix, machine) and the installer, so an unchanged requirements file
//! never runs pip again. A venv is built in a temporary directory and renamed into place only when
//! the install succeeded, under a per-key lock, so a failed, cancelled or concurrent build never
//! leaves a half-installed venv that a later build would reuse. Its marker lists every file with
//! its digest ([`crate::cache::VenvStore`]); before each use the venv is verified against it
//! (through a stat cache, so an unchanged venv reads no file), and a damaged venv is deleted and
//! rebuilt, with a warning. The lock is held until the venv has been copied out, so no eviction
//! removes it in between.
//!
//! The output copy is a reflink or a plain copy (never a hard link: the output must be
//! self-contained, and a `pip install` in it must not change the cache). Scripts in `bin/` get a
//! relocatable `#!/bin/sh` trampoline instead of an absolute shebang, and the activate scripts name
//! the output path.

use crate::cache::{VenvCheck, VenvLock, VenvStore};
use crate::run::process::{Cmd, ProcessError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The file written into a finished cache venv (its presence marks the venv complete).
pub const MARKER: &str = crate::cache::VENV_MARKER;

/// Version of the key's layout: bump to invalidate every cached venv.
const KEY_VERSION: &str = "farm-venv-v2";

/// Why a venv could not be built or placed.
#[derive(Debug, thiserror::Error)]
pub enum VenvError {
  /// The requirements file (or a file it includes) could not be read.
  #[error("reading the requirements file {path}: {source}")]
  Requirements {
    /// The file.
    path: PathBuf,
    /// Why.
    #[source]
    source: std::io::Error,
  },
  /// `uv` was asked for (`installer: "uv"`) but is not on `PATH`.
  #[error("backend.installer is \"uv\" but `uv` is not on PATH: install it (`pip install uv` or https://docs.astral.sh/uv/) or set `installer: \"pip\"`")]
  UvMissing,
  /// A step of the build (`venv`, `pip install`) exited with an error.
  #[error("`{command}` failed (exit {code}):\n{output}")]
  Step {
    /// The command line.
    command: String,
    /// Its exit code (`signal` when killed).
    code: String,
    /// The last lines of its output.
    output: String,
  },
  /// A child process could not be run.
  #[error(transparent)]
  Process(#[from] ProcessError),
  /// The venv store failed (locking, sealing a new venv).
  #[error(transparent)]
  Store(#[from] crate::cache::CacheError),
  /// A filesystem operation on the cache or the output failed.
  #[error("{what} {}: {source}", path.display())]
  Io {
    /// What was being done.
    what: &'static str,
    /// Where.
    path: PathBuf,
    /// Why.
    #[source]
    source: std::io::Error,
  },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> VenvError + 'a {
  move |source| VenvError::Io { what, path: path.to_path_buf(), source }
}

/// The tool that creates the venv and installs the requirements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installer {
  /// `python -m venv` + `pip install -r`.
  Pip,
  /// `uv venv` + `uv pip install -r`, with this `uv` executable.
  Uv(PathBuf),
}

impl Installer {
  /// Resolves `backend.installer`: `auto` is uv when it is on `PATH`, else pip.
  pub fn resolve(choice: crate::config::PythonInstaller) -> Result<Installer, VenvError> {
    use crate::config::PythonInstaller as P;
    match choice {
      P::Pip => Ok(Installer::Pip),
      P::Uv => find_on_path("uv").map(Installer::Uv).ok_or(VenvError::UvMissing),
      P::Auto => Ok(find_on_path("uv").map_or(Installer::Pip, Installer::Uv)),
    }
  }

  /// The installer as it enters the venv key: `pip` (the interpreter's own, which the identity
  /// covers), or `uv <version>` (uv writes its version into `pyvenv.cfg`).
  pub fn label(&self) -> String {
    match self {
      Installer::Pip => "pip".into(),
      Installer::Uv(uv) => {
        let v = crate::run::process::probe(&uv.to_string_lossy(), &["--version"], None);
        format!("uv {}", v.as_deref().unwrap_or("unknown"))
      }
    }
  }

  /// `pip` or `uv`.
  pub fn name(&self) -> &'static str {
    match self {
      Installer::Pip => "pip",
      Installer::Uv(_) => "uv",
    }
  }
}

/// An executable named `name` in a `PATH` directory.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
  use std::os::unix::fs::PermissionsExt;
  let path = std::env::var_os("PATH")?;
  std::env::split_paths(&path).map(|d| d.join(name)).find(|p| {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
  })
}

/// What the venv is built from.
#[derive(Debug, Clone)]
pub struct VenvSpec {
  /// The interpreter that creates the venv.
  pub python: String,
  /// The requirements file (absolute).
  pub requirements: PathBuf,
  /// Where relative paths in the requirements file resolve (the backend root).
  pub cwd: PathBuf,
  /// The installer.
  pub installer: Installer,
  /// `<cacheDir>/venvs`.
  pub cache: PathBuf,
}

/// A finished venv in the cache.
#[derive(Debug, Clone)]
pub struct CachedVenv {
  /// Its directory, `<cacheDir>/venvs/<key>`.
  pub path: PathBuf,
  /// The key (32 hex digits).
  pub key: String,
  /// `true` when it was already there (nothing was installed by this build).
  pub reused: bool,
  /// The directory it was built in (named by its scripts until they are relocated).
  pub built_at: String,
  /// Distributions installed from the requirements (not the venv's own pip/setuptools).
  pub dependency_count: usize,
  /// Why a cached copy was found damaged and rebuilt by this call (for a warning).
  pub repaired: Option<String>,
}

/// The interpreter's identity for the key: version, base prefix and machine.
async fn python_identity(python: &str, cancel: &CancellationToken) -> Result<String, VenvError> {
  let out = Cmd::new(python)
    .args([
      "-c",
      "import sys, platform; print(sys.version); print(sys.base_prefix); print(platform.machine())",
    ])
    .capture_stdout()
    .run(&|_| {}, cancel)
    .await?;
  if !out.success() {
    return Err(step_error(&format!("{python} -c <identity probe>"), &out));
  }
  Ok(out.stdout)
}

/// The cache key: xxh3-128 of the requirements (with the files they include), the interpreter's
/// identity and the installer.
pub fn venv_key(requirements: &Path, identity: &str, installer: &str) -> Result<String, VenvError> {
  let mut h = xxhash_rust::xxh3::Xxh3::new();
  h.update(KEY_VERSION.as_bytes());
  h.update(b"\0");
  h.update(identity.as_bytes());
  h.update(b"\0");
  h.update(installer.as_bytes());
  let mut seen = Vec::new();
  hash_requirements(requirements, &mut h, &mut seen, 0)?;
  Ok(format!("{:032x}", h.digest128()))
}

/// Hashes a requirements file and, recursively, the files it includes (`-r`, `-c`, long forms).
fn hash_requirements(
  path: &Path,
  h: &mut xxhash_rust::xxh3::Xxh3,
  seen: &mut Vec<PathBuf>,
  depth: usize,
) -> Result<(), VenvError> {
  if depth > 8 || seen.iter().any(|p| p == path) {
    return Ok(());
  }
  seen.push(path.to_path_buf());
  let text = std::fs::read_to_string(path)
    .map_err(|source| VenvError::Requirements { path: path.to_path_buf(), source })?;
  h.update(b"\0file\0");
  h.update(text.as_bytes());
  let dir = path.parent().unwrap_or(Path::new("."));
  for line in text.lines() {
    let Some((flag, inc)) = line.trim().split_once([' ', '\t', '=']) else { continue };
    let inc = inc.trim();
    let include = ["-r", "--requirement", "-c", "--constraint"].contains(&flag);
    if include && !inc.is_empty() && !inc.contains("://") {
      hash_requirements(&dir.join(inc), h, seen, depth + 1)?;
    }
  }
  Ok(())
}

/// Returns the cached venv for `spec`, building it when its key is not cached yet, or when the
/// cached copy does not match its manifest (then [`CachedVenv::repaired`] says why). `log` gets
/// the installer's output. The returned lock keeps the venv from being evicted or rebuilt by
/// another build: hold it until the venv has been copied out ([`place`]).
pub async fn ensure(
  spec: &VenvSpec,
  log: &(dyn Fn(&str) + Send + Sync),
  cancel: &CancellationToken,
) -> Result<(CachedVenv, VenvLock), VenvError> {
  let identity = python_identity(&spec.python, cancel).await?;
  let key = venv_key(&spec.requirements, &identity, &spec.installer.label())?;
  let store = VenvStore::new(&spec.cache);
  let lock = loop {
    if let Some(l) = store.try_lock(&key)? {
      break l;
    }
    if cancel.is_cancelled() {
      return Err(ProcessError::Cancelled.into());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
  };
  let final_dir = store.path(&key);
  let s2 = store.clone();
  let (check, lock) = tokio::task::spawn_blocking(move || (s2.check(&lock), lock))
    .await
    .map_err(|e| io("verifying", &final_dir)(std::io::Error::other(e.to_string())))?;
  let mut repaired = None;
  match check {
    VenvCheck::Valid(m) => {
      let venv = CachedVenv {
        path: final_dir,
        key,
        reused: true,
        built_at: m.built_at,
        dependency_count: m.dependency_count,
        repaired: None,
      };
      return Ok((venv, lock));
    }
    VenvCheck::Absent => {}
    VenvCheck::Damaged(why) => {
      let why = format!("the cached venv {} is damaged ({why})", final_dir.display());
      log(&format!("venv: {why}: deleting it and building it again"));
      store.remove(&lock)?;
      repaired = Some(why);
    }
  }
  let tmp = store.build_dir(&key);
  if tmp.exists() {
    std::fs::remove_dir_all(&tmp).map_err(io("removing", &tmp))?;
  }
  let guard = RemoveOnDrop(tmp.clone());
  log(&format!("venv: creating {} ({})", final_dir.display(), spec.installer.name()));
  let tmp_s = tmp.to_string_lossy().into_owned();
  let req_s = spec.requirements.to_string_lossy().into_owned();
  let (create, install) = match &spec.installer {
    Installer::Pip => (
      Cmd::new(&spec.python).args(["-m", "venv", &tmp_s]),
      Cmd::new(format!("{tmp_s}/bin/python")).args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "-r",
        &req_s,
      ]),
    ),
    Installer::Uv(uv) => {
      let uv = uv.to_string_lossy().into_owned();
      (
        // Relocatable: the activate scripts and entry points find the venv from their own
        // location, so no file of it names where it was built or placed, and the backend's
        // output (and key) is the same at any checkout path.
        Cmd::new(&uv).args(["venv", "--quiet", "--relocatable", "--python", &spec.python, &tmp_s]),
        // Copies, not hard links into uv's global cache: the cached venv must be self-contained,
        // so damage to it (which verification detects and repairs by a rebuild) cannot reach
        // uv's cache, and a damaged uv cache cannot reach the rebuilt venv.
        Cmd::new(&uv).args([
          "pip",
          "install",
          "--link-mode",
          "copy",
          "--python",
          &format!("{tmp_s}/bin/python"),
          "-r",
          &req_s,
        ]),
      )
    }
  };
  run_step(create.cwd(&spec.cwd), log, cancel).await?;
  let seed = distributions(&tmp).map_err(io("listing the packages of", &tmp))?;
  log(&format!("venv: installing {} with {}", spec.requirements.display(), spec.installer.name()));
  run_step(install.cwd(&spec.cwd).env("PIP_NO_INPUT", "1"), log, cancel).await?;
  let all = distributions(&tmp).map_err(io("listing the packages of", &tmp))?;
  let dependency_count = all.iter().filter(|d| !seed.contains(d)).count();
  let (s2, t2, b2) = (store.clone(), tmp.clone(), tmp_s.clone());
  let (sealed, lock) =
    tokio::task::spawn_blocking(move || (s2.install(&lock, &t2, &b2, dependency_count), lock))
      .await
      .map_err(|e| io("sealing", &final_dir)(std::io::Error::other(e.to_string())))?;
  sealed?;
  std::mem::forget(guard);
  let venv =
    CachedVenv { path: final_dir, key, reused: false, built_at: tmp_s, dependency_count, repaired };
  Ok((venv, lock))
}

async fn run_step(
  cmd: Cmd,
  log: &(dyn Fn(&str) + Send + Sync),
  cancel: &CancellationToken,
) -> Result<(), VenvError> {
  let out = cmd.run(log, cancel).await?;
  if out.success() {
    Ok(())
  } else {
    Err(step_error(&cmd.display(), &out))
  }
}

fn step_error(command: &str, out: &crate::run::process::ProcessOutput) -> VenvError {
  VenvError::Step {
    command: command.to_string(),
    code: out.code.map_or("signal".into(), |c| c.to_string()),
    output: out.tail(40),
  }
}

/// Deletes a directory when dropped (an unfinished venv build).
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
  fn drop(&mut self) {
    let _ = std::fs::remove_dir_all(&self.0);
  }
}

/// The `*.dist-info` directory names (name-version) in the venv's `site-packages`.
pub fn distributions(venv: &Path) -> std::io::Result<Vec<String>> {
  let mut out = Vec::new();
  let lib = venv.join("lib");
  if !lib.is_dir() {
    return Ok(out);
  }
  for py in std::fs::read_dir(&lib)? {
    let sp = py?.path().join("site-packages");
    if !sp.is_dir() {
      continue;
    }
    for e in std::fs::read_dir(&sp)? {
      let name = e?.file_name().to_string_lossy().into_owned();
      if let Some(stem) = name.strip_suffix(".dist-info") {
        out.push(stem.to_string());
      }
    }
  }
  out.sort();
  Ok(out)
}

/// The `#!/bin/sh` trampoline that runs a script with the `python` beside it, wherever the venv is.
fn trampoline(exe: &str) -> String {
  format!(
    "#!/bin/sh\n'''exec' \"$(dirname -- \"$(realpath -- \"$0\")\")\"/'{exe}' \"$0\" \"$@\"\n' '''\n"
  )
}

/// Rewrites a `bin/` script built at `built_at`: an absolute shebang (or pip's own long-path
/// trampoline) becomes [`trampoline`], other mentions (activate scripts) name `final_dir`.
/// `None` when the text does not mention `built_at`.
pub fn relocate_script(text: &str, built_at: &str, final_dir: &str) -> Option<String> {
  if !text.contains(built_at) {
    return None;
  }
  let lines: Vec<&str> = text.split_inclusive('\n').collect();
  let first = lines.first().map_or("", |l| l.trim_end());
  let exe_of = |path: &str| {
    let p = path.trim().trim_matches('"').trim_matches('\'');
    p.rsplit('/').next().unwrap_or("python").to_string()
  };
  if let Some(interp) = first.strip_prefix("#!").filter(|i| i.starts_with(built_at)) {
    let exe = exe_of(interp.split_whitespace().next().unwrap_or(interp));
    return Some(trampoline(&exe) + &lines[1..].concat());
  }
  let second = lines.get(1).map_or("", |l| l.trim_end());
  let third = lines.get(2).map_or("", |l| l.trim_end());
  if first == "#!/bin/sh" && second.starts_with("'''exec' ") && third == "' '''" {
    let exe = exe_of(second.trim_start_matches("'''exec' ").split(' ').next().unwrap_or("python"));
    return Some(trampoline(&exe) + &lines[3..].concat());
  }
  Some(text.replace(built_at, final_dir))
}

/// Copies the cached venv into `dest` (the staging copy's `.venv`): files by reflink where the
/// filesystem can, else by copy; symlinks inside the venv as symlinks, symlinks leading out of it
/// (the interpreter) as copies of their target; scripts in `bin/` and `pyvenv.cfg`
/// relocated to `final_dir` (where `dest` will be once committed). The marker is left out.
pub fn place(cached: &CachedVenv, dest: &Path, final_dir: &Path) -> Result<(), VenvError> {
  let final_s = final_dir.to_string_lossy().into_owned();
  let mut stack = vec![PathBuf::new()];
  while let Some(rel) = stack.pop() {
    let from_dir = cached.path.join(&rel);
    let to_dir = dest.join(&rel);
    std::fs::create_dir_all(&to_dir).map_err(io("creating", &to_dir))?;
    for e in std::fs::read_dir(&from_dir).map_err(io("reading", &from_dir))? {
      let e = e.map_err(io("reading", &from_dir))?;
      let name = e.file_name();
      let child = rel.join(&name);
      let (from, to) = (e.path(), dest.join(&child));
      let ft = e.file_type().map_err(io("reading", &from))?;
      if ft.is_dir() {
        stack.push(child);
      } else if ft.is_symlink() {
        let target = std::fs::read_link(&from).map_err(io("reading the link", &from))?;
        let inside = !target.is_absolute()
          && from
            .parent()
            .and_then(|p| p.join(&target).canonicalize().ok())
            .is_some_and(|t| cached.path.canonicalize().is_ok_and(|root| t.starts_with(root)));
        if inside {
          std::os::unix::fs::symlink(&target, &to).map_err(io("creating the link", &to))?;
        } else {
          // A link out of the venv (bin/python → the system interpreter): copy what it points to, so
          // the output is self-contained and the build cache can store and verify it.
          reflink_copy::reflink_or_copy(&from, &to).map_err(io("copying to", &to))?;
        }
      } else if ft.is_file() {
        if rel.as_os_str().is_empty() && name == MARKER {
          continue;
        }
        let in_bin = rel == Path::new("bin");
        let is_cfg = rel.as_os_str().is_empty() && name == "pyvenv.cfg";
        if in_bin || is_cfg {
          let bytes = std::fs::read(&from).map_err(io("reading", &from))?;
          let relocated = std::str::from_utf8(&bytes)
            .ok()
            .and_then(|t| relocate_script(t, &cached.built_at, &final_s));
          if let Some(text) = relocated {
            let perm = std::fs::metadata(&from).map_err(io("reading", &from))?.permissions();
            let mut f = std::fs::File::create(&to).map_err(io("writing", &to))?;
            f.write_all(text.as_bytes()).map_err(io("writing", &to))?;
            std::fs::set_permissions(&to, perm).map_err(io("setting the mode of", &to))?;
            continue;
          }
        }
        reflink_copy::reflink_or_copy(&from, &to).map_err(io("copying to", &to))?;
      }
    }
  }
  Ok(())
}

/// Deletes cached venvs other than `keep` that were last used more than `max_age` ago (venvs a
/// build holds are kept), and generated requirements lists (`.req-*.txt`) unused for as long. The
/// build cache's eviction does the same under `cache.ttl` and `cache.maxSize`; this keeps the store
/// bounded when the cache is off.
pub fn prune(cache: &Path, keep: &str, max_age: Duration) -> usize {
  let now = std::time::SystemTime::now();
  if let Ok(entries) = std::fs::read_dir(cache) {
    for e in entries.flatten() {
      let name = e.file_name().to_string_lossy().into_owned();
      if name.starts_with(".req-") && name.ends_with(".txt") {
        // A requirements list generated from pyproject.toml / uv.lock (see `project::materialize`).
        let used = e.metadata().and_then(|m| m.modified());
        if used.is_ok_and(|t| now.duration_since(t).unwrap_or_default() > max_age) {
          let _ = std::fs::remove_file(e.path());
        }
      }
    }
  }
  VenvStore::new(cache).prune(keep, max_age)
}
