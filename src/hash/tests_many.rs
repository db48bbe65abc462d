//! Tests of [`hash_inputs_many`]: one walk for specs whose roots nest gives each spec exactly what
//! its own walk gives.

use std::fs;
use std::path::Path;

use super::tests::{write, TempDir};
use super::walk::planned_walks;
use super::*;

/// Each spec's result from the shared walks, beside the result of walking it alone (each with a
/// cache of its own, so nothing one walk learns helps another).
fn compare(specs: &[InputSpec], tag: &str) {
  let dir = TempDir::new("many-cache");
  let shared = hash_inputs_many(specs, &StatCache::empty(dir.path().join("shared")));
  assert_eq!(shared.len(), specs.len());
  for (i, (spec, got)) in specs.iter().zip(shared).enumerate() {
    let alone = hash_inputs(spec, &StatCache::empty(dir.path().join(format!("alone-{i}"))));
    match (got, alone) {
      (Ok(got), Ok(alone)) => {
        assert_eq!(got.files, alone.files, "{tag}: spec {i} ({spec:?})");
        assert_eq!(got.stats.files, alone.stats.files, "{tag}: spec {i}");
      }
      (Err(got), Err(alone)) => {
        assert_eq!(got.to_string(), alone.to_string(), "{tag}: spec {i}")
      }
      (got, alone) => panic!("{tag}: spec {i} ({spec:?}): shared {got:?}, alone {alone:?}"),
    }
  }
}

fn globs(g: &[&str]) -> Vec<String> {
  g.iter().map(|s| s.to_string()).collect()
}

/// A work tree whose rules differ by place: a root `.gitignore` that ignores the directory on
/// the way to a nested root (a walk starting at the nested root does not see that rule apply to
/// its own root), nested `.gitignore` files, `node_modules`, output directories.
fn work_tree() -> TempDir {
  let t = TempDir::new("many");
  let r = t.path();
  fs::create_dir_all(r.join(".git")).unwrap();
  write(r, ".gitignore", "*.log\ngen/\n");
  write(r, "package.json", "{}");
  write(r, "gen/web/src/a.ts", "a");
  write(r, "gen/web/src/b.log", "b");
  write(r, "apps/web/.gitignore", "secret.ts\n!keep.log\n");
  write(r, "apps/web/index.html", "<html>");
  write(r, "apps/web/src/main.tsx", "main");
  write(r, "apps/web/src/secret.ts", "s");
  write(r, "apps/web/src/keep.log", "k");
  write(r, "apps/web/src/drop.log", "d");
  write(r, "apps/web/src/locked/x.ts", "x");
  write(r, "apps/web/dist/out.js", "built");
  write(r, "apps/web/node_modules/react/index.js", "react");
  write(r, "apps/api/main.py", "app");
  write(r, "apps/api/models/user.py", "user");
  write(r, "apps/api/.venv/lib/site.py", "venv");
  write(r, "vendor/sub/.git/HEAD", "ref");
  write(r, "vendor/sub/lib.ts", "lib");
  write(r, "vendor/sub/skip.log", "log");
  t
}

#[test]
fn nested_and_equal_roots_share_a_walk_and_get_their_own_results() {
  let t = work_tree();
  let r = t.path();
  let specs = vec![
    InputSpec::new(r, globs(&["**", "!apps/web/src/locked/**"])).ignore_dir("apps/web/dist"),
    InputSpec::new(r.join("apps/web"), globs(&["src/**", "index.html"])).ignore_dir("dist"),
    InputSpec::new(r.join("apps/web"), globs(&["**/*.tsx", "!src/locked/**"])),
    InputSpec::new(r.join("apps/web/src"), globs(&["**"])),
    InputSpec::new(r.join("gen/web"), globs(&["src/**"])),
    InputSpec::new(r.join("apps/api"), globs(&["**/*.py"])).ignore_dir(".venv"),
    InputSpec::new(r.join("vendor/sub"), globs(&["**"])),
    InputSpec::new(r.join("apps/web"), globs(&["!src/**"])),
    InputSpec::new(r.join("apps/missing"), globs(&["**"])),
    InputSpec::new(r.join("apps/web"), globs(&["src/[oops"])),
  ];
  compare(&specs, "work tree");
  // The gitignored `gen/` and the ignored output directory are still walked for the specs rooted
  // inside or reading them: each spec got a non-empty list.
  let sc = StatCache::empty(r.join("x"));
  let got = hash_inputs_many(&specs, &sc);
  assert_eq!(got[4].as_ref().unwrap().files.len(), 1, "gen/web/src/a.ts only");
  assert!(got[0].as_ref().unwrap().files.iter().all(|f| !f.path.starts_with("gen/")));
  // One walk from the root serves every spec under it but the one in the nested repository
  // (whose `.gitignore` files above it are not the root's); a spec without includes, a missing
  // root and a bad glob are in no walk.
  assert_eq!(planned_walks(&specs), vec![vec![0, 5, 1, 2, 3, 4], vec![6]]);
}

#[test]
fn without_gitignore_nested_roots_share_a_walk_outside_git() {
  let t = TempDir::new("many-nogit");
  let r = t.path();
  write(r, ".gitignore", "*.ts\n");
  write(r, "a/x.ts", "x");
  write(r, "a/b/y.ts", "y");
  write(r, "a/b/.gitignore", "y.ts\n");
  let mut specs = vec![
    InputSpec::new(r.join("a"), globs(&["**"])),
    InputSpec::new(r.join("a/b"), globs(&["**"])),
    InputSpec::new(r.join("a"), globs(&["**"])),
    InputSpec::new(r.join("a/b"), globs(&["**"])),
  ];
  specs[0].use_gitignore = false;
  specs[1].use_gitignore = false;
  compare(&specs, "no git");
  // Outside a git work tree, `.gitignore` files above a root do not apply, and the walk from
  // `a` would load `a/.gitignore`-style files on its way: roots that differ walk apart.
  assert_eq!(planned_walks(&specs), vec![vec![0, 1], vec![2], vec![3]]);
}

#[test]
fn a_file_that_cannot_be_keyed_fails_only_the_specs_that_read_it() {
  use std::os::unix::ffi::OsStrExt;
  let t = work_tree();
  let r = t.path();
  // A name that is not UTF-8 cannot enter a key: an error for the specs whose globs reach it.
  fs::write(r.join("apps/web/src").join(std::ffi::OsStr::from_bytes(b"bad\xff.ts")), "x").unwrap();
  let specs = vec![
    InputSpec::new(r.join("apps/web"), globs(&["src/**"])),
    InputSpec::new(r.join("apps/web"), globs(&["index.html"])),
    InputSpec::new(r, globs(&["apps/api/**"])),
  ];
  assert_eq!(planned_walks(&specs), vec![vec![2, 0, 1]]);
  compare(&specs, "non-UTF-8 name");
  let got = hash_inputs_many(&specs, &StatCache::empty(r.join("x")));
  assert!(matches!(got[0], Err(HashError::NonUtf8Path { .. })), "{:?}", got[0]);
  assert_eq!(got[1].as_ref().unwrap().files.len(), 1);
  assert_eq!(got[2].as_ref().unwrap().files.len(), 3, "apps/api, .venv included");
}

/// Random trees and specs; the seed is printed and can be replayed with `FARM_TEST_SEED`.
#[test]
fn random_nested_specs_match_their_own_walks() {
  let seed =
    std::env::var("FARM_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
      std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
  eprintln!("random_nested_specs_match_their_own_walks: FARM_TEST_SEED={seed}");
  let mut rng = seed | 1;
  let mut next = move |n: usize| {
    // xorshift64*
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    (rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
  };
  let dirs = ["", "a", "a/b", "a/b/c", "a/d", "e", "e/node_modules", "a/dist", "a/b/gen"];
  let names = ["x.ts", "y.tsx", "z.py", "w.log", "package.json", ".env"];
  let ignores = ["*.log\n", "gen/\n", "!w.log\n", "c/\n", "y.tsx\n", "dist\n", ""];
  let pool = [
    "**",
    "**/*.ts",
    "*.json",
    "b/**",
    "!**/*.log",
    "!b/**",
    "c/*",
    "{x,y}.*",
    "**/z.py",
    "!gen/**",
  ];
  for round in 0..24 {
    let t = TempDir::new("many-rand");
    let r = t.path();
    if next(4) != 0 {
      fs::create_dir_all(r.join(".git")).unwrap();
    }
    for d in dirs {
      for name in names {
        if next(3) == 0 {
          write(
            r,
            &Path::new(d).join(name).to_string_lossy(),
            &format!("{d}/{name} {}", next(1000)),
          );
        }
      }
      if next(3) == 0 {
        write(r, &Path::new(d).join(".gitignore").to_string_lossy(), ignores[next(ignores.len())]);
      }
    }
    let mut specs = Vec::new();
    for _ in 0..1 + next(6) {
      let root = dirs[next(5)];
      let n = 1 + next(3);
      let g: Vec<String> = (0..n).map(|_| pool[next(pool.len())].to_string()).collect();
      let mut spec = InputSpec::new(r.join(root), g);
      spec.use_gitignore = next(4) != 0;
      if next(2) == 0 {
        spec = spec.ignore_dir(r.join("a/dist"));
      }
      specs.push(spec);
    }
    compare(&specs, &format!("seed {seed} round {round}"));
  }
}

#[test]
fn a_fifo_is_not_an_input_and_does_not_block_the_walk() {
  let t = TempDir::new("fifo");
  let r = t.path();
  write(r, "src/a.ts", "a");
  let fifo = std::ffi::CString::new(r.join("src/pipe.ts").to_str().unwrap()).unwrap();
  // SAFETY: a valid NUL-terminated path.
  assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
  let set = hash_inputs(&InputSpec::new(r, globs(&["src/**"])), &StatCache::empty(r.join("x")));
  let paths: Vec<_> = set.unwrap().files.into_iter().map(|f| f.path).collect();
  assert_eq!(paths, ["src/a.ts"]);
}

#[test]
fn a_literal_dir_glob_covers_exactly_the_files_globset_matches_below_it() {
  use super::walk::literal_subtree;
  let sub = |g: &str| literal_subtree(g);
  assert_eq!(sub("src/**"), Some(vec!["src".to_string()]));
  assert_eq!(sub("apps/web/**"), Some(vec!["apps".to_string(), "web".to_string()]));
  for not in ["**", "src/**/*.ts", "s*/**", "{a,b}/**", "src/[ab]/**", "../x/**", "a//**", "src/*"]
  {
    assert_eq!(sub(not), None, "{not}");
  }
  // Whatever the fast path covers, the glob itself matches.
  for (glob, files) in [
    ("src/**", ["src/a.ts", "src/x/y/z.tsx", "src/.hidden", "src/x/.env"]),
    ("a/b/**", ["a/b/c", "a/b/c/d", "a/b/.x", "a/b/c.d/e"]),
  ] {
    let g =
      globset::GlobBuilder::new(glob).literal_separator(true).build().unwrap().compile_matcher();
    for f in files {
      assert!(g.is_match(f), "{glob} must match {f}");
    }
  }
}
