//! [`Orchestrator::probe`] and [`Orchestrator::build_probed`]: the probe finds hits without
//! building, stops at the first task that is not one, and the build after it restores the same keys.

use super::{BuildRequest, Orchestrator};
use crate::builders::NoHost;
use crate::orchestrator::caching::CacheStatus;
use crate::run::events::Emitter;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use tokio_util::sync::CancellationToken;

fn project(root: &Path, cache: bool) -> Orchestrator {
  std::fs::create_dir_all(root.join("pkg/src")).unwrap();
  std::fs::write(root.join("pkg/src/a.txt"), "alpha\n").unwrap();
  let cfg = json!({
    "appName": "probe",
    "cache": { "enabled": cache },
    "tasks": {
      "gen": { "cwd": "pkg", "command": "mkdir -p out && cat src/*.txt > out/all.txt", "inputs": ["src/**"], "outputs": ["out"] },
      "pack": { "cwd": "pkg", "command": "mkdir -p packed && wc -c < out/all.txt > packed/size.txt", "inputs": ["out/**"], "outputs": ["packed"], "dependsOn": ["gen"] },
    },
  });
  Orchestrator::new(cfg, root, "farm.config.json").unwrap()
}

fn tools() -> BTreeMap<String, String> {
  BTreeMap::from([("node".to_string(), "v22.0.0".to_string())])
}

fn req() -> BuildRequest {
  BuildRequest { tool_versions: tools(), ..BuildRequest::default() }
}

#[test]
fn the_probe_finds_hits_without_building_and_the_build_after_it_restores_them() {
  let t = tempfile::tempdir().unwrap();
  let root = t.path().canonicalize().unwrap();
  let orch = project(&root, true);
  let rt = tokio::runtime::Runtime::new().unwrap();
  let events = Emitter::discard();

  // Nothing cached: misses, having built nothing; no task runs JavaScript.
  let p = orch.probe(&[], tools(), &events).unwrap().expect("cache on");
  let states: Vec<_> = p.tasks().iter().map(|t| (t.name.as_str(), t.cache)).collect();
  assert_eq!(states, [("gen", CacheStatus::Miss), ("pack", CacheStatus::Miss)]);
  assert_eq!(p.needs_js(), None);
  assert!(!root.join("pkg/out").exists(), "the probe ran a task");

  let r = rt.block_on(orch.build(req(), &NoHost, &events, CancellationToken::new()));
  assert!(r.success, "{:?}", r.error);

  let p = orch.probe(&[], tools(), &events).unwrap().unwrap();
  let keys: Vec<_> = p.tasks().iter().map(|t| (t.name.clone(), t.key.clone().unwrap())).collect();
  assert!(p.tasks().iter().all(|t| t.cache == CacheStatus::Hit), "{:?}", p.tasks());
  assert_eq!(p.needs_js(), None);
  // Only `gen` (no dependency, inputs outside outputDir) keeps its probe key for the build.
  assert_eq!(p.reusable.keys().collect::<Vec<_>>(), ["gen"]);
  std::fs::remove_dir_all(root.join("pkg/packed")).unwrap();
  let r = rt.block_on(orch.build_probed(req(), p, &NoHost, &events, CancellationToken::new()));
  assert!(r.success, "{:?}", r.error);
  let built: Vec<_> = r
    .tasks
    .iter()
    .map(|t| {
      let c = t.cache.as_ref().unwrap();
      assert_eq!(c.status, CacheStatus::Hit, "{}", t.name);
      (t.name.clone(), c.key.clone().unwrap())
    })
    .collect();
  assert_eq!(built, keys);
  assert_eq!(std::fs::read_to_string(root.join("pkg/packed/size.txt")).unwrap().trim(), "6");

  // A dependency's output edited by hand: the dependent is keyed on what is on disk (a miss).
  std::fs::write(root.join("pkg/out/all.txt"), "edited\n").unwrap();
  let p = orch.probe(&[], tools(), &events).unwrap().unwrap();
  let states: Vec<_> = p.tasks().iter().map(|t| (t.name.as_str(), t.cache)).collect();
  assert_eq!(states, [("gen", CacheStatus::Hit), ("pack", CacheStatus::Miss)]);
}

#[test]
fn no_probe_when_the_cache_is_off() {
  let t = tempfile::tempdir().unwrap();
  let orch = project(&t.path().canonicalize().unwrap(), false);
  assert!(orch.probe(&[], tools(), &Emitter::discard()).unwrap().is_none());
}

#[test]
fn a_frontend_that_must_run_needs_javascript() {
  let t = tempfile::tempdir().unwrap();
  let root = t.path().canonicalize().unwrap();
  for (p, text) in
    [("web/package.json", "{}"), ("web/index.html", "<html></html>"), ("web/src/main.ts", "1\n")]
  {
    std::fs::create_dir_all(root.join(p).parent().unwrap()).unwrap();
    std::fs::write(root.join(p), text).unwrap();
  }
  let cfg = json!({ "appName": "web", "frontend": { "root": "web" } });
  let orch = Orchestrator::new(cfg, &root, "farm.config.json").unwrap();
  let p = orch.probe(&[], tools(), &Emitter::discard()).unwrap().unwrap();
  assert_eq!(p.needs_js(), Some("task `frontend` is a cache miss"));
  assert_eq!(p.tasks().last().map(|t| t.name.as_str()), Some("frontend"));
}

#[test]
fn tasks_with_nested_roots_are_keyed_from_one_walk_as_from_their_own() {
  let t = tempfile::tempdir().unwrap();
  let root = t.path().canonicalize().unwrap();
  std::fs::create_dir_all(root.join(".git")).unwrap();
  for (p, text) in [
    (".gitignore", "*.log\n"),
    ("apps/web/src/a.ts", "a\n"),
    ("apps/web/src/b.log", "b\n"),
    ("apps/web/src/gen/c.ts", "c\n"),
    ("apps/web/dist/old.js", "old\n"),
    ("apps/web/README.md", "readme\n"),
  ] {
    std::fs::create_dir_all(root.join(p).parent().unwrap()).unwrap();
    std::fs::write(root.join(p), text).unwrap();
  }
  let cfg = json!({
    "appName": "nested",
    "tasks": {
      "web": { "cwd": "apps/web", "command": "true", "inputs": ["src/**"], "outputs": ["dist"] },
      "check": { "cwd": "apps/web", "command": "true", "inputs": ["**/*.ts", "!src/gen/**"] },
      "docs": { "cwd": ".", "command": "true", "inputs": ["**/*.md", "apps/**"] },
      "gen": { "cwd": "apps/web/src", "command": "true", "inputs": ["gen/**"] },
    },
  });
  let orch = Orchestrator::new(cfg, &root, "farm.config.json").unwrap();
  let p = orch.probe(&[], tools(), &Emitter::discard()).unwrap().unwrap();
  let probed: BTreeMap<_, _> =
    p.tasks().iter().map(|t| (t.name.clone(), (t.key.clone().unwrap(), t.inputs))).collect();
  // Each task keyed alone, with a cache that has seen nothing.
  std::fs::remove_dir_all(root.join(".farm")).unwrap();
  let cache = orch.cache_for_query(tools()).unwrap();
  let plan = orch.plan(&[]).unwrap();
  let alone: BTreeMap<_, _> = plan
    .tasks()
    .iter()
    .map(|t| {
      let m = cache.key_for(&orch.io_of(t).reads.unwrap(), &t.name, &[]).unwrap();
      (t.name.clone(), (m.key.clone(), m.inputs.len()))
    })
    .collect();
  assert_eq!(probed, alone);
  // The output directory is pruned for `web` only; `check` reads `dist`-less `.ts` files; the
  // `.gitignore`d log is in none.
  let inputs: Vec<_> = ["web", "check", "docs", "gen"].iter().map(|n| probed[*n].1).collect();
  assert_eq!(inputs, [2, 1, 4, 1]);
}
