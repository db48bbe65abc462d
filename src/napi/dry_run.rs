//! Dry runs as JavaScript sees them (each task with its key manifest) and `diffDryRuns`, behind
//! `farm cache diff`.

use super::{CacheState, Code};
use crate::cache::{Change, DryRunFile, TaskDiff, TaskDiffKind};
use crate::hash::KeyManifest;
use crate::orchestrator::DryRunTask;
use napi_derive::napi;
use std::collections::BTreeMap;

/// One input file of a key: its path (relative to the task's root, `/`-separated; `../` for files
/// above it) and the xxh3-128 of its bytes.
#[napi(object, js_name = "KeyInputFile")]
pub struct JsInputFile {
  /// Relative, `/`-separated path.
  pub path: String,
  /// xxh3-128 of the contents (32 hex).
  pub hash: String,
}

/// Everything a task's key was computed from. No absolute path enters it unless the task's
/// outputs embed one (`machine`); env values appear only as digests.
#[napi(object, js_name = "KeyManifest")]
pub struct JsKeyManifest {
  /// Bumped when the meaning of inputs or config subsets changes.
  pub schema_version: u32,
  /// Version of the key's byte encoding.
  pub encoding_version: u32,
  /// The task.
  pub task: String,
  /// The key (32 hex).
  pub key: String,
  /// Input files, sorted by path.
  pub inputs: Vec<JsInputFile>,
  /// The task's config subset.
  #[napi(ts_type = "Record<string, unknown>")]
  pub config: serde_json::Value,
  /// Declared env vars: name → digest of the value (`null` = unset). Never the value.
  pub env: BTreeMap<String, Option<String>>,
  /// Tool versions (`node`, `vite`, `typescript`, `python`, `@farm/build-native`).
  pub tools: BTreeMap<String, String>,
  /// Dependency task → its key.
  pub deps: BTreeMap<String, String>,
  /// Extra content digests.
  pub extra: BTreeMap<String, String>,
  /// Machine-bound facts the outputs embed (`outputPath`, `pythonHome`); empty for a portable key.
  pub machine: BTreeMap<String, String>,
}

impl From<KeyManifest> for JsKeyManifest {
  fn from(m: KeyManifest) -> Self {
    JsKeyManifest {
      schema_version: m.schema_version,
      encoding_version: m.encoding_version,
      task: m.task,
      key: m.key,
      inputs: m
        .inputs
        .into_iter()
        .map(|f| JsInputFile { path: f.path, hash: f.hash.to_hex() })
        .collect(),
      config: m.config,
      env: m.env.into_iter().map(|(k, v)| (k, v.map(|d| d.to_hex()))).collect(),
      tools: m.tools,
      deps: m.deps,
      extra: m.extra.into_iter().map(|(k, v)| (k, v.to_hex())).collect(),
      machine: m.machine,
    }
  }
}

/// One task of a dry run.
#[napi(object, js_name = "DryRunTask")]
pub struct JsDryRunTask {
  /// The task.
  pub name: String,
  /// Its dependencies.
  pub deps: Vec<String>,
  /// Whether the cache has its key (`hit`), not (`miss`), or it is not cached (`off`).
  pub cache: CacheState,
  /// Its key, when cached.
  pub key: Option<String>,
  /// How many input files went into the key.
  pub inputs: u32,
  /// Why it is not cached.
  pub reason: Option<String>,
  /// What the key was computed from (present whenever `key` is).
  pub manifest: Option<JsKeyManifest>,
}

impl From<DryRunTask> for JsDryRunTask {
  fn from(t: DryRunTask) -> Self {
    JsDryRunTask {
      name: t.name,
      deps: t.deps,
      cache: t.cache.into(),
      key: t.key,
      inputs: t.inputs as u32,
      reason: t.reason,
      manifest: t.manifest.map(Into::into),
    }
  }
}

/// How a task compares between two dry runs.
#[napi(string_enum = "kebab-case")]
pub enum DryRunDiffKind {
  /// The same key on both sides.
  Same,
  /// Different keys; the lists name what differs.
  Changed,
  /// Planned only in the first dry run.
  OnlyInFirst,
  /// Planned only in the second dry run.
  OnlyInSecond,
  /// Cached on one side only (`reason` says why not on the other).
  CachedOnOneSide,
  /// Not cached on either side.
  Uncached,
}

impl From<TaskDiffKind> for DryRunDiffKind {
  fn from(k: TaskDiffKind) -> Self {
    match k {
      TaskDiffKind::Same => DryRunDiffKind::Same,
      TaskDiffKind::Changed => DryRunDiffKind::Changed,
      TaskDiffKind::OnlyInFirst => DryRunDiffKind::OnlyInFirst,
      TaskDiffKind::OnlyInSecond => DryRunDiffKind::OnlyInSecond,
      TaskDiffKind::CachedOnOneSide => DryRunDiffKind::CachedOnOneSide,
      TaskDiffKind::Uncached => DryRunDiffKind::Uncached,
    }
  }
}

/// A named value that differs. Env vars show `set`, `unset` or `changed`, never a value.
#[napi(object, js_name = "KeyChange")]
pub struct JsChange {
  /// The env var, tool, dependency task, extra input or machine fact.
  pub name: String,
  /// In the first dry run (absent = not there).
  pub before: Option<String>,
  /// In the second dry run (absent = not there).
  pub after: Option<String>,
}

impl From<Change> for JsChange {
  fn from(c: Change) -> Self {
    JsChange { name: c.name, before: c.before, after: c.after }
  }
}

/// One task of a dry-run diff.
#[napi(object, js_name = "DryRunTaskDiff")]
pub struct JsTaskDiff {
  /// The task.
  pub task: String,
  /// How it compares.
  pub kind: DryRunDiffKind,
  /// Its key in the first dry run.
  pub first_key: Option<String>,
  /// Its key in the second dry run.
  pub second_key: Option<String>,
  /// Why it is not cached (on the side where it is not).
  pub reason: Option<String>,
  /// Whether a key holds machine-bound facts.
  pub machine_bound: bool,
  /// `[first, second]` schema versions when they differ.
  pub schema_changed: Option<Vec<u32>>,
  /// Input files only in the second dry run.
  pub files_added: Vec<String>,
  /// Input files only in the first dry run.
  pub files_removed: Vec<String>,
  /// Input files whose contents differ.
  pub files_modified: Vec<String>,
  /// Env vars that differ.
  pub env: Vec<JsChange>,
  /// Config keys (JSON paths) that differ.
  pub config: Vec<String>,
  /// Tool versions that differ.
  pub tools: Vec<JsChange>,
  /// Dependency keys that differ.
  pub deps: Vec<JsChange>,
  /// Extra inputs that differ.
  pub extra: Vec<JsChange>,
  /// Machine-bound facts that differ.
  pub machine: Vec<JsChange>,
}

impl From<TaskDiff> for JsTaskDiff {
  fn from(t: TaskDiff) -> Self {
    let r = t.report;
    let changes = |f: fn(crate::cache::WhyReport) -> Vec<Change>| {
      r.clone().map(f).unwrap_or_default().into_iter().map(Into::into).collect()
    };
    JsTaskDiff {
      env: changes(|r| r.env),
      tools: changes(|r| r.tools),
      deps: changes(|r| r.deps),
      extra: changes(|r| r.extra),
      machine: changes(|r| r.machine),
      schema_changed: r.as_ref().and_then(|r| r.schema_changed).map(|(a, b)| vec![a, b]),
      files_added: r.as_ref().map(|r| r.files_added.clone()).unwrap_or_default(),
      files_removed: r.as_ref().map(|r| r.files_removed.clone()).unwrap_or_default(),
      files_modified: r.as_ref().map(|r| r.files_modified.clone()).unwrap_or_default(),
      config: r.as_ref().map(|r| r.config.clone()).unwrap_or_default(),
      task: t.task,
      kind: t.kind.into(),
      first_key: t.first_key,
      second_key: t.second_key,
      reason: t.reason,
      machine_bound: t.machine_bound,
    }
  }
}

/// The comparison of two dry runs.
#[napi(object, js_name = "DryRunDiff")]
pub struct JsDryRunDiff {
  /// The first file's name.
  pub first: String,
  /// The second file's name.
  pub second: String,
  /// True when every task has the same key (or is uncached on both sides).
  pub identical: bool,
  /// Every task of either plan.
  pub tasks: Vec<JsTaskDiff>,
  /// The comparison as text.
  pub lines: Vec<String>,
}

/// Compares two outputs of `farm build --dry-run --json` (their texts, with the file names used in
/// messages), task by task: input files, env vars (by name), tool versions, config keys,
/// dependency keys and machine-bound facts that differ. Throws `DRY_RUN_INVALID` naming the file
/// and the fix for a text that is not such an output.
#[napi]
pub fn diff_dry_runs(
  first_text: String,
  first_file: String,
  second_text: String,
  second_file: String,
) -> napi::Result<JsDryRunDiff, Code> {
  let parse = |file: &str, text: &str| {
    DryRunFile::parse(file, text)
      .map_err(|e| napi::Error::new(Code("DRY_RUN_INVALID".into()), e.to_string()))
  };
  let a = parse(&first_file, &first_text)?;
  let b = parse(&second_file, &second_text)?;
  let d = crate::cache::diff_dry_runs(&a, &b);
  Ok(JsDryRunDiff {
    identical: d.identical(),
    lines: d.lines(),
    first: d.first,
    second: d.second,
    tasks: d.tasks.into_iter().map(Into::into).collect(),
  })
}
