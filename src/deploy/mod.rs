//! Deployment file generation for FARM apps: Dockerfiles, `.dockerignore`, docker-compose, Kubernetes
//! manifests and deploy scripts. Everything here is a pure function of a [`DeployContext`]; writing the
//! files is [`files::write_all`]. Secrets never become values: they are `${VAR}` references (compose),
//! `secretKeyRef`s (Kubernetes) or read from the environment at deploy time (scripts).

pub mod compose;
pub mod context;
pub mod dockerfile;
pub mod env;
pub mod files;
pub mod k8s;
pub mod scripts;
pub mod workspace;
pub mod yaml;

pub use context::{
  ApiSpec, BakedModel, BaseImages, BuildSpec, DatabaseSpec, DeployContext, FrontendSpec, ImageKind,
  JsWorkspace, Lockfile, MongoSpec, OllamaSpec, PackageManager, PostgresSpec, RegistryRef,
  ResourceSpec, Resources,
};
pub use env::{classify_env, EnvValue, EnvVar};
pub use files::{generate_all, write_all, GeneratedFile};
