//! `farm build --upload` (or `build.upload`): the build's output files, `build-manifest.json`
//! among them, stored under `<prefix>/<buildId>/<path>` in the same kinds of stores as the remote
//! cache (an S3-compatible bucket, an Azure container, or a Turborepo-API server where each file
//! is one artifact).

use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::error::RemoteError;
use super::http::Http;
use super::settings::{BackendSpec, RemoteSettings, ENV_URL};
use super::turbo::TurboBackend;
use super::RemoteBackend;
use crate::config::{FarmConfig, RemoteCacheConfig};

/// Default key prefix of uploaded builds.
pub const DEFAULT_UPLOAD_PREFIX: &str = "builds";

/// What an upload stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadReport {
  /// Where (URL or bucket; no secrets).
  pub location: String,
  /// `<prefix>/<buildId>`: the key prefix of every uploaded file.
  pub prefix: String,
  /// Files uploaded.
  pub files: u64,
  /// Their total size.
  pub bytes: u64,
}

/// The resolved upload store.
#[derive(Debug)]
pub struct UploadTarget {
  backend: Box<dyn RemoteBackend>,
  prefix: String,
  location: String,
}

impl UploadTarget {
  /// The store of `build.upload`, else (when `requested`, i.e. `--upload`) that of
  /// `cache.remote` / `FARM_REMOTE_CACHE_URL`. `Ok(None)`: nothing to upload. Uploads are refused
  /// on read-only machines (`FARM_REMOTE_CACHE_READ_ONLY=1`).
  pub fn resolve(
    cfg: &FarmConfig,
    requested: bool,
    env: &dyn Fn(&str) -> Option<String>,
  ) -> Result<Option<UploadTarget>, RemoteError> {
    let (remote_cfg, prefix, own): (RemoteCacheConfig, String, bool) = match &cfg.build.upload {
      Some(u) => {
        (u.as_remote(), u.prefix.clone().unwrap_or_else(|| DEFAULT_UPLOAD_PREFIX.into()), true)
      }
      None if requested => {
        let mut r = cfg.cache.remote.clone().unwrap_or_default();
        r.write = true;
        (r, DEFAULT_UPLOAD_PREFIX.to_string(), false)
      }
      None => return Ok(None),
    };
    // `build.upload` names its own store; the cache's URL override does not redirect it.
    let env_for = |n: &str| if own && n == ENV_URL { None } else { env(n) };
    let settings = RemoteSettings::resolve(Some(&RemoteCacheConfig { signature_key_env: None, ..remote_cfg.clone() }), &env_for)?
      .ok_or_else(|| {
        RemoteError::Setup(
          "--upload needs a store: set `build.upload` ({ bucket | url, prefix }) or `cache.remote`, or FARM_REMOTE_CACHE_URL".into(),
        )
      })?;
    if !settings.write {
      return Err(RemoteError::Setup(
        "FARM_REMOTE_CACHE_READ_ONLY is set: this machine does not upload builds".into(),
      ));
    }
    let timeout = remote_cfg
      .timeout_ms
      .map(std::time::Duration::from_millis)
      .unwrap_or(std::time::Duration::from_secs(60));
    let tls = super::tls::for_backend(&settings.backend, settings.ca_file.as_deref())?;
    let (backend, location): (Box<dyn RemoteBackend>, String) = match &settings.backend {
      BackendSpec::Turbo { url, token } => {
        let team = if settings.team.is_empty() { "farm".into() } else { settings.team.clone() };
        (
          Box::new(TurboBackend::new(url.clone(), token.clone(), team, Http::new(timeout, tls))),
          url.clone(),
        )
      }
      BackendSpec::S3 { bucket, endpoint, region, .. } => {
        let location = match endpoint {
          Some(e) => format!("s3://{bucket} at {e}"),
          None => format!("s3://{bucket}"),
        };
        // The S3 backend adds the prefix to every object name itself.
        let b = super::s3::open(
          bucket,
          endpoint.as_deref(),
          region.as_deref(),
          &prefix,
          timeout,
          location.clone(),
          tls,
        )?;
        (Box::new(b), location)
      }
      BackendSpec::Azure { container, endpoint, .. } => {
        let location = match endpoint {
          Some(e) => format!("az://{container} at {e}"),
          None => format!("az://{container}"),
        };
        // Like S3, the Azure backend adds the prefix to every blob name itself.
        let b = super::azure::open(
          container,
          endpoint.as_deref(),
          &prefix,
          timeout,
          location.clone(),
          tls,
        )?;
        (Box::new(b), location)
      }
    };
    Ok(Some(UploadTarget { backend, prefix, location }))
  }

  /// Where the files go (no secrets).
  pub fn location(&self) -> &str {
    &self.location
  }

  /// Uploads every regular file under `dir` as `<prefix>/<build_id>/<path>`; the first failure
  /// stops it.
  pub async fn upload_dir(&self, dir: &Path, build_id: &str) -> Result<UploadReport, RemoteError> {
    let files =
      list_files(dir).map_err(|e| RemoteError::Setup(format!("reading {}: {e}", dir.display())))?;
    let s3 = self.location.starts_with("s3://") || self.location.starts_with("az://");
    let mut report = UploadReport {
      location: self.location.clone(),
      prefix: format!("{}/{build_id}", self.prefix),
      files: 0,
      bytes: 0,
    };
    for (rel, path) in files {
      let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| RemoteError::Setup(format!("reading {}: {e}", path.display())))?;
      let n = bytes.len() as u64;
      // S3 objects and Azure blobs get the prefix from the backend; Turborepo artifacts carry it
      // in their id.
      let id =
        if s3 { format!("{build_id}/{rel}") } else { format!("{}/{build_id}/{rel}", self.prefix) };
      self.backend.put(&id, Bytes::from(bytes), None, 0).await?;
      report.files += 1;
      report.bytes += n;
    }
    Ok(report)
  }
}

/// Regular files under `dir` (symlinks are not followed or uploaded), `/`-separated, sorted.
fn list_files(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
  let mut out = Vec::new();
  let mut stack = vec![(String::new(), dir.to_path_buf())];
  while let Some((rel, d)) = stack.pop() {
    for e in std::fs::read_dir(&d)? {
      let e = e?;
      let name = e.file_name().to_string_lossy().into_owned();
      let r = if rel.is_empty() { name } else { format!("{rel}/{name}") };
      let ft = e.file_type()?;
      if ft.is_dir() {
        stack.push((r, e.path()));
      } else if ft.is_file() {
        out.push((r, e.path()));
      }
    }
  }
  out.sort();
  Ok(out)
}
