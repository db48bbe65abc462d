//! Restores are all or nothing: every blob they rely on is verified (through the stat cache), a
//! failure at any step leaves the outputs exactly as they were, success leaves exactly the
//! entry's content; single-file and absent outputs.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;

use super::super::hash::tests::{write, TempDir};
use super::super::hash::{Digest, StatCache};
use super::tests::{assert_outputs, manifest_for, materialize, opts, save_seed, set_mode};
use super::*;

/// Every path under `dir` (the root included as ""): kind, mode, and digest or link target.
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
  let mut out = BTreeMap::new();
  fn visit(base: &Path, p: &Path, out: &mut BTreeMap<String, String>) {
    let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
    let Ok(m) = fs::symlink_metadata(p) else { return };
    let mode = {
      use std::os::unix::fs::PermissionsExt;
      m.permissions().mode() & 0o7777
    };
    if m.file_type().is_symlink() {
      out.insert(rel, format!("l {}", fs::read_link(p).unwrap().display()));
    } else if m.is_dir() {
      out.insert(rel, format!("d {mode:o}"));
      for e in fs::read_dir(p).unwrap().flatten() {
        visit(base, &e.path(), out);
      }
    } else {
      out.insert(rel, format!("f {mode:o} {}", Digest::of_bytes(&fs::read(p).unwrap())));
    }
  }
  visit(dir, dir, &mut out);
  out
}

/// Names in `dir` (to see staging directories left behind).
fn names(dir: &Path) -> Vec<String> {
  let mut v: Vec<String> = fs::read_dir(dir)
    .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
    .unwrap_or_default();
  v.sort();
  v
}

fn blob_of(s: &Store, entry: &Entry, path: &str) -> std::path::PathBuf {
  let rec = entry.outputs.iter().find(|o| o.path == path).unwrap();
  s.blob_path(rec.blob.unwrap().hash)
}

/// A stat cache that trusts what was recorded: saved after the recorded files' last change.
fn settle(sc: &StatCache, path: &Path) -> StatCache {
  std::thread::sleep(Duration::from_millis(20));
  sc.save().unwrap();
  StatCache::load(path)
}

#[test]
fn a_missing_blob_fails_the_restore_even_when_the_output_is_already_identical() {
  for with_stat in [false, true] {
    let t = TempDir::new("missing-identical");
    let s = Store::open(t.path().join("cache"), opts()).unwrap();
    let m = save_seed(&s, &t.path().join("work"), 21);
    let entry = s.lookup(&m.key).unwrap().unwrap();
    let out = t.path().join("out");
    let sc_path = t.path().join("stat.bin");
    let mut sc = StatCache::load(&sc_path);
    s.restore_with_stat(&entry, &[("dist", &out)], Some(&sc)).unwrap();
    sc = settle(&sc, &sc_path);
    // The output is already identical, but its blob is gone: no hit.
    fs::remove_file(blob_of(&s, &entry, "assets/app.js")).unwrap();
    let before = snapshot(&out);
    let r = s.restore_with_stat(&entry, &[("dist", &out)], with_stat.then_some(&sc));
    match &r {
      Err(RestoreError::MissingBlob { output, .. }) => assert_eq!(output, "dist/assets/app.js"),
      other => panic!("with_stat={with_stat}: {other:?}"),
    }
    assert!(s.lookup(&m.key).unwrap().is_none(), "entry dropped");
    assert_eq!(snapshot(&out), before, "outputs untouched");
  }
}

#[test]
fn a_corrupt_blob_behind_an_identical_output_is_caught_though_the_stat_cache_knew_it() {
  let t = TempDir::new("corrupt-identical");
  let s = Store::open(t.path().join("cache"), opts()).unwrap();
  let m = save_seed(&s, &t.path().join("work"), 22);
  let entry = s.lookup(&m.key).unwrap().unwrap();
  let out = t.path().join("out");
  let sc_path = t.path().join("stat.bin");
  let sc = StatCache::load(&sc_path);
  s.restore_with_stat(&entry, &[("dist", &out)], Some(&sc)).unwrap();
  let sc = settle(&sc, &sc_path);
  // Same size, one bit flipped: the blob's stat changed, so it is hashed again.
  let blob = blob_of(&s, &entry, "assets/app.js");
  let mut bytes = fs::read(&blob).unwrap();
  bytes[7] ^= 0x10;
  fs::write(&blob, bytes).unwrap();
  let before = snapshot(&out);
  let r = s.restore_with_stat(&entry, &[("dist", &out)], Some(&sc));
  assert!(matches!(r, Err(RestoreError::CorruptBlob { .. })), "{r:?}");
  assert!(!blob.exists(), "the corrupt blob is deleted");
  assert!(s.lookup(&m.key).unwrap().is_none());
  assert_eq!(snapshot(&out), before);
  // A missing manifest blob drops the entry too.
  let m = save_seed(&s, &t.path().join("work"), 23);
  let entry = s.lookup(&m.key).unwrap().unwrap();
  fs::remove_file(s.blob_path(entry.manifest.hash)).unwrap();
  let r = s.restore(&entry, &[("dist", &t.path().join("out2"))]);
  assert!(
    matches!(&r, Err(RestoreError::MissingBlob { output, .. }) if output == "(manifest)"),
    "{r:?}"
  );
  assert!(!t.path().join("out2").exists());
}

#[test]
fn blobs_are_verified_through_the_stat_cache_and_rehashed_when_their_stat_changes() {
  let t = TempDir::new("blob-stat");
  let s = Store::open(t.path().join("cache"), opts()).unwrap();
  let m = save_seed(&s, &t.path().join("work"), 24);
  let entry = s.lookup(&m.key).unwrap().unwrap();
  let out = t.path().join("out");
  let sc_path = t.path().join("stat.bin");
  let sc = StatCache::load(&sc_path);
  let r1 = s.restore_with_stat(&entry, &[("dist", &out)], Some(&sc)).unwrap();
  assert_eq!((r1.copied + r1.reflinked, r1.blobs_by_stat), (4, 0));
  let sc = settle(&sc, &sc_path);
  // A no-op restore: 4 file blobs + the manifest's, all vouched for by their stat.
  let r2 = s.restore_with_stat(&entry, &[("dist", &out)], Some(&sc)).unwrap();
  assert_eq!((r2.skipped_by_stat, r2.blobs_by_stat, r2.removed), (4, 5, 0));
  // Rewriting a blob (same bytes) changes its stat: it is read again, found intact.
  let blob = blob_of(&s, &entry, "index.html");
  std::thread::sleep(Duration::from_millis(20));
  fs::write(&blob, fs::read(&blob).unwrap()).unwrap();
  let r3 = s.restore_with_stat(&entry, &[("dist", &out)], Some(&sc)).unwrap();
  assert_eq!(r3.blobs_by_stat, 4);
  assert_outputs(&out, 24);
}

/// An output directory in a messy older state: other contents, unlisted files and directories,
/// a file where the entry has a directory, a changed directory mode, a symlink to elsewhere.
fn messy(out: &Path) {
  materialize(out, 31);
  write(out, "stale.txt", "old");
  write(out, "olddir/x.txt", "old");
  fs::remove_dir_all(out.join("empty")).unwrap();
  write(out, "empty", "a file where a directory belongs");
  fs::write(out.join("assets/shared.css"), "body { margin: 0 }").unwrap();
  set_mode(&out.join("bin"), 0o700);
  std::os::unix::fs::symlink("nowhere", out.join("link.js")).unwrap();
}

#[test]
fn a_restore_failing_at_any_step_leaves_the_outputs_exactly_as_they_were() {
  let t = TempDir::new("rollback");
  let s = Store::open(t.path().join("cache"), opts()).unwrap();
  let work = t.path().join("work");
  materialize(&work, 30);
  std::os::unix::fs::symlink("assets/app.js", work.join("link.js")).unwrap();
  let m = manifest_for("web:build", 30);
  s.save(&m, &[("dist", &work)], &json!(null), &[]).unwrap();
  let entry = s.lookup(&m.key).unwrap().unwrap();
  // The clean result, for comparison.
  let fresh = t.path().join("fresh");
  s.restore(&entry, &[("dist", &fresh)]).unwrap();
  let clean = snapshot(&fresh);

  let out = t.path().join("box/out");
  messy(&out);
  let before = snapshot(&out);
  let box_before = names(&t.path().join("box"));
  let mut failures = 0;
  for step in 0.. {
    s.fault_at.store(step, Ordering::SeqCst);
    match s.restore(&entry, &[("dist", &out)]) {
      Ok(r) => {
        assert!(r.removed >= 4, "{r:?}");
        break;
      }
      Err(RestoreError::Io { source, .. }) => {
        assert!(source.to_string().contains("injected fault"), "{source}");
        failures += 1;
      }
      Err(e) => panic!("step {step}: {e}"),
    }
    assert_eq!(snapshot(&out), before, "after a failure at step {step}");
    assert_eq!(names(&t.path().join("box")), box_before, "no staging left (step {step})");
    assert!(s.lookup(&m.key).unwrap().is_some(), "an I/O failure keeps the entry");
  }
  s.fault_at.store(usize::MAX, Ordering::SeqCst);
  assert!(failures >= 12, "every step was exercised: {failures}");
  // Success: exactly the entry's content, nothing else, no staging left.
  assert_eq!(snapshot(&out), clean);
  assert_eq!(names(&t.path().join("box")), ["out"]);
  assert_outputs(&out, 30);

  // A corrupt blob found while staging also leaves the messy state as it was.
  let out2 = t.path().join("box2/out");
  messy(&out2);
  let before = snapshot(&out2);
  let blob = blob_of(&s, &entry, "assets/app.js");
  let mut bytes = fs::read(&blob).unwrap();
  bytes[3] ^= 1;
  fs::write(&blob, bytes).unwrap();
  let r = s.restore(&entry, &[("dist", &out2)]);
  assert!(matches!(r, Err(RestoreError::CorruptBlob { .. })), "{r:?}");
  assert_eq!(snapshot(&out2), before);
  assert_eq!(names(&t.path().join("box2")), ["out"]);
}

#[test]
fn single_file_outputs_are_restored_alone_and_absent_ones_removed() {
  let t = TempDir::new("single");
  let s = Store::open(t.path().join("cache"), opts()).unwrap();
  let types = t.path().join("web/src/types");
  let api = types.join("api.ts");
  write(&types, "api.ts", "export type A = 1;\n");
  write(&types, "user.ts", "export type Mine = 2;\n");
  let m = manifest_for("types", 1);
  s.save(&m, &[("types", &api)], &json!(null), &[]).unwrap();
  let entry = s.lookup(&m.key).unwrap().unwrap();
  assert_eq!(entry.outputs.len(), 1);
  assert_eq!((entry.outputs[0].kind, entry.outputs[0].path.as_str()), (OutputKind::File, ""));

  // Edited, with a new file beside it: only api.ts changes back.
  write(&types, "api.ts", "export type A = 999;\n");
  write(&types, "new.ts", "export type New = 3;\n");
  let r = s.restore(&entry, &[("types", &api)]).unwrap();
  assert_eq!((r.copied + r.reflinked, r.removed), (1, 0));
  assert_eq!(fs::read_to_string(&api).unwrap(), "export type A = 1;\n");
  assert_eq!(names(&types), ["api.ts", "new.ts", "user.ts"]);
  // Replaced by a directory: the directory goes, the file comes back.
  fs::remove_file(&api).unwrap();
  write(&api, "inner.ts", "x");
  s.restore(&entry, &[("types", &api)]).unwrap();
  assert_eq!(fs::read_to_string(&api).unwrap(), "export type A = 1;\n");
  // A missing folder is created (and removed again when the restore fails).
  fs::remove_dir_all(t.path().join("web")).unwrap();
  s.fault_at.store(2, Ordering::SeqCst);
  assert!(s.restore(&entry, &[("types", &api)]).is_err());
  assert!(!t.path().join("web").exists(), "created folders are rolled back");
  s.fault_at.store(usize::MAX, Ordering::SeqCst);
  s.restore(&entry, &[("types", &api)]).unwrap();
  assert_eq!(names(&types), ["api.ts"]);

  // Absent when saved: a stale file there is removed on restore, and only it.
  write(&types, "user.ts", "export type Mine = 2;\n");
  fs::remove_file(&api).unwrap();
  let m2 = manifest_for("types", 2);
  s.save(&m2, &[("types", &api)], &json!(null), &[]).unwrap();
  let e2 = s.lookup(&m2.key).unwrap().unwrap();
  assert_eq!(e2.outputs[0].kind, OutputKind::Absent);
  write(&types, "api.ts", "stale");
  let r = s.restore(&e2, &[("types", &api)]).unwrap();
  assert_eq!(r.removed, 1);
  assert_eq!(names(&types), ["user.ts"]);
  // Absent directory outputs go too; a missing one stays missing (nothing created).
  let gone = t.path().join("gone");
  let m3 = manifest_for("x", 3);
  s.save(&m3, &[("out", &gone)], &json!(null), &[]).unwrap();
  let e3 = s.lookup(&m3.key).unwrap().unwrap();
  write(&gone, "a/b.txt", "stale");
  s.restore(&e3, &[("out", &gone)]).unwrap();
  assert!(!gone.exists());
  s.restore(&e3, &[("out", &t.path().join("nowhere/deeper"))]).unwrap();
  assert!(!t.path().join("nowhere").exists());
}

#[test]
fn entries_of_the_previous_format_are_misses() {
  let t = TempDir::new("format");
  let s = Store::open(t.path().join("cache"), opts()).unwrap();
  let m = save_seed(&s, &t.path().join("work"), 40);
  let mut entry = s.lookup(&m.key).unwrap().unwrap();
  entry.format = 1;
  fs::write(s.entry_path(&m.key), serde_json::to_vec(&entry).unwrap()).unwrap();
  assert!(s.lookup(&m.key).unwrap().is_none());
  assert!(!s.entry_path(&m.key).exists());
}
