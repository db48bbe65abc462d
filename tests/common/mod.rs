//! Shared fixtures for the integration tests: a FARM project whose outputs are on disk, the base
//! images (a real Debian Python image made by `.ci/base-images.sh`; a busybox STAND-IN for
//! Ollama, since no image can be pulled here), a small Ollama model store, and engine helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use farm_build_native::builders::ai::export_index::{ExportIndex, MODELS_DIR};
use farm_build_native::builders::ai::store::{media, Layer, Manifest, ModelName};
use farm_build_native::builders::docker::config::{DockerConfig, ProjectInfo};
use farm_build_native::builders::docker::engine::{BuildRequest, BuilderKind, Engine};
use farm_build_native::builders::docker::ignore::IgnoreMatcher;
use farm_build_native::builders::docker::task::DockerJob;
use farm_build_native::builders::docker::toolchain::Toolchain;
use farm_build_native::deploy::context::{
  ApiSpec, DeployContext, FrontendSpec, Lockfile, PackageManager, PythonDeps,
};
use sha2::{Digest, Sha256};

/// The real Python base image (Debian bookworm python3 3.11 + venv + pip, by `.ci/base-images.sh`).
pub const PYTHON_IMAGE: &str = "farm-base/python:3.11-bookworm";
/// A STAND-IN for the Node image of Dockerfile.dev (no image can be pulled here): busybox with an
/// `npm` shell script ([`node_standin_image`]); only the engine test of the `web-dev` stage builds it.
pub const NODE_IMAGE: &str = "farm-test/node-standin:1";
/// A STAND-IN for the Ollama image: busybox with an `ollama` shell script that records calls.
pub const OLLAMA_IMAGE: &str = "farm-test/ollama-standin:1";

/// The hashed asset of the fixture's built frontend.
pub const ASSET: &str = "assets/index-B7x9QzP1.js";

/// Secret values of the test config: none may appear in any generated file or image layer.
pub const SECRETS: &[(&str, &str)] = &[
  ("OPENAI_API_KEY", "sk-test-4f9a8b7c6d5e4f3a2b1c0d9e"),
  ("JWT_SECRET", "Zq7mN2pX9rT4vW8yB3cF6hJ1kL5"),
  ("UPSTREAM_URL", "https://svc-user:Up5tr3am-Pa55@api.example.com/v1"),
  ("CLIENT_SECRET", "cs-very-private-0123456789"),
];

/// Returns a reason to skip engine tests, if any.
pub fn engine_skip_reason() -> Option<String> {
  let sock =
    std::env::var("DOCKER_HOST").ok().and_then(|h| h.strip_prefix("unix://").map(String::from));
  let path = sock.unwrap_or_else(|| "/var/run/docker.sock".into());
  let reason = (!Path::new(&path).exists()).then(|| {
    format!("SKIPPED: Docker socket {path} absent (run `source .ci/docker.sh; start_docker`)")
  });
  // CI sets FARM_REQUIRE_DOCKER=1 (and CI=true): there a missing engine is a failure, never a
  // silent skip.
  let ci = std::env::var_os("FARM_REQUIRE_DOCKER").is_some()
    || std::env::var("CI").is_ok_and(|v| v == "true");
  if let (Some(r), true) = (&reason, ci) {
    panic!("CI=true or FARM_REQUIRE_DOCKER is set but the engine is missing: {r}");
  }
  reason
}

/// `$FARM_VALIDATORS_BIN` (a venv bin dir with check-jsonschema, kubernetes-validate, hadolint).
pub fn validators_bin() -> Option<PathBuf> {
  let bin = std::env::var_os("FARM_VALIDATORS_BIN").map(PathBuf::from);
  if let Some(b) = &bin {
    // Set but unusable is a failure, not a skip.
    assert!(b.join("hadolint").exists(), "FARM_VALIDATORS_BIN={} has no hadolint", b.display());
  }
  bin
}

pub fn write(root: &Path, rel: &str, text: &str) {
  write_bytes(root, rel, text.as_bytes());
}

pub fn write_bytes(root: &Path, rel: &str, bytes: &[u8]) {
  let p = root.join(rel);
  std::fs::create_dir_all(p.parent().unwrap()).unwrap();
  std::fs::write(p, bytes).unwrap();
}

pub fn sha256_hex(bytes: &[u8]) -> String {
  Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The fixture's FastAPI app; `health_status` is what `/health` answers.
pub fn main_py(version: &str, health_status: u16) -> String {
  format!(
    "# farm-api {version}\nfrom fastapi import FastAPI, Response\n\napp = FastAPI()\n\n\n\
     @app.get(\"/health\")\ndef health(response: Response) -> dict[str, str]:\n    \
     response.status_code = {health_status}\n    return {{\"status\": \"ok\", \"version\": \"{version}\"}}\n"
  )
}

/// Requirements of the fixture (the example app's pins, so pip's cache is shared).
pub const REQUIREMENTS: &str = "fastapi==0.165.0\nuvicorn==0.54.0\n";

/// A FARM project after `backend` and `frontend` ran: sources with a requirements file and a
/// secret `.env`, and the outputs `dist/api` (compiled with `python3 -m compileall -b`, plus a
/// machine-bound `.venv` that must stay out of the image) and `dist/web` (a built bundle).
pub fn project(root: &Path) {
  write(root, "apps/web/package.json", r#"{"name":"web","scripts":{"build":"vite build"}}"#);
  write(root, "apps/web/package-lock.json", r#"{"lockfileVersion":3}"#);
  write(root, "apps/api/main.py", &main_py("v1", 200));
  write(root, "apps/api/requirements.txt", REQUIREMENTS);
  write(root, "apps/api/.env", &format!("OPENAI_API_KEY={}\n", SECRETS[0].1));
  write(root, "apps/api/tests/test_main.py", "def test_x():\n    assert True\n");
  // Outputs.
  write(root, "dist/api/main.py", &main_py("v1", 200));
  write(root, "dist/api/requirements.txt", REQUIREMENTS);
  write(root, "dist/api/.venv/bin/python", "#!/bin/sh\necho machine-bound venv\n");
  write(root, "dist/api/.venv/pyvenv.cfg", "home = /usr/bin\n");
  compile_api(root);
  write(
    root,
    "dist/web/index.html",
    &format!("<!doctype html><html><head><script type=\"module\" src=\"/{ASSET}\"></script></head><body><div id=\"root\"></div></body></html>\n"),
  );
  write(root, &format!("dist/web/{ASSET}"), "console.log('farm web v1');\n");
  let png: Vec<u8> =
    b"\x89PNG\r\n\x1a\n".iter().copied().chain((0..200u8).map(|i| i.wrapping_mul(7))).collect();
  write_bytes(root, "dist/web/assets/hero-Qw3rTy12.png", &png);
}

/// `python3 -m compileall -b` on `dist/api` (as the backend task does).
pub fn compile_api(root: &Path) {
  let out = Command::new("python3")
    .args(["-m", "compileall", "-b", "-q", "-f", "-x", r"\.venv"])
    .arg(root.join("dist/api"))
    .output()
    .expect("python3");
  assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

pub fn project_info(app_name: &str) -> ProjectInfo {
  ProjectInfo {
    app_name: app_name.into(),
    version: "1.0.0".into(),
    environment: "production".into(),
    output_rel: "dist".into(),
    frontend: Some(FrontendSpec {
      dir_rel: "apps/web".into(),
      lockfile: Some(Lockfile {
        file: "package-lock.json".into(),
        manager: PackageManager::Npm,
        workspace: None,
      }),
      out_rel: "web".into(),
    }),
    api: ApiSpec {
      dir_rel: "apps/api".into(),
      app: "main:app".into(),
      deps: PythonDeps::Requirements { file_rel: "requirements.txt".into() },
      out_rel: "api".into(),
    },
    ollama_models: None,
    ollama_export: None,
    toolchain: Toolchain { node_major: Some(20), python: Some((3, 11)), ollama_version: None },
  }
}

/// The test config: local base images, secrets in the environment, k8s on.
pub fn config_json(extra: &str) -> String {
  let env: Vec<String> = SECRETS.iter().map(|(k, v)| format!("\"{k}\": \"{v}\"")).collect();
  format!(
    r#"{{ "generateK8s": true,
         "baseImages": {{ "node": "{NODE_IMAGE}", "python": "{PYTHON_IMAGE}", "ollama": "{OLLAMA_IMAGE}" }},
         "environment": {{ "LOG_LEVEL": "info", {} }} {extra} }}"#,
    env.join(", ")
  )
}

pub fn config(extra: &str) -> DockerConfig {
  let c: DockerConfig = serde_json::from_str(&config_json(extra)).unwrap();
  assert!(c.validate().is_empty(), "{:?}", c.validate());
  c
}

/// Wheelhouses shared by the tests of one machine (keyed by requirements and interpreter).
pub fn wheel_cache() -> PathBuf {
  std::env::temp_dir().join("farm-test-wheelhouses")
}

/// The docker task's input for a fixture project.
pub fn job<'a>(cfg: &'a DockerConfig, ctx: &'a DeployContext, root: &'a Path) -> DockerJob<'a> {
  DockerJob {
    config: cfg,
    ctx,
    project_root: root,
    requirements: Some(root.join("apps/api/requirements.txt")),
    backend_dir: root.join("apps/api"),
    python: "python3".into(),
    wheel_cache: wheel_cache(),
  }
}

/// Fails loudly when the real Python base image is missing.
pub fn require_python_base() {
  let (ok, key, _) = docker_cli(&[
    "image",
    "inspect",
    "-f",
    "{{index .Config.Labels \"farm.base-image.key\"}}",
    PYTHON_IMAGE,
  ]);
  assert!(
    ok && !key.trim().is_empty() && key.trim() != "<no value>",
    "base image {PYTHON_IMAGE} is missing (or not the one .ci/base-images.sh makes): run `bash .ci/base-images.sh` (mmdebstrap + docker import; .ci/run does it)"
  );
}

const OLLAMA_STANDIN: &str = r#"#!/bin/sh
# STAND-IN for the ollama CLI, used only by farm's tests (no Ollama image can be pulled here).
# `create NAME -f Modelfile` checks the Modelfile's FROM weights (GGUF magic), copies the model's
# directory to $OLLAMA_MODELS/standin/<name> and records the call; `pull` fails (no network).
calls="$OLLAMA_MODELS/standin/calls.log"
case "$1" in
  serve) while :; do sleep 3600; done ;;
  list) exit 0 ;;
  create)
    name="$2"; [ "$3" = "-f" ] || { echo "stand-in: usage: create NAME -f Modelfile" >&2; exit 2; }
    mf="$4"; dir="$(dirname "$mf")"
    from="$(sed -n 's/^FROM //p' "$mf" | head -n 1)"
    case "$from" in ./*) from="$dir/${from#./}" ;; esac
    [ -f "$from" ] || { echo "stand-in: FROM $from does not exist" >&2; exit 1; }
    [ "$(head -c 4 "$from")" = "GGUF" ] || { echo "stand-in: $from is not GGUF" >&2; exit 1; }
    dest="$OLLAMA_MODELS/standin/$(echo "$name" | tr ':/' '--')"
    mkdir -p "$dest" && cp "$dir"/* "$dest"/ && echo "create $name -f $mf" >> "$calls" ;;
  pull) echo "stand-in: ollama pull $2 is not possible without network" >&2; exit 1 ;;
  *) echo "stand-in: unsupported: $*" >&2; exit 2 ;;
esac
"#;

/// Builds the busybox Ollama STAND-IN image (idempotent thanks to the context hash).
pub async fn standin_images(engine: &Engine) {
  busybox_standin(engine, OLLAMA_IMAGE, "ollama", "Ollama", OLLAMA_STANDIN, "/bin/ollama").await;
}

/// Builds `image`: busybox-static plus the shell script `script` as the command `name` at `dest`,
/// labelled as a stand-in that is NOT `what`.
async fn busybox_standin(
  engine: &Engine,
  image: &str,
  name: &str,
  what: &str,
  script: &str,
  dest: &str,
) {
  let busybox = std::fs::read("/usr/bin/busybox")
    .expect("busybox-static is required: apt-get install -y busybox-static");
  let d = tempfile::tempdir().unwrap();
  write_bytes(d.path(), "busybox", &busybox);
  write(d.path(), name, script);
  use std::os::unix::fs::PermissionsExt;
  for f in ["busybox", name] {
    std::fs::set_permissions(d.path().join(f), std::fs::Permissions::from_mode(0o755)).unwrap();
  }
  let df = format!(
    "FROM scratch\nLABEL farm.test.stand-in=\"busybox + a shell-script {name}; NOT {what}\"\n\
     COPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n\
     ENV PATH=/usr/local/bin:/bin\nRUN mkdir -p /tmp /usr/local/bin && chmod 1777 /tmp\n\
     COPY {name} {dest}\n"
  );
  write(d.path(), "Dockerfile", &df);
  let (repo, t) = image.rsplit_once(':').unwrap();
  let req = BuildRequest {
    context_root: d.path().to_path_buf(),
    dockerfile: d.path().join("Dockerfile"),
    ignore: IgnoreMatcher::default(),
    repository: repo.into(),
    tags: vec![t.into()],
    target: None,
    labels: Default::default(),
    no_cache: false,
    builder: BuilderKind::Classic,
  };
  engine.build(&req, &|_| {}).await.unwrap_or_else(|e| panic!("stand-in image {image}: {e}"));
}

const NPM_STANDIN: &str = r#"#!/bin/sh
# STAND-IN for npm, used only by farm's tests (no Node image can be pulled here). `ci` checks what
# a real `npm ci` reads: package.json and package-lock.json in the working directory and, with
# `--workspace DIR`, DIR/package.json; it records the call in node_modules/.farm-standin-npm.
case "$1" in
  ci)
    for f in package.json package-lock.json; do
      [ -f "$f" ] || { echo "stand-in npm: $PWD/$f is missing" >&2; exit 1; }
    done
    if [ "$2" = "--workspace" ]; then
      [ -f "$3/package.json" ] || { echo "stand-in npm: $PWD/$3/package.json is missing" >&2; exit 1; }
    fi
    mkdir -p node_modules && echo "npm $* (in $PWD)" >> node_modules/.farm-standin-npm ;;
  *) echo "stand-in npm: unsupported: $*" >&2; exit 2 ;;
esac
"#;

/// Builds the busybox Node STAND-IN image [`NODE_IMAGE`] (its `npm ci` only checks its inputs).
pub async fn node_standin_image(engine: &Engine) {
  busybox_standin(engine, NODE_IMAGE, "npm", "Node", NPM_STANDIN, "/usr/local/bin/npm").await;
}

/// Writes a small Ollama model store (GGUF weights, template, params) under `store`; returns the
/// weights' bytes.
pub fn ollama_store(store: &Path, name: &str) -> Vec<u8> {
  let mut weights = b"GGUF".to_vec();
  weights.extend_from_slice(&3u32.to_le_bytes());
  weights.extend((0..4000u32).map(|i| (i % 251) as u8));
  let blob = |bytes: &[u8], media_type: &str| {
    let h = sha256_hex(bytes);
    write_bytes(store, &format!("blobs/sha256-{h}"), bytes);
    Layer {
      media_type: media_type.into(),
      digest: format!("sha256:{h}"),
      size: bytes.len() as u64,
      from: None,
    }
  };
  let layers = vec![
    blob(&weights, media::MODEL),
    blob(b"{{ .Prompt }}", media::TEMPLATE),
    blob(br#"{"temperature":0.5}"#, media::PARAMS),
  ];
  let config = blob(br#"{"model_format":"gguf","model_family":"llama"}"#, media::CONFIG);
  let manifest =
    Manifest { schema_version: 2, media_type: Some(media::MANIFEST.into()), config, layers };
  let rel = ModelName::parse(name).unwrap().manifest_rel_path();
  write_bytes(store, &rel.to_string_lossy(), &serde_json::to_vec(&manifest).unwrap());
  weights
}

/// The export index under `<root>/dist/models`, if any.
pub fn read_index(root: &Path) -> Option<ExportIndex> {
  ExportIndex::read(&root.join("dist").join(MODELS_DIR)).unwrap()
}

/// `docker <args>` → (success, stdout, stderr).
pub fn docker_cli(args: &[&str]) -> (bool, String, String) {
  let out = Command::new("docker").args(args).output().expect("docker CLI");
  (
    out.status.success(),
    String::from_utf8_lossy(&out.stdout).into_owned(),
    String::from_utf8_lossy(&out.stderr).into_owned(),
  )
}

/// Removes images by reference, ignoring missing ones. `--no-prune`: their untagged parents are
/// the layer cache other tests build on at the same time (.ci/run prunes dangling images at exit).
pub fn remove_images(refs: &[String]) {
  for r in refs {
    let _ = Command::new("docker").args(["rmi", "-f", "--no-prune", r]).output();
  }
}

/// Directory of this crate (for ci-docker.sh).
pub fn crate_dir() -> PathBuf {
  PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A started registry, stopped on drop by its PID (via ci-docker.sh stop_registry).
pub struct Registry {
  pub dir: tempfile::TempDir,
  pub port: u16,
}

impl Registry {
  pub fn start(port: u16, user: &str, password: &str) -> Registry {
    let dir = tempfile::tempdir().unwrap();
    let script = crate_dir().join(".ci/docker.sh");
    let out = Command::new("bash")
      .arg("-c")
      .arg(format!(
        "source '{}' && start_registry '{}' {port}",
        script.display(),
        dir.path().display()
      ))
      .env("FARM_REGISTRY_USER", user)
      .env("FARM_REGISTRY_PASSWORD", password)
      .output()
      .unwrap();
    assert!(out.status.success(), "start_registry: {}", String::from_utf8_lossy(&out.stderr));
    Registry { dir, port }
  }
}

impl Drop for Registry {
  fn drop(&mut self) {
    let script = crate_dir().join(".ci/docker.sh");
    let _ = Command::new("bash")
      .arg("-c")
      .arg(format!(
        "source '{}' && stop_registry '{}'",
        script.display(),
        self.dir.path().display()
      ))
      .output();
  }
}

/// `uv` on PATH; `None` (the caller prints SKIPPED) when it is missing, except in CI (`CI=true`,
/// or `FARM_REQUIRE_DOCKER` as `.ci/run` sets it), where a missing uv is a failure (`.ci/run`
/// installs it).
pub fn require_uv() -> Option<PathBuf> {
  let found = std::env::var_os("PATH")
    .and_then(|p| std::env::split_paths(&p).map(|d| d.join("uv")).find(|p| p.is_file()));
  let ci = std::env::var("CI").is_ok_and(|v| v == "true")
    || std::env::var_os("FARM_REQUIRE_DOCKER").is_some();
  if found.is_none() && ci {
    panic!("CI=true or FARM_REQUIRE_DOCKER is set but `uv` is not on PATH: .ci/run installs it (pip install uv)");
  }
  found
}
