//! Tests of what a build asks before uploading, against HTTP servers on 127.0.0.1 started here:
//! the server's caching status (`/v8/artifacts/status`, asked once per build in the background;
//! `paused`/`disabled`/`over_limit` turn uploads off, a failure changes nothing) and `HEAD`
//! (an artifact the server has is not sent again).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::server_tests::{start, turbo_settings, Reply, Seen};
use super::{remote_id, CachingStatus, RemoteCache, Signer, Uploaded};

const STATUS: &str = "/v8/artifacts/status";

fn path_of(s: &Seen) -> &str {
  s.uri.split('?').next().unwrap()
}

/// Artifacts by path, with the tag they were sent with.
type Artifacts = Arc<Mutex<HashMap<String, (Bytes, Option<String>)>>>;

/// A Turborepo API whose status endpoint answers `status` (`None`: it never answers); artifacts
/// are kept in memory (PUT), served (GET) and described (HEAD, with the tag they were sent with).
fn server_with_status(status: Option<Reply>) -> super::server_tests::Handler {
  let store: Artifacts = Arc::default();
  Arc::new(move |s: &Seen| {
    let path = path_of(s).to_string();
    if path == STATUS {
      return status.clone().flatten();
    }
    let mut st = store.lock().unwrap();
    match s.method.as_str() {
      "PUT" => {
        let tag = s.headers.get("x-artifact-tag").map(|v| v.to_str().unwrap().to_string());
        st.insert(path, (s.body.clone(), tag));
        Some((200, vec![], Bytes::from_static(b"{}")))
      }
      "HEAD" | "GET" => match st.get(&path) {
        Some((b, tag)) => {
          let h = tag.iter().map(|t| ("x-artifact-tag", t.clone())).collect();
          let body = if s.method == "GET" { b.clone() } else { Bytes::new() };
          Some((200, h, body))
        }
        None => Some((404, vec![], Bytes::new())),
      },
      _ => Some((405, vec![], Bytes::new())),
    }
  })
}

fn status_json(s: &str) -> Option<Reply> {
  Some(Some((200, vec![], Bytes::from(format!(r#"{{"status":"{s}"}}"#)))))
}

fn count(seen: &[Seen], method: &str, path_prefix: &str) -> usize {
  seen.iter().filter(|s| s.method == method && path_of(s).starts_with(path_prefix)).count()
}

fn key(i: u32) -> String {
  format!("{i:032x}")
}

#[tokio::test]
async fn a_paused_disabled_or_over_limit_server_gets_no_upload_and_is_asked_once() {
  for (name, want) in [
    ("paused", CachingStatus::Paused),
    ("disabled", CachingStatus::Disabled),
    ("over_limit", CachingStatus::OverLimit),
  ] {
    let srv = start(server_with_status(status_json(name))).await;
    let cache =
      RemoteCache::open(&turbo_settings(&srv.url, "team_x", Duration::from_secs(5))).unwrap();
    assert_eq!(cache.uploads_refused(), None, "nothing asked yet");
    cache.check_status_soon();
    cache.check_status_soon();
    let keys: Vec<String> = (0..3).map(key).collect();
    let ups = futures_util::future::join_all(
      keys.iter().map(|k| cache.upload(k, Bytes::from_static(b"artifact"), 1)),
    )
    .await;
    for u in ups {
      assert_eq!(u.unwrap(), Uploaded::Refused(want), "{name}");
    }
    assert_eq!(cache.uploads_refused(), Some(want));
    let seen = srv.requests();
    assert_eq!(count(&seen, "GET", STATUS), 1, "{name}: asked once per build: {seen:?}");
    let status_req = seen.iter().find(|s| path_of(s) == STATUS).unwrap();
    assert_eq!(status_req.uri, "/v8/artifacts/status?teamId=team_x");
    assert_eq!(status_req.headers["authorization"], "Bearer tok-123");
    assert_eq!(seen.len(), 1, "{name}: no HEAD, no PUT: {seen:?}");
  }
}

#[tokio::test]
async fn an_enabled_failing_hanging_or_unknown_status_keeps_uploading() {
  let cases: Vec<(&str, Option<Reply>)> = vec![
    ("enabled", status_json("enabled")),
    ("unknown status", status_json("something-new")),
    ("HTTP 500", Some(Some((500, vec![], Bytes::from_static(b"boom"))))),
    ("HTTP 404", Some(Some((404, vec![], Bytes::new())))),
    ("not JSON", Some(Some((200, vec![], Bytes::from_static(b"\x01\x01\x01"))))),
    ("hangs", None),
  ];
  for (name, status) in cases {
    let srv = start(server_with_status(status)).await;
    let cache =
      RemoteCache::open(&turbo_settings(&srv.url, "web", Duration::from_millis(400))).unwrap();
    let t = Instant::now();
    cache.check_status_soon();
    assert!(t.elapsed() < Duration::from_millis(100), "{name}: the check is in the background");
    let t = Instant::now();
    let up = cache.upload(&key(1), Bytes::from_static(b"artifact"), 1).await;
    assert_eq!(up.unwrap(), Uploaded::Sent(8), "{name}");
    assert!(t.elapsed() < Duration::from_secs(3), "{name}: held for {:?}", t.elapsed());
    assert_eq!(cache.uploads_refused(), None, "{name}");
    let seen = srv.requests();
    assert_eq!(count(&seen, "GET", STATUS), 1, "{name}: {seen:?}");
    assert_eq!(count(&seen, "PUT", "/v8/artifacts/farm1-"), 1, "{name}: {seen:?}");
    assert_eq!(seen.last().unwrap().uri, format!("/v8/artifacts/{}?slug=web", remote_id(&key(1))));
  }
  // A read-only build never asks.
  let srv = start(server_with_status(status_json("enabled"))).await;
  let mut s = turbo_settings(&srv.url, "web", Duration::from_secs(2));
  s.write = false;
  let cache = RemoteCache::open(&s).unwrap();
  cache.check_status_soon();
  tokio::time::sleep(Duration::from_millis(200)).await;
  assert!(srv.requests().is_empty(), "{:?}", srv.requests());
}

#[tokio::test]
async fn head_finds_what_the_server_has_and_nothing_is_sent_twice() {
  let srv = start(server_with_status(status_json("enabled"))).await;
  let open = || RemoteCache::open(&turbo_settings(&srv.url, "team_h", Duration::from_secs(5)));
  let first = open().unwrap();
  assert_eq!(
    first.upload(&key(7), Bytes::from_static(b"abc"), 1).await.unwrap(),
    Uploaded::Sent(3)
  );
  // Another build (another client) with the same key: HEAD says it is there, no PUT.
  let second = open().unwrap();
  let n = srv.requests().len();
  assert_eq!(
    second.upload(&key(7), Bytes::from_static(b"abc"), 1).await.unwrap(),
    Uploaded::AlreadyStored
  );
  let later: Vec<Seen> = srv.requests()[n..].to_vec();
  let methods: Vec<(&str, &str)> = later.iter().map(|s| (s.method.as_str(), path_of(s))).collect();
  let art = format!("/v8/artifacts/{}", remote_id(&key(7)));
  assert_eq!(methods, [("GET", STATUS), ("HEAD", art.as_str())]);
  assert_eq!(later[1].uri, format!("{art}?teamId=team_h"));
  assert_eq!(later[1].headers["authorization"], "Bearer tok-123");
  // A refused download (bad signature): the upload replaces it, without asking.
  second.replace_on_upload(&key(7));
  let n = srv.requests().len();
  assert_eq!(
    second.upload(&key(7), Bytes::from_static(b"abcd"), 1).await.unwrap(),
    Uploaded::Sent(4)
  );
  let methods: Vec<String> = srv.requests()[n..].iter().map(|s| s.method.clone()).collect();
  assert_eq!(methods, ["PUT"]);
  // With a signature key, an artifact stored without a tag does not count: it is re-sent signed,
  // and then it does.
  let mut signed = turbo_settings(&srv.url, "team_h", Duration::from_secs(5));
  signed.signer = Some(Signer::new("sig-key", "team_h"));
  let s = RemoteCache::open(&signed).unwrap();
  assert_eq!(s.upload(&key(7), Bytes::from_static(b"abcd"), 1).await.unwrap(), Uploaded::Sent(4));
  let s2 = RemoteCache::open(&signed).unwrap();
  assert_eq!(
    s2.upload(&key(7), Bytes::from_static(b"abcd"), 1).await.unwrap(),
    Uploaded::AlreadyStored
  );
  assert!(s2.fetch(&key(7)).await.unwrap().is_some(), "the stored artifact is validly signed");
}

#[tokio::test]
async fn a_head_that_fails_is_no_answer_but_one_that_hangs_ends_the_upload() {
  // HEAD not allowed (405): the artifact is sent.
  let srv = start(Arc::new(|s: &Seen| match s.method.as_str() {
    "HEAD" => Some((405, vec![], Bytes::new())),
    _ => Some((200, vec![], Bytes::from_static(br#"{"status":"enabled"}"#))),
  }))
  .await;
  let cache = RemoteCache::open(&turbo_settings(&srv.url, "t", Duration::from_secs(2))).unwrap();
  assert_eq!(cache.upload(&key(2), Bytes::from_static(b"xy"), 1).await.unwrap(), Uploaded::Sent(2));
  assert_eq!(count(&srv.requests(), "PUT", "/v8/artifacts/farm1-"), 1);
  // HEAD never answers: the upload ends with the time limit, nothing is PUT.
  let srv = start(Arc::new(|s: &Seen| match s.method.as_str() {
    "HEAD" => None,
    _ => Some((200, vec![], Bytes::from_static(br#"{"status":"enabled"}"#))),
  }))
  .await;
  let cache =
    RemoteCache::open(&turbo_settings(&srv.url, "t", Duration::from_millis(300))).unwrap();
  let t = Instant::now();
  let e = cache.upload(&key(3), Bytes::from_static(b"xy"), 1).await.unwrap_err().to_string();
  assert!(t.elapsed() < Duration::from_secs(2), "held for {:?}", t.elapsed());
  assert!(e.contains("timed out after 300 ms") && e.contains("HEAD"), "{e}");
  assert_eq!(count(&srv.requests(), "PUT", "/"), 0);
}
