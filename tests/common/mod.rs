//! Shared fixtures for the integration tests: a FARM project on disk, local busybox base images
//! standing in for node/python/ollama (nothing can be pulled in CI), and skip helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use farm_build_native::builders::docker::config::{DockerConfig, ProjectInfo};
use farm_build_native::builders::docker::engine::{BuildRequest, Engine};
use farm_build_native::builders::docker::ignore::IgnoreMatcher;
use farm_build_native::builders::docker::toolchain::Toolchain;
use farm_build_native::deploy::context::{ApiSpec, FrontendSpec};

/// Base images the test config uses (built locally FROM scratch + busybox-static).
pub const NODE_IMAGE: &str = "farm-test/node:20";
pub const PYTHON_IMAGE: &str = "farm-test/python:3.11";
pub const OLLAMA_IMAGE: &str = "farm-test/ollama:0.5.1";

/// Secret values of the test config: none may appear in any generated file.
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
  // CI sets FARM_REQUIRE_DOCKER=1: there a missing engine is a failure, never a silent skip.
  if let (Some(r), Ok(_)) = (&reason, std::env::var("FARM_REQUIRE_DOCKER")) {
    panic!("FARM_REQUIRE_DOCKER is set but the engine is missing: {r}");
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
  let p = root.join(rel);
  std::fs::create_dir_all(p.parent().unwrap()).unwrap();
  std::fs::write(p, text).unwrap();
}

/// A FARM project: apps/web (package.json + lock + index.html), apps/api (main.py,
/// requirements.txt, a local .env with a secret), junk that must stay out of the context, and an
/// exported Ollama model store.
pub fn project(root: &Path) {
  write(root, "apps/web/package.json", r#"{"name":"web","scripts":{"build":"vite build"}}"#);
  write(root, "apps/web/package-lock.json", r#"{"lockfileVersion":3}"#);
  write(root, "apps/web/index.html", "<!doctype html><title>farm</title>\n");
  write(root, "apps/web/node_modules/huge/index.js", "junk\n");
  write(root, "apps/api/main.py", "# farm-api v1\napp = object()\n");
  write(root, "apps/api/requirements.txt", "fastapi==0.165.0\nuvicorn==0.54.0\n");
  write(root, "apps/api/.env", &format!("OPENAI_API_KEY={}\n", SECRETS[0].1));
  write(root, "apps/api/__pycache__/main.cpython-311.pyc", "junk");
  write(
    root,
    "dist/ai-models/exported/manifests/registry.ollama.ai/library/tiny/latest",
    "{\"schemaVersion\":2}\n",
  );
  write(root, "dist/ai-models/exported/blobs/sha256-0000000000000000000000000000000000000000000000000000000000000000", "gguf");
}

pub fn project_info() -> ProjectInfo {
  ProjectInfo {
    app_name: "placeholder".into(),
    version: "1.0.0".into(),
    environment: "production".into(),
    output_rel: "dist/docker".into(),
    frontend: Some(FrontendSpec {
      dir_rel: "apps/web".into(),
      dist_rel: "dist".into(),
      lockfile: Some("package-lock.json".into()),
      build_script: "build".into(),
    }),
    api: ApiSpec {
      dir_rel: "apps/api".into(),
      app: "main:app".into(),
      requirements_rel: Some("requirements.txt".into()),
    },
    ollama_models: Some(vec!["tiny".into()]),
    ollama_export_rel: Some("dist/ai-models/exported".into()),
    toolchain: Toolchain {
      node_major: Some(20),
      python: Some((3, 11)),
      ollama_version: Some("0.5.1".into()),
    },
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

const FAKE_NPM: &str = r#"#!/bin/sh
# Fake npm for tests: `ci`/`install` mark deps installed, `run build` copies index.html to dist/.
case "$1" in
  ci|install) mkdir -p node_modules && echo ok > node_modules/.installed ;;
  run)
    [ "$2" = build ] || { echo "fake npm: unknown script $2" >&2; exit 1; }
    [ -f node_modules/.installed ] || { echo "fake npm: dependencies not installed" >&2; exit 1; }
    [ ! -d node_modules/huge ] || { echo "fake npm: host node_modules leaked into the context" >&2; exit 1; }
    mkdir -p dist && cp index.html dist/index.html && echo "fake npm: built dist/index.html" ;;
  *) echo "fake npm: unsupported $*" >&2; exit 1 ;;
esac
"#;

const FAKE_PIP: &str = r#"#!/bin/sh
# Fake pip for tests: `pip install --no-cache-dir --prefix=P -r FILE` records FILE under P.
prefix=/usr/local; req=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix=*) prefix="${1#--prefix=}" ;;
    -r) shift; req="$1" ;;
  esac
  shift
done
[ -n "$req" ] || { echo "fake pip: no -r file" >&2; exit 1; }
mkdir -p "$prefix/lib/fake-site-packages" && cp "$req" "$prefix/lib/fake-site-packages/requirements.txt"
echo "fake pip: installed $(wc -l < "$req") requirements into $prefix"
"#;

const FAKE_PYTHON: &str = r#"#!/bin/sh
# Fake python for tests: `python -m uvicorn APP ...` checks the image layout and prints a line.
if [ "$1" = "-m" ] && [ "$2" = "uvicorn" ]; then
  [ -f /app/static/index.html ] || { echo "FAIL: /app/static/index.html missing"; exit 1; }
  [ -f /usr/local/lib/fake-site-packages/requirements.txt ] || { echo "FAIL: requirements not installed"; exit 1; }
  [ ! -e /app/api/.env ] || { echo "FAIL: .env is in the image"; exit 1; }
  [ ! -e /app/api/__pycache__ ] || { echo "FAIL: __pycache__ is in the image"; exit 1; }
  echo "FARM-SERVE uid=$(id -u) app=$3 env=$FARM_ENV head=$(head -n 1 /app/api/main.py)"
  exit 0
fi
echo "fake python: unsupported $*" >&2; exit 1
"#;

/// Builds the three busybox base images (idempotent thanks to the context hash).
pub async fn base_images(engine: &Engine) {
  let busybox = std::fs::read("/usr/bin/busybox")
    .expect("busybox-static is required: apt-get install -y busybox-static");
  for (tag, tools) in [
    (NODE_IMAGE, vec![("npm", FAKE_NPM)]),
    (PYTHON_IMAGE, vec![("pip", FAKE_PIP), ("python", FAKE_PYTHON)]),
    (OLLAMA_IMAGE, vec![]),
  ] {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("busybox"), &busybox).unwrap();
    {
      use std::os::unix::fs::PermissionsExt;
      std::fs::set_permissions(d.path().join("busybox"), std::fs::Permissions::from_mode(0o755))
        .unwrap();
    }
    let mut df = String::from(
      "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n\
       ENV PATH=/usr/local/bin:/bin\nRUN mkdir -p /tmp /usr/local/bin && chmod 1777 /tmp\n",
    );
    for (name, text) in &tools {
      write(d.path(), &format!("tools/{name}"), text);
      use std::os::unix::fs::PermissionsExt;
      std::fs::set_permissions(
        d.path().join("tools").join(name),
        std::fs::Permissions::from_mode(0o755),
      )
      .unwrap();
      df.push_str(&format!("COPY tools/{name} /usr/local/bin/{name}\n"));
    }
    if tag == OLLAMA_IMAGE {
      // Stand-in for /bin/ollama so the image's ENTRYPOINT exists.
      df.push_str("RUN printf '#!/bin/sh\\necho fake-ollama \"$@\"\\n' > /bin/ollama && chmod 755 /bin/ollama\n");
    }
    std::fs::write(d.path().join("Dockerfile"), df).unwrap();
    let (repo, t) = tag.rsplit_once(':').unwrap();
    let req = BuildRequest {
      context_root: d.path().to_path_buf(),
      dockerfile_rel: "Dockerfile".into(),
      ignore: IgnoreMatcher::default(),
      repository: repo.into(),
      tags: vec![t.into()],
      target: None,
      labels: Default::default(),
      no_cache: false,
    };
    engine.build(&req, &|_| {}).await.unwrap_or_else(|e| panic!("base image {tag}: {e}"));
  }
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

/// Removes images by reference, ignoring missing ones.
pub fn remove_images(refs: &[String]) {
  for r in refs {
    let _ = Command::new("docker").args(["rmi", "-f", r]).output();
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
