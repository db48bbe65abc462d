//! Classification of app environment variables into plain values and secret references.
//!
//! A variable is a secret when its name looks like one (`*_TOKEN`, `*PASSWORD*`, `*API_KEY*`, ...) or
//! its value does (known key prefixes, PEM blocks, JWTs, URLs with credentials, long high-entropy
//! strings). Secrets are never written to generated files: only the variable name is.

use std::collections::BTreeMap;

/// The value side of an environment variable in generated files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
  /// Written literally (compose value, Kubernetes ConfigMap).
  Plain(String),
  /// Read from the deploy-time environment variable `var` (compose `${var}`, Kubernetes Secret key).
  Secret {
    /// Name of the variable that holds the value at deploy time.
    var: String,
  },
}

/// One app environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
  /// Variable name inside the container.
  pub name: String,
  /// Literal value or secret reference.
  pub value: EnvValue,
}

impl EnvVar {
  /// True when the value is a secret reference.
  pub fn is_secret(&self) -> bool {
    matches!(self.value, EnvValue::Secret { .. })
  }
}

const SECRET_NAME_PARTS: &[&str] = &[
  "SECRET",
  "PASSWORD",
  "PASSWD",
  "PASSPHRASE",
  "TOKEN",
  "APIKEY",
  "API_KEY",
  "PRIVATE_KEY",
  "PRIVATEKEY",
  "ACCESS_KEY",
  "ACCESSKEY",
  "CREDENTIAL",
  "AUTH",
  "SIGNING_KEY",
  "ENCRYPTION_KEY",
  "SESSION_KEY",
  "DSN",
];

const SECRET_VALUE_PREFIXES: &[&str] = &[
  "sk-",
  "sk_live_",
  "sk_test_",
  "rk_live_",
  "pk_live_",
  "ghp_",
  "gho_",
  "ghu_",
  "ghs_",
  "ghr_",
  "github_pat_",
  "glpat-",
  "xoxb-",
  "xoxp-",
  "xoxa-",
  "xoxs-",
  "AKIA",
  "ASIA",
  "AIza",
  "hf_",
  "-----BEGIN",
];

/// True when an environment variable name suggests a secret (case-insensitive).
pub fn is_secret_name(name: &str) -> bool {
  let upper = name.to_ascii_uppercase();
  SECRET_NAME_PARTS.iter().any(|p| upper.contains(p)) || upper.ends_with("_KEY") || upper == "KEY"
}

/// True when a value looks like a credential regardless of its name.
pub fn looks_like_secret_value(value: &str) -> bool {
  let v = value.trim();
  if SECRET_VALUE_PREFIXES.iter().any(|p| v.starts_with(p) && v.len() > p.len() + 8) {
    return true;
  }
  if url_has_password(v) {
    return true;
  }
  // JWT: three base64url segments, the first a JSON header.
  if v.starts_with("eyJ") && v.split('.').count() == 3 && v.len() > 30 {
    return true;
  }
  high_entropy_token(v)
}

/// `scheme://user:password@host` (a non-empty password).
fn url_has_password(v: &str) -> bool {
  let Some((_, rest)) = v.split_once("://") else { return false };
  let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
  match authority.rsplit_once('@') {
    Some((userinfo, _)) => userinfo.split_once(':').is_some_and(|(_, pw)| !pw.is_empty()),
    None => false,
  }
}

/// A single long token mixing character classes with high Shannon entropy (random keys), excluding
/// paths, URLs and words.
fn high_entropy_token(v: &str) -> bool {
  if v.len() < 20 || v.chars().any(|c| c.is_whitespace() || c == '/' || c == ':') {
    return false;
  }
  let classes = [
    v.chars().any(|c| c.is_ascii_lowercase()),
    v.chars().any(|c| c.is_ascii_uppercase()),
    v.chars().any(|c| c.is_ascii_digit()),
  ]
  .iter()
  .filter(|b| **b)
  .count();
  if classes < 2 || !v.chars().any(|c| c.is_ascii_digit()) {
    return false;
  }
  let mut counts = BTreeMap::new();
  for c in v.chars() {
    *counts.entry(c).or_insert(0usize) += 1;
  }
  let n = v.chars().count() as f64;
  let entropy: f64 = counts
    .values()
    .map(|&k| {
      let p = k as f64 / n;
      -p * p.log2()
    })
    .sum();
  entropy >= 3.5
}

/// A value written as `${VAR}` (or `${VAR:-default}`/`${VAR:?msg}`): returns `VAR`.
fn reference_var(value: &str) -> Option<&str> {
  let inner = value.trim().strip_prefix("${")?.strip_suffix('}')?;
  let name = inner.split([':', '-', '?']).next()?;
  let valid = !name.is_empty()
    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    && !name.starts_with(|c: char| c.is_ascii_digit());
  valid.then_some(name)
}

/// Classifies the configured environment (sorted by name). `${VAR}` values become references to
/// `VAR`; secret-like names or values become references to a variable of the same name.
pub fn classify_env(map: &BTreeMap<String, String>) -> Vec<EnvVar> {
  map
    .iter()
    .map(|(name, value)| {
      let value = if let Some(var) = reference_var(value) {
        EnvValue::Secret { var: var.to_string() }
      } else if is_secret_name(name) || looks_like_secret_value(value) {
        EnvValue::Secret { var: name.clone() }
      } else {
        EnvValue::Plain(value.clone())
      };
      EnvVar { name: name.clone(), value }
    })
    .collect()
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn names_that_are_secrets() {
    for n in [
      "OPENAI_API_KEY",
      "jwt_secret",
      "DB_PASSWORD",
      "GITHUB_TOKEN",
      "AUTH_HEADER",
      "SENTRY_DSN",
      "STRIPE_KEY",
      "clientSecret",
      "privateKey",
      "apiKey",
    ] {
      assert!(is_secret_name(n), "{n}");
    }
    for n in ["LOG_LEVEL", "PORT", "CORS_ORIGINS", "KEYBOARD_LAYOUT", "MONKEY"] {
      assert!(!is_secret_name(n), "{n}");
    }
  }

  #[test]
  fn values_that_are_secrets() {
    for v in [
      "sk-proj-abcdefghijklmnop1234",
      "ghp_0123456789abcdefghijklmnopqrstuvwxyz",
      "AKIAIOSFODNN7EXAMPLE",
      "mongodb://admin:hunter2@db:27017/app",
      "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2lnbmF0dXJl",
      "q8Zr2LmX9vT4kWp7Ns3Yb6Hd1Jf5Gc0A",
      "-----BEGIN PRIVATE KEY-----\nMIIEv...",
    ] {
      assert!(looks_like_secret_value(v), "{v}");
    }
    for v in [
      "info",
      "https://api.example.com/v1/chat",
      "mongodb://mongodb:27017/app",
      "http://user@host/",
      "production",
      "a_very_long_plain_setting_name",
      "/var/lib/app/data/files",
      "12345678901234567890",
    ] {
      assert!(!looks_like_secret_value(v), "{v}");
    }
  }

  #[test]
  fn classify_turns_secrets_into_references() {
    let map: BTreeMap<String, String> = [
      ("LOG_LEVEL", "debug"),
      ("OPENAI_API_KEY", "sk-live-verysecretvalue123"),
      ("UPSTREAM", "https://bob:pa55@example.com"),
      ("FROM_REF", "${OTHER_VAR}"),
      ("WITH_DEFAULT", "${X_Y:-fallback}"),
      ("NOT_A_REF", "${1BAD}"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let env = classify_env(&map);
    let get = |n: &str| env.iter().find(|e| e.name == n).map(|e| e.value.clone());
    assert_eq!(get("LOG_LEVEL"), Some(EnvValue::Plain("debug".into())));
    assert_eq!(get("OPENAI_API_KEY"), Some(EnvValue::Secret { var: "OPENAI_API_KEY".into() }));
    assert_eq!(get("UPSTREAM"), Some(EnvValue::Secret { var: "UPSTREAM".into() }));
    assert_eq!(get("FROM_REF"), Some(EnvValue::Secret { var: "OTHER_VAR".into() }));
    assert_eq!(get("WITH_DEFAULT"), Some(EnvValue::Secret { var: "X_Y".into() }));
    assert_eq!(get("NOT_A_REF"), Some(EnvValue::Plain("${1BAD}".into())));
    assert_eq!(env.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), {
      let mut v: Vec<&str> = map.keys().map(String::as_str).collect();
      v.sort();
      v
    });
  }
}
