//! `docker-compose.yml`: app + database (MongoDB, PostgreSQL or none) + Ollama on one network,
//! named volumes, health checks.
//!
//! Written in the 3.8 file format so that both the Compose Specification schema and
//! docker-compose v1 accept it. Secrets are `${VAR:?...}` references (compose fails fast when one
//! is unset); a literal `$` in a plain value is escaped as `$$`.

use super::context::{DatabaseSpec, DeployContext, MongoSpec, PostgresSpec};
use super::env::EnvValue;
use super::yaml::{self, Yaml};

/// Name of the single compose network.
pub const NETWORK: &str = "farm";

/// `${VAR:?VAR must be set}`.
pub fn required_ref(var: &str) -> String {
  format!("${{{var}:?{var} must be set}}")
}

fn healthcheck(test: &[&str], interval: &str, start: &str) -> Yaml {
  Yaml::map([
    ("test", Yaml::strs(test.iter().copied())),
    ("interval", Yaml::s(interval)),
    ("timeout", Yaml::s("10s")),
    ("retries", Yaml::Int(5)),
    ("start_period", Yaml::s(start)),
  ])
}

/// Environment of the app container, in order: FARM settings, the database's URL and settings
/// (credentials as references), the Ollama URL, then the configured variables (plain values
/// escaped, secrets as references).
pub fn app_environment(ctx: &DeployContext) -> Vec<(String, Yaml)> {
  let mut env: Vec<(String, Yaml)> = vec![
    ("FARM_ENV".into(), Yaml::s(&ctx.environment)),
    ("PORT".into(), Yaml::s(ctx.port.to_string())),
  ];
  match &ctx.database {
    DatabaseSpec::Mongo(m) => {
      env.push(("MONGODB_URL".into(), Yaml::s(m.url("mongodb", required_ref))));
      env.push(("MONGODB_DATABASE".into(), Yaml::s(&m.database)));
    }
    DatabaseSpec::Postgres(p) => {
      env.push(("DATABASE_URL".into(), Yaml::s(p.url("postgres", required_ref))));
      env.push(("POSTGRES_SERVER".into(), Yaml::s("postgres")));
      env.push(("POSTGRES_PORT".into(), Yaml::s(PostgresSpec::PORT.to_string())));
      env.push(("POSTGRES_DB".into(), Yaml::s(&p.database)));
      env.push(("POSTGRES_USER".into(), Yaml::s(required_ref(&p.username_env))));
      env.push(("POSTGRES_PASSWORD".into(), Yaml::s(required_ref(&p.password_env))));
    }
    DatabaseSpec::None => {}
  }
  if ctx.ollama.is_some() {
    env.push(("OLLAMA_URL".into(), Yaml::s("http://ollama:11434")));
  }
  for var in &ctx.env {
    let value = match &var.value {
      EnvValue::Plain(v) => v.replace('$', "$$"),
      EnvValue::Secret { var } => required_ref(var),
    };
    env.retain(|(k, _)| k != &var.name);
    env.push((var.name.clone(), Yaml::s(value)));
  }
  env
}

/// The compose file as a YAML tree.
pub fn compose_yaml(ctx: &DeployContext) -> Yaml {
  // Build contexts are relative to this file (in the output directory): see `build_spec`.
  let app_build = ctx.build_spec(super::context::ImageKind::App);
  let networks = || Yaml::strs([NETWORK]);
  let probe = format!(
    "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:{}{}', timeout=5).status == 200 else 1)",
    ctx.port, ctx.health_path
  );
  let mut depends = Vec::new();
  depends.extend(ctx.database.service());
  if ctx.ollama.is_some() {
    depends.push("ollama");
  }
  let mut app = vec![
    ("image", Yaml::s(ctx.image_ref(""))),
    (
      "build",
      Yaml::map([
        ("context", Yaml::s(&app_build.context_rel)),
        ("dockerfile", Yaml::s(&app_build.dockerfile_rel)),
        ("target", Yaml::s(super::dockerfile::PRODUCTION_TARGET)),
      ]),
    ),
    ("restart", Yaml::s("unless-stopped")),
    ("ports", Yaml::strs([format!("{0}:{0}", ctx.port)])),
    ("environment", Yaml::Map(app_environment(ctx))),
  ]
  .into_iter()
  .map(|(k, v)| (k.to_string(), v))
  .collect::<Vec<_>>();
  if !depends.is_empty() {
    app.push(("depends_on".into(), Yaml::strs(depends)));
  }
  app.push(("healthcheck".into(), healthcheck(&["CMD", "python", "-c", &probe], "30s", "20s")));
  app.push(("networks".into(), networks()));
  let mut services = vec![("app".to_string(), Yaml::Map(app))];
  let mut volumes = Vec::new();
  match &ctx.database {
    DatabaseSpec::Mongo(m) => {
      services.push(("mongodb".into(), mongo_service(m)));
      volumes.push(("mongodb_data".to_string(), Yaml::Map(vec![])));
    }
    DatabaseSpec::Postgres(p) => {
      services.push(("postgres".into(), postgres_service(p)));
      volumes.push(("postgres_data".to_string(), Yaml::Map(vec![])));
    }
    DatabaseSpec::None => {}
  }
  if ctx.ollama.is_some() {
    let ollama_build = ctx.build_spec(super::context::ImageKind::Ollama);
    services.push((
      "ollama".into(),
      Yaml::map([
        ("image", Yaml::s(ctx.image_ref("-ollama"))),
        (
          "build",
          Yaml::map([
            ("context", Yaml::s(&ollama_build.context_rel)),
            ("dockerfile", Yaml::s(&ollama_build.dockerfile_rel)),
          ]),
        ),
        ("restart", Yaml::s("unless-stopped")),
        ("volumes", Yaml::strs(["ollama_data:/root/.ollama"])),
        ("healthcheck", healthcheck(&["CMD", "ollama", "list"], "30s", "30s")),
        ("networks", networks()),
      ]),
    ));
    volumes.push(("ollama_data".into(), Yaml::Map(vec![])));
  }
  let mut doc = vec![("version", Yaml::s("3.8")), ("services", Yaml::Map(services))];
  if !volumes.is_empty() {
    doc.push(("volumes", Yaml::Map(volumes)));
  }
  doc.push(("networks", Yaml::map([(NETWORK, Yaml::Map(vec![]))])));
  Yaml::map(doc)
}

/// The `mongodb` service: root credentials from the environment, data in `mongodb_data`,
/// healthy when `mongosh` gets a ping answer.
fn mongo_service(m: &MongoSpec) -> Yaml {
  Yaml::map([
    ("image", Yaml::s(&m.image)),
    ("restart", Yaml::s("unless-stopped")),
    (
      "environment",
      Yaml::map([
        ("MONGO_INITDB_ROOT_USERNAME", Yaml::s(required_ref(&m.username_env))),
        ("MONGO_INITDB_ROOT_PASSWORD", Yaml::s(required_ref(&m.password_env))),
        ("MONGO_INITDB_DATABASE", Yaml::s(&m.database)),
      ]),
    ),
    ("volumes", Yaml::strs(["mongodb_data:/data/db"])),
    (
      "healthcheck",
      healthcheck(
        &["CMD", "mongosh", "--quiet", "--eval", "db.adminCommand('ping').ok"],
        "10s",
        "20s",
      ),
    ),
    ("networks", Yaml::strs([NETWORK])),
  ])
}

/// The `postgres` service: user and password from the environment, data in `postgres_data`
/// (`PGDATA` a subdirectory of it), healthy when `pg_isready` says so. `$$` keeps compose from
/// interpolating the variables the container's shell expands.
fn postgres_service(p: &PostgresSpec) -> Yaml {
  Yaml::map([
    ("image", Yaml::s(&p.image)),
    ("restart", Yaml::s("unless-stopped")),
    (
      "environment",
      Yaml::map([
        ("POSTGRES_USER", Yaml::s(required_ref(&p.username_env))),
        ("POSTGRES_PASSWORD", Yaml::s(required_ref(&p.password_env))),
        ("POSTGRES_DB", Yaml::s(&p.database)),
        ("PGDATA", Yaml::s(PostgresSpec::PGDATA)),
      ]),
    ),
    ("volumes", Yaml::strs(["postgres_data:/var/lib/postgresql/data"])),
    (
      "healthcheck",
      healthcheck(
        &["CMD-SHELL", "pg_isready -U \"$${POSTGRES_USER}\" -d \"$${POSTGRES_DB}\""],
        "10s",
        "20s",
      ),
    ),
    ("networks", Yaml::strs([NETWORK])),
  ])
}

/// `docker-compose.yml` text.
pub fn docker_compose(ctx: &DeployContext) -> String {
  format!(
    "# docker-compose for {} {}. Generated by @farm/build-native: do not edit, regenerate.\n\
     # Secrets come from the environment (or an .env file next to this file): {}.\n{}",
    ctx.app_name,
    ctx.version,
    required_vars(ctx).join(", "),
    yaml::to_string(&compose_yaml(ctx))
  )
}

/// Variables that must be set at deploy time (the database's credentials and secret
/// references), sorted.
pub fn required_vars(ctx: &DeployContext) -> Vec<String> {
  let mut vars = ctx.database.credential_vars();
  for v in &ctx.env {
    if let EnvValue::Secret { var } = &v.value {
      vars.push(var.clone());
    }
  }
  vars.sort();
  vars.dedup();
  vars
}

#[cfg(test)]
mod tests {
  use super::super::context::tests::{sample, sample_postgres};
  use super::super::env::EnvVar;
  use super::*;

  #[test]
  fn compose_structure() {
    let text = docker_compose(&sample());
    let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let s = &v["services"];
    assert_eq!(s["mongodb"]["image"].as_str(), Some("mongo:7"));
    assert_eq!(s["app"]["image"].as_str(), Some("127.0.0.1:5000/farm/farm-demo:1.2.0"));
    assert_eq!(s["app"]["build"]["context"].as_str(), Some("."));
    assert_eq!(s["app"]["build"]["dockerfile"].as_str(), Some("Dockerfile"));
    assert_eq!(s["ollama"]["build"]["context"].as_str(), Some("models"));
    assert_eq!(s["ollama"]["build"]["dockerfile"].as_str(), Some("../Dockerfile.ollama"));
    assert_eq!(
      s["app"]["environment"]["OPENAI_API_KEY"].as_str(),
      Some("${OPENAI_API_KEY:?OPENAI_API_KEY must be set}")
    );
    assert_eq!(s["app"]["environment"]["LOG_LEVEL"].as_str(), Some("info"));
    assert_eq!(s["app"]["environment"]["OLLAMA_URL"].as_str(), Some("http://ollama:11434"));
    assert!(s["app"]["environment"]["MONGODB_URL"]
      .as_str()
      .unwrap()
      .contains("${MONGO_PASSWORD:?"));
    assert_eq!(s["mongodb"]["volumes"][0].as_str(), Some("mongodb_data:/data/db"));
    for svc in ["app", "mongodb", "ollama"] {
      assert!(s[svc]["healthcheck"]["test"].is_sequence(), "{svc}");
      assert_eq!(s[svc]["networks"][0].as_str(), Some(NETWORK));
    }
    assert!(v["volumes"]["ollama_data"].is_mapping());
    assert_eq!(v["networks"].as_mapping().unwrap().len(), 1);
  }

  #[test]
  fn plain_dollar_is_escaped_and_no_ollama_without_ai() {
    let mut c = sample();
    c.ollama = None;
    c.env.push(EnvVar { name: "PRICE".into(), value: EnvValue::Plain("5$".into()) });
    let v: serde_yaml::Value = serde_yaml::from_str(&docker_compose(&c)).unwrap();
    assert_eq!(v["services"]["app"]["environment"]["PRICE"].as_str(), Some("5$$"));
    assert!(v["services"]["ollama"].is_null());
    assert!(v["volumes"]["ollama_data"].is_null());
    assert_eq!(v["services"]["app"]["depends_on"].as_sequence().unwrap().len(), 1);
  }

  #[test]
  fn postgres_service_and_app_wiring() {
    let text = docker_compose(&sample_postgres());
    let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let s = &v["services"];
    assert!(s["mongodb"].is_null() && v["volumes"]["mongodb_data"].is_null(), "{text}");
    assert!(!text.contains("mongo"), "{text}");
    let pg = &s["postgres"];
    assert_eq!(pg["image"].as_str(), Some("postgres:16"));
    assert_eq!(pg["volumes"][0].as_str(), Some("postgres_data:/var/lib/postgresql/data"));
    assert!(v["volumes"]["postgres_data"].is_mapping());
    assert_eq!(
      pg["environment"]["POSTGRES_PASSWORD"].as_str(),
      Some(required_ref("POSTGRES_PASSWORD").as_str())
    );
    assert_eq!(pg["healthcheck"]["test"][0].as_str(), Some("CMD-SHELL"));
    assert!(pg["healthcheck"]["test"][1]
      .as_str()
      .unwrap()
      .starts_with("pg_isready -U \"$${POSTGRES_USER}\""));
    let env = &s["app"]["environment"];
    assert_eq!(
      env["DATABASE_URL"].as_str(),
      Some("postgresql+psycopg://${POSTGRES_USER:?POSTGRES_USER must be set}:${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}@postgres:5432/farm_demo")
    );
    assert_eq!(env["POSTGRES_SERVER"].as_str(), Some("postgres"));
    assert!(env["MONGODB_URL"].is_null());
    assert_eq!(s["app"]["depends_on"][0].as_str(), Some("postgres"));
    assert_eq!(
      required_vars(&sample_postgres()),
      vec!["OPENAI_API_KEY", "POSTGRES_PASSWORD", "POSTGRES_USER"]
    );
  }

  #[test]
  fn no_database_service_with_none() {
    let mut c = sample();
    c.database = DatabaseSpec::None;
    c.ollama = None;
    let text = docker_compose(&c);
    let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(v["services"].as_mapping().unwrap().len(), 1, "{text}");
    assert!(v["services"]["app"]["depends_on"].is_null());
    assert!(v["volumes"].is_null());
    assert!(!text.contains("MONGO") && !text.contains("DATABASE_URL"), "{text}");
    assert_eq!(required_vars(&c), vec!["OPENAI_API_KEY"]);
  }

  #[test]
  fn required_vars_lists_secrets() {
    assert_eq!(
      required_vars(&sample()),
      vec!["MONGO_PASSWORD", "MONGO_USERNAME", "OPENAI_API_KEY"]
    );
  }
}
