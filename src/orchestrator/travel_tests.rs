//! Keys that travel: the same project at two absolute paths gets the same keys for every portable
//! task, and the backend's production venv (which names its absolute location) is machine-bound.

use super::caching::BuildCache;
use crate::builders::{builder_for, IoContext};
use crate::config::FarmConfig;
use crate::hash::KeyManifest;
use crate::plan::TaskKind;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const FILES: &[(&str, &str)] = &[
  ("package-lock.json", "{}"),
  ("package.json", "{\"name\":\"app\"}"),
  ("notes.txt", "release notes\n"),
  ("web/index.html", "<html></html>"),
  ("web/package.json", "{}"),
  ("web/tsconfig.json", "{\"extends\":\"../tsconfig.base.json\"}"),
  ("tsconfig.base.json", "{}"),
  ("web/vite.config.ts", "import shared from '../shared/vite.shared'\nexport default shared\n"),
  ("shared/vite.shared.ts", "export default {}\n"),
  ("web/src/main.ts", "console.log(1)\n"),
  ("web/src/types/api.ts", "export type X = 1;\n"),
  ("api/main.py", "app = None\n"),
  ("api/requirements.txt", "fastapi\n"),
];

/// Writes the project under `base/rel` and returns its canonical root.
fn write_project(base: &Path, rel: &str) -> PathBuf {
  let root = base.join(rel);
  for (p, text) in FILES {
    let f = root.join(p);
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    std::fs::write(f, text).unwrap();
  }
  root.canonicalize().unwrap()
}

fn config(venv: bool) -> FarmConfig {
  config_with(venv, "pip")
}

fn config_with(venv: bool, installer: &str) -> FarmConfig {
  let v: Value = json!({
    "appName": "travel",
    "frontend": { "root": "web" },
    "backend": { "root": "api", "app": "main:app", "venv": venv, "envFile": "../.env", "installer": installer },
    "tasks": { "stamp": { "command": "cp notes.txt out/", "inputs": ["notes.txt"], "outputs": ["out"], "env": ["STAMP_MODE"] } },
  });
  FarmConfig::from_json(v, "test").unwrap()
}

/// The keys of every task of the project at `root`, dependencies first, as a build computes them.
fn keys(root: &Path, cfg: &FarmConfig) -> BTreeMap<String, KeyManifest> {
  let tools = BTreeMap::from([("node".to_string(), "v22.0.0".to_string())]);
  let cache = BuildCache::open(cfg, root, tools, Arc::new(|_: &str| {})).unwrap();
  let tasks: [(&str, TaskKind, Vec<(String, TaskKind)>); 5] = [
    ("backend", TaskKind::Backend, vec![]),
    ("types", TaskKind::Types, vec![("backend".into(), TaskKind::Backend)]),
    ("typecheck", TaskKind::Typecheck, vec![("types".into(), TaskKind::Types)]),
    ("frontend", TaskKind::Frontend, vec![("types".into(), TaskKind::Types)]),
    ("stamp", TaskKind::Command, vec![]),
  ];
  let mut out = BTreeMap::new();
  for (task, kind, deps) in tasks {
    let reads = builder_for(kind).io(&IoContext { task, config: cfg, root }).reads.unwrap();
    out.insert(task.to_string(), cache.key_for(&reads, task, &deps).unwrap());
  }
  out
}

#[test]
fn the_same_project_at_two_paths_gets_the_same_portable_keys() {
  let t = tempfile::tempdir().unwrap();
  let a = write_project(t.path(), "a");
  let b = write_project(t.path(), "elsewhere/deeper/b with space");
  let cfg = config(true);
  let (ka, kb) = (keys(&a, &cfg), keys(&b, &cfg));
  for task in ["types", "typecheck", "frontend", "stamp"] {
    assert_eq!(ka[task].key, kb[task].key, "{task}: {:?}\n{:?}", ka[task], kb[task]);
    assert!(!ka[task].is_machine_bound(), "{task}");
    let text = serde_json::to_string(&ka[task]).unwrap();
    assert!(!text.contains(a.to_str().unwrap()), "{task} names the root: {text}");
  }
  // Files outside the app's folder enter relative to it.
  let fe: Vec<&str> = ka["frontend"].inputs.iter().map(|f| f.path.as_str()).collect();
  assert!(
    fe.contains(&"../shared/vite.shared.ts") && fe.contains(&"../package-lock.json"),
    "{fe:?}"
  );
  // pip's venv names its location: the backend is keyed on it, and only it.
  assert!(ka["backend"].is_machine_bound());
  assert_ne!(ka["backend"].key, kb["backend"].key);
  assert_eq!(ka["backend"].machine["outputPath"], a.join("dist/api/.venv").to_string_lossy());
  assert!(ka["backend"].machine.contains_key("pythonHome"));
  let r = crate::cache::diff_manifests(&ka["backend"], &kb["backend"]);
  assert_eq!(r.machine.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["outputPath"]);
  assert!(
    r.files_modified.is_empty() && r.env.is_empty() && r.tools.is_empty() && r.config.is_empty()
  );
}

#[test]
fn a_relocatable_uv_venv_keeps_the_backend_key_portable() {
  if crate::builders::backend::venv::find_on_path("uv").is_none() {
    assert!(std::env::var_os("CI").is_none(), "uv must be on PATH in CI");
    eprintln!("SKIP: uv is not on PATH");
    return;
  }
  let t = tempfile::tempdir().unwrap();
  let a = write_project(t.path(), "a");
  let b = write_project(t.path(), "elsewhere/b with space");
  let cfg = config_with(true, "uv");
  let (ka, kb) = (keys(&a, &cfg), keys(&b, &cfg));
  assert!(!ka["backend"].is_machine_bound(), "{:?}", ka["backend"].machine);
  assert_eq!(ka["backend"].key, kb["backend"].key);
  // The interpreter still enters the key (home + a digest of the executable), and uv's version.
  let home = &ka["backend"].machine["pythonHome"];
  assert!(home.contains(" exe:") && !home.contains("unavailable"), "{home}");
  assert!(ka["backend"].tools["uv"].starts_with("uv "), "{:?}", ka["backend"].tools);
  let text = serde_json::to_string(&ka["backend"]).unwrap();
  assert!(!text.contains(a.to_str().unwrap()), "the backend names the root: {text}");
}

#[test]
fn a_backend_without_a_venv_is_portable() {
  let t = tempfile::tempdir().unwrap();
  let a = write_project(t.path(), "a");
  let b = write_project(t.path(), "b/c");
  let cfg = config(false);
  let (ka, kb) = (keys(&a, &cfg), keys(&b, &cfg));
  assert!(!ka["backend"].is_machine_bound());
  assert_eq!(ka["backend"].key, kb["backend"].key);
}

#[test]
fn a_manifest_without_machine_facts_keeps_its_encoding() {
  // Stored manifests of portable keys have no `machine` field, and old ones still verify.
  let t = tempfile::tempdir().unwrap();
  let a = write_project(t.path(), "a");
  let m = keys(&a, &config(false)).remove("stamp").unwrap();
  let v = serde_json::to_value(&m).unwrap();
  assert!(v.get("machine").is_none(), "{v}");
  let back: KeyManifest = serde_json::from_value(v).unwrap();
  assert!(back.is_consistent());
  let mut bound = back.clone();
  bound.machine.insert("outputPath".into(), "/x".into());
  assert_ne!(bound.compute_key(), back.key, "machine facts enter the key");
}

#[test]
fn the_python_key_does_not_depend_on_the_current_directory() {
  // A distribution's metadata in the directory farm runs from is not the interpreter's.
  let t = tempfile::tempdir().unwrap();
  let (with, without) = (t.path().join("with"), t.path().join("without"));
  let meta = with.join("farm_stray-1.0.dist-info");
  std::fs::create_dir_all(&meta).unwrap();
  std::fs::create_dir_all(&without).unwrap();
  std::fs::write(meta.join("METADATA"), "Metadata-Version: 2.1\nName: farm-stray\nVersion: 1.0\n")
    .unwrap();
  let a = super::tool_facts::probe_version("python3", Some(&with));
  assert!(a.starts_with("3.") && a.contains(" pkgs:"), "python3 is needed on PATH: {a}");
  assert_eq!(a, super::tool_facts::probe_version("python3", Some(&without)));
}
