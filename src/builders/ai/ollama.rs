//! Async client for Ollama's HTTP API (`/api/version`, `/api/tags`, `/api/show`, streamed
//! `/api/pull`), over plain HTTP/1.1 (hyper 1 + hyper-util's legacy client; no TLS).
//!
//! - Every request has a timeout ([`ClientOptions::timeout`]); a streamed pull uses it as the
//!   time allowed for the response headers and then as an idle limit between chunks.
//! - Connection errors, timeouts and HTTP 5xx are retried with exponential backoff
//!   ([`ClientOptions::retries`], [`ClientOptions::backoff`]); 4xx never is. A pull is only
//!   retried until its stream has started (progress events are never replayed).
//! - Error bodies `{"error": "..."}` are surfaced; every error message contains the URL.
//! - An NDJSON line `{"error": "..."}` in a pull stream (sent by Ollama with HTTP 200) is an error.

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::{connect::HttpConnector, Client as HyperClient};
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Largest non-streamed response body accepted.
const MAX_BODY: usize = 64 << 20;
/// Largest single NDJSON line accepted from a pull stream.
const MAX_LINE: usize = 1 << 20;
/// Upper bound for one backoff sleep.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Errors from the Ollama client. Every message names the URL.
#[derive(Debug, thiserror::Error)]
pub enum OllamaError {
  /// An `https://` base URL.
  #[error("{url}: https:// is not supported by this Ollama client yet (plain HTTP/1.1 only); use an http:// URL (for a remote server, e.g. through an SSH tunnel or a local TLS-terminating proxy)")]
  TlsUnsupported {
    /// The configured URL.
    url: String,
  },
  /// A base URL that is not `http://host[:port][/path]`.
  #[error("invalid Ollama URL `{url}`: {reason}")]
  InvalidUrl {
    /// The configured URL.
    url: String,
    /// What is wrong.
    reason: String,
  },
  /// Connection refused / reset / DNS failure after every retry.
  #[error("cannot reach the Ollama server at {url} after {attempts} attempt(s): {cause}; start it (`ollama serve`) or set ai.providers.ollama.url")]
  Unreachable {
    /// The request URL.
    url: String,
    /// Attempts made.
    attempts: u32,
    /// The transport error chain.
    cause: String,
  },
  /// No complete answer within the timeout, after every retry.
  #[error("the Ollama server at {url} did not answer within {timeout_ms} ms ({attempts} attempt(s)); raise ai.providers.ollama.timeoutMs or check the server")]
  Timeout {
    /// The request URL.
    url: String,
    /// The timeout.
    timeout_ms: u64,
    /// Attempts made.
    attempts: u32,
  },
  /// A non-success HTTP status (5xx after every retry, or any 4xx).
  #[error("Ollama request {url} failed with HTTP {status}: {message}")]
  Http {
    /// The request URL.
    url: String,
    /// HTTP status.
    status: u16,
    /// The server's `error` field, else the body, else the status reason.
    message: String,
  },
  /// HTTP 404 for a model (`/api/show`, `/api/pull`).
  #[error("model `{model}` not found by the Ollama server ({url}): {message}")]
  ModelNotFound {
    /// The request URL.
    url: String,
    /// The model asked for.
    model: String,
    /// The server's message.
    message: String,
  },
  /// An `{"error": ...}` line inside a streamed response.
  #[error("pulling `{model}` from {url} failed: {message}")]
  Stream {
    /// The request URL.
    url: String,
    /// The model being pulled.
    model: String,
    /// The server's message.
    message: String,
  },
  /// A stream cut off or a transport error after the response started.
  #[error("Ollama response from {url} was interrupted: {reason}")]
  Interrupted {
    /// The request URL.
    url: String,
    /// What happened.
    reason: String,
  },
  /// A response that is not the documented JSON.
  #[error("unexpected response from {url}: {reason}")]
  BadResponse {
    /// The request URL.
    url: String,
    /// Parser message.
    reason: String,
  },
}

impl OllamaError {
  /// `true` for errors meaning "no usable server" (unreachable, timeout, 5xx, TLS URL):
  /// the build then follows `ai.required`.
  pub fn is_server_unavailable(&self) -> bool {
    match self {
      Self::Unreachable { .. } | Self::Timeout { .. } | Self::TlsUnsupported { .. } => true,
      Self::Http { status, .. } => *status >= 500,
      _ => false,
    }
  }
}

/// Client options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
  /// Per-request timeout (and idle limit between chunks of a pull). Default 30 s.
  pub timeout: Duration,
  /// Retries after the first attempt. Default 3.
  pub retries: u32,
  /// First backoff sleep; doubled after each retry, capped at 10 s. Default 250 ms.
  pub backoff: Duration,
}

impl Default for ClientOptions {
  fn default() -> Self {
    Self { timeout: Duration::from_secs(30), retries: 3, backoff: Duration::from_millis(250) }
  }
}

/// `details` of a model (`/api/tags`, `/api/show`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelDetails {
  /// Parent model, often empty.
  #[serde(default)]
  pub parent_model: String,
  /// `gguf`.
  #[serde(default)]
  pub format: String,
  /// Family (`llama`).
  #[serde(default)]
  pub family: String,
  /// Families.
  #[serde(default)]
  pub families: Option<Vec<String>>,
  /// Parameter size (`8.0B`).
  #[serde(default)]
  pub parameter_size: String,
  /// Quantization (`Q4_0`).
  #[serde(default)]
  pub quantization_level: String,
}

/// One entry of `/api/tags`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagModel {
  /// Display name (`llama3.2:latest`).
  pub name: String,
  /// Same as `name` in current servers.
  #[serde(default)]
  pub model: String,
  /// RFC 3339 time.
  #[serde(default)]
  pub modified_at: String,
  /// Σ layer sizes + config size.
  #[serde(default)]
  pub size: u64,
  /// sha256 hex of the manifest bytes.
  #[serde(default)]
  pub digest: String,
  /// Details.
  #[serde(default)]
  pub details: ModelDetails,
}

/// `/api/show`'s answer (only `model_info` is always present).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShowResponse {
  /// Modelfile text.
  #[serde(default)]
  pub modelfile: Option<String>,
  /// Parameters, one `name value` per line.
  #[serde(default)]
  pub parameters: Option<String>,
  /// Prompt template.
  #[serde(default)]
  pub template: Option<String>,
  /// System prompt.
  #[serde(default)]
  pub system: Option<String>,
  /// License text.
  #[serde(default)]
  pub license: Option<String>,
  /// Details.
  #[serde(default)]
  pub details: Option<ModelDetails>,
  /// GGUF metadata (`general.architecture`, ...).
  #[serde(default)]
  pub model_info: Map<String, Value>,
  /// Capabilities (`completion`, `tools`, ...).
  #[serde(default)]
  pub capabilities: Option<Vec<String>>,
  /// RFC 3339 time.
  #[serde(default)]
  pub modified_at: Option<String>,
}

/// One progress line of a streamed pull.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullProgress {
  /// `pulling manifest`, `pulling <digest>`, `verifying sha256 digest`, `writing manifest`,
  /// `removing any unused layers`, `success`.
  pub status: String,
  /// Layer digest, for download lines.
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub digest: Option<String>,
  /// Layer size, for download lines.
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub total: Option<u64>,
  /// Bytes downloaded so far, for download lines.
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub completed: Option<u64>,
}

/// The Ollama HTTP client.
#[derive(Clone)]
pub struct Client {
  base: String,
  http: HyperClient<HttpConnector, Full<Bytes>>,
  opts: ClientOptions,
}

impl std::fmt::Debug for Client {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    f.debug_struct("Client").field("base", &self.base).field("opts", &self.opts).finish()
  }
}

/// The outcome of one attempt, before retry classification.
enum Attempt {
  Transport(String),
  TimedOut,
}

impl Client {
  /// A client for the server at `base_url` (`http://host:port[/prefix]`). `https://` gives
  /// [`OllamaError::TlsUnsupported`].
  pub fn new(base_url: &str, opts: ClientOptions) -> Result<Self, OllamaError> {
    let url = base_url.trim();
    let has_scheme =
      |scheme: &str| url.get(..scheme.len()).is_some_and(|p| p.eq_ignore_ascii_case(scheme));
    if has_scheme("https://") {
      return Err(OllamaError::TlsUnsupported { url: url.to_string() });
    }
    let invalid =
      |reason: &str| OllamaError::InvalidUrl { url: url.to_string(), reason: reason.to_string() };
    let rest = match url.get(7..) {
      Some(rest) if has_scheme("http://") => rest,
      _ => return Err(invalid("expected http://host[:port]")),
    };
    let base = format!("http://{}", rest.trim_end_matches('/'));
    super::config::check_http_url(&base).map_err(invalid)?;
    if base.contains(['?', '#']) {
      return Err(invalid("a base URL cannot have a query or fragment"));
    }
    base.parse::<Uri>().map_err(|e| invalid(&e.to_string()))?;
    let mut conn = HttpConnector::new();
    conn.set_connect_timeout(Some(opts.timeout));
    conn.set_nodelay(true);
    let http = HyperClient::builder(TokioExecutor::new()).build(conn);
    Ok(Self { base, http, opts })
  }

  /// The normalized base URL (no trailing `/`).
  pub fn base_url(&self) -> &str {
    &self.base
  }

  fn url(&self, path: &str) -> String {
    format!("{}{path}", self.base)
  }

  fn timeout_ms(&self) -> u64 {
    u64::try_from(self.opts.timeout.as_millis()).unwrap_or(u64::MAX)
  }

  fn backoff(&self, attempt: u32) -> Duration {
    self.opts.backoff.saturating_mul(1u32 << attempt.min(16)).min(MAX_BACKOFF)
  }

  async fn send_once(
    &self,
    method: &Method,
    url: &str,
    body: &Option<Bytes>,
  ) -> Result<Response<Incoming>, String> {
    let mut req =
      Request::builder().method(method.clone()).uri(url).header("accept", "application/json");
    if body.is_some() {
      req = req.header("content-type", "application/json");
    }
    let req = req
      .body(Full::new(body.clone().unwrap_or_default()))
      .map_err(|e| format!("cannot build the request: {e}"))?;
    self.http.request(req).await.map_err(|e| error_chain(&e))
  }

  /// Sends with retries and returns the first response that is not retryable (or the last
  /// one). Bodies are read inside the timeout, except a successful pull's stream.
  async fn send(
    &self,
    method: Method,
    path: &str,
    body: Option<Bytes>,
  ) -> Result<(StatusCode, ResponseBody), OllamaError> {
    let url = self.url(path);
    let streaming = path == "/api/pull";
    let mut attempt = 0u32;
    loop {
      attempt += 1;
      let fut = async {
        let resp = self.send_once(&method, &url, &body).await.map_err(Attempt::Transport)?;
        let status = resp.status();
        if streaming && status.is_success() {
          return Ok((status, ResponseBody::Stream(resp.into_body())));
        }
        let bytes = Limited::new(resp.into_body(), MAX_BODY)
          .collect()
          .await
          .map_err(|e| Attempt::Transport(format!("reading the response body: {e}")))?
          .to_bytes();
        Ok((status, ResponseBody::Full(bytes)))
      };
      let outcome = match tokio::time::timeout(self.opts.timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(Attempt::TimedOut),
      };
      let last = attempt > self.opts.retries;
      match outcome {
        Ok((status, body)) if status.is_server_error() && !last => {
          drop(body);
        }
        Ok(r) => return Ok(r),
        Err(Attempt::Transport(cause)) if last => {
          return Err(OllamaError::Unreachable { url, attempts: attempt, cause })
        }
        Err(Attempt::TimedOut) if last => {
          return Err(OllamaError::Timeout {
            url,
            timeout_ms: self.timeout_ms(),
            attempts: attempt,
          })
        }
        Err(_) => {}
      }
      tokio::time::sleep(self.backoff(attempt - 1)).await;
    }
  }

  async fn json<T: for<'de> Deserialize<'de>>(
    &self,
    method: Method,
    path: &str,
    body: Option<Value>,
    model: Option<&str>,
  ) -> Result<T, OllamaError> {
    let url = self.url(path);
    let body = body.map(|v| Bytes::from(v.to_string()));
    let (status, resp) = self.send(method, path, body).await?;
    let ResponseBody::Full(bytes) = resp else {
      return Err(OllamaError::BadResponse { url, reason: "unexpected streamed response".into() });
    };
    if !status.is_success() {
      let message = error_message(status, &bytes);
      return Err(match (status, model) {
        (StatusCode::NOT_FOUND, Some(m)) => {
          OllamaError::ModelNotFound { url, model: m.to_string(), message }
        }
        _ => OllamaError::Http { url, status: status.as_u16(), message },
      });
    }
    serde_json::from_slice(&bytes)
      .map_err(|e| OllamaError::BadResponse { url, reason: e.to_string() })
  }

  /// `GET /api/version` → the server version (`0.5.1`).
  pub async fn version(&self) -> Result<String, OllamaError> {
    #[derive(Deserialize)]
    struct V {
      version: String,
    }
    let v: V = self.json(Method::GET, "/api/version", None, None).await?;
    Ok(v.version)
  }

  /// `GET /api/tags` → the models in the server's store.
  pub async fn tags(&self) -> Result<Vec<TagModel>, OllamaError> {
    #[derive(Deserialize)]
    struct T {
      #[serde(default)]
      models: Option<Vec<TagModel>>,
    }
    let t: T = self.json(Method::GET, "/api/tags", None, None).await?;
    Ok(t.models.unwrap_or_default())
  }

  /// `POST /api/show {"model"}`; 404 → [`OllamaError::ModelNotFound`].
  pub async fn show(&self, model: &str) -> Result<ShowResponse, OllamaError> {
    self
      .json(Method::POST, "/api/show", Some(serde_json::json!({ "model": model })), Some(model))
      .await
  }

  /// `POST /api/pull {"model", "stream": true}`: calls `on_progress` for every NDJSON line,
  /// in order, as it arrives. An `{"error"}` line or a stream ending without `success` is an error.
  pub async fn pull(
    &self,
    model: &str,
    on_progress: &mut (dyn FnMut(&PullProgress) + Send),
  ) -> Result<(), OllamaError> {
    let url = self.url("/api/pull");
    let body = Bytes::from(serde_json::json!({ "model": model, "stream": true }).to_string());
    let (status, resp) = self.send(Method::POST, "/api/pull", Some(body)).await?;
    let mut stream = match resp {
      ResponseBody::Stream(s) => s,
      ResponseBody::Full(bytes) => {
        let message = error_message(status, &bytes);
        return Err(match status {
          StatusCode::NOT_FOUND => {
            OllamaError::ModelNotFound { url, model: model.to_string(), message }
          }
          _ => OllamaError::Http { url, status: status.as_u16(), message },
        });
      }
    };
    let mut buf: Vec<u8> = Vec::new();
    let mut success = false;
    let mut handle_line = |line: &[u8]| -> Result<(), OllamaError> {
      let line = trim_ascii(line);
      if line.is_empty() {
        return Ok(());
      }
      let v: Value = serde_json::from_slice(line).map_err(|e| OllamaError::BadResponse {
        url: url.clone(),
        reason: format!("invalid NDJSON line in pull stream: {e}"),
      })?;
      if let Some(err) = v.get("error") {
        let message = err.as_str().map(str::to_string).unwrap_or_else(|| err.to_string());
        return Err(OllamaError::Stream { url: url.clone(), model: model.to_string(), message });
      }
      let p: PullProgress = serde_json::from_value(v).map_err(|e| OllamaError::BadResponse {
        url: url.clone(),
        reason: format!("pull progress line: {e}"),
      })?;
      if p.status == "success" {
        success = true;
      }
      on_progress(&p);
      Ok(())
    };
    loop {
      let frame = match tokio::time::timeout(self.opts.timeout, stream.frame()).await {
        Err(_) => {
          return Err(OllamaError::Interrupted {
            url,
            reason: format!(
              "no data for {} ms during the pull (ai.providers.ollama.timeoutMs)",
              self.timeout_ms()
            ),
          })
        }
        Ok(None) => break,
        Ok(Some(Err(e))) => return Err(OllamaError::Interrupted { url, reason: error_chain(&e) }),
        Ok(Some(Ok(f))) => f,
      };
      let Ok(data) = frame.into_data() else { continue };
      buf.extend_from_slice(&data);
      while let Some(i) = buf.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = buf.drain(..=i).collect();
        handle_line(&line)?;
      }
      if buf.len() > MAX_LINE {
        return Err(OllamaError::BadResponse {
          url,
          reason: format!("a pull stream line exceeds {MAX_LINE} bytes"),
        });
      }
    }
    handle_line(&buf)?;
    if !success {
      return Err(OllamaError::Interrupted {
        url,
        reason: "the pull stream ended without a `success` status".into(),
      });
    }
    Ok(())
  }
}

enum ResponseBody {
  Full(Bytes),
  Stream(Incoming),
}

fn trim_ascii(mut s: &[u8]) -> &[u8] {
  while let [first, rest @ ..] = s {
    if first.is_ascii_whitespace() {
      s = rest;
    } else {
      break;
    }
  }
  while let [rest @ .., last] = s {
    if last.is_ascii_whitespace() {
      s = rest;
    } else {
      break;
    }
  }
  s
}

/// `{"error": "..."}` → its message; else the body text (truncated); else the status reason.
fn error_message(status: StatusCode, body: &[u8]) -> String {
  if let Ok(v) = serde_json::from_slice::<Value>(body) {
    if let Some(e) = v.get("error").and_then(Value::as_str) {
      return e.to_string();
    }
  }
  let text = String::from_utf8_lossy(body);
  let text = text.trim();
  if text.is_empty() {
    status.canonical_reason().unwrap_or("no message").to_string()
  } else {
    text.chars().take(500).collect()
  }
}

/// `e: cause: cause` from an error's source chain.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
  let mut s = e.to_string();
  let mut cur = e.source();
  while let Some(c) = cur {
    let m = c.to_string();
    if !s.contains(&m) {
      s.push_str(": ");
      s.push_str(&m);
    }
    cur = c.source();
  }
  s
}

/// Parses `/api/show`'s `parameters` text (`name value` lines) into a JSON object: quoted
/// values are unquoted, numbers and booleans typed, `stop` and repeated names become arrays.
pub fn parse_parameters(text: &str) -> Map<String, Value> {
  let mut out: Map<String, Value> = Map::new();
  for line in text.lines() {
    let line = line.trim();
    let Some((k, v)) = line.split_once(char::is_whitespace) else { continue };
    let v = v.trim();
    let value = if v.starts_with('"') {
      serde_json::from_str::<String>(v)
        .map(Value::String)
        .unwrap_or_else(|_| Value::String(v.to_string()))
    } else if let Ok(n) = serde_json::from_str::<serde_json::Number>(v) {
      Value::Number(n)
    } else if v == "true" || v == "false" {
      Value::Bool(v == "true")
    } else {
      Value::String(v.to_string())
    };
    match out.get_mut(k) {
      Some(Value::Array(a)) => a.push(value),
      Some(prev) => {
        let p = prev.take();
        *prev = Value::Array(vec![p, value]);
      }
      None if k == "stop" => {
        out.insert(k.to_string(), Value::Array(vec![value]));
      }
      None => {
        out.insert(k.to_string(), value);
      }
    }
  }
  out
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn url_handling() {
    let e = Client::new("https://ollama.example.com", ClientOptions::default()).unwrap_err();
    assert!(matches!(e, OllamaError::TlsUnsupported { .. }));
    let m = e.to_string();
    assert!(m.contains("https://ollama.example.com") && m.contains("not supported"), "{m}");
    assert!(matches!(
      Client::new("ftp://x", ClientOptions::default()),
      Err(OllamaError::InvalidUrl { .. })
    ));
    assert!(matches!(
      Client::new("http://u:p@x", ClientOptions::default()),
      Err(OllamaError::InvalidUrl { .. })
    ));
    let c = Client::new("http://127.0.0.1:11434/", ClientOptions::default()).unwrap();
    assert_eq!(c.base_url(), "http://127.0.0.1:11434");
  }

  #[test]
  fn parameters_text_to_json() {
    let p = parse_parameters("stop                           \"<|user|>\"\nstop \"<|end|>\"\ntemperature 0.7\nnum_ctx 2048\nmirostat true\n");
    assert_eq!(
      Value::Object(p),
      serde_json::json!({"stop": ["<|user|>", "<|end|>"], "temperature": 0.7, "num_ctx": 2048, "mirostat": true})
    );
  }

  #[test]
  fn error_bodies() {
    assert_eq!(
      error_message(StatusCode::NOT_FOUND, br#"{"error":"model 'x' not found"}"#),
      "model 'x' not found"
    );
    assert_eq!(error_message(StatusCode::BAD_GATEWAY, b""), "Bad Gateway");
    assert_eq!(error_message(StatusCode::BAD_GATEWAY, b"upstream down"), "upstream down");
  }
}
