//! Kubernetes manifests (`k8s-manifests.yaml`): ConfigMap, the database's PersistentVolumeClaim,
//! Deployments and Services for the app, the database (MongoDB or PostgreSQL, or none) and Ollama,
//! with probes and resources.
//!
//! Non-secret settings live in the ConfigMap `<app>-config`; secrets (database credentials and
//! every secret variable) are `secretKeyRef`s into the Secret `<app>-secrets`, which is NOT generated:
//! `deploy/deploy-k8s.sh` creates it from the environment. Valid per `kubernetes-validate --strict`.

use super::compose::required_vars;
use super::context::{DatabaseSpec, DeployContext, MongoSpec, PostgresSpec, ResourceSpec};
use super::dockerfile::APP_UID;
use super::env::EnvValue;
use super::yaml::{self, Yaml};

/// `<app>-config`.
pub fn config_map_name(ctx: &DeployContext) -> String {
  format!("{}-config", ctx.app_name)
}

/// `<app>-secrets`.
pub fn secret_name(ctx: &DeployContext) -> String {
  format!("{}-secrets", ctx.app_name)
}

/// Name of a component's Deployment/Service: `<app>` for the app, `<app>-<component>` otherwise.
pub fn component_name(ctx: &DeployContext, component: &str) -> String {
  if component == "app" {
    ctx.app_name.clone()
  } else {
    format!("{}-{}", ctx.app_name, component)
  }
}

fn labels(ctx: &DeployContext, component: &str) -> Yaml {
  Yaml::map([
    ("app.kubernetes.io/name", Yaml::s(component_name(ctx, component))),
    ("app.kubernetes.io/part-of", Yaml::s(&ctx.app_name)),
    ("app.kubernetes.io/component", Yaml::s(component)),
  ])
}

fn metadata(ctx: &DeployContext, name: String, component: &str) -> Yaml {
  let mut l = vec![
    ("app.kubernetes.io/name".to_string(), Yaml::s(component_name(ctx, component))),
    ("app.kubernetes.io/part-of".to_string(), Yaml::s(&ctx.app_name)),
    ("app.kubernetes.io/component".to_string(), Yaml::s(component)),
  ];
  l.push(("app.kubernetes.io/version".into(), Yaml::s(&ctx.version)));
  l.push(("app.kubernetes.io/managed-by".into(), Yaml::s("farm-build")));
  Yaml::map([("name", Yaml::s(name)), ("labels", Yaml::Map(l))])
}

fn resources(r: &ResourceSpec) -> Yaml {
  Yaml::map([
    (
      "requests",
      Yaml::map([("cpu", Yaml::s(&r.cpu_request)), ("memory", Yaml::s(&r.memory_request))]),
    ),
    ("limits", Yaml::map([("cpu", Yaml::s(&r.cpu_limit)), ("memory", Yaml::s(&r.memory_limit))])),
  ])
}

fn secret_env(ctx: &DeployContext, name: &str, key: &str) -> Yaml {
  Yaml::map([
    ("name", Yaml::s(name)),
    (
      "valueFrom",
      Yaml::map([(
        "secretKeyRef",
        Yaml::map([("name", Yaml::s(secret_name(ctx))), ("key", Yaml::s(key))]),
      )]),
    ),
  ])
}

fn plain_env(name: &str, value: &str) -> Yaml {
  Yaml::map([("name", Yaml::s(name)), ("value", Yaml::s(value))])
}

fn probe_http(path: &str, port: u16, initial: i64, period: i64) -> Yaml {
  Yaml::map([
    ("httpGet", Yaml::map([("path", Yaml::s(path)), ("port", Yaml::Int(port.into()))])),
    ("initialDelaySeconds", Yaml::Int(initial)),
    ("periodSeconds", Yaml::Int(period)),
    ("timeoutSeconds", Yaml::Int(5)),
    ("failureThreshold", Yaml::Int(3)),
  ])
}

fn probe_exec(cmd: &[&str], initial: i64, period: i64) -> Yaml {
  Yaml::map([
    ("exec", Yaml::map([("command", Yaml::strs(cmd.iter().copied()))])),
    ("initialDelaySeconds", Yaml::Int(initial)),
    ("periodSeconds", Yaml::Int(period)),
    ("timeoutSeconds", Yaml::Int(5)),
    ("failureThreshold", Yaml::Int(5)),
  ])
}

struct Workload {
  component: &'static str,
  replicas: u32,
  container: Yaml,
  volumes: Option<Yaml>,
  pod_security: Option<Yaml>,
  recreate: bool,
}

fn deployment(ctx: &DeployContext, w: Workload) -> Yaml {
  let mut pod_spec = vec![("containers".to_string(), Yaml::Seq(vec![w.container]))];
  if let Some(sec) = w.pod_security {
    pod_spec.push(("securityContext".into(), sec));
  }
  if let Some(v) = w.volumes {
    pod_spec.push(("volumes".into(), v));
  }
  let mut spec = vec![
    ("replicas".to_string(), Yaml::Int(w.replicas.into())),
    ("selector".to_string(), Yaml::map([("matchLabels", labels(ctx, w.component))])),
  ];
  if w.recreate {
    spec.push(("strategy".into(), Yaml::map([("type", Yaml::s("Recreate"))])));
  }
  spec.push((
    "template".into(),
    Yaml::map([
      ("metadata", Yaml::map([("labels", labels(ctx, w.component))])),
      ("spec", Yaml::Map(pod_spec)),
    ]),
  ));
  Yaml::map([
    ("apiVersion", Yaml::s("apps/v1")),
    ("kind", Yaml::s("Deployment")),
    ("metadata", metadata(ctx, component_name(ctx, w.component), w.component)),
    ("spec", Yaml::Map(spec)),
  ])
}

fn service(ctx: &DeployContext, component: &str, port: u16) -> Yaml {
  Yaml::map([
    ("apiVersion", Yaml::s("v1")),
    ("kind", Yaml::s("Service")),
    ("metadata", metadata(ctx, component_name(ctx, component), component)),
    (
      "spec",
      Yaml::map([
        ("type", Yaml::s("ClusterIP")),
        ("selector", labels(ctx, component)),
        (
          "ports",
          Yaml::Seq(vec![Yaml::map([
            ("name", Yaml::s("tcp")),
            ("port", Yaml::Int(port.into())),
            ("targetPort", Yaml::Int(port.into())),
            ("protocol", Yaml::s("TCP")),
          ])]),
        ),
      ]),
    ),
  ])
}

/// Non-secret settings of the app (the ConfigMap data).
pub fn config_data(ctx: &DeployContext) -> Vec<(String, Yaml)> {
  let mut data: Vec<(String, Yaml)> = vec![
    ("FARM_ENV".into(), Yaml::s(&ctx.environment)),
    ("PORT".into(), Yaml::s(ctx.port.to_string())),
  ];
  match &ctx.database {
    DatabaseSpec::Mongo(m) => data.push(("MONGODB_DATABASE".into(), Yaml::s(&m.database))),
    DatabaseSpec::Postgres(p) => {
      data.push(("POSTGRES_SERVER".into(), Yaml::s(component_name(ctx, "postgres"))));
      data.push(("POSTGRES_PORT".into(), Yaml::s(PostgresSpec::PORT.to_string())));
      data.push(("POSTGRES_DB".into(), Yaml::s(&p.database)));
    }
    DatabaseSpec::None => {}
  }
  if ctx.ollama.is_some() {
    data.push((
      "OLLAMA_URL".into(),
      Yaml::s(format!("http://{}:11434", component_name(ctx, "ollama"))),
    ));
  }
  for v in &ctx.env {
    if let EnvValue::Plain(value) = &v.value {
      data.retain(|(k, _)| k != &v.name);
      data.push((v.name.clone(), Yaml::s(value)));
    }
  }
  data
}

/// All manifests as YAML documents.
pub fn manifests_yaml(ctx: &DeployContext) -> Vec<Yaml> {
  let mut docs = Vec::new();
  docs.push(Yaml::map([
    ("apiVersion", Yaml::s("v1")),
    ("kind", Yaml::s("ConfigMap")),
    ("metadata", metadata(ctx, config_map_name(ctx), "app")),
    ("data", Yaml::Map(config_data(ctx))),
  ]));

  // App. The database URL refers to the credentials by `$(VAR)`, which Kubernetes expands
  // from the variables defined before it.
  let mut env = Vec::new();
  match &ctx.database {
    DatabaseSpec::Mongo(m) => {
      env.push(secret_env(ctx, &m.username_env, &m.username_env));
      env.push(secret_env(ctx, &m.password_env, &m.password_env));
      let host = component_name(ctx, "mongodb");
      env.push(plain_env("MONGODB_URL", &m.url(&host, |v| format!("$({v})"))));
    }
    DatabaseSpec::Postgres(p) => {
      env.push(secret_env(ctx, "POSTGRES_USER", &p.username_env));
      env.push(secret_env(ctx, "POSTGRES_PASSWORD", &p.password_env));
      let pg = PostgresSpec {
        username_env: "POSTGRES_USER".into(),
        password_env: "POSTGRES_PASSWORD".into(),
        ..p.clone()
      };
      let host = component_name(ctx, "postgres");
      env.push(plain_env("DATABASE_URL", &pg.url(&host, |v| format!("$({v})"))));
    }
    DatabaseSpec::None => {}
  }
  for v in &ctx.env {
    if let EnvValue::Secret { var } = &v.value {
      env.push(secret_env(ctx, &v.name, var));
    }
  }
  let app_container = Yaml::map([
    ("name", Yaml::s("app")),
    ("image", Yaml::s(ctx.image_ref(""))),
    ("imagePullPolicy", Yaml::s("IfNotPresent")),
    (
      "ports",
      Yaml::Seq(vec![Yaml::map([
        ("name", Yaml::s("http")),
        ("containerPort", Yaml::Int(ctx.port.into())),
      ])]),
    ),
    (
      "envFrom",
      Yaml::Seq(vec![Yaml::map([(
        "configMapRef",
        Yaml::map([("name", Yaml::s(config_map_name(ctx)))]),
      )])]),
    ),
    ("env", Yaml::Seq(env)),
    ("readinessProbe", probe_http(&ctx.health_path, ctx.port, 5, 10)),
    ("livenessProbe", probe_http(&ctx.health_path, ctx.port, 20, 20)),
    ("resources", resources(&ctx.resources.app)),
    (
      "securityContext",
      Yaml::map([
        ("allowPrivilegeEscalation", Yaml::Bool(false)),
        ("capabilities", Yaml::map([("drop", Yaml::strs(["ALL"]))])),
      ]),
    ),
  ]);
  docs.push(deployment(
    ctx,
    Workload {
      component: "app",
      replicas: ctx.replicas,
      container: app_container,
      volumes: None,
      pod_security: Some(Yaml::map([
        ("runAsNonRoot", Yaml::Bool(true)),
        ("runAsUser", Yaml::Int(APP_UID.into())),
        ("runAsGroup", Yaml::Int(APP_UID.into())),
      ])),
      recreate: false,
    },
  ));
  docs.push(service(ctx, "app", ctx.port));

  match &ctx.database {
    DatabaseSpec::Mongo(m) => docs.extend(mongo_manifests(ctx, m)),
    DatabaseSpec::Postgres(p) => docs.extend(postgres_manifests(ctx, p)),
    DatabaseSpec::None => {}
  }

  // Ollama.
  if ctx.ollama.is_some() {
    let container = Yaml::map([
      ("name", Yaml::s("ollama")),
      ("image", Yaml::s(ctx.image_ref("-ollama"))),
      ("imagePullPolicy", Yaml::s("IfNotPresent")),
      (
        "ports",
        Yaml::Seq(vec![Yaml::map([
          ("name", Yaml::s("http")),
          ("containerPort", Yaml::Int(11434)),
        ])]),
      ),
      ("readinessProbe", probe_http("/api/tags", 11434, 5, 10)),
      ("livenessProbe", probe_http("/api/version", 11434, 30, 20)),
      ("resources", resources(&ctx.resources.ollama)),
    ]);
    docs.push(deployment(
      ctx,
      Workload {
        component: "ollama",
        replicas: 1,
        container,
        volumes: None,
        pod_security: None,
        recreate: true,
      },
    ));
    docs.push(service(ctx, "ollama", 11434));
  }
  docs
}

fn pvc(ctx: &DeployContext, component: &str, storage: &str) -> (String, Yaml) {
  let name = format!("{}-{component}-data", ctx.app_name);
  let doc = Yaml::map([
    ("apiVersion", Yaml::s("v1")),
    ("kind", Yaml::s("PersistentVolumeClaim")),
    ("metadata", metadata(ctx, name.clone(), component)),
    (
      "spec",
      Yaml::map([
        ("accessModes", Yaml::strs(["ReadWriteOnce"])),
        ("resources", Yaml::map([("requests", Yaml::map([("storage", Yaml::s(storage))]))])),
      ]),
    ),
  ]);
  (name, doc)
}

fn data_volume(claim: String) -> Yaml {
  Yaml::Seq(vec![Yaml::map([
    ("name", Yaml::s("data")),
    ("persistentVolumeClaim", Yaml::map([("claimName", Yaml::s(claim))])),
  ])])
}

fn container_port(name: &str, port: u16) -> Yaml {
  Yaml::Seq(vec![Yaml::map([("name", Yaml::s(name)), ("containerPort", Yaml::Int(port.into()))])])
}

fn data_mount(path: &str) -> Yaml {
  Yaml::Seq(vec![Yaml::map([("name", Yaml::s("data")), ("mountPath", Yaml::s(path))])])
}

/// MongoDB: PersistentVolumeClaim, Deployment (root credentials from the Secret, `mongosh` ping
/// probes), Service.
fn mongo_manifests(ctx: &DeployContext, m: &MongoSpec) -> Vec<Yaml> {
  let (claim, pvc) = pvc(ctx, "mongodb", &m.storage);
  let ping = ["mongosh", "--quiet", "--eval", "db.adminCommand('ping').ok"];
  let container = Yaml::map([
    ("name", Yaml::s("mongodb")),
    ("image", Yaml::s(&m.image)),
    ("imagePullPolicy", Yaml::s("IfNotPresent")),
    ("ports", container_port("mongodb", 27017)),
    (
      "env",
      Yaml::Seq(vec![
        secret_env(ctx, "MONGO_INITDB_ROOT_USERNAME", &m.username_env),
        secret_env(ctx, "MONGO_INITDB_ROOT_PASSWORD", &m.password_env),
        plain_env("MONGO_INITDB_DATABASE", &m.database),
      ]),
    ),
    ("volumeMounts", data_mount("/data/db")),
    ("readinessProbe", probe_exec(&ping, 10, 10)),
    ("livenessProbe", probe_exec(&ping, 30, 20)),
    ("resources", resources(&ctx.resources.mongodb)),
  ]);
  let workload = Workload {
    component: "mongodb",
    replicas: 1,
    container,
    volumes: Some(data_volume(claim)),
    pod_security: None,
    recreate: true,
  };
  vec![pvc, deployment(ctx, workload), service(ctx, "mongodb", 27017)]
}

/// PostgreSQL: PersistentVolumeClaim, Deployment (user and password from the Secret, `PGDATA` a
/// subdirectory of the volume, `pg_isready` probes), Service.
fn postgres_manifests(ctx: &DeployContext, p: &PostgresSpec) -> Vec<Yaml> {
  let (claim, pvc) = pvc(ctx, "postgres", &p.storage);
  let ready = ["sh", "-c", "pg_isready -h 127.0.0.1 -U \"$POSTGRES_USER\" -d \"$POSTGRES_DB\""];
  let container = Yaml::map([
    ("name", Yaml::s("postgres")),
    ("image", Yaml::s(&p.image)),
    ("imagePullPolicy", Yaml::s("IfNotPresent")),
    ("ports", container_port("postgres", PostgresSpec::PORT)),
    (
      "env",
      Yaml::Seq(vec![
        secret_env(ctx, "POSTGRES_USER", &p.username_env),
        secret_env(ctx, "POSTGRES_PASSWORD", &p.password_env),
        plain_env("POSTGRES_DB", &p.database),
        plain_env("PGDATA", PostgresSpec::PGDATA),
      ]),
    ),
    ("volumeMounts", data_mount("/var/lib/postgresql/data")),
    ("readinessProbe", probe_exec(&ready, 10, 10)),
    ("livenessProbe", probe_exec(&ready, 30, 20)),
    ("resources", resources(&ctx.resources.postgres)),
  ]);
  let workload = Workload {
    component: "postgres",
    replicas: 1,
    container,
    volumes: Some(data_volume(claim)),
    pod_security: None,
    recreate: true,
  };
  vec![pvc, deployment(ctx, workload), service(ctx, "postgres", PostgresSpec::PORT)]
}

/// `k8s-manifests.yaml` text.
pub fn k8s_manifests(ctx: &DeployContext) -> String {
  format!(
    "# Kubernetes manifests for {} {}. Generated by @farm/build-native: do not edit, regenerate.\n\
     # Requires the Secret {} with keys: {} (deploy/deploy-k8s.sh creates it from the environment).\n{}",
    ctx.app_name,
    ctx.version,
    secret_name(ctx),
    required_vars(ctx).join(", "),
    yaml::to_multi_doc(&manifests_yaml(ctx))
  )
}

#[cfg(test)]
mod tests {
  use super::super::context::tests::{sample, sample_postgres};
  use super::*;

  fn docs(text: &str) -> Vec<serde_yaml::Value> {
    serde_yaml::Deserializer::from_str(text)
      .map(|d| serde::Deserialize::deserialize(d).unwrap())
      .collect()
  }

  #[test]
  fn manifests_cover_all_components() {
    let d = docs(&k8s_manifests(&sample()));
    let kinds: Vec<(String, String)> = d
      .iter()
      .map(|m| {
        (
          m["kind"].as_str().unwrap().to_string(),
          m["metadata"]["name"].as_str().unwrap().to_string(),
        )
      })
      .collect();
    let expect = [
      ("ConfigMap", "farm-demo-config"),
      ("Deployment", "farm-demo"),
      ("Service", "farm-demo"),
      ("PersistentVolumeClaim", "farm-demo-mongodb-data"),
      ("Deployment", "farm-demo-mongodb"),
      ("Service", "farm-demo-mongodb"),
      ("Deployment", "farm-demo-ollama"),
      ("Service", "farm-demo-ollama"),
    ];
    assert_eq!(
      kinds,
      expect.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>()
    );
    let app = &d[1]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(app["image"].as_str(), Some("127.0.0.1:5000/farm/farm-demo:1.2.0"));
    assert_eq!(app["readinessProbe"]["httpGet"]["path"].as_str(), Some("/health"));
    assert_eq!(app["resources"]["limits"]["memory"].as_str(), Some("512Mi"));
    let env = app["env"].as_sequence().unwrap();
    let key = env.iter().find(|e| e["name"] == "OPENAI_API_KEY").unwrap();
    assert_eq!(key["valueFrom"]["secretKeyRef"]["name"].as_str(), Some("farm-demo-secrets"));
    let url = env.iter().find(|e| e["name"] == "MONGODB_URL").unwrap();
    assert!(url["value"].as_str().unwrap().contains("$(MONGO_PASSWORD)@farm-demo-mongodb:27017"));
    assert_eq!(d[0]["data"]["LOG_LEVEL"].as_str(), Some("info"));
    assert!(d[0]["data"]["OPENAI_API_KEY"].is_null());
    assert_eq!(d[1]["spec"]["replicas"].as_i64(), Some(2));
    let mongo = &d[4]["spec"]["template"]["spec"];
    assert_eq!(
      mongo["volumes"][0]["persistentVolumeClaim"]["claimName"].as_str(),
      Some("farm-demo-mongodb-data")
    );
    assert!(mongo["containers"][0]["livenessProbe"]["exec"].is_mapping());
  }

  #[test]
  fn postgres_replaces_mongodb() {
    let text = k8s_manifests(&sample_postgres());
    assert!(!text.to_lowercase().contains("mongo"), "{text}");
    let d = docs(&text);
    let names: Vec<&str> = d.iter().map(|m| m["metadata"]["name"].as_str().unwrap()).collect();
    assert_eq!(
      names,
      [
        "farm-demo-config",
        "farm-demo",
        "farm-demo",
        "farm-demo-postgres-data",
        "farm-demo-postgres",
        "farm-demo-postgres",
        "farm-demo-ollama",
        "farm-demo-ollama"
      ]
    );
    let env = d[1]["spec"]["template"]["spec"]["containers"][0]["env"].as_sequence().unwrap();
    let url = env.iter().find(|e| e["name"] == "DATABASE_URL").unwrap();
    assert_eq!(
      url["value"].as_str(),
      Some("postgresql+psycopg://$(POSTGRES_USER):$(POSTGRES_PASSWORD)@farm-demo-postgres:5432/farm_demo")
    );
    let pass = env.iter().find(|e| e["name"] == "POSTGRES_PASSWORD").unwrap();
    assert_eq!(pass["valueFrom"]["secretKeyRef"]["key"].as_str(), Some("POSTGRES_PASSWORD"));
    assert_eq!(d[0]["data"]["POSTGRES_SERVER"].as_str(), Some("farm-demo-postgres"));
    let pg = &d[4]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(pg["image"].as_str(), Some("postgres:16"));
    assert!(pg["readinessProbe"]["exec"]["command"][2].as_str().unwrap().starts_with("pg_isready"));
    assert_eq!(d[5]["spec"]["ports"][0]["port"].as_i64(), Some(5432));
  }

  #[test]
  fn no_database_with_none() {
    let mut c = sample();
    c.database = DatabaseSpec::None;
    let d = docs(&k8s_manifests(&c));
    assert_eq!(d.len(), 5);
    let env = &d[1]["spec"]["template"]["spec"]["containers"][0]["env"];
    assert!(env.as_sequence().unwrap().iter().all(|e| e["name"] != "MONGODB_URL"));
    assert!(d[0]["data"]["MONGODB_DATABASE"].is_null());
  }

  #[test]
  fn no_ollama_without_ai() {
    let mut c = sample();
    c.ollama = None;
    let d = docs(&k8s_manifests(&c));
    assert_eq!(d.len(), 6);
    assert!(d[0]["data"]["OLLAMA_URL"].is_null());
  }
}
