//! `farm cache why <task>`: what changed since the task's last cached build.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::super::hash::KeyManifest;
use super::store::Store;

/// One changed named value. Env values are never shown: `before`/`after` are `set`/`unset`
/// or, for changed values, `changed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
  /// Name (env var, tool, dependency task, extra input).
  pub name: String,
  /// Previous value (`None` = absent).
  pub before: Option<String>,
  /// Current value (`None` = absent).
  pub after: Option<String>,
}

/// What is known about the previous build.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Previous {
  /// No build of this task was recorded (or its entry has been evicted).
  None,
  /// The previous build's manifest could not be read (the message says why).
  Unreadable(String),
  /// The previous key and its manifest were found.
  Found(String),
}

/// The difference between a task's last cached build and the current state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WhyReport {
  /// Task name.
  pub task: String,
  /// Current key.
  pub current_key: String,
  /// Previous build.
  pub previous: Previous,
  /// `(before, after)` when the schema or key encoding version changed.
  pub schema_changed: Option<(u32, u32)>,
  /// Input files that appeared.
  pub files_added: Vec<String>,
  /// Input files that disappeared.
  pub files_removed: Vec<String>,
  /// Input files whose contents changed.
  pub files_modified: Vec<String>,
  /// Declared env vars that changed.
  pub env: Vec<Change>,
  /// Config keys (JSON paths such as `build.sourcemap`) that changed.
  pub config: Vec<String>,
  /// Tool versions that changed.
  pub tools: Vec<Change>,
  /// Dependency keys that changed.
  pub deps: Vec<Change>,
  /// Extra inputs (e.g. generated API types) that changed.
  pub extra: Vec<Change>,
  /// Machine-bound facts (`outputPath`, `pythonHome`) that changed: the same sources built at
  /// another path or with another interpreter installation.
  pub machine: Vec<Change>,
}

impl WhyReport {
  /// True when the previous build has the same key (the task would be a cache hit).
  pub fn unchanged(&self) -> bool {
    matches!(&self.previous, Previous::Found(k) if *k == self.current_key)
  }

  /// Human-readable lines for the CLI.
  pub fn lines(&self) -> Vec<String> {
    let mut out = Vec::new();
    match &self.previous {
      Previous::None => out.push(format!("{}: no previous cached build recorded", self.task)),
      Previous::Unreadable(why) => {
        out.push(format!("{}: previous build unreadable: {why}", self.task))
      }
      Previous::Found(k) if *k == self.current_key => {
        out.push(format!("{}: unchanged (key {k}), would be restored from cache", self.task))
      }
      Previous::Found(k) => out.push(format!("{}: key {k} -> {}", self.task, self.current_key)),
    }
    if let Some((a, b)) = self.schema_changed {
      out.push(format!("  schema version {a} -> {b}"));
    }
    for (sign, list) in
      [("+", &self.files_added), ("-", &self.files_removed), ("M", &self.files_modified)]
    {
      out.extend(list.iter().map(|f| format!("  {sign} {f}")));
    }
    out.extend(self.config.iter().map(|c| format!("  config {c}")));
    for (what, list) in [
      ("env", &self.env),
      ("tool", &self.tools),
      ("dep", &self.deps),
      ("input", &self.extra),
      ("machine", &self.machine),
    ] {
      for c in list {
        let fmt = |v: &Option<String>| v.clone().unwrap_or_else(|| "(absent)".into());
        out.push(format!("  {what} {}: {} -> {}", c.name, fmt(&c.before), fmt(&c.after)));
      }
    }
    out
  }
}

fn diff_maps<V: PartialEq>(
  a: &BTreeMap<String, V>,
  b: &BTreeMap<String, V>,
  show: impl Fn(&V) -> String,
) -> Vec<Change> {
  let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
  names
    .into_iter()
    .filter(|n| a.get(*n) != b.get(*n))
    .map(|n| Change { name: n.clone(), before: a.get(n).map(&show), after: b.get(n).map(&show) })
    .collect()
}

fn diff_json(path: &str, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<String>) {
  match (a, b) {
    (Some(Value::Object(x)), Some(Value::Object(y))) => {
      let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
      for k in keys {
        let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
        diff_json(&p, x.get(k), y.get(k), out);
      }
    }
    (x, y) if x != y => out.push(if path.is_empty() { "(root)".into() } else { path.into() }),
    _ => {}
  }
}

/// Diffs two manifests of the same task.
pub fn diff_manifests(prev: &KeyManifest, cur: &KeyManifest) -> WhyReport {
  let mut r = WhyReport {
    task: cur.task.clone(),
    current_key: cur.key.clone(),
    previous: Previous::Found(prev.key.clone()),
    schema_changed: None,
    files_added: Vec::new(),
    files_removed: Vec::new(),
    files_modified: Vec::new(),
    env: Vec::new(),
    config: Vec::new(),
    tools: Vec::new(),
    deps: Vec::new(),
    extra: Vec::new(),
    machine: Vec::new(),
  };
  if (prev.schema_version, prev.encoding_version) != (cur.schema_version, cur.encoding_version) {
    r.schema_changed = Some((prev.schema_version, cur.schema_version));
  }
  // Both lists are sorted by path: merge.
  let (mut i, mut j) = (0, 0);
  while i < prev.inputs.len() || j < cur.inputs.len() {
    match (prev.inputs.get(i), cur.inputs.get(j)) {
      (Some(a), Some(b)) if a.path == b.path => {
        if a.hash != b.hash {
          r.files_modified.push(b.path.clone());
        }
        i += 1;
        j += 1;
      }
      (Some(a), Some(b)) if a.path < b.path => {
        r.files_removed.push(a.path.clone());
        i += 1;
      }
      (Some(_), Some(b)) => {
        r.files_added.push(b.path.clone());
        j += 1;
      }
      (Some(a), None) => {
        r.files_removed.push(a.path.clone());
        i += 1;
      }
      (None, Some(b)) => {
        r.files_added.push(b.path.clone());
        j += 1;
      }
      (None, None) => break,
    }
  }
  diff_json("", Some(&prev.config), Some(&cur.config), &mut r.config);
  r.env =
    diff_maps(&prev.env, &cur.env, |v| if v.is_some() { "set".into() } else { "unset".into() });
  for c in &mut r.env {
    if c.before.is_some() && c.after.is_some() && c.before == c.after {
      c.before = Some("changed".into());
      c.after = Some("changed".into());
    }
  }
  r.tools = diff_maps(&prev.tools, &cur.tools, |v| v.clone());
  r.deps = diff_maps(&prev.deps, &cur.deps, |v| v.clone());
  r.extra = diff_maps(&prev.extra, &cur.extra, |v| v.to_hex());
  r.machine = diff_maps(&prev.machine, &cur.machine, |v| v.clone());
  r
}

impl Store {
  /// Diffs `current` against the manifest of the last build recorded for `task_name`
  /// (saved or restored).
  pub fn why(&self, task_name: &str, current: &KeyManifest) -> WhyReport {
    let mut empty = diff_manifests(current, current);
    empty.previous = Previous::None;
    let Some(key) = self.last_key(task_name) else { return empty };
    let Some(entry) = self.read_entry(&key) else {
      return empty;
    };
    let prev = match self.read_blob(entry.manifest) {
      Ok(bytes) => match serde_json::from_slice::<KeyManifest>(&bytes) {
        Ok(m) => m,
        Err(e) => {
          empty.previous = Previous::Unreadable(format!("manifest of {key}: {e}"));
          return empty;
        }
      },
      Err(p) => {
        empty.previous = Previous::Unreadable(format!("manifest blob of {key}: {p:?}"));
        return empty;
      }
    };
    diff_manifests(&prev, current)
  }
}
