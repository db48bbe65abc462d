//! Restoring an entry, all or nothing.
//!
//! 1. **Check** (nothing written): the entry's paths are validated, each output path is compared
//!    with what the entry lists (files already identical are found through the stat cache or by
//!    hashing), and every blob the restore relies on without copying it (identical files, the
//!    manifest) is verified, through the stat cache when it can vouch for the blob.
//! 2. **Stage**: every file to write is materialized from its blob, verified, into a staging
//!    directory beside the output (`.<name>.farm-restore.<pid>…`, same filesystem).
//! 3. **Commit**: paths the entry does not list, or lists as something else, are moved into the
//!    staging directory; directories are created; staged files are renamed into place (a
//!    replaced file is kept as a hard link, or moved, into the staging directory first); symlinks
//!    are created; directory modes are set. Every step is journaled.
//!
//! Any failure (a missing or corrupt blob, an I/O error) rolls the journal back, so the output
//! paths are exactly as they were; success deletes the staging directories (with the replaced
//! files). Each output then holds exactly the entry's content: a directory output loses whatever
//! the entry does not list, a single-file output is that file and nothing else around it is
//! touched, and an absent output is removed.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::super::hash::{hash_file, Digest, FileCheck, StatCache};
use super::entry::{check_entry, BlobRef, Entry, OutputKind, OutputRecord};
use super::error::{CacheError, RestoreError};
use super::fsutil::{copy_hashed, mode_of, set_mode};
use super::store::{BlobProblem, RestoreMode, RestoreReport, Store};
use super::txn::{remove_stale_staging, Txn};

/// What has to happen to one output path.
#[derive(Default)]
struct OutputPlan<'e> {
  /// The output path.
  root: PathBuf,
  /// Missing ancestors of `root` to create before anything is staged (outermost first).
  ancestors: Vec<PathBuf>,
  /// Existing paths to move away (unlisted, or listed as another kind).
  remove: Vec<PathBuf>,
  /// Directories to create (parents first).
  mkdirs: Vec<PathBuf>,
  /// Files to write: destination, record, and whether a regular file is there to replace.
  writes: Vec<(PathBuf, &'e OutputRecord, bool)>,
  /// Symlinks to create: destination and target.
  links: Vec<(PathBuf, &'e str)>,
  /// Directory modes to set: path and mode.
  modes: Vec<(PathBuf, u32)>,
}

impl OutputPlan<'_> {
  fn changes_anything(&self) -> bool {
    !(self.remove.is_empty()
      && self.mkdirs.is_empty()
      && self.writes.is_empty()
      && self.links.is_empty()
      && self.modes.is_empty())
  }
}

/// A file left as it is, and whether the stat cache vouched for it.
struct Kept {
  /// `label/path`, for messages.
  output: String,
  path: PathBuf,
  blob: BlobRef,
  by_stat: bool,
}

/// The existing kind of a path, for planning.
enum Existing {
  Missing,
  Dir(fs::Metadata),
  File(fs::Metadata),
  Symlink,
  Other,
}

fn existing(path: &Path) -> io::Result<Existing> {
  match fs::symlink_metadata(path) {
    Ok(m) if m.file_type().is_symlink() => Ok(Existing::Symlink),
    Ok(m) if m.is_dir() => Ok(Existing::Dir(m)),
    Ok(m) if m.is_file() => Ok(Existing::File(m)),
    Ok(_) => Ok(Existing::Other),
    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Existing::Missing),
    Err(e) => Err(e),
  }
}

/// Whether an existing regular file already holds `b` with `mode`: `Some(by_stat)` if so.
fn identical(
  path: &Path,
  meta: &fs::Metadata,
  b: BlobRef,
  mode: u32,
  stat: Option<&StatCache>,
) -> Option<bool> {
  if meta.len() != b.size || mode_of(meta) != mode {
    return None;
  }
  if stat.and_then(|s| s.known_digest(path, meta)) == Some(b.hash) {
    return Some(true);
  }
  hash_file(path).ok().filter(|(h, _)| *h == b.hash).map(|_| false)
}

/// How planning failed.
enum PlanError {
  Io(&'static str, PathBuf, io::Error),
  Symlink(PathBuf),
}

impl Store {
  /// Restores `entry`'s outputs into the given `(label, path)` pairs, all or nothing.
  ///
  /// Each output ends up holding exactly the entry's content: a directory output gets every
  /// listed file, directory and symlink (files already identical are left untouched) and loses
  /// whatever the entry does not list; a single-file output is written as that one file (nothing
  /// beside it is touched); an output recorded absent is removed. Every blob used is verified
  /// first — also for files already on disk — so a missing or corrupt blob fails the restore and
  /// removes the entry; the caller then runs the task. On any failure the output paths are left
  /// exactly as they were (see the module docs). Paths are checked first: `..`, absolute paths,
  /// symlinks leading outside, and outputs that are symlinks are refused.
  pub fn restore(
    &self,
    entry: &Entry,
    outputs: &[(&str, &Path)],
  ) -> Result<RestoreReport, RestoreError> {
    self.restore_with_stat(entry, outputs, None)
  }

  /// [`restore`](Store::restore), with a stat cache: an output file or a blob whose `lstat`
  /// matches what the stat cache recorded when it was last written or verified (and that is not
  /// racy, git's rule) is known identical without being read; every file and blob written or
  /// verified by reading is recorded. A blob whose stat changed is read and hashed again.
  pub fn restore_with_stat(
    &self,
    entry: &Entry,
    outputs: &[(&str, &Path)],
    stat: Option<&StatCache>,
  ) -> Result<RestoreReport, RestoreError> {
    let key = entry.key.clone();
    if let Err((path, reason)) = check_entry(entry) {
      self.drop_entry(&key, None);
      return Err(RestoreError::UnsafePath { key, path, reason });
    }
    let roots: BTreeMap<&str, &Path> = outputs.iter().copied().collect();
    for o in &entry.outputs {
      if !roots.contains_key(o.label.as_str()) {
        return Err(RestoreError::UnknownLabel { key, label: o.label.clone() });
      }
    }
    let ioerr = |action: &'static str, path: &Path, source: io::Error| RestoreError::Io {
      key: entry.key.clone(),
      action,
      path: path.to_path_buf(),
      source,
    };
    let lock = self.lock().map_err(|e| match e {
      CacheError::Io { action, path, source } => ioerr(action, &path, source),
      other => ioerr("locking", &self.dir, io::Error::other(other.to_string())),
    })?;
    let _g = lock.shared().map_err(|e| ioerr("locking", &self.dir.join("LOCK"), e))?;

    // Logs first: a corrupt log blob invalidates the entry before any output is looked at.
    let logs = match entry.logs {
      None => Vec::new(),
      Some(b) => match self.read_blob(b) {
        Ok(bytes) => serde_json::from_slice::<Vec<String>>(&bytes).unwrap_or_default(),
        Err(p) => return Err(self.blob_error(entry, "(logs)", b, p)),
      },
    };
    let mut report =
      RestoreReport { result: entry.result.clone(), logs, ..RestoreReport::default() };

    // 1. Check.
    let mut plans = Vec::new();
    let mut kept = Vec::new();
    for group in entry.outputs.chunk_by(|a, b| a.label == b.label) {
      let root = roots[group[0].label.as_str()];
      remove_stale_staging(root);
      match plan_output(root, group, stat, &mut kept) {
        Ok(p) => plans.push(p),
        Err(PlanError::Io(action, path, e)) => return Err(ioerr(action, &path, e)),
        Err(PlanError::Symlink(path)) => {
          return Err(RestoreError::OutputIsSymlink { key: entry.key.clone(), path })
        }
      }
    }
    let mut verified: Vec<(PathBuf, Digest)> = Vec::new();
    let mut checked = std::collections::HashSet::new();
    for k in &kept {
      report.skipped_identical += 1;
      report.skipped_by_stat += u64::from(k.by_stat);
      report.bytes += k.blob.size;
      if !checked.insert(k.blob.hash) {
        continue;
      }
      match self.check_blob(k.blob, stat) {
        Ok(None) => report.blobs_by_stat += 1,
        Ok(Some(p)) => verified.push((p, k.blob.hash)),
        Err(p) => return Err(self.blob_error(entry, &k.output, k.blob, p)),
      }
    }
    match self.check_blob(entry.manifest, stat) {
      Ok(None) => report.blobs_by_stat += 1,
      Ok(Some(p)) => verified.push((p, entry.manifest.hash)),
      Err(p) => return Err(self.blob_error(entry, "(manifest)", entry.manifest, p)),
    }

    // 2. Stage, 3. commit.
    let mut txn = Txn::new(self);
    let mut written: Vec<(PathBuf, Digest)> = Vec::new();
    let result = self.stage_and_commit(&mut txn, &plans, &mut report, &mut written);
    match result {
      Ok(()) => txn.finish(),
      Err(err) => {
        let failed = txn.rollback();
        if !failed.is_empty() {
          self.warn(&format!(
            "build cache: restoring {key}: could not undo {} change(s): {}",
            failed.len(),
            failed.join("; ")
          ));
        }
        return Err(match err {
          StepError::Blob(output, b, p) => self.blob_error(entry, &output, b, p),
          StepError::Io(action, path, e) => ioerr(action, &path, e),
        });
      }
    }
    if let Some(stat) = stat {
      written.extend(kept.into_iter().filter(|k| !k.by_stat).map(|k| (k.path, k.blob.hash)));
      written.extend(verified);
      stat.record_files(&written);
    }
    self.set_last_key(&entry.task, &entry.key);
    Ok(report)
  }

  fn stage_and_commit(
    &self,
    txn: &mut Txn<'_>,
    plans: &[OutputPlan<'_>],
    report: &mut RestoreReport,
    written: &mut Vec<(PathBuf, Digest)>,
  ) -> Result<(), StepError> {
    let io = |action: &'static str, path: &Path| {
      let path = path.to_path_buf();
      move |e: io::Error| StepError::Io(action, path, e)
    };
    // 2. Stage every file to write.
    let mut reflink_ok = matches!(self.opts.restore_mode, RestoreMode::Auto | RestoreMode::Reflink);
    let mut staged: Vec<Vec<PathBuf>> = Vec::new();
    for plan in plans {
      let mut tmps = Vec::new();
      if plan.changes_anything() {
        for a in &plan.ancestors {
          txn.mkdir(a).map_err(io("creating directory", a))?;
        }
      }
      for (dest, rec, _) in &plan.writes {
        let Some(b) = rec.blob else { continue };
        let s =
          txn.staging_for(&plan.root).map_err(io("creating staging directory", &plan.root))?;
        let tmp = s.join(txn.next_name("new-"));
        txn.step(&tmp).map_err(io("staging", dest))?;
        match self.materialize(b, rec.mode, &tmp, &mut reflink_ok, report) {
          Ok(read_blob) => {
            if read_blob {
              written.push((self.blob_path(b.hash), b.hash));
            }
          }
          Err(p) => {
            let _ = fs::remove_file(&tmp);
            return Err(StepError::Blob(rec.display_path(), b, p));
          }
        }
        report.bytes += b.size;
        tmps.push(tmp);
      }
      staged.push(tmps);
    }
    // 3. Commit.
    for plan in plans {
      for p in &plan.remove {
        txn.move_aside(&plan.root, p).map_err(io("moving aside", p))?;
        report.removed += 1;
      }
    }
    for plan in plans {
      for d in &plan.mkdirs {
        txn.mkdir(d).map_err(io("creating directory", d))?;
      }
    }
    for (plan, tmps) in plans.iter().zip(&staged) {
      for ((dest, rec, replace), tmp) in plan.writes.iter().zip(tmps) {
        txn.place_file(&plan.root, tmp, dest, *replace).map_err(io("renaming into place", dest))?;
        if let Some(b) = rec.blob {
          written.push((dest.clone(), b.hash));
        }
      }
      for (dest, target) in &plan.links {
        txn.symlink(target, dest).map_err(io("creating symlink", dest))?;
      }
    }
    for plan in plans {
      for (d, mode) in plan.modes.iter().rev() {
        txn.set_dir_mode(d, *mode).map_err(io("setting the mode of", d))?;
      }
    }
    Ok(())
  }

  /// Verifies a blob the restore relies on without copying it. `Ok(Some(path))` when it was
  /// read (to record in the stat cache), `Ok(None)` when the stat cache vouched for it.
  fn check_blob(
    &self,
    b: BlobRef,
    stat: Option<&StatCache>,
  ) -> Result<Option<PathBuf>, BlobProblem> {
    let p = self.blob_path(b.hash);
    let check = match stat {
      Some(s) => s.check_file(&p, b.hash, b.size),
      None => match fs::symlink_metadata(&p) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(FileCheck::Missing),
        Err(e) => Err(e),
        Ok(_) => hash_file(&p).map(|(h, n)| {
          if h == b.hash && n == b.size {
            FileCheck::Matches { by_stat: false }
          } else {
            FileCheck::Differs { size: n, actual: Some(h) }
          }
        }),
      },
    };
    match check {
      Ok(FileCheck::Matches { by_stat }) => Ok((!by_stat).then_some(p)),
      Ok(FileCheck::Missing) => Err(BlobProblem::Missing(p)),
      Ok(FileCheck::Differs { actual, .. }) => {
        let actual = actual.or_else(|| hash_file(&p).ok().map(|(h, _)| h)).unwrap_or_default();
        Err(BlobProblem::Corrupt(p, actual))
      }
      Err(e) => Err(BlobProblem::Io(p, e)),
    }
  }

  /// Creates `tmp` with the blob's verified contents and `mode`. Returns whether the blob itself
  /// was read (and so verified) on the way.
  fn materialize(
    &self,
    b: BlobRef,
    mode: u32,
    tmp: &Path,
    reflink_ok: &mut bool,
    report: &mut RestoreReport,
  ) -> Result<bool, BlobProblem> {
    let blob = self.blob_path(b.hash);
    let meta = match fs::metadata(&blob) {
      Ok(m) => m,
      Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(BlobProblem::Missing(blob)),
      Err(e) => return Err(BlobProblem::Io(blob, e)),
    };
    let verify = |path: &Path| -> Result<(), BlobProblem> {
      let (h, n) = hash_file(path).map_err(|e| BlobProblem::Io(blob.clone(), e))?;
      if h != b.hash || n != b.size {
        return Err(BlobProblem::Corrupt(blob.clone(), h));
      }
      Ok(())
    };
    if self.opts.restore_mode == RestoreMode::Hardlink && mode_of(&meta) == mode {
      verify(&blob)?;
      if fs::hard_link(&blob, tmp).is_ok() {
        report.hardlinked += 1;
        return Ok(true);
      }
    }
    if *reflink_ok {
      if reflink_copy::reflink(&blob, tmp).is_ok() {
        verify(tmp)?;
        set_mode(tmp, mode).map_err(|e| BlobProblem::Io(tmp.to_path_buf(), e))?;
        report.reflinked += 1;
        return Ok(true);
      }
      let _ = fs::remove_file(tmp);
      *reflink_ok = false;
    }
    let (h, n) = copy_hashed(&blob, tmp).map_err(|e| BlobProblem::Io(blob.clone(), e))?;
    if h != b.hash || n != b.size {
      return Err(BlobProblem::Corrupt(blob, h));
    }
    set_mode(tmp, mode).map_err(|e| BlobProblem::Io(tmp.to_path_buf(), e))?;
    report.copied += 1;
    Ok(true)
  }

  /// The error for a bad blob; a missing or corrupt one also drops the entry (and the corrupt
  /// blob, so no later save deduplicates against it).
  pub(crate) fn blob_error(
    &self,
    entry: &Entry,
    output: &str,
    b: BlobRef,
    p: BlobProblem,
  ) -> RestoreError {
    let key = entry.key.clone();
    match p {
      BlobProblem::Missing(blob) => {
        self.drop_entry(&key, None);
        RestoreError::MissingBlob { key, output: output.into(), blob }
      }
      BlobProblem::Corrupt(blob, actual) => {
        self.drop_entry(&key, Some(&blob));
        RestoreError::CorruptBlob {
          key,
          output: output.into(),
          expected: b.hash.to_hex(),
          actual: actual.to_hex(),
          blob,
        }
      }
      BlobProblem::Io(blob, source) => {
        RestoreError::Io { key, action: "reading blob", path: blob, source }
      }
    }
  }
}

/// A failed stage or commit step.
enum StepError {
  Blob(String, BlobRef, BlobProblem),
  Io(&'static str, PathBuf, io::Error),
}

/// Compares one output path with the entry's records for it (one label, sorted, root first).
fn plan_output<'e>(
  root: &Path,
  group: &'e [OutputRecord],
  stat: Option<&StatCache>,
  kept: &mut Vec<Kept>,
) -> Result<OutputPlan<'e>, PlanError> {
  let io = |action: &'static str, path: &Path| {
    let path = path.to_path_buf();
    move |e: io::Error| PlanError::Io(action, path, e)
  };
  let mut plan = OutputPlan { root: root.to_path_buf(), ..OutputPlan::default() };
  let rec = &group[0];
  let here = existing(root).map_err(io("stat of", root))?;
  // Ancestors to create when the output path is written and its parent is missing.
  let mut anc = root.parent();
  while let Some(a) = anc {
    if a.as_os_str().is_empty() {
      break;
    }
    match existing(a).map_err(io("stat of", a))? {
      Existing::Missing => plan.ancestors.push(a.to_path_buf()),
      Existing::Dir(_) => break,
      Existing::Symlink if fs::metadata(a).is_ok_and(|m| m.is_dir()) => break,
      _ => {
        let e = io::Error::other("an ancestor of the output path is not a directory");
        return Err(PlanError::Io("creating directory", a.to_path_buf(), e));
      }
    }
    anc = a.parent();
  }
  plan.ancestors.reverse();
  match rec.kind {
    OutputKind::Absent => {
      plan.ancestors.clear();
      if !matches!(here, Existing::Missing) {
        plan.remove.push(root.to_path_buf());
      }
    }
    OutputKind::File => {
      let b = rec.blob.unwrap_or(BlobRef { hash: Digest::default(), size: 0 });
      match here {
        Existing::File(m) => match identical(root, &m, b, rec.mode, stat) {
          Some(by_stat) => kept.push(Kept {
            output: rec.display_path(),
            path: root.to_path_buf(),
            blob: b,
            by_stat,
          }),
          None => plan.writes.push((root.to_path_buf(), rec, true)),
        },
        Existing::Missing => plan.writes.push((root.to_path_buf(), rec, false)),
        _ => {
          plan.remove.push(root.to_path_buf());
          plan.writes.push((root.to_path_buf(), rec, false));
        }
      }
    }
    OutputKind::Dir => {
      match &here {
        Existing::Symlink => return Err(PlanError::Symlink(root.to_path_buf())),
        Existing::Dir(m) => {
          if mode_of(m) != rec.mode {
            plan.modes.push((root.to_path_buf(), rec.mode));
          }
        }
        Existing::Missing => {
          plan.mkdirs.push(root.to_path_buf());
          plan.modes.push((root.to_path_buf(), rec.mode));
        }
        Existing::File(_) | Existing::Other => {
          plan.remove.push(root.to_path_buf());
          plan.mkdirs.push(root.to_path_buf());
          plan.modes.push((root.to_path_buf(), rec.mode));
        }
      }
      let listed: HashMap<&str, &OutputRecord> =
        group[1..].iter().map(|o| (o.path.as_str(), o)).collect();
      // Existing paths: what the entry does not list, or lists as another kind, goes.
      let mut present: HashMap<String, ()> = HashMap::new();
      if matches!(here, Existing::Dir(_)) {
        let mut stack = vec![(root.to_path_buf(), String::new())];
        while let Some((dir, rel)) = stack.pop() {
          for item in fs::read_dir(&dir).map_err(io("reading directory", &dir))? {
            let item = item.map_err(io("reading directory", &dir))?;
            let name = item.file_name();
            let path = item.path();
            let child = match name.to_str() {
              Some(n) if rel.is_empty() => n.to_string(),
              Some(n) => format!("{rel}/{n}"),
              None => {
                plan.remove.push(path);
                continue;
              }
            };
            let Some(o) = listed.get(child.as_str()) else {
              plan.remove.push(path);
              continue;
            };
            let ex = existing(&path).map_err(io("stat of", &path))?;
            match (o.kind, ex) {
              (OutputKind::Dir, Existing::Dir(m)) => {
                if mode_of(&m) != o.mode {
                  plan.modes.push((path.clone(), o.mode));
                }
                present.insert(child.clone(), ());
                stack.push((path, child));
              }
              (OutputKind::File, Existing::File(m)) => {
                let b = o.blob.unwrap_or(BlobRef { hash: Digest::default(), size: 0 });
                match identical(&path, &m, b, o.mode, stat) {
                  Some(by_stat) => {
                    kept.push(Kept { output: o.display_path(), path, blob: b, by_stat })
                  }
                  None => plan.writes.push((path, o, true)),
                }
                present.insert(child, ());
              }
              (OutputKind::Symlink, Existing::Symlink)
                if fs::read_link(&path).ok().as_deref().and_then(Path::to_str)
                  == o.target.as_deref() =>
              {
                present.insert(child, ());
              }
              _ => plan.remove.push(path),
            }
          }
        }
      }
      // Listed paths not present as listed: create them (records are sorted: parents first).
      for o in &group[1..] {
        if present.contains_key(&o.path) {
          continue;
        }
        let dest = root.join(&o.path);
        match o.kind {
          OutputKind::Dir => {
            plan.mkdirs.push(dest.clone());
            plan.modes.push((dest, o.mode));
          }
          OutputKind::File => plan.writes.push((dest, o, false)),
          OutputKind::Symlink => plan.links.push((dest, o.target.as_deref().unwrap_or_default())),
          OutputKind::Absent => {}
        }
      }
      // Parents before children when modes are set in reverse (deepest first).
      plan.modes.sort_by(|a, b| a.0.cmp(&b.0));
    }
    OutputKind::Symlink => {}
  }
  Ok(plan)
}
