//! The interpreter check: before anything is compiled, the chosen Python's version must satisfy the
//! project's `requires-python` (PEP 440 specifiers, from the nearest `pyproject.toml` that declares
//! it) and its `.python-version` (the nearest one), both looked up from the backend root up to the
//! project root. A mismatch is a clear error naming both versions, the file that asks, and how to
//! pick another interpreter — instead of a raw `SyntaxError` from compileall.

use super::project::{ancestors_within, ProjectError, PyProject};
use super::venv::find_on_path;
use crate::config::{resolve, BackendConfig};
use std::cmp::Ordering;
use std::path::{Path, PathBuf};

/// Prints the interpreter's version as `X.Y.Z`.
const VERSION_PROBE: &str = "import sys; print('%d.%d.%d' % sys.version_info[:3])";

/// A PEP 440 version, enough to order interpreter versions against specifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyVersion {
  /// The epoch (`N!`), usually 0.
  pub epoch: u64,
  /// The release numbers (`3.12.1` → `[3, 12, 1]`).
  pub release: Vec<u64>,
  /// A pre-release: kind (0 = a, 1 = b, 2 = rc) and number.
  pub pre: Option<(u8, u64)>,
  /// A post-release number.
  pub post: Option<u64>,
  /// A dev-release number.
  pub dev: Option<u64>,
}

/// Reads the digits at the start of `s`; returns the number and the rest.
fn leading_number(s: &str) -> Option<(u64, &str)> {
  let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
  if end == 0 {
    return None;
  }
  Some((s[..end].parse().ok()?, &s[end..]))
}

/// An optional `[-_.]?label[-_.]?N` suffix (`label` any of `labels`); returns the number (0 when
/// absent) and the rest, `None` when `s` does not start with one of the labels.
fn suffix<'a>(s: &'a str, labels: &[&str]) -> Option<(u64, &'a str)> {
  let t = s.strip_prefix(['-', '_', '.']).unwrap_or(s);
  let label = labels.iter().find(|l| t.starts_with(*l))?;
  let t = &t[label.len()..];
  let t2 = t.strip_prefix(['-', '_', '.']).unwrap_or(t);
  Some(leading_number(t2).unwrap_or((0, t)))
}

impl PyVersion {
  /// Parses a PEP 440 version (`v` prefix, epoch, pre/post/dev, a `+local` part ignored).
  pub fn parse(s: &str) -> Option<PyVersion> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.split('+').next().unwrap_or("");
    let mut rest = s.strip_prefix('v').unwrap_or(s);
    let mut epoch = 0;
    if let Some((e, r)) = leading_number(rest).filter(|(_, r)| r.starts_with('!')) {
      epoch = e;
      rest = &r[1..];
    }
    let mut release = Vec::new();
    loop {
      let (n, r) = leading_number(rest)?;
      release.push(n);
      match r.strip_prefix('.').filter(|r| r.starts_with(|c: char| c.is_ascii_digit())) {
        Some(r) => rest = r,
        None => {
          rest = r;
          break;
        }
      }
    }
    let mut v = PyVersion { epoch, release, pre: None, post: None, dev: None };
    for (kind, labels) in
      [(0u8, &["alpha", "a"][..]), (1, &["beta", "b"][..]), (2, &["rc", "c", "preview", "pre"][..])]
    {
      if let Some((n, r)) = suffix(rest, labels) {
        v.pre = Some((kind, n));
        rest = r;
        break;
      }
    }
    if let Some((n, r)) = suffix(rest, &["post", "rev", "r"]) {
      v.post = Some(n);
      rest = r;
    } else if let Some((n, r)) = rest.strip_prefix('-').and_then(leading_number) {
      v.post = Some(n);
      rest = r;
    }
    if let Some((n, r)) = suffix(rest, &["dev"]) {
      v.dev = Some(n);
      rest = r;
    }
    rest.is_empty().then_some(v)
  }

  /// The release padded with zeros to `n` numbers.
  fn padded(&self, n: usize) -> Vec<u64> {
    let mut r = self.release.clone();
    r.resize(n.max(r.len()), 0);
    r
  }

  /// `(pre, post, dev)` as sortable numbers: dev < pre < final < post.
  fn suffix_key(&self) -> (i128, i128, i128) {
    let pre = match (self.pre, self.post, self.dev) {
      (Some((k, n)), _, _) => (k as i128) << 64 | n as i128,
      (None, None, Some(_)) => -1,
      _ => i128::MAX,
    };
    let post = self.post.map_or(-1, |n| n as i128);
    let dev = self.dev.map_or(i128::MAX, |n| n as i128);
    (pre, post, dev)
  }

  fn cmp_to(&self, other: &PyVersion) -> Ordering {
    let n = self.release.len().max(other.release.len());
    self
      .epoch
      .cmp(&other.epoch)
      .then_with(|| self.padded(n).cmp(&other.padded(n)))
      .then_with(|| self.suffix_key().cmp(&other.suffix_key()))
  }
}

impl std::fmt::Display for PyVersion {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    let r: Vec<String> = self.release.iter().map(|n| n.to_string()).collect();
    f.write_str(&r.join("."))
  }
}

/// A comparison operator of a version specifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
  /// `~=`
  Compatible,
  /// `==`
  Eq,
  /// `!=`
  Ne,
  /// `<=`
  Le,
  /// `>=`
  Ge,
  /// `<`
  Lt,
  /// `>`
  Gt,
  /// `===` (string equality)
  Arbitrary,
}

/// One clause of a specifier set, e.g. `>=3.11` or `==3.12.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Specifier {
  /// The operator.
  pub op: Op,
  /// The version as written (without `.*`).
  pub raw: String,
  /// The parsed version (`None` only for `===`).
  pub version: Option<PyVersion>,
  /// `==X.*` / `!=X.*`.
  pub wildcard: bool,
}

/// Parses a comma-separated PEP 440 specifier set (`">=3.11, <3.14"`); an empty string allows
/// every version. The error says which clause is wrong.
pub fn parse_specifiers(s: &str) -> Result<Vec<Specifier>, String> {
  let mut out = Vec::new();
  for clause in s.split(',').map(str::trim).filter(|c| !c.is_empty()) {
    let ops = [
      ("===", Op::Arbitrary),
      ("~=", Op::Compatible),
      ("==", Op::Eq),
      ("!=", Op::Ne),
      ("<=", Op::Le),
      (">=", Op::Ge),
      ("<", Op::Lt),
      (">", Op::Gt),
    ];
    let (op_s, op) = ops
      .iter()
      .find(|(p, _)| clause.starts_with(p))
      .ok_or_else(|| format!("`{clause}` has no operator (>=, >, <=, <, ==, !=, ~=)"))?;
    let raw = clause[op_s.len()..].trim();
    if *op == Op::Arbitrary {
      out.push(Specifier { op: *op, raw: raw.to_string(), version: None, wildcard: false });
      continue;
    }
    let (raw, wildcard) = match raw.strip_suffix(".*") {
      Some(r) if matches!(op, Op::Eq | Op::Ne) => (r, true),
      Some(_) => return Err(format!("`{clause}`: `.*` only goes with == and !=")),
      None => (raw, false),
    };
    let version =
      PyVersion::parse(raw).ok_or_else(|| format!("`{clause}`: {raw:?} is not a version"))?;
    if *op == Op::Compatible && version.release.len() < 2 {
      return Err(format!("`{clause}`: ~= needs at least two numbers (like ~=3.11)"));
    }
    out.push(Specifier { op: *op, raw: raw.to_string(), version: Some(version), wildcard });
  }
  Ok(out)
}

/// Whether the release of `v` starts with `prefix` (missing numbers of `v` count as 0).
fn prefix_match(v: &PyVersion, prefix: &[u64]) -> bool {
  v.padded(prefix.len())[..prefix.len()] == *prefix
}

impl Specifier {
  /// Whether `v` satisfies this clause.
  pub fn matches(&self, v: &PyVersion) -> bool {
    let Some(s) = &self.version else { return v.to_string() == self.raw };
    let ord = v.cmp_to(s);
    match self.op {
      Op::Eq if self.wildcard => v.epoch == s.epoch && prefix_match(v, &s.release),
      Op::Ne if self.wildcard => !(v.epoch == s.epoch && prefix_match(v, &s.release)),
      Op::Eq => ord == Ordering::Equal,
      Op::Ne => ord != Ordering::Equal,
      Op::Ge => ord != Ordering::Less,
      Op::Le => ord != Ordering::Greater,
      // `>V` excludes V's post-releases, `<V` its pre-releases (unless V is one itself).
      Op::Gt => {
        let same = v.epoch == s.epoch && v.padded(s.release.len()) == s.padded(v.release.len());
        ord == Ordering::Greater && !(s.post.is_none() && v.post.is_some() && same)
      }
      Op::Lt => {
        let same = v.epoch == s.epoch && v.padded(s.release.len()) == s.padded(v.release.len());
        ord == Ordering::Less && !(s.pre.is_none() && s.dev.is_none() && v.pre.is_some() && same)
      }
      Op::Compatible => {
        ord != Ordering::Less
          && v.epoch == s.epoch
          && prefix_match(v, &s.release[..s.release.len() - 1])
      }
      Op::Arbitrary => false,
    }
  }
}

/// Whether `v` satisfies every clause.
pub fn satisfies(v: &PyVersion, specs: &[Specifier]) -> bool {
  specs.iter().all(|s| s.matches(v))
}

/// The versions a `.python-version` file asks for: one release prefix per line it understands
/// (`3.12`, `3.12.1`, `cpython-3.12`, `cpython@3.12`, `3.13t`); names without a version
/// (`system`, `pypy3.10-7.3`) are left out.
pub fn parse_python_version_file(text: &str) -> Vec<Vec<u64>> {
  let mut out = Vec::new();
  for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
    let l = line.to_ascii_lowercase();
    let l = ["cpython-", "cpython@", "cpython", "python"]
      .iter()
      .find_map(|p| l.strip_prefix(p))
      .unwrap_or(&l)
      .to_string();
    let numbers: Vec<u64> = l
      .split(|c: char| !(c.is_ascii_digit() || c == '.'))
      .next()
      .unwrap_or("")
      .split('.')
      .map_while(|n| n.parse().ok())
      .collect();
    if !numbers.is_empty() && l.starts_with(|c: char| c.is_ascii_digit()) {
      out.push(numbers);
    }
  }
  out
}

/// The nearest `.python-version`, from `api` up to `root`.
pub fn find_python_version_file(api: &Path, root: &Path) -> Option<PathBuf> {
  ancestors_within(api, root).map(|d| d.join(".python-version")).find(|p| p.is_file())
}

/// A `requires-python` and the file that declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiresPython {
  /// The pyproject file.
  pub file: PathBuf,
  /// The specifier set as written.
  pub spec: String,
}

/// The nearest `pyproject.toml` (from `api` up to `root`) that declares `requires-python`.
pub fn find_requires_python(
  api: &Path,
  root: &Path,
) -> Result<Option<RequiresPython>, ProjectError> {
  for dir in ancestors_within(api, root) {
    let file = dir.join("pyproject.toml");
    if !file.is_file() {
      continue;
    }
    if let Some(spec) = PyProject::read(&file)?.requires_python() {
      return Ok(Some(RequiresPython { file, spec: spec.to_string() }));
    }
  }
  Ok(None)
}

/// Why the interpreter cannot build this backend.
#[derive(Debug, thiserror::Error)]
pub enum PythonCheckError {
  /// The interpreter does not satisfy `requires-python`.
  #[error(
    "Python {found} (`{python}`) does not satisfy requires-python \"{spec}\" in {file}. Fix: {fix}"
  )]
  RequiresPython {
    /// The interpreter's version.
    found: String,
    /// The interpreter.
    python: String,
    /// The specifier set.
    spec: String,
    /// The pyproject file, relative to the project root.
    file: String,
    /// How to pick another interpreter.
    fix: String,
  },
  /// The interpreter is not the version `.python-version` names.
  #[error(
    "Python {found} (`{python}`) is not the Python {wanted} that {file} asks for. Fix: {fix}"
  )]
  PythonVersion {
    /// The interpreter's version.
    found: String,
    /// The interpreter.
    python: String,
    /// What the file asks for (its lines, joined with ` or `).
    wanted: String,
    /// The `.python-version` file, relative to the project root.
    file: String,
    /// How to pick another interpreter.
    fix: String,
  },
  /// `requires-python` is not a valid specifier set.
  #[error("{file}: `project.requires-python` \"{spec}\" is not a valid version specifier: {why}. Fix: write it like \">=3.11\" or \">=3.11,<3.14\"")]
  BadSpecifier {
    /// The pyproject file, relative to the project root.
    file: String,
    /// The specifier set.
    spec: String,
    /// What is wrong.
    why: String,
  },
  /// The interpreter reported a version farm cannot read.
  #[error("`{python}` reported the version {found:?}, which is not a Python version")]
  BadInterpreterVersion {
    /// The interpreter.
    python: String,
    /// What it printed.
    found: String,
  },
  /// A pyproject.toml could not be read.
  #[error(transparent)]
  Project(#[from] ProjectError),
}

/// How to get a matching interpreter: a `python3.N` on `PATH` that runs and whose version `ok`
/// accepts (only names that could fit are run), else the generic advice.
fn fix_hint(ok: impl Fn(&PyVersion) -> bool, wanted: Option<String>) -> String {
  let could_fit = |m: u64| {
    [0, 99].iter().any(|p| {
      ok(&PyVersion { epoch: 0, release: vec![3, m, *p], pre: None, post: None, dev: None })
    })
  };
  let on_path = (6..=30u64).rev().map(|m| (m, format!("python3.{m}"))).find(|(m, name)| {
    could_fit(*m)
      && find_on_path(name).is_some()
      && crate::run::process::probe(name, &["-c", VERSION_PROBE], None)
        .and_then(|v| PyVersion::parse(&v))
        .is_some_and(|v| ok(&v))
  });
  match (on_path, wanted) {
    (Some((_, name)), _) => format!(
      "set `backend.python` to a matching interpreter, e.g. \"{name}\" (it is on PATH), or create the project's `.venv` with it"
    ),
    (None, Some(w)) => format!(
      "install Python {w} and set `backend.python` to it (e.g. \"python{w}\"), or create the project's `.venv` with it"
    ),
    (None, None) => "install a matching Python and set `backend.python` to it, or create the project's `.venv` with it".into(),
  }
}

/// Checks `version` (what `python` reports, e.g. `3.11.7`) against the project's
/// `requires-python` and `.python-version`. Returns log lines saying what was checked.
pub fn check(
  version: &str,
  python: &str,
  be: &BackendConfig,
  root: &Path,
) -> Result<Vec<String>, PythonCheckError> {
  let api = resolve(root, &be.root);
  let found = PyVersion::parse(version).ok_or_else(|| PythonCheckError::BadInterpreterVersion {
    python: python.to_string(),
    found: version.to_string(),
  })?;
  let rel = |p: &Path| crate::report::rel_path(root, p);
  let mut notes = Vec::new();
  if let Some(req) = find_requires_python(&api, root)? {
    let specs = parse_specifiers(&req.spec).map_err(|why| PythonCheckError::BadSpecifier {
      file: rel(&req.file),
      spec: req.spec.clone(),
      why,
    })?;
    if !satisfies(&found, &specs) {
      let lowest = (0..=30u64).find(|m| {
        [0, 99].iter().any(|p| {
          satisfies(
            &PyVersion { epoch: 0, release: vec![3, *m, *p], pre: None, post: None, dev: None },
            &specs,
          )
        })
      });
      return Err(PythonCheckError::RequiresPython {
        found: version.to_string(),
        python: python.to_string(),
        spec: req.spec.clone(),
        file: rel(&req.file),
        fix: fix_hint(|v| satisfies(v, &specs), lowest.map(|m| format!("3.{m}"))),
      });
    }
    notes.push(format!(
      "Python {version} satisfies requires-python \"{}\" ({})",
      req.spec,
      rel(&req.file)
    ));
  }
  if let Some(file) = find_python_version_file(&api, root) {
    let text = std::fs::read_to_string(&file)
      .map_err(|source| ProjectError::Read { path: file.clone(), source })?;
    let wanted = parse_python_version_file(&text);
    let shown = |w: &Vec<u64>| w.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(".");
    if wanted.is_empty() {
      notes.push(format!("{}: no version farm can check ({:?})", rel(&file), text.trim()));
    } else if wanted.iter().any(|w| prefix_match(&found, w) && found.release.len() >= w.len()) {
      notes.push(format!("Python {version} matches {}", rel(&file)));
    } else {
      let names: Vec<String> = wanted.iter().map(shown).collect();
      return Err(PythonCheckError::PythonVersion {
        found: version.to_string(),
        python: python.to_string(),
        wanted: names.join(" or "),
        file: rel(&file),
        fix: fix_hint(
          |v| wanted.iter().any(|w| prefix_match(v, &w[..w.len().min(2)])),
          wanted.first().map(|w| shown(&w[..w.len().min(2)].to_vec())),
        ),
      });
    }
  }
  Ok(notes)
}

#[cfg(test)]
mod tests {
  use super::*;

  fn v(s: &str) -> PyVersion {
    PyVersion::parse(s).unwrap_or_else(|| panic!("{s}"))
  }
  fn ok(version: &str, spec: &str) -> bool {
    satisfies(&v(version), &parse_specifiers(spec).unwrap())
  }

  #[test]
  fn parses_versions() {
    assert_eq!(v("3.12.1").release, [3, 12, 1]);
    assert_eq!(v("v1!2.0rc1.post2.dev3").epoch, 1);
    assert_eq!(v("3.14.0rc1").pre, Some((2, 1)));
    assert_eq!(v("1.0-1").post, Some(1));
    assert_eq!(v("3.13.0b2+local").pre, Some((1, 2)));
    assert!(PyVersion::parse("3.x").is_none() && PyVersion::parse("").is_none());
    assert_eq!(v("3.14.0rc1").cmp_to(&v("3.14.0")), Ordering::Less);
    assert_eq!(v("3.14.dev1").cmp_to(&v("3.14a1")), Ordering::Less);
    assert_eq!(v("3.14.post1").cmp_to(&v("3.14")), Ordering::Greater);
    assert_eq!(v("3.14").cmp_to(&v("3.14.0.0")), Ordering::Equal);
  }

  #[test]
  fn matches_every_operator() {
    assert!(ok("3.14.0", ">=3.14") && !ok("3.11.7", ">=3.14"));
    assert!(ok("3.12.0", ">3.11") && !ok("3.11.0", ">3.11") && ok("3.11.1", ">3.11"));
    assert!(ok("3.11.0", "<=3.11") && !ok("3.11.1", "<=3.11") && ok("3.11.1", "<=3.11.1"));
    assert!(ok("3.10.9", "<3.11") && !ok("3.11.0", "<3.11"));
    assert!(!ok("3.11.0rc1", "<3.11"), "a pre-release of V is not < V");
    assert!(ok("3.11.0", "==3.11") && !ok("3.11.7", "==3.11") && ok("3.11.7", "==3.11.*"));
    assert!(!ok("3.12.0", "==3.11.*") && ok("3.11", "==3.11.0.*"));
    assert!(ok("3.12.1", "!=3.12.0") && !ok("3.12.0", "!=3.12") && !ok("3.12.4", "!=3.12.*"));
    assert!(ok("3.11.9", "~=3.11") && ok("3.13.0", "~=3.11") && !ok("4.0.0", "~=3.11"));
    assert!(ok("3.11.9", "~=3.11.2") && !ok("3.12.0", "~=3.11.2") && !ok("3.11.1", "~=3.11.2"));
    assert!(ok("3.12.3", ">=3.10, <3.13, !=3.12.0") && !ok("3.13.0", ">=3.10,<3.13"));
    assert!(ok("3.12.3", "===3.12.3") && !ok("3.12.3", "===3.12"));
    assert!(ok("3.12.3", "") && ok("3.12.3", " "));
    assert!(ok("3.14.0", ">=3.14.0rc1") && ok("3.14.1", ">3.14.0.post1"));
    for bad in ["3.11", ">=3.x", "~=3", ">=3.11.*", ">= "] {
      assert!(parse_specifiers(bad).is_err(), "{bad}");
    }
  }

  #[test]
  fn reads_python_version_files() {
    assert_eq!(parse_python_version_file("3.14\n"), vec![vec![3, 14]]);
    assert_eq!(
      parse_python_version_file(
        "# pinned\ncpython-3.12.1\nsystem\npypy3.10\n3.13t\ncpython@3.11\n"
      ),
      vec![vec![3, 12, 1], vec![3, 13], vec![3, 11]]
    );
    assert!(parse_python_version_file("system\n").is_empty());
  }

  #[test]
  fn check_names_versions_files_and_the_fix() {
    let d = std::env::temp_dir().join(format!("farm-pycheck-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("api")).unwrap();
    let be: BackendConfig = serde_json::from_value(serde_json::json!({ "root": "api" })).unwrap();
    assert!(check("3.11.7", "python3", &be, &d).unwrap().is_empty(), "nothing to check");
    std::fs::write(d.join("api/pyproject.toml"), "[project]\nname='a'\nrequires-python='>=3.14'\n")
      .unwrap();
    let e = check("3.11.7", "python3", &be, &d).unwrap_err().to_string();
    for part in ["Python 3.11.7", "`python3`", "\">=3.14\"", "api/pyproject.toml", "backend.python"]
    {
      assert!(e.contains(part), "{part} in {e}");
    }
    assert!(check("3.14.0", "python3", &be, &d).is_ok());
    // .python-version at the project root
    std::fs::write(d.join(".python-version"), "3.15\n").unwrap();
    let e = check("3.14.0", "/x/python", &be, &d).unwrap_err().to_string();
    assert!(
      e.contains("Python 3.14.0") && e.contains("Python 3.15") && e.contains(".python-version"),
      "{e}"
    );
    assert!(e.contains("backend.python"), "{e}");
    assert_eq!(check("3.15.2", "p", &be, &d).unwrap().len(), 2);
    std::fs::write(d.join("api/pyproject.toml"), "[project]\nrequires-python='3.11'\n").unwrap();
    let e = check("3.15.2", "p", &be, &d).unwrap_err().to_string();
    assert!(e.contains("not a valid version specifier") && e.contains("api/pyproject.toml"), "{e}");
    std::fs::remove_dir_all(&d).unwrap();
  }
}
