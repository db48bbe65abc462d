//! The backend builder end to end with real Python, pip and ruff (offline: the only requirement is a
//! wheel the test writes; ruff is installed once from PyPI into a tool venv under `target/`).

use super::venv::{relocate_script, venv_key, MARKER};
use super::BackendBuilder;
use crate::builders::{Builder, NoHost, TaskContext};
use crate::config::FarmConfig;
use crate::run::events::{Emitter, Event};
use crate::run::{TaskError, TaskOutcome};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

const MAIN_PY: &str = "import sys\nimport json\nimport os\n\nimport tinypkg\n\n\ndef hello():\n    return json.dumps({\"pkg\": tinypkg.__name__})\n";

/// A pure-Python wheel with a console script `tinyhello`.
const MAKE_WHEEL: &str = r#"
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("tinypkg/__init__.py", "def main():\n    print('tiny hello')\n")
    d = "tinypkg-0.1.dist-info/"
    z.writestr(d + "METADATA", "Metadata-Version: 2.1\nName: tinypkg\nVersion: 0.1\n")
    z.writestr(d + "WHEEL", "Wheel-Version: 1.0\nGenerator: farm-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    z.writestr(d + "entry_points.txt", "[console_scripts]\ntinyhello = tinypkg:main\n")
    z.writestr(d + "RECORD", "".join(f"{p},,\n" for p in ["tinypkg/__init__.py", d + "METADATA", d + "WHEEL", d + "entry_points.txt", d + "RECORD"]))
"#;

/// A Python with ruff installed: `target/farm-test-tools/ruff-venv`, created once (pip from PyPI).
fn ruff_python() -> PathBuf {
  static LOCK: Mutex<()> = Mutex::new(());
  let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
  let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/farm-test-tools/ruff-venv");
  let py = dir.join("bin/python");
  let ok = |py: &Path| {
    Command::new(py).args(["-m", "ruff", "--version"]).output().is_ok_and(|o| o.status.success())
  };
  if !ok(&py) {
    let _ = std::fs::remove_dir_all(&dir);
    let s = Command::new("python3").arg("-m").arg("venv").arg(&dir).status().unwrap();
    assert!(s.success());
    let s = Command::new(&py)
      .args(["-m", "pip", "install", "-q", "--disable-pip-version-check", "ruff"])
      .status()
      .unwrap();
    assert!(s.success(), "pip install ruff (PyPI) failed");
  }
  assert!(ok(&py));
  py
}

struct Project {
  dir: PathBuf,
}

impl Project {
  fn new(tag: &str) -> Project {
    let dir = std::env::temp_dir().join(format!("farm-be-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("api/tests")).unwrap();
    std::fs::create_dir_all(dir.join("api/wheels")).unwrap();
    std::fs::write(dir.join("api/main.py"), MAIN_PY).unwrap();
    std::fs::write(dir.join("api/tests/test_main.py"), "def test_x():\n    pass\n").unwrap();
    let whl = dir.join("api/wheels/tinypkg-0.1-py3-none-any.whl");
    let s = Command::new("python3").args(["-c", MAKE_WHEEL]).arg(&whl).status().unwrap();
    assert!(s.success());
    std::fs::write(dir.join("api/requirements.txt"), "./wheels/tinypkg-0.1-py3-none-any.whl\n")
      .unwrap();
    Project { dir }
  }

  fn file(&self, rel: &str) -> PathBuf {
    self.dir.join(rel)
  }

  /// Runs the backend task with `backend` as the config section; returns the outcome and the logs.
  async fn build(&self, backend: Value) -> (Result<TaskOutcome, TaskError>, Vec<String>) {
    let cfg = FarmConfig::from_json(json!({ "appName": "t", "backend": backend }), "test").unwrap();
    let logs: Arc<Mutex<Vec<String>>> = Arc::default();
    let l2 = Arc::clone(&logs);
    let events = Emitter::new(Arc::new(move |e: Event| {
      if let Some(m) = e.message {
        l2.lock().unwrap().push(m);
      }
    }));
    let tools = Mutex::new(BTreeMap::new());
    let task_logs = Mutex::new(Vec::new());
    let ctx = TaskContext {
      task: "backend",
      config: &cfg,
      root: &self.dir,
      output_dir: self.dir.join("dist"),
      build_id: "b-test",
      started_at: "2026-01-01T00:00:00Z",
      events: &events,
      cancel: CancellationToken::new(),
      host: &NoHost,
      node: "node",
      tools: &tools,
      logs: &task_logs,
    };
    let r = BackendBuilder.build(&ctx).await;
    let logs = logs.lock().unwrap().clone();
    (r, logs)
  }
}

impl Drop for Project {
  fn drop(&mut self) {
    let _ = std::fs::remove_dir_all(&self.dir);
  }
}

fn run(program: &Path, args: &[&str], cwd: &Path) -> String {
  let o = Command::new(program).args(args).current_dir(cwd).output().unwrap();
  assert!(o.status.success(), "{}: {}", program.display(), String::from_utf8_lossy(&o.stderr));
  String::from_utf8_lossy(&o.stdout).into_owned()
}

fn installs(logs: &[String]) -> usize {
  logs.iter().filter(|l| l.starts_with("venv: installing")).count()
}

#[tokio::test]
async fn venv_tidy_migrate_and_reuse() {
  let py = ruff_python();
  let p = Project::new("full");
  let migrate = "tinyhello > migrated.txt && echo \"$VIRTUAL_ENV\" >> migrated.txt";
  let backend = json!({ "root": "api", "python": py, "migrate": migrate });
  let (r, logs) = p.build(backend.clone()).await;
  let out = r.unwrap_or_else(|e| panic!("{e:?}\n{}", logs.join("\n")));
  assert_eq!(installs(&logs), 1, "{logs:?}");
  let art = &out.artifacts[0];
  assert_eq!(art.metadata["dependencyCount"], 1);
  assert_eq!(art.metadata["venvReused"], false);
  assert_eq!(art.metadata["venv"], "api/.venv");
  assert!(art.metadata["importFixes"].as_u64().unwrap() >= 2, "{:?}", art.metadata);

  let api = p.file("dist/api");
  // tidied copy, untouched source
  let tidied = std::fs::read_to_string(api.join("main.py")).unwrap();
  assert!(!tidied.contains("import os") && !tidied.contains("import sys"), "{tidied}");
  assert!(tidied.starts_with("import json\n\nimport tinypkg\n"), "{tidied}");
  assert_eq!(std::fs::read_to_string(p.file("api/main.py")).unwrap(), MAIN_PY);
  assert!(api.join("main.pyc").is_file() && !api.join("tests").exists());
  assert!(!p.file("api/__pycache__").exists() && !p.file("api/.ruff_cache").exists());
  // a self-contained venv: real files (not links into the cache), relocatable scripts
  let vpy = api.join(".venv/bin/python");
  let prefix = run(&vpy, &["-c", "import sys, tinypkg; print(sys.prefix)"], &api);
  assert_eq!(prefix.trim(), api.join(".venv").to_string_lossy());
  assert_eq!(run(&api.join(".venv/bin/tinyhello"), &[], &api), "tiny hello\n");
  assert!(!api.join(".venv").join(MARKER).exists());
  let cache_dir = p.file(".farm/cache/venvs");
  let walk_links = |d: &Path| {
    let mut n = 0;
    for e in
      jwalk::WalkDir::new(d).parallelism(crate::hash::patient_parallelism()).skip_hidden(false)
    {
      let e = e.unwrap();
      if e.file_type().is_symlink() {
        let t = std::fs::read_link(e.path()).unwrap();
        assert!(!t.starts_with(&cache_dir), "{} links into the cache", e.path().display());
        n += 1;
      }
    }
    n
  };
  assert!(walk_links(&api.join(".venv")) >= 1);
  let scripts = std::fs::read_to_string(api.join(".venv/bin/tinyhello")).unwrap();
  assert!(scripts.starts_with("#!/bin/sh\n'''exec'"), "{scripts}");
  assert!(!scripts.contains(&*cache_dir.to_string_lossy()));
  // the migration ran in the output copy with the venv first on PATH
  let migrated = std::fs::read_to_string(api.join("migrated.txt")).unwrap();
  assert!(migrated.starts_with("tiny hello\n"), "{migrated}");
  assert!(!p.file("api/migrated.txt").exists());

  // unchanged requirements: no install, same cache entry
  let key = art.metadata["venvKey"].as_str().unwrap().to_string();
  let marker = cache_dir.join(&key).join(MARKER);
  let before = std::fs::read(&marker).unwrap();
  let (r, logs) = p.build(backend.clone()).await;
  let out = r.unwrap();
  assert_eq!(installs(&logs), 0, "{logs:?}");
  assert_eq!(out.artifacts[0].metadata["venvReused"], true);
  assert_eq!(out.artifacts[0].metadata["venvKey"], key.as_str());
  assert_eq!(std::fs::read(&marker).unwrap(), before);
  assert_eq!(run(&api.join(".venv/bin/tinyhello"), &[], &api), "tiny hello\n");

  // changed requirements: a new venv
  std::fs::write(
    p.file("api/requirements.txt"),
    "# pinned\n./wheels/tinypkg-0.1-py3-none-any.whl\n",
  )
  .unwrap();
  let (r, logs) = p.build(backend).await;
  let out = r.unwrap();
  assert_eq!(installs(&logs), 1);
  assert_ne!(out.artifacts[0].metadata["venvKey"], key.as_str());
}

#[tokio::test]
async fn migration_failure_fails_or_warns() {
  let p = Project::new("migrate");
  let cmd = "echo 'relation users does not exist' >&2; exit 3";
  let be = json!({ "root": "api", "venv": false, "tidyImports": false, "migrate": cmd });
  let (r, _) = p.build(be).await;
  match r {
    Err(TaskError::Failed(m)) => {
      assert!(m.contains("exit 3") && m.contains("relation users does not exist"), "{m}")
    }
    other => panic!("{other:?}"),
  }
  assert!(!p.file("dist/api").exists(), "a failed migration leaves no output");
  let be = json!({ "root": "api", "venv": false, "tidyImports": false, "migrate": cmd,
    "failOnMigrationError": false });
  let out = p.build(be).await.0.unwrap();
  assert_eq!(out.warnings.len(), 1);
  assert!(out.warnings[0].contains("relation users does not exist"));
  assert!(p.file("dist/api/main.pyc").exists());
}

#[tokio::test]
async fn explicit_tidy_without_ruff_and_missing_requirement_are_clear_errors() {
  let p = Project::new("errors");
  // python3 from PATH has no ruff module; only fails if no `ruff` is on PATH either.
  let no_ruff = Command::new("ruff").arg("--version").output().is_err();
  if no_ruff {
    let (r, _) = p.build(json!({ "root": "api", "python": "python3", "tidyImports": true })).await;
    let m = format!("{r:?}");
    assert!(
      m.contains("tidyImports is true but ruff is not available") && m.contains("pip install ruff"),
      "{m}"
    );
  }
  // a third-party import the requirements do not provide
  std::fs::write(p.file("api/requirements.txt"), "").unwrap();
  let (r, _) = p.build(json!({ "root": "api", "python": "python3", "tidyImports": false })).await;
  let m = format!("{r:?}");
  assert!(m.contains("does not import `main`") && m.contains("No module named 'tinypkg'"), "{m}");
  assert!(m.contains("dist/api"), "names the output, not the staging dir: {m}");
  // venv: true without the file
  std::fs::remove_file(p.file("api/requirements.txt")).unwrap();
  let (r, _) = p.build(json!({ "root": "api", "python": "python3", "venv": true })).await;
  assert!(format!("{r:?}").contains("requirements file"), "{r:?}");
}

#[test]
fn scripts_get_a_relocatable_trampoline() {
  let built = "/c/venvs/.tmp-k-1";
  let pip_style = format!("#!{built}/bin/python3.11\n# -*- coding: utf-8 -*-\nimport sys\n");
  let r = relocate_script(&pip_style, built, "/out/.venv").unwrap();
  assert!(r.starts_with("#!/bin/sh\n'''exec' \"$(dirname -- \"$(realpath -- \"$0\")\")\"/'python3.11' \"$0\" \"$@\"\n' '''\n# -*- coding"));
  let long = format!("#!/bin/sh\n'''exec' {built}/bin/python \"$0\" \"$@\"\n' '''\nimport sys\n");
  let r = relocate_script(&long, built, "/out/.venv").unwrap();
  assert!(r.ends_with("' '''\nimport sys\n") && !r.contains(built) && r.contains("/'python' "));
  let activate = format!("VIRTUAL_ENV=\"{built}\"\nexport VIRTUAL_ENV\n");
  assert_eq!(
    relocate_script(&activate, built, "/out/.venv").unwrap(),
    "VIRTUAL_ENV=\"/out/.venv\"\nexport VIRTUAL_ENV\n"
  );
  assert_eq!(relocate_script("#!/usr/bin/env python\n", built, "/out"), None);
}

#[test]
fn key_follows_requirements_and_included_files() {
  let d = std::env::temp_dir().join(format!("farm-be-key-{}", std::process::id()));
  std::fs::create_dir_all(&d).unwrap();
  std::fs::write(d.join("base.txt"), "fastapi==1\n").unwrap();
  std::fs::write(d.join("requirements.txt"), "-r base.txt\nuvicorn\n").unwrap();
  let req = d.join("requirements.txt");
  let k1 = venv_key(&req, "3.11", "pip").unwrap();
  assert_eq!(k1, venv_key(&req, "3.11", "pip").unwrap());
  assert_ne!(k1, venv_key(&req, "3.12", "pip").unwrap());
  assert_ne!(k1, venv_key(&req, "3.11", "uv").unwrap());
  std::fs::write(d.join("base.txt"), "fastapi==2\n").unwrap();
  assert_ne!(k1, venv_key(&req, "3.11", "pip").unwrap(), "an included file changes the key");
  std::fs::remove_file(d.join("base.txt")).unwrap();
  assert!(venv_key(&req, "3.11", "pip").unwrap_err().to_string().contains("base.txt"));
  std::fs::remove_dir_all(&d).unwrap();
}

/// A Python with `packages` installed from PyPI: `target/farm-test-tools/<name>`, created once.
fn tool_python(name: &str, packages: &[&str], probe: &str) -> PathBuf {
  static LOCK: Mutex<()> = Mutex::new(());
  let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
  let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/farm-test-tools").join(name);
  let py = dir.join("bin/python");
  let ok =
    |py: &Path| Command::new(py).args(["-c", probe]).output().is_ok_and(|o| o.status.success());
  if !ok(&py) {
    let _ = std::fs::remove_dir_all(&dir);
    let s = Command::new("python3").arg("-m").arg("venv").arg(&dir).status().unwrap();
    assert!(s.success());
    let s = Command::new(&py)
      .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
      .args(packages)
      .status()
      .unwrap();
    assert!(s.success(), "pip install {packages:?} (PyPI) failed");
  }
  assert!(ok(&py), "{probe} fails in {}", dir.display());
  py
}

/// Reads three settings at import time (as a pydantic-settings class would) and prints one.
const SETTINGS_MAIN: &str = r#"import os

import tinypkg

missing = [n for n in ("DATABASE_URL", "API_TOKEN", "APP_MODE") if not os.environ.get(n)]
if missing:
    raise RuntimeError(f"Field required: {missing}")
print("connecting with", os.environ["API_TOKEN"], "in", os.environ["APP_MODE"])
if os.environ["APP_MODE"] == "explode":
    raise RuntimeError("bad token " + os.environ["API_TOKEN"])
"#;

#[tokio::test]
async fn env_file_reaches_the_import_check_and_migration_and_never_the_output_or_logs() {
  let p = Project::new("envfile");
  std::fs::write(p.file("api/main.py"), SETTINGS_MAIN).unwrap();
  let token = "tok-5f1d9c0a7e";
  std::fs::write(
    p.file(".env"),
    format!("# app settings\nexport DATABASE_URL=\"postgres://app:pw-9913@db/${{APP_MODE}}\"\nAPI_TOKEN='{token}'\n"),
  )
  .unwrap();
  // without the env, the import check fails like the app does in production
  let base = json!({ "root": "api", "python": "python3", "tidyImports": false });
  let (r, _) = p.build(base.clone()).await;
  let m = format!("{r:?}");
  assert!(m.contains("Field required") && m.contains("backend.envFile"), "{m}");

  let migrate = "echo \"migrating $APP_MODE with $API_TOKEN\"; test -n \"$DATABASE_URL\"";
  let mut be = base.clone();
  be["envFile"] = json!("../.env");
  be["env"] = json!({ "APP_MODE": "${FARM_TEST_UNSET_MODE:-staging}" });
  be["migrate"] = json!(migrate);
  let (r, logs) = p.build(be.clone()).await;
  r.unwrap_or_else(|e| panic!("{e:?}\n{}", logs.join("\n")));
  let all = logs.join("\n");
  assert!(all.contains("connecting with *** in ***"), "{all}");
  assert!(all.contains("migrating *** with ***"), "{all}");
  assert!(all.contains("env: API_TOKEN, APP_MODE, DATABASE_URL (values hidden)"), "{all}");
  for secret in [token, "staging", "pw-9913", "postgres://app:pw-9913@db/staging"] {
    assert!(!all.contains(secret), "{secret} in the logs");
    for f in walk_files(&p.file("dist")) {
      let bytes = std::fs::read(&f).unwrap_or_default();
      assert!(!String::from_utf8_lossy(&bytes).contains(secret), "{secret} in {}", f.display());
    }
  }
  // an error message holding a value is redacted too
  be["env"] = json!({ "APP_MODE": "explode" });
  let (r, _) = p.build(be.clone()).await;
  let m = match r {
    Err(TaskError::Failed(m)) => m,
    other => panic!("{other:?}"),
  };
  assert!(m.contains("RuntimeError: bad token ***") && !m.contains(token), "{m}");
  // an env file inside the backend root is never copied, whatever its name
  std::fs::rename(p.file(".env"), p.file("api/settings.conf")).unwrap();
  be["envFile"] = json!("settings.conf");
  be["env"] = json!({ "APP_MODE": "prod" });
  let (r, _) = p.build(be.clone()).await;
  r.unwrap();
  assert!(!p.file("dist/api/settings.conf").exists());
  assert!(p.file("dist/api/main.pyc").exists());
  // a reference to a variable set nowhere is a clear error
  be["env"] = json!({ "APP_MODE": "${FARM_TEST_UNSET_MODE}" });
  let m = format!("{:?}", p.build(be).await.0);
  assert!(
    m.contains("backend.env.APP_MODE refers to ${FARM_TEST_UNSET_MODE}, which is not set"),
    "{m}"
  );
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
  jwalk::WalkDir::new(dir)
    .parallelism(crate::hash::patient_parallelism())
    .skip_hidden(false)
    .into_iter()
    .filter_map(|e| e.ok())
    .filter(|e| e.file_type().is_file())
    .map(|e| e.path())
    .collect()
}

#[tokio::test]
async fn pyproject_dependencies_build_the_venv_and_key_it() {
  let p = Project::new("pyproject");
  std::fs::remove_file(p.file("api/requirements.txt")).unwrap();
  let whl = p.file("api/wheels/tinypkg-0.1-py3-none-any.whl");
  let pyproject = |deps: &str| {
    format!(
      "[project]\nname = \"api\"\nversion = \"0\"\nrequires-python = \">=3.8\"\ndependencies = [{deps}]\n\n[project.optional-dependencies]\nprod = [\"tinypkg @ file://{}\"]\n",
      whl.display()
    )
  };
  std::fs::write(p.file("api/pyproject.toml"), pyproject("")).unwrap();
  // the import needs tinypkg, which only the `prod` extra brings
  let be = json!({ "root": "api", "python": "python3", "tidyImports": false });
  let m = format!("{:?}", p.build(be.clone()).await.0);
  assert!(m.contains("No module named 'tinypkg'"), "{m}");
  let mut with_prod = be.clone();
  with_prod["extras"] = json!(["prod"]);
  let (r, logs) = p.build(with_prod.clone()).await;
  let out = r.unwrap_or_else(|e| panic!("{e:?}\n{}", logs.join("\n")));
  let art = &out.artifacts[0];
  assert_eq!(art.metadata["dependencyCount"], 1, "{logs:?}");
  assert!(
    logs
      .iter()
      .any(|l| l == "dependencies from api/pyproject.toml ([project.dependencies] + [prod])"),
    "{logs:?}"
  );
  assert_eq!(run(&p.file("dist/api/.venv/bin/python"), &["-c", "import tinypkg"], &p.dir), "");
  // the venv is keyed on the dependency tables: other [project] fields do not matter
  let key = art.metadata["venvKey"].clone();
  let text = std::fs::read_to_string(p.file("api/pyproject.toml")).unwrap();
  std::fs::write(p.file("api/pyproject.toml"), text.replace("version = \"0\"", "version = \"1\""))
    .unwrap();
  let out = p.build(with_prod.clone()).await.0.unwrap();
  assert_eq!(out.artifacts[0].metadata["venvKey"], key);
  assert_eq!(out.artifacts[0].metadata["venvReused"], true);
  let marker = format!("\"tinypkg @ file://{} ; python_version >= '3'\"", whl.display());
  std::fs::write(p.file("api/pyproject.toml"), pyproject(&marker)).unwrap();
  let (r, logs) = p.build(with_prod.clone()).await;
  let out = r.unwrap();
  assert_ne!(out.artifacts[0].metadata["venvKey"], key, "another requirement, another venv");
  assert_eq!(installs(&logs), 1);
  // an extra the file does not have
  let mut gpu = be.clone();
  gpu["extras"] = json!(["gpu"]);
  let m = format!("{:?}", p.build(gpu).await.0);
  assert!(m.contains("backend.extras names \\\"gpu\\\"") && m.contains("prod"), "{m}");
}

#[tokio::test]
async fn requires_python_mismatch_is_a_clear_error_before_compileall() {
  let p = Project::new("pyversion");
  // 3.14-only syntax would give compileall's raw SyntaxError on an older Python
  std::fs::write(p.file("api/main.py"), "def f[T](x: T) -> T:\n    return x\n").unwrap();
  std::fs::write(
    p.file("api/pyproject.toml"),
    "[project]\nname = \"api\"\nrequires-python = \">=3.99\"\n",
  )
  .unwrap();
  let be = json!({ "root": "api", "python": "python3", "tidyImports": false, "venv": false });
  let (r, _) = p.build(be.clone()).await;
  let m = format!("{r:?}");
  let version = run(
    Path::new("python3"),
    &["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
    &p.dir,
  );
  for part in [
    format!("Python {} (`python3`)", version.trim()),
    "requires-python \\\">=3.99\\\"".into(),
    "api/pyproject.toml".into(),
    "backend.python".into(),
  ] {
    assert!(m.contains(&part), "{part} in {m}");
  }
  assert!(!m.contains("SyntaxError") && !p.file("dist/api").exists(), "{m}");
  // .python-version in the project root
  std::fs::write(p.file("api/pyproject.toml"), "[project]\nname = \"api\"\n").unwrap();
  std::fs::write(p.file(".python-version"), "3.99\n").unwrap();
  let m = format!("{:?}", p.build(be).await.0);
  assert!(m.contains("is not the Python 3.99 that .python-version asks for"), "{m}");
}

#[test]
fn dotenv_parsing_matches_python_dotenv() {
  let py = tool_python("dotenv-venv", &["python-dotenv"], "import dotenv");
  let dir = std::env::temp_dir().join(format!("farm-dotenv-x-{}", std::process::id()));
  std::fs::create_dir_all(&dir).unwrap();
  let file = dir.join("x.env");
  let text = "\u{feff}# comment\nexport A=1\nB = two words  # trailing\nC='single # ${A} kept'\n\
D=\"dq \\\"esc\\\" \\n nl \\t tab \\\\ bs\"\nE=\nF\n  G=#hash\nH= # only a comment\n'I'=quoted key\n\
J=\"multi\nline ${A}\"\nK=a#b\nL='it\\'s'\nBAD LINE\nM=${FROM_PROCESS}/${A}/${NOPE:-dflt}/${F}\n\
N=${FROM_PROCESS:-x}\nFROM_PROCESS=file-value\nO=${FROM_PROCESS}\nP=\"unterminated\nQ=after\n\
R=\"a\"junk\nS=   spaced   \nT=x \\\"y\nexport   U=\"exported\"  # c\nV=${A}${A}\nA=2\nW=${A}\n";
  std::fs::write(&file, text).unwrap();
  let script = r#"
import json, os, sys
from dotenv import dotenv_values, load_dotenv
keys = list(dotenv_values(sys.argv[1], interpolate=False).keys())
before = set(os.environ)
load_dotenv(sys.argv[1], override=False)
print(json.dumps({k: os.environ.get(k) for k in keys}))
"#;
  let out = Command::new(&py)
    .args(["-c", script])
    .arg(&file)
    .env_clear()
    .env("FROM_PROCESS", "proc-value")
    .output()
    .unwrap();
  assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
  let theirs: BTreeMap<String, Option<String>> = serde_json::from_slice(&out.stdout).unwrap();
  let parsed = super::env::parse_dotenv(text);
  let ours =
    super::env::resolve_dotenv(&parsed, |n| (n == "FROM_PROCESS").then(|| "proc-value".into()));
  let theirs: BTreeMap<String, String> =
    theirs.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect();
  assert_eq!(ours, theirs);
  assert!(ours.len() >= 20, "{ours:?}");
  std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn task_keys_hold_env_digests_and_dependency_files_never_values() {
  use crate::orchestrator::caching::BuildCache;
  let p = Project::new("keys");
  std::fs::write(p.file(".env"), "TOKEN=abc-secret-1\n").unwrap();
  let config = |env: Value| {
    FarmConfig::from_json(
      json!({ "appName": "t", "backend": { "root": "api", "envFile": "../.env", "env": env } }),
      "test",
    )
    .unwrap()
  };
  let cfg = config(json!({ "LITERAL": "lit-secret-2" }));
  let cache = BuildCache::open(&cfg, &p.dir, BTreeMap::new(), Arc::new(|_: &str| {})).unwrap();
  let key = |cfg: &FarmConfig, task: &str| {
    let kind = crate::plan::TaskKind::of_builtin(task).unwrap();
    let cx = crate::builders::IoContext { task, config: cfg, root: &p.dir };
    let reads = crate::builders::builder_for(kind).io(&cx).reads.unwrap();
    cache.key_for(&reads, task, &[]).unwrap()
  };
  let m = key(&cfg, "backend");
  assert_eq!(m.env["TOKEN"], Some(crate::hash::env_value_digest("abc-secret-1")));
  assert!(m.env.contains_key("LITERAL"));
  assert!(m.is_consistent());
  let stored = serde_json::to_string(&m).unwrap();
  assert!(!stored.contains("abc-secret-1") && !stored.contains("lit-secret-2"), "{stored}");
  let types = key(&cfg, "types");
  assert_eq!(types.env["TOKEN"], m.env["TOKEN"]);
  // a changed value, a changed key; the same value, the same key
  std::fs::write(p.file(".env"), "TOKEN=abc-secret-3\n").unwrap();
  let m2 = key(&cfg, "backend");
  assert_ne!(m2.key, m.key);
  std::fs::write(p.file(".env"), "# same\nTOKEN=\"abc-secret-1\"\n").unwrap();
  assert_eq!(key(&cfg, "backend").key, m.key);
  assert_ne!(key(&config(json!({ "LITERAL": "lit-secret-4" })), "backend").key, m.key);
  // a uv.lock or .python-version above the backend root enters the key
  std::fs::write(p.file("uv.lock"), "version = 1\n").unwrap();
  let m3 = key(&cfg, "backend");
  assert_ne!(m3.key, m.key);
  let has = |m: &crate::hash::KeyManifest, f: &str| m.inputs.iter().any(|i| i.path == f);
  assert!(has(&m3, "../uv.lock"), "{:?}", m3.inputs);
  std::fs::write(p.file(".python-version"), "3.12\n").unwrap();
  assert!(has(&key(&cfg, "backend"), "../.python-version"));
}

#[tokio::test]
async fn a_damaged_cached_venv_is_deleted_with_a_warning_and_rebuilt() {
  let p = Project::new("damaged-venv");
  let backend = json!({ "root": "api", "python": "python3", "tidyImports": false });
  let (r, logs) = p.build(backend.clone()).await;
  let out = r.unwrap_or_else(|e| panic!("{e:?}\n{}", logs.join("\n")));
  assert_eq!(installs(&logs), 1, "{logs:?}");
  let key = out.artifacts[0].metadata["venvKey"].as_str().unwrap().to_string();
  let venv = p.file(".farm/cache/venvs").join(&key);
  let lib = std::fs::read_dir(venv.join("lib")).unwrap().next().unwrap().unwrap().path();
  let init = lib.join("site-packages/tinypkg/__init__.py");
  let api = p.file("dist/api");
  let damage_warnings =
    |logs: &[String]| logs.iter().filter(|l| l.contains("is damaged")).cloned().collect::<Vec<_>>();

  // One garbled file: the venv is verified before use, deleted, rebuilt; the output works.
  std::fs::write(&init, "def main(:\n").unwrap();
  let (r, logs) = p.build(backend.clone()).await;
  let out = r.unwrap_or_else(|e| panic!("{e:?}\n{}", logs.join("\n")));
  let warned = damage_warnings(&logs);
  assert!(
    warned.iter().any(|w| w.contains("tinypkg/__init__.py") && w.contains("deleted and rebuilt")),
    "{logs:?}"
  );
  assert_eq!(installs(&logs), 1, "{logs:?}");
  assert_eq!(out.artifacts[0].metadata["venvReused"], false);
  assert_eq!(run(&api.join(".venv/bin/tinyhello"), &[], &api), "tiny hello\n");
  assert_eq!(std::fs::read_to_string(&init).unwrap(), "def main():\n    print('tiny hello')\n");

  // Unchanged: reused, nothing installed, no warning.
  let (r, logs) = p.build(backend.clone()).await;
  assert_eq!(r.unwrap().artifacts[0].metadata["venvReused"], true);
  assert_eq!((installs(&logs), damage_warnings(&logs).len()), (0, 0), "{logs:?}");

  // A file that was not installed (it would be copied into every output) is damage too.
  std::fs::write(lib.join("site-packages/sitecustomize.py"), "raise SystemExit(3)\n").unwrap();
  let (r, logs) = p.build(backend).await;
  r.unwrap_or_else(|e| panic!("{e:?}\n{}", logs.join("\n")));
  assert!(damage_warnings(&logs).iter().any(|w| w.contains("sitecustomize.py")), "{logs:?}");
  assert!(!lib.join("site-packages/sitecustomize.py").exists());
  assert!(!api
    .join(".venv")
    .join(lib.strip_prefix(&venv).unwrap())
    .join("site-packages/sitecustomize.py")
    .exists());
}
