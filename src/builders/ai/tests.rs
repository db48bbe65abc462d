//! End-to-end tests of the client and of `build_ai` against the FAKE Ollama server
//! (`super::fake_ollama`) and generated model stores.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::config::AiConfig;
use super::fake_ollama::FakeOllama;
use super::fsutil::sha256_hex;
use super::ollama::{Client, ClientOptions, OllamaError, PullProgress};
use super::store::testutil::{write_model, TestModel};
use super::store::{ModelName, Store};
use super::{build_ai, cache_key, model_digests, AiContext, AiError, AiEvent, AiOutput, LogLevel};

fn opts(retries: u32, timeout_ms: u64) -> ClientOptions {
  ClientOptions {
    timeout: Duration::from_millis(timeout_ms),
    retries,
    backoff: Duration::from_millis(10),
  }
}

/// A port on 127.0.0.1 with nothing listening.
async fn dead_url() -> String {
  let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
  let addr = l.local_addr().unwrap();
  drop(l);
  format!("http://{addr}")
}

struct Env {
  dir: tempfile::TempDir,
}

impl Env {
  fn new() -> Self {
    let dir = tempfile::tempdir().unwrap();
    for d in ["store", "registry", "out", "proj"] {
      fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    Self { dir }
  }
  fn p(&self, s: &str) -> PathBuf {
    self.dir.path().join(s)
  }
  fn ctx(&self) -> AiContext {
    AiContext {
      output_dir: self.p("out"),
      project_root: self.p("proj"),
      environment: "production".into(),
      version: "1.2.3".into(),
      ollama_models_dir: Some(self.p("store")),
    }
  }
}

fn cfg(v: Value) -> AiConfig {
  serde_json::from_value(v).unwrap()
}

/// Runs build_ai collecting events.
async fn run(cfg: &AiConfig, ctx: &AiContext) -> (Result<AiOutput, AiError>, Vec<AiEvent>) {
  let events = Mutex::new(Vec::new());
  let log = |e: AiEvent| events.lock().unwrap().push(e);
  let r = build_ai(cfg, ctx, &log).await;
  (r, events.into_inner().unwrap())
}

fn read_json(p: &Path) -> Value {
  serde_json::from_slice(&fs::read(p).unwrap()).unwrap()
}

#[tokio::test]
async fn client_version_tags_show_against_fake() {
  let env = Env::new();
  let m = TestModel::tiny("tiny", 1);
  let digest = write_model(&env.p("store"), &m);
  write_model(&env.p("store"), &TestModel::tiny("me/other:v1", 2));
  let fake = FakeOllama::start(&env.p("store"), None).await;
  let c = Client::new(&fake.url, opts(0, 2000)).unwrap();
  assert_eq!(c.version().await.unwrap(), "0.5.1");
  let tags = c.tags().await.unwrap();
  assert_eq!(tags.len(), 2);
  let t = tags.iter().find(|t| t.name == "tiny:latest").unwrap();
  assert_eq!(t.digest, digest);
  let local =
    Store::new(env.p("store")).read_manifest(&ModelName::parse("tiny").unwrap()).unwrap().unwrap();
  assert_eq!(t.size, local.manifest.total_size());
  assert_eq!((t.details.family.as_str(), t.details.quantization_level.as_str()), ("llama", "Q4_0"));
  assert_eq!(t.details.parameter_size, "1.2M");
  assert!(tags.iter().any(|t| t.name == "me/other:v1"));
  let s = c.show("tiny").await.unwrap();
  assert_eq!(s.template.as_deref(), Some(m.template));
  assert!(s.parameters.unwrap().contains("temperature"));
  assert_eq!(s.model_info["general.architecture"], "llama");
  let e = c.show("nope").await.unwrap_err();
  assert!(matches!(e, OllamaError::ModelNotFound { .. }), "{e}");
  let msg = e.to_string();
  assert!(
    msg.contains("model 'nope' not found") && msg.contains(&format!("{}/api/show", fake.url)),
    "{msg}"
  );
  assert_eq!(fake.hits("/api/show"), 2, "a 404 must not be retried");
}

#[tokio::test]
async fn retries_5xx_not_4xx_and_surfaces_error_bodies() {
  let env = Env::new();
  let fake = FakeOllama::start(&env.p("store"), None).await;
  fake.fail_next("/api/tags", &[503, 502]);
  let c = Client::new(&fake.url, opts(2, 2000)).unwrap();
  assert!(c.tags().await.unwrap().is_empty());
  assert_eq!(fake.hits("/api/tags"), 3);

  fake.fail_next("/api/version", &[400]);
  let e = c.version().await.unwrap_err();
  assert_eq!(fake.hits("/api/version"), 1, "4xx must not be retried");
  let msg = e.to_string();
  assert!(msg.contains("HTTP 400") && msg.contains("fake scripted failure 400"), "{msg}");
  assert!(msg.contains(&format!("{}/api/version", fake.url)), "{msg}");

  fake.fail_next("/api/version", &[500, 500, 500, 500]);
  let e = c.version().await.unwrap_err();
  assert!(matches!(e, OllamaError::Http { status: 500, .. }), "{e}");
  assert_eq!(fake.hits("/api/version"), 1 + 3, "first try + 2 retries");
  assert!(e.to_string().contains("fake scripted failure 500"));
}

#[tokio::test]
async fn timeout_is_retried_then_reported_with_url() {
  let env = Env::new();
  let fake = FakeOllama::start(&env.p("store"), None).await;
  fake.delay("/api/version", Duration::from_millis(600));
  let c = Client::new(&fake.url, opts(1, 150)).unwrap();
  let t0 = Instant::now();
  let e = c.version().await.unwrap_err();
  assert!(t0.elapsed() < Duration::from_millis(1000), "timeout not applied: {:?}", t0.elapsed());
  assert!(matches!(e, OllamaError::Timeout { attempts: 2, timeout_ms: 150, .. }), "{e}");
  assert!(e.to_string().contains(&fake.url));
  // Give the fake time to see the second request.
  tokio::time::sleep(Duration::from_millis(50)).await;
  assert_eq!(fake.hits("/api/version"), 2);
}

#[tokio::test]
async fn unreachable_server_error_names_the_url() {
  let url = dead_url().await;
  let c = Client::new(&url, opts(2, 500)).unwrap();
  let e = c.tags().await.unwrap_err();
  assert!(matches!(e, OllamaError::Unreachable { attempts: 3, .. }), "{e}");
  let msg = e.to_string();
  assert!(msg.contains(&format!("{url}/api/tags")) && msg.contains("ollama serve"), "{msg}");
  assert!(msg.to_lowercase().contains("connect"), "{msg}");
}

/// Checks the order of a pull's progress lines.
fn assert_pull_sequence(events: &[PullProgress], layers: usize) {
  let st: Vec<&str> = events.iter().map(|e| e.status.as_str()).collect();
  assert_eq!(st.first(), Some(&"pulling manifest"), "{st:?}");
  assert_eq!(
    &st[st.len() - 4..],
    ["verifying sha256 digest", "writing manifest", "removing any unused layers", "success"]
  );
  let downloads = &events[1..events.len() - 4];
  assert_eq!(downloads.len(), layers * 3, "{st:?}");
  for layer in downloads.chunks(3) {
    let d = layer[0].digest.clone().unwrap();
    assert!(layer
      .iter()
      .all(|e| e.digest.as_ref() == Some(&d) && e.status.starts_with("pulling ")));
    let done: Vec<u64> = layer.iter().map(|e| e.completed.unwrap()).collect();
    assert!(done.windows(2).all(|w| w[0] <= w[1]), "{done:?}");
    assert_eq!(done.last(), layer[0].total.as_ref());
  }
}

#[tokio::test]
async fn pull_streams_progress_in_order() {
  let env = Env::new();
  write_model(&env.p("registry"), &TestModel::tiny("tiny", 3));
  let fake = FakeOllama::start(&env.p("store"), Some(&env.p("registry"))).await;
  let c = Client::new(&fake.url, opts(0, 2000)).unwrap();
  let mut got: Vec<(Instant, PullProgress)> = Vec::new();
  let t0 = Instant::now();
  c.pull("tiny", &mut |p| got.push((Instant::now(), p.clone()))).await.unwrap();
  let total = t0.elapsed();
  let events: Vec<PullProgress> = got.iter().map(|(_, p)| p.clone()).collect();
  assert_pull_sequence(&events, 5); // 4 layers + config
                                    // Streamed: the first line arrived long before the stream ended (the fake waits 15 ms per line).
  let first = got[0].0 - t0;
  assert!(total >= Duration::from_millis(200) && first < total / 2, "first {first:?} of {total:?}");
  // The model is now served.
  assert!(c.tags().await.unwrap().iter().any(|t| t.name == "tiny:latest"));
}

#[tokio::test]
async fn pull_retries_5xx_before_the_stream_starts() {
  let env = Env::new();
  write_model(&env.p("registry"), &TestModel::tiny("tiny", 12));
  let fake = FakeOllama::start(&env.p("store"), Some(&env.p("registry"))).await;
  fake.fail_next("/api/pull", &[503]);
  let c = Client::new(&fake.url, opts(1, 2000)).unwrap();
  let mut events = Vec::new();
  c.pull("tiny", &mut |p| events.push(p.clone())).await.unwrap();
  assert_eq!(fake.hits("/api/pull"), 2);
  assert_pull_sequence(&events, 5); // no duplicated or partial sequence from the failed attempt

  fake.fail_next("/api/pull", &[404]);
  let e = c.pull("tiny", &mut |_| {}).await.unwrap_err();
  assert!(matches!(e, OllamaError::ModelNotFound { .. }), "{e}");
  assert_eq!(fake.hits("/api/pull"), 3, "a 404 must not be retried");
}

#[tokio::test]
async fn pull_error_lines_mid_stream_are_errors() {
  let env = Env::new();
  let fake = FakeOllama::start(&env.p("store"), Some(&env.p("registry"))).await;
  let c = Client::new(&fake.url, opts(2, 2000)).unwrap();
  let mut seen = Vec::new();
  let e = c.pull("absent", &mut |p| seen.push(p.status.clone())).await.unwrap_err();
  assert!(matches!(e, OllamaError::Stream { .. }), "{e}");
  let msg = e.to_string();
  assert!(
    msg.contains("file does not exist") && msg.contains(&format!("{}/api/pull", fake.url)),
    "{msg}"
  );
  assert_eq!(seen, ["pulling manifest"]);
  assert_eq!(fake.hits("/api/pull"), 1, "a stream error must not be retried");

  // A registry blob whose content does not match its digest: progress first, then the error line.
  write_model(&env.p("registry"), &TestModel::tiny("bad", 4));
  let local = Store::new(env.p("registry"))
    .read_manifest(&ModelName::parse("bad").unwrap())
    .unwrap()
    .unwrap();
  let blob = Store::new(env.p("registry")).blob_path(&local.manifest.layers[0].digest).unwrap();
  let mut b = fs::read(&blob).unwrap();
  b[50] ^= 1;
  fs::write(&blob, b).unwrap();
  let mut seen = Vec::new();
  let e = c.pull("bad", &mut |p| seen.push(p.status.clone())).await.unwrap_err();
  assert!(e.to_string().contains("digest mismatch"), "{e}");
  assert!(seen.len() > 5 && seen.last().unwrap() == "verifying sha256 digest", "{seen:?}");
  assert!(!Store::new(env.p("store")).manifest_path(&ModelName::parse("bad").unwrap()).exists());
}

fn full_cfg(url: &str, models: &[&str], pull: bool, export: bool, required: bool) -> AiConfig {
  cfg(json!({
    "providers": {"ollama": {"url": url, "models": models, "timeoutMs": 1000, "retries": 1, "pull": pull, "export": export}},
    "required": required,
  }))
}

#[tokio::test]
async fn build_writes_model_configs_pull_script_and_exports() {
  let env = Env::new();
  let tiny = TestModel::tiny("tiny", 5);
  let tiny_digest = write_model(&env.p("store"), &tiny);
  let other_digest = write_model(&env.p("store"), &TestModel::tiny("me/other:v1", 6));
  let fake = FakeOllama::start(&env.p("store"), None).await;
  let c = full_cfg(&fake.url, &["tiny", "me/other:v1", "absent:7b"], false, true, false);
  let (r, events) = run(&c, &env.ctx()).await;
  let out = r.unwrap();
  let out_dir = env.p("out");

  // Model config artifacts from tags + show.
  let j = read_json(&out_dir.join("ai/models/tiny-latest.json"));
  assert_eq!(j["name"], "tiny:latest");
  assert_eq!(j["digest"], tiny_digest.as_str());
  let local =
    Store::new(env.p("store")).read_manifest(&ModelName::parse("tiny").unwrap()).unwrap().unwrap();
  assert_eq!(j["size"], local.manifest.total_size());
  assert_eq!(
    (&j["family"], &j["parameterSize"], &j["quantization"]),
    (&json!("llama"), &json!("1.2M"), &json!("Q4_0"))
  );
  assert_eq!(j["template"], tiny.template);
  assert_eq!(
    j["parameters"],
    json!({"stop": ["<|user|>", "<|end|>"], "temperature": 0.7, "num_ctx": 2048})
  );
  assert_eq!(j["architecture"], "llama");
  assert_eq!(
    read_json(&out_dir.join("ai/models/me-other-v1.json"))["digest"],
    other_digest.as_str()
  );
  let cfg_art = out
    .artifacts
    .iter()
    .find(|a| a.kind == "ollama-model-config" && a.name == "tiny:latest")
    .unwrap();
  assert_eq!(cfg_art.path, "ai/models/tiny-latest.json");
  assert_eq!(cfg_art.metadata["digest"], tiny_digest.as_str());
  assert_eq!(cfg_art.size, fs::metadata(out_dir.join(&cfg_art.path)).unwrap().len());

  // Missing model → pull script.
  assert_eq!(out.missing_models, ["absent:7b"]);
  let script_path = out_dir.join("ai/scripts/pull-models.sh");
  let script = fs::read_to_string(&script_path).unwrap();
  assert!(
    script.starts_with("#!/usr/bin/env bash\n") && script.contains("set -euo pipefail\n"),
    "{script}"
  );
  assert!(
    script.contains("OLLAMA_HOST") && script.contains("'absent:7b'") && !script.contains("tiny"),
    "{script}"
  );
  #[cfg(unix)]
  {
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(fs::metadata(&script_path).unwrap().permissions().mode() & 0o111, 0o111);
  }
  let sh = std::process::Command::new("bash").arg("-n").arg(&script_path).status();
  if let Ok(s) = sh {
    assert!(s.success(), "bash -n rejects the script");
  }
  assert!(out.warnings.iter().any(|w| w.contains("absent:7b")));
  assert!(events.iter().any(|e| matches!(e, AiEvent::Log { level: LogLevel::Warn, message } if message.contains("absent:7b"))));

  // Exports are byte-identical to the blobs, with a Modelfile.
  let exp = out
    .artifacts
    .iter()
    .find(|a| a.kind == "ollama-model-export" && a.name == "tiny:latest")
    .unwrap();
  assert_eq!(exp.path, "models/tiny-latest");
  let store = Store::new(env.p("store"));
  for l in &local.manifest.layers {
    let f = exp.metadata["files"]
      .as_array()
      .unwrap()
      .iter()
      .find(|f| f["digest"] == l.digest.as_str())
      .unwrap();
    let exported = fs::read(out_dir.join(&exp.path).join(f["file"].as_str().unwrap())).unwrap();
    assert_eq!(exported, fs::read(store.blob_path(&l.digest).unwrap()).unwrap());
  }
  assert_eq!(fs::read(out_dir.join("models/tiny-latest/model.gguf")).unwrap(), tiny.weights);
  // Same filesystem here: the weights are hardlinked, not copied.
  assert_eq!(exp.metadata["hardlinked"], 1);
  #[cfg(unix)]
  {
    use std::os::unix::fs::MetadataExt;
    let a = fs::metadata(out_dir.join("models/tiny-latest/model.gguf")).unwrap();
    let b = fs::metadata(store.blob_path(&local.manifest.layers[0].digest).unwrap()).unwrap();
    assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()));
  }
  assert!(fs::read_to_string(out_dir.join("models/tiny-latest/Modelfile"))
    .unwrap()
    .contains("FROM ./model.gguf"));
  assert!(out_dir.join("models/me-other-v1/model.gguf").exists());

  // Digests for the cache key.
  let expect: BTreeMap<String, String> =
    [("tiny:latest".to_string(), tiny_digest), ("me/other:v1".to_string(), other_digest)].into();
  assert_eq!(out.model_digests, expect);
  assert_eq!(model_digests(&c, Some(&env.p("store"))).await.unwrap(), expect);

  // ai-config.json.
  let ac = read_json(&out_dir.join("ai-config.json"));
  assert_eq!(ac["providers"]["ollama"]["url"], fake.url.as_str());
  assert_eq!(ac["defaultModel"], json!({"provider": "ollama", "model": "tiny"}));
  let models = ac["models"]["ollama"].as_array().unwrap();
  assert_eq!(models.len(), 3);
  assert_eq!(models[0]["exportedTo"], "models/tiny-latest");
  assert_eq!(
    models[2],
    json!({"name": "absent:7b", "available": false, "digest": null, "size": null, "family": null,
    "parameterSize": null, "quantization": null, "exportedTo": null})
  );
  assert_eq!(ac["deployment"], json!({"environment": "production", "buildVersion": "1.2.3"}));
}

#[tokio::test]
async fn build_pulls_missing_models_with_ordered_progress() {
  let env = Env::new();
  write_model(&env.p("registry"), &TestModel::tiny("tiny", 7));
  let fake = FakeOllama::start(&env.p("store"), Some(&env.p("registry"))).await;
  let c = full_cfg(&fake.url, &["tiny"], true, true, true);
  let (r, events) = run(&c, &env.ctx()).await;
  let out = r.unwrap();
  let progress: Vec<PullProgress> = events
    .iter()
    .filter_map(|e| match e {
      AiEvent::PullProgress { model, status, digest, total, completed } => {
        assert_eq!(model, "tiny:latest");
        Some(PullProgress {
          status: status.clone(),
          digest: digest.clone(),
          total: *total,
          completed: *completed,
        })
      }
      _ => None,
    })
    .collect();
  assert_pull_sequence(&progress, 5);
  assert!(out.missing_models.is_empty());
  assert!(!env.p("out/ai/scripts/pull-models.sh").exists());
  assert!(env.p("out/ai/models/tiny-latest.json").exists());
  assert!(env.p("out/models/tiny-latest/model.gguf").exists());
  let d = Store::new(env.p("store"))
    .read_manifest(&ModelName::parse("tiny").unwrap())
    .unwrap()
    .unwrap()
    .digest;
  assert_eq!(out.model_digests["tiny:latest"], d);
}

#[tokio::test]
async fn failed_pull_follows_required() {
  let env = Env::new();
  let fake = FakeOllama::start(&env.p("store"), Some(&env.p("registry"))).await;
  let (r, _) = run(&full_cfg(&fake.url, &["ghost"], true, false, false), &env.ctx()).await;
  let out = r.unwrap();
  assert!(out.warnings.iter().any(|w| w.contains("file does not exist")), "{:?}", out.warnings);
  assert_eq!(out.missing_models, ["ghost:latest"]);
  let (r, _) = run(&full_cfg(&fake.url, &["ghost"], true, false, true), &env.ctx()).await;
  let e = r.unwrap_err();
  assert!(
    e.to_string().contains("file does not exist") && e.to_string().contains(&fake.url),
    "{e}"
  );
}

#[tokio::test]
async fn server_down_warns_or_fails_per_config() {
  let env = Env::new();
  let url = dead_url().await;
  let (r, events) = run(&full_cfg(&url, &["tiny", "b:1"], false, false, false), &env.ctx()).await;
  let out = r.unwrap();
  let w = out.warnings.iter().find(|w| w.contains("cannot reach")).unwrap();
  assert!(w.contains(&url), "{w}");
  assert!(events.iter().any(
    |e| matches!(e, AiEvent::Log { level: LogLevel::Warn, message } if message.contains(&url))
  ));
  let script = fs::read_to_string(env.p("out/ai/scripts/pull-models.sh")).unwrap();
  assert!(script.contains("'tiny:latest'") && script.contains("'b:1'"));
  assert!(env.p("out/ai-config.json").exists());

  let (r, _) = run(&full_cfg(&url, &["tiny"], false, false, true), &env.ctx()).await;
  let e = r.unwrap_err();
  assert!(matches!(e, AiError::Ollama(OllamaError::Unreachable { .. })), "{e}");
  assert!(e.to_string().contains(&url), "{e}");

  // https: not supported by this client; same policy.
  let (r, _) =
    run(&full_cfg("https://127.0.0.1:1", &["tiny"], false, false, false), &env.ctx()).await;
  assert!(r
    .unwrap()
    .warnings
    .iter()
    .any(|w| w.contains("https://127.0.0.1:1") && w.contains("not supported")));
  let (r, _) =
    run(&full_cfg("https://127.0.0.1:1", &["tiny"], false, false, true), &env.ctx()).await;
  let e = r.unwrap_err();
  assert!(matches!(e, AiError::Ollama(OllamaError::TlsUnsupported { .. })), "{e}");
  assert!(e.to_string().contains("https://127.0.0.1:1"), "{e}");
}

#[tokio::test]
async fn server_down_still_exports_from_the_store() {
  let env = Env::new();
  let d = write_model(&env.p("store"), &TestModel::tiny("tiny", 8));
  let url = dead_url().await;
  let (r, _) = run(&full_cfg(&url, &["tiny", "absent"], false, true, false), &env.ctx()).await;
  let out = r.unwrap();
  assert_eq!(out.model_digests["tiny:latest"], d);
  assert_eq!(out.missing_models, ["absent:latest"]);
  assert!(env.p("out/models/tiny-latest/model.gguf").exists());
  assert!(!env.p("out/ai/models/tiny-latest.json").exists());
}

#[tokio::test]
async fn corrupt_blob_fails_the_export_clearly() {
  let env = Env::new();
  write_model(&env.p("store"), &TestModel::tiny("tiny", 9));
  let store = Store::new(env.p("store"));
  let local = store.read_manifest(&ModelName::parse("tiny").unwrap()).unwrap().unwrap();
  let blob = store.blob_path(&local.manifest.layers[0].digest).unwrap();
  let mut b = fs::read(&blob).unwrap();
  b[9] ^= 0x55;
  fs::write(&blob, b).unwrap();
  let fake = FakeOllama::start(&env.p("store"), None).await;
  let (r, _) = run(&full_cfg(&fake.url, &["tiny"], false, true, false), &env.ctx()).await;
  let e = r.unwrap_err();
  let msg = e.to_string();
  assert!(msg.contains("corrupt") && msg.contains(&blob.display().to_string()), "{msg}");
  assert!(!env.p("out/models/tiny-latest").exists());
}

#[tokio::test]
async fn changed_model_digest_changes_the_cache_key() {
  let env = Env::new();
  write_model(&env.p("store"), &TestModel::tiny("tiny", 10));
  let fake = FakeOllama::start(&env.p("store"), None).await;
  let c = full_cfg(&fake.url, &["tiny"], false, false, false);
  let key = |d: &BTreeMap<String, String>| cache_key(&c, "production", "1.2.3", d);
  let d1 = model_digests(&c, Some(&env.p("store"))).await.unwrap();
  let k1 = key(&d1);
  assert_eq!(
    k1,
    key(&model_digests(&c, Some(&env.p("store"))).await.unwrap()),
    "key must be stable"
  );
  let (r, _) = run(&c, &env.ctx()).await;
  assert_eq!(key(&r.unwrap().model_digests), k1, "pre-build and build digests agree");

  // Same name, new content (e.g. `ollama pull` fetched a new version).
  let mut m = TestModel::tiny("tiny", 10);
  m.params = json!({"temperature": 0.2});
  write_model(&env.p("store"), &m);
  let d2 = model_digests(&c, Some(&env.p("store"))).await.unwrap();
  assert_ne!(d1, d2);
  assert_ne!(key(&d2), k1, "a changed model digest must miss the cache");
  let (r, _) = run(&c, &env.ctx()).await;
  assert_eq!(key(&r.unwrap().model_digests), key(&d2));

  // Server down: the digest comes from the store and is the same value.
  let down = full_cfg(&dead_url().await, &["tiny"], false, false, false);
  assert_eq!(model_digests(&down, Some(&env.p("store"))).await.unwrap(), d2);
  // A rotated API key does not change the key; a different model list does.
  let mut with_key = c.clone();
  with_key.providers.openai = Some(serde_json::from_value(json!({"apiKey": "sk-1"})).unwrap());
  let mut rotated = with_key.clone();
  rotated.providers.openai.as_mut().unwrap().api_key = Some("sk-2".into());
  assert_eq!(cache_key(&with_key, "p", "1", &d2), cache_key(&rotated, "p", "1", &d2));
  assert_ne!(cache_key(&with_key, "p", "1", &d2), cache_key(&c, "p", "1", &d2));
}

#[tokio::test]
async fn no_secret_reaches_any_output_file() {
  let env = Env::new();
  write_model(&env.p("store"), &TestModel::tiny("tiny", 11));
  let bert = env.p("proj/models/bert");
  fs::create_dir_all(&bert).unwrap();
  fs::write(bert.join("config.json"), b"{}").unwrap();
  fs::write(bert.join(".env"), b"HF_TOKEN=hf-secret-0006").unwrap();
  let fake = FakeOllama::start(&env.p("store"), None).await;
  let secrets = [
    "sk-secret-0001",
    "cs-secret-0002",
    "pk-secret-0003",
    "tok-secret-0004",
    "pw-secret-0005",
    "hf-secret-0006",
    "rt-0007",
  ];
  let c = cfg(json!({
    "providers": {
      "ollama": {"url": fake.url, "models": ["tiny", "absent"], "export": true},
      "openai": {"apiKey": secrets[0], "models": ["gpt-4o"], "defaultModel": "gpt-4o"},
      "azure": {"endpoint": "https://x.openai.azure.com", "auth": {"clientSecret": secrets[1], "privateKey": secrets[2]},
                "deployments": [{"name": "d", "tokens": [secrets[3]]}], "maxTokens": 512}
    },
    "customModels": [{"name": "bert", "type": "huggingface", "path": "models/bert"}],
    "routing": {"fallback": {"password": secrets[4]}},
    "features": {"refresh_token": secrets[6], "streaming": true}
  }));
  let (r, events) = run(&c, &env.ctx()).await;
  let out = r.unwrap();
  assert!(out.artifacts.len() >= 5, "{:?}", out.artifacts);
  // Scan every file under the output dir (all artifacts, and anything else written).
  let mut files = Vec::new();
  let mut stack = vec![env.p("out")];
  while let Some(d) = stack.pop() {
    for e in fs::read_dir(&d).unwrap() {
      let p = e.unwrap().path();
      if p.is_dir() {
        stack.push(p)
      } else {
        files.push(p)
      }
    }
  }
  for a in &out.artifacts {
    assert!(env.p("out").join(&a.path).exists(), "artifact {} missing", a.path);
  }
  assert!(files.len() >= 10, "{files:?}");
  for f in &files {
    let bytes = fs::read(f).unwrap();
    for s in secrets {
      assert!(
        !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
        "{s} leaked into {}",
        f.display()
      );
    }
  }
  let meta = serde_json::to_string(&out).unwrap() + &format!("{events:?}");
  for s in secrets {
    assert!(!meta.contains(s), "{s} leaked into the output/events");
  }
  let ac = read_json(&env.p("out/ai-config.json"));
  assert_eq!(ac["providers"]["openai"]["apiKey"], "${FARM_OPENAI_API_KEY}");
  assert_eq!(ac["providers"]["azure"]["auth"]["clientSecret"], "${FARM_AZURE_AUTH_CLIENT_SECRET}");
  assert_eq!(
    ac["providers"]["azure"]["deployments"][0]["tokens"],
    "${FARM_AZURE_DEPLOYMENTS_0_TOKENS}"
  );
  assert_eq!(ac["providers"]["azure"]["maxTokens"], 512);
  assert_eq!(ac["routing"]["fallback"]["password"], "${FARM_ROUTING_FALLBACK_PASSWORD}");
  assert_eq!(ac["features"]["refresh_token"], "${FARM_FEATURES_REFRESH_TOKEN}");
  assert_eq!(ac["defaultModel"], json!({"provider": "ollama", "model": "tiny"}));
  assert_eq!(ac["customModels"][0]["path"], "ai/custom-models/bert");
  let man = read_json(&env.p("out/ai/custom-models/bert/manifest.json"));
  assert_eq!(man["conversion"], "none");
  assert_eq!(man["files"][0]["sha256"], sha256_hex(b"{}").as_str());
}

#[tokio::test]
async fn invalid_config_is_rejected_before_any_work() {
  let env = Env::new();
  let c = full_cfg("ftp://nope", &["tiny"], false, false, false);
  let (r, _) = run(&c, &env.ctx()).await;
  let e = r.unwrap_err();
  assert!(e.to_string().contains("ai.providers.ollama.url"), "{e}");
  assert!(!env.p("out/ai-config.json").exists());
}

/// Through both tasks: the ai-models task exports from the (fake) Ollama server's store and
/// writes `models/exported-models.json`; the docker task reads that index and bakes the exported
/// model into `Dockerfile.ollama` (`ollama create`), pulling only the model that was not exported.
#[tokio::test]
async fn exported_models_reach_the_ollama_dockerfile() {
  use super::export_index::{ExportIndex, MODELS_DIR};
  use crate::builders::docker::config::{DockerConfig, ProjectInfo};
  use crate::builders::docker::toolchain::Toolchain;
  use crate::deploy::context::ApiSpec;

  let env = Env::new();
  let tiny = TestModel::tiny("tiny", 21);
  write_model(&env.p("store"), &tiny);
  let fake = FakeOllama::start(&env.p("store"), None).await;
  let c = full_cfg(&fake.url, &["tiny", "absent:7b"], false, true, false);
  let (r, _) = run(&c, &env.ctx()).await;
  let out = r.unwrap();
  assert!(out.artifacts.iter().any(|a| a.kind == "ollama-export-index"));

  // The index lists the export with the files' sha256.
  let models_dir = env.p("out").join(MODELS_DIR);
  let index = ExportIndex::read(&models_dir).unwrap().unwrap();
  index.verify(&models_dir).unwrap();
  let entry = index.get("tiny").unwrap();
  let weights = entry.files.iter().find(|f| f.path == "tiny-latest/model.gguf").unwrap();
  assert_eq!(weights.sha256, sha256_hex(&tiny.weights));
  assert!(index.get("absent:7b").is_none());

  // The docker task's view of it.
  let project = ProjectInfo {
    app_name: "shop".into(),
    version: "1.0.0".into(),
    environment: "production".into(),
    output_rel: "dist".into(),
    frontend: None,
    api: ApiSpec {
      dir_rel: "apps/api".into(),
      app: "main:app".into(),
      deps: crate::deploy::context::PythonDeps::None,
      out_rel: "api".into(),
    },
    ollama_models: Some(vec!["tiny".into(), "absent:7b".into()]),
    ollama_export: Some(index),
    toolchain: Toolchain::default(),
  };
  let dctx = DockerConfig::default().deploy_context(&project);
  let df = crate::deploy::dockerfile::ollama(&dctx).unwrap();
  assert!(df.contains("COPY tiny-latest/ /tmp/farm-models/tiny-latest/\n"), "{df}");
  assert!(
    df.contains("ollama create tiny:latest -f /tmp/farm-models/tiny-latest/Modelfile"),
    "{df}"
  );
  assert!(df.contains("ollama pull absent:7b"), "{df}");
  assert!(!df.contains("ollama pull tiny"), "{df}");

  // Exporting nothing removes the index: then every model is pulled.
  let (r, _) = run(&full_cfg(&fake.url, &["tiny"], false, false, false), &env.ctx()).await;
  r.unwrap();
  assert!(ExportIndex::read(&models_dir).unwrap().is_none());
}
