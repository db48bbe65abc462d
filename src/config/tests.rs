use super::*;
use serde_json::json;

fn err(v: serde_json::Value) -> ConfigError {
  FarmConfig::from_json(v, "farm.config.ts").expect_err("config should be rejected")
}

#[test]
fn minimal_config_gets_defaults() {
  let c = FarmConfig::from_json(json!({ "appName": "demo" }), "f").unwrap();
  assert_eq!(c.version, "0.0.0");
  assert_eq!(c.environment, Environment::Production);
  assert_eq!(c.output_dir, "dist");
  assert_eq!(c.cache_dir, ".farm/cache");
  assert!(c.frontend.is_none() && c.backend.is_none());
  let c = FarmConfig::from_json(json!({ "appName": "demo", "frontend": {}, "backend": {} }), "f")
    .unwrap();
  assert_eq!(c.frontend.unwrap().root, "apps/web");
  let be = c.backend.unwrap();
  assert_eq!(
    (be.root.as_str(), be.app.as_str(), be.out_dir.as_str()),
    ("apps/api", "main:app", "api")
  );
}

#[test]
fn unknown_key_names_path_and_suggests() {
  let e = err(json!({ "appName": "demo", "frontend": { "outdir": "x" } }));
  assert_eq!(e.path, "frontend.outdir");
  assert!(e.fix.contains("outDir"), "{e}");
  assert!(e.to_string().starts_with("farm.config.ts: `frontend.outdir`: unknown key"), "{e}");
}

#[test]
fn wrong_type_names_path_and_expected() {
  let e = err(json!({ "appName": "demo", "build": { "continueOnError": "yes" } }));
  assert_eq!(e.path, "build.continueOnError");
  assert!(e.message.contains("expected a boolean"), "{e}");
}

#[test]
fn bad_values_are_rejected_with_path() {
  assert_eq!(err(json!({ "appName": "Demo App" })).path, "appName");
  assert_eq!(err(json!({ "appName": "demo", "environment": "prodution" })).path, "environment");
  assert_eq!(err(json!({ "appName": "demo", "outputDir": "../out" })).path, "outputDir");
  assert_eq!(err(json!({ "appName": "demo", "outputDir": "/tmp/x" })).path, "outputDir");
  assert_eq!(err(json!({ "appName": "demo", "outputDir": "." })).path, "outputDir");
  assert_eq!(
    err(json!({ "appName": "demo", "build": { "concurrency": 0 } })).path,
    "build.concurrency"
  );
  assert_eq!(err(json!({ "appName": "demo", "backend": { "app": "main" } })).path, "backend.app");
  assert_eq!(err(json!({ "appName": "demo", "plugins": ["a", "a"] })).path, "plugins[1].name");
  assert_eq!(err(json!({ "version": "1" })).path, "appName");
  assert_eq!(err(json!([1])).path, "");
}

#[test]
fn backend_env_extras_and_env_file_are_validated() {
  let be = |b: serde_json::Value| err(json!({ "appName": "demo", "backend": b }));
  let e = be(json!({ "env": { "1BAD": "x" } }));
  assert_eq!(e.path, "backend.env.1BAD");
  let e = be(json!({ "env": { "DB": "${DB_URL" } }));
  assert_eq!(e.path, "backend.env.DB");
  assert!(e.message.contains("${DB_URL") && e.fix.contains("${VAR:-default}"), "{e}");
  assert_eq!(be(json!({ "env": { "DB": "${A-B}" } })).path, "backend.env.DB");
  assert_eq!(be(json!({ "env": { "DB": 3 } })).path, "backend.env.DB");
  assert_eq!(be(json!({ "extras": ["prod", "a b"] })).path, "backend.extras[1]");
  assert_eq!(be(json!({ "envFile": "/etc/app.env" })).path, "backend.envFile");
  let ok = json!({ "appName": "demo", "backend": { "root": "api", "envFile": "../.env",
    "env": { "A": "lit", "B": "${X:-d}/${Y}" }, "extras": ["prod.server"] } });
  FarmConfig::from_json(ok, "farm.config.ts").unwrap();
}

#[test]
fn command_outputs_are_paths_the_task_owns_whole() {
  let task =
    |out: &str| json!({ "appName": "d", "tasks": { "gen": { "command": "x", "outputs": [out] } } });
  for ok in ["out", "out/", "out/**", "src/generated/**", "build/report.txt"] {
    FarmConfig::from_json(task(ok), "f").unwrap_or_else(|e| panic!("{ok}: {e}"));
  }
  for bad in ["src/**/*.gen.ts", "*.txt", "out/*", "**", "."] {
    let e = err(task(bad));
    assert_eq!(e.path, "tasks.gen.outputs[0]", "{bad}");
    assert!(e.fix.contains("moves it aside"), "{e}");
  }
}
