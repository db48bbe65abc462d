//! The HTTP/1.1 client the remote backends share (hyper 1 + hyper-util's pooled client, as the
//! Ollama client, with rustls for `https://`, see [`super::tls`]), and its adapter to
//! `object_store`'s `HttpService`, so S3 requests go through it too (no second HTTP stack).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::{connect::HttpConnector, Client as HyperClient};
use hyper_util::rt::TokioExecutor;
use object_store::client::{
  ClientOptions, HttpClient as OsHttpClient, HttpConnector as OsHttpConnector, HttpError,
  HttpErrorKind, HttpRequest, HttpRequestBody, HttpResponse, HttpResponseBody, HttpService,
};

/// A complete response: status, headers, whole body.
#[derive(Debug)]
pub struct Answer {
  /// The HTTP status.
  pub status: StatusCode,
  /// The response headers.
  pub headers: HeaderMap,
  /// The body, read to its end (a body shorter than its `Content-Length` is an error).
  pub body: Bytes,
}

/// The TLS settings for plain-HTTP stores: no trusted root, so an `https://` request (which the
/// settings never make without [`super::tls::client_config`]) fails rather than trusting anyone.
fn no_tls() -> rustls::ClientConfig {
  rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
    .with_safe_default_protocol_versions()
    .map(|b| b.with_root_certificates(rustls::RootCertStore::empty()).with_no_client_auth())
    .unwrap_or_else(|_| {
      rustls::ClientConfig::builder()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
    })
}

/// The connector of every remote client: TCP with a connect timeout, TLS for `https://` URLs.
fn connector(
  connect_timeout: Duration,
  tls: Option<Arc<rustls::ClientConfig>>,
) -> HttpsConnector<HttpConnector> {
  let mut conn = HttpConnector::new();
  conn.set_connect_timeout(Some(connect_timeout));
  conn.set_nodelay(true);
  conn.enforce_http(false);
  let cfg = tls.map(|c| (*c).clone()).unwrap_or_else(no_tls);
  HttpsConnectorBuilder::new()
    .with_tls_config(cfg)
    .https_or_http()
    .enable_http1()
    .wrap_connector(conn)
}

/// A pooled HTTP/1.1 client with a connect timeout.
#[derive(Clone, Debug)]
pub struct Http {
  client: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Http {
  /// A client whose connections time out after `connect_timeout`; `tls` (from
  /// [`super::tls::client_config`]) is needed for `https://` URLs.
  pub fn new(connect_timeout: Duration, tls: Option<Arc<rustls::ClientConfig>>) -> Self {
    Http {
      client: HyperClient::builder(TokioExecutor::new()).build(connector(connect_timeout, tls)),
    }
  }

  /// Sends one request and reads the whole answer. `Err` is a transport problem (message only).
  pub async fn send(
    &self,
    method: Method,
    url: &str,
    headers: &[(&str, String)],
    body: Bytes,
  ) -> Result<Answer, String> {
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
      req = req.header(*k, v.as_str());
    }
    let req = req.body(Full::new(body)).map_err(|e| format!("cannot build the request: {e}"))?;
    let res = self.client.request(req).await.map_err(|e| error_chain(&e))?;
    let (parts, body) = res.into_parts();
    let body = body.collect().await.map_err(|e| error_chain(&e))?.to_bytes();
    Ok(Answer { status: parts.status, headers: parts.headers, body })
  }
}

/// An error and its sources, `a: b: c`.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
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

/// `object_store`'s HTTP service over [`Http`]'s hyper client.
#[derive(Debug, Clone)]
pub struct HyperService {
  client: HyperClient<HttpsConnector<HttpConnector>, HttpRequestBody>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Message(String);

#[async_trait]
impl HttpService for HyperService {
  async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
    let res = self.client.request(req).await.map_err(|e| {
      let kind = if e.is_connect() { HttpErrorKind::Connect } else { HttpErrorKind::Request };
      HttpError::new(kind, Message(error_chain(&e)))
    })?;
    let (parts, body) = res.into_parts();
    let body = HttpResponseBody::new(
      body.map_err(|e| HttpError::new(HttpErrorKind::Decode, Message(error_chain(&e)))),
    );
    Ok(HttpResponse::from_parts(parts, body))
  }
}

/// Makes [`HyperService`] clients for `object_store`.
#[derive(Debug, Clone)]
pub struct HyperConnector {
  /// Connect timeout.
  pub connect_timeout: Duration,
  /// TLS settings, for `https://` endpoints (and AWS).
  pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl OsHttpConnector for HyperConnector {
  fn connect(&self, _options: &ClientOptions) -> object_store::Result<OsHttpClient> {
    let conn = connector(self.connect_timeout, self.tls.clone());
    let client = HyperClient::builder(TokioExecutor::new()).build(conn);
    Ok(OsHttpClient::new(HyperService { client }))
  }
}
