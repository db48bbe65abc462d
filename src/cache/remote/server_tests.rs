//! Tests of the Turborepo-API client against HTTP servers on 127.0.0.1 started here: cache usage
//! events (`/v8/artifacts/events`: shape, batching, never in the way) and `x-artifact-duration`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

use super::events::{EventKind, EventSource, BATCH, FLUSH_AFTER};
use super::settings::{BackendSpec, RemoteSettings};
use super::{remote_id, RemoteCache, Uploaded};

/// One request as the test server saw it.
#[derive(Debug, Clone)]
pub(super) struct Seen {
  pub method: String,
  pub uri: String,
  pub headers: HeaderMap,
  pub body: Bytes,
  /// When it arrived.
  pub at: Instant,
}

/// What the server answers: `None` hangs (never answers).
pub(super) type Reply = Option<(u16, Vec<(&'static str, String)>, Bytes)>;
pub(super) type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

/// A test server: its base URL and the requests it saw.
pub(super) struct TestServer {
  pub url: String,
  pub seen: Arc<Mutex<Vec<Seen>>>,
  task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
  fn drop(&mut self) {
    self.task.abort();
  }
}

impl TestServer {
  pub fn requests(&self) -> Vec<Seen> {
    self.seen.lock().unwrap().clone()
  }
}

/// Serves one connection with `handler`, recording each request.
pub(super) async fn serve_connection<I>(io: I, handler: Handler, seen: Arc<Mutex<Vec<Seen>>>)
where
  I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
  let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
    let (handler, seen) = (Arc::clone(&handler), Arc::clone(&seen));
    async move {
      let (parts, body) = req.into_parts();
      let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
      let s = Seen {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        headers: parts.headers,
        body,
        at: Instant::now(),
      };
      seen.lock().unwrap().push(s.clone());
      let Some((status, headers, body)) = handler(&s) else {
        std::future::pending::<()>().await;
        unreachable!()
      };
      let mut res = Response::builder().status(status);
      for (k, v) in headers {
        res = res.header(k, v);
      }
      Ok::<_, std::convert::Infallible>(res.body(Full::new(body)).unwrap())
    }
  });
  let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), svc).await;
}

/// An HTTP server on 127.0.0.1 (a free port) answering with `handler`.
pub(super) async fn start(handler: Handler) -> TestServer {
  let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
  let url = format!("http://{}", listener.local_addr().unwrap());
  let seen = Arc::new(Mutex::new(Vec::new()));
  let s2 = Arc::clone(&seen);
  let task = tokio::spawn(async move {
    while let Ok((stream, _)) = listener.accept().await {
      tokio::spawn(serve_connection(stream, Arc::clone(&handler), Arc::clone(&s2)));
    }
  });
  TestServer { url, seen, task }
}

pub(super) fn turbo_settings(url: &str, team: &str, timeout: Duration) -> RemoteSettings {
  RemoteSettings {
    backend: BackendSpec::Turbo { url: url.to_string(), token: Some("tok-123".into()) },
    team: team.to_string(),
    read: true,
    write: true,
    timeout,
    signer: None,
    events: true,
    ca_file: None,
  }
}

fn ok_json() -> Reply {
  Some((
    200,
    vec![("content-type", "application/json")]
      .into_iter()
      .map(|(k, v)| (k, v.to_string()))
      .collect(),
    Bytes::from_static(b"{}"),
  ))
}

fn events_of(seen: &[Seen]) -> Vec<(Seen, Vec<serde_json::Value>)> {
  seen
    .iter()
    .filter(|s| s.uri.starts_with("/v8/artifacts/events"))
    .map(|s| (s.clone(), serde_json::from_slice::<Vec<serde_json::Value>>(&s.body).unwrap()))
    .collect()
}

#[tokio::test]
async fn events_go_in_batches_of_ten_shaped_as_turbo_sends_them() {
  let srv = start(Arc::new(|_| ok_json())).await;
  let cache =
    RemoteCache::open(&turbo_settings(&srv.url, "team_abc", Duration::from_secs(5))).unwrap();
  assert!(!cache.events_active());
  let key = |i: usize| format!("{i:032x}");
  let t0 = Instant::now();
  for i in 0..12 {
    let (src, ev) = if i % 2 == 0 {
      (EventSource::Local, EventKind::Miss)
    } else {
      (EventSource::Remote, EventKind::Hit)
    };
    cache.record_event(src, ev, &key(i), i as u64 * 10);
  }
  assert!(cache.events_active());
  // The first ten go at once; the last two after FLUSH_AFTER without another event.
  let deadline = Instant::now() + Duration::from_secs(5);
  while events_of(&srv.requests()).len() < 2 && Instant::now() < deadline {
    tokio::time::sleep(Duration::from_millis(10)).await;
  }
  let got = events_of(&srv.requests());
  assert_eq!(got.len(), 2, "{got:?}");
  let (first, second) = (&got[0], &got[1]);
  assert_eq!(first.1.len(), BATCH);
  assert_eq!(second.1.len(), 2);
  assert!(first.0.at - t0 < FLUSH_AFTER, "a full batch waits for nothing");
  assert!(second.0.at - t0 >= FLUSH_AFTER, "a partial batch waits {FLUSH_AFTER:?}");
  for (req, _) in &got {
    assert_eq!(req.method, "POST");
    assert_eq!(req.uri, "/v8/artifacts/events?teamId=team_abc");
    assert_eq!(req.headers["authorization"], "Bearer tok-123");
    assert_eq!(req.headers["content-type"], "application/json");
  }
  let all: Vec<&serde_json::Value> = got.iter().flat_map(|(_, v)| v.iter()).collect();
  let session = all[0]["sessionId"].as_str().unwrap().to_string();
  assert!(session.len() == 36 && session.as_bytes()[14] == b'4', "a version-4 UUID: {session}");
  for (i, e) in all.iter().enumerate() {
    let obj = e.as_object().unwrap();
    let mut fields: Vec<&str> = obj.keys().map(String::as_str).collect();
    fields.sort();
    assert_eq!(fields, ["duration", "event", "hash", "sessionId", "source"]);
    assert_eq!(e["sessionId"], session.as_str());
    assert_eq!(e["hash"], remote_id(&key(i)).as_str());
    assert_eq!(e["duration"], i as u64 * 10);
    let (src, ev) = if i % 2 == 0 { ("LOCAL", "MISS") } else { ("REMOTE", "HIT") };
    assert_eq!((e["source"].as_str().unwrap(), e["event"].as_str().unwrap()), (src, ev));
  }
  let stats =
    cache.close_events(tokio::time::Instant::now() + Duration::from_secs(5)).await.unwrap();
  assert_eq!((stats.sent, stats.dropped, stats.first_error), (12, 0, None));
  // After closing, events are dropped (no request, no worker).
  cache.record_event(EventSource::Local, EventKind::Hit, &key(99), 0);
  tokio::time::sleep(FLUSH_AFTER * 2).await;
  assert_eq!(events_of(&srv.requests()).len(), 2);
  // Another recorder (another build) has another session id.
  let other = RemoteCache::open(&turbo_settings(&srv.url, "web", Duration::from_secs(5))).unwrap();
  other.record_event(EventSource::Remote, EventKind::Miss, &key(1), 0);
  let stats =
    other.close_events(tokio::time::Instant::now() + Duration::from_secs(5)).await.unwrap();
  assert_eq!(stats.sent, 1);
  let got = events_of(&srv.requests());
  assert_eq!(got[2].0.uri, "/v8/artifacts/events?slug=web");
  assert_ne!(got[2].1[0]["sessionId"], session.as_str());
}

#[tokio::test]
async fn failing_hanging_or_absent_servers_drop_events_within_the_bound() {
  // 500: dropped, with the reason.
  let srv = start(Arc::new(|_| Some((500, vec![], Bytes::from_static(b"no"))))).await;
  let cache = RemoteCache::open(&turbo_settings(&srv.url, "t", Duration::from_secs(5))).unwrap();
  cache.record_event(EventSource::Remote, EventKind::Miss, &"a".repeat(32), 0);
  let stats =
    cache.close_events(tokio::time::Instant::now() + Duration::from_secs(5)).await.unwrap();
  assert_eq!((stats.sent, stats.dropped), (0, 1));
  assert!(stats.first_error.as_deref().unwrap().contains("HTTP 500"), "{stats:?}");
  // A server that never answers: the request's time limit, then dropped.
  let srv = start(Arc::new(|_| None)).await;
  let cache =
    RemoteCache::open(&turbo_settings(&srv.url, "t", Duration::from_millis(300))).unwrap();
  for i in 0..3 {
    cache.record_event(EventSource::Local, EventKind::Miss, &format!("{i:032x}"), 0);
  }
  let t = Instant::now();
  let stats =
    cache.close_events(tokio::time::Instant::now() + Duration::from_secs(10)).await.unwrap();
  assert!(t.elapsed() < Duration::from_secs(3), "held for {:?}", t.elapsed());
  assert_eq!((stats.sent, stats.dropped), (0, 3));
  assert!(stats.first_error.as_deref().unwrap().contains("timed out"), "{stats:?}");
  // ... and closing at an earlier deadline returns at that deadline.
  let cache = RemoteCache::open(&turbo_settings(&srv.url, "t", Duration::from_secs(30))).unwrap();
  cache.record_event(EventSource::Local, EventKind::Miss, &"b".repeat(32), 0);
  let t = Instant::now();
  let stats =
    cache.close_events(tokio::time::Instant::now() + Duration::from_millis(400)).await.unwrap();
  assert!(t.elapsed() < Duration::from_secs(2), "held for {:?}", t.elapsed());
  assert_eq!((stats.sent, stats.dropped), (0, 1));
  // Nobody listening.
  let port = {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
  };
  let cache = RemoteCache::open(&turbo_settings(
    &format!("http://127.0.0.1:{port}"),
    "t",
    Duration::from_secs(2),
  ))
  .unwrap();
  cache.record_event(EventSource::Local, EventKind::Miss, &"c".repeat(32), 0);
  let stats =
    cache.close_events(tokio::time::Instant::now() + Duration::from_secs(5)).await.unwrap();
  assert_eq!((stats.sent, stats.dropped), (0, 1));
}

#[tokio::test]
async fn no_events_when_turned_off_or_for_buckets() {
  let srv = start(Arc::new(|_| ok_json())).await;
  let mut s = turbo_settings(&srv.url, "t", Duration::from_secs(2));
  s.events = false;
  let cache = RemoteCache::open(&s).unwrap();
  cache.record_event(EventSource::Local, EventKind::Miss, &"d".repeat(32), 0);
  assert!(!cache.events_active());
  assert!(cache.close_events(tokio::time::Instant::now() + Duration::from_secs(1)).await.is_none());
  let s3 = RemoteSettings {
    backend: BackendSpec::S3 {
      bucket: "b-cache".into(),
      endpoint: Some(srv.url.clone()),
      region: Some("us-east-1".into()),
      prefix: "p".into(),
    },
    ..turbo_settings(&srv.url, "t", Duration::from_secs(2))
  };
  let cache = RemoteCache::open(&s3).unwrap();
  cache.record_event(EventSource::Local, EventKind::Miss, &"e".repeat(32), 0);
  assert!(cache.close_events(tokio::time::Instant::now() + Duration::from_secs(1)).await.is_none());
  tokio::time::sleep(FLUSH_AFTER * 2).await;
  assert!(srv.requests().is_empty(), "{:?}", srv.requests());
  // The env var turns them off.
  let env = |n: &str| match n {
    "FARM_REMOTE_CACHE_URL" => Some(srv.url.clone()),
    "FARM_REMOTE_CACHE_EVENTS" => Some("0".to_string()),
    _ => None,
  };
  assert!(!RemoteSettings::resolve(None, &env).unwrap().unwrap().events);
  let env = |n: &str| (n == "FARM_REMOTE_CACHE_URL").then(|| srv.url.clone());
  assert!(RemoteSettings::resolve(None, &env).unwrap().unwrap().events);
}

#[tokio::test]
async fn a_download_carries_the_servers_x_artifact_duration() {
  let srv = start(Arc::new(|s: &Seen| {
    if s.uri.contains("with-duration") || s.uri.contains(&"1".repeat(32)) {
      Some((200, vec![("x-artifact-duration", "1234".to_string())], Bytes::from_static(b"art")))
    } else {
      Some((200, vec![], Bytes::from_static(b"art")))
    }
  }))
  .await;
  let cache = RemoteCache::open(&turbo_settings(&srv.url, "t", Duration::from_secs(2))).unwrap();
  let d = cache.fetch(&"1".repeat(32)).await.unwrap().unwrap();
  assert_eq!((d.body.as_ref(), d.duration_ms), (&b"art"[..], Some(1234)));
  let d = cache.fetch(&"2".repeat(32)).await.unwrap().unwrap();
  assert_eq!(d.duration_ms, None);
}

// ---- https: a TLS server on 127.0.0.1 with a CA made here ----

/// A CA (PEM) and a server certificate it signed for 127.0.0.1 / localhost.
struct Pki {
  ca_pem: String,
  server: Arc<rustls::ServerConfig>,
}

fn make_pki(name: &str) -> Pki {
  use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
  };
  let ca_key = KeyPair::generate().unwrap();
  let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
  ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
  ca.distinguished_name.push(DnType::CommonName, format!("farm test CA {name}"));
  ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
  let ca_cert = ca.self_signed(&ca_key).unwrap();
  let issuer = Issuer::new(ca, ca_key);
  let key = KeyPair::generate().unwrap();
  let leaf =
    CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
  let cert = leaf.signed_by(&key, &issuer).unwrap();
  let provider = Arc::new(rustls::crypto::ring::default_provider());
  let server = rustls::ServerConfig::builder_with_provider(provider)
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
      vec![cert.der().clone()],
      rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
  Pki { ca_pem: ca_cert.pem(), server: Arc::new(server) }
}

/// An https server on 127.0.0.1 with `pki`'s certificate; TLS failures are counted in `seen`
/// as nothing (the handshake never reaches HTTP).
async fn start_tls(handler: Handler, pki: &Pki) -> TestServer {
  let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
  let url = format!("https://{}", listener.local_addr().unwrap());
  let seen = Arc::new(Mutex::new(Vec::new()));
  let s2 = Arc::clone(&seen);
  let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&pki.server));
  let task = tokio::spawn(async move {
    while let Ok((stream, _)) = listener.accept().await {
      let (acceptor, handler, seen) = (acceptor.clone(), Arc::clone(&handler), Arc::clone(&s2));
      tokio::spawn(async move {
        if let Ok(tls) = acceptor.accept(stream).await {
          serve_connection(tls, handler, seen).await;
        }
      });
    }
  });
  TestServer { url, seen, task }
}

/// A minimal Turborepo API: PUT stores, GET serves (404 when absent), HEAD says whether it has
/// it, the status is `enabled`, events accepted.
fn turbo_api() -> Handler {
  let store: Arc<Mutex<std::collections::HashMap<String, Bytes>>> = Arc::default();
  Arc::new(move |s: &Seen| {
    let path = s.uri.split('?').next().unwrap().to_string();
    let mut st = store.lock().unwrap();
    match s.method.as_str() {
      "PUT" => {
        st.insert(path, s.body.clone());
        ok_json()
      }
      "GET" if path == "/v8/artifacts/status" => {
        Some((200, vec![], Bytes::from_static(br#"{"status":"enabled"}"#)))
      }
      "GET" => match st.get(&path) {
        Some(b) => Some((200, vec![], b.clone())),
        None => Some((404, vec![], Bytes::new())),
      },
      "HEAD" => Some((if st.contains_key(&path) { 200 } else { 404 }, vec![], Bytes::new())),
      "POST" => ok_json(),
      _ => Some((405, vec![], Bytes::new())),
    }
  })
}

fn write_temp(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
  let p = dir.join(name);
  std::fs::write(&p, text).unwrap();
  p
}

#[tokio::test]
async fn https_turbo_api_trusts_the_ca_of_farm_remote_cache_ca_and_only_it() {
  let tmp = crate::hash::tests::TempDir::new("tls-turbo");
  let pki = make_pki("a");
  let srv = start_tls(turbo_api(), &pki).await;
  let ca = write_temp(tmp.path(), "ca.pem", &pki.ca_pem);
  let mut s = turbo_settings(&srv.url, "team_tls", Duration::from_secs(5));
  s.ca_file = Some(ca.clone());
  let cache = RemoteCache::open(&s).unwrap();
  let key = "ab".repeat(16);
  assert!(cache.fetch(&key).await.unwrap().is_none(), "a miss over https");
  assert_eq!(
    cache.upload(&key, Bytes::from_static(b"artifact over tls"), 5).await.unwrap(),
    Uploaded::Sent(17)
  );
  let got = cache.fetch(&key).await.unwrap().unwrap();
  assert_eq!(got.body.as_ref(), b"artifact over tls");
  cache.record_event(EventSource::Remote, EventKind::Hit, &key, 5);
  let stats =
    cache.close_events(tokio::time::Instant::now() + Duration::from_secs(5)).await.unwrap();
  assert_eq!(stats.sent, 1, "{stats:?}");
  let seen = srv.requests();
  assert_eq!(
    seen.iter().map(|r| r.method.as_str()).collect::<Vec<_>>(),
    ["GET", "GET", "HEAD", "PUT", "GET", "POST"]
  );
  assert_eq!(seen[3].headers["authorization"], "Bearer tok-123", "the token went over TLS");

  // The system's roots alone do not know the test CA: refused, with the way out in the message.
  let mut plain = turbo_settings(&srv.url, "team_tls", Duration::from_secs(5));
  plain.ca_file = None;
  let e = RemoteCache::open(&plain).unwrap().fetch(&key).await.unwrap_err().to_string();
  assert!(e.contains("certificate") && e.contains("FARM_REMOTE_CACHE_CA"), "{e}");
  // Another CA: refused too.
  let other = write_temp(tmp.path(), "other.pem", &make_pki("b").ca_pem);
  let mut wrong = turbo_settings(&srv.url, "team_tls", Duration::from_secs(5));
  wrong.ca_file = Some(other);
  let e = RemoteCache::open(&wrong).unwrap().fetch(&key).await.unwrap_err().to_string();
  assert!(e.contains("certificate"), "{e}");
  let n = srv.requests().len();
  assert_eq!(n, 6, "no request got through an untrusted handshake");
  // A CA file that is missing, or holds no certificate: the remote cache is off, named why.
  for (name, text) in [("none.pem", None), ("junk.pem", Some("not a certificate\n"))] {
    let path = match text {
      Some(t) => write_temp(tmp.path(), name, t),
      None => tmp.path().join(name),
    };
    let mut bad = turbo_settings(&srv.url, "t", Duration::from_secs(5));
    bad.ca_file = Some(path);
    let e = RemoteCache::open(&bad).unwrap_err().to_string();
    assert!(e.contains("FARM_REMOTE_CACHE_CA") && e.contains(name), "{e}");
  }
  // Plain-http stores never build TLS settings, so a bad CA file does not matter there.
  let http = start(turbo_api()).await;
  let mut p = turbo_settings(&http.url, "t", Duration::from_secs(5));
  p.ca_file = Some(tmp.path().join("none.pem"));
  assert!(RemoteCache::open(&p).unwrap().fetch(&key).await.unwrap().is_none());
  // The env var reaches the settings.
  let (url, ca_s) = (srv.url.clone(), ca.display().to_string());
  let env = move |n: &str| match n {
    "FARM_REMOTE_CACHE_URL" => Some(url.clone()),
    "FARM_REMOTE_CACHE_CA" => Some(ca_s.clone()),
    _ => None,
  };
  assert_eq!(RemoteSettings::resolve(None, &env).unwrap().unwrap().ca_file, Some(ca));
}

/// A minimal S3 (path-style): PUT stores the object and its `x-amz-meta-*`, GET serves them.
fn s3_api() -> Handler {
  type Obj = (Bytes, Option<String>);
  let store: Arc<Mutex<std::collections::HashMap<String, Obj>>> = Arc::default();
  Arc::new(move |s: &Seen| {
    let path = s.uri.split('?').next().unwrap().to_string();
    let mut st = store.lock().unwrap();
    let etag = |b: &Bytes| format!("\"{:x}\"", xxhash_rust::xxh3::xxh3_64(b));
    match s.method.as_str() {
      "PUT" => {
        let tag = s.headers.get("x-amz-meta-artifact-tag").map(|v| v.to_str().unwrap().to_string());
        let e = etag(&s.body);
        st.insert(path, (s.body.clone(), tag));
        Some((200, vec![("etag", e)], Bytes::new()))
      }
      "GET" => match st.get(&path) {
        Some((b, tag)) => {
          let mut h = vec![
            ("etag", etag(b)),
            ("last-modified", "Tue, 01 Dec 2026 00:00:00 GMT".to_string()),
            ("content-type", "application/octet-stream".to_string()),
          ];
          if let Some(t) = tag {
            h.push(("x-amz-meta-artifact-tag", t.clone()));
          }
          Some((200, h, b.clone()))
        }
        None => Some((
          404,
          vec![("content-type", "application/xml".to_string())],
          Bytes::from_static(
            b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>no</Message></Error>",
          ),
        )),
      },
      _ => Some((405, vec![], Bytes::new())),
    }
  })
}

#[tokio::test]
async fn https_s3_endpoint_goes_through_object_store_with_the_same_tls_settings() {
  use super::RemoteBackend as _;
  use object_store::aws::AmazonS3Builder;
  let tmp = crate::hash::tests::TempDir::new("tls-s3");
  let pki = make_pki("s3");
  let srv = start_tls(s3_api(), &pki).await;
  let ca = write_temp(tmp.path(), "ca.pem", &pki.ca_pem);
  let spec = BackendSpec::S3 {
    bucket: "tls-bucket".into(),
    endpoint: Some(srv.url.clone()),
    region: Some("us-east-1".into()),
    prefix: "farm".into(),
  };
  assert!(super::tls::needs_tls(&spec));
  let backend = |ca: Option<&std::path::Path>| {
    let tls = super::tls::for_backend(&spec, ca).unwrap();
    super::s3::open_with(
      AmazonS3Builder::new().with_access_key_id("k").with_secret_access_key("s"),
      "tls-bucket",
      Some(&srv.url),
      Some("us-east-1"),
      "farm",
      Duration::from_secs(5),
      spec.location(),
      tls,
    )
    .unwrap()
  };
  let b = backend(Some(&ca));
  assert!(b.get("farm1-x").await.unwrap().is_none());
  b.put("farm1-x", Bytes::from_static(b"s3 over tls"), Some("dGFn".into()), 1).await.unwrap();
  let f = b.get("farm1-x").await.unwrap().unwrap();
  assert_eq!((f.body.as_ref(), f.tag.as_deref()), (&b"s3 over tls"[..], Some("dGFn")));
  let seen = srv.requests();
  assert_eq!(seen[1].method, "PUT");
  assert_eq!(seen[1].uri, "/tls-bucket/farm/farm1-x", "path-style, under the prefix");
  assert!(seen[1].headers["authorization"].to_str().unwrap().starts_with("AWS4-HMAC-SHA256 "));
  // Without the CA: a warning-worthy error naming the fix, and nothing reached the server.
  let n = srv.requests().len();
  let e = backend(None).get("farm1-x").await.unwrap_err().to_string();
  assert!(e.contains("certificate") && e.contains("FARM_REMOTE_CACHE_CA"), "{e}");
  assert_eq!(srv.requests().len(), n);
}
