//! Facts of tools that enter keys, learnt by running the tool, then remembered in
//! `<cacheDir>/tool-facts.json` with a stamp of what they depend on, so a no-op build starts no
//! Python (100–200 ms) and no `uv --version`.
//!
//! A Python interpreter's facts are its version with a digest of the distributions it imports, and
//! the home and executable digest a venv made from it embeds.
//!
//! The stamp is the `stat` (size, mtime, ctime, inode) of the interpreter as named (and where its
//! symlinks lead), of the base executable, of every `sys.path` entry (an install or upgrade adds
//! and removes `*.dist-info` directories, which changes its directory's mtime; a new `.pth` file
//! too) and of the user site directory even when it does not exist yet, plus the values of the env
//! vars that change `sys.path` and the `PATH` lookup of a bare name. Any difference re-runs the
//! probe. Git's racy-timestamp rule applies: a stamp whose files changed at or after the probe
//! started is not trusted.
//!
//! An executable's `--version` is remembered with the stat of the executable and of every link on
//! the way to it, unless it is a script (`#!`: a version manager's shim, such as pyenv's, picks
//! the real tool at each run), which is asked every build.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// File name of the remembered facts under the cache dir.
pub const FILE: &str = "tool-facts.json";

/// Version of the file's layout and of the probe: bump to re-probe everywhere.
const VERSION: u32 = 1;

/// Env vars that change what an interpreter imports.
const ENV: &[&str] =
  &["PYTHONPATH", "PYTHONHOME", "PYTHONNOUSERSITE", "PYTHONUSERBASE", "PYTHONSAFEPATH"];

/// Prints one JSON object: version, distributions digest, base home and executable, and the paths
/// whose stat the facts depend on. The current directory is left out of `sys.path`, so a
/// distribution's metadata in the directory farm runs from does not count.
const PROBE: &str = r#"import sys, os, hashlib, json, site
sys.path[:] = [p for p in sys.path if p not in ('', '.')]
try:
  import importlib.metadata as m
  d = sorted('%s==%s' % (x.metadata['Name'], x.version) for x in m.distributions())
except Exception:
  d = []
b = getattr(sys, '_base_executable', '') or sys.executable
try:
  u = site.getusersitepackages()
except Exception:
  u = ''
print(json.dumps({
  'version': '%d.%d.%d' % sys.version_info[:3],
  'pkgs': hashlib.sha256('\n'.join(d).encode()).hexdigest()[:16],
  'home': os.path.dirname(b),
  'exe': os.path.realpath(b),
  'paths': [os.path.abspath(p) for p in sys.path] + ([u] if u else []) + [os.path.realpath(sys.executable)],
}))"#;

/// What keys take from an interpreter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PythonFacts {
  /// `major.minor.patch pkgs:<16 hex>`: the version and a digest of the names and versions of the
  /// distributions it imports (upgrading FastAPI changes the OpenAPI document).
  pub version: String,
  /// `<home> exe:<16 hex>`: the directory a venv's `pyvenv.cfg` names as `home` and a digest of the
  /// base executable's bytes (a venv's `bin/python` is a copy of it).
  pub home: String,
}

/// The stat of one path as the stamp keeps it (`None`: missing).
type PathStat = Option<(u64, i64, i64, u64)>;

/// One remembered probe.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Remembered {
  facts: PythonFacts,
  /// The env values and the resolved executable, joined.
  env: String,
  /// Path → stat when the probe ran.
  stamp: BTreeMap<PathBuf, PathStat>,
  /// When the probe started (ns since the epoch).
  probed_at: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct FactsFile {
  version: u32,
  /// By the interpreter as configured (a name on `PATH` or a path).
  interpreters: BTreeMap<String, Remembered>,
  /// `--version` by executable path.
  #[serde(default)]
  executables: BTreeMap<PathBuf, RememberedVersion>,
}

/// One remembered `--version`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RememberedVersion {
  version: String,
  stamp: BTreeMap<PathBuf, PathStat>,
  probed_at: i64,
}

/// Whether every stamped path still has its stat, and none changed at or after `probed_at`.
fn stamp_holds(stamp: &BTreeMap<PathBuf, PathStat>, probed_at: i64) -> bool {
  stamp.iter().all(|(p, s)| {
    let now = stat(p);
    now == *s && now.is_none_or(|(_, mtime, ctime, _)| mtime < probed_at && ctime < probed_at)
  })
}

/// The probe's raw answer.
#[derive(Debug, Deserialize)]
struct Probed {
  version: String,
  pkgs: String,
  home: String,
  exe: PathBuf,
  paths: Vec<PathBuf>,
}

/// Facts of the tools a build uses: memoized for the build, remembered across builds.
#[derive(Debug)]
pub struct ToolFacts {
  /// The file (`None`: nothing is remembered across builds).
  file: Option<PathBuf>,
  memo: Mutex<BTreeMap<String, Option<PythonFacts>>>,
  versions: Mutex<BTreeMap<PathBuf, String>>,
  /// Serializes read-modify-write of the file within this process.
  write: Mutex<()>,
}

impl ToolFacts {
  /// Facts remembered in `<cache_dir>/tool-facts.json`.
  pub fn new(cache_dir: &Path) -> Self {
    ToolFacts {
      file: Some(cache_dir.join(FILE)),
      memo: Mutex::default(),
      versions: Mutex::default(),
      write: Mutex::default(),
    }
  }

  /// The first line of `<exe> --version` (`absent` when it does not run).
  pub fn exe_version(&self, exe: &Path) -> String {
    if let Some(v) = self.versions.lock().ok().and_then(|m| m.get(exe).cloned()) {
      return v;
    }
    let remembered =
      self.load().executables.remove(exe).filter(|r| stamp_holds(&r.stamp, r.probed_at));
    let v = match remembered {
      Some(r) => r.version,
      None => {
        let probed_at = now_ns();
        let chain = resolved(&exe.to_string_lossy());
        let v = crate::run::process::probe(&exe.to_string_lossy(), &["--version"], None)
          .map(|o| o.lines().next().unwrap_or("").to_string());
        let script = chain.last().is_some_and(|p| is_script(p));
        match v {
          Some(v) if !script => {
            let stamp = chain.into_iter().map(|p| {
              let s = stat(&p);
              (p, s)
            });
            let r = RememberedVersion { version: v.clone(), stamp: stamp.collect(), probed_at };
            self.update(|f| {
              f.executables.insert(exe.to_path_buf(), r);
            });
            v
          }
          Some(v) => v,
          None => "absent".into(),
        }
      }
    };
    if let Ok(mut m) = self.versions.lock() {
      m.insert(exe.to_path_buf(), v.clone());
    }
    v
  }

  /// Reads the file, changes it and writes it back (best effort: a file that cannot be written
  /// only costs a probe next time).
  fn update(&self, change: impl FnOnce(&mut FactsFile)) {
    let Some(file) = &self.file else { return };
    let _held = self.write.lock();
    let mut all = self.load();
    all.version = VERSION;
    change(&mut all);
    if let Ok(bytes) = serde_json::to_vec(&all) {
      let _ = write_atomic(file, &bytes);
    }
  }

  /// The facts of `python` (a name on `PATH` or a path); `None` when it does not run.
  pub fn python(&self, python: &str) -> Option<PythonFacts> {
    if let Some(f) = self.memo.lock().ok().and_then(|m| m.get(python).cloned()) {
      return f;
    }
    let facts = self.remembered(python).or_else(|| self.probe_and_remember(python));
    if let Ok(mut m) = self.memo.lock() {
      m.insert(python.to_string(), facts.clone());
    }
    facts
  }

  fn load(&self) -> FactsFile {
    let Some(file) = &self.file else { return FactsFile::default() };
    std::fs::read(file)
      .ok()
      .and_then(|b| serde_json::from_slice::<FactsFile>(&b).ok())
      .filter(|f| f.version == VERSION)
      .unwrap_or_default()
  }

  fn remembered(&self, python: &str) -> Option<PythonFacts> {
    let r = self.load().interpreters.remove(python)?;
    let fresh = r.env == env_stamp(python)
      && r.stamp.iter().all(|(p, s)| {
        let now = stat(p);
        now == *s
          && now.is_none_or(|(_, mtime, ctime, _)| mtime < r.probed_at && ctime < r.probed_at)
      });
    fresh.then_some(r.facts)
  }

  fn probe_and_remember(&self, python: &str) -> Option<PythonFacts> {
    let probed_at = now_ns();
    let env = env_stamp(python);
    let (facts, probed) = probe(python, None)?;
    let mut paths = probed.paths;
    paths.push(probed.exe);
    paths.extend(resolved(python));
    let stamp = paths.into_iter().map(|p| {
      let s = stat(&p);
      (p, s)
    });
    let r = Remembered { facts: facts.clone(), env, stamp: stamp.collect(), probed_at };
    self.update(|f| {
      f.interpreters.insert(python.to_string(), r);
    });
    Some(facts)
  }
}

/// Runs the probe with `python` (in `cwd` when given).
fn probe(python: &str, cwd: Option<&Path>) -> Option<(PythonFacts, Probed)> {
  let out = crate::run::process::probe(python, &["-c", PROBE], cwd)?;
  let p: Probed = serde_json::from_str(out.lines().last()?).ok()?;
  let exe = crate::hash::hash_file(&p.exe).ok()?.0.to_hex();
  let facts = PythonFacts {
    version: format!("{} pkgs:{}", p.version, p.pkgs),
    home: format!("{} exe:{}", p.home, &exe[..16]),
  };
  Some((facts, p))
}

/// The version string of `python` as keys take it, probed now (in `cwd` when given);
/// `unavailable` when it does not run.
pub fn probe_version(python: &str, cwd: Option<&Path>) -> String {
  probe(python, cwd).map_or_else(|| "unavailable".into(), |(f, _)| f.version)
}

/// The executable `python` names and every link on the way to its target (a venv's `bin/python`
/// is a symlink; recreating the venv changes them).
fn resolved(python: &str) -> Vec<PathBuf> {
  let first = if python.contains('/') {
    Some(PathBuf::from(python))
  } else {
    crate::builders::backend::venv::find_on_path(python)
  };
  let mut out = Vec::new();
  let mut cur = first;
  while let Some(p) = cur.take() {
    if out.contains(&p) || out.len() > 16 {
      break;
    }
    out.push(p.clone());
    if let Ok(target) = std::fs::read_link(&p) {
      cur = Some(p.parent().unwrap_or(Path::new("/")).join(target));
    }
  }
  out
}

/// What besides files the facts depend on: the env vars that change `sys.path` and where a bare
/// name resolves.
fn env_stamp(python: &str) -> String {
  let mut s = String::new();
  for name in ENV {
    s.push_str(name);
    s.push('=');
    s.push_str(&std::env::var(name).unwrap_or_default());
    s.push('\0');
  }
  if let Some(p) = resolved(python).first() {
    s.push_str(&p.to_string_lossy());
  }
  s
}

/// Whether `p` starts with `#!`.
fn is_script(p: &Path) -> bool {
  use std::io::Read;
  let mut head = [0u8; 2];
  std::fs::File::open(p).and_then(|mut f| f.read_exact(&mut head)).is_ok() && &head == b"#!"
}

fn stat(p: &Path) -> PathStat {
  use std::os::unix::fs::MetadataExt;
  let m = std::fs::metadata(p).ok()?;
  let ctime = m.ctime().saturating_mul(1_000_000_000).saturating_add(m.ctime_nsec());
  Some((m.size(), crate::hash::modified_ns(&m), ctime, m.ino()))
}

fn now_ns() -> i64 {
  std::time::SystemTime::now()
    .duration_since(std::time::UNIX_EPOCH)
    .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn write_atomic(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
  if let Some(dir) = file.parent() {
    std::fs::create_dir_all(dir)?;
  }
  let tmp = file.with_extension(format!("tmp-{}", std::process::id()));
  std::fs::write(&tmp, bytes)?;
  std::fs::rename(&tmp, file)
}

#[cfg(test)]
mod tests {
  use super::*;

  /// A venv made now (its interpreter runs; its site-packages is a place to install into).
  fn venv(dir: &Path) -> PathBuf {
    let ok = std::process::Command::new("python3")
      .args(["-m", "venv", "--without-pip"])
      .arg(dir)
      .status()
      .is_ok_and(|s| s.success());
    assert!(ok, "python3 -m venv is needed");
    dir.join("bin/python")
  }

  fn site_packages(venv: &Path) -> PathBuf {
    let lib = venv.join("lib");
    let py = std::fs::read_dir(&lib).unwrap().next().unwrap().unwrap().path();
    py.join("site-packages")
  }

  /// Lets the racy-timestamp window pass, so the probe's stamp is trusted.
  fn settle() {
    std::thread::sleep(std::time::Duration::from_millis(20));
  }

  #[test]
  fn remembered_facts_are_reused_until_a_distribution_is_installed() {
    let t = tempfile::tempdir().unwrap();
    let v = t.path().join("venv");
    let python = venv(&v).to_string_lossy().into_owned();
    settle();
    let cache = t.path().join("cache");
    let first = ToolFacts::new(&cache).python(&python).expect("the probe runs");
    assert!(first.version.starts_with("3.") && first.version.contains(" pkgs:"), "{first:?}");
    assert!(first.home.contains(" exe:"), "{first:?}");
    assert!(cache.join(FILE).is_file());
    // A new build (a new value) takes the remembered facts: prove it by corrupting them on disk
    // consistently — what comes back is what the file says, not a new probe.
    let text = std::fs::read_to_string(cache.join(FILE)).unwrap();
    std::fs::write(cache.join(FILE), text.replace(&first.version, "9.9.9 pkgs:remembered"))
      .unwrap();
    let again = ToolFacts::new(&cache).python(&python).unwrap();
    assert_eq!(again.version, "9.9.9 pkgs:remembered");
    // Installing a distribution (a dist-info directory appears in site-packages) re-probes.
    let meta = site_packages(&v).join("farm_probe_dep-1.0.dist-info");
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(
      meta.join("METADATA"),
      "Metadata-Version: 2.1\nName: farm-probe-dep\nVersion: 1.0\n",
    )
    .unwrap();
    let after = ToolFacts::new(&cache).python(&python).unwrap();
    assert!(after.version.starts_with("3."), "{after:?}");
    assert_ne!(after.version, first.version, "the new distribution changes the digest");
    settle();
    // ...and an upgrade (the dist-info renamed) too.
    std::fs::rename(&meta, site_packages(&v).join("farm_probe_dep-2.0.dist-info")).unwrap();
    let m2 = site_packages(&v).join("farm_probe_dep-2.0.dist-info/METADATA");
    std::fs::write(&m2, "Metadata-Version: 2.1\nName: farm-probe-dep\nVersion: 2.0\n").unwrap();
    let upgraded = ToolFacts::new(&cache).python(&python).unwrap();
    assert_ne!(upgraded.version, after.version);
  }

  #[test]
  fn a_recreated_venv_or_a_racy_stamp_re_probes() {
    let t = tempfile::tempdir().unwrap();
    let v = t.path().join("venv");
    let python = venv(&v).to_string_lossy().into_owned();
    settle();
    let cache = t.path().join("cache");
    let first = ToolFacts::new(&cache).python(&python).unwrap();
    let text = std::fs::read_to_string(cache.join(FILE)).unwrap();
    std::fs::write(cache.join(FILE), text.replace(&first.version, "9.9.9 pkgs:stale")).unwrap();
    // The venv deleted and made again: its links and directories are new.
    std::fs::remove_dir_all(&v).unwrap();
    venv(&v);
    let again = ToolFacts::new(&cache).python(&python).unwrap();
    assert_eq!(again.version, first.version, "re-probed, not the stale remembered value");
    // A stamp changed during the probe is not trusted (racy timestamps): simulate by a probe time
    // before the files' mtimes.
    let text = std::fs::read_to_string(cache.join(FILE)).unwrap();
    let mut f: FactsFile = serde_json::from_str(&text).unwrap();
    let r = f.interpreters.get_mut(&python).unwrap();
    r.facts.version = "9.9.9 pkgs:racy".into();
    r.probed_at = 0;
    std::fs::write(cache.join(FILE), serde_json::to_vec(&f).unwrap()).unwrap();
    assert_eq!(ToolFacts::new(&cache).python(&python).unwrap().version, first.version);
  }

  #[test]
  fn an_executables_version_is_remembered_until_it_changes_but_a_script_is_asked_each_time() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let cache = t.path().join("cache");
    let tool = t.path().join("tool");
    std::fs::copy("/bin/true", &tool).unwrap();
    settle();
    let v = ToolFacts::new(&cache).exe_version(&tool);
    assert!(v.contains("true"), "{v}");
    let text = std::fs::read_to_string(cache.join(FILE)).unwrap();
    std::fs::write(cache.join(FILE), text.replace(&v, "remembered 1.0")).unwrap();
    assert_eq!(ToolFacts::new(&cache).exe_version(&tool), "remembered 1.0");
    // A new binary in its place (another inode, size or mtime) is asked again.
    std::fs::remove_file(&tool).unwrap();
    std::fs::copy("/bin/true", &tool).unwrap();
    assert_eq!(ToolFacts::new(&cache).exe_version(&tool), v);
    // A shim script is asked every time: its answer depends on more than its own bytes.
    let shim = t.path().join("shim");
    std::fs::write(&shim, "#!/bin/sh\necho \"shim $(cat \"$0.v\")\"\n").unwrap();
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(t.path().join("shim.v"), "1").unwrap();
    assert_eq!(ToolFacts::new(&cache).exe_version(&shim), "shim 1");
    std::fs::write(t.path().join("shim.v"), "2").unwrap();
    assert_eq!(ToolFacts::new(&cache).exe_version(&shim), "shim 2");
    assert_eq!(ToolFacts::new(&cache).exe_version(&t.path().join("missing")), "absent");
  }

  #[test]
  fn a_missing_interpreter_has_no_facts_and_nothing_is_remembered() {
    let t = tempfile::tempdir().unwrap();
    let cache = ToolFacts::new(t.path());
    assert_eq!(cache.python("/nonexistent/python3"), None);
    assert!(!t.path().join(FILE).exists());
  }
}
