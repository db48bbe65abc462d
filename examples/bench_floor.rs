//! Benchmark floor for `npm run bench` (see `bench/README.md`): the least work any input hasher
//! must do, with no cache, no globs and no key computation.
//!
//! ```sh
//! cargo build --release --example bench_floor
//! target/release/examples/bench_floor walk-stat DIR...        # parallel walk + lstat of every file
//! target/release/examples/bench_floor walk-read-xxh3 DIR...   # parallel walk + read + xxh3-128
//! ```
//!
//! The walk is jwalk on the global rayon pool (one thread per core); the per-file work runs inside
//! jwalk's per-directory callback, so it is parallel across directories. Directories named
//! `.git`, `node_modules`, `dist`, `.turbo`, `.nx` and `.farm` are pruned. Symlinks are not
//! followed. Prints one JSON line: `{"mode","files","bytes","ms","check"}` where `check` folds every
//! file's size or digest, so the work cannot be skipped.

use std::cell::RefCell;
use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use jwalk::{Parallelism, WalkDirGeneric};
use xxhash_rust::xxh3::xxh3_128;

/// Directory names never descended into.
const PRUNED: &[&str] = &[".git", "node_modules", "dist", ".turbo", ".nx", ".farm"];

/// What to do with each regular file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
  /// `lstat` only.
  WalkStat,
  /// Read the whole file and hash it with xxh3-128.
  WalkReadXxh3,
}

/// Totals shared by the walker threads.
#[derive(Default)]
struct Totals {
  files: AtomicU64,
  bytes: AtomicU64,
  check: AtomicU64,
  errors: AtomicU64,
}

thread_local! {
  /// One read buffer per thread, reused across files.
  static BUF: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(64 * 1024));
}

/// Does the per-file work; returns (bytes, value folded into `check`).
fn visit(mode: Mode, path: &std::path::Path) -> std::io::Result<(u64, u64)> {
  match mode {
    Mode::WalkStat => {
      let md = std::fs::symlink_metadata(path)?;
      let mtime = {
        use std::os::unix::fs::MetadataExt;
        md.mtime_nsec() as u64 ^ md.ino()
      };
      Ok((md.len(), md.len() ^ mtime))
    }
    Mode::WalkReadXxh3 => BUF.with(|b| {
      let mut buf = b.borrow_mut();
      buf.clear();
      let mut f = File::open(path)?;
      f.read_to_end(&mut buf)?;
      let h = xxh3_128(&buf);
      Ok((buf.len() as u64, (h as u64) ^ ((h >> 64) as u64)))
    }),
  }
}

fn run(mode: Mode, roots: Vec<PathBuf>) -> Arc<Totals> {
  let totals = Arc::new(Totals::default());
  for root in roots {
    let t = Arc::clone(&totals);
    let walk = WalkDirGeneric::<((), ())>::new(root)
      .skip_hidden(false)
      .follow_links(false)
      .sort(false)
      .parallelism(Parallelism::RayonDefaultPool {
        busy_timeout: std::time::Duration::from_secs(1),
      })
      .process_read_dir(move |_depth, dir, _state, children| {
        children.retain(|c| match c {
          Ok(e) => {
            !(e.file_type.is_dir()
              && PRUNED.iter().any(|p| e.file_name.as_encoded_bytes() == p.as_bytes()))
          }
          Err(_) => true,
        });
        for e in children.iter().flatten() {
          if e.file_type.is_file() {
            let p = dir.join(&e.file_name);
            match visit(mode, &p) {
              Ok((bytes, v)) => {
                t.files.fetch_add(1, Ordering::Relaxed);
                t.bytes.fetch_add(bytes, Ordering::Relaxed);
                t.check.fetch_xor(v, Ordering::Relaxed);
              }
              Err(_) => {
                t.errors.fetch_add(1, Ordering::Relaxed);
              }
            }
          }
        }
      });
    for entry in walk {
      if entry.is_err() {
        totals.errors.fetch_add(1, Ordering::Relaxed);
      }
    }
  }
  totals
}

fn main() -> ExitCode {
  let mut args = std::env::args().skip(1);
  let mode = match args.next().as_deref() {
    Some("walk-stat") => Mode::WalkStat,
    Some("walk-read-xxh3") => Mode::WalkReadXxh3,
    _ => {
      eprintln!("usage: bench_floor walk-stat|walk-read-xxh3 DIR...");
      return ExitCode::from(2);
    }
  };
  let roots: Vec<PathBuf> = args.map(PathBuf::from).collect();
  if roots.is_empty() {
    eprintln!("bench_floor: give at least one directory");
    return ExitCode::from(2);
  }
  let t0 = Instant::now();
  let totals = run(mode, roots);
  let ms = t0.elapsed().as_secs_f64() * 1000.0;
  let name = if mode == Mode::WalkStat { "walk-stat" } else { "walk-read-xxh3" };
  println!(
    "{{\"mode\":\"{}\",\"files\":{},\"bytes\":{},\"errors\":{},\"ms\":{:.3},\"check\":\"{:016x}\"}}",
    name,
    totals.files.load(Ordering::Relaxed),
    totals.bytes.load(Ordering::Relaxed),
    totals.errors.load(Ordering::Relaxed),
    ms,
    totals.check.load(Ordering::Relaxed)
  );
  if totals.errors.load(Ordering::Relaxed) > 0 {
    return ExitCode::from(1);
  }
  ExitCode::SUCCESS
}
