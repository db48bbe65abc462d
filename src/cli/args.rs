//! The flags of `farm build`, parsed as `js/cli/build.mjs` parses them (`node:util` parseArgs,
//! strict, no positionals). Anything this parser is not sure about is [`ArgsError`]: the native
//! path then hands the command to Node, whose parser reports it.

/// The parsed flags of `farm build` (the `BUILD` table of `js/cli/build.mjs`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildArgs {
  /// `-t, --target NAME` (repeatable, comma-separated), in order, empty names dropped.
  pub targets: Vec<String>,
  /// `-e, --env ENV` (last one wins).
  pub env: Option<String>,
  /// `--dev`.
  pub dev: bool,
  /// `--continue`.
  pub continue_on_error: bool,
  /// `--concurrency N`, as written.
  pub concurrency: Option<String>,
  /// `--no-clean`.
  pub no_clean: bool,
  /// `--no-cache`.
  pub no_cache: bool,
  /// `--clear-cache`.
  pub clear_cache: bool,
  /// `--verify-cache`.
  pub verify_cache: bool,
  /// `--upload`.
  pub upload: bool,
  /// `--dry-run`.
  pub dry_run: bool,
  /// `--json`.
  pub json: bool,
  /// `--analyze`.
  pub analyze: bool,
  /// `--size-limit SIZE`.
  pub size_limit: Option<String>,
  /// `--watch`.
  pub watch: bool,
  /// `--profile FILE`.
  pub profile: Option<String>,
  /// `--root DIR`.
  pub root: Option<String>,
  /// `-h, --help`.
  pub help: bool,
}

/// Why the arguments were not parsed natively (Node parses them and reports the error, if any).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
  /// A flag `farm build` does not take.
  #[error("unknown option `{0}`")]
  Unknown(String),
  /// A positional argument (or `--`).
  #[error("unexpected argument `{0}`")]
  Positional(String),
  /// A flag that takes a value without one (or with one that looks like a flag).
  #[error("option `{0}` needs a value")]
  MissingValue(String),
  /// A boolean flag given a value (`--json=1`).
  #[error("option `{0}` takes no value")]
  UnexpectedValue(String),
}

/// Why a parsed command is not answered natively.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
  /// A flag only the JavaScript path implements.
  #[error("`{0}` is handled by the JavaScript CLI")]
  Flag(&'static str),
  /// A value the JavaScript path rejects with its own message.
  #[error("`{flag}` {value:?} is checked by the JavaScript CLI")]
  BadValue {
    /// The flag.
    flag: &'static str,
    /// Its value.
    value: String,
  },
}

#[derive(Clone, Copy)]
enum Kind {
  Bool,
  Str,
}

const OPTIONS: &[(&str, Option<char>, Kind)] = &[
  ("target", Some('t'), Kind::Str),
  ("env", Some('e'), Kind::Str),
  ("dev", None, Kind::Bool),
  ("continue", None, Kind::Bool),
  ("concurrency", None, Kind::Str),
  ("no-clean", None, Kind::Bool),
  ("no-cache", None, Kind::Bool),
  ("clear-cache", None, Kind::Bool),
  ("verify-cache", None, Kind::Bool),
  ("upload", None, Kind::Bool),
  ("dry-run", None, Kind::Bool),
  ("json", None, Kind::Bool),
  ("analyze", None, Kind::Bool),
  ("size-limit", None, Kind::Str),
  ("watch", None, Kind::Bool),
  ("profile", None, Kind::Str),
  ("root", None, Kind::Str),
  ("help", Some('h'), Kind::Bool),
];

/// Parses the arguments after `build`.
pub fn parse_build(args: &[String]) -> Result<BuildArgs, ArgsError> {
  let mut out = BuildArgs::default();
  let mut i = 0;
  while i < args.len() {
    let arg = &args[i];
    i += 1;
    let (name, kind, inline): (&'static str, Kind, Option<String>) = if let Some(long) =
      arg.strip_prefix("--")
    {
      if long.is_empty() {
        return Err(ArgsError::Positional(arg.clone()));
      }
      let (n, v) = match long.split_once('=') {
        Some((n, v)) => (n, Some(v.to_string())),
        None => (long, None),
      };
      let (name, _, kind) =
        OPTIONS.iter().find(|(o, _, _)| *o == n).ok_or_else(|| ArgsError::Unknown(arg.clone()))?;
      (name, *kind, v)
    } else if let Some(short) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
      let mut chars = short.chars();
      let c = chars.next().unwrap_or_default();
      let rest: String = chars.collect();
      let (name, _, kind) = OPTIONS
        .iter()
        .find(|(_, s, _)| *s == Some(c))
        .ok_or_else(|| ArgsError::Unknown(arg.clone()))?;
      match kind {
        Kind::Bool if !rest.is_empty() => return Err(ArgsError::Unknown(arg.clone())),
        Kind::Bool => (name, *kind, None),
        Kind::Str => (name, *kind, (!rest.is_empty()).then_some(rest)),
      }
    } else {
      return Err(ArgsError::Positional(arg.clone()));
    };
    let value = match (kind, inline) {
      (Kind::Bool, Some(_)) => return Err(ArgsError::UnexpectedValue(arg.clone())),
      (Kind::Bool, None) => None,
      (Kind::Str, Some(v)) => Some(v),
      (Kind::Str, None) => match args.get(i) {
        Some(v) if !v.starts_with('-') => {
          i += 1;
          Some(v.clone())
        }
        _ => return Err(ArgsError::MissingValue(arg.clone())),
      },
    };
    set(&mut out, name, value);
  }
  Ok(out)
}

fn set(out: &mut BuildArgs, name: &str, value: Option<String>) {
  match (name, value) {
    ("target", Some(v)) => {
      out.targets.extend(v.split(',').filter(|t| !t.is_empty()).map(String::from))
    }
    ("env", v) => out.env = v,
    ("concurrency", v) => out.concurrency = v,
    ("size-limit", v) => out.size_limit = v,
    ("profile", v) => out.profile = v,
    ("root", v) => out.root = v,
    ("dev", _) => out.dev = true,
    ("continue", _) => out.continue_on_error = true,
    ("no-clean", _) => out.no_clean = true,
    ("no-cache", _) => out.no_cache = true,
    ("clear-cache", _) => out.clear_cache = true,
    ("verify-cache", _) => out.verify_cache = true,
    ("upload", _) => out.upload = true,
    ("dry-run", _) => out.dry_run = true,
    ("json", _) => out.json = true,
    ("analyze", _) => out.analyze = true,
    ("watch", _) => out.watch = true,
    ("help", _) => out.help = true,
    _ => {}
  }
}

impl BuildArgs {
  /// The environment asked for (`--dev` wins over `--env`), if valid for the native path.
  pub fn environment(&self) -> Result<Option<&str>, Unsupported> {
    let env = if self.dev { Some("development") } else { self.env.as_deref() };
    match env {
      None | Some("production" | "development" | "staging") => Ok(env),
      Some(other) => Err(Unsupported::BadValue { flag: "--env", value: other.into() }),
    }
  }

  /// `--concurrency` as a whole number ≥ 1.
  pub fn concurrency(&self) -> Result<Option<usize>, Unsupported> {
    match &self.concurrency {
      None => Ok(None),
      Some(v) => match v.parse::<usize>() {
        Ok(n) if n >= 1 && !v.starts_with('+') => Ok(Some(n)),
        _ => Err(Unsupported::BadValue { flag: "--concurrency", value: v.clone() }),
      },
    }
  }

  /// Whether the native path implements every flag given (it answers builds whose tasks are all
  /// cached; the rest is the JavaScript CLI's).
  pub fn check_supported(&self) -> Result<(), Unsupported> {
    let flags: [(bool, &'static str); 9] = [
      (self.help, "--help"),
      (self.no_cache, "--no-cache"),
      (self.clear_cache, "--clear-cache"),
      (self.verify_cache, "--verify-cache"),
      (self.analyze, "--analyze"),
      (self.size_limit.is_some(), "--size-limit"),
      (self.watch, "--watch"),
      (self.profile.is_some(), "--profile"),
      (self.root.as_deref() == Some(""), "--root ''"),
    ];
    if let Some((_, f)) = flags.iter().find(|(on, _)| *on) {
      return Err(Unsupported::Flag(f));
    }
    self.environment()?;
    self.concurrency()?;
    Ok(())
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn p(args: &[&str]) -> Result<BuildArgs, ArgsError> {
    parse_build(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
  }

  #[test]
  fn empty_is_all_defaults() {
    assert_eq!(p(&[]).unwrap(), BuildArgs::default());
  }

  #[test]
  fn targets_repeat_split_and_drop_empty_names() {
    let a =
      p(&["-t", "backend,types", "--target=frontend", "-tdocker", "--target", ",x,"]).unwrap();
    assert_eq!(a.targets, ["backend", "types", "frontend", "docker", "x"]);
  }

  #[test]
  fn booleans_and_strings() {
    let a = p(&[
      "--json",
      "--dev",
      "--continue",
      "--no-clean",
      "--concurrency",
      "3",
      "--root=/tmp/x",
      "-e",
      "staging",
    ])
    .unwrap();
    assert!(a.json && a.dev && a.continue_on_error && a.no_clean);
    assert_eq!(a.concurrency.as_deref(), Some("3"));
    assert_eq!(a.root.as_deref(), Some("/tmp/x"));
    assert_eq!(a.env.as_deref(), Some("staging"));
    // --dev wins over --env, as in build.mjs.
    assert_eq!(a.environment().unwrap(), Some("development"));
    assert_eq!(a.concurrency().unwrap(), Some(3));
    assert_eq!(a.check_supported(), Ok(()));
  }

  #[test]
  fn last_value_wins() {
    assert_eq!(
      p(&["--env", "staging", "--env=production"]).unwrap().env.as_deref(),
      Some("production")
    );
  }

  #[test]
  fn errors_are_left_to_node() {
    assert_eq!(p(&["--nope"]), Err(ArgsError::Unknown("--nope".into())));
    assert_eq!(p(&["-x"]), Err(ArgsError::Unknown("-x".into())));
    assert_eq!(p(&["web"]), Err(ArgsError::Positional("web".into())));
    assert_eq!(p(&["--"]), Err(ArgsError::Positional("--".into())));
    assert_eq!(p(&["--root"]), Err(ArgsError::MissingValue("--root".into())));
    assert_eq!(p(&["--root", "--json"]), Err(ArgsError::MissingValue("--root".into())));
    assert_eq!(p(&["--json=yes"]), Err(ArgsError::UnexpectedValue("--json=yes".into())));
    assert_eq!(p(&["-hx"]), Err(ArgsError::Unknown("-hx".into())));
  }

  #[test]
  fn flags_of_the_javascript_path_are_unsupported() {
    for flags in [
      &["--help"][..],
      &["-h"],
      &["--watch"],
      &["--profile", "t.json"],
      &["--no-cache"],
      &["--clear-cache"],
      &["--verify-cache"],
      &["--analyze"],
      &["--size-limit", "5KB"],
    ] {
      let a = p(flags).unwrap();
      assert!(matches!(a.check_supported(), Err(Unsupported::Flag(_))), "{flags:?}");
    }
    assert!(p(&["--upload"]).unwrap().check_supported().is_ok());
    assert!(p(&["--dry-run", "--json"]).unwrap().check_supported().is_ok());
  }

  #[test]
  fn bad_values_are_left_to_node() {
    for flags in [
      &["--env", "prod"][..],
      &["--concurrency", "0"],
      &["--concurrency", "1.5"],
      &["--concurrency", "+2"],
    ] {
      let a = p(flags).unwrap();
      assert!(matches!(a.check_supported(), Err(Unsupported::BadValue { .. })), "{flags:?}");
    }
  }
}
