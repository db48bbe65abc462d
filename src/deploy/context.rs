//! The input of every generator: a fully resolved description of the app to containerise.

use super::env::EnvVar;

/// Everything the generators need, already resolved (no defaults are applied downstream).
///
/// Paths ending in `_rel` are relative, `/`-separated, without a leading `./`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployContext {
  /// Docker-safe app name (`[a-z0-9][a-z0-9_.-]*`), used for image, service and resource names.
  pub app_name: String,
  /// Image tag for this build, e.g. `1.2.0`.
  pub version: String,
  /// Build environment written as `FARM_ENV` (e.g. `production`).
  pub environment: String,
  /// The output directory relative to the project root, e.g. `dist`. Generated files are written
  /// there, and it is the production image's build context (see [`DeployContext::build_spec`]).
  pub output_rel: String,
  /// The React/Vite frontend, when the project has one.
  pub frontend: Option<FrontendSpec>,
  /// The FastAPI backend.
  pub api: ApiSpec,
  /// Resolved base images (with explicit tags).
  pub images: BaseImages,
  /// Port the API listens on inside the container.
  pub port: u16,
  /// HTTP path answering 200 when the API is healthy, e.g. `/health`.
  pub health_path: String,
  /// Ollama service, when AI with Ollama is enabled.
  pub ollama: Option<OllamaSpec>,
  /// The database service beside the app (MongoDB, PostgreSQL or none).
  pub database: DatabaseSpec,
  /// App environment, already classified into plain values and secret references.
  pub env: Vec<EnvVar>,
  /// Kubernetes resource requests/limits per service.
  pub resources: Resources,
  /// Registry the images are pushed to (image names are prefixed with it), if any.
  pub registry: Option<RegistryRef>,
  /// Number of app replicas in Kubernetes.
  pub replicas: u32,
}

/// The React/Vite frontend: built by the `frontend` task into `<outputDir>/<out_rel>` (copied into
/// the production image as built); its sources and lockfile serve the development image.
#[derive(Debug, Clone, PartialEq)]
pub struct FrontendSpec {
  /// Directory of the frontend `package.json`, relative to the project root, e.g. `apps/web`.
  pub dir_rel: String,
  /// The lockfile the frontend installs with: in `dir_rel`, or at the root of the npm / pnpm /
  /// yarn / bun workspace `dir_rel` belongs to (see [`Lockfile::find`]). The development image
  /// installs with it (never a bare `npm install`). `None`: the development image has no
  /// `web-dev` stage.
  pub lockfile: Option<Lockfile>,
  /// The built bundle relative to the output directory, e.g. `web`.
  pub out_rel: String,
}

/// A JavaScript package manager, known by its lockfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageManager {
  /// `package-lock.json` / `npm-shrinkwrap.json` → `npm ci`.
  Npm,
  /// `pnpm-lock.yaml` → `pnpm install --frozen-lockfile`.
  Pnpm,
  /// A Yarn 1 `yarn.lock` → `yarn install --frozen-lockfile`.
  Yarn,
  /// A Yarn 2+ `yarn.lock` (it has a `__metadata:` entry) → `yarn install --immutable`.
  YarnBerry,
  /// `bun.lock` / `bun.lockb` → `bun install --frozen-lockfile`.
  Bun,
}

/// A lockfile and the package manager it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lockfile {
  /// Its file name: inside the frontend directory, or at [`JsWorkspace::root_rel`].
  pub file: String,
  /// The manager that reads it.
  pub manager: PackageManager,
  /// The workspace whose root holds the lockfile; `None` when it is in the frontend directory.
  pub workspace: Option<JsWorkspace>,
}

/// An npm / pnpm / yarn / bun workspace the frontend is a member of, whose root (not the
/// frontend directory) holds the lockfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsWorkspace {
  /// The workspace root relative to the project root, `/`-separated; `.` for the project root.
  pub root_rel: String,
  /// The frontend directory relative to the workspace root, e.g. `apps/web`.
  pub member_rel: String,
  /// The frontend package's `name` (pnpm's `--filter`), when its `package.json` has one.
  pub member_name: Option<String>,
  /// The manifests the frozen install reads besides the lockfile, relative to the workspace root,
  /// sorted: the root `package.json`, `pnpm-workspace.yaml` (pnpm), and every member's
  /// `package.json` (the install checks the lockfile against all of them).
  pub manifests: Vec<String>,
}

impl JsWorkspace {
  /// `rel` (relative to the workspace root) relative to the project root.
  pub fn path(&self, rel: &str) -> String {
    match self.root_rel.as_str() {
      "" | "." => rel.to_string(),
      root => format!("{}/{rel}", root.trim_end_matches('/')),
    }
  }
}

/// Lockfile names in detection order.
pub const LOCKFILES: &[(&str, PackageManager)] = &[
  ("package-lock.json", PackageManager::Npm),
  ("npm-shrinkwrap.json", PackageManager::Npm),
  ("pnpm-lock.yaml", PackageManager::Pnpm),
  ("yarn.lock", PackageManager::Yarn),
  ("bun.lock", PackageManager::Bun),
  ("bun.lockb", PackageManager::Bun),
];

impl Lockfile {
  /// The first lockfile of [`LOCKFILES`] that exists in `dir` (not in a workspace); a `yarn.lock`
  /// with a `__metadata:` entry is Yarn 2+'s ([`PackageManager::YarnBerry`]).
  pub fn detect(dir: &std::path::Path) -> Option<Lockfile> {
    let (file, manager) = LOCKFILES.iter().find(|(f, _)| dir.join(f).is_file())?;
    let manager = match manager {
      PackageManager::Yarn if super::workspace::is_yarn_berry(&dir.join(file)) => {
        PackageManager::YarnBerry
      }
      m => *m,
    };
    Some(Lockfile { file: file.to_string(), manager, workspace: None })
  }

  /// The lockfile `frontend_dir` installs with: its own, else the one at the root of the
  /// workspace it is a member of, found by walking up from `frontend_dir` to `project_root`
  /// (the first folder with a lockfile; it must be a workspace root, marked by `pnpm-workspace.yaml`
  /// for pnpm or `package.json` `workspaces` otherwise, whose patterns take in `frontend_dir`).
  pub fn find(
    project_root: &std::path::Path,
    frontend_dir: &std::path::Path,
  ) -> Result<Lockfile, super::workspace::NoLockfile> {
    super::workspace::find_lockfile(project_root, frontend_dir)
  }
}

/// The FastAPI backend.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiSpec {
  /// Directory of the API sources relative to the project root, e.g. `apps/api` (development image).
  pub dir_rel: String,
  /// ASGI app import string relative to `dir_rel`, e.g. `main:app` or `src.main:app`.
  pub app: String,
  /// Where the backend's dependencies are declared. Whatever the layout, the production image
  /// installs the exact list the backend task installed, staged as
  /// [`STAGED_REQUIREMENTS`](super::dockerfile::STAGED_REQUIREMENTS) with a wheelhouse made from
  /// it; the development image installs from the declaring files.
  pub deps: PythonDeps,
  /// The backend task's output relative to the output directory, e.g. `api` (compiled, tidied,
  /// import-checked; copied into the production image without its `.venv`).
  pub out_rel: String,
}

/// Where the backend's dependencies are declared (for the development image; the production
/// image always installs the staged, resolved list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PythonDeps {
  /// Nothing declares dependencies: the image's venv is empty.
  None,
  /// A requirements file relative to [`ApiSpec::dir_rel`], e.g. `requirements.txt`.
  Requirements {
    /// The file, `/`-separated.
    file_rel: String,
  },
  /// `pyproject.toml` in [`ApiSpec::dir_rel`]: `[project.dependencies]` plus the `extras` groups.
  PyProject {
    /// The selected `[project.optional-dependencies]` groups, normalized.
    extras: Vec<String>,
    /// `[project.dependencies]` followed by the extras' requirement strings (installed as they
    /// are when there is no usable lock next to `pyproject.toml`).
    requirements: Vec<String>,
    /// The `uv.lock` next to `pyproject.toml` (`uv sync --frozen` installs from it), with the
    /// host's uv version the development image pins; `None` without one (a lock in a parent
    /// directory belongs to a workspace the development image does not copy).
    uv_lock: Option<UvLock>,
  },
}

/// A `uv.lock` the development image installs from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UvLock {
  /// The uv version to install in the image (`pip install uv==<version>`), the host's.
  pub uv_version: String,
}

impl PythonDeps {
  /// Whether anything is installed.
  pub fn is_some(&self) -> bool {
    !matches!(self, PythonDeps::None)
  }
}

/// Base images with explicit tags.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseImages {
  /// Node image for the frontend build stage, e.g. `node:22-slim`.
  pub node: String,
  /// Python image for the backend stages, e.g. `python:3.11-slim`.
  pub python: String,
  /// Ollama image, e.g. `ollama/ollama:0.12.0`.
  pub ollama: String,
}

/// Ollama service.
#[derive(Debug, Clone, PartialEq)]
pub struct OllamaSpec {
  /// All models the app uses (e.g. `llama3.1:8b`).
  pub models: Vec<String>,
  /// Models the ai-models task exported (listed in `models/exported-models.json`): copied into
  /// the image and created there with `ollama create`.
  pub baked: Vec<BakedModel>,
  /// Models not exported: pulled while the image is built.
  pub pull_models: Vec<String>,
}

/// The database service beside the app.
#[derive(Debug, Clone, PartialEq)]
pub enum DatabaseSpec {
  /// MongoDB: service `mongodb`, the app gets `MONGODB_URL` and `MONGODB_DATABASE`.
  Mongo(MongoSpec),
  /// PostgreSQL: service `postgres`, the app gets `DATABASE_URL` and `POSTGRES_*`.
  Postgres(PostgresSpec),
  /// No database service.
  None,
}

impl DatabaseSpec {
  /// The compose service / Kubernetes component name (`mongodb`, `postgres`); `None` without a
  /// database.
  pub fn service(&self) -> Option<&'static str> {
    match self {
      DatabaseSpec::Mongo(_) => Some("mongodb"),
      DatabaseSpec::Postgres(_) => Some("postgres"),
      DatabaseSpec::None => None,
    }
  }

  /// The variables holding the database credentials at deploy time (user name, password).
  pub fn credential_vars(&self) -> Vec<String> {
    match self {
      DatabaseSpec::Mongo(m) => vec![m.username_env.clone(), m.password_env.clone()],
      DatabaseSpec::Postgres(p) => vec![p.username_env.clone(), p.password_env.clone()],
      DatabaseSpec::None => Vec::new(),
    }
  }
}

/// An exported model baked into the Ollama image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BakedModel {
  /// Ollama's short name, e.g. `llama3.2:latest`.
  pub name: String,
  /// Its directory inside the models directory (the Ollama image's build context).
  pub dir: String,
  /// Its Modelfile relative to the models directory.
  pub modelfile: String,
}

/// Which image a build context is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
  /// The production app image (`Dockerfile`, target `production`).
  App,
  /// The Ollama image (`Dockerfile.ollama`).
  Ollama,
}

/// Where an image's build context is and where its Dockerfile is, seen from the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSpec {
  /// The context directory relative to the output directory (`.` or `models`).
  pub context_rel: String,
  /// The Dockerfile relative to the context directory (may start with `../`).
  pub dockerfile_rel: String,
}

/// MongoDB service.
#[derive(Debug, Clone, PartialEq)]
pub struct MongoSpec {
  /// Image, e.g. `mongo:7`.
  pub image: String,
  /// Database name used in the app's `MONGODB_URL`.
  pub database: String,
  /// Environment variable holding the root user name (read at deploy time).
  pub username_env: String,
  /// Environment variable holding the root password (read at deploy time; never written).
  pub password_env: String,
  /// PersistentVolumeClaim size in Kubernetes, e.g. `5Gi`.
  pub storage: String,
}

impl MongoSpec {
  /// `mongodb://` URL of the service at `host`, with the user and password written by `var`
  /// (e.g. `|v| format!("${{{v}}}")` for compose, `|v| format!("$({v})")` for Kubernetes).
  pub fn url(&self, host: &str, var: impl Fn(&str) -> String) -> String {
    format!(
      "mongodb://{}:{}@{host}:27017/{}?authSource=admin",
      var(&self.username_env),
      var(&self.password_env),
      self.database
    )
  }
}

/// PostgreSQL service.
#[derive(Debug, Clone, PartialEq)]
pub struct PostgresSpec {
  /// Image, e.g. `postgres:16`.
  pub image: String,
  /// Database name (`POSTGRES_DB`).
  pub database: String,
  /// Environment variable holding the user name (read at deploy time).
  pub username_env: String,
  /// Environment variable holding the password (read at deploy time; never written).
  pub password_env: String,
  /// PersistentVolumeClaim size in Kubernetes, e.g. `5Gi`.
  pub storage: String,
  /// Scheme of `DATABASE_URL`, e.g. `postgresql` or `postgresql+psycopg`.
  pub url_scheme: String,
}

impl PostgresSpec {
  /// Port the server listens on.
  pub const PORT: u16 = 5432;
  /// Data directory inside the container: a subdirectory of the mounted volume, since a fresh
  /// volume's root may hold `lost+found`, which `initdb` refuses.
  pub const PGDATA: &'static str = "/var/lib/postgresql/data/pgdata";

  /// `DATABASE_URL` of the service at `host`, with the user and password written by `var`.
  pub fn url(&self, host: &str, var: impl Fn(&str) -> String) -> String {
    format!(
      "{}://{}:{}@{host}:{}/{}",
      self.url_scheme,
      var(&self.username_env),
      var(&self.password_env),
      Self::PORT,
      self.database
    )
  }
}

/// Kubernetes requests/limits of one container.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceSpec {
  /// CPU request, e.g. `250m`.
  pub cpu_request: String,
  /// CPU limit, e.g. `1`.
  pub cpu_limit: String,
  /// Memory request, e.g. `256Mi`.
  pub memory_request: String,
  /// Memory limit, e.g. `512Mi`.
  pub memory_limit: String,
}

/// Requests/limits per service.
#[derive(Debug, Clone, PartialEq)]
pub struct Resources {
  /// The app container.
  pub app: ResourceSpec,
  /// The MongoDB container.
  pub mongodb: ResourceSpec,
  /// The PostgreSQL container.
  pub postgres: ResourceSpec,
  /// The Ollama container.
  pub ollama: ResourceSpec,
}

/// Where images are pushed.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryRef {
  /// Registry host and optional port, e.g. `127.0.0.1:5000` or `ghcr.io`.
  pub url: String,
  /// Optional namespace, e.g. `my-org`.
  pub namespace: Option<String>,
  /// Environment variable with the registry user name (for deploy scripts).
  pub username_env: String,
  /// Environment variable with the registry password (for deploy scripts).
  pub password_env: String,
}

impl DeployContext {
  /// Repository (image name without tag) of the app image or of a suffixed companion image
  /// (`-ollama`), prefixed with the registry when one is configured.
  pub fn repository(&self, suffix: &str) -> String {
    let name = format!("{}{}", self.app_name, suffix);
    match &self.registry {
      Some(reg) => match &reg.namespace {
        Some(ns) if !ns.is_empty() => format!("{}/{}/{}", reg.url, ns, name),
        _ => format!("{}/{}", reg.url, name),
      },
      None => name,
    }
  }

  /// `repository(suffix):version`.
  pub fn image_ref(&self, suffix: &str) -> String {
    format!("{}:{}", self.repository(suffix), self.version)
  }

  /// Output directory path of a generated file, relative to the build context.
  pub fn out_path(&self, file: &str) -> String {
    if self.output_rel.is_empty() || self.output_rel == "." {
      file.to_string()
    } else {
      format!("{}/{}", self.output_rel.trim_end_matches('/'), file)
    }
  }

  /// The build context of an image: the output directory itself for the app image (its
  /// `.dockerignore` keeps only the built outputs); for the Ollama image the models directory
  /// when models are baked in, else the output directory.
  pub fn build_spec(&self, kind: ImageKind) -> BuildSpec {
    let baked = self.ollama.as_ref().is_some_and(|o| !o.baked.is_empty());
    match kind {
      ImageKind::Ollama if baked => BuildSpec {
        context_rel: crate::builders::ai::export_index::MODELS_DIR.into(),
        dockerfile_rel: "../Dockerfile.ollama".into(),
      },
      ImageKind::Ollama => {
        BuildSpec { context_rel: ".".into(), dockerfile_rel: "Dockerfile.ollama".into() }
      }
      ImageKind::App => BuildSpec { context_rel: ".".into(), dockerfile_rel: "Dockerfile".into() },
    }
  }

  /// Relative path from the output directory back to the project root (e.g. `../..`).
  pub fn context_from_output(&self) -> String {
    let depth = self.output_rel.split('/').filter(|c| !c.is_empty() && *c != ".").count();
    if depth == 0 {
      ".".to_string()
    } else {
      vec![".."; depth].join("/")
    }
  }
}

#[cfg(test)]
pub(crate) mod tests {
  use super::super::env::EnvValue;
  use super::*;

  /// A context used by the generator tests.
  pub fn sample() -> DeployContext {
    DeployContext {
      app_name: "farm-demo".into(),
      version: "1.2.0".into(),
      environment: "production".into(),
      output_rel: "dist/docker".into(),
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
      images: BaseImages {
        node: "node:22-slim".into(),
        python: "python:3.11-slim".into(),
        ollama: "ollama/ollama:0.12.0".into(),
      },
      port: 8000,
      health_path: "/health".into(),
      ollama: Some(OllamaSpec {
        models: vec!["llama3.1:8b".into(), "nomic-embed-text".into()],
        baked: vec![BakedModel {
          name: "llama3.1:8b".into(),
          dir: "llama3.1-8b".into(),
          modelfile: "llama3.1-8b/Modelfile".into(),
        }],
        pull_models: vec!["nomic-embed-text".into()],
      }),
      database: DatabaseSpec::Mongo(MongoSpec {
        image: "mongo:7".into(),
        database: "farm_demo".into(),
        username_env: "MONGO_USERNAME".into(),
        password_env: "MONGO_PASSWORD".into(),
        storage: "5Gi".into(),
      }),
      env: vec![
        EnvVar { name: "LOG_LEVEL".into(), value: EnvValue::Plain("info".into()) },
        EnvVar {
          name: "OPENAI_API_KEY".into(),
          value: EnvValue::Secret { var: "OPENAI_API_KEY".into() },
        },
      ],
      resources: Resources {
        app: ResourceSpec {
          cpu_request: "250m".into(),
          cpu_limit: "1".into(),
          memory_request: "256Mi".into(),
          memory_limit: "512Mi".into(),
        },
        mongodb: ResourceSpec {
          cpu_request: "250m".into(),
          cpu_limit: "1".into(),
          memory_request: "512Mi".into(),
          memory_limit: "1Gi".into(),
        },
        postgres: ResourceSpec {
          cpu_request: "250m".into(),
          cpu_limit: "1".into(),
          memory_request: "256Mi".into(),
          memory_limit: "1Gi".into(),
        },
        ollama: ResourceSpec {
          cpu_request: "1".into(),
          cpu_limit: "4".into(),
          memory_request: "4Gi".into(),
          memory_limit: "8Gi".into(),
        },
      },
      registry: Some(RegistryRef {
        url: "127.0.0.1:5000".into(),
        namespace: Some("farm".into()),
        username_env: "FARM_REGISTRY_USER".into(),
        password_env: "FARM_REGISTRY_PASSWORD".into(),
      }),
      replicas: 2,
    }
  }

  /// [`sample`] with a PostgreSQL service instead of MongoDB.
  pub fn sample_postgres() -> DeployContext {
    DeployContext {
      database: DatabaseSpec::Postgres(PostgresSpec {
        image: "postgres:16".into(),
        database: "farm_demo".into(),
        username_env: "POSTGRES_USER".into(),
        password_env: "POSTGRES_PASSWORD".into(),
        storage: "5Gi".into(),
        url_scheme: "postgresql+psycopg".into(),
      }),
      ..sample()
    }
  }

  #[test]
  fn image_names_and_paths() {
    let mut c = sample();
    assert_eq!(c.image_ref(""), "127.0.0.1:5000/farm/farm-demo:1.2.0");
    assert_eq!(c.image_ref("-ollama"), "127.0.0.1:5000/farm/farm-demo-ollama:1.2.0");
    assert_eq!(c.out_path("Dockerfile"), "dist/docker/Dockerfile");
    assert_eq!(c.context_from_output(), "../..");
    assert_eq!(
      c.build_spec(ImageKind::Ollama),
      BuildSpec { context_rel: "models".into(), dockerfile_rel: "../Dockerfile.ollama".into() }
    );
    assert_eq!(c.build_spec(ImageKind::App).context_rel, ".");
    c.ollama.as_mut().unwrap().baked.clear();
    assert_eq!(c.build_spec(ImageKind::Ollama).dockerfile_rel, "Dockerfile.ollama");
    c.registry = None;
    c.output_rel = ".".into();
    assert_eq!(c.image_ref(""), "farm-demo:1.2.0");
    assert_eq!(c.out_path("Dockerfile"), "Dockerfile");
    assert_eq!(c.context_from_output(), ".");
    let DatabaseSpec::Mongo(m) = &c.database else { panic!("sample() has MongoDB") };
    assert_eq!(
      m.url("mongodb", |v| format!("$({v})")),
      "mongodb://$(MONGO_USERNAME):$(MONGO_PASSWORD)@mongodb:27017/farm_demo?authSource=admin"
    );
    let c = sample_postgres();
    let DatabaseSpec::Postgres(p) = &c.database else { panic!("sample_postgres()") };
    assert_eq!(
      p.url("postgres", |v| format!("${{{v}}}")),
      "postgresql+psycopg://${POSTGRES_USER}:${POSTGRES_PASSWORD}@postgres:5432/farm_demo"
    );
    assert_eq!(c.database.service(), Some("postgres"));
    assert_eq!(c.database.credential_vars(), ["POSTGRES_USER", "POSTGRES_PASSWORD"]);
    assert_eq!(DatabaseSpec::None.service(), None);
  }
}
