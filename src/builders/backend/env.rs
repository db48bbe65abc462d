//! The backend's environment: `backend.envFile` (a dotenv file) and `backend.env` (values or
//! `${VAR}` references), applied to the import check, the OpenAPI export and migrations.
//!
//! The file is read as python-dotenv reads it (`dotenv_values` / `load_dotenv`): `KEY=value`
//! lines, an optional `export ` prefix, `#` comments, single- and double-quoted values (with
//! escapes, spanning lines), and `${VAR}` / `${VAR:-default}` expansion. As with `load_dotenv()`
//! (and pydantic-settings, where environment variables win over the dotenv file), a variable set in
//! the process environment wins over the file, both for its own value and in expansions.
//! `backend.env` entries win over both: they are the explicit config.
//!
//! Values are secrets until proven otherwise: they reach only the child processes' environment.
//! Task keys get names and digests ([`BackendEnv::key_digests`]), the key's config subset gets
//! names only ([`key_config`]), and log lines and error messages go through a [`Redactor`] that
//! replaces every value of 4 characters or more with `***`.

use crate::config::{resolve, BackendConfig};
use crate::hash::{env_value_digest, Digest};
use crate::run::TaskError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Values shorter than this are not redacted (they would mask ordinary words and numbers).
pub const REDACT_MIN_LEN: usize = 4;

/// Why the backend's environment could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
  /// `backend.envFile` names a file that does not exist.
  #[error("backend.envFile {rel:?} does not exist ({}): create it, or fix `backend.envFile` (relative to `backend.root`)", path.display())]
  MissingFile {
    /// The configured path.
    rel: String,
    /// Where it resolved.
    path: PathBuf,
  },
  /// The env file exists but cannot be read as UTF-8 text.
  #[error("reading backend.envFile {}: {source}", path.display())]
  Read {
    /// The file.
    path: PathBuf,
    /// Why.
    #[source]
    source: std::io::Error,
  },
  /// A `backend.env` value refers to a variable that is set nowhere and has no default.
  #[error("backend.env.{name} refers to ${{{var}}}, which is not set (neither in the environment nor in backend.envFile): export {var}, or give a default like ${{{var}:-value}}")]
  Unset {
    /// The `backend.env` entry.
    name: String,
    /// The variable it refers to.
    var: String,
  },
}

/// One `KEY=value` statement of a dotenv file, before expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
  /// The variable's name.
  pub key: String,
  /// Its raw value; `None` for a bare `KEY` line (python-dotenv's `None`: not set).
  pub value: Option<String>,
}

/// A parsed dotenv file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dotenv {
  /// The statements, in file order (a key may repeat; the last one wins).
  pub bindings: Vec<Binding>,
  /// 1-based line numbers of statements that could not be parsed (skipped, as python-dotenv does).
  pub invalid_lines: Vec<usize>,
}

/// A cursor over the dotenv text, mirroring python-dotenv's regex reader.
struct Reader<'a> {
  s: &'a str,
  pos: usize,
}

/// Python's `\s` minus line breaks (`[^\S\r\n]`).
fn is_hspace(c: char) -> bool {
  c.is_whitespace() && c != '\r' && c != '\n'
}

impl<'a> Reader<'a> {
  fn rest(&self) -> &'a str {
    &self.s[self.pos..]
  }
  fn peek(&self) -> Option<char> {
    self.rest().chars().next()
  }
  fn eat_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
    let start = self.pos;
    let n = self.rest().find(|c: char| !f(c)).unwrap_or(self.rest().len());
    self.pos += n;
    &self.s[start..self.pos]
  }
  /// `[^\S\r\n]*(?:\r\n|\n|\r|$)`
  fn end_of_line(&mut self) -> bool {
    let save = self.pos;
    self.eat_while(is_hspace);
    let r = self.rest();
    if r.starts_with("\r\n") {
      self.pos += 2;
    } else if r.starts_with('\n') || r.starts_with('\r') {
      self.pos += 1;
    } else if !r.is_empty() {
      self.pos = save;
      return false;
    }
    true
  }
  /// A quoted value starting at the opening `q`: `q((?:\\q|[^q])*)q`, with the regex's
  /// backtracking (an unterminated value may close at the quote of its last `\q`).
  fn quoted(&mut self, q: char) -> Option<&'a str> {
    let body_start = self.pos + 1;
    let bytes = self.s.as_bytes();
    let qb = q as u8;
    let mut i = body_start;
    let mut last_escape = None;
    while i < bytes.len() {
      if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&qb) {
        last_escape = Some(i);
        i += 2;
      } else if bytes[i] == qb {
        self.pos = i + 1;
        return Some(&self.s[body_start..i]);
      } else {
        i += 1;
      }
    }
    let e = last_escape?;
    self.pos = e + 2;
    Some(&self.s[body_start..e + 1])
  }
}

/// Decodes the backslash escapes python-dotenv decodes: `\\` and `\'` in single quotes; `\\`,
/// `\'`, `\"`, `\a`, `\b`, `\f`, `\n`, `\r`, `\t`, `\v` in double quotes.
fn decode_escapes(s: &str, double: bool) -> String {
  let mut out = String::with_capacity(s.len());
  let mut it = s.chars().peekable();
  while let Some(c) = it.next() {
    if c != '\\' {
      out.push(c);
      continue;
    }
    let decoded = match it.peek().copied() {
      Some('\\') => Some('\\'),
      Some('\'') => Some('\''),
      Some(n) if double => match n {
        '"' => Some('"'),
        'a' => Some('\x07'),
        'b' => Some('\x08'),
        'f' => Some('\x0c'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\x0b'),
        _ => None,
      },
      _ => None,
    };
    match decoded {
      Some(d) => {
        out.push(d);
        it.next();
      }
      None => out.push('\\'),
    }
  }
  out
}

/// An unquoted value: up to the end of the line, without a ` # comment` and trailing spaces.
fn unquoted_value(part: &str, preceded_by_whitespace: bool) -> String {
  if preceded_by_whitespace && part.starts_with('#') {
    return String::new();
  }
  // `re.sub(r"\s+#.*", "", part)`: cut at the first whitespace run followed by `#`.
  let cut = part
    .char_indices()
    .find(|&(i, c)| c.is_whitespace() && part[i..].trim_start().starts_with('#'))
    .map_or(part.len(), |(i, _)| i);
  part[..cut].trim_end().to_string()
}

/// Parses dotenv text as python-dotenv's `parse_stream` does.
pub fn parse_dotenv(text: &str) -> Dotenv {
  let text = text.strip_prefix('\u{feff}').unwrap_or(text);
  let mut r = Reader { s: text, pos: 0 };
  let mut out = Dotenv::default();
  let line_at = |pos: usize| text[..pos].matches('\n').count() + 1;
  while r.pos < text.len() {
    r.eat_while(char::is_whitespace);
    if r.pos >= text.len() {
      break;
    }
    let start_line = line_at(r.pos);
    match statement(&mut r) {
      Ok(Some(b)) => out.bindings.push(b),
      Ok(None) => {}
      Err(()) => {
        out.invalid_lines.push(start_line);
        // `[^\r\n]*(?:\r|\n|\r\n)?`
        r.eat_while(|c| c != '\r' && c != '\n');
        if r.rest().starts_with('\r') || r.rest().starts_with('\n') {
          r.pos += 1;
        }
      }
    }
  }
  out
}

/// One statement from the current position (after leading whitespace); `Ok(None)` for a comment.
fn statement(r: &mut Reader<'_>) -> Result<Option<Binding>, ()> {
  if let Some(after) = r.rest().strip_prefix("export") {
    let ws = after.len() - after.trim_start_matches(is_hspace).len();
    if ws > 0 {
      r.pos += "export".len() + ws;
    }
  }
  let key = match r.peek() {
    Some('#') => None,
    Some('\'') => {
      let body = &r.rest()[1..];
      let end = body.find('\'').filter(|&e| e > 0).ok_or(())?;
      let k = body[..end].to_string();
      r.pos += end + 2;
      Some(k)
    }
    _ => {
      let k = r.eat_while(|c| c != '=' && c != '#' && !c.is_whitespace());
      if k.is_empty() {
        return Err(());
      }
      Some(k.to_string())
    }
  };
  r.eat_while(is_hspace);
  let mut value = None;
  if r.peek() == Some('=') {
    r.pos += 1;
    let spaced = !r.eat_while(is_hspace).is_empty();
    value = Some(match r.peek() {
      Some(q @ ('\'' | '"')) => decode_escapes(r.quoted(q).ok_or(())?, q == '"'),
      None | Some('\n' | '\r') => String::new(),
      Some(_) => unquoted_value(r.eat_while(|c| c != '\r' && c != '\n'), spaced),
    });
  }
  // `(?:[^\S\r\n]*#[^\r\n]*)?`
  let save = r.pos;
  r.eat_while(is_hspace);
  if r.peek() == Some('#') {
    r.eat_while(|c| c != '\r' && c != '\n');
  } else {
    r.pos = save;
  }
  if !r.end_of_line() {
    return Err(());
  }
  Ok(key.map(|key| Binding { key, value }))
}

/// A `${NAME}` or `${NAME:-default}` reference, as python-dotenv matches them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Atom<'a> {
  Literal(&'a str),
  Var { name: &'a str, default: Option<&'a str> },
}

/// Splits a value into literals and `${...}` references (`\$\{([^}:]*)(?::-([^}]*))?\}`).
fn atoms(value: &str) -> Vec<Atom<'_>> {
  let mut out = Vec::new();
  let mut cursor = 0;
  let mut search = 0;
  while let Some(off) = value[search..].find("${") {
    let start = search + off;
    let body = &value[start + 2..];
    let name_end = body.find(['}', ':']).unwrap_or(body.len());
    let name = &body[..name_end];
    let rest = &body[name_end..];
    let parsed = if rest.starts_with('}') {
      Some((None, name_end + 1))
    } else if let Some(d) = rest.strip_prefix(":-") {
      d.find('}').map(|e| (Some(&d[..e]), name_end + 2 + e + 1))
    } else {
      None
    };
    match parsed {
      Some((default, len)) => {
        if start > cursor {
          out.push(Atom::Literal(&value[cursor..start]));
        }
        out.push(Atom::Var { name, default });
        cursor = start + 2 + len;
        search = cursor;
      }
      None => search = start + 1,
    }
  }
  if cursor < value.len() {
    out.push(Atom::Literal(&value[cursor..]));
  }
  out
}

/// Expands `${NAME}` / `${NAME:-default}` in `value`: `lookup` gives a variable's value
/// (`Some(None)`: known but without a value, as a bare `KEY` line), an unknown variable takes its
/// default, else the empty string — python-dotenv's `Variable.resolve`.
pub fn expand(value: &str, lookup: impl Fn(&str) -> Option<Option<String>>) -> String {
  atoms(value)
    .into_iter()
    .map(|a| match a {
      Atom::Literal(l) => l.to_string(),
      Atom::Var { name, default } => match lookup(name) {
        Some(v) => v.unwrap_or_default(),
        None => default.unwrap_or("").to_string(),
      },
    })
    .collect()
}

/// The names `value` refers to without a default.
fn references_without_default(value: &str) -> Vec<&str> {
  atoms(value)
    .into_iter()
    .filter_map(|a| match a {
      Atom::Var { name, default: None } => Some(name),
      _ => None,
    })
    .collect()
}

/// The file's variables as `load_dotenv()` (override off) sets them: expansions see the process
/// environment first, then the file's earlier values; a variable already in the process
/// environment keeps the process value; bare `KEY` lines set nothing.
pub fn resolve_dotenv(
  dotenv: &Dotenv,
  process: impl Fn(&str) -> Option<String>,
) -> BTreeMap<String, String> {
  let mut seen: BTreeMap<String, Option<String>> = BTreeMap::new();
  for b in &dotenv.bindings {
    let resolved = b.value.as_ref().map(|v| {
      expand(v, |n| match process(n) {
        Some(p) => Some(Some(p)),
        None => seen.get(n).cloned(),
      })
    });
    seen.insert(b.key.clone(), resolved);
  }
  seen
    .into_iter()
    .filter_map(|(k, v)| match process(&k) {
      Some(p) => Some((k, p)),
      None => v.map(|v| (k, v)),
    })
    .collect()
}

/// `backend.envFile` resolved against `backend.root`, when set.
/// (`..` resolved lexically, so `"../.env"` from `apps/api` is `<root>/apps/.env`).
pub fn env_file_path(be: &BackendConfig, root: &Path) -> Option<PathBuf> {
  let f = be.env_file.as_deref()?;
  let mut out = PathBuf::new();
  for c in resolve(&resolve(root, &be.root), f).components() {
    match c {
      std::path::Component::ParentDir => {
        out.pop();
      }
      std::path::Component::CurDir => {}
      other => out.push(other),
    }
  }
  Some(out)
}

/// The backend's extra environment, assembled from `backend.envFile` and `backend.env`.
#[derive(Clone, Default)]
pub struct BackendEnv {
  vars: BTreeMap<String, String>,
  /// 1-based lines of the env file that could not be parsed (skipped).
  pub invalid_lines: Vec<usize>,
  /// `backend.envFile` names a file that does not exist (as in CI, where `.env` is not committed):
  /// the variables then come from the process env only, as pydantic-settings does.
  pub missing_file: Option<PathBuf>,
}

impl std::fmt::Debug for BackendEnv {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    f.debug_struct("BackendEnv")
      .field("names", &self.vars.keys().collect::<Vec<_>>())
      .field("invalid_lines", &self.invalid_lines)
      .finish()
  }
}

impl BackendEnv {
  /// Reads `backend.envFile` and expands `backend.env`, with `process` as the process environment
  /// (e.g. `|n| std::env::var(n).ok()`).
  pub fn load(
    be: &BackendConfig,
    root: &Path,
    process: impl Fn(&str) -> Option<String>,
  ) -> Result<BackendEnv, EnvError> {
    let mut env = BackendEnv::default();
    if let (Some(rel), Some(path)) = (be.env_file.as_ref(), env_file_path(be, root)) {
      let _ = rel;
      if path.is_file() {
        let text =
          std::fs::read_to_string(&path).map_err(|source| EnvError::Read { path, source })?;
        let parsed = parse_dotenv(&text);
        env.vars = resolve_dotenv(&parsed, &process);
        env.invalid_lines = parsed.invalid_lines;
      } else {
        env.missing_file = Some(path);
      }
    }
    let from_file = env.vars.clone();
    for (name, raw) in &be.env {
      let lookup = |n: &str| process(n).or_else(|| from_file.get(n).cloned());
      if let Some(var) = references_without_default(raw).into_iter().find(|v| lookup(v).is_none()) {
        return Err(EnvError::Unset { name: name.clone(), var: var.to_string() });
      }
      env.vars.insert(name.clone(), expand(raw, |n| lookup(n).map(Some)));
    }
    Ok(env)
  }

  /// Name → value, to set on a child process.
  pub fn vars(&self) -> &BTreeMap<String, String> {
    &self.vars
  }

  /// Whether there is nothing to set.
  pub fn is_empty(&self) -> bool {
    self.vars.is_empty()
  }

  /// Names with the digest of their value ([`env_value_digest`]), for task keys.
  pub fn key_digests(&self) -> Vec<(String, Digest)> {
    self.vars.iter().map(|(k, v)| (k.clone(), env_value_digest(v))).collect()
  }

  /// A redactor for every value of [`REDACT_MIN_LEN`] characters or more.
  pub fn redactor(&self) -> Redactor {
    Redactor::new(self.vars.values().cloned())
  }

  /// Sets the variables on `cmd`.
  pub fn apply(&self, mut cmd: crate::run::process::Cmd) -> crate::run::process::Cmd {
    for (k, v) in &self.vars {
      cmd = cmd.env(k, v);
    }
    cmd
  }
}

/// The backend env's contribution to a task key: names and value digests, never values.
/// An error (missing file, unset reference) means the task cannot be keyed; the task itself then
/// fails with the same message.
pub fn key_env(be: &BackendConfig, root: &Path) -> Result<Vec<(String, Digest)>, EnvError> {
  Ok(BackendEnv::load(be, root, |n| std::env::var(n).ok())?.key_digests())
}

/// `backend` as it enters a key's config subset: `env` holds the variable names only (their
/// values enter the key as digests, see [`key_env`]), so no literal value is stored in the
/// manifest of a cache entry. Without `env` it is the plain serialization (keys unchanged).
pub fn key_config(be: &BackendConfig) -> serde_json::Value {
  let mut v = serde_json::to_value(be).unwrap_or(serde_json::Value::Null);
  if let Some(obj) = v.as_object_mut().filter(|_| !be.env.is_empty()) {
    let names: Vec<&String> = be.env.keys().collect();
    obj.insert("env".into(), serde_json::json!(names));
  }
  v
}

/// Replaces secret values in text with `***`.
#[derive(Clone, Default)]
pub struct Redactor {
  /// Longest first, so a value containing another is replaced whole.
  secrets: Vec<String>,
}

impl std::fmt::Debug for Redactor {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    write!(f, "Redactor({} values)", self.secrets.len())
  }
}

impl Redactor {
  /// A redactor for `values` (those shorter than [`REDACT_MIN_LEN`] characters are ignored).
  pub fn new(values: impl IntoIterator<Item = String>) -> Redactor {
    let mut secrets: Vec<String> =
      values.into_iter().filter(|v| v.chars().count() >= REDACT_MIN_LEN).collect();
    secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    secrets.dedup();
    Redactor { secrets }
  }

  /// `text` with every secret value replaced by `***`.
  pub fn redact(&self, text: &str) -> String {
    let mut out = text.to_string();
    for s in &self.secrets {
      if out.contains(s.as_str()) {
        out = out.replace(s.as_str(), "***");
      }
    }
    out
  }

  /// The error with its message redacted.
  pub fn redact_error(&self, e: TaskError) -> TaskError {
    match e {
      TaskError::Failed(m) => TaskError::Failed(self.redact(&m)),
      other => other,
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn pairs(text: &str) -> Vec<(String, Option<String>)> {
    parse_dotenv(text).bindings.into_iter().map(|b| (b.key, b.value)).collect()
  }
  fn kv(k: &str, v: &str) -> (String, Option<String>) {
    (k.into(), Some(v.into()))
  }

  #[test]
  fn parses_quotes_exports_and_comments() {
    let text = "\u{feff}# a comment\nexport A=1\nB = two words  # trailing\nC='single # not a comment'\n\
D=\"dq \\\"esc\\\" \\n nl\"\nE=\nF\n  G=#hash\nH= # only a comment\n'I'=quoted key\nJ=\"multi\nline\"\n\
K=a#b\nL='it\\'s'\nM=\"back\\\\slash\"\nexportN=3\n";
    assert_eq!(
      pairs(text),
      vec![
        kv("A", "1"),
        kv("B", "two words"),
        kv("C", "single # not a comment"),
        kv("D", "dq \"esc\" \n nl"),
        kv("E", ""),
        ("F".into(), None),
        kv("G", "#hash"),
        kv("H", ""),
        kv("I", "quoted key"),
        kv("J", "multi\nline"),
        kv("K", "a#b"),
        kv("L", "it's"),
        kv("M", "back\\slash"),
        kv("exportN", "3"),
      ]
    );
  }

  #[test]
  fn bad_statements_are_skipped_with_their_line() {
    let d = parse_dotenv("A=1\nB C=2\nD=\"unterminated\nE=5\n");
    let keys: Vec<&str> = d.bindings.iter().map(|b| b.key.as_str()).collect();
    assert_eq!(keys, ["A", "E"]);
    assert_eq!(d.invalid_lines, vec![2, 3]);
    let d = parse_dotenv("X=\"a\"b\nY=ok\n");
    assert_eq!(d.invalid_lines, vec![1]);
    assert_eq!(d.bindings, vec![Binding { key: "Y".into(), value: Some("ok".into()) }]);
  }

  #[test]
  fn expansion_follows_python_dotenv() {
    let d = parse_dotenv(
      "HOST=db\nURL=postgres://${USER}@${HOST}:${PORT:-5432}/${NAME:-app}\nNAME=x\nEMPTY=${NOPE}\nRAW=$HOST ${HOST\n",
    );
    let proc = |n: &str| (n == "USER").then(|| "alice".to_string());
    let v = resolve_dotenv(&d, proc);
    assert_eq!(v["URL"], "postgres://alice@db:5432/app", "later keys are not seen yet");
    assert_eq!(v["EMPTY"], "");
    assert_eq!(v["RAW"], "$HOST ${HOST");
    // the process environment wins, for expansion and for the variable itself
    let proc = |n: &str| (n == "HOST").then(|| "prod-db".to_string());
    let v = resolve_dotenv(&parse_dotenv("HOST=db\nURL=${HOST}/x\n"), proc);
    assert_eq!((v["HOST"].as_str(), v["URL"].as_str()), ("prod-db", "prod-db/x"));
    assert_eq!(expand("${A:-x}${B}", |n| (n == "B").then_some(None)), "x");
  }

  #[test]
  fn key_config_keeps_names_and_drops_values() {
    let be: BackendConfig =
      serde_json::from_value(serde_json::json!({ "env": { "B": "lit-value", "A": "${X}" } }))
        .unwrap();
    let v = key_config(&be);
    assert_eq!(v["env"], serde_json::json!(["A", "B"]));
    assert!(!v.to_string().contains("lit-value"));
    let plain: BackendConfig = serde_json::from_value(serde_json::json!({})).unwrap();
    assert_eq!(key_config(&plain), serde_json::to_value(&plain).unwrap());
    assert!(key_config(&plain).get("env").is_none() && key_config(&plain).get("envFile").is_none());
  }

  #[test]
  fn redaction_replaces_long_values_longest_first() {
    let r = Redactor::new(["abc".into(), "s3cret".into(), "s3cret-longer".into()]);
    assert_eq!(r.redact("a s3cret-longer, s3cret and abc"), "a ***, *** and abc");
  }
}
