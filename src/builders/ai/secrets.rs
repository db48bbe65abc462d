//! Recursive secret scrubber for deployment configs.
//!
//! A key is secret when its words (split on camelCase, `_`, `-`, `.`) contain `password`,
//! `passwd`, `secret(s)`, `credential(s)`, `token` (singular), `apikey`/`privatekey` as one
//! word, `key` after `api`/`private`/`secret`/`access`/`signing`/`encryption`/`client`, or
//! `tokens` alone or after `auth`/`access`/`refresh`/`api`/`bearer`/`id`/`session`.
//! So `apiKey`, `api_key`, `clientSecret`, `privateKey`, `accessToken`, `tokens`, `password`
//! are secret; `maxTokens`, `tokenizer`, `numTokens` are not.
//! Secret values (anything but `null`) are replaced by `"${FARM_<PATH>}"`, where `<PATH>` is
//! the key path in SCREAMING_SNAKE_CASE (a leading `providers` segment dropped), e.g.
//! `providers.openai.apiKey` → `${FARM_OPENAI_API_KEY}`.

use serde_json::{Map, Value};

/// Splits a key into lowercase words: `clientSecret` → `[client, secret]`, `API_KEY` → `[api, key]`.
fn words(key: &str) -> Vec<String> {
  let mut out = Vec::new();
  let mut cur = String::new();
  let chars: Vec<char> = key.chars().collect();
  for (i, &c) in chars.iter().enumerate() {
    if !c.is_alphanumeric() {
      if !cur.is_empty() {
        out.push(std::mem::take(&mut cur));
      }
      continue;
    }
    let boundary = c.is_uppercase()
      && i > 0
      && (chars[i - 1].is_lowercase()
        || chars[i - 1].is_ascii_digit()
        || (chars[i - 1].is_uppercase() && chars.get(i + 1).is_some_and(|n| n.is_lowercase())));
    if boundary && !cur.is_empty() {
      out.push(std::mem::take(&mut cur));
    }
    cur.extend(c.to_lowercase());
  }
  if !cur.is_empty() {
    out.push(cur);
  }
  out
}

/// `true` when a value under `key` must never be written out.
pub fn is_secret_key(key: &str) -> bool {
  let w = words(key);
  let has = |s: &str| w.iter().any(|x| x == s);
  if [
    "password",
    "passwd",
    "secret",
    "secrets",
    "credential",
    "credentials",
    "token",
    "apikey",
    "privatekey",
  ]
  .iter()
  .any(|s| has(s))
  {
    return true;
  }
  for (i, word) in w.iter().enumerate() {
    let prev = if i > 0 { Some(w[i - 1].as_str()) } else { None };
    if word == "key"
      && matches!(
        prev,
        Some("api" | "private" | "secret" | "access" | "signing" | "encryption" | "client")
      )
    {
      return true;
    }
    if word == "tokens"
      && matches!(
        prev,
        None | Some("auth" | "access" | "refresh" | "api" | "bearer" | "id" | "session")
      )
    {
      return true;
    }
  }
  false
}

/// SCREAMING_SNAKE_CASE of a key (`apiKey` → `API_KEY`).
fn env_segment(key: &str) -> String {
  words(key)
    .into_iter()
    .map(|w| {
      w.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_uppercase()
    })
    .filter(|w| !w.is_empty())
    .collect::<Vec<_>>()
    .join("_")
}

/// The env var reference for a secret at `path` (keys and array indices).
pub fn env_reference(path: &[String]) -> String {
  let segs: Vec<&String> = match path.first().map(String::as_str) {
    Some("providers") if path.len() > 1 => path[1..].iter().collect(),
    _ => path.iter().collect(),
  };
  let name =
    segs.iter().map(|s| env_segment(s)).filter(|s| !s.is_empty()).collect::<Vec<_>>().join("_");
  format!("${{FARM_{name}}}")
}

/// Replaces every secret value in `v` (at any depth) by its env reference. `path` is the key
/// path of `v` itself (empty for a document root). Returns the key paths scrubbed.
pub fn scrub(v: &mut Value, path: &mut Vec<String>) -> Vec<String> {
  let mut found = Vec::new();
  scrub_into(v, path, &mut found);
  found
}

fn scrub_into(v: &mut Value, path: &mut Vec<String>, found: &mut Vec<String>) {
  match v {
    Value::Object(map) => scrub_map(map, path, found),
    Value::Array(items) => {
      for (i, item) in items.iter_mut().enumerate() {
        path.push(i.to_string());
        scrub_into(item, path, found);
        path.pop();
      }
    }
    _ => {}
  }
}

fn scrub_map(map: &mut Map<String, Value>, path: &mut Vec<String>, found: &mut Vec<String>) {
  for (k, v) in map.iter_mut() {
    path.push(k.clone());
    if is_secret_key(k) {
      if !v.is_null() {
        *v = Value::String(env_reference(path));
        found.push(path.join("."));
      }
    } else {
      scrub_into(v, path, found);
    }
    path.pop();
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use serde_json::json;

  #[test]
  fn classifies_keys() {
    for k in [
      "apiKey",
      "api_key",
      "API_KEY",
      "clientSecret",
      "client_secret",
      "privateKey",
      "private-key",
      "token",
      "accessToken",
      "refresh_token",
      "tokens",
      "authTokens",
      "password",
      "dbPassword",
      "passwd",
      "secret",
      "secretAccessKey",
      "apikey",
      "credentials",
    ] {
      assert!(is_secret_key(k), "{k} should be secret");
    }
    for k in [
      "maxTokens",
      "max_tokens",
      "numTokens",
      "tokenizer",
      "model",
      "baseUrl",
      "keyPrefix",
      "monkey",
      "enabled",
    ] {
      assert!(!is_secret_key(k), "{k} should not be secret");
    }
  }

  #[test]
  fn scrubs_at_any_depth_with_env_references() {
    let mut v = json!({
      "providers": {
        "openai": {"apiKey": "sk-live-1", "models": ["gpt"], "maxTokens": 100},
        "azure": {"auth": {"clientSecret": "cs-2", "tenant": "t"}, "deployments": [{"token": "tk-3"}]},
        "x": {"password": null}
      },
      "features": {"db": {"password": "pw-4"}, "list": [{"privateKey": {"pem": "-----BEGIN"}}]}
    });
    let found = scrub(&mut v, &mut Vec::new());
    assert_eq!(v["providers"]["openai"]["apiKey"], "${FARM_OPENAI_API_KEY}");
    assert_eq!(v["providers"]["openai"]["maxTokens"], 100);
    assert_eq!(v["providers"]["azure"]["auth"]["clientSecret"], "${FARM_AZURE_AUTH_CLIENT_SECRET}");
    assert_eq!(
      v["providers"]["azure"]["deployments"][0]["token"],
      "${FARM_AZURE_DEPLOYMENTS_0_TOKEN}"
    );
    assert_eq!(v["providers"]["x"]["password"], Value::Null);
    assert_eq!(v["features"]["db"]["password"], "${FARM_FEATURES_DB_PASSWORD}");
    assert_eq!(v["features"]["list"][0]["privateKey"], "${FARM_FEATURES_LIST_0_PRIVATE_KEY}");
    assert_eq!(found.len(), 5, "{found:?}");
    let s = v.to_string();
    for secret in ["sk-live-1", "cs-2", "tk-3", "pw-4", "BEGIN"] {
      assert!(!s.contains(secret), "{secret} leaked: {s}");
    }
  }

  #[test]
  fn provider_relative_path_for_top_level_provider_object() {
    let mut v = json!({"apiKey": "k"});
    scrub(&mut v, &mut vec!["providers".into(), "openai".into()]);
    assert_eq!(v["apiKey"], "${FARM_OPENAI_API_KEY}");
  }
}
