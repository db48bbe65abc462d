//! Tests against a real Docker engine (dockerd from ci-docker.sh). Each test prints a SKIPPED
//! reason and returns when /var/run/docker.sock is absent.

mod common;

use std::sync::Mutex;

use common::*;
use farm_build_native::builders::docker::config::sanitize_app_name;
use farm_build_native::builders::docker::engine::{
  BuildRequest, Engine, RegistryAuth, CONTEXT_HASH_LABEL,
};
use farm_build_native::builders::docker::ignore::IgnoreMatcher;
use farm_build_native::builders::docker::task::run_docker_task;

macro_rules! need_engine {
  () => {
    if let Some(reason) = engine_skip_reason() {
      eprintln!("{reason}");
      return;
    }
  };
}

fn inspect_size(reference: &str) -> u64 {
  let (ok, out, err) = docker_cli(&["image", "inspect", "-f", "{{.Size}}", reference]);
  assert!(ok, "inspect {reference}: {err}");
  out.trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negotiates_api_version_with_old_daemon() {
  need_engine!();
  let engine = Engine::connect(None).await.unwrap();
  let (ok, server_api, _) = docker_cli(&["version", "-f", "{{.Server.APIVersion}}"]);
  assert!(ok);
  assert_eq!(engine.api_version(), server_api.trim());
  // A versioned call works after negotiation (without it bollard 0.21 sends 1.53 → HTTP 400).
  assert!(engine.image("farm-test/definitely-absent:0").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_runs_skips_and_rebuilds_the_production_image() {
  need_engine!();
  let engine = Engine::connect(None).await.unwrap();
  base_images(&engine).await;
  let root = tempfile::tempdir().unwrap();
  project(root.path());
  let mut info = project_info();
  info.app_name = "farm-it-build".into();
  let cfg = config("");
  let ctx = cfg.deploy_context(&info, root.path());
  assert_eq!(
    ctx.ollama.as_ref().unwrap().pull_models,
    Vec::<String>::new(),
    "model comes from the export"
  );
  let app = sanitize_app_name(&info.app_name);
  let refs: Vec<String> = ["1.0.0", "latest"]
    .iter()
    .flat_map(|t| [format!("{app}:{t}"), format!("{app}-ollama:{t}")])
    .collect();
  remove_images(&refs);

  let lines = Mutex::new(Vec::<String>::new());
  let log = |l: String| lines.lock().unwrap().push(l);
  let out = run_docker_task(&cfg, &ctx, root.path(), &log).await.unwrap();
  assert_eq!(out.images.len(), 2);
  let app_img = &out.images[0].image;
  assert!(!app_img.skipped);
  assert_eq!(app_img.size, inspect_size("farm-it-build:1.0.0"), "artifact size = inspect size");
  assert_eq!(out.images[1].image.size, inspect_size("farm-it-build-ollama:1.0.0"));
  assert_eq!(inspect_size("farm-it-build:latest"), app_img.size, ":latest tag exists");
  {
    let l = lines.lock().unwrap();
    assert!(
      l.iter().any(|l| l.starts_with("Step ") && l.contains("RUN npm ci")),
      "build log streamed"
    );
    assert!(l.iter().any(|l| l.starts_with("Step ") && l.contains("RUN npm run build")));
  }
  let (_, label, _) = docker_cli(&[
    "image",
    "inspect",
    "-f",
    &format!("{{{{index .Config.Labels \"{CONTEXT_HASH_LABEL}\"}}}}"),
    "farm-it-build:1.0.0",
  ]);
  assert_eq!(label.trim(), app_img.context_hash);

  // The container runs without network and prints the expected line as the non-root user.
  let (ok, stdout, stderr) =
    docker_cli(&["run", "--rm", "--network", "none", "farm-it-build:1.0.0"]);
  assert!(ok, "run failed: {stdout} {stderr}");
  assert_eq!(stdout.trim(), "FARM-SERVE uid=10001 app=main:app env=production head=# farm-api v1");
  // The Ollama image has the exported model store at OLLAMA_MODELS.
  let (ok, stdout, _) = docker_cli(&[
    "run",
    "--rm",
    "--network",
    "none",
    "--entrypoint",
    "/bin/sh",
    "farm-it-build-ollama:1.0.0",
    "-c",
    "cat $OLLAMA_MODELS/manifests/registry.ollama.ai/library/tiny/latest",
  ]);
  assert!(ok);
  assert_eq!(stdout.trim(), "{\"schemaVersion\":2}");

  // Nothing changed: both builds are skipped.
  let out2 = run_docker_task(&cfg, &ctx, root.path(), &|_| {}).await.unwrap();
  assert!(out2.images.iter().all(|i| i.image.skipped), "{:?}", out2.images);
  assert_eq!(out2.images[0].image.id, app_img.id);
  assert_eq!(out2.images[0].image.size, app_img.size);

  // An ignored file changes: still skipped.
  write(root.path(), "apps/api/.env", "OPENAI_API_KEY=changed\n");
  let out3 = run_docker_task(&cfg, &ctx, root.path(), &|_| {}).await.unwrap();
  assert!(out3.images[0].image.skipped);

  // A source file changes: the app image is rebuilt, the Ollama image is not.
  write(root.path(), "apps/api/main.py", "# farm-api v2\napp = object()\n");
  let out4 = run_docker_task(&cfg, &ctx, root.path(), &|_| {}).await.unwrap();
  assert!(!out4.images[0].image.skipped);
  assert_ne!(out4.images[0].image.context_hash, app_img.context_hash);
  assert!(out4.images[1].image.skipped, "ollama context is only the export");
  let (ok, stdout, _) = docker_cli(&["run", "--rm", "--network", "none", "farm-it-build:latest"]);
  assert!(ok);
  assert!(stdout.contains("head=# farm-api v2"), "{stdout}");

  // The image was removed: rebuilt even though the hash matches.
  remove_images(&["farm-it-build:1.0.0".to_string()]);
  let out5 = run_docker_task(&cfg, &ctx, root.path(), &|_| {}).await.unwrap();
  assert!(!out5.images[0].image.skipped);
  remove_images(&refs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_run_names_the_step_and_its_output() {
  need_engine!();
  let engine = Engine::connect(None).await.unwrap();
  base_images(&engine).await;
  let d = tempfile::tempdir().unwrap();
  write(
    d.path(),
    "Dockerfile",
    &format!("FROM {PYTHON_IMAGE}\nRUN echo step-two-ok\nRUN echo farm-fail-marker-1 && echo farm-fail-marker-2 >&2 && exit 3\nRUN echo never\n"),
  );
  let req = BuildRequest {
    context_root: d.path().to_path_buf(),
    dockerfile_rel: "Dockerfile".into(),
    ignore: IgnoreMatcher::default(),
    repository: "farm-it-fail".into(),
    tags: vec!["1".into()],
    target: None,
    labels: Default::default(),
    no_cache: false,
  };
  let err = engine.build(&req, &|_| {}).await.unwrap_err();
  assert_eq!(err.code(), "DOCKER_BUILD_FAILED");
  let text = err.to_string();
  assert!(text.contains("Step 3/5 : RUN echo farm-fail-marker-1"), "{text}");
  assert!(text.contains("returned a non-zero code: 3"), "{text}");
  assert!(text.contains("farm-fail-marker-1") && text.contains("farm-fail-marker-2"), "{text}");
  assert!(!text.contains("never"), "{text}");
  assert!(!text.contains('\u{1b}'), "ANSI codes stripped: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_to_a_local_registry_with_htpasswd_auth() {
  need_engine!();
  let engine = Engine::connect(None).await.unwrap();
  base_images(&engine).await;
  let reg = Registry::start(5001, "farm-push-user", "farm-push-pass-8h2k");
  let root = tempfile::tempdir().unwrap();
  project(root.path());
  let mut info = project_info();
  info.app_name = "farm-it-push".into();
  info.ollama_models = None;
  // Credentials come from environment variables named in the config (unique to this test).
  std::env::set_var("FARM_IT_PUSH_USER", "farm-push-user");
  std::env::set_var("FARM_IT_PUSH_PASS", "farm-push-pass-8h2k");
  let cfg = config(&format!(
    r#", "registry": {{ "url": "127.0.0.1:{}", "namespace": "farm", "usernameEnv": "FARM_IT_PUSH_USER", "passwordEnv": "FARM_IT_PUSH_PASS" }}"#,
    reg.port
  ));
  let ctx = cfg.deploy_context(&info, root.path());
  let lines = Mutex::new(Vec::<String>::new());
  let out =
    run_docker_task(&cfg, &ctx, root.path(), &|l| lines.lock().unwrap().push(l)).await.unwrap();
  let pushed: Vec<&str> = out.images[0].pushed.iter().map(|p| p.reference.as_str()).collect();
  assert_eq!(
    pushed,
    [
      format!("127.0.0.1:{}/farm/farm-it-push:1.0.0", reg.port),
      format!("127.0.0.1:{}/farm/farm-it-push:latest", reg.port)
    ]
  );
  assert!(out.images[0].pushed[0].digest.as_deref().is_some_and(|d| d.starts_with("sha256:")));
  let catalog = std::process::Command::new("curl")
    .args([
      "-fsS",
      "-u",
      "farm-push-user:farm-push-pass-8h2k",
      &format!("http://127.0.0.1:{}/v2/farm/farm-it-push/tags/list", reg.port),
    ])
    .output()
    .unwrap();
  let body = String::from_utf8_lossy(&catalog.stdout);
  assert!(body.contains("1.0.0") && body.contains("latest"), "{body}");
  // No log line carries the password.
  assert!(!lines.lock().unwrap().iter().any(|l| l.contains("farm-push-pass-8h2k")));

  // Wrong credentials: a clear authentication error naming the env vars.
  let bad = RegistryAuth {
    server: format!("127.0.0.1:{}", reg.port),
    username: "farm-push-user".into(),
    password: "wrong-password".into(),
    username_env: "FARM_IT_PUSH_USER".into(),
    password_env: "FARM_IT_PUSH_PASS".into(),
  };
  let err = engine
    .push(&format!("127.0.0.1:{}/farm/farm-it-push", reg.port), "1.0.0", Some(&bad), &|_| {})
    .await
    .unwrap_err();
  assert_eq!(err.code(), "DOCKER_REGISTRY_AUTH", "{err}");
  eprintln!("wrong credentials → {err}");
  let msg = err.to_string();
  assert!(
    msg.contains("FARM_IT_PUSH_USER")
      && msg.contains("FARM_IT_PUSH_PASS")
      && !msg.contains("wrong-password"),
    "{msg}"
  );

  // Missing credential variable: fails before building.
  std::env::remove_var("FARM_IT_PUSH_PASS");
  let err = run_docker_task(&cfg, &ctx, root.path(), &|_| {}).await.unwrap_err();
  assert_eq!(err.code(), "DOCKER_MISSING_CREDENTIAL");
  remove_images(&[
    "farm-it-push:1.0.0".into(),
    "farm-it-push:latest".into(),
    format!("127.0.0.1:{}/farm/farm-it-push:1.0.0", reg.port),
    format!("127.0.0.1:{}/farm/farm-it-push:latest", reg.port),
  ]);
}
