//! The remote cache's settings: `cache.remote` from the config, overridden by env vars, with the
//! secrets (token, signature key, AWS or Azure credentials) read from env vars only.

use std::path::PathBuf;
use std::time::Duration;

use super::error::RemoteError;
use super::sign::Signer;
use crate::config::{check_http_url, RemoteCacheConfig};

/// Overrides `cache.remote.url` (and turns the remote cache on without a config section).
pub const ENV_URL: &str = "FARM_REMOTE_CACHE_URL";
/// The bearer token's default env var.
pub const ENV_TOKEN: &str = "FARM_REMOTE_CACHE_TOKEN";
/// Overrides `cache.remote.team`.
pub const ENV_TEAM: &str = "FARM_REMOTE_CACHE_TEAM";
/// `1` (or `true`): never upload.
pub const ENV_READ_ONLY: &str = "FARM_REMOTE_CACHE_READ_ONLY";
/// `0` (or `false`): send no cache usage events (`/v8/artifacts/events`) to a Turborepo-API server.
pub const ENV_EVENTS: &str = "FARM_REMOTE_CACHE_EVENTS";
/// Default time limit of one request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default key prefix in a bucket.
pub const DEFAULT_PREFIX: &str = "farm-cache";

/// Which store the artifacts live in.
#[derive(Clone, PartialEq, Eq)]
pub enum BackendSpec {
  /// A Turborepo remote cache API server.
  Turbo {
    /// Base URL (`http://host:port`, no trailing `/`).
    url: String,
    /// The bearer token, if any.
    token: Option<String>,
  },
  /// An S3-compatible bucket.
  S3 {
    /// Bucket name.
    bucket: String,
    /// Endpoint URL (None: AWS, or `AWS_ENDPOINT_URL`).
    endpoint: Option<String>,
    /// Region (None: `AWS_REGION`, else `us-east-1`).
    region: Option<String>,
    /// Key prefix of the objects.
    prefix: String,
  },
  /// An Azure Blob Storage container (`bucket: "az://<container>"`).
  Azure {
    /// Container name.
    container: String,
    /// The account's blob endpoint (None: `https://<account>.blob.core.windows.net`).
    endpoint: Option<String>,
    /// Name prefix of the blobs.
    prefix: String,
  },
}

impl std::fmt::Debug for BackendSpec {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    match self {
      BackendSpec::Turbo { url, token } => f
        .debug_struct("Turbo")
        .field("url", url)
        .field("token", &token.as_ref().map(|_| "<redacted>"))
        .finish(),
      BackendSpec::S3 { bucket, endpoint, region, prefix } => f
        .debug_struct("S3")
        .field("bucket", bucket)
        .field("endpoint", endpoint)
        .field("region", region)
        .field("prefix", prefix)
        .finish(),
      BackendSpec::Azure { container, endpoint, prefix } => f
        .debug_struct("Azure")
        .field("container", container)
        .field("endpoint", endpoint)
        .field("prefix", prefix)
        .finish(),
    }
  }
}

impl BackendSpec {
  /// Where the artifacts go, for messages (never a secret).
  pub fn location(&self) -> String {
    match self {
      BackendSpec::Turbo { url, .. } => url.clone(),
      BackendSpec::S3 { bucket, endpoint, prefix, .. } => match endpoint {
        Some(e) => format!("s3://{bucket}/{prefix} at {e}"),
        None => format!("s3://{bucket}/{prefix}"),
      },
      BackendSpec::Azure { container, endpoint, prefix } => match endpoint {
        Some(e) => format!("az://{container}/{prefix} at {e}"),
        None => format!("az://{container}/{prefix}"),
      },
    }
  }
}

/// The resolved remote cache settings of a build.
#[derive(Debug, Clone)]
pub struct RemoteSettings {
  /// The store.
  pub backend: BackendSpec,
  /// The team (Turborepo `teamId`/`slug`; part of the signed message). Empty when unset.
  pub team: String,
  /// Download on a local miss.
  pub read: bool,
  /// Upload what this machine builds.
  pub write: bool,
  /// Time limit of one request.
  pub timeout: Duration,
  /// Signs uploads and checks downloads, when a signature key is set.
  pub signer: Option<Signer>,
  /// Send cache usage events to a Turborepo-API server (off with `FARM_REMOTE_CACHE_EVENTS=0`).
  pub events: bool,
  /// Extra CA certificates (PEM) trusted for https (`FARM_REMOTE_CACHE_CA`).
  pub ca_file: Option<PathBuf>,
}

impl RemoteSettings {
  /// Resolves `cache.remote` (if any) with the env vars (`env` reads one). `Ok(None)`: no remote
  /// cache. An `Err` is a warning at build time, and the build runs with the local cache only.
  pub fn resolve(
    cfg: Option<&RemoteCacheConfig>,
    env: &dyn Fn(&str) -> Option<String>,
  ) -> Result<Option<RemoteSettings>, RemoteError> {
    let env_set = |n: &str| env(n).filter(|v| !v.trim().is_empty());
    let env_url = env_set(ENV_URL);
    if cfg.is_none() && env_url.is_none() {
      return Ok(None);
    }
    let base =
      cfg.cloned().unwrap_or(RemoteCacheConfig { read: true, write: true, ..Default::default() });
    let backend = if let Some(url) = env_url {
      let url = url.trim().trim_end_matches('/').to_string();
      check_http_url(&url)
        .map_err(|(m, fix)| RemoteError::Setup(format!("{ENV_URL}: {m}. Fix: {fix}")))?;
      BackendSpec::Turbo { url, token: None }
    } else if let Some(url) = &base.url {
      BackendSpec::Turbo { url: url.trim_end_matches('/').to_string(), token: None }
    } else if let Some(container) =
      base.bucket.as_deref().and_then(|b| b.strip_prefix(super::azure::SCHEME))
    {
      BackendSpec::Azure {
        container: container.trim_end_matches('/').to_string(),
        endpoint: base.endpoint.clone().map(|e| e.trim_end_matches('/').to_string()),
        prefix: base.prefix.clone().unwrap_or_else(|| DEFAULT_PREFIX.into()),
      }
    } else if let Some(bucket) = &base.bucket {
      BackendSpec::S3 {
        bucket: bucket.clone(),
        endpoint: base.endpoint.clone().map(|e| e.trim_end_matches('/').to_string()),
        region: base.region.clone(),
        prefix: base.prefix.clone().unwrap_or_else(|| DEFAULT_PREFIX.into()),
      }
    } else {
      return Ok(None);
    };
    let backend = match backend {
      BackendSpec::Turbo { url, .. } => {
        let name = base.token_env.as_deref().unwrap_or(ENV_TOKEN);
        BackendSpec::Turbo { url, token: env_set(name) }
      }
      bucket => bucket,
    };
    let team = env_set(ENV_TEAM).or(base.team.clone()).unwrap_or_default();
    let signer = match &base.signature_key_env {
      Some(name) => match env_set(name) {
        Some(key) => Some(Signer::new(key.into_bytes(), team.clone())),
        None => {
          return Err(RemoteError::Setup(format!(
            "cache.remote.signatureKeyEnv names {name}, which is not set; the remote cache is off for this build (set {name}, or remove signatureKeyEnv)"
          )))
        }
      },
      None => None,
    };
    let read_only = env(ENV_READ_ONLY).is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes"));
    Ok(Some(RemoteSettings {
      backend,
      team,
      read: base.read,
      write: base.write && !read_only,
      timeout: base.timeout_ms.map(Duration::from_millis).unwrap_or(DEFAULT_TIMEOUT),
      signer,
      events: !env(ENV_EVENTS).is_some_and(|v| matches!(v.trim(), "0" | "false" | "no")),
      ca_file: env_set(super::tls::ENV_CA).map(PathBuf::from),
    }))
  }
}
