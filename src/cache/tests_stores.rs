//! The venv store (verified on use) and eviction, status and cleaning over every store under the
//! cache directory: entries, venvs, images.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::super::hash::tests::{write, TempDir};
use super::tests::{opts, save_seed};
use super::*;

const KEY_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const KEY_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const KEY_C: &str = "cccccccccccccccccccccccccccccccc";

/// Builds a small venv-like tree for `key` and installs it; returns its directory.
fn fake_venv(store: &VenvStore, key: &str, payload: usize) -> PathBuf {
  let lock = store.try_lock(key).unwrap().expect("lock is free");
  let built = store.build_dir(key);
  write(&built, "pyvenv.cfg", "home = /usr/bin\n");
  write(&built, "lib/python3.11/site-packages/annotated_types/__init__.py", "X = 1\n");
  fs::write(built.join("lib/python3.11/site-packages/big.bin"), vec![7u8; payload]).unwrap();
  fs::create_dir_all(built.join("bin")).unwrap();
  std::os::unix::fs::symlink("/usr/bin/python3", built.join("bin/python")).unwrap();
  std::os::unix::fs::symlink("lib", built.join("lib64")).unwrap();
  // Like pip, done writing a while before the install (files written within the stat cache's
  // own timestamp tick are racy, so never trusted).
  std::thread::sleep(Duration::from_millis(20));
  let marker = store.install(&lock, &built, &built.to_string_lossy(), 1).unwrap();
  assert_eq!(marker.key, key);
  assert!(!built.exists());
  store.path(key)
}

fn check(store: &VenvStore, key: &str) -> VenvCheck {
  let lock = store.try_lock(key).unwrap().expect("lock is free");
  store.check(&lock)
}

fn damaged(store: &VenvStore, key: &str) -> String {
  match check(store, key) {
    VenvCheck::Damaged(d) => d.to_string(),
    other => panic!("expected damage, got {other:?}"),
  }
}

/// Reinstalls a fresh copy of the venv of `key`.
fn reset(store: &VenvStore, key: &str) -> PathBuf {
  let lock = store.try_lock(key).unwrap().unwrap();
  store.remove(&lock).unwrap();
  drop(lock);
  fake_venv(store, key, 1000)
}

#[test]
fn checking_an_unchanged_venv_reads_no_file() {
  let t = TempDir::new("venv-stat");
  let store = VenvStore::new(t.path().join("venvs"));
  let dir = fake_venv(&store, KEY_A, 1000);
  // Files read during a check are recorded and the stat cache saved: its mtime tells.
  let stat_file = store.dir().join(format!("{KEY_A}.stat"));
  let stamp = || fs::metadata(&stat_file).unwrap().modified().unwrap();
  let installed = stamp();
  std::thread::sleep(Duration::from_millis(20));
  assert!(matches!(check(&store, KEY_A), VenvCheck::Valid(_)));
  assert_eq!(stamp(), installed, "every file was vouched for by the stat cache written at install");
  // A rewritten file (same bytes) has a new stat: it is read, found intact, recorded.
  fs::write(dir.join("pyvenv.cfg"), "home = /usr/bin\n").unwrap();
  std::thread::sleep(Duration::from_millis(20)); // not racy when recorded
  assert!(matches!(check(&store, KEY_A), VenvCheck::Valid(_)));
  let rehashed = stamp();
  assert!(rehashed > installed);
  std::thread::sleep(Duration::from_millis(20));
  assert!(matches!(check(&store, KEY_A), VenvCheck::Valid(_)));
  assert_eq!(stamp(), rehashed);
}

#[test]
fn a_damaged_venv_is_detected_whatever_changed() {
  let t = TempDir::new("venv-check");
  let store = VenvStore::new(t.path().join("venvs"));
  assert!(matches!(check(&store, KEY_A), VenvCheck::Absent));
  let dir = fake_venv(&store, KEY_A, 1000);
  assert!(matches!(check(&store, KEY_A), VenvCheck::Valid(m) if m.dependency_count == 1));
  // The lock is exclusive.
  let held = store.try_lock(KEY_A).unwrap().unwrap();
  assert!(store.try_lock(KEY_A).unwrap().is_none());
  drop(held);

  // Same size, mtime put back: the stat cache does not vouch for it (ctime), so it is hashed.
  let init = dir.join("lib/python3.11/site-packages/annotated_types/__init__.py");
  let mtime = fs::metadata(&init).unwrap().modified().unwrap();
  std::thread::sleep(Duration::from_millis(20));
  fs::write(&init, "X = (\n").unwrap();
  fs::File::options().write(true).open(&init).unwrap().set_modified(mtime).unwrap();
  let why = damaged(&store, KEY_A);
  assert!(why.contains("annotated_types/__init__.py") && why.contains("contents changed"), "{why}");

  let dir = reset(&store, KEY_A);
  write(&dir, "lib/python3.11/site-packages/extra.pth", "import os");
  assert!(damaged(&store, KEY_A).contains("extra.pth: not part of the original tree"));

  let dir = reset(&store, KEY_A);
  fs::remove_file(dir.join("pyvenv.cfg")).unwrap();
  assert!(damaged(&store, KEY_A).contains("pyvenv.cfg: missing"));

  let dir = reset(&store, KEY_A);
  fs::write(dir.join("lib/python3.11/site-packages/big.bin"), [1u8; 10]).unwrap();
  assert!(damaged(&store, KEY_A).contains("size 10, expected 1000"));

  let dir = reset(&store, KEY_A);
  fs::remove_file(dir.join("lib64")).unwrap();
  std::os::unix::fs::symlink("elsewhere", dir.join("lib64")).unwrap();
  assert!(damaged(&store, KEY_A).contains("lib64: link to"));

  let dir = reset(&store, KEY_A);
  super::tests::set_mode(&dir.join("pyvenv.cfg"), 0o600);
  assert!(damaged(&store, KEY_A).contains("mode 600"));

  let dir = reset(&store, KEY_A);
  fs::write(dir.join(VENV_MARKER), "{garbled").unwrap();
  assert!(damaged(&store, KEY_A).contains("not a valid marker"));

  // After a rebuild it is valid again.
  reset(&store, KEY_A);
  assert!(matches!(check(&store, KEY_A), VenvCheck::Valid(_)));
}

fn age(path: &Path, now: SystemTime, days: u64) {
  let f = fs::File::options().write(true).open(path).unwrap();
  f.set_modified(now - Duration::from_secs(days * 86_400)).unwrap();
}

fn image(cache: &Path, name: &str, bytes: usize) -> PathBuf {
  let p = cache.join("images").join(name);
  fs::create_dir_all(p.parent().unwrap()).unwrap();
  fs::write(&p, vec![1u8; bytes]).unwrap();
  p
}

#[test]
fn eviction_covers_venvs_and_images_lru_and_ttl_and_spares_a_venv_in_use() {
  let t = TempDir::new("evict-all");
  let cache = t.path().join("cache");
  let s = Store::open(&cache, opts()).unwrap();
  let venvs = VenvStore::new(cache.join("venvs"));
  let now = SystemTime::now();
  let k: Vec<String> = (50..53).map(|i| save_seed(&s, &t.path().join("w"), i).key).collect();
  fake_venv(&venvs, KEY_A, 150_000);
  fake_venv(&venvs, KEY_B, 10_000);
  fake_venv(&venvs, KEY_C, 150_000);
  let imgs: Vec<PathBuf> =
    (0..3).map(|i| image(&cache, &format!("{i:032x}.img"), 150_000)).collect();
  // Last use, oldest first: img0, venvA, entry0, img1, venvB (in use), entry1, img2, venvC, entry2.
  let marker = |key: &str| venvs.path(key).join(VENV_MARKER);
  age(&imgs[0], now, 10);
  age(&marker(KEY_A), now, 9);
  age(&s.entry_path(&k[0]), now, 8);
  age(&imgs[1], now, 7);
  age(&marker(KEY_B), now, 6);
  age(&s.entry_path(&k[1]), now, 5);
  age(&imgs[2], now, 4);
  age(&marker(KEY_C), now, 3);
  age(&s.entry_path(&k[2]), now, 1);
  let st = s.status().unwrap();
  assert_eq!((st.entries, st.venvs, st.images), (3, 3, 3));
  assert!(st.venv_bytes >= 310_000 && st.image_bytes == 450_000, "{st:?}");
  assert!(st.total_bytes > st.venv_bytes + st.image_bytes + 300_000, "{st:?}");

  let in_use = venvs.try_lock(KEY_B).unwrap().unwrap();
  let cap = st.total_bytes / 2;
  let small = Store::open(&cache, StoreOptions { max_size: cap, ..opts() }).unwrap();
  let r = small.evict(now).unwrap();
  assert!(r.bytes_after <= cap * 8 / 10, "{r:?}");
  let alive = [
    imgs[0].exists(),
    venvs.path(KEY_A).exists(),
    s.entry_path(&k[0]).exists(),
    imgs[1].exists(),
    s.entry_path(&k[1]).exists(),
    imgs[2].exists(),
    venvs.path(KEY_C).exists(),
    s.entry_path(&k[2]).exists(),
  ];
  let first = alive.iter().position(|a| *a).unwrap();
  assert!(first >= 3 && alive[first..].iter().all(|a| *a), "LRU across kinds: {alive:?} {r:?}");
  assert!(r.trimmed >= 1 && r.venvs_removed >= 1 && r.images_removed >= 1, "{r:?}");
  assert!(venvs.path(KEY_B).exists(), "a venv in use is never evicted");
  assert_eq!(small.status().unwrap().total_bytes, r.bytes_after);

  // TTL: unused for longer than the TTL goes, whatever the kind (the venv in use stays).
  age(&marker(KEY_B), now, 30);
  let survivors_img: Vec<&PathBuf> = imgs.iter().filter(|p| p.exists()).collect();
  for p in &survivors_img {
    age(p, now, 30);
  }
  age(&marker(KEY_C), now, 30);
  let r = s.evict(now).unwrap();
  assert!(!venvs.path(KEY_C).exists() && survivors_img.iter().all(|p| !p.exists()), "{r:?}");
  assert!(venvs.path(KEY_B).exists());
  drop(in_use);
  let r = s.evict(now).unwrap();
  assert_eq!(r.venvs_removed, 1);
  assert!(!venvs.path(KEY_B).exists());
}

#[test]
fn cleaning_empties_every_store_but_a_venv_in_use() {
  let t = TempDir::new("clean-all");
  let cache = t.path().join("cache");
  let s = Store::open(&cache, opts()).unwrap();
  let venvs = VenvStore::new(cache.join("venvs"));
  save_seed(&s, &t.path().join("w"), 60);
  fake_venv(&venvs, KEY_A, 100);
  fake_venv(&venvs, KEY_B, 100);
  image(&cache, "0123.img", 10);
  image(&cache, "old-format.png", 10);
  image(&cache, ".x.tmp-1-1", 10);
  fs::create_dir_all(venvs.dir().join(format!(".tmp-{KEY_C}-999999"))).unwrap();
  let in_use = venvs.try_lock(KEY_B).unwrap().unwrap();
  let r = s.clean(None, Some(0)).unwrap();
  assert_eq!((r.trimmed, r.images_removed), (1, 3), "{r:?}");
  assert_eq!(r.venvs_removed, 2, "venv A and the stale build dir: {r:?}");
  let mut left: Vec<String> = fs::read_dir(venvs.dir())
    .unwrap()
    .flatten()
    .map(|e| e.file_name().into_string().unwrap())
    .collect();
  left.sort();
  assert_eq!(left, [KEY_B.to_string(), format!("{KEY_B}.lock"), format!("{KEY_B}.stat")]);
  assert_eq!(fs::read_dir(cache.join("images")).unwrap().count(), 0);
  assert!(cache.join("LOCK").exists());
  drop(in_use);
  let r = s.clean(Some(Duration::ZERO), None).unwrap();
  assert_eq!(r.venvs_removed, 1);
  assert_eq!(fs::read_dir(venvs.dir()).unwrap().count(), 0);
  let st = s.status().unwrap();
  assert_eq!((st.entries, st.venvs, st.images, st.total_bytes), (0, 0, 0, 0));
}
