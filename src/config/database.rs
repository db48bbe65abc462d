//! The database next to the app in the generated deployment files: `docker.database` (which one)
//! and `docker.postgres` (its settings; MongoDB's are `docker.mongo`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Which database service the generated `docker-compose.yml` and Kubernetes manifests run beside
/// the app (`docker.database`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Database {
  /// MongoDB (`docker.mongo`): the app gets `MONGODB_URL`. The default.
  #[default]
  Mongo,
  /// PostgreSQL (`docker.postgres`): the app gets `DATABASE_URL` and `POSTGRES_*`.
  Postgres,
  /// No database service.
  None,
}

impl Database {
  /// The name as written in the config (`mongo`, `postgres`, `none`).
  pub fn as_str(self) -> &'static str {
    match self {
      Database::Mongo => "mongo",
      Database::Postgres => "postgres",
      Database::None => "none",
    }
  }
}

/// PostgreSQL service settings (`docker.postgres`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PostgresConfig {
  /// Image. Default `"postgres:16"`.
  #[serde(default = "default_image")]
  pub image: String,
  /// Database name. Default: the app name with `-` → `_`.
  #[serde(default)]
  pub database: Option<String>,
  /// Env var with the user name at deploy time. Default `"POSTGRES_USER"`.
  #[serde(default = "default_user_env")]
  pub username_env: String,
  /// Env var with the password at deploy time (never written). Default `"POSTGRES_PASSWORD"`.
  #[serde(default = "default_password_env")]
  pub password_env: String,
  /// Kubernetes volume size. Default `"5Gi"`.
  #[serde(default = "default_storage")]
  pub storage: String,
  /// Scheme of the app's `DATABASE_URL`: `postgresql` (psycopg2, the default),
  /// `postgresql+psycopg` (psycopg 3) or `postgresql+asyncpg` (asyncpg), as SQLAlchemy expects.
  #[serde(default)]
  pub url_scheme: PostgresScheme,
}

/// The scheme of `DATABASE_URL` for PostgreSQL (`docker.postgres.urlScheme`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum PostgresScheme {
  /// `postgresql://` (libpq, psycopg2). The default.
  #[default]
  #[serde(rename = "postgresql")]
  Postgresql,
  /// `postgresql+psycopg://` (SQLAlchemy with psycopg 3).
  #[serde(rename = "postgresql+psycopg")]
  Psycopg,
  /// `postgresql+asyncpg://` (SQLAlchemy with asyncpg).
  #[serde(rename = "postgresql+asyncpg")]
  Asyncpg,
}

impl PostgresScheme {
  /// The scheme as written in a URL.
  pub fn as_str(self) -> &'static str {
    match self {
      PostgresScheme::Postgresql => "postgresql",
      PostgresScheme::Psycopg => "postgresql+psycopg",
      PostgresScheme::Asyncpg => "postgresql+asyncpg",
    }
  }
}

fn default_image() -> String {
  "postgres:16".into()
}
fn default_user_env() -> String {
  "POSTGRES_USER".into()
}
fn default_password_env() -> String {
  "POSTGRES_PASSWORD".into()
}
fn default_storage() -> String {
  "5Gi".into()
}

impl Default for PostgresConfig {
  fn default() -> Self {
    PostgresConfig {
      image: default_image(),
      database: None,
      username_env: default_user_env(),
      password_env: default_password_env(),
      storage: default_storage(),
      url_scheme: PostgresScheme::default(),
    }
  }
}

impl PostgresConfig {
  /// Checks values serde cannot; returns `(key path under docker, expected)` pairs. `env_name` and
  /// `quantity` are the docker section's own checks for variable names and Kubernetes sizes.
  pub fn validate(
    &self,
    env_name: impl Fn(&str) -> bool,
    quantity: impl Fn(&str) -> bool,
  ) -> Vec<(String, String)> {
    let mut errs = Vec::new();
    let mut err = |k: &str, e: &str| errs.push((format!("docker.postgres.{k}"), e.to_string()));
    if !env_name(&self.username_env) {
      err("usernameEnv", "an environment variable name");
    }
    if !env_name(&self.password_env) {
      err("passwordEnv", "an environment variable name");
    }
    if !quantity(&self.storage) {
      err("storage", "a Kubernetes quantity such as 5Gi");
    }
    if self.image.is_empty() || self.image.contains(char::is_whitespace) {
      err("image", "an image reference such as postgres:16");
    }
    if let Some(db) = &self.database {
      let ok = !db.is_empty()
        && db.len() <= 63
        && db.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && db.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
      if !ok {
        err("database", "a PostgreSQL database name: letters, digits and `_`, at most 63");
      }
    }
    errs
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn names_round_trip() {
    for d in [Database::Mongo, Database::Postgres, Database::None] {
      let v = serde_json::to_value(d).unwrap();
      assert_eq!(v, serde_json::json!(d.as_str()));
      assert_eq!(serde_json::from_value::<Database>(v).unwrap(), d);
    }
    let p: PostgresConfig =
      serde_json::from_value(serde_json::json!({ "urlScheme": "postgresql+asyncpg" })).unwrap();
    assert_eq!(p.url_scheme.as_str(), "postgresql+asyncpg");
    assert_eq!(p.image, "postgres:16");
    assert!(serde_json::from_value::<Database>(serde_json::json!("mysql")).is_err());
  }

  #[test]
  fn validate_reports_paths() {
    let p: PostgresConfig = serde_json::from_value(serde_json::json!({
      "database": "my-db", "usernameEnv": "1X", "storage": "lots", "image": "a b"
    }))
    .unwrap();
    let keys: Vec<String> =
      p.validate(|n| !n.starts_with('1'), |q| q.ends_with("Gi")).into_iter().map(|e| e.0).collect();
    assert_eq!(
      keys,
      [
        "docker.postgres.usernameEnv",
        "docker.postgres.storage",
        "docker.postgres.image",
        "docker.postgres.database"
      ]
    );
    assert!(PostgresConfig::default().validate(|_| true, |_| true).is_empty());
  }
}
