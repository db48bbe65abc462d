//! Tests of input hashing, the stat cache and task keys.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::json;

use super::walk::Pruner;
use super::*;

/// A unique temporary directory removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
  pub(crate) fn new(tag: &str) -> TempDir {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos();
    let p =
      std::env::temp_dir().join(format!("farm-hash-test-{tag}-{}-{n}-{nanos}", std::process::id()));
    fs::create_dir_all(&p).unwrap();
    TempDir(fs::canonicalize(&p).unwrap())
  }
  pub(crate) fn path(&self) -> &Path {
    &self.0
  }
}

impl Drop for TempDir {
  fn drop(&mut self) {
    let _ = fs::remove_dir_all(&self.0);
  }
}

pub(crate) fn write(root: &Path, rel: &str, content: &str) {
  let p = root.join(rel);
  fs::create_dir_all(p.parent().unwrap()).unwrap();
  fs::write(p, content).unwrap();
}

fn set_mtime(path: &Path, t: SystemTime) {
  fs::File::options().write(true).open(path).unwrap().set_modified(t).unwrap();
}

/// A small frontend-shaped project.
fn project() -> TempDir {
  let t = TempDir::new("proj");
  let r = t.path();
  write(r, "package.json", "{\"name\":\"web\"}");
  write(r, "vite.config.ts", "export default {}");
  write(r, "tsconfig.json", "{}");
  write(r, "tsconfig.node.json", "{}");
  write(r, "index.html", "<html></html>");
  write(r, "src/main.tsx", "main");
  write(r, "src/App.tsx", "app");
  write(r, "src/feature/a.ts", "a");
  write(r, "public/logo.svg", "<svg/>");
  write(r, "README.md", "not an input");
  write(r, "node_modules/react/index.js", "react");
  write(r, "dist/out.js", "built");
  t
}

fn web_globs() -> Vec<String> {
  ["src/**", "package.json", "vite.config.*", "tsconfig*.json", "index.html", "public/**"]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn spec(root: &Path) -> InputSpec {
  InputSpec::new(root, web_globs()).ignore_dir("dist")
}

fn key_of(root: &Path, cache: &StatCache, f: impl FnOnce(&mut KeyInput)) -> KeyManifest {
  let inputs = hash_inputs(&spec(root), cache).unwrap();
  let mut k = KeyInput {
    schema_version: 1,
    task: "web:build".into(),
    inputs: inputs.files,
    config: json!({"outDir": "dist", "sourcemap": true}),
    env: BTreeMap::from([("NODE_ENV".to_string(), Some("production".to_string()))]),
    tools: BTreeMap::from([
      ("node".to_string(), "22.1.0".to_string()),
      ("vite".to_string(), "7.0.0".to_string()),
    ]),
    deps: BTreeMap::from([("api:types".to_string(), "0".repeat(32))]),
    extra: BTreeMap::new(),
    machine: BTreeMap::new(),
  };
  f(&mut k);
  k.into_manifest()
}

#[test]
fn input_set_matches_globs_sorted_and_skips_ignored_dirs() {
  let p = project();
  let set = hash_inputs(&spec(p.path()), &StatCache::empty(p.path().join("sc"))).unwrap();
  let paths: Vec<&str> = set.files.iter().map(|f| f.path.as_str()).collect();
  assert_eq!(
    paths,
    [
      "index.html",
      "package.json",
      "public/logo.svg",
      "src/App.tsx",
      "src/feature/a.ts",
      "src/main.tsx",
      "tsconfig.json",
      "tsconfig.node.json",
      "vite.config.ts"
    ]
  );
  assert_eq!(set.files[0].hash, Digest::of_bytes(b"<html></html>"));
  assert_eq!(set.stats.files, 9);
  assert_eq!(set.stats.files_read, 9);
}

#[test]
fn key_is_32_hex_and_recomputable() {
  let p = project();
  let m = key_of(p.path(), &StatCache::empty(p.path().join("sc")), |_| {});
  assert_eq!(m.key.len(), 32);
  assert!(Digest::from_hex(&m.key).is_some());
  assert!(m.is_consistent());
  let json = serde_json::to_string(&m).unwrap();
  assert!(!json.contains("production"), "env values must not be stored raw");
  let back: KeyManifest = serde_json::from_str(&json).unwrap();
  assert_eq!(back.compute_key(), m.key);
}

#[test]
fn key_changes_on_content_add_remove() {
  let p = project();
  let sc = StatCache::empty(p.path().join("sc"));
  let base = key_of(p.path(), &sc, |_| {}).key;
  write(p.path(), "src/App.tsx", "app2");
  let modified = key_of(p.path(), &sc, |_| {}).key;
  assert_ne!(base, modified, "content change");
  write(p.path(), "src/new.ts", "new");
  let added = key_of(p.path(), &sc, |_| {}).key;
  assert_ne!(modified, added, "file added");
  fs::remove_file(p.path().join("src/feature/a.ts")).unwrap();
  let removed = key_of(p.path(), &sc, |_| {}).key;
  assert_ne!(added, removed, "file removed");
  // Renaming a file (same content) changes the key too: the set of paths is covered.
  fs::rename(p.path().join("src/new.ts"), p.path().join("src/new2.ts")).unwrap();
  assert_ne!(removed, key_of(p.path(), &sc, |_| {}).key, "file renamed");
  // Files outside the globs or in ignored dirs do not matter.
  let k1 = key_of(p.path(), &sc, |_| {}).key;
  write(p.path(), "README.md", "edited");
  write(p.path(), "dist/out.js", "rebuilt");
  write(p.path(), "node_modules/react/index.js", "react 2");
  assert_eq!(k1, key_of(p.path(), &sc, |_| {}).key);
}

#[test]
fn key_changes_on_env_config_tool_dep_extra() {
  let p = project();
  let sc = StatCache::empty(p.path().join("sc"));
  let base = key_of(p.path(), &sc, |_| {}).key;
  let changed = |f: &dyn Fn(&mut KeyInput)| key_of(p.path(), &sc, |k| f(k)).key;
  assert_ne!(
    base,
    changed(&|k| {
      k.env.insert("NODE_ENV".into(), Some("development".into()));
    })
  );
  assert_ne!(
    base,
    changed(&|k| {
      k.env.insert("NODE_ENV".into(), None);
    })
  );
  assert_ne!(base, changed(&|k| k.config = json!({"outDir": "dist", "sourcemap": false})));
  assert_ne!(
    base,
    changed(&|k| {
      k.tools.insert("node".into(), "22.2.0".into());
    })
  );
  assert_ne!(
    base,
    changed(&|k| {
      k.deps.insert("api:types".into(), "1".repeat(32));
    })
  );
  assert_ne!(
    base,
    changed(&|k| {
      k.extra.insert("api-types".into(), Digest::of_bytes(b"export type A = 1"));
    })
  );
  assert_ne!(base, changed(&|k| k.schema_version = 2));
  assert_ne!(base, changed(&|k| k.task = "web:dev".into()));
  // Config object key order does not matter.
  assert_eq!(base, changed(&|k| k.config = json!({"sourcemap": true, "outDir": "dist"})));
}

#[test]
fn undeclared_env_var_does_not_change_key() {
  let p = project();
  let sc = StatCache::empty(p.path().join("sc"));
  let declared = vec!["NODE_ENV".to_string(), "VITE_API_URL".to_string()];
  let mut env = BTreeMap::from([
    ("NODE_ENV".to_string(), "production".to_string()),
    ("HOME".to_string(), "/root".to_string()),
  ]);
  let k1 = key_of(p.path(), &sc, |k| k.env = declared_env(&declared, |n| env.get(n).cloned())).key;
  env.insert("HOME".into(), "/home/other".into());
  env.insert("RANDOM_VAR".into(), "1".into());
  let k2 = key_of(p.path(), &sc, |k| k.env = declared_env(&declared, |n| env.get(n).cloned())).key;
  assert_eq!(k1, k2);
  env.insert("VITE_API_URL".into(), "http://127.0.0.1:8000".into());
  let k3 = key_of(p.path(), &sc, |k| k.env = declared_env(&declared, |n| env.get(n).cloned())).key;
  assert_ne!(k2, k3, "a declared var becoming set changes the key");
}

#[test]
fn mtime_touch_and_glob_order_do_not_change_key() {
  let p = project();
  let sc = StatCache::empty(p.path().join("sc"));
  let base = key_of(p.path(), &sc, |_| {}).key;
  sc.save().unwrap();
  set_mtime(&p.path().join("src/App.tsx"), SystemTime::now() + Duration::from_secs(5));
  set_mtime(&p.path().join("index.html"), SystemTime::now() - Duration::from_secs(3600));
  assert_eq!(base, key_of(p.path(), &sc, |_| {}).key);
  let mut globs = web_globs();
  globs.reverse();
  globs.push("src/**".into());
  let set = hash_inputs(&InputSpec::new(p.path(), globs).ignore_dir("dist"), &sc).unwrap();
  let reordered = KeyInput { inputs: set.files, ..Default::default() }.into_manifest();
  let set = hash_inputs(&spec(p.path()), &sc).unwrap();
  let normal = KeyInput { inputs: set.files, ..Default::default() }.into_manifest();
  assert_eq!(reordered.key, normal.key);
}

#[test]
fn stat_cache_avoids_rereading_across_processes() {
  let p = project();
  let old = SystemTime::now() - Duration::from_secs(3600);
  for f in hash_inputs(&spec(p.path()), &StatCache::empty(p.path().join("x"))).unwrap().files {
    set_mtime(&p.path().join(&f.path), old);
  }
  let sc_path = p.path().join(".farm/stat-cache.bin");
  let sc = StatCache::load(&sc_path);
  let first = hash_inputs(&spec(p.path()), &sc).unwrap();
  assert_eq!(first.stats.files_read, 9);
  // Fresh entries are not trusted before a save gives them a reference timestamp.
  let again = hash_inputs(&spec(p.path()), &sc).unwrap();
  assert_eq!(again.stats.files_read, 9);
  sc.save().unwrap();
  // Same process after save: all hits.
  let warm = hash_inputs(&spec(p.path()), &sc).unwrap();
  assert_eq!((warm.stats.files_read, warm.stats.stat_cache_hits), (0, 9));
  // "New process": load from disk.
  let sc2 = StatCache::load(&sc_path);
  assert_eq!(sc2.len(), 9);
  assert!(sc2.load_note().is_none());
  let warm2 = hash_inputs(&spec(p.path()), &sc2).unwrap();
  assert_eq!(
    (warm2.stats.files_read, warm2.stats.stat_cache_hits, warm2.stats.bytes_read),
    (0, 9, 0)
  );
  assert_eq!(warm2.files, first.files);
  // A modified file is re-read (and only it), with the new digest.
  write(p.path(), "src/App.tsx", "APP");
  set_mtime(&p.path().join("src/App.tsx"), old);
  let after = hash_inputs(&spec(p.path()), &sc2).unwrap();
  assert_eq!(after.stats.files_read, 1, "ctime/size changed: re-read");
  let app = after.files.iter().find(|f| f.path == "src/App.tsx").unwrap();
  assert_eq!(app.hash, Digest::of_bytes(b"APP"));
  // The new entry overrides the loaded one after a save, in this process and the next.
  sc2.save().unwrap();
  for sc in [&sc2, &StatCache::load(&sc_path)] {
    let r = hash_inputs(&spec(p.path()), sc).unwrap();
    assert_eq!(r.stats.files_read, 0);
    assert_eq!(
      r.files.iter().find(|f| f.path == "src/App.tsx").unwrap().hash,
      Digest::of_bytes(b"APP")
    );
    assert_eq!(sc.len(), 9);
  }
}

#[test]
fn racy_files_are_rehashed() {
  let p = project();
  let old = SystemTime::now() - Duration::from_secs(3600);
  let files = hash_inputs(&spec(p.path()), &StatCache::empty(p.path().join("x"))).unwrap().files;
  for f in &files {
    set_mtime(&p.path().join(&f.path), old);
  }
  // One file's mtime is not older than the stat cache file: racy, must be re-read every time.
  set_mtime(&p.path().join("src/main.tsx"), SystemTime::now() + Duration::from_secs(60));
  let sc_path = p.path().join("sc.bin");
  let sc = StatCache::load(&sc_path);
  hash_inputs(&spec(p.path()), &sc).unwrap();
  sc.save().unwrap();
  for _ in 0..2 {
    let sc = StatCache::load(&sc_path);
    let r = hash_inputs(&spec(p.path()), &sc).unwrap();
    assert_eq!((r.stats.files_read, r.stats.stat_cache_hits), (1, 8));
    sc.save().unwrap();
  }
  // Same-size rewrite within the racy window, with the mtime put back: detected.
  write(p.path(), "src/main.tsx", "MAIN");
  set_mtime(&p.path().join("src/main.tsx"), SystemTime::now() + Duration::from_secs(60));
  let sc = StatCache::load(&sc_path);
  let r = hash_inputs(&spec(p.path()), &sc).unwrap();
  let f = r.files.iter().find(|f| f.path == "src/main.tsx").unwrap();
  assert_eq!(f.hash, Digest::of_bytes(b"MAIN"));
}

#[test]
fn corrupt_stat_cache_starts_empty() {
  let p = project();
  let sc_path = p.path().join("sc.bin");
  let sc = StatCache::load(&sc_path);
  hash_inputs(&spec(p.path()), &sc).unwrap();
  sc.save().unwrap();
  let good = fs::read(&sc_path).unwrap();
  assert_eq!(StatCache::load(&sc_path).len(), 9);
  // Flip one byte in the middle, truncate, and write garbage: all load empty with a note.
  let mut flipped = good.clone();
  let mid = flipped.len() / 2;
  flipped[mid] ^= 0x55;
  for bad in [flipped, good[..good.len() - 3].to_vec(), b"garbage".to_vec(), Vec::new()] {
    fs::write(&sc_path, &bad).unwrap();
    let sc = StatCache::load(&sc_path);
    assert_eq!(sc.len(), 0);
    assert!(sc.load_note().is_some());
    // And it still works.
    let r = hash_inputs(&spec(p.path()), &sc).unwrap();
    assert_eq!(r.stats.files_read, 9);
  }
  assert!(StatCache::load(p.path().join("missing.bin")).load_note().is_none());
}

#[test]
fn gitignore_rules_apply_including_parents_and_negation() {
  let t = TempDir::new("gi");
  let repo = t.path();
  fs::create_dir_all(repo.join(".git")).unwrap();
  write(repo, ".gitignore", "*.log\ngenerated/\n");
  write(repo, "apps/web/.gitignore", "secret.ts\n!keep.log\n");
  write(repo, "apps/web/src/a.ts", "a");
  write(repo, "apps/web/src/debug.log", "log");
  write(repo, "apps/web/src/keep.log", "kept");
  write(repo, "apps/web/src/secret.ts", "s");
  write(repo, "apps/web/src/generated/x.ts", "x");
  write(repo, "apps/web/src/deep/.gitignore", "b.ts\n");
  write(repo, "apps/web/src/deep/b.ts", "b");
  write(repo, "apps/web/src/deep/c.ts", "c");
  let root = repo.join("apps/web");
  let sc = StatCache::empty(repo.join("sc"));
  let set = hash_inputs(&InputSpec::new(&root, ["src/**"]), &sc).unwrap();
  let paths: Vec<&str> = set.files.iter().map(|f| f.path.as_str()).collect();
  assert_eq!(paths, ["src/a.ts", "src/deep/.gitignore", "src/deep/c.ts", "src/keep.log"]);
  let mut no_gi = InputSpec::new(&root, ["src/**", "!**/.gitignore"]);
  no_gi.use_gitignore = false;
  assert_eq!(hash_inputs(&no_gi, &sc).unwrap().files.len(), 7);
}

#[test]
fn pruner_skips_unreachable_directories() {
  let p = Pruner::new(&["src/**", "package.json", "apps/*/tsconfig*.json", "lib/{a,b}/*.py"]);
  assert!(p.may_contain(&["src"]));
  assert!(p.may_contain(&["src", "x", "y"]));
  assert!(!p.may_contain(&["public"]));
  assert!(p.may_contain(&["apps"]));
  assert!(p.may_contain(&["apps", "web"]));
  assert!(!p.may_contain(&["apps", "web", "src"]));
  assert!(p.may_contain(&["lib", "a"]));
  assert!(!p.may_contain(&["lib", "c"]));
  assert!(Pruner::new(&["**/*.py"]).may_contain(&["any", "where"]));
}

#[test]
fn symlinks_are_hashed_by_target_and_not_followed() {
  #[cfg(unix)]
  {
    let p = project();
    let outside = TempDir::new("outside");
    write(outside.path(), "big/file.ts", "outside");
    std::os::unix::fs::symlink(outside.path().join("big"), p.path().join("src/linked")).unwrap();
    let set = hash_inputs(&spec(p.path()), &StatCache::empty(p.path().join("sc"))).unwrap();
    let link = set.files.iter().find(|f| f.path == "src/linked").expect("symlink listed");
    let mut expect = b"symlink\0".to_vec();
    expect.extend_from_slice(outside.path().join("big").to_str().unwrap().as_bytes());
    assert_eq!(link.hash, Digest::of_bytes(&expect));
    assert!(!set.files.iter().any(|f| f.path.starts_with("src/linked/")));
  }
}

#[test]
fn errors_are_reported_not_panics() {
  let t = TempDir::new("err");
  let sc = StatCache::empty(t.path().join("sc"));
  let missing = hash_inputs(&InputSpec::new(t.path().join("nope"), ["**"]), &sc);
  assert!(matches!(missing, Err(HashError::RootMissing { .. })));
  let bad = hash_inputs(&InputSpec::new(t.path(), ["src/[**"]), &sc);
  match bad {
    Err(e @ HashError::BadGlob { .. }) => assert!(e.to_string().contains("src/[**")),
    other => panic!("expected BadGlob, got {other:?}"),
  }
}

#[test]
fn walk_order_is_byte_order_of_paths() {
  let t = TempDir::new("order");
  for rel in ["a.b", "a/x", "a-b/y", "a0", "ab/c", "a/b.c/d", "a/b/e", "B", "é", "a/b!"] {
    write(t.path(), rel, rel);
  }
  let set =
    hash_inputs(&InputSpec::new(t.path(), ["**"]), &StatCache::empty(t.path().join("x"))).unwrap();
  let paths: Vec<&str> = set.files.iter().map(|f| f.path.as_str()).collect();
  let mut sorted = paths.clone();
  sorted.sort();
  assert_eq!(paths, sorted);
  assert_eq!(paths.len(), 10);
}

#[test]
fn sibling_sort_key_matches_full_path_order() {
  use super::walk::SortKey;
  // (name, is_dir): a directory's files all start with "name/".
  let entries = [
    ("a.b", false),
    ("a", true),
    ("a-b", true),
    ("a0", false),
    ("ab", true),
    ("a", false),
    ("B", false),
  ];
  let entries: Vec<(&str, bool)> = entries.into_iter().filter(|e| *e != ("a", false)).collect();
  let mut by_key = entries.clone();
  by_key.sort_by(|x, y| SortKey(x.0.as_bytes(), x.1).cmp(&SortKey(y.0.as_bytes(), y.1)));
  let mut by_path = entries.clone();
  by_path.sort_by_key(|e| if e.1 { format!("{}/child", e.0) } else { e.0.to_string() });
  assert_eq!(by_key, by_path);
  assert_eq!(by_key[0], ("B", false));
  assert_eq!(&by_key[1..4], [("a-b", true), ("a.b", false), ("a", true)]);
}

#[test]
fn hashing_waits_for_a_busy_rayon_pool_instead_of_failing() {
  use rayon::prelude::*;
  let p = project();
  // Keep every thread of rayon's global pool busy for 1.5 s (jwalk's default busy timeout was 1 s).
  let busy = std::thread::spawn(|| {
    (0..rayon::current_num_threads() * 2)
      .into_par_iter()
      .for_each(|_| std::thread::sleep(Duration::from_millis(1500)));
  });
  std::thread::sleep(Duration::from_millis(100));
  let r = hash_inputs(&spec(p.path()), &StatCache::empty(p.path().join("stat")));
  busy.join().unwrap();
  let set = r.expect("a busy pool must delay hashing, not fail it");
  assert!(!set.files.is_empty());
}
