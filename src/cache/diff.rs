//! `farm cache diff a.json b.json`: what differs between two dry runs (`farm build --dry-run
//! --json`), e.g. a laptop's and CI's, task by task: input files, env vars (by name: values are
//! digests on both sides), tool versions, config keys, dependency keys and machine-bound facts.
//!
//! Each task of a dry run carries its key manifest; two manifests of the same task are compared
//! with [`diff_manifests`], the function behind `farm cache why`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::why::{diff_manifests, WhyReport};
use crate::hash::KeyManifest;

/// How to write a file this module reads, for error messages.
const FIX: &str =
  "write each file with `farm build --dry-run --json > FILE` (same targets on both machines)";

/// A dry-run file that cannot be compared.
#[derive(Debug, thiserror::Error)]
pub enum DryRunDiffError {
  /// The file is not JSON.
  #[error("{file}: not JSON ({source}): {FIX}")]
  NotJson {
    /// The file's name.
    file: String,
    /// The parser's error.
    #[source]
    source: serde_json::Error,
  },
  /// The file is JSON but not the output of `farm build --dry-run --json`.
  #[error("{file}: not the output of `farm build --dry-run --json` ({detail}): {FIX}")]
  NotDryRun {
    /// The file's name.
    file: String,
    /// What is wrong (the field).
    detail: String,
  },
  /// A task is keyed but its manifest is missing (a dry run of an older farm) or does not
  /// describe its key.
  #[error("{file}: task `{task}` {detail}: re-run `farm build --dry-run --json` with this version of farm")]
  NoManifest {
    /// The file's name.
    file: String,
    /// The task.
    task: String,
    /// What is wrong.
    detail: String,
  },
}

/// One task of a dry run, as `farm build --dry-run --json` prints it (fields this module does not
/// read are ignored).
#[derive(Clone, Debug, Deserialize)]
pub struct DryRunEntry {
  /// The task.
  pub name: String,
  /// Its key, when it is cached.
  #[serde(default)]
  pub key: Option<String>,
  /// Why it is not cached.
  #[serde(default)]
  pub reason: Option<String>,
  /// What its key was computed from (present whenever `key` is).
  #[serde(default)]
  pub manifest: Option<KeyManifest>,
}

/// A parsed dry run.
#[derive(Clone, Debug)]
pub struct DryRunFile {
  /// The file's name (for messages).
  pub file: String,
  /// Its tasks, in plan order.
  pub tasks: Vec<DryRunEntry>,
}

impl DryRunFile {
  /// Parses the text of `farm build --dry-run --json` read from `file`.
  pub fn parse(file: &str, text: &str) -> Result<DryRunFile, DryRunDiffError> {
    let not_dry = |detail: String| DryRunDiffError::NotDryRun { file: file.into(), detail };
    let v: Value = serde_json::from_str(text)
      .map_err(|source| DryRunDiffError::NotJson { file: file.into(), source })?;
    if v.get("dryRun") != Some(&Value::Bool(true)) {
      return Err(not_dry("no `\"dryRun\": true`".into()));
    }
    let Some(rows) = v.get("tasks").and_then(Value::as_array) else {
      return Err(not_dry("no `tasks` array".into()));
    };
    let mut tasks = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
      let entry: DryRunEntry =
        serde_json::from_value(row.clone()).map_err(|e| not_dry(format!("tasks[{i}]: {e}")))?;
      if let Some(key) = &entry.key {
        let no_manifest = |detail: &str| DryRunDiffError::NoManifest {
          file: file.into(),
          task: entry.name.clone(),
          detail: detail.into(),
        };
        match &entry.manifest {
          None => return Err(no_manifest("has a key but no `manifest`")),
          Some(m) if m.key != *key => {
            return Err(no_manifest("has a `manifest` of another key"));
          }
          Some(_) => {}
        }
      }
      tasks.push(entry);
    }
    Ok(DryRunFile { file: file.into(), tasks })
  }
}

/// How a task compares between the two dry runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskDiffKind {
  /// The same key on both sides: a cache entry of one is a hit for the other.
  Same,
  /// Keyed on both sides with different keys; the report names what differs.
  Changed,
  /// Planned only in the first dry run.
  OnlyInFirst,
  /// Planned only in the second dry run.
  OnlyInSecond,
  /// Cached on one side only (the reason says why the other is not).
  CachedOnOneSide,
  /// Not cached on either side: there are no keys to compare.
  Uncached,
}

impl TaskDiffKind {
  /// Whether this makes the dry runs differ (everything but `same` and `uncached`).
  pub fn differs(self) -> bool {
    !matches!(self, TaskDiffKind::Same | TaskDiffKind::Uncached)
  }
}

/// One task's comparison.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDiff {
  /// The task.
  pub task: String,
  /// How it compares.
  pub kind: TaskDiffKind,
  /// Its key in the first dry run.
  pub first_key: Option<String>,
  /// Its key in the second dry run.
  pub second_key: Option<String>,
  /// Why it is not cached (on the side where it is not).
  pub reason: Option<String>,
  /// Whether a key holds machine-bound facts (its entries are not shared across machines).
  pub machine_bound: bool,
  /// What differs (`changed` only): first = before, second = after.
  pub report: Option<WhyReport>,
}

/// The comparison of two dry runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRunDiff {
  /// The first file's name.
  pub first: String,
  /// The second file's name.
  pub second: String,
  /// Every task of either plan: the first's order, then tasks only the second plans.
  pub tasks: Vec<TaskDiff>,
}

/// Compares two dry runs task by task.
pub fn diff_dry_runs(first: &DryRunFile, second: &DryRunFile) -> DryRunDiff {
  let by_name: BTreeMap<&str, &DryRunEntry> =
    second.tasks.iter().map(|t| (t.name.as_str(), t)).collect();
  let mut tasks: Vec<TaskDiff> = first
    .tasks
    .iter()
    .map(|a| match by_name.get(a.name.as_str()) {
      Some(b) => compare(a, b, &first.file, &second.file),
      None => one_side(a, TaskDiffKind::OnlyInFirst),
    })
    .collect();
  let in_first: std::collections::BTreeSet<&str> =
    first.tasks.iter().map(|t| t.name.as_str()).collect();
  tasks.extend(
    second
      .tasks
      .iter()
      .filter(|b| !in_first.contains(b.name.as_str()))
      .map(|b| one_side(b, TaskDiffKind::OnlyInSecond)),
  );
  DryRunDiff { first: first.file.clone(), second: second.file.clone(), tasks }
}

fn bound(e: &DryRunEntry) -> bool {
  e.manifest.as_ref().is_some_and(KeyManifest::is_machine_bound)
}

fn one_side(e: &DryRunEntry, kind: TaskDiffKind) -> TaskDiff {
  let only_first = kind == TaskDiffKind::OnlyInFirst;
  TaskDiff {
    task: e.name.clone(),
    kind,
    first_key: if only_first { e.key.clone() } else { None },
    second_key: if only_first { None } else { e.key.clone() },
    reason: e.reason.clone(),
    machine_bound: bound(e),
    report: None,
  }
}

fn compare(a: &DryRunEntry, b: &DryRunEntry, a_file: &str, b_file: &str) -> TaskDiff {
  let mut d = TaskDiff {
    task: a.name.clone(),
    kind: TaskDiffKind::Same,
    first_key: a.key.clone(),
    second_key: b.key.clone(),
    reason: None,
    machine_bound: bound(a) || bound(b),
    report: None,
  };
  match (&a.manifest, &b.manifest) {
    (Some(ma), Some(mb)) => {
      if ma.key != mb.key {
        d.kind = TaskDiffKind::Changed;
        d.report = Some(diff_manifests(ma, mb));
      }
    }
    (None, None) => {
      d.kind = TaskDiffKind::Uncached;
      d.reason = a.reason.clone().or_else(|| b.reason.clone());
    }
    (Some(_), None) => {
      d.kind = TaskDiffKind::CachedOnOneSide;
      d.reason = b.reason.as_ref().map(|r| format!("not cached in {b_file}: {r}"));
    }
    (None, Some(_)) => {
      d.kind = TaskDiffKind::CachedOnOneSide;
      d.reason = a.reason.as_ref().map(|r| format!("not cached in {a_file}: {r}"));
    }
  }
  d
}

fn short(key: &Option<String>) -> String {
  key.as_deref().map_or_else(|| "-".into(), |k| k.chars().take(12).collect())
}

impl DryRunDiff {
  /// True when no task differs (every task has the same key, or is uncached on both sides).
  pub fn identical(&self) -> bool {
    !self.tasks.iter().any(|t| t.kind.differs())
  }

  /// Human-readable lines for the CLI: one per task, then what differs, indented.
  pub fn lines(&self) -> Vec<String> {
    let mut out = vec![format!("first: {}  second: {}", self.first, self.second)];
    for t in &self.tasks {
      let bound = if t.machine_bound { " (machine-bound)" } else { "" };
      match t.kind {
        TaskDiffKind::Same => {
          out.push(format!("= {}: same key {}{bound}", t.task, short(&t.first_key)))
        }
        TaskDiffKind::Uncached => out.push(format!(
          "= {}: uncached on both sides: {}",
          t.task,
          t.reason.as_deref().unwrap_or("no reason given")
        )),
        TaskDiffKind::OnlyInFirst => out.push(format!("- {}: only in {}", t.task, self.first)),
        TaskDiffKind::OnlyInSecond => out.push(format!("+ {}: only in {}", t.task, self.second)),
        TaskDiffKind::CachedOnOneSide => out.push(format!(
          "≠ {}: {}",
          t.task,
          t.reason.as_deref().unwrap_or("cached on one side only")
        )),
        TaskDiffKind::Changed => {
          out.push(format!(
            "≠ {}: key {} -> {}{bound}",
            t.task,
            short(&t.first_key),
            short(&t.second_key)
          ));
          if let Some(r) = &t.report {
            // The report's first line repeats the keys; the rest names what differs.
            out.extend(r.lines().into_iter().skip(1));
          }
        }
      }
    }
    let differ = self.tasks.iter().filter(|t| t.kind.differs()).count();
    out.push(if differ == 0 {
      format!("identical: {} tasks, same keys", self.tasks.len())
    } else {
      format!("{differ} of {} tasks differ", self.tasks.len())
    });
    out
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::hash::{Digest, InputFile, KeyInput};
  use serde_json::json;

  fn manifest(task: &str, file: &[u8], env: &str, vite: &str) -> KeyManifest {
    KeyInput {
      schema_version: 1,
      task: task.into(),
      inputs: vec![
        InputFile { path: "src/App.tsx".into(), hash: Digest::of_bytes(file) },
        InputFile { path: "index.html".into(), hash: Digest::of_bytes(b"<html>") },
      ],
      config: json!({ "frontend": { "root": "web", "sourcemap": false } }),
      env: BTreeMap::from([("VITE_API".to_string(), Some(env.to_string()))]),
      tools: BTreeMap::from([("vite".to_string(), vite.to_string())]),
      ..Default::default()
    }
    .into_manifest()
  }

  fn file(tasks: Vec<Value>) -> String {
    json!({ "dryRun": true, "tasks": tasks }).to_string()
  }

  fn row(m: &KeyManifest) -> Value {
    json!({ "name": m.task, "deps": [], "cache": "miss", "key": m.key, "inputs": m.inputs.len(), "manifest": m })
  }

  #[test]
  fn same_runs_are_identical() {
    let m = manifest("frontend", b"a", "https://x", "7.0.0");
    let text =
      file(vec![row(&m), json!({ "name": "docker", "cache": "off", "reason": "external" })]);
    let a = DryRunFile::parse("a.json", &text).unwrap();
    let b = DryRunFile::parse("b.json", &text).unwrap();
    let d = diff_dry_runs(&a, &b);
    assert!(d.identical(), "{:?}", d.lines());
    assert_eq!(d.tasks[0].kind, TaskDiffKind::Same);
    assert_eq!(d.tasks[1].kind, TaskDiffKind::Uncached);
    assert_eq!(d.lines().last().unwrap(), "identical: 2 tasks, same keys");
  }

  #[test]
  fn names_a_changed_file_env_var_and_tool_without_values() {
    let a = manifest("frontend", b"a", "https://secret-one", "7.0.0");
    let b = manifest("frontend", b"b", "https://secret-two", "7.0.1");
    let fa = DryRunFile::parse("laptop.json", &file(vec![row(&a)])).unwrap();
    let fb = DryRunFile::parse("ci.json", &file(vec![row(&b)])).unwrap();
    let d = diff_dry_runs(&fa, &fb);
    assert!(!d.identical());
    let r = d.tasks[0].report.as_ref().unwrap();
    assert_eq!(r.files_modified, ["src/App.tsx"]);
    assert_eq!(r.env.len(), 1);
    assert_eq!(r.env[0].name, "VITE_API");
    assert_eq!(r.tools[0].name, "vite");
    let text = d.lines().join("\n");
    assert!(text.contains("M src/App.tsx") && text.contains("env VITE_API"), "{text}");
    assert!(text.contains("tool vite: 7.0.0 -> 7.0.1"), "{text}");
    assert!(!text.contains("secret"), "{text}");
    assert_eq!(d.lines().last().unwrap(), "1 of 1 tasks differ");
  }

  #[test]
  fn tasks_on_one_side_and_cached_on_one_side_differ() {
    let m = manifest("frontend", b"a", "x", "7");
    let t = manifest("types", b"a", "x", "7");
    let fa = DryRunFile::parse("a.json", &file(vec![row(&m), row(&t)])).unwrap();
    let fb = DryRunFile::parse(
      "b.json",
      &file(vec![
        json!({ "name": "frontend", "cache": "off", "reason": "cache disabled" }),
        json!({ "name": "typecheck", "cache": "off", "reason": "cache disabled" }),
      ]),
    )
    .unwrap();
    let d = diff_dry_runs(&fa, &fb);
    let kinds: Vec<TaskDiffKind> = d.tasks.iter().map(|t| t.kind).collect();
    assert_eq!(
      kinds,
      [TaskDiffKind::CachedOnOneSide, TaskDiffKind::OnlyInFirst, TaskDiffKind::OnlyInSecond]
    );
    assert_eq!(d.tasks[0].reason.as_deref(), Some("not cached in b.json: cache disabled"));
  }

  #[test]
  fn machine_facts_are_named() {
    let mut a = manifest("backend", b"a", "x", "7");
    let mut b = a.clone();
    a.machine.insert("outputPath".into(), "/home/ann/app/dist/api/.venv".into());
    b.machine.insert("outputPath".into(), "/builds/app/dist/api/.venv".into());
    a.key = a.compute_key();
    b.key = b.compute_key();
    assert_ne!(a.key, b.key);
    let fa = DryRunFile::parse("a.json", &file(vec![row(&a)])).unwrap();
    let fb = DryRunFile::parse("b.json", &file(vec![row(&b)])).unwrap();
    let d = diff_dry_runs(&fa, &fb);
    assert!(d.tasks[0].machine_bound);
    assert_eq!(d.tasks[0].report.as_ref().unwrap().machine[0].name, "outputPath");
  }

  #[test]
  fn bad_files_name_the_file_and_the_fix() {
    let e = DryRunFile::parse("a.json", "{ not json").unwrap_err().to_string();
    assert!(e.starts_with("a.json: not JSON") && e.contains("farm build --dry-run --json"), "{e}");
    let e = DryRunFile::parse("b.json", r#"{"success":true,"tasks":[]}"#).unwrap_err().to_string();
    assert!(e.contains("b.json: not the output of `farm build --dry-run --json`"), "{e}");
    assert!(e.contains("dryRun"), "{e}");
    let e = DryRunFile::parse("c.json", r#"{"dryRun":true,"tasks":[{"key":"x"}]}"#)
      .unwrap_err()
      .to_string();
    assert!(e.contains("tasks[0]") && e.contains("name"), "{e}");
    let e =
      DryRunFile::parse("d.json", r#"{"dryRun":true,"tasks":[{"name":"frontend","key":"ab"}]}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("d.json: task `frontend` has a key but no `manifest`"), "{e}");
  }
}
