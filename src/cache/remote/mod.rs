//! The remote build cache, shared by a team and CI: two backends behind [`RemoteBackend`] (a
//! Turborepo remote cache API server, or an S3-compatible bucket), artifacts that are one
//! deterministic `tar.zst` per entry ([`artifact`]), signed with HMAC-SHA256 ([`sign`]).
//!
//! It only ever sits behind the local store: on a local miss an artifact is downloaded, its
//! signature checked (when a key is set), verified whole and unpacked into the local store, and
//! then restored by the normal verified local path; entries built here are packed and uploaded
//! in the background after their local save. Local hits never touch the network, and every
//! remote failure (down, slow, 4xx/5xx, truncated, tampered) is a warning: the task runs.
//!
//! Artifacts are stored under the id `farm1-<key>` (see [`remote_id`]), which cannot collide
//! with Turborepo's own 16-hex task hashes on a shared server.

pub mod artifact;
mod error;
pub mod events;
pub mod http;
pub mod s3;
pub mod settings;
pub mod sign;
pub mod tls;
pub mod turbo;
pub mod upload;

#[cfg(test)]
mod server_tests;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

pub use artifact::{ArtifactError, Imported};
pub use error::RemoteError;
pub use events::{EventKind, EventSource, EventStats};
pub use settings::{BackendSpec, RemoteSettings};
pub use sign::{SignatureError, Signer};

/// An artifact as a backend returned it, before any check.
#[derive(Debug, Clone)]
pub struct Fetched {
  /// The artifact bytes.
  pub body: Bytes,
  /// Its `x-artifact-tag`, if the store had one.
  pub tag: Option<String>,
  /// The task's build time (`x-artifact-duration`), when the store told it.
  pub duration_ms: Option<u64>,
}

/// A store of artifacts by id.
#[async_trait]
pub trait RemoteBackend: Send + Sync + std::fmt::Debug {
  /// Where the artifacts go, for messages (no secrets).
  fn location(&self) -> String;
  /// Downloads an artifact; `Ok(None)` when the store does not have it.
  async fn get(&self, id: &str) -> Result<Option<Fetched>, RemoteError>;
  /// Uploads an artifact with its tag; `duration_ms` is how long the task took to build.
  async fn put(
    &self,
    id: &str,
    body: Bytes,
    tag: Option<String>,
    duration_ms: u64,
  ) -> Result<(), RemoteError>;
}

/// Format version of farm's artifacts; part of every id.
pub const ARTIFACT_VERSION: u32 = 1;

/// The remote id of a task key: `farm1-<key>`.
pub fn remote_id(key: &str) -> String {
  format!("farm{ARTIFACT_VERSION}-{key}")
}

/// A downloaded artifact whose signature (if required) checked out.
#[derive(Debug, Clone)]
pub struct Download {
  /// The artifact bytes.
  pub body: Bytes,
  /// The task's build time when the store told it (the time a hit saves).
  pub duration_ms: Option<u64>,
}

/// The remote cache of a build: a backend, the signer, the read/write split and the time limit.
#[derive(Debug, Clone)]
pub struct RemoteCache {
  backend: Arc<dyn RemoteBackend>,
  signer: Option<Signer>,
  /// Download on a local miss.
  pub read: bool,
  /// Upload entries built here (false when read-only).
  pub write: bool,
  /// Time limit of one request.
  pub timeout: Duration,
  /// Cache usage events for the server (Turborepo API only).
  events: Option<Arc<events::EventRecorder>>,
}

impl RemoteCache {
  /// The remote cache described by `s` (no network traffic yet).
  pub fn open(s: &RemoteSettings) -> Result<RemoteCache, RemoteError> {
    let tls = tls::for_backend(&s.backend, s.ca_file.as_deref())?;
    let mut sink: Option<Arc<dyn events::EventSink>> = None;
    let backend: Arc<dyn RemoteBackend> = match &s.backend {
      BackendSpec::Turbo { url, token } => {
        let team = if s.team.is_empty() { "farm".to_string() } else { s.team.clone() };
        let t = Arc::new(turbo::TurboBackend::new(
          url.clone(),
          token.clone(),
          team,
          http::Http::new(s.timeout, tls),
        ));
        if s.events {
          sink = Some(Arc::clone(&t) as Arc<dyn events::EventSink>);
        }
        t
      }
      BackendSpec::S3 { bucket, endpoint, region, prefix } => Arc::new(s3::S3Backend::new(
        bucket,
        endpoint.as_deref(),
        region.as_deref(),
        prefix,
        s.timeout,
        s.backend.location(),
        tls,
      )?),
    };
    let cache = RemoteCache::with_backend(backend, s.signer.clone(), s.read, s.write, s.timeout);
    Ok(match sink {
      Some(sink) => cache.with_event_sink(sink),
      None => cache,
    })
  }

  /// A remote cache over any backend.
  pub fn with_backend(
    backend: Arc<dyn RemoteBackend>,
    signer: Option<Signer>,
    read: bool,
    write: bool,
    timeout: Duration,
  ) -> RemoteCache {
    RemoteCache { backend, signer, read, write, timeout, events: None }
  }

  /// Sends cache usage events (see [`events`]) to `sink` from now on.
  pub fn with_event_sink(mut self, sink: Arc<dyn events::EventSink>) -> RemoteCache {
    self.events = Some(Arc::new(events::EventRecorder::new(sink, self.timeout)));
    self
  }

  /// Queues a cache usage event for `key` (its artifact id is the event's `hash`); nothing
  /// without an event sink. Never blocks, never fails.
  pub fn record_event(&self, source: EventSource, event: EventKind, key: &str, duration_ms: u64) {
    if let Some(r) = &self.events {
      r.record(source, event, &remote_id(key), duration_ms);
    }
  }

  /// Whether this build recorded an event (so it talks to the server anyway).
  pub fn events_active(&self) -> bool {
    self.events.as_ref().is_some_and(|r| r.active())
  }

  /// Sends the last events, waiting until `deadline` at most; `None` without an event sink.
  pub async fn close_events(&self, deadline: tokio::time::Instant) -> Option<EventStats> {
    match &self.events {
      Some(r) => Some(r.close(deadline).await),
      None => None,
    }
  }

  /// Where the artifacts go (no secrets).
  pub fn location(&self) -> String {
    self.backend.location()
  }

  fn timeout_ms(&self) -> u64 {
    u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX)
  }

  /// Downloads the artifact of `key` within the time limit and checks its signature when a key
  /// is set. `Ok(None)`: the remote does not have it.
  pub async fn fetch(&self, key: &str) -> Result<Option<Download>, RemoteError> {
    let id = remote_id(key);
    let got = tokio::time::timeout(self.timeout, self.backend.get(&id)).await.map_err(|_| {
      RemoteError::Timeout {
        location: self.location(),
        what: format!("download of {id}"),
        ms: self.timeout_ms(),
      }
    })??;
    let Some(f) = got else { return Ok(None) };
    if let Some(s) = &self.signer {
      s.verify(&id, &f.body, f.tag.as_deref())
        .map_err(|source| RemoteError::Signature { key: key.to_string(), source })?;
    }
    Ok(Some(Download { body: f.body, duration_ms: f.duration_ms }))
  }

  /// Uploads the artifact of `key` (signed when a key is set) within the time limit; returns the
  /// bytes sent.
  pub async fn upload(&self, key: &str, body: Bytes, duration_ms: u64) -> Result<u64, RemoteError> {
    let id = remote_id(key);
    let tag = self.signer.as_ref().map(|s| s.tag(&id, &body));
    let n = body.len() as u64;
    tokio::time::timeout(self.timeout, self.backend.put(&id, body, tag, duration_ms))
      .await
      .map_err(|_| RemoteError::Timeout {
        location: self.location(),
        what: format!("upload of {id}"),
        ms: self.timeout_ms(),
      })??;
    Ok(n)
  }
}
