//! Errors of the Docker builder, each with a stable code and a hint on what to do.

use std::path::PathBuf;

/// Docker builder error.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
  /// No Docker engine reachable.
  #[error(
    "DOCKER_UNAVAILABLE: no Docker engine at {endpoint}: {reason}. Start it (e.g. `dockerd --host unix:///var/run/docker.sock` \
     as root, or `sudo systemctl start docker`), or point DOCKER_HOST at a running engine; set docker.build: false to only \
     generate the files"
  )]
  Unavailable {
    /// Socket or URL that was tried.
    endpoint: String,
    /// What failed.
    reason: String,
  },
  /// The image build failed.
  #[error("image build of {image} failed at {step}: {message}\n--- last build output ---\n{}", last_lines.join("\n"))]
  BuildFailed {
    /// Image being built.
    image: String,
    /// The failing step (`Step 3/9 : RUN npm ci`), or `(before the first step)`.
    step: String,
    /// The engine's error message.
    message: String,
    /// The last lines of the build log.
    last_lines: Vec<String>,
  },
  /// A BuildKit build was refused before its first step (the engine has no usable BuildKit).
  #[error(
    "the engine at {endpoint} did not run a BuildKit build: {message}. Use an engine with \
     BuildKit (Docker 18.09+ on Linux), or set docker.builder: \"classic\" (or \"auto\", which falls back to it)"
  )]
  BuildKitUnavailable {
    /// Socket or URL of the engine.
    endpoint: String,
    /// Why (the engine's message, or the probe's finding).
    message: String,
  },
  /// The registry rejected the credentials.
  #[error(
    "registry authentication failed for {registry} (user from ${username_env}): {message}. Check ${username_env} and ${password_env}"
  )]
  RegistryAuth {
    /// Registry host.
    registry: String,
    /// Env var with the user name.
    username_env: String,
    /// Env var with the password.
    password_env: String,
    /// Registry message.
    message: String,
  },
  /// A credentials environment variable is not set.
  #[error(
    "environment variable {var} is not set: it must hold the {what} for registry {registry}"
  )]
  MissingCredential {
    /// Variable name.
    var: String,
    /// `user name` or `password`.
    what: &'static str,
    /// Registry host.
    registry: String,
  },
  /// Pushing failed for another reason.
  #[error("push of {image} failed: {message}")]
  PushFailed {
    /// Image reference.
    image: String,
    /// Engine/registry message.
    message: String,
  },
  /// Another Engine API call failed.
  #[error("Docker engine call `{call}` failed: {message}")]
  Engine {
    /// The API call (e.g. `inspect_image farm:1.0`).
    call: String,
    /// Error text.
    message: String,
  },
  /// Reading the build context failed.
  #[error("cannot read build context file {path}: {source}")]
  Context {
    /// File or directory.
    path: PathBuf,
    /// I/O error.
    #[source]
    source: std::io::Error,
  },
  /// A `.dockerignore` pattern is invalid.
  #[error("invalid .dockerignore pattern `{pattern}` in {file}: {message}")]
  IgnorePattern {
    /// The pattern.
    pattern: String,
    /// The file holding it.
    file: String,
    /// Why it is invalid.
    message: String,
  },
  /// The smoke run of the production image failed.
  #[error("smoke run of {image} failed: {reason}\n--- last container output ---\n{}", last_lines.join("\n"))]
  SmokeFailed {
    /// The image.
    image: String,
    /// What went wrong.
    reason: String,
    /// The container's last output lines (and the last health check's output).
    last_lines: Vec<String>,
  },
  /// The built image does not hold what it must (or holds what it must not).
  #[error("image check of {image} failed:\n  - {}", problems.join("\n  - "))]
  ImageCheck {
    /// The image.
    image: String,
    /// Each problem found.
    problems: Vec<String>,
  },
  /// Staging the production context (requirements, wheelhouse) failed.
  #[error("preparing the production image's context: {0}")]
  Stage(String),
  /// The ai-models task's export index is unusable.
  #[error(transparent)]
  ExportIndex(#[from] crate::builders::ai::export_index::IndexError),
  /// Writing generated files failed.
  #[error(transparent)]
  Write(#[from] crate::deploy::files::WriteError),
}

impl DockerError {
  /// Stable machine-readable code.
  pub fn code(&self) -> &'static str {
    match self {
      DockerError::Unavailable { .. } => "DOCKER_UNAVAILABLE",
      DockerError::BuildFailed { .. } => "DOCKER_BUILD_FAILED",
      DockerError::BuildKitUnavailable { .. } => "DOCKER_BUILDKIT_UNAVAILABLE",
      DockerError::RegistryAuth { .. } => "DOCKER_REGISTRY_AUTH",
      DockerError::MissingCredential { .. } => "DOCKER_MISSING_CREDENTIAL",
      DockerError::PushFailed { .. } => "DOCKER_PUSH_FAILED",
      DockerError::Engine { .. } => "DOCKER_ENGINE_ERROR",
      DockerError::Context { .. } => "DOCKER_CONTEXT_ERROR",
      DockerError::IgnorePattern { .. } => "DOCKER_IGNORE_PATTERN",
      DockerError::SmokeFailed { .. } => "DOCKER_SMOKE_FAILED",
      DockerError::ImageCheck { .. } => "DOCKER_IMAGE_CHECK_FAILED",
      DockerError::Stage(_) => "DOCKER_STAGE_FAILED",
      DockerError::ExportIndex(_) => "DOCKER_EXPORT_INDEX",
      DockerError::Write(_) => "DOCKER_WRITE_FAILED",
    }
  }
}
