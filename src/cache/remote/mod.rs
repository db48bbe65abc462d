//! The remote build cache, shared by a team and CI: backends behind [`RemoteBackend`] (a
//! Turborepo remote cache API server, an S3-compatible bucket or an Azure Blob Storage
//! container), artifacts that are one deterministic `tar.zst` per entry ([`artifact`]), signed
//! with HMAC-SHA256 ([`sign`]).
//!
//! It only ever sits behind the local store: on a local miss an artifact is downloaded, its
//! signature checked (when a key is set), verified whole and unpacked into the local store, and
//! then restored by the normal verified local path; entries built here are packed and uploaded
//! in the background after their local save. Local hits never touch the network, and every
//! remote failure (down, slow, 4xx/5xx, truncated, tampered) is a warning: the task runs.
//!
//! Artifacts are stored under the id `farm1-<key>` (see [`remote_id`]), which cannot collide
//! with Turborepo's own 16-hex task hashes on a shared server.
//!
//! Before uploading, a build asks once (in the background, see [`RemoteCache::check_status_soon`])
//! whether the server takes uploads (`/v8/artifacts/status`), and per artifact whether the store
//! already has it (`HEAD`), so an artifact the store holds is not sent again.

pub mod artifact;
pub mod azure;
mod error;
pub mod events;
pub mod http;
pub mod objects;
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
#[cfg(test)]
mod upload_tests;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
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

/// An artifact a store holds, as a `HEAD` request describes it (without its bytes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
  /// Its `x-artifact-tag`, if the store keeps one.
  pub tag: Option<String>,
}

/// What a Turborepo-API server says about caching for this token and team
/// (`GET /v8/artifacts/status`: `{"status": "enabled" | "disabled" | "over_limit" | "paused"}`,
/// turbo's `CachingStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachingStatus {
  /// Caching is on: uploads are taken.
  Enabled,
  /// Caching is turned off for this team.
  Disabled,
  /// The team is over its usage limit.
  OverLimit,
  /// Caching is paused (for instance by the team's spend management).
  Paused,
}

impl CachingStatus {
  /// The status named by the server's `status` field; `None` for a name this client does not know.
  pub fn parse(s: &str) -> Option<CachingStatus> {
    match s {
      "enabled" => Some(CachingStatus::Enabled),
      "disabled" => Some(CachingStatus::Disabled),
      "over_limit" => Some(CachingStatus::OverLimit),
      "paused" => Some(CachingStatus::Paused),
      _ => None,
    }
  }

  /// The name the server uses (`over_limit`, …).
  pub fn as_str(self) -> &'static str {
    match self {
      CachingStatus::Enabled => "enabled",
      CachingStatus::Disabled => "disabled",
      CachingStatus::OverLimit => "over_limit",
      CachingStatus::Paused => "paused",
    }
  }

  /// Whether the server takes uploads in this status.
  pub fn takes_uploads(self) -> bool {
    self == CachingStatus::Enabled
  }
}

/// What became of an upload ([`RemoteCache::upload`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uploaded {
  /// The artifact was sent: this many bytes.
  Sent(u64),
  /// The store already had it (`HEAD`): nothing was sent.
  AlreadyStored,
  /// The server said it takes no uploads (`/v8/artifacts/status`): nothing was sent.
  Refused(CachingStatus),
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
  /// Whether the store has the artifact (`HEAD`, without its bytes); `Ok(None)` when it does not.
  async fn exists(&self, id: &str) -> Result<Option<Stored>, RemoteError>;
  /// Whether the store takes uploads for this token and team; `Ok(None)` when it does not say
  /// (a bucket has no such notion, a server may answer a status this client does not know).
  async fn caching_status(&self) -> Result<Option<CachingStatus>, RemoteError>;
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
  /// The store's caching status, asked at most once per build ([`RemoteCache::caching_status`]);
  /// inside, `None` when there was no usable answer.
  status: Arc<tokio::sync::OnceCell<Option<CachingStatus>>>,
  /// Keys whose remote artifact this build refused (bad signature, malformed): their upload
  /// replaces it without asking whether the store has it.
  replace: Arc<Mutex<HashSet<String>>>,
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
      BackendSpec::S3 { bucket, endpoint, region, prefix } => Arc::new(s3::open(
        bucket,
        endpoint.as_deref(),
        region.as_deref(),
        prefix,
        s.timeout,
        s.backend.location(),
        tls,
      )?),
      BackendSpec::Azure { container, endpoint, prefix } => Arc::new(azure::open(
        container,
        endpoint.as_deref(),
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
    RemoteCache {
      backend,
      signer,
      read,
      write,
      timeout,
      events: None,
      status: Arc::new(tokio::sync::OnceCell::new()),
      replace: Arc::default(),
    }
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
  /// is set (a refused one is replaced by this build's upload, see
  /// [`RemoteCache::replace_on_upload`]). `Ok(None)`: the remote does not have it.
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
      if let Err(source) = s.verify(&id, &f.body, f.tag.as_deref()) {
        self.replace_on_upload(key);
        return Err(RemoteError::Signature { key: key.to_string(), source });
      }
    }
    Ok(Some(Download { body: f.body, duration_ms: f.duration_ms }))
  }

  /// Starts asking the store, in the background, whether it takes uploads (once per build; only
  /// when this build writes). Uploads wait for the answer; nothing else does.
  pub fn check_status_soon(&self) {
    if !self.write || self.status.initialized() {
      return;
    }
    let this = self.clone();
    tokio::spawn(async move {
      this.caching_status().await;
    });
  }

  /// The store's caching status, asked once per build (concurrent callers share the one request)
  /// within the time limit. `None`: no usable answer (a failure, a timeout, a bucket, a status
  /// this client does not know), and uploads go on as if it said `enabled`; never a warning.
  pub async fn caching_status(&self) -> Option<CachingStatus> {
    *self
      .status
      .get_or_init(|| async {
        match tokio::time::timeout(self.timeout, self.backend.caching_status()).await {
          Ok(Ok(s)) => s,
          Ok(Err(_)) | Err(_) => None,
        }
      })
      .await
  }

  /// The status the store answered, when it said it takes no uploads (without asking again).
  pub fn uploads_refused(&self) -> Option<CachingStatus> {
    self.status.get().copied().flatten().filter(|s| !s.takes_uploads())
  }

  /// Notes that this build refused the remote artifact of `key` (bad signature, malformed): its
  /// upload then replaces it instead of finding it present.
  pub fn replace_on_upload(&self, key: &str) {
    if let Ok(mut r) = self.replace.lock() {
      r.insert(key.to_string());
    }
  }

  /// Uploads the artifact of `key` (signed when a key is set), each request within the time
  /// limit: nothing when the store said it takes no uploads ([`RemoteCache::caching_status`]) or
  /// already has the artifact (`HEAD`; with a signature key, only an artifact with a tag counts).
  /// A `HEAD` that fails (other than by timing out) is no answer: the artifact is sent.
  pub async fn upload(
    &self,
    key: &str,
    body: Bytes,
    duration_ms: u64,
  ) -> Result<Uploaded, RemoteError> {
    let id = remote_id(key);
    if let Some(s) = self.caching_status().await.filter(|s| !s.takes_uploads()) {
      return Ok(Uploaded::Refused(s));
    }
    let replace = self.replace.lock().map(|r| r.contains(key)).unwrap_or(false);
    if !replace {
      // A server that does not answer HEAD in time would not take the artifact either.
      let there =
        tokio::time::timeout(self.timeout, self.backend.exists(&id)).await.map_err(|_| {
          RemoteError::Timeout {
            location: self.location(),
            what: format!("upload of {id} (HEAD, asking whether the store has it)"),
            ms: self.timeout_ms(),
          }
        })?;
      if let Ok(Some(stored)) = there {
        if self.signer.is_none() || stored.tag.is_some() {
          return Ok(Uploaded::AlreadyStored);
        }
      }
    }
    let tag = self.signer.as_ref().map(|s| s.tag(&id, &body));
    let n = body.len() as u64;
    tokio::time::timeout(self.timeout, self.backend.put(&id, body, tag, duration_ms))
      .await
      .map_err(|_| RemoteError::Timeout {
        location: self.location(),
        what: format!("upload of {id}"),
        ms: self.timeout_ms(),
      })??;
    Ok(Uploaded::Sent(n))
  }
}
