//! A no-op build writes nothing into the store but its statistics: a hit does not rewrite the
//! task pointer nor refresh an entry used within the LRU granularity, and eviction does not run
//! again within its interval when nothing was saved.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::super::hash::tests::TempDir;
use super::tests::{opts, save_seed};
use super::*;

/// (inode, mtime ns) of a file.
fn ident(p: &Path) -> (u64, i64) {
  let m = fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
  (m.ino(), m.mtime() * 1_000_000_000 + m.mtime_nsec())
}

fn age(p: &Path, by: Duration) {
  let f = fs::File::options().write(true).open(p).unwrap();
  f.set_modified(SystemTime::now() - by).unwrap();
}

#[test]
fn a_repeated_hit_rewrites_neither_the_entry_nor_the_task_pointer() {
  let t = TempDir::new("noop-hit");
  let s = Store::open(t.path().join("cache"), opts()).unwrap();
  let work = t.path().join("w");
  let m = save_seed(&s, &work, 7);
  let out = t.path().join("out");
  let e = s.lookup(&m.key).unwrap().unwrap();
  s.restore(&e, &[("dist", &out)]).unwrap();
  let (entry, pointer) = (s.entry_path(&m.key), s.task_pointer_path("web:build"));
  let before = (ident(&entry), ident(&pointer));
  std::thread::sleep(Duration::from_millis(20));
  let e = s.lookup(&m.key).unwrap().unwrap();
  s.restore(&e, &[("dist", &out)]).unwrap();
  assert_eq!((ident(&entry), ident(&pointer)), before, "a no-op hit wrote to the store");
  assert_eq!(s.last_key("web:build").as_deref(), Some(m.key.as_str()));

  // An entry last used longer ago than the granularity is refreshed (LRU still works).
  age(&entry, LRU_GRANULARITY + Duration::from_secs(60));
  let old = ident(&entry);
  s.lookup(&m.key).unwrap().unwrap();
  let refreshed = ident(&entry);
  assert!(refreshed.1 > old.1, "an old entry's last use is refreshed by a hit");

  // Another key for the same task moves the pointer.
  let m2 = save_seed(&s, &work, 8);
  assert_eq!(s.last_key("web:build").as_deref(), Some(m2.key.as_str()));
}

#[test]
fn eviction_runs_after_a_save_or_once_per_interval() {
  let t = TempDir::new("noop-evict");
  let s = Store::open(t.path().join("cache"), opts()).unwrap();
  let work = t.path().join("w");
  let m = save_seed(&s, &work, 3);
  let now = SystemTime::now();
  assert!(s.evict_if_due(now, true).unwrap().is_some(), "after a save");
  assert!(s.evict_if_due(now, false).unwrap().is_none(), "a no-op right after: not due");
  // Past the interval, a no-op evicts again (the TTL must still apply): here the entry expired.
  age(&s.entry_path(&m.key), Duration::from_secs(8 * 86_400));
  age(&t.path().join("cache/last-evict"), EVICT_INTERVAL + Duration::from_secs(60));
  let r = s.evict_if_due(SystemTime::now(), false).unwrap().expect("due after the interval");
  assert_eq!(r.expired, 1);
  assert!(s.lookup(&m.key).unwrap().is_none());
}
