//! The Turborepo remote cache HTTP API (`/v8/artifacts/:hash`), as served by Vercel and by the
//! open-source `turborepo-remote-cache`: `GET` (404 is a miss), `PUT` with `x-artifact-tag` and
//! `x-artifact-duration`, `HEAD` (does the server have it), `GET /v8/artifacts/status`, `POST /v8/artifacts/events` (cache usage
//! events, see [`super::events`]); `Authorization: Bearer <token>`, the team as `teamId` (ids
//! starting with `team_`) or `slug`.

use async_trait::async_trait;
use bytes::Bytes;
use hyper::{Method, StatusCode};

use super::error::RemoteError;
use super::events::{CacheUsageEvent, EventSink};
use super::http::Http;
use super::{CachingStatus, Fetched, RemoteBackend, Stored};

/// A Turborepo-API server.
#[derive(Clone)]
pub struct TurboBackend {
  url: String,
  token: Option<String>,
  team: String,
  http: Http,
}

impl std::fmt::Debug for TurboBackend {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    f.debug_struct("TurboBackend")
      .field("url", &self.url)
      .field("token", &self.token.as_ref().map(|_| "<redacted>"))
      .field("team", &self.team)
      .finish()
  }
}

/// Percent-encodes a query value (unreserved characters stay).
fn encode(s: &str) -> String {
  s.bytes()
    .map(|b| match b {
      b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
        (b as char).to_string()
      }
      _ => format!("%{b:02X}"),
    })
    .collect()
}

impl TurboBackend {
  /// A backend for the server at `url` (`http://host:port`, no trailing `/`).
  pub fn new(url: String, token: Option<String>, team: String, http: Http) -> Self {
    TurboBackend { url, token, team, http }
  }

  fn team_query(&self) -> String {
    let param = if self.team.starts_with("team_") { "teamId" } else { "slug" };
    format!("{param}={}", encode(&self.team))
  }

  fn artifact_url(&self, id: &str) -> String {
    format!("{}/v8/artifacts/{}?{}", self.url, encode(id), self.team_query())
  }
  /// Sends a request whose answer carries nothing but its status: success, or the error for `what`.
  async fn send_expecting_success(
    &self,
    what: String,
    method: Method,
    url: &str,
    headers: &[(&'static str, String)],
    body: Bytes,
  ) -> Result<(), RemoteError> {
    let a = self
      .http
      .send(method, url, headers, body)
      .await
      .map_err(|m| self.unreachable(what.clone(), m))?;
    if a.status.is_success() {
      Ok(())
    } else {
      Err(self.status_error(what, a.status))
    }
  }

  fn headers(&self) -> Vec<(&'static str, String)> {
    let mut h = vec![("user-agent", format!("farm-build-native/{}", env!("CARGO_PKG_VERSION")))];
    if let Some(t) = &self.token {
      h.push(("authorization", format!("Bearer {t}")));
    }
    h
  }

  fn status_error(&self, what: String, status: StatusCode) -> RemoteError {
    let hint = match status.as_u16() {
      401 | 403 => " (check the token in the env var named by cache.remote.tokenEnv, default FARM_REMOTE_CACHE_TOKEN, and the team)".to_string(),
      413 => " (the server's body limit is below this artifact's size)".to_string(),
      _ => String::new(),
    };
    RemoteError::Status { location: self.url.clone(), what, status: status.as_u16(), hint }
  }

  fn unreachable(&self, what: String, message: String) -> RemoteError {
    RemoteError::Unreachable {
      location: self.url.clone(),
      what,
      message: super::tls::hint(message),
    }
  }
}

#[async_trait]
impl RemoteBackend for TurboBackend {
  fn location(&self) -> String {
    self.url.clone()
  }

  async fn get(&self, id: &str) -> Result<Option<Fetched>, RemoteError> {
    let what = format!("download of {id}");
    let a = self
      .http
      .send(Method::GET, &self.artifact_url(id), &self.headers(), Bytes::new())
      .await
      .map_err(|m| self.unreachable(what.clone(), m))?;
    match a.status {
      StatusCode::NOT_FOUND => Ok(None),
      s if s.is_success() => {
        let header = |n: &str| a.headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let tag = header("x-artifact-tag");
        let duration_ms = header("x-artifact-duration").and_then(|d| d.trim().parse().ok());
        Ok(Some(Fetched { body: a.body, tag, duration_ms }))
      }
      s => Err(self.status_error(what, s)),
    }
  }

  async fn put(
    &self,
    id: &str,
    body: Bytes,
    tag: Option<String>,
    duration_ms: u64,
  ) -> Result<(), RemoteError> {
    let what = format!("upload of {id}");
    let mut headers = self.headers();
    headers.push(("content-type", "application/octet-stream".into()));
    headers.push(("x-artifact-duration", duration_ms.to_string()));
    headers.push(("x-artifact-client-ci", std::env::var("CI").unwrap_or_default()));
    if let Some(t) = tag {
      headers.push(("x-artifact-tag", t));
    }
    self.send_expecting_success(what, Method::PUT, &self.artifact_url(id), &headers, body).await
  }

  /// `HEAD /v8/artifacts/:hash`: 2xx is present (with its `x-artifact-tag` when the server keeps
  /// tags), 404 absent.
  async fn exists(&self, id: &str) -> Result<Option<Stored>, RemoteError> {
    let what = format!("HEAD of {id}");
    let a = self
      .http
      .send(Method::HEAD, &self.artifact_url(id), &self.headers(), Bytes::new())
      .await
      .map_err(|m| self.unreachable(what.clone(), m))?;
    match a.status {
      StatusCode::NOT_FOUND => Ok(None),
      s if s.is_success() => {
        let tag = a.headers.get("x-artifact-tag").and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(Some(Stored { tag }))
      }
      s => Err(self.status_error(what, s)),
    }
  }

  /// `GET /v8/artifacts/status`: whether caching is enabled for this token and team; a status
  /// name this client does not know is `None`.
  async fn caching_status(&self) -> Result<Option<CachingStatus>, RemoteError> {
    let url = format!("{}/v8/artifacts/status?{}", self.url, self.team_query());
    let what = "status".to_string();
    let a = self
      .http
      .send(Method::GET, &url, &self.headers(), Bytes::new())
      .await
      .map_err(|m| self.unreachable(what.clone(), m))?;
    if !a.status.is_success() {
      return Err(self.status_error(what, a.status));
    }
    let v: serde_json::Value = serde_json::from_slice(&a.body)
      .map_err(|e| self.unreachable(what.clone(), format!("bad JSON: {e}")))?;
    Ok(v.get("status").and_then(|s| s.as_str()).and_then(CachingStatus::parse))
  }
}

#[async_trait]
impl EventSink for TurboBackend {
  async fn send_events(&self, batch: &[CacheUsageEvent]) -> Result<(), RemoteError> {
    let what = format!("recording {} cache usage event(s)", batch.len());
    let url = format!("{}/v8/artifacts/events?{}", self.url, self.team_query());
    let body = serde_json::to_vec(batch)
      .map_err(|e| self.unreachable(what.clone(), format!("cannot encode the events: {e}")))?;
    let mut headers = self.headers();
    headers.push(("content-type", "application/json".into()));
    headers.push(("x-artifact-client-ci", std::env::var("CI").unwrap_or_default()));
    headers.push(("x-artifact-client-interactive", "0".into()));
    self.send_expecting_success(what, Method::POST, &url, &headers, Bytes::from(body)).await
  }
}
