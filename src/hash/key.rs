//! Task keys: a canonical, versioned xxh3-128 over everything that determines a task's outputs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use xxhash_rust::xxh3::Xxh3;

use super::digest::Digest;
use super::walk::InputFile;

/// Version of the byte encoding fed to the hasher. Bump it when [`KeyManifest::compute_key`]
/// changes, so that old cache entries stop matching.
pub const KEY_ENCODING_VERSION: u32 = 1;

/// Everything a task key is computed from, as the scheduler gathers it.
#[derive(Clone, Debug, Default)]
pub struct KeyInput {
  /// The caller's schema version (bump when the meaning of config or inputs changes).
  pub schema_version: u32,
  /// Task name, e.g. `web:build`.
  pub task: String,
  /// Input files (from [`super::hash_inputs`]); sorted and de-duplicated here anyway.
  pub inputs: Vec<InputFile>,
  /// The task's own config subset. Object keys are canonicalized (sorted) for hashing.
  pub config: Value,
  /// Declared env vars only: name → value (`None` = unset). Values are hashed, never stored.
  pub env: BTreeMap<String, Option<String>>,
  /// Tool versions: `node`, `python`, `vite`, `farm-build-native`, ...
  pub tools: BTreeMap<String, String>,
  /// Dependency task name → that task's key.
  pub deps: BTreeMap<String, String>,
  /// Extra content digests, e.g. `api-types` → digest of the generated TypeScript types.
  pub extra: BTreeMap<String, Digest>,
  /// Machine-bound facts the outputs embed (`outputPath`, `pythonPrefix`): only for tasks whose
  /// output names an absolute path of this machine, such as the backend's production venv. A key
  /// with any is not portable (see [`KeyManifest::is_machine_bound`]).
  pub machine: BTreeMap<String, String>,
}

/// Everything that went into a key, safe to persist: env values appear only as digests.
/// Stored with each cache entry so `farm cache why` can diff against it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyManifest {
  /// See [`KeyInput::schema_version`].
  #[serde(alias = "schemaVersion")]
  pub schema_version: u32,
  /// See [`KEY_ENCODING_VERSION`].
  #[serde(alias = "encodingVersion")]
  pub encoding_version: u32,
  /// Task name.
  pub task: String,
  /// The key: 32 lowercase hex characters.
  pub key: String,
  /// Input files, sorted by path.
  pub inputs: Vec<InputFile>,
  /// The config subset (keys sorted when serialized through [`canonical_json`]).
  pub config: Value,
  /// Declared env vars: name → digest of the value (`None` = unset).
  pub env: BTreeMap<String, Option<Digest>>,
  /// Tool versions.
  pub tools: BTreeMap<String, String>,
  /// Dependency task name → key.
  pub deps: BTreeMap<String, String>,
  /// Extra content digests.
  pub extra: BTreeMap<String, Digest>,
  /// Machine-bound facts (see [`KeyInput::machine`]); empty for a portable key.
  #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
  pub machine: BTreeMap<String, String>,
}

/// Digest of an env var value as stored in manifests (domain-separated from file digests).
pub fn env_value_digest(value: &str) -> Digest {
  let mut h = Xxh3::new();
  h.update(b"farm-env-value\0");
  h.update(value.as_bytes());
  Digest(h.digest128())
}

impl KeyInput {
  /// Computes the key and returns the manifest that describes it.
  pub fn into_manifest(self) -> KeyManifest {
    let mut inputs = self.inputs;
    inputs.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    inputs.dedup_by(|a, b| a.path == b.path);
    let mut m = KeyManifest {
      schema_version: self.schema_version,
      encoding_version: KEY_ENCODING_VERSION,
      task: self.task,
      key: String::new(),
      inputs,
      config: canonicalize(self.config),
      env: self.env.into_iter().map(|(k, v)| (k, v.as_deref().map(env_value_digest))).collect(),
      tools: self.tools,
      deps: self.deps,
      extra: self.extra,
      machine: self.machine,
    };
    m.key = m.compute_key();
    m
  }
}

/// Picks the declared env vars out of an environment: `names` are the task's declared names,
/// `get` reads a variable (e.g. `|n| std::env::var(n).ok()`). Undeclared variables never reach
/// the key.
pub fn declared_env(
  names: &[String],
  get: impl Fn(&str) -> Option<String>,
) -> BTreeMap<String, Option<String>> {
  names.iter().map(|n| (n.clone(), get(n))).collect()
}

/// Length-prefixed writer over the hasher, so no two field sequences encode alike.
struct Enc(Xxh3);

impl Enc {
  fn u32(&mut self, v: u32) {
    self.0.update(&v.to_le_bytes());
  }
  fn u64(&mut self, v: u64) {
    self.0.update(&v.to_le_bytes());
  }
  fn str(&mut self, s: &str) {
    self.u64(s.len() as u64);
    self.0.update(s.as_bytes());
  }
  fn digest(&mut self, d: Digest) {
    self.0.update(&d.0.to_le_bytes());
  }
  fn tag(&mut self, t: &str) {
    self.str(t);
  }
}

impl KeyManifest {
  /// Recomputes the key from the manifest's fields (the key field itself is not read).
  pub fn compute_key(&self) -> String {
    let mut e = Enc(Xxh3::new());
    e.tag("farm-task-key");
    e.u32(self.encoding_version);
    e.u32(self.schema_version);
    e.tag("task");
    e.str(&self.task);
    e.tag("inputs");
    e.u64(self.inputs.len() as u64);
    for f in &self.inputs {
      e.str(&f.path);
      e.digest(f.hash);
    }
    e.tag("config");
    e.str(&canonical_json(&self.config));
    e.tag("env");
    e.u64(self.env.len() as u64);
    for (k, v) in &self.env {
      e.str(k);
      match v {
        Some(d) => {
          e.u32(1);
          e.digest(*d);
        }
        None => e.u32(0),
      }
    }
    for (tag, map) in [("tools", &self.tools), ("deps", &self.deps)] {
      e.tag(tag);
      e.u64(map.len() as u64);
      for (k, v) in map {
        e.str(k);
        e.str(v);
      }
    }
    e.tag("extra");
    e.u64(self.extra.len() as u64);
    for (k, v) in &self.extra {
      e.str(k);
      e.digest(*v);
    }
    // Only when present, so the keys of portable tasks are those of encoding version 1.
    if !self.machine.is_empty() {
      e.tag("machine");
      e.u64(self.machine.len() as u64);
      for (k, v) in &self.machine {
        e.str(k);
        e.str(v);
      }
    }
    Digest(e.0.digest128()).to_hex()
  }

  /// Adds env entries that arrive already digested (name → [`env_value_digest`] of the value,
  /// e.g. a backend's `envFile` variables) and recomputes the key. An entry replaces a declared
  /// variable of the same name.
  pub fn with_env_digests(mut self, digests: impl IntoIterator<Item = (String, Digest)>) -> Self {
    let before = self.env.len();
    let mut changed = false;
    for (name, d) in digests {
      changed |= self.env.insert(name, Some(d)) != Some(Some(d));
    }
    if changed || self.env.len() != before {
      self.key = self.compute_key();
    }
    self
  }

  /// True when the key holds the [`LOCATION_FACT`]: its outputs embed the absolute path they were
  /// built at, so the entry must not be shared with another machine (a remote cache). Other
  /// machine facts (an interpreter's home and digest) make machines that differ compute other
  /// keys, so they do not bind the entry.
  pub fn is_machine_bound(&self) -> bool {
    self.machine.contains_key(LOCATION_FACT)
  }

  /// True when `key` matches the fields (detects a tampered or mis-decoded manifest).
  pub fn is_consistent(&self) -> bool {
    self.key == self.compute_key()
  }
}

/// The machine fact naming the absolute location an output embeds (see
/// [`KeyManifest::is_machine_bound`]).
pub const LOCATION_FACT: &str = "outputPath";

/// Returns `v` with every object's keys in sorted order (whatever serde_json's map type is).
pub fn canonicalize(v: Value) -> Value {
  match v {
    Value::Object(map) => {
      let mut entries: Vec<(String, Value)> = map.into_iter().collect();
      entries.sort_by(|a, b| a.0.cmp(&b.0));
      Value::Object(entries.into_iter().map(|(k, v)| (k, canonicalize(v))).collect())
    }
    Value::Array(a) => Value::Array(a.into_iter().map(canonicalize).collect()),
    other => other,
  }
}

/// Compact JSON with object keys sorted, independent of serde_json's `preserve_order` feature.
pub fn canonical_json(v: &Value) -> String {
  let mut out = String::new();
  write_canonical(v, &mut out);
  out
}

fn write_canonical(v: &Value, out: &mut String) {
  match v {
    Value::Object(map) => {
      let mut keys: Vec<&String> = map.keys().collect();
      keys.sort();
      out.push('{');
      for (i, k) in keys.into_iter().enumerate() {
        if i > 0 {
          out.push(',');
        }
        out.push_str(&Value::String(k.clone()).to_string());
        out.push(':');
        if let Some(child) = map.get(k) {
          write_canonical(child, out);
        }
      }
      out.push('}');
    }
    Value::Array(a) => {
      out.push('[');
      for (i, x) in a.iter().enumerate() {
        if i > 0 {
          out.push(',');
        }
        write_canonical(x, out);
      }
      out.push(']');
    }
    other => out.push_str(&other.to_string()),
  }
}
