//! Tests of the cache store: round trips, verification, path safety, crash safety,
//! concurrency, eviction and `why`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::json;

use super::super::hash::tests::{write, TempDir};
use super::super::hash::{hash_inputs, Digest, InputSpec, KeyInput, KeyManifest, StatCache};
use super::*;

pub(super) fn opts() -> StoreOptions {
  StoreOptions::default()
}

pub(super) fn manifest_for(task: &str, seed: u64) -> KeyManifest {
  KeyInput {
    schema_version: 1,
    task: task.into(),
    config: json!({ "seed": seed }),
    ..Default::default()
  }
  .into_manifest()
}

/// Deterministic pseudo-random bytes.
pub(super) fn noise(seed: u64, len: usize) -> Vec<u8> {
  let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
  (0..len)
    .map(|_| {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      x as u8
    })
    .collect()
}

/// The outputs a task with `seed` produces: (relative path, contents, mode).
pub(super) fn expected_outputs(seed: u64) -> Vec<(String, Vec<u8>, u32)> {
  vec![
    ("index.html".into(), format!("<html>{seed}</html>").into_bytes(), 0o644),
    ("assets/app.js".into(), noise(seed, 40_000 + (seed % 7) as usize * 60_000), 0o644),
    ("assets/shared.css".into(), b"body { margin: 0 }".to_vec(), 0o644),
    ("bin/run.sh".into(), format!("#!/bin/sh\necho {seed}\n").into_bytes(), 0o755),
  ]
}

pub(super) fn materialize(dir: &Path, seed: u64) {
  let _ = fs::remove_dir_all(dir);
  for (rel, bytes, mode) in expected_outputs(seed) {
    let p = dir.join(&rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, &bytes).unwrap();
    set_mode(&p, mode);
  }
  fs::create_dir_all(dir.join("empty")).unwrap();
}

pub(super) fn set_mode(p: &Path, mode: u32) {
  #[cfg(unix)]
  {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
  }
  #[cfg(not(unix))]
  let _ = (p, mode);
}

pub(super) fn mode(p: &Path) -> u32 {
  #[cfg(unix)]
  {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
  }
  #[cfg(not(unix))]
  {
    let _ = p;
    0o644
  }
}

/// Asserts that `dir` holds exactly the outputs of `seed`, byte for byte, with modes.
pub(super) fn assert_outputs(dir: &Path, seed: u64) {
  for (rel, bytes, m) in expected_outputs(seed) {
    let p = dir.join(&rel);
    let got = fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert!(got == bytes, "{} differs for seed {seed}", p.display());
    assert_eq!(mode(&p), m, "{} mode", p.display());
  }
  assert!(dir.join("empty").is_dir());
}

pub(super) fn save_seed(store: &Store, work: &Path, seed: u64) -> KeyManifest {
  materialize(work, seed);
  let m = manifest_for("web:build", seed);
  let logs = vec![format!("building {seed}"), "done".to_string()];
  store.save(&m, &[("dist", work)], &json!({ "seed": seed, "code": 0 }), &logs).unwrap();
  m
}

#[test]
fn second_store_instance_hits_and_restores_identically() {
  let t = TempDir::new("rt");
  let work = t.path().join("work");
  let cache = t.path().join("cache");
  let m = {
    let s = Store::open(&cache, opts()).unwrap();
    assert!(s.lookup(&manifest_for("web:build", 7).key).unwrap().is_none());
    save_seed(&s, &work, 7)
  };
  #[cfg(unix)]
  std::os::unix::fs::symlink("assets/app.js", work.join("link.js")).unwrap();
  let s2 = Store::open(&cache, opts()).unwrap();
  let entry = s2.lookup(&m.key).unwrap().expect("hit from a new Store instance");
  assert_eq!(entry.task, "web:build");
  let out = t.path().join("restored");
  let r = s2.restore(&entry, &[("dist", &out)]).unwrap();
  assert_outputs(&out, 7);
  assert_eq!(r.logs, ["building 7", "done"]);
  assert_eq!(r.result, json!({ "seed": 7, "code": 0 }));
  assert_eq!(r.copied + r.reflinked, 4);
  // Restoring again skips identical files and leaves their mtimes alone.
  let before = fs::metadata(out.join("assets/app.js")).unwrap().modified().unwrap();
  std::thread::sleep(Duration::from_millis(20));
  let r2 = s2.restore(&entry, &[("dist", &out)]).unwrap();
  assert_eq!((r2.skipped_identical, r2.copied + r2.reflinked), (4, 0));
  assert_eq!(fs::metadata(out.join("assets/app.js")).unwrap().modified().unwrap(), before);
  // A modified output or a changed mode is rewritten.
  fs::write(out.join("index.html"), "tampered").unwrap();
  set_mode(&out.join("bin/run.sh"), 0o600);
  let r3 = s2.restore(&entry, &[("dist", &out)]).unwrap();
  assert_eq!(r3.skipped_identical, 2);
  assert_outputs(&out, 7);
  let st = s2.status().unwrap();
  assert_eq!((st.entries, st.hits, st.misses, st.saves), (1, 1, 1, 1));
  assert!(st.total_bytes > 40_000);
}

#[test]
fn symlinks_inside_outputs_round_trip() {
  #[cfg(unix)]
  {
    let t = TempDir::new("sym");
    let work = t.path().join("work");
    let s = Store::open(t.path().join("cache"), opts()).unwrap();
    materialize(&work, 3);
    std::os::unix::fs::symlink("../index.html", work.join("assets/index-link")).unwrap();
    let m = manifest_for("t", 3);
    s.save(&m, &[("dist", &work)], &json!(null), &[]).unwrap();
    let out = t.path().join("out");
    s.restore(&s.lookup(&m.key).unwrap().unwrap(), &[("dist", &out)]).unwrap();
    assert_eq!(fs::read_link(out.join("assets/index-link")).unwrap(), Path::new("../index.html"));
    assert_eq!(fs::read(out.join("assets/index-link")).unwrap(), b"<html>3</html>");
  }
}

fn corrupt_case(delete: bool) {
  let t = TempDir::new("corrupt");
  let work = t.path().join("work");
  let warnings = Arc::new(Mutex::new(Vec::<String>::new()));
  let w = Arc::clone(&warnings);
  let opts = StoreOptions {
    warn: Some(Arc::new(move |m: &str| w.lock().unwrap().push(m.into()))),
    ..opts()
  };
  let s = Store::open(t.path().join("cache"), opts).unwrap();
  let m = save_seed(&s, &work, 11);
  let entry = s.lookup(&m.key).unwrap().unwrap();
  let rec = entry.outputs.iter().find(|o| o.path == "assets/app.js").unwrap();
  let blob = s.blob_path(rec.blob.unwrap().hash);
  if delete {
    fs::remove_file(&blob).unwrap();
  } else {
    let mut bytes = fs::read(&blob).unwrap();
    bytes[100] ^= 1;
    fs::write(&blob, bytes).unwrap();
  }
  let out = t.path().join("out");
  let err = s.restore(&entry, &[("dist", &out)]).unwrap_err();
  let msg = err.to_string();
  assert!(msg.contains("dist/assets/app.js"), "error names the file: {msg}");
  if delete {
    assert!(matches!(err, RestoreError::MissingBlob { .. }), "{err:?}");
  } else {
    assert!(matches!(err, RestoreError::CorruptBlob { .. }), "{err:?}");
    assert!(!blob.exists(), "corrupt blob removed so no later save reuses it");
  }
  assert!(s.lookup(&m.key).unwrap().is_none(), "entry removed");
  // Nothing was renamed into the output directory and no temp files remain.
  let leftovers: Vec<_> = walk_files(&out);
  assert!(
    leftovers.iter().all(|p| !p.ends_with("index.html") && !p.contains("farm-tmp")),
    "{leftovers:?}"
  );
  // Rebuild + save works again and restores.
  let m2 = save_seed(&s, &work, 11);
  let out2 = t.path().join("out2");
  s.restore(&s.lookup(&m2.key).unwrap().unwrap(), &[("dist", &out2)]).unwrap();
  assert_outputs(&out2, 11);
  assert_eq!(s.status().unwrap().restore_failures, 1);
}

pub(super) fn walk_files(dir: &Path) -> Vec<String> {
  let mut out = Vec::new();
  if let Ok(rd) = fs::read_dir(dir) {
    for e in rd.flatten() {
      if e.file_type().unwrap().is_dir() {
        out.extend(walk_files(&e.path()));
      } else {
        out.push(e.path().to_string_lossy().into_owned());
      }
    }
  }
  out
}

#[test]
fn corrupted_blob_is_detected_and_entry_removed() {
  corrupt_case(false);
}

#[test]
fn deleted_blob_is_detected_and_entry_removed() {
  corrupt_case(true);
}

#[test]
fn corrupt_entry_json_is_a_miss_with_warning() {
  let t = TempDir::new("cj");
  let warnings = Arc::new(Mutex::new(Vec::<String>::new()));
  let w = Arc::clone(&warnings);
  let s = Store::open(
    t.path().join("cache"),
    StoreOptions {
      warn: Some(Arc::new(move |m: &str| w.lock().unwrap().push(m.into()))),
      ..opts()
    },
  )
  .unwrap();
  let m = save_seed(&s, &t.path().join("w"), 1);
  fs::write(s.entry_path(&m.key), b"{\"format\":1,\"key\":").unwrap();
  assert!(s.lookup(&m.key).unwrap().is_none());
  assert!(!s.entry_path(&m.key).exists());
  assert_eq!(warnings.lock().unwrap().len(), 1);
  assert!(matches!(s.lookup("../../etc/passwd"), Err(CacheError::InvalidKey(_))));
}

/// Saves a valid entry, then rewrites one record to `f`'s liking and tries to restore it.
fn tampered_restore(
  f: impl Fn(&mut Entry),
) -> (TempDir, Result<RestoreReport, RestoreError>, bool) {
  let t = TempDir::new("unsafe");
  let s = Store::open(t.path().join("cache"), opts()).unwrap();
  let m = save_seed(&s, &t.path().join("w"), 5);
  let mut entry = s.lookup(&m.key).unwrap().unwrap();
  f(&mut entry);
  fs::write(s.entry_path(&m.key), serde_json::to_vec(&entry).unwrap()).unwrap();
  let entry = s.lookup(&m.key).unwrap().unwrap();
  let out = t.path().join("box/out");
  fs::create_dir_all(&out).unwrap();
  let r = s.restore(&entry, &[("dist", &out)]);
  let still_there = s.lookup(&m.key).unwrap().is_some();
  (t, r, still_there)
}

#[test]
fn unsafe_paths_are_refused() {
  let file_rec =
    |e: &mut Entry| e.outputs.iter_mut().find(|o| o.path == "index.html").unwrap().clone();
  // `..` escape.
  let (t, r, kept) = tampered_restore(|e| {
    let mut rec = file_rec(e);
    rec.path = "../x".into();
    e.outputs.push(rec);
  });
  assert!(matches!(&r, Err(RestoreError::UnsafePath { path, .. }) if path == "dist/../x"), "{r:?}");
  assert!(!kept, "entry removed");
  assert!(!t.path().join("box/x").exists());
  assert!(!t.path().join("box/out/index.html").exists(), "nothing written before the check");
  // Absolute path.
  let abs = std::env::temp_dir().join(format!("farm-abs-{}", std::process::id()));
  let abs_s = abs.to_string_lossy().into_owned();
  let (_t, r, kept) = tampered_restore(|e| {
    let mut rec = file_rec(e);
    rec.path = abs_s.clone();
    e.outputs.push(rec);
  });
  assert!(matches!(r, Err(RestoreError::UnsafePath { .. })), "{r:?}");
  assert!(!kept && !abs.exists());
  // Symlink leading outside, and a file written through it.
  for target in ["../../secret", "/etc", "a/../../.."] {
    let (t, r, kept) = tampered_restore(|e| {
      e.outputs.push(OutputRecord {
        label: "dist".into(),
        path: "assets/escape".into(),
        kind: OutputKind::Symlink,
        mode: 0o777,
        blob: None,
        target: Some(target.into()),
      });
    });
    assert!(matches!(r, Err(RestoreError::UnsafePath { .. })), "{target}: {r:?}");
    assert!(!kept);
    assert!(fs::symlink_metadata(t.path().join("box/out/assets/escape")).is_err());
  }
  let (_t, r, _) = tampered_restore(|e| {
    e.outputs.push(OutputRecord {
      label: "dist".into(),
      path: "lnk".into(),
      kind: OutputKind::Symlink,
      mode: 0o777,
      blob: None,
      target: Some("assets".into()),
    });
    let mut rec = file_rec(e);
    rec.path = "lnk/x.html".into();
    e.outputs.push(rec);
  });
  assert!(matches!(r, Err(RestoreError::UnsafePath { .. })), "{r:?}");
}

#[test]
fn existing_symlink_in_output_dir_is_not_written_through() {
  #[cfg(unix)]
  {
    let t = TempDir::new("through");
    let s = Store::open(t.path().join("cache"), opts()).unwrap();
    let m = save_seed(&s, &t.path().join("w"), 9);
    let out = t.path().join("out");
    let victim = t.path().join("victim");
    fs::create_dir_all(&out).unwrap();
    fs::create_dir_all(&victim).unwrap();
    std::os::unix::fs::symlink(&victim, out.join("assets")).unwrap();
    // The link itself is replaced by the directory the entry lists; nothing goes through it.
    s.restore(&s.lookup(&m.key).unwrap().unwrap(), &[("dist", &out)]).unwrap();
    assert_eq!(fs::read_dir(&victim).unwrap().count(), 0);
    assert!(fs::symlink_metadata(out.join("assets")).unwrap().is_dir());
    assert_outputs(&out, 9);
    // An output path that is itself a symlink is refused; the entry is kept.
    let linked = t.path().join("linked");
    std::os::unix::fs::symlink(&victim, &linked).unwrap();
    let r = s.restore(&s.lookup(&m.key).unwrap().unwrap(), &[("dist", &linked)]);
    assert!(matches!(r, Err(RestoreError::OutputIsSymlink { .. })), "{r:?}");
    assert_eq!(fs::read_dir(&victim).unwrap().count(), 0);
    assert!(s.lookup(&m.key).unwrap().is_some());
  }
}

#[test]
fn eviction_by_ttl_and_size() {
  let t = TempDir::new("evict");
  let cache = t.path().join("cache");
  let s = Store::open(&cache, opts()).unwrap();
  let work = t.path().join("w");
  let keys: Vec<String> = (0..6).map(|i| save_seed(&s, &work, 100 + i).key).collect();
  let now = SystemTime::now();
  // Entry 0 unused for 8 days: expired under the 7-day TTL; entry 1 at 6 days survives.
  let age = |k: &str, days: u64| {
    let f = fs::File::options().write(true).open(s.entry_path(k)).unwrap();
    f.set_modified(now - Duration::from_secs(days * 86_400)).unwrap();
  };
  age(&keys[0], 8);
  age(&keys[1], 6);
  let r = s.evict(now).unwrap();
  assert_eq!((r.expired, r.trimmed, r.skipped_busy), (1, 0, false));
  assert!(r.blobs_removed >= 3, "blobs unique to the expired entry go: {r:?}");
  assert!(s.lookup(&keys[0]).unwrap().is_none());
  // Make entries 1..6 ordered by last use: 1 oldest ... 5 newest.
  for (i, k) in keys.iter().enumerate().skip(1) {
    age(k, 6 - i as u64);
  }
  let size = s.status().unwrap().total_bytes;
  // Cap so that 80 % holds about half of the entries: LRU ones are trimmed first.
  let cap = size * 6 / 10;
  let small = Store::open(&cache, StoreOptions { max_size: cap, ..opts() }).unwrap();
  let r = small.evict(now).unwrap();
  assert!(r.trimmed >= 2, "{r:?}");
  assert!(r.bytes_after <= cap * 8 / 10, "{r:?} cap {cap}");
  let after = small.status().unwrap();
  assert_eq!(after.total_bytes, r.bytes_after);
  let alive: Vec<bool> = keys.iter().map(|k| small.entry_path(k).exists()).collect();
  // Survivors are exactly the most recently used ones.
  let first_alive = alive.iter().position(|a| *a).unwrap();
  assert!(alive[first_alive..].iter().all(|a| *a), "{alive:?}");
  assert!(alive[5]);
  // Survivors still restore.
  let out = t.path().join("out");
  let e = small.lookup(&keys[5]).unwrap().unwrap();
  small.restore(&e, &[("dist", &out)]).unwrap();
  assert_outputs(&out, 105);
  // clean(ZERO) empties the cache.
  let r = small.clean(Some(Duration::ZERO), None).unwrap();
  assert_eq!(small.status().unwrap().entries, 0);
  assert!(r.bytes_after == 0, "{r:?}");
}

#[test]
fn why_names_exactly_the_edited_file() {
  let t = TempDir::new("why");
  let proj = t.path().join("proj");
  for i in 0..20 {
    write(&proj, &format!("src/f{i}.ts"), &format!("export const x = {i};"));
  }
  write(&proj, "package.json", "{}");
  let sc = StatCache::empty(t.path().join("sc"));
  let manifest = |node: &str, env: &str| {
    let inputs = hash_inputs(&InputSpec::new(&proj, ["src/**", "package.json"]), &sc).unwrap();
    KeyInput {
      schema_version: 1,
      task: "web:build".into(),
      inputs: inputs.files,
      config: json!({"build": {"sourcemap": true}}),
      env: BTreeMap::from([("NODE_ENV".into(), Some(env.to_string()))]),
      tools: BTreeMap::from([("node".into(), node.to_string())]),
      ..Default::default()
    }
    .into_manifest()
  };
  let s = Store::open(t.path().join("cache"), opts()).unwrap();
  let none = s.why("web:build", &manifest("22", "production"));
  assert_eq!(none.previous, Previous::None);
  let m1 = manifest("22", "production");
  s.save(&m1, &[], &json!(null), &[]).unwrap();
  let same = s.why("web:build", &manifest("22", "production"));
  assert!(same.unchanged(), "{same:?}");
  write(&proj, "src/f7.ts", "export const x = 700;");
  let r = s.why("web:build", &manifest("22", "production"));
  assert_eq!(r.files_modified, ["src/f7.ts"]);
  assert!(r.files_added.is_empty() && r.files_removed.is_empty());
  assert!(r.env.is_empty() && r.tools.is_empty() && r.config.is_empty());
  assert!(!r.unchanged());
  write(&proj, "src/new.ts", "n");
  fs::remove_file(proj.join("src/f3.ts")).unwrap();
  let r = s.why("web:build", &manifest("24", "development"));
  assert_eq!(
    (r.files_added.as_slice(), r.files_removed.as_slice()),
    (&["src/new.ts".to_string()][..], &["src/f3.ts".to_string()][..])
  );
  assert_eq!(
    r.tools,
    [Change { name: "node".into(), before: Some("22".into()), after: Some("24".into()) }]
  );
  assert_eq!(r.env.len(), 1);
  assert!(!r.lines().join("\n").contains("development"), "env values never shown");
  let mut m3 = manifest("24", "development");
  m3.config = json!({"build": {"sourcemap": false}});
  assert_eq!(s.why("web:build", &m3).config, ["build.sourcemap"]);
}

// ---------------------------------------------------------------- multi-process tests

/// The name of [`child_process_entry`] as the test harness knows it.
fn child_test_name() -> String {
  let module = module_path!();
  let path = module.split_once("::").map(|(_, rest)| rest).unwrap_or(module);
  format!("{path}::child_process_entry")
}

fn spawn_child(mode: &str, cache: &Path, work: &Path, id: u64) -> Child {
  Command::new(std::env::current_exe().unwrap())
    .args([child_test_name().as_str(), "--exact", "--ignored", "--nocapture", "--test-threads=1"])
    .env("FARM_CACHE_TEST_CHILD", mode)
    .env("FARM_CACHE_TEST_DIR", cache)
    .env("FARM_CACHE_TEST_WORK", work)
    .env("FARM_CACHE_TEST_ID", id.to_string())
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap()
}

/// Not a test: the body of the child processes spawned by the crash and concurrency tests
/// (runs only when `FARM_CACHE_TEST_CHILD` is set).
#[test]
#[ignore = "entry point for child processes of other tests"]
fn child_process_entry() {
  let (Ok(mode), Ok(dir), Ok(work), Ok(id)) = (
    std::env::var("FARM_CACHE_TEST_CHILD"),
    std::env::var("FARM_CACHE_TEST_DIR"),
    std::env::var("FARM_CACHE_TEST_WORK"),
    std::env::var("FARM_CACHE_TEST_ID"),
  ) else {
    return;
  };
  let id: u64 = id.parse().unwrap();
  let store = Store::open(&dir, opts()).unwrap();
  let work = PathBuf::from(work);
  match mode.as_str() {
    "crash" => {
      for i in 0.. {
        save_seed(&store, &work, id * 1_000_000 + i);
        if i % 5 == 4 {
          store.evict(SystemTime::now()).unwrap();
        }
      }
    }
    "writer" => {
      for i in 0..12u64 {
        // Every third seed is shared by all writers: same key, same blobs, raced renames.
        let seed = if i % 3 == 0 { 999_000 + i } else { id * 1000 + i };
        save_seed(&store, &work, seed);
        if i % 4 == 3 {
          store.evict(SystemTime::now()).unwrap();
        }
        if let Some(e) = store.lookup(&manifest_for("web:build", seed).key).unwrap() {
          let out = work.with_extension("restore");
          store.restore(&e, &[("dist", &out)]).unwrap();
          assert_outputs(&out, seed);
        }
      }
    }
    other => panic!("unknown child mode {other}"),
  }
}

/// Every entry the store has must restore exactly the outputs of the seed in its result.
fn verify_all_entries(cache: &Path, scratch: &Path) -> usize {
  let s = Store::open(cache, opts()).unwrap();
  let mut n = 0;
  for item in fs::read_dir(cache.join("entries")).unwrap().flatten() {
    let name = item.file_name().into_string().unwrap();
    let key =
      name.strip_suffix(".json").unwrap_or_else(|| panic!("stray file in entries/: {name}"));
    let entry =
      s.lookup(key).unwrap().unwrap_or_else(|| panic!("entry file {name} is not a valid entry"));
    let seed = entry.result["seed"].as_u64().unwrap();
    assert_eq!(manifest_for("web:build", seed).key, key);
    let out = scratch.join(format!("v{n}"));
    s.restore(&entry, &[("dist", &out)]).unwrap_or_else(|e| panic!("{e}"));
    assert_outputs(&out, seed);
    n += 1;
  }
  n
}

#[test]
fn crash_safety_under_sigkill() {
  let t = TempDir::new("crash");
  let cache = t.path().join("cache");
  let mut rng =
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
  // 24 in the test suite; `scripts/stress-cache.sh` runs it with FARM_CRASH_KILLS=100.
  let kills: u64 =
    std::env::var("FARM_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(24);
  for round in 0..kills {
    let work = t.path().join(format!("work{round}"));
    let mut child = spawn_child("crash", &cache, &work, round + 1);
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    std::thread::sleep(Duration::from_millis(40 + rng % 160));
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
  }
  let n = verify_all_entries(&cache, t.path());
  assert!(n >= 5, "too few entries survived to make the test meaningful: {n}");
  // Cleanup after crashes: evict removes orphaned temp files.
  let s = Store::open(&cache, opts()).unwrap();
  s.evict(SystemTime::now()).unwrap();
  assert_eq!(fs::read_dir(cache.join("tmp")).unwrap().count(), 0);
  assert_eq!(verify_all_entries(&cache, t.path()), n);
}

#[test]
fn eight_concurrent_writer_processes() {
  let t = TempDir::new("conc");
  let cache = t.path().join("cache");
  let children: Vec<Child> =
    (0..8).map(|i| spawn_child("writer", &cache, &t.path().join(format!("w{i}")), i + 1)).collect();
  for (i, c) in children.into_iter().enumerate() {
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success(), "writer {i} failed: {}", String::from_utf8_lossy(&out.stderr));
  }
  let n = verify_all_entries(&cache, t.path());
  assert_eq!(n, 8 * 8 + 4, "8 private seeds per writer + 4 shared");
  let digest_names_ok = fs::read_dir(cache.join("blobs"))
    .unwrap()
    .flatten()
    .flat_map(|d| fs::read_dir(d.path()).unwrap().flatten())
    .all(|f| Digest::from_hex(f.file_name().to_str().unwrap()).is_some());
  assert!(digest_names_ok);
}

#[test]
fn restore_skips_reading_outputs_the_stat_cache_knows_and_still_catches_edits() {
  let t = TempDir::new("statrestore");
  let (work, cache) = (t.path().join("work"), t.path().join("cache"));
  let s = Store::open(&cache, opts()).unwrap();
  let m = save_seed(&s, &work, 11);
  let entry = s.lookup(&m.key).unwrap().unwrap();
  let out = t.path().join("out");
  let stat_path = t.path().join("stat-cache.bin");
  // Build 1 (a new process): writes the outputs and records them.
  let sc = StatCache::load(&stat_path);
  let r1 = s.restore_with_stat(&entry, &[("dist", &out)], Some(&sc)).unwrap();
  assert_eq!(r1.skipped_by_stat, 0);
  std::thread::sleep(Duration::from_millis(20)); // the stat cache file must be newer (racy rule)
  sc.save().unwrap();
  // Build 2: every output is known from its stat: none is read.
  let sc = StatCache::load(&stat_path);
  let r2 = s.restore_with_stat(&entry, &[("dist", &out)], Some(&sc)).unwrap();
  assert_eq!((r2.skipped_by_stat, r2.skipped_identical, r2.copied + r2.reflinked), (4, 4, 0));
  assert_outputs(&out, 11);
  // An edited output has a new stat: it is read, found different and rewritten.
  std::thread::sleep(Duration::from_millis(20));
  fs::write(out.join("index.html"), "tampered!").unwrap();
  let r3 = s.restore_with_stat(&entry, &[("dist", &out)], Some(&sc)).unwrap();
  assert_eq!(r3.skipped_by_stat, 3);
  assert_eq!(r3.copied + r3.reflinked, 1);
  assert_outputs(&out, 11);
}
