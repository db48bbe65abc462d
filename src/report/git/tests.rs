//! Tests against real `git`: every answer must equal `git status`'s, and the fast path must be
//! the one that answers where nothing unusual happened.

use super::*;
use crate::hash::{hash_inputs, InputSpec, StatCache};
use std::fs;

fn git(dir: &Path, args: &[&str]) {
  let out = Command::new("git").args(args).current_dir(dir).output().expect("git runs");
  assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A repository with a few committed files, its index written more than a second after them
/// (nothing racy), and its root's real path.
fn repo() -> (tempfile::TempDir, PathBuf) {
  let dir = tempfile::tempdir().unwrap();
  let root = fs::canonicalize(dir.path()).unwrap();
  git(&root, &["init", "-q"]);
  git(&root, &["config", "user.email", "t@example.com"]);
  git(&root, &["config", "user.name", "t"]);
  fs::create_dir_all(root.join("src/deep")).unwrap();
  fs::create_dir_all(root.join("sub")).unwrap();
  fs::write(root.join("README.md"), "readme\n").unwrap();
  fs::write(root.join("src/a.ts"), "export const a = 1;\n").unwrap();
  fs::write(root.join("src/deep/b.ts"), "export const b = 2;\n").unwrap();
  fs::write(root.join("sub/c.txt"), "c\n").unwrap();
  std::os::unix::fs::symlink("a.ts", root.join("src/link.ts")).unwrap();
  std::thread::sleep(std::time::Duration::from_millis(1100));
  git(&root, &["add", "-A"]);
  git(&root, &["commit", "-q", "-m", "one"]);
  (dir, root)
}

/// The paths and skip-worktree flags of an index file's entries.
fn entries(bytes: &[u8]) -> Result<Vec<(String, bool)>, Unreadable> {
  let mut out = Vec::new();
  read_index(&mut &bytes[..], Oid::Sha1, |e| {
    out.push((String::from_utf8_lossy(e.path).into_owned(), e.skip_worktree));
    None
  })?;
  Ok(out)
}

/// What a build's walk of `root` (every file) observed.
fn walked(root: &Path) -> Observed {
  let sc = StatCache::empty(root.join(".no-stat-cache")).observing();
  hash_inputs(&InputSpec::new(root, ["**"]), &sc).unwrap();
  sc.take_observed()
}

fn verdict(root: &Path, observed: &Observed, fresh: &[PathBuf]) -> Verdict {
  let top = PathBuf::from(probe(root, &["rev-parse", "--show-toplevel"]).unwrap());
  let git_dir = PathBuf::from(probe(root, &["rev-parse", "--absolute-git-dir"]).unwrap());
  compare_work_tree(&git_dir, &top, root, Oid::Sha1, observed, fresh)
}

/// `git_info` equals `git status`'s answer.
fn agrees(root: &Path, observed: &Observed, fresh: &[PathBuf]) -> bool {
  let fast = git_info(root, observed, fresh).expect("a git work tree");
  let plain = git_status_info(root).expect("a git work tree");
  assert_eq!(fast, plain, "in {}", root.display());
  fast.dirty
}

#[test]
fn a_clean_tree_is_answered_from_the_walk_and_the_index() {
  let (_d, root) = repo();
  let seen = walked(&root);
  assert!(seen.len() >= 4, "the walk observed the files: {}", seen.len());
  assert_eq!(verdict(&root, &seen, &[]), Verdict::Clean);
  assert!(!agrees(&root, &seen, &[]));
  // Without observed stats every file is stat'ed here: the same answer.
  assert_eq!(verdict(&root, &Observed::default(), &[]), Verdict::Clean);
  // An untracked file is not a change (`--untracked-files=no`).
  fs::write(root.join("src/new.ts"), "x").unwrap();
  assert!(!agrees(&root, &walked(&root), &[]));
}

#[test]
fn each_kind_of_change_gets_git_status_answer() {
  type Change = fn(&Path);
  let changes: &[(&str, Change, Option<Verdict>)] = &[
    (
      "touch",
      |r| fs::write(r.join("src/a.ts"), "export const a = 1;\n").unwrap(),
      Some(Verdict::Clean),
    ),
    (
      "edit, same size",
      |r| fs::write(r.join("src/a.ts"), "export const a = 9;\n").unwrap(),
      Some(Verdict::Dirty),
    ),
    ("edit", |r| fs::write(r.join("src/deep/b.ts"), "changed\n").unwrap(), None),
    ("delete", |r| fs::remove_file(r.join("README.md")).unwrap(), Some(Verdict::Dirty)),
    (
      "chmod +x",
      |r| {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(r.join("sub/c.txt"), fs::Permissions::from_mode(0o755)).unwrap()
      },
      Some(Verdict::Dirty),
    ),
    (
      "symlink retargeted",
      |r| {
        fs::remove_file(r.join("src/link.ts")).unwrap();
        std::os::unix::fs::symlink("deep/b.ts", r.join("src/link.ts")).unwrap()
      },
      None,
    ),
    (
      "staged",
      |r| {
        fs::write(r.join("src/a.ts"), "staged\n").unwrap();
        git(r, &["add", "src/a.ts"]);
      },
      None,
    ),
    (
      "file replaced by a directory",
      |r| {
        fs::remove_file(r.join("sub/c.txt")).unwrap();
        fs::create_dir(r.join("sub/c.txt")).unwrap()
      },
      Some(Verdict::Dirty),
    ),
  ];
  for (name, change, expected) in changes {
    let (_d, root) = repo();
    // The change, then the build's walk (a file changed after the walk is the build's own
    // output, see the next test, or a race with the user).
    change(&root);
    let seen = walked(&root);
    assert_eq!(agrees(&root, &seen, &[]), *name != "touch", "{name}: dirty");
    if let Some(v) = expected {
      // Other bytes and another executable bit are judged here only where no attributes file
      // or setting of this machine's git may say otherwise.
      let settings = worktree_settings(&root, &root.join(".git"), false).unwrap();
      let strict = !settings.filters && settings.file_mode;
      let v = if !strict && ["edit, same size", "chmod +x"].contains(name) {
        Verdict::AskGit
      } else {
        *v
      };
      assert_eq!(verdict(&root, &seen, &[]), v, "{name}: verdict");
    }
    // Without the walk's stats (a build that walked nothing, or through the daemon): the same.
    assert_eq!(agrees(&root, &Observed::default(), &[]), *name != "touch", "{name}: unwalked");
  }
}

#[test]
fn a_file_written_after_the_walk_under_an_output_is_stat_ed_again() {
  let (_d, root) = repo();
  let seen = walked(&root);
  // Same size, so only the stat tells (the walk's stat still matches the index).
  fs::write(root.join("sub/c.txt"), "d\n").unwrap();
  assert!(agrees(&root, &seen, &[root.join("sub")]), "an output rewritten after the walk");
}

#[test]
fn a_project_in_a_subdirectory_looks_at_its_own_files_only() {
  let (_d, root) = repo();
  fs::write(root.join("README.md"), "changed outside the project\n").unwrap();
  let sub = root.join("src");
  assert!(!agrees(&sub, &walked(&sub), &[]));
  fs::write(root.join("src/deep/b.ts"), "changed inside\n").unwrap();
  assert!(agrees(&sub, &walked(&sub), &[]));
}

#[test]
fn index_versions_3_and_4_are_read_and_a_split_index_goes_to_git_status() {
  for version in ["3", "4"] {
    let (_d, root) = repo();
    git(&root, &["update-index", "--index-version", version]);
    // An extended flag (skip-worktree) is what keeps an index at version 3; git ignores the
    // file's changes, and so must this reader.
    git(&root, &["update-index", "--skip-worktree", "sub/c.txt"]);
    fs::write(root.join("sub/c.txt"), "ignored by git\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    git(&root, &["update-index", "--refresh"]);
    let bytes = fs::read(root.join(".git/index")).unwrap();
    assert_eq!(be32(&bytes, 4).to_string(), version);
    let entries = entries(&bytes).unwrap();
    let paths: Vec<_> = entries.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(paths, ["README.md", "src/a.ts", "src/deep/b.ts", "src/link.ts", "sub/c.txt"]);
    assert_eq!(entries.iter().filter(|e| e.1).count(), 1, "version {version}: skip-worktree");
    assert_eq!(verdict(&root, &walked(&root), &[]), Verdict::Clean, "version {version}");
    assert!(!agrees(&root, &walked(&root), &[]), "version {version}");
    fs::write(root.join("src/a.ts"), "v\n").unwrap();
    assert!(agrees(&root, &walked(&root), &[]), "version {version}");
  }
  let (_d, root) = repo();
  git(&root, &["update-index", "--split-index"]);
  let bytes = fs::read(root.join(".git/index")).unwrap();
  assert_eq!(entries(&bytes), Err(Unreadable));
  assert!(!agrees(&root, &walked(&root), &[]));
  fs::write(root.join("src/a.ts"), "v\n").unwrap();
  assert!(agrees(&root, &walked(&root), &[]));
}

#[test]
fn the_blob_ids_are_gits() {
  // `printf 'hello\n' | git hash-object --stdin` and `git hash-object --object-format=sha256`.
  let hex = |b: Vec<u8>| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
  assert_eq!(hex(Oid::Sha1.blob(b"hello\n")), "ce013625030ba8dba906f756967f9e9ca394464a");
  assert_eq!(
    hex(Oid::Sha256.blob(b"hello\n")),
    "2cf8d83d9ee29543b34a87727421fdecb7e3f3a183d337639025de576db9ebb4"
  );
}

#[test]
fn outside_a_work_tree_there_is_no_git_state() {
  let dir = tempfile::tempdir().unwrap();
  assert_eq!(git_info(dir.path(), &Observed::default(), &[]), None);
}

#[test]
fn where_git_settings_may_call_other_bytes_clean_git_status_answers() {
  // An attributes file in the index: a filter may turn the bytes into the blob's.
  let (_d, root) = repo();
  fs::write(root.join(".gitattributes"), "*.ts text eol=lf\n").unwrap();
  git(&root, &["add", ".gitattributes"]);
  git(&root, &["commit", "-q", "-m", "attributes"]);
  fs::write(root.join("src/a.ts"), "export const a = 9;\n").unwrap();
  assert_eq!(verdict(&root, &walked(&root), &[]), Verdict::AskGit);
  assert!(agrees(&root, &walked(&root), &[]));
  // core.autocrlf: git converts before it compares.
  let (_d, root) = repo();
  git(&root, &["config", "core.autocrlf", "true"]);
  fs::write(root.join("sub/c.txt"), "c\r\n").unwrap();
  assert_eq!(verdict(&root, &walked(&root), &[]), Verdict::AskGit);
  agrees(&root, &walked(&root), &[]); // git's own answer, whatever it is
                                      // core.fileMode false: another executable bit is not a change.
  let (_d, root) = repo();
  git(&root, &["config", "core.fileMode", "false"]);
  use std::os::unix::fs::PermissionsExt;
  fs::set_permissions(root.join("sub/c.txt"), fs::Permissions::from_mode(0o755)).unwrap();
  assert_eq!(verdict(&root, &walked(&root), &[]), Verdict::AskGit);
  assert!(!agrees(&root, &walked(&root), &[]), "fileMode false: git calls it clean");
}
