//! FAKE Ollama server for tests — follows the documented API; not Ollama.
//!
//! A hand-written HTTP/1.1 server on 127.0.0.1 (random port) that answers like Ollama 0.5.1
//! from a model store on disk (the layout of `super::store`):
//! - `GET /api/version` → `{"version":"0.5.1"}`
//! - `GET /api/tags` → the store's models (digest = sha256 of the manifest bytes,
//!   size = Σ layers + config, details from the config blob), newest first
//! - `POST /api/show {"model"}` → template, parameters, license, details, model_info;
//!   400 `missing request body` / `model is required`; 404 `model 'x' not found`
//! - `POST /api/pull {"model","stream"}` → chunked `application/x-ndjson` progress, copying
//!   the model from a second store (the fake "registry") into the served store. Like Ollama,
//!   errors after the stream started are `{"error": "..."}` lines with HTTP 200: a model the
//!   registry lacks gives `pull model manifest: file does not exist`, a registry blob whose
//!   content does not match its digest gives `digest mismatch, ...` after its progress lines.
//!   The stream is always on (`"stream": false` is not implemented).
//!
//! Tests can script failures (`fail_next`), delays (`delay`) and count requests (`hits`).
//! Every response closes the connection. The server stops when the value is dropped.

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::fsutil::sha256_hex;
use super::store::{media, Manifest, ModelName};

#[derive(Default)]
struct State {
  store: PathBuf,
  registry: Option<PathBuf>,
  fail_next: HashMap<String, VecDeque<u16>>,
  delay: HashMap<String, Duration>,
  hits: HashMap<String, usize>,
  line_delay: Duration,
}

/// A running fake server. Dropping it stops the server and its connections.
pub struct FakeOllama {
  /// `http://127.0.0.1:<port>`.
  pub url: String,
  state: Arc<Mutex<State>>,
  task: JoinHandle<()>,
}

impl Drop for FakeOllama {
  fn drop(&mut self) {
    self.task.abort();
  }
}

impl FakeOllama {
  /// Starts serving `store`; pulls copy from `registry`.
  pub async fn start(store: &Path, registry: Option<&Path>) -> Self {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(Mutex::new(State {
      store: store.to_path_buf(),
      registry: registry.map(Path::to_path_buf),
      line_delay: Duration::from_millis(15),
      ..State::default()
    }));
    let st = state.clone();
    let task = tokio::spawn(async move {
      let mut conns = JoinSet::new();
      loop {
        tokio::select! {
          Ok((sock, _)) = listener.accept() => { conns.spawn(handle(sock, st.clone())); }
          Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
      }
    });
    Self { url, state, task }
  }

  /// The next requests to `path` get these statuses (with an `{"error"}` body) instead of an answer.
  pub fn fail_next(&self, path: &str, statuses: &[u16]) {
    self.state.lock().unwrap().fail_next.entry(path.into()).or_default().extend(statuses);
  }

  /// Requests to `path` wait `d` before answering.
  pub fn delay(&self, path: &str, d: Duration) {
    self.state.lock().unwrap().delay.insert(path.into(), d);
  }

  /// Requests received for `path`.
  pub fn hits(&self, path: &str) -> usize {
    self.state.lock().unwrap().hits.get(path).copied().unwrap_or(0)
  }
}

struct Req {
  method: String,
  path: String,
  body: Vec<u8>,
}

async fn read_request(sock: &mut BufReader<TcpStream>) -> Option<Req> {
  let mut line = String::new();
  sock.read_line(&mut line).await.ok()?;
  let mut it = line.split_whitespace();
  let (method, path) = (it.next()?.to_string(), it.next()?.to_string());
  let mut len = 0usize;
  loop {
    let mut h = String::new();
    if sock.read_line(&mut h).await.ok()? == 0 {
      return None;
    }
    let h = h.trim_end();
    if h.is_empty() {
      break;
    }
    if let Some((k, v)) = h.split_once(':') {
      if k.eq_ignore_ascii_case("content-length") {
        len = v.trim().parse().ok()?;
      }
    }
  }
  let mut body = vec![0u8; len];
  sock.read_exact(&mut body).await.ok()?;
  Some(Req { method, path, body })
}

async fn respond(sock: &mut BufReader<TcpStream>, status: u16, ctype: &str, body: &[u8]) {
  let reason = match status {
    200 => "OK",
    400 => "Bad Request",
    404 => "Not Found",
    405 => "Method Not Allowed",
    500 => "Internal Server Error",
    502 => "Bad Gateway",
    503 => "Service Unavailable",
    _ => "Status",
  };
  let head = format!(
    "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
    body.len()
  );
  let s = sock.get_mut();
  let _ = s.write_all(head.as_bytes()).await;
  let _ = s.write_all(body).await;
  let _ = s.shutdown().await;
}

async fn json_resp(sock: &mut BufReader<TcpStream>, status: u16, v: Value) {
  respond(sock, status, "application/json; charset=utf-8", v.to_string().as_bytes()).await;
}

async fn handle(sock: TcpStream, st: Arc<Mutex<State>>) {
  let mut sock = BufReader::new(sock);
  let Some(req) = read_request(&mut sock).await else { return };
  let (fail, delay, store, registry, line_delay) = {
    let mut s = st.lock().unwrap();
    *s.hits.entry(req.path.clone()).or_default() += 1;
    let fail = s.fail_next.get_mut(&req.path).and_then(VecDeque::pop_front);
    (fail, s.delay.get(&req.path).copied(), s.store.clone(), s.registry.clone(), s.line_delay)
  };
  if let Some(d) = delay {
    tokio::time::sleep(d).await;
  }
  if let Some(code) = fail {
    return json_resp(&mut sock, code, json!({"error": format!("fake scripted failure {code}")}))
      .await;
  }
  let m = req.method.as_str();
  match req.path.as_str() {
    "/api/version" if m == "GET" || m == "HEAD" => {
      json_resp(&mut sock, 200, json!({"version": "0.5.1"})).await
    }
    "/api/tags" if m == "GET" || m == "HEAD" => {
      json_resp(&mut sock, 200, json!({"models": tags(&store)})).await
    }
    "/api/show" if m == "POST" => {
      let (code, v) = show(&store, &req.body);
      json_resp(&mut sock, code, v).await
    }
    "/api/pull" if m == "POST" => {
      pull(&mut sock, &store, registry.as_deref(), &req.body, line_delay).await
    }
    "/api/version" | "/api/tags" | "/api/show" | "/api/pull" => {
      respond(&mut sock, 405, "text/plain", b"405 method not allowed").await
    }
    _ => respond(&mut sock, 404, "text/plain", b"404 page not found").await,
  }
}

/// Every manifest of a store: (name, manifest path).
fn manifests(store: &Path) -> Vec<(ModelName, PathBuf)> {
  let mut out = Vec::new();
  let ls = |p: &Path| -> Vec<PathBuf> {
    fs::read_dir(p)
      .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
      .unwrap_or_default()
  };
  let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
  for h in ls(&store.join("manifests")) {
    for ns in ls(&h) {
      for m in ls(&ns) {
        for t in ls(&m) {
          let n =
            ModelName { host: name(&h), namespace: name(&ns), model: name(&m), tag: name(&t) };
          out.push((n, t));
        }
      }
    }
  }
  out
}

fn blob(store: &Path, digest: &str) -> PathBuf {
  store.join("blobs").join(digest.replace(':', "-"))
}

fn details(store: &Path, m: &Manifest) -> Value {
  let c: Value = fs::read(blob(store, &m.config.digest))
    .ok()
    .and_then(|b| serde_json::from_slice(&b).ok())
    .unwrap_or(Value::Null);
  json!({
    "parent_model": "", "format": c["model_format"], "family": c["model_family"],
    "families": c["model_families"], "parameter_size": c["model_type"], "quantization_level": c["file_type"],
  })
}

fn rfc3339(t: SystemTime) -> String {
  crate::report::rfc3339(t)
}

fn tags(store: &Path) -> Vec<Value> {
  let mut v: Vec<(SystemTime, Value)> = manifests(store)
    .into_iter()
    .filter_map(|(n, p)| {
      let bytes = fs::read(&p).ok()?;
      let m: Manifest = serde_json::from_slice(&bytes).ok()?;
      let mtime = fs::metadata(&p).and_then(|m| m.modified()).unwrap_or(UNIX_EPOCH);
      let short = n.short();
      Some((
        mtime,
        json!({
          "name": short, "model": short, "modified_at": rfc3339(mtime), "size": m.total_size(),
          "digest": sha256_hex(&bytes), "details": details(store, &m),
        }),
      ))
    })
    .collect();
  v.sort_by_key(|e| std::cmp::Reverse(e.0));
  v.into_iter().map(|(_, j)| j).collect()
}

fn layer_text(store: &Path, m: &Manifest, mt: &str) -> Option<String> {
  let l = m.layers.iter().find(|l| l.media_type == mt)?;
  fs::read_to_string(blob(store, &l.digest)).ok()
}

fn show(store: &Path, body: &[u8]) -> (u16, Value) {
  if body.is_empty() {
    return (400, json!({"error": "missing request body"}));
  }
  let Ok(req) = serde_json::from_slice::<Value>(body) else {
    return (400, json!({"error": "invalid JSON"}));
  };
  let Some(model) =
    req.get("model").or_else(|| req.get("name")).and_then(Value::as_str).filter(|s| !s.is_empty())
  else {
    return (400, json!({"error": "model is required"}));
  };
  let not_found = (404, json!({"error": format!("model '{model}' not found")}));
  let Ok(name) = ModelName::parse(model) else { return not_found };
  let path = store.join(name.manifest_rel_path());
  let Some(m) = fs::read(&path).ok().and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
  else {
    return not_found;
  };
  let mut parameters = String::new();
  if let Some(Value::Object(p)) =
    layer_text(store, &m, media::PARAMS).and_then(|t| serde_json::from_str(&t).ok())
  {
    for (k, v) in p {
      for v in if let Value::Array(a) = v { a } else { vec![v] } {
        parameters.push_str(&format!("{k:<30} {v}\n"));
      }
    }
  }
  let template = layer_text(store, &m, media::TEMPLATE);
  let d = details(store, &m);
  let mtime = fs::metadata(&path).and_then(|m| m.modified()).unwrap_or(UNIX_EPOCH);
  (
    200,
    json!({
      "modelfile": format!("# Modelfile generated by the FAKE server\nFROM {}\n", blob(store, &m.layers[0].digest).display()),
      "parameters": parameters, "template": template, "license": layer_text(store, &m, media::LICENSE),
      "details": d, "model_info": {"general.architecture": d["family"], "general.parameter_count": 1_200_000},
      "capabilities": ["completion"], "modified_at": rfc3339(mtime),
    }),
  )
}

async fn chunk(sock: &mut BufReader<TcpStream>, line: &Value, delay: Duration) -> bool {
  let data = format!("{line}\n");
  let frame = format!("{:x}\r\n{data}\r\n", data.len());
  let s = sock.get_mut();
  let ok = s.write_all(frame.as_bytes()).await.is_ok() && s.flush().await.is_ok();
  tokio::time::sleep(delay).await;
  ok
}

async fn pull(
  sock: &mut BufReader<TcpStream>,
  store: &Path,
  registry: Option<&Path>,
  body: &[u8],
  delay: Duration,
) {
  let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
  let Some(model) = req.get("model").or_else(|| req.get("name")).and_then(Value::as_str) else {
    return json_resp(sock, 400, json!({"error": "model is required"})).await;
  };
  let Ok(name) = ModelName::parse(model) else {
    return json_resp(sock, 400, json!({"error": "invalid model name"})).await;
  };
  let head = "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
  if sock.get_mut().write_all(head.as_bytes()).await.is_err() {
    return;
  }
  let mut lines_ok = chunk(sock, &json!({"status": "pulling manifest"}), delay).await;
  let manifest_bytes = registry.and_then(|r| fs::read(r.join(name.manifest_rel_path())).ok());
  let result = match manifest_bytes
    .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok().map(|m| (b, m)))
  {
    None => Err("pull model manifest: file does not exist".to_string()),
    Some((bytes, m)) => {
      let registry = registry.unwrap_or(Path::new("/nonexistent"));
      let mut copied = Vec::new();
      for l in m.layers.iter().chain(std::iter::once(&m.config)) {
        let data = fs::read(blob(registry, &l.digest)).unwrap_or_default();
        let status = format!("pulling {}", &l.digest.trim_start_matches("sha256:")[..12]);
        let steps = [0, data.len() / 2, data.len()];
        for c in steps {
          let line = json!({"status": status, "digest": l.digest, "total": l.size, "completed": c});
          lines_ok &= chunk(sock, &line, delay).await;
        }
        copied.push((l.digest.clone(), data));
      }
      lines_ok &= chunk(sock, &json!({"status": "verifying sha256 digest"}), delay).await;
      let bad = copied.iter().find(|(d, data)| d.trim_start_matches("sha256:") != sha256_hex(data));
      if let Some((d, data)) = bad {
        Err(format!(
          "digest mismatch, file must be downloaded again: want {d}, got sha256:{}",
          sha256_hex(data)
        ))
      } else {
        for (d, data) in &copied {
          fs::create_dir_all(store.join("blobs")).unwrap();
          fs::write(blob(store, d), data).unwrap();
        }
        lines_ok &= chunk(sock, &json!({"status": "writing manifest"}), delay).await;
        let p = store.join(name.manifest_rel_path());
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, &bytes).unwrap();
        lines_ok &= chunk(sock, &json!({"status": "removing any unused layers"}), delay).await;
        Ok(())
      }
    }
  };
  let last = match result {
    Ok(()) => json!({"status": "success"}),
    Err(e) => json!({"error": e}),
  };
  if lines_ok && chunk(sock, &last, Duration::ZERO).await {
    let s = sock.get_mut();
    let _ = s.write_all(b"0\r\n\r\n").await;
    let _ = s.shutdown().await;
  }
}
