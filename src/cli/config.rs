//! The project's config without Node: `farm.config.json` as it is, or the value of a
//! `farm.config.ts`/`.mts`/`.mjs`/`.js` from the cache `js/config-cache.mjs` writes, when every part
//! of its key is unchanged — re-hashed here exactly as that module hashes them (the config file and
//! its local imports, the lockfile, the Node.js and farm versions, the env vars it reads).

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The config files looked for, in order (`CANDIDATES` of `js/config.mjs`).
pub const CANDIDATES: [&str; 5] =
  ["farm.config.ts", "farm.config.mts", "farm.config.mjs", "farm.config.js", "farm.config.json"];
const LOCKFILES: [&str; 6] = [
  "package-lock.json",
  "pnpm-lock.yaml",
  "yarn.lock",
  "bun.lock",
  "bun.lockb",
  "npm-shrinkwrap.json",
];
/// The entry format `js/config-cache.mjs` writes (`FORMAT`).
const FORMAT: u64 = 1;

/// A config value ready for the orchestrator.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
  /// The JSON value.
  pub value: serde_json::Value,
  /// The config file, relative to the root (as error messages name it).
  pub file: String,
}

/// Why the config must be loaded by Node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NeedsNode {
  /// No config file: Node reports it.
  #[error("no farm.config.* in {0}")]
  NoConfig(String),
  /// A JSON config that does not parse, or is not an object: Node reports it.
  #[error("{0} is not a JSON object")]
  BadJson(String),
  /// No cached value of a script config yet.
  #[error("{0} has no cached value yet")]
  NotCached(String),
  /// The cached value is older than something its key covers.
  #[error("the cached value of {file} is stale ({part} changed)")]
  Stale {
    /// The config file.
    file: String,
    /// What changed.
    part: &'static str,
  },
}

/// Loads the config of `root` (absolute, normalized) for a build run with Node.js `node_version`
/// (`v20.19.0`).
pub fn load(root: &Path, node_version: &str) -> Result<LoadedConfig, NeedsNode> {
  let file = CANDIDATES
    .iter()
    .map(|c| root.join(c))
    .find(|p| p.exists())
    .ok_or_else(|| NeedsNode::NoConfig(root.display().to_string()))?;
  let rel = relative(root, &file);
  if rel.ends_with(".json") {
    let value: serde_json::Value = std::fs::read(&file)
      .ok()
      .and_then(|b| serde_json::from_slice(&b).ok())
      .filter(serde_json::Value::is_object)
      .ok_or_else(|| NeedsNode::BadJson(rel.clone()))?;
    return Ok(LoadedConfig { value, file: rel });
  }
  let value = cached_value(root, &file, node_version)?;
  Ok(LoadedConfig { value, file: rel })
}

/// `cachePath` of `js/config-cache.mjs`.
pub fn cache_path(root: &Path, config_file: &Path) -> PathBuf {
  let name = config_file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
  root.join(".farm").join("cache").join("config").join(format!("{name}.json"))
}

/// `readCached` of `js/config-cache.mjs`.
fn cached_value(root: &Path, file: &Path, node: &str) -> Result<serde_json::Value, NeedsNode> {
  let rel = relative(root, file);
  let not_cached = || NeedsNode::NotCached(rel.clone());
  let bytes = std::fs::read(cache_path(root, file)).map_err(|_| not_cached())?;
  let mut entry: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| not_cached())?;
  let key = entry.get("key").ok_or_else(not_cached)?;
  if key.get("format").and_then(|f| f.as_u64()) != Some(FORMAT)
    || key.get("files").is_none_or(serde_json::Value::is_null)
    || !entry.get("deps").is_some_and(|d| d.is_array())
  {
    return Err(not_cached());
  }
  let stale = |part| NeedsNode::Stale { file: rel.clone(), part };
  let deps: Vec<PathBuf> = entry["deps"]
    .as_array()
    .into_iter()
    .flatten()
    .map(|d| d.as_str().map(|d| normalize(&root.join(d))).ok_or_else(|| stale("deps")))
    .collect::<Result<_, _>>()?;
  let env_names: Vec<String> = key
    .get("env")
    .and_then(|e| e.as_object())
    .map(|o| o.keys().cloned().collect())
    .unwrap_or_default();
  let now = parts(root, file, &deps, &env_names, node);
  for part in ["format", "farm", "node", "lockfile", "files", "env"] {
    if now.get(part) != key.get(part) {
      return Err(stale(part));
    }
  }
  // `same()` compares JSON.stringify output: key order and extra keys count too.
  if serde_json::to_string(&now).ok() != serde_json::to_string(key).ok() {
    return Err(stale("key"));
  }
  entry
    .get_mut("config")
    .map(serde_json::Value::take)
    .filter(|c| c.is_object())
    .ok_or_else(not_cached)
}

fn sha_hex(bytes: &[u8]) -> String {
  crate::report::hex(&Sha256::digest(bytes))
}

/// `parts()` of `js/config-cache.mjs`: the key of a config with these dependency files and env names.
fn parts(
  root: &Path,
  file: &Path,
  deps: &[PathBuf],
  env_names: &[String],
  node: &str,
) -> serde_json::Value {
  let mut files = serde_json::Map::new();
  for f in std::iter::once(file).chain(deps.iter().map(PathBuf::as_path)) {
    let name = relative(root, f);
    let name = if name.is_empty() { f.to_string_lossy().into_owned() } else { name };
    let digest = std::fs::read(f).map(|b| sha_hex(&b)).unwrap_or_else(|_| "missing".into());
    files.insert(name, digest.into());
  }
  let mut env = serde_json::Map::new();
  for n in env_names {
    let v = match std::env::var_os(n) {
      None => "unset".to_string(),
      Some(v) => {
        let mut b = b"farm-env\0".to_vec();
        b.extend_from_slice(v.to_string_lossy().as_bytes());
        sha_hex(&b)
      }
    };
    env.insert(n.clone(), v.into());
  }
  serde_json::json!({
    "format": FORMAT,
    "farm": env!("CARGO_PKG_VERSION"),
    "node": node,
    "lockfile": lockfile_digest(root),
    "files": files,
    "env": env,
  })
}

/// `lockfileDigest()`: the first lockfile from the root up to the repository's top.
fn lockfile_digest(root: &Path) -> String {
  let mut dir = root.to_path_buf();
  loop {
    for l in LOCKFILES {
      let p = dir.join(l);
      if p.exists() {
        let digest = std::fs::read(&p).map(|b| sha_hex(&b)).unwrap_or_default();
        return format!("{l}:{digest}");
      }
    }
    if dir.join(".git").exists() || !dir.pop() {
      return "none".into();
    }
  }
}

/// `path.resolve()` of an absolute path: `.` and `..` removed lexically.
pub use crate::builders::web_inputs::normalize;

/// `path.relative(from, to)` of two normalized absolute paths, with `/`.
pub fn relative(from: &Path, to: &Path) -> String {
  let a: Vec<_> = from.components().collect();
  let b: Vec<_> = to.components().collect();
  let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
  let ups = std::iter::repeat_n("..".to_string(), a.len() - common);
  let downs = b[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned());
  ups.chain(downs).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn paths_as_node_path_module() {
    assert_eq!(normalize(Path::new("/a/b/../c/./d")), PathBuf::from("/a/c/d"));
    assert_eq!(relative(Path::new("/a/b"), Path::new("/a/b/c/d.ts")), "c/d.ts");
    assert_eq!(relative(Path::new("/a/b"), Path::new("/a/x.ts")), "../x.ts");
    assert_eq!(relative(Path::new("/a/b"), Path::new("/a/b")), "");
  }

  #[test]
  fn the_crate_and_the_npm_package_have_one_version() {
    // The cache entry's `farm` part is package.json's version; this binary compares its own.
    let pkg: serde_json::Value =
      serde_json::from_str(include_str!("../../package.json")).expect("package.json");
    assert_eq!(pkg["version"], env!("CARGO_PKG_VERSION"));
  }

  #[test]
  fn a_fresh_entry_is_used_and_any_change_makes_it_stale() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::create_dir(root.join(".git")).unwrap();
    std::fs::write(root.join("farm.config.ts"), "export default { appName: 'a' }").unwrap();
    std::fs::write(root.join("shared.ts"), "export const x = 1").unwrap();
    std::fs::write(root.join("package-lock.json"), "{}").unwrap();
    let deps = vec![root.join("shared.ts")];
    let env = vec!["FARM_CLI_TEST_UNSET_VAR".to_string()];
    let key = parts(&root, &root.join("farm.config.ts"), &deps, &env, "v20.1.0");
    assert_eq!(key["files"]["farm.config.ts"], sha_hex(b"export default { appName: 'a' }"));
    assert_eq!(key["lockfile"], format!("package-lock.json:{}", sha_hex(b"{}")));
    assert_eq!(key["env"]["FARM_CLI_TEST_UNSET_VAR"], "unset");
    let entry =
      serde_json::json!({ "key": key, "deps": ["shared.ts"], "config": { "appName": "a" } });
    let cache = cache_path(&root, &root.join("farm.config.ts"));
    std::fs::create_dir_all(cache.parent().unwrap()).unwrap();
    std::fs::write(&cache, serde_json::to_vec(&entry).unwrap()).unwrap();

    let loaded = load(&root, "v20.1.0").unwrap();
    assert_eq!(loaded.value, serde_json::json!({ "appName": "a" }));
    assert_eq!(loaded.file, "farm.config.ts");
    assert!(matches!(load(&root, "v22.0.0"), Err(NeedsNode::Stale { part: "node", .. })));
    std::fs::write(root.join("shared.ts"), "export const x = 2").unwrap();
    assert!(matches!(load(&root, "v20.1.0"), Err(NeedsNode::Stale { part: "files", .. })));
    std::fs::write(root.join("shared.ts"), "export const x = 1").unwrap();
    std::fs::write(root.join("package-lock.json"), "{ }").unwrap();
    assert!(matches!(load(&root, "v20.1.0"), Err(NeedsNode::Stale { part: "lockfile", .. })));
    std::fs::remove_file(&cache).unwrap();
    assert!(matches!(load(&root, "v20.1.0"), Err(NeedsNode::NotCached(_))));
  }
}
