//! Tests against a real Docker engine (dockerd from .ci/docker.sh, `--bridge=none`). Each test
//! prints a SKIPPED reason and returns when /var/run/docker.sock is absent — except in CI, where
//! `FARM_REQUIRE_DOCKER=1` turns a missing engine into a failure.
//!
//! The production image is built FROM the real Debian Python image of `.ci/base-images.sh`; its
//! Python dependencies come from a wheelhouse that the docker task makes on the host (the build
//! itself runs without network). The Ollama image is built FROM a busybox STAND-IN whose `ollama`
//! is a shell script (no Ollama image can be pulled here).

mod common;

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use farm_build_native::builders::ai::{build_ai, AiContext};
use farm_build_native::builders::docker::checks::{check_app_image, ImageCheckReport};
use farm_build_native::builders::docker::config::sanitize_app_name;
use farm_build_native::builders::docker::container::CONTAINER_LABEL;
use farm_build_native::builders::docker::engine::{
  BuildKitProbe, BuildRequest, BuilderKind, Engine, RegistryAuth, CONTEXT_HASH_LABEL,
};
use farm_build_native::builders::docker::ignore::IgnoreMatcher;
use farm_build_native::builders::docker::task::{run_docker_task, DockerTaskOutput};
use tokio_util::sync::CancellationToken;

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

async fn run_task(
  cfg: &farm_build_native::builders::docker::DockerConfig,
  ctx: &farm_build_native::deploy::context::DeployContext,
  root: &Path,
) -> (Result<DockerTaskOutput, farm_build_native::builders::docker::DockerError>, Vec<String>) {
  let lines = Mutex::new(Vec::<String>::new());
  let r = run_docker_task(
    &job(cfg, ctx, root),
    &|l| lines.lock().unwrap().push(l),
    &CancellationToken::new(),
  )
  .await;
  (r, lines.into_inner().unwrap())
}

/// `python -c` run in a container by `docker exec`: GETs `path` on the app and prints
/// `<status>\n<body>`.
fn http_get_inside(container: &str, path: &str) -> (bool, String) {
  let code = format!(
    "import urllib.request, urllib.error\ntry:\n    r = urllib.request.urlopen('http://127.0.0.1:8000{path}', timeout=5)\n    print(r.status); print(r.read().decode())\nexcept urllib.error.HTTPError as e:\n    print(e.code)\n"
  );
  let (ok, out, err) = docker_cli(&["exec", container, "python", "-c", &code]);
  (ok, if ok { out } else { err })
}

/// A build step line of either builder: `Step 3/9 : RUN …` (classic) or `#7 [python-deps 4/5] RUN …`
/// (BuildKit).
fn build_step(l: &str) -> bool {
  l.starts_with("Step ")
    || (l.starts_with('#') && l.split_once(' ').is_some_and(|(_, rest)| rest.starts_with('[')))
}

/// The BuildKit vertex number of the step whose line contains all of `parts`.
fn vertex_of(lines: &[String], parts: &[&str]) -> Option<String> {
  lines.iter().find_map(|l| {
    let (n, rest) = l.strip_prefix('#')?.split_once(' ')?;
    (rest.starts_with('[') && parts.iter().all(|p| rest.contains(p))).then(|| n.to_string())
  })
}

/// When the engine's BuildKit cache mount for pip's cache was last used (`GET /system/df`, its
/// `exec.cachemount` records for `/root/.cache/pip`), as `YYYY-MM-DDTHH:MM:SS` (UTC); `None` when
/// there is no such mount.
fn pip_cache_mount_last_used() -> Option<String> {
  let out = std::process::Command::new("curl")
    .args(["-fsS", "--unix-socket", "/var/run/docker.sock", "http://docker/system/df"])
    .output()
    .unwrap();
  assert!(out.status.success(), "GET /system/df: {}", String::from_utf8_lossy(&out.stderr));
  let df: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
  df["BuildCache"]
    .as_array()
    .into_iter()
    .flatten()
    .filter(|r| {
      r["Type"] == "exec.cachemount"
        && r["Description"].as_str().is_some_and(|d| d.contains("cached mount /root/.cache/pip "))
    })
    .filter_map(|r| Some(r["LastUsedAt"].as_str()?.get(..19)?.to_string()))
    .max()
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SS` (the engine runs on this machine's clock).
fn utc_now() -> String {
  let out = std::process::Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%S"]).output().unwrap();
  String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn containers_of(image: &str) -> String {
  let (_, out, _) =
    docker_cli(&["ps", "-a", "-q", "--filter", &format!("label={CONTAINER_LABEL}={image}")]);
  out.trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negotiates_api_version_and_reads_the_builder() {
  need_engine!();
  let engine = Engine::connect(None).await.unwrap();
  let (ok, server_api, _) = docker_cli(&["version", "-f", "{{.Server.APIVersion}}"]);
  assert!(ok);
  assert_eq!(engine.api_version(), server_api.trim());
  // A versioned call works after negotiation (without it bollard 0.21 sends 1.53 → HTTP 400).
  assert!(engine.image("farm-test/definitely-absent:0").await.unwrap().is_none());
  // /_ping's Builder-Version, compared with what curl sees on the socket.
  let kind = engine.builder_kind().await.unwrap();
  let out = std::process::Command::new("curl")
    .args(["-s", "-i", "--unix-socket", "/var/run/docker.sock", "http://docker/_ping"])
    .output()
    .unwrap();
  let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
  let expected =
    if head.contains("builder-version: 2") { BuilderKind::BuildKit } else { BuilderKind::Classic };
  assert_eq!(kind, expected, "{head}");
  // BuildKit through the API: Engine API >= 1.39 on Linux (Docker 20.10 here: yes, although its
  // default builder is classic).
  let probe = engine.buildkit_probe().await.unwrap();
  let (_, os, _) = docker_cli(&["version", "-f", "{{.Server.Os}}"]);
  let (major, minor) = server_api.trim().split_once('.').unwrap();
  let api: (u32, u32) = (major.parse().unwrap(), minor.parse().unwrap());
  let expected = os.trim() == "linux" && api >= (1, 39);
  assert_eq!(matches!(probe, BuildKitProbe::Available { .. }), expected, "{probe:?}");
  if let BuildKitProbe::Available { engine: what } = &probe {
    assert!(what.contains(&format!("API {}", server_api.trim())), "{what}");
  }
}

/// The production image is made from the outputs, holds exactly them, passes its checks and its
/// smoke run, answers /health from inside the container and serves the built index.html at /.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_image_from_the_outputs_runs_and_serves() {
  need_engine!();
  require_python_base();
  let root = tempfile::tempdir().unwrap();
  project(root.path());
  let info = project_info("farm-it-build");
  let cfg = config(r#", "smoke": true"#);
  let ctx = cfg.deploy_context(&info);
  let app = sanitize_app_name(&info.app_name);
  let refs: Vec<String> = ["1.0.0", "latest"].iter().map(|t| format!("{app}:{t}")).collect();
  remove_images(&refs);

  let t0 = Instant::now();
  let (out, lines) = run_task(&cfg, &ctx, root.path()).await;
  let out = out.unwrap_or_else(|e| panic!("{e}\n{}", lines.join("\n")));
  eprintln!("first build + checks + smoke: {:?}", t0.elapsed());
  assert_eq!(out.images.len(), 1);
  let img = &out.images[0];
  assert!(!img.image.skipped);
  assert_eq!(img.image.size, inspect_size("farm-it-build:1.0.0"), "artifact size = inspect size");
  assert_eq!(inspect_size("farm-it-build:latest"), img.image.size, ":latest tag exists");
  let checks = img.checks.as_ref().unwrap();
  assert_eq!(checks.static_files, 3);
  assert!(checks.pyc_files >= 1);
  let smoke = img.smoke.as_ref().expect("smoke report");
  assert!(smoke.checks >= 1);
  assert!(containers_of("farm-it-build:1.0.0").is_empty(), "smoke container removed");
  let deps = out.deps.as_ref().unwrap();
  assert!(deps.wheels >= 5, "{deps:?}");
  // The build log: no npm, no vite; dependencies installed offline from the wheelhouse.
  assert!(lines.iter().any(|l| build_step(l) && l.contains("--no-index --find-links ./wheels")));
  assert!(!lines.iter().any(|l| build_step(l) && (l.contains("npm") || l.contains("vite"))));
  assert!(lines.iter().any(|l| l.starts_with("image builder: ")), "builder logged");
  let (_, label, _) = docker_cli(&[
    "image",
    "inspect",
    "-f",
    &format!("{{{{index .Config.Labels \"{CONTEXT_HASH_LABEL}\"}}}}"),
    "farm-it-build:1.0.0",
  ]);
  assert_eq!(label.trim(), img.image.context_hash);

  // Run it without network; /health answers 200 from inside; / serves the built index.html.
  let (ok, cid, err) =
    docker_cli(&["run", "-d", "--rm", "--network", "none", "farm-it-build:1.0.0"]);
  assert!(ok, "{err}");
  let cid = cid.trim().to_string();
  let deadline = Instant::now() + Duration::from_secs(60);
  let health = loop {
    let (ok, out) = http_get_inside(&cid, "/health");
    if ok && out.starts_with("200") || Instant::now() > deadline {
      break out;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
  };
  assert!(health.starts_with("200\n") && health.contains("\"version\":\"v1\""), "{health}");
  let (ok, index) = http_get_inside(&cid, "/");
  let (_, user, _) = docker_cli(&["exec", &cid, "id", "-u"]);
  let (_, net, _) = docker_cli(&["inspect", "-f", "{{.HostConfig.NetworkMode}}", &cid]);
  docker_cli(&["rm", "-f", &cid]);
  assert!(ok, "{index}");
  let built = std::fs::read_to_string(root.path().join("dist/web/index.html")).unwrap();
  assert_eq!(index.strip_prefix("200\n").unwrap().trim_end(), built.trim_end());
  let hashed = |html: &str| -> Vec<String> {
    html.split('"').filter(|s| s.starts_with("/assets/")).map(String::from).collect()
  };
  assert_eq!(hashed(&index), vec![format!("/{ASSET}")]);
  assert!(root.path().join("dist/web").join(ASSET).is_file());
  assert_eq!(user.trim(), "10001");
  assert_eq!(net.trim(), "none");

  // Nothing changed: skipped. An ignored file (the machine-bound venv) changes: still skipped.
  let (out2, _) = run_task(&cfg, &ctx, root.path()).await;
  let out2 = out2.unwrap();
  assert!(out2.images[0].image.skipped && out2.images[0].image.id == img.image.id);
  assert!(out2.deps.as_ref().unwrap().reused, "wheelhouse reused");
  write(root.path(), "dist/api/.venv/bin/python", "#!/bin/sh\necho other machine\n");
  let (out3, _) = run_task(&cfg, &ctx, root.path()).await;
  assert!(out3.unwrap().images[0].image.skipped);

  // The frontend output changes: rebuilt, and the new bytes are in the image.
  write(root.path(), &format!("dist/web/{ASSET}"), "console.log('farm web v2');\n");
  let (out4, _) = run_task(&cfg, &ctx, root.path()).await;
  let out4 = out4.unwrap();
  assert!(!out4.images[0].image.skipped);
  assert_ne!(out4.images[0].image.context_hash, img.image.context_hash);
  let (ok, js, _) = docker_cli(&[
    "run",
    "--rm",
    "--network",
    "none",
    "farm-it-build:latest",
    "cat",
    &format!("/app/static/{ASSET}"),
  ]);
  assert!(ok && js.contains("farm web v2"), "{js}");

  // The image was removed: rebuilt even though the hash matches.
  remove_images(&["farm-it-build:1.0.0".to_string()]);
  let (out5, _) = run_task(&cfg, &ctx, root.path()).await;
  assert!(!out5.unwrap().images[0].image.skipped);
  remove_images(&refs);
}

/// The checks catch what must not ship: tests and conftest in the backend output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_checks_fail_on_tests_in_the_output() {
  need_engine!();
  require_python_base();
  let root = tempfile::tempdir().unwrap();
  project(root.path());
  write(root.path(), "dist/api/conftest.py", "import pytest\n");
  write(root.path(), "dist/api/tests/test_api.py", "def test_x():\n    pass\n");
  let info = project_info("farm-it-checks");
  let cfg = config("");
  let ctx = cfg.deploy_context(&info);
  let (r, _) = run_task(&cfg, &ctx, root.path()).await;
  let err = r.unwrap_err();
  assert_eq!(err.code(), "DOCKER_IMAGE_CHECK_FAILED", "{err}");
  let msg = err.to_string();
  assert!(
    msg.contains("/app/api/conftest.py") && msg.contains("/app/api/tests/test_api.py"),
    "{msg}"
  );
  assert!(containers_of("farm-it-checks:1.0.0").is_empty(), "check containers removed");
  remove_images(&["farm-it-checks:1.0.0".into(), "farm-it-checks:latest".into()]);
}

/// Builds `<name>:1.0.0` FROM the Python base image from a context of `files` (path → bytes):
/// `api/` is copied to `/app/api`, `static/` (when there is one) to `/app/static`, then
/// `extra` Dockerfile lines. Returns the reference.
async fn check_image(engine: &Engine, name: &str, files: &[(&str, &[u8])], extra: &str) -> String {
  let d = tempfile::tempdir().unwrap();
  for (rel, bytes) in files {
    write_bytes(d.path(), rel, bytes);
  }
  let mut df = format!("FROM {PYTHON_IMAGE}\nWORKDIR /app\nCOPY api/ ./api/\n");
  if files.iter().any(|(rel, _)| rel.starts_with("static/")) {
    df.push_str("COPY static/ ./static/\n");
  }
  df.push_str(extra);
  write(d.path(), "Dockerfile", &df);
  let reference = format!("{name}:1.0.0");
  remove_images(std::slice::from_ref(&reference));
  let req = BuildRequest {
    context_root: d.path().to_path_buf(),
    dockerfile: d.path().join("Dockerfile"),
    ignore: IgnoreMatcher::default(),
    repository: name.into(),
    tags: vec!["1.0.0".into()],
    target: None,
    labels: Default::default(),
    no_cache: false,
    builder: BuilderKind::Classic,
  };
  engine.build(&req, &|_| {}).await.unwrap_or_else(|e| panic!("building {reference}: {e}"));
  reference
}

/// The problems of a failed image check (and that it is one).
fn check_problems(
  r: Result<ImageCheckReport, farm_build_native::builders::docker::DockerError>,
) -> Vec<String> {
  match r {
    Err(farm_build_native::builders::docker::DockerError::ImageCheck { problems, .. }) => problems,
    Err(e) => panic!("expected DOCKER_IMAGE_CHECK_FAILED, got {}: {e}", e.code()),
    Ok(report) => panic!("the image check passed: {report:?}"),
  }
}

/// `/app/static` must equal the frontend output file for file and byte for byte: a file whose
/// bytes differ (same size), a file the output has and the image lacks, and one the image has
/// and the output lacks all fail the check; the same image passes against its own files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_checks_fail_on_static_files_that_differ_from_the_output() {
  need_engine!();
  require_python_base();
  let engine = Engine::connect(None).await.unwrap();
  let reference = check_image(
    &engine,
    "farm-it-check-static",
    &[
      ("api/main.py", b"print('api')\n"),
      ("api/main.pyc", b"\x00compiled"),
      ("static/index.html", b"<html>v2</html>\n"),
      ("static/assets/a.js", b"console.log(1);\n"),
      ("static/assets/extra.js", b"stale();\n"),
    ],
    "",
  )
  .await;
  let web = tempfile::tempdir().unwrap();
  let w = web.path();
  write(w, "index.html", "<html>v2</html>\n");
  write(w, "assets/a.js", "console.log(1);\n");
  write(w, "assets/extra.js", "stale();\n");
  // The image's own files pass (so what fails below is the difference, nothing else).
  let report = check_app_image(&engine, &reference, Some(w), &[]).await.unwrap();
  assert_eq!((report.static_files, report.pyc_files), (3, 1), "{report:?}");

  write(w, "index.html", "<html>v1</html>\n");
  std::fs::remove_file(w.join("assets/extra.js")).unwrap();
  write(w, "assets/gone.css", "body{}\n");
  let problems = check_problems(check_app_image(&engine, &reference, Some(w), &[]).await);
  let text = problems.join("\n");
  assert_eq!(problems.len(), 3, "{text}");
  assert!(text.contains("/app/static/index.html differs from"), "{text}");
  assert!(text.contains("/app/static/assets/gone.css is missing"), "{text}");
  assert!(text.contains("/app/static/assets/extra.js is not in"), "{text}");
  assert!(!text.contains("assets/a.js"), "{text}");
  assert!(containers_of(&reference).is_empty(), "check containers removed");
  remove_images(&[reference]);
}

/// A backend copied as sources, without bytecode, fails the check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_checks_fail_on_python_without_bytecode() {
  need_engine!();
  require_python_base();
  let engine = Engine::connect(None).await.unwrap();
  let reference = check_image(
    &engine,
    "farm-it-check-pyc",
    &[("api/main.py", b"print('api')\n"), ("api/routers/users.py", b"ROUTES = []\n")],
    "",
  )
  .await;
  let problems = check_problems(check_app_image(&engine, &reference, None, &[]).await);
  assert_eq!(
    problems,
    ["/app/api has no .pyc files (the backend output is not compiled)"],
    "{problems:?}"
  );
  assert!(containers_of(&reference).is_empty(), "check containers removed");
  remove_images(&[reference]);
}

/// A secret value of `docker.environment` in a layer's command (`RUN echo <secret>`) fails the
/// check, which names the variable and never prints the value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_checks_fail_on_a_secret_in_the_layer_history() {
  use farm_build_native::builders::docker::task::secret_values;
  need_engine!();
  require_python_base();
  let engine = Engine::connect(None).await.unwrap();
  let (var, secret) = SECRETS[1];
  let reference = check_image(
    &engine,
    "farm-it-check-history",
    &[("api/main.py", b"print('api')\n"), ("api/main.pyc", b"\x00compiled")],
    &format!("RUN echo {secret} > /dev/null\n"),
  )
  .await;
  let (ok, history, err) = docker_cli(&["history", "--no-trunc", &reference]);
  assert!(ok && history.contains(secret), "the layer command holds the value: {err}{history}");
  // The values the docker task checks for: the secret entries of the test config.
  let cfg = config("");
  let ctx = cfg.deploy_context(&project_info("farm-it-check-history"));
  let secrets = secret_values(&cfg, &ctx, None);
  assert!(secrets.iter().any(|s| s.value == secret), "{secrets:?}");
  let err = check_app_image(&engine, &reference, None, &secrets).await.unwrap_err();
  assert_eq!(err.code(), "DOCKER_IMAGE_CHECK_FAILED", "{err}");
  let msg = err.to_string();
  assert!(
    msg.contains(&format!(
      "the value of docker.environment.{var} appears in the image's layer history"
    )),
    "{msg}"
  );
  for (_, value) in SECRETS {
    assert!(!msg.contains(value), "the error prints a secret value: {msg}");
  }
  let problems = check_problems(Err(err));
  assert_eq!(problems.len(), 1, "only that secret is in the history: {problems:?}");
  // The same image without that value among the secrets passes.
  let others: Vec<_> = secrets.into_iter().filter(|s| s.value != secret).collect();
  check_app_image(&engine, &reference, None, &others).await.unwrap();
  assert!(containers_of(&reference).is_empty(), "check containers removed");
  remove_images(&[reference]);
}

/// Copies `from` to `to`, without the folders a fresh clone has not (`node_modules`, `dist`,
/// `.venv`, `.farm`, `__pycache__`).
fn copy_sources(from: &Path, to: &Path) {
  for e in std::fs::read_dir(from).unwrap().flatten() {
    let name = e.file_name();
    if ["node_modules", "dist", ".venv", ".farm", "__pycache__"].iter().any(|s| name == *s) {
      continue;
    }
    let (src, dst) = (e.path(), to.join(&name));
    if e.file_type().unwrap().is_dir() {
      std::fs::create_dir_all(&dst).unwrap();
      copy_sources(&src, &dst);
    } else {
      std::fs::copy(&src, &dst).unwrap();
    }
  }
}

/// The example app is an npm workspace (package-lock.json at its root, the frontend in apps/web):
/// its generated Dockerfile.dev's `web-dev` stage builds from the project root filtered by the
/// generated Dockerfile.dev.dockerignore, so every file the install reads is in the context; the
/// stage runs `npm ci --workspace apps/web` at the workspace root (a STAND-IN `npm` checks the root
/// manifest, the lockfile and the member's manifest are there) and copies the frontend's sources
/// without its node_modules or env files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_dev_image_installs_the_workspace_with_npm_ci() {
  use farm_build_native::deploy::context::{Lockfile, PackageManager};
  use farm_build_native::deploy::files::{generate_all, write_all};
  need_engine!();
  let engine = Engine::connect(None).await.unwrap();
  node_standin_image(&engine).await;
  let root = tempfile::tempdir().unwrap();
  let r = root.path();
  copy_sources(&crate_dir().join("examples/farm-app"), r);
  write(r, "apps/web/node_modules/left-pad/index.js", "module.exports = 0;\n");
  write(r, "apps/web/.env.local", &format!("VITE_TOKEN={}\n", SECRETS[0].1));

  let lock = Lockfile::find(r, &r.join("apps/web")).unwrap();
  assert_eq!(lock.manager, PackageManager::Npm);
  assert_eq!(lock.workspace.as_ref().map(|w| w.root_rel.as_str()), Some("."));
  let mut info = project_info("farm-it-webdev");
  info.frontend.as_mut().unwrap().lockfile = Some(lock);
  let cfg = config("");
  let ctx = cfg.deploy_context(&info);
  write_all(&r.join("dist"), &generate_all(&ctx, false, BuilderKind::Classic)).unwrap();
  let dev = std::fs::read_to_string(r.join("dist/Dockerfile.dev")).unwrap();
  assert!(
    dev.contains("\nRUN npm ci --workspace apps/web\n") && !dev.contains("npm install"),
    "{dev}"
  );

  let ignore = std::fs::read_to_string(r.join("dist/Dockerfile.dev.dockerignore")).unwrap();
  let reference = "farm-it-webdev:dev".to_string();
  remove_images(std::slice::from_ref(&reference));
  let req = BuildRequest {
    context_root: r.to_path_buf(),
    dockerfile: r.join("dist/Dockerfile.dev"),
    ignore: IgnoreMatcher::parse(&ignore, "Dockerfile.dev.dockerignore").unwrap(),
    repository: "farm-it-webdev".into(),
    tags: vec!["dev".into()],
    target: Some("web-dev".into()),
    labels: Default::default(),
    no_cache: true,
    builder: BuilderKind::Classic,
  };
  let lines = Mutex::new(Vec::<String>::new());
  let built = engine.build(&req, &|l| lines.lock().unwrap().push(l)).await;
  let lines = lines.into_inner().unwrap();
  built.unwrap_or_else(|e| panic!("{e}\n{}\n{dev}", lines.join("\n")));

  let (ok, out, err) = docker_cli(&[
    "run",
    "--rm",
    "--network",
    "none",
    &reference,
    "sh",
    "-c",
    "pwd; cat /app/node_modules/.farm-standin-npm; ls -A /app; echo --; ls -A /app/apps; echo --; ls -A /app/apps/web",
  ]);
  assert!(ok, "{err}");
  let parts: Vec<&str> = out.split("--\n").collect();
  assert_eq!(parts.len(), 3, "{out}");
  assert!(parts[0].starts_with("/app/apps/web\nnpm ci --workspace apps/web (in /app)\n"), "{out}");
  let names = |p: &str| p.lines().map(String::from).collect::<Vec<_>>();
  assert_eq!(
    names(parts[0])[2..],
    ["apps", "node_modules", "package-lock.json", "package.json"],
    "{out}"
  );
  assert_eq!(names(parts[1]), ["web"], "only the frontend's sources: {out}");
  let web = names(parts[2]);
  for f in ["index.html", "package.json", "src", "vite.config.ts"] {
    assert!(web.iter().any(|n| n == f), "{f} copied: {out}");
  }
  assert!(!web.iter().any(|n| n == "node_modules" || n.starts_with(".env")), "{out}");
  remove_images(&[reference]);
}

/// A failing health check fails the smoke run with the container's output; no container is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_health_check_fails_the_smoke_run() {
  need_engine!();
  require_python_base();
  let root = tempfile::tempdir().unwrap();
  project(root.path());
  write(root.path(), "dist/api/main.py", &main_py("v-broken", 503));
  compile_api(root.path());
  let info = project_info("farm-it-smoke");
  let cfg = config(r#", "smoke": true"#);
  let ctx = cfg.deploy_context(&info);

  // Cancelled while waiting for the health check (the task's future is dropped): the container
  // is removed all the same.
  {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let j = job(&cfg, &ctx, root.path());
    let cancel = CancellationToken::new();
    let log = move |l: String| {
      let _ = tx.send(l);
    };
    let task = run_docker_task(&j, &log, &cancel);
    tokio::pin!(task);
    loop {
      tokio::select! {
        r = &mut task => panic!("the task ended before the smoke run started: {:?}", r.map(|_| ())),
        Some(line) = rx.recv() => if line.starts_with("smoke: started") { break },
      }
    }
    assert_eq!(containers_of("farm-it-smoke:1.0.0").lines().count(), 1, "smoke container running");
  }
  let deadline = Instant::now() + Duration::from_secs(20);
  while !containers_of("farm-it-smoke:1.0.0").is_empty() && Instant::now() < deadline {
    tokio::time::sleep(Duration::from_millis(200)).await;
  }
  assert!(containers_of("farm-it-smoke:1.0.0").is_empty(), "cancelled smoke container removed");

  let (r, _) = run_task(&cfg, &ctx, root.path()).await;
  let err = r.unwrap_err();
  assert_eq!(err.code(), "DOCKER_SMOKE_FAILED", "{err}");
  let msg = err.to_string();
  assert!(msg.contains("HEALTHCHECK failed"), "{msg}");
  // uvicorn's access log of the failing probe is among the last lines.
  assert!(msg.contains("GET /health") && msg.contains("503"), "{msg}");
  assert!(containers_of("farm-it-smoke:1.0.0").is_empty(), "smoke container removed");
  remove_images(&["farm-it-smoke:1.0.0".into(), "farm-it-smoke:latest".into()]);
}

/// The Ollama image from an exported model: the ai-models task exports from a model store, the
/// docker task bakes it in with `ollama create` (the stand-in records the call) and pulls nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_image_bakes_the_exported_model() {
  need_engine!();
  require_python_base();
  let engine = Engine::connect(None).await.unwrap();
  standin_images(&engine).await;
  let root = tempfile::tempdir().unwrap();
  project(root.path());
  let store = root.path().join("ollama-store");
  let weights = ollama_store(&store, "tiny");

  // The ai-models task, with no server (warning), exporting from the store.
  let ai: farm_build_native::builders::ai::config::AiConfig = serde_json::from_value(serde_json::json!({
    "providers": {"ollama": {"url": "http://127.0.0.1:9", "models": ["tiny"], "timeoutMs": 500, "retries": 0, "export": true}}
  }))
  .unwrap();
  let actx = AiContext {
    output_dir: root.path().join("dist"),
    project_root: root.path().to_path_buf(),
    environment: "production".into(),
    version: "1.0.0".into(),
    ollama_models_dir: Some(store.clone()),
  };
  build_ai(&ai, &actx, &|_| {}).await.unwrap();
  let index = read_index(root.path()).expect("exported-models.json");
  let entry = index.get("tiny").unwrap().clone();
  let gguf = entry.files.iter().find(|f| f.path.ends_with("/model.gguf")).unwrap();
  assert_eq!(gguf.sha256, sha256_hex(&weights));

  let mut info = project_info("farm-it-ollama");
  info.ollama_models = Some(vec!["tiny".into()]);
  info.ollama_export = Some(index);
  let cfg = config("");
  let ctx = cfg.deploy_context(&info);
  let dockerfile = farm_build_native::deploy::dockerfile::ollama(&ctx).unwrap();
  assert!(!dockerfile.contains("ollama pull"), "{dockerfile}");
  let refs: Vec<String> = ["farm-it-ollama", "farm-it-ollama-ollama"]
    .iter()
    .flat_map(|r| [format!("{r}:1.0.0"), format!("{r}:latest")])
    .collect();
  remove_images(&refs);
  let (out, lines) = run_task(&cfg, &ctx, root.path()).await;
  let out = out.unwrap_or_else(|e| panic!("{e}\n{}", lines.join("\n")));
  let oll = out.images.iter().find(|i| i.name == "ollama").unwrap();
  assert_eq!(oll.baked_models, vec!["tiny:latest".to_string()]);
  assert_eq!(oll.image.size, inspect_size("farm-it-ollama-ollama:1.0.0"));
  assert!(!lines.iter().any(|l| l.contains("ollama pull")), "no pull in the build");

  // The image holds the model, created from the exported files (same sha256).
  let (ok, listing, err) = docker_cli(&[
    "run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", "farm-it-ollama-ollama:1.0.0", "-c",
    "cat /models/standin/calls.log; cd /models/standin/tiny-latest && sha256sum *; ls /tmp/farm-models 2>&1 || true",
  ]);
  assert!(ok, "{err}");
  assert!(
    listing.contains("create tiny:latest -f /tmp/farm-models/tiny-latest/Modelfile"),
    "{listing}"
  );
  for f in &entry.files {
    let name = f.path.rsplit('/').next().unwrap();
    assert!(listing.contains(&format!("{}  {name}", f.sha256)), "{name} in\n{listing}");
  }
  assert!(listing.contains("No such file"), "the staging copy is removed: {listing}");

  // Unchanged: both skipped. A model file changed after the export: refused, naming it.
  let (out2, _) = run_task(&cfg, &ctx, root.path()).await;
  assert!(out2.unwrap().images.iter().all(|i| i.image.skipped));
  let mf = root.path().join("dist/models/tiny-latest/Modelfile");
  let text = std::fs::read_to_string(&mf).unwrap();
  std::fs::write(&mf, format!("{text}PARAMETER num_ctx 1024\n")).unwrap();
  let (r, _) = run_task(&cfg, &ctx, root.path()).await;
  let err = r.unwrap_err();
  assert_eq!(err.code(), "DOCKER_EXPORT_INDEX", "a file changed after the export: {err}");
  assert!(err.to_string().contains("Modelfile"), "{err}");
  remove_images(&refs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_run_names_the_step_and_its_output() {
  need_engine!();
  require_python_base();
  let engine = Engine::connect(None).await.unwrap();
  let d = tempfile::tempdir().unwrap();
  write(
    d.path(),
    "Dockerfile",
    &format!("FROM {PYTHON_IMAGE}\nRUN echo step-two-ok\nRUN echo farm-fail-marker-1 && echo farm-fail-marker-2 >&2 && exit 3\nRUN echo never\n"),
  );
  let req = BuildRequest {
    context_root: d.path().to_path_buf(),
    dockerfile: d.path().join("Dockerfile"),
    ignore: IgnoreMatcher::default(),
    repository: "farm-it-fail".into(),
    tags: vec!["1".into()],
    target: None,
    labels: Default::default(),
    no_cache: false,
    builder: BuilderKind::Classic,
  };
  let err = engine.build(&req, &|_| {}).await.unwrap_err();
  assert_eq!(err.code(), "DOCKER_BUILD_FAILED");
  let text = err.to_string();
  assert!(text.contains("Step 3/5 : RUN echo farm-fail-marker-1"), "{text}");
  assert!(text.contains("returned a non-zero code: 3"), "{text}");
  assert!(text.contains("farm-fail-marker-1") && text.contains("farm-fail-marker-2"), "{text}");
  assert!(!text.contains("never"), "{text}");
  assert!(!text.contains('\u{1b}'), "ANSI codes stripped: {text}");

  // The same failure through BuildKit: the failing vertex, its output and the exit code.
  let lines = Mutex::new(Vec::<String>::new());
  let bk = BuildRequest { builder: BuilderKind::BuildKit, no_cache: true, ..req };
  let err = engine.build(&bk, &|l| lines.lock().unwrap().push(l)).await.unwrap_err();
  let lines = lines.into_inner().unwrap();
  assert_eq!(err.code(), "DOCKER_BUILD_FAILED", "{err}");
  let text = err.to_string();
  let n =
    vertex_of(&lines, &["RUN echo farm-fail-marker-1"]).unwrap_or_else(|| panic!("{lines:#?}"));
  assert!(
    text.contains(&format!("failed at #{n} [")) && text.contains("RUN echo farm-fail-marker-1"),
    "{text}"
  );
  assert!(text.contains("exit code: 3"), "{text}");
  let output = text.split("--- last build output ---").nth(1).unwrap();
  assert!(
    output.contains("farm-fail-marker-1") && output.contains("farm-fail-marker-2"),
    "the failing step's output: {text}"
  );
  assert!(!output.contains("step-two-ok"), "only the failing step's output: {text}");
  assert!(!text.contains("never") && !text.contains('\u{1b}'), "{text}");
  assert!(lines.iter().any(|l| l.starts_with(&format!("#{n} ERROR: "))), "{lines:#?}");
}

/// `docker.builder: "buildkit"`: the production image's dependencies install offline (the steps
/// have no network) with a pip cache mount, the BuildKit vertex of the install shows the mount, the
/// engine's build cache holds the mount, nothing of it is in the image, the checks pass, and
/// `<outputDir>/Dockerfile` is the BuildKit variant. A changed app file rebuilds with the install
/// step cached. `"classic"` builds the same outputs without a mount (another image: the context
/// hash covers the builder and the Dockerfile).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buildkit_build_uses_the_pip_cache_mount_and_classic_still_builds() {
  need_engine!();
  require_python_base();
  let root = tempfile::tempdir().unwrap();
  let r = root.path();
  project(r);
  let info = project_info("farm-it-buildkit");
  let refs = vec!["farm-it-buildkit:1.0.0".to_string(), "farm-it-buildkit:latest".to_string()];
  remove_images(&refs);
  let mount = "RUN --mount=type=cache,target=/root/.cache/pip";

  // BuildKit, without the layer cache: the install runs.
  let started = utc_now();
  let cfg = config(r#", "builder": "buildkit", "noCache": true"#);
  let ctx = cfg.deploy_context(&info);
  let (out, lines) = run_task(&cfg, &ctx, r).await;
  let out = out.unwrap_or_else(|e| panic!("{e}\n{}", lines.join("\n")));
  let decision = out.builder.as_ref().unwrap();
  assert_eq!(decision.kind, BuilderKind::BuildKit);
  assert!(decision.reason.contains(r#"docker.builder is "buildkit""#), "{decision:?}");
  assert_eq!(out.images[0].builder, BuilderKind::BuildKit);
  assert!(out.images[0].checks.is_some());
  let dockerfile = std::fs::read_to_string(r.join("dist/Dockerfile")).unwrap();
  assert!(dockerfile.contains(&format!("{mount} \\\n")), "{dockerfile}");
  let artifact = out.files.iter().find(|f| f.rel_path == "Dockerfile").unwrap();
  assert_eq!(artifact.size, dockerfile.len() as u64);
  assert!(!lines.iter().any(|l| l.starts_with("Step ")), "not the classic builder");
  let install = vertex_of(&lines, &[mount, "--no-index --find-links ./wheels"])
    .unwrap_or_else(|| panic!("no install vertex with the cache mount:\n{}", lines.join("\n")));
  let of_install = |l: &&String| l.starts_with(&format!("#{install} "));
  assert!(
    lines.iter().filter(of_install).any(|l| l.contains("Successfully installed")),
    "{lines:#?}"
  );
  assert!(lines.iter().filter(of_install).any(|l| l.starts_with(&format!("#{install} DONE "))));
  let last_used =
    pip_cache_mount_last_used().expect("the engine's build cache has the pip cache mount");
  assert!(
    last_used >= started,
    "the pip cache mount was last used at {last_used}, before this build ({started})"
  );
  // The venv works without network; pip's cache is not in the image.
  let (ok, text, err) = docker_cli(&[
    "run",
    "--rm",
    "--network",
    "none",
    "--user",
    "0",
    "farm-it-buildkit:1.0.0",
    "sh",
    "-c",
    "test ! -e /root/.cache/pip && python -c 'import fastapi, uvicorn; print(\"deps-ok\")'",
  ]);
  assert!(ok && text.trim() == "deps-ok", "{text}{err}");

  // A changed app file: rebuilt, the install step comes from the layer cache.
  let cfg = config(r#", "builder": "buildkit""#);
  write(r, "dist/api/main.py", &main_py("v2", 200));
  compile_api(r);
  let (out2, lines) = run_task(&cfg, &ctx, r).await;
  let out2 = out2.unwrap_or_else(|e| panic!("{e}\n{}", lines.join("\n")));
  assert!(!out2.images[0].image.skipped);
  let install = vertex_of(&lines, &[mount]).unwrap_or_else(|| panic!("{lines:#?}"));
  assert!(lines.contains(&format!("#{install} CACHED")), "{lines:#?}");
  let (ok, main, _) = docker_cli(&[
    "run",
    "--rm",
    "--network",
    "none",
    "farm-it-buildkit:1.0.0",
    "cat",
    "/app/api/main.py",
  ]);
  assert!(ok && main.contains("\"v2\""), "{main}");

  // Classic: no mount in the Dockerfile that is built; the classic step log.
  let cfg = config(r#", "builder": "classic""#);
  let ctx = cfg.deploy_context(&info);
  let (out3, lines) = run_task(&cfg, &ctx, r).await;
  let out3 = out3.unwrap_or_else(|e| panic!("{e}\n{}", lines.join("\n")));
  let decision = out3.builder.as_ref().unwrap();
  assert_eq!((decision.kind, out3.images[0].builder), (BuilderKind::Classic, BuilderKind::Classic));
  assert!(decision.reason.contains(r#"docker.builder is "classic""#), "{decision:?}");
  assert!(!out3.images[0].image.skipped, "another builder, another image");
  assert_ne!(out3.images[0].image.context_hash, out2.images[0].image.context_hash);
  let dockerfile = std::fs::read_to_string(r.join("dist/Dockerfile")).unwrap();
  assert!(!dockerfile.contains("--mount") && dockerfile.contains("--no-cache-dir"), "{dockerfile}");
  assert!(lines
    .iter()
    .any(|l| l.starts_with("Step ") && l.contains("--no-index --find-links ./wheels")));
  assert!(lines.iter().any(|l| l.starts_with("image builder: classic")), "{lines:#?}");
  assert!(out3.images[0].checks.is_some());
  remove_images(&refs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_to_a_local_registry_with_htpasswd_auth() {
  need_engine!();
  require_python_base();
  let engine = Engine::connect(None).await.unwrap();
  let reg = Registry::start(5001, "farm-push-user", "farm-push-pass-8h2k");
  let root = tempfile::tempdir().unwrap();
  project(root.path());
  let info = project_info("farm-it-push");
  // Credentials come from environment variables named in the config (unique to this test).
  std::env::set_var("FARM_IT_PUSH_USER", "farm-push-user");
  std::env::set_var("FARM_IT_PUSH_PASS", "farm-push-pass-8h2k");
  let cfg = config(&format!(
    r#", "registry": {{ "url": "127.0.0.1:{}", "namespace": "farm", "usernameEnv": "FARM_IT_PUSH_USER", "passwordEnv": "FARM_IT_PUSH_PASS" }}"#,
    reg.port
  ));
  let ctx = cfg.deploy_context(&info);
  let (out, lines) = run_task(&cfg, &ctx, root.path()).await;
  let out = out.unwrap();
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
  assert!(!lines.iter().any(|l| l.contains("farm-push-pass-8h2k")));

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
  let msg = err.to_string();
  assert!(
    msg.contains("FARM_IT_PUSH_USER")
      && msg.contains("FARM_IT_PUSH_PASS")
      && !msg.contains("wrong-password"),
    "{msg}"
  );

  // Missing credential variable: fails before building.
  std::env::remove_var("FARM_IT_PUSH_PASS");
  let (r, _) = run_task(&cfg, &ctx, root.path()).await;
  assert_eq!(r.unwrap_err().code(), "DOCKER_MISSING_CREDENTIAL");
  remove_images(&[
    "farm-it-push:1.0.0".into(),
    "farm-it-push:latest".into(),
    format!("127.0.0.1:{}/farm/farm-it-push:1.0.0", reg.port),
    format!("127.0.0.1:{}/farm/farm-it-push:latest", reg.port),
  ]);
}

/// A backend whose dependencies come from `pyproject.toml` (+ an extra group), pinned by
/// `uv.lock`: the docker task stages exactly the list the backend task installs (the same
/// `resolve_requirements`), and the image imports the extra's package and passes its smoke run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyproject_uv_lock_backend_ships_its_locked_dependencies() {
  use farm_build_native::builders::backend::project::{
    resolve_requirements, venvs_dir, Dependencies,
  };
  use farm_build_native::builders::docker::python_deps;
  use farm_build_native::deploy::context::PythonDeps;
  need_engine!();
  require_python_base();
  let Some(uv) = require_uv() else {
    eprintln!("SKIPPED: `uv` is not on PATH (pip install uv)");
    return;
  };
  let root = tempfile::tempdir().unwrap();
  let r = root.path();
  project(r);
  std::fs::remove_file(r.join("apps/api/requirements.txt")).unwrap();
  std::fs::remove_file(r.join("dist/api/requirements.txt")).unwrap();
  write(
    r,
    "apps/api/pyproject.toml",
    "[project]\nname = \"farm-it-pyproject\"\nversion = \"0.1.0\"\nrequires-python = \">=3.11\"\n\
     dependencies = [\"fastapi==0.165.0\", \"uvicorn==0.54.0\"]\n\n\
     [project.optional-dependencies]\nextra = [\"six>=1.16\"]\n",
  );
  let main = format!("import six  # noqa: F401\n{}", main_py("v1", 200));
  write(r, "apps/api/main.py", &main);
  write(r, "dist/api/main.py", &main);
  compile_api(r);
  let out = std::process::Command::new(&uv)
    .args(["lock", "--quiet"])
    .current_dir(r.join("apps/api"))
    .output()
    .unwrap();
  assert!(out.status.success(), "uv lock: {}", String::from_utf8_lossy(&out.stderr));

  // What the backend task installs.
  let be: farm_build_native::config::BackendConfig = serde_json::from_value(serde_json::json!({
    "root": "apps/api", "app": "main:app", "extras": ["extra"]
  }))
  .unwrap();
  let venvs = venvs_dir(r, ".farm/cache");
  std::fs::create_dir_all(&venvs).unwrap();
  let resolved = resolve_requirements(&be, r, &venvs, &|_| {}, &CancellationToken::new())
    .await
    .unwrap()
    .expect("pyproject dependencies");
  assert!(
    matches!(&resolved.deps, Dependencies::PyProject { lock: Some(l), .. } if l.ends_with("apps/api/uv.lock")),
    "{:?}",
    resolved.deps
  );
  let listed = std::fs::read_to_string(&resolved.file).unwrap();
  let six_pin = listed.lines().find(|l| l.starts_with("six==")).expect("six pinned").to_string();
  assert!(listed.contains("fastapi==0.165.0") && listed.contains("starlette=="), "{listed}");

  let mut info = project_info("farm-it-pyproject");
  info.api.deps = python_deps(Some(&resolved), &be, &r.join("apps/api"));
  assert!(
    matches!(&info.api.deps, PythonDeps::PyProject { uv_lock: Some(_), extras, .. } if extras == &["extra"]),
    "{:?}",
    info.api.deps
  );
  let cfg = config(r#", "smoke": true"#);
  let ctx = cfg.deploy_context(&info);
  let refs = vec!["farm-it-pyproject:1.0.0".to_string(), "farm-it-pyproject:latest".to_string()];
  remove_images(&refs);
  let mut job = job(&cfg, &ctx, r);
  job.requirements = Some(resolved.file.clone());
  let lines = Mutex::new(Vec::<String>::new());
  let res =
    run_docker_task(&job, &|l| lines.lock().unwrap().push(l), &CancellationToken::new()).await;
  let lines = lines.into_inner().unwrap();
  let out = res.unwrap_or_else(|e| panic!("{e}\n{}", lines.join("\n")));

  // The staged list is the backend's list, under the one name the Dockerfile installs.
  let staged = std::fs::read_to_string(r.join("dist/image/requirements.txt")).unwrap();
  assert_eq!(staged, listed);
  let deps = out.deps.as_ref().unwrap();
  assert_eq!(deps.files, ["requirements.txt"]);
  assert!(deps.wheels >= 6, "{deps:?}");
  assert!(out.images[0].smoke.is_some(), "smoke run");
  let dockerfile = std::fs::read_to_string(r.join("dist/Dockerfile")).unwrap();
  assert!(dockerfile.contains("-r requirements.txt\n"), "{dockerfile}");
  let dev = std::fs::read_to_string(r.join("dist/Dockerfile.dev")).unwrap();
  assert!(dev.contains("COPY apps/api/pyproject.toml apps/api/uv.lock ./\n"), "{dev}");
  assert!(
    dev.contains("RUN uv sync --frozen --no-dev --no-install-project --no-cache --extra extra\n"),
    "{dev}"
  );

  // The image has the locked version of the extra's package.
  let (ok, version, err) = docker_cli(&[
    "run",
    "--rm",
    "--network",
    "none",
    "farm-it-pyproject:1.0.0",
    "python",
    "-c",
    "import six; print('six==' + six.__version__)",
  ]);
  assert!(ok, "{err}");
  assert_eq!(version.trim(), six_pin);
  remove_images(&refs);
}
