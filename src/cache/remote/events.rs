//! Turborepo's cache usage events (`POST /v8/artifacts/events`): what a Turborepo-API server
//! (Vercel's, or one that keeps statistics) learns about cache hits and misses, in the shape the
//! `turbo` CLI sends: a JSON array of `{ sessionId, source: LOCAL|REMOTE, event: HIT|MISS, hash,
//! duration }`, one `sessionId` per build.
//!
//! As in `turbo`, events are batched in the background (a batch goes when it has 10 events, or
//! 200 ms after the last one), each batch is one request within the request time limit, and
//! nothing about them can fail or slow a build: a refused or failed batch is dropped, and the
//! build waits for the last ones only within the bound it already gives its uploads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use super::error::RemoteError;

/// Events per request, at most (as `turbo`).
pub const BATCH: usize = 10;
/// A partial batch goes this long after its last event (as `turbo`).
pub const FLUSH_AFTER: Duration = Duration::from_millis(200);

/// Where a lookup was answered: Turborepo's `CacheSource`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventSource {
  /// The local cache of this machine.
  Local,
  /// The remote cache.
  Remote,
}

/// Whether the lookup found the artifact: Turborepo's `CacheEvent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventKind {
  /// Found (and used).
  Hit,
  /// Not found.
  Miss,
}

/// One cache usage event, serialized as Turborepo's `AnalyticsEvent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheUsageEvent {
  /// The build's session id (a UUID, the same for every event of one build).
  pub session_id: String,
  /// Local or remote cache.
  pub source: EventSource,
  /// Hit or miss.
  pub event: EventKind,
  /// The artifact id (`farm1-<key>`), as in `/v8/artifacts/:hash`.
  pub hash: String,
  /// Time saved, ms: the task's build time when the server told it (`x-artifact-duration`) on a
  /// remote hit; 0 otherwise (a miss saves nothing; farm's local entries do not record it).
  pub duration: u64,
}

/// Where events go: a Turborepo-API server.
#[async_trait]
pub trait EventSink: Send + Sync + std::fmt::Debug {
  /// Sends one batch (a JSON array).
  async fn send_events(&self, batch: &[CacheUsageEvent]) -> Result<(), RemoteError>;
}

/// How the events of a build went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventStats {
  /// Events the server accepted.
  pub sent: u64,
  /// Events in batches that failed, timed out or were still pending at the end.
  pub dropped: u64,
  /// The first failure, if any (for `FARM_REMOTE_CACHE_DEBUG`; never a warning).
  pub first_error: Option<String>,
}

struct Worker {
  tx: mpsc::UnboundedSender<CacheUsageEvent>,
  handle: JoinHandle<()>,
}

#[derive(Default)]
struct Counters {
  sent: AtomicU64,
  recorded: AtomicU64,
  closed: std::sync::atomic::AtomicBool,
  first_error: Mutex<Option<String>>,
}

/// Collects a build's events and sends them in batches on a background task, started by the
/// first event (so a build that records none makes no request).
pub struct EventRecorder {
  session_id: String,
  sink: Arc<dyn EventSink>,
  timeout: Duration,
  worker: Mutex<Option<Worker>>,
  counters: Arc<Counters>,
}

impl std::fmt::Debug for EventRecorder {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    f.debug_struct("EventRecorder")
      .field("session_id", &self.session_id)
      .field("sink", &self.sink)
      .finish()
  }
}

/// A random version-4 UUID (from the OS's randomness, the clock and the process id).
pub fn new_session_id() -> String {
  use std::io::Read as _;
  static COUNTER: AtomicU64 = AtomicU64::new(0);
  let mut h = Sha256::new();
  let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
  h.update(now.as_nanos().to_le_bytes());
  h.update(std::process::id().to_le_bytes());
  h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
  let mut seed = [0u8; 32];
  if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
    let _ = f.read_exact(&mut seed);
  }
  h.update(seed);
  let mut b = [0u8; 16];
  b.copy_from_slice(&h.finalize()[..16]);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  let x: String = b.iter().map(|v| format!("{v:02x}")).collect();
  format!("{}-{}-{}-{}-{}", &x[..8], &x[8..12], &x[12..16], &x[16..20], &x[20..])
}

impl EventRecorder {
  /// A recorder sending to `sink`, each request within `timeout`.
  pub fn new(sink: Arc<dyn EventSink>, timeout: Duration) -> Self {
    EventRecorder {
      session_id: new_session_id(),
      sink,
      timeout,
      worker: Mutex::new(None),
      counters: Arc::new(Counters::default()),
    }
  }

  /// The session id of this build's events.
  pub fn session_id(&self) -> &str {
    &self.session_id
  }

  /// Whether any event was recorded (then this build talks to the server anyway).
  pub fn active(&self) -> bool {
    self.counters.recorded.load(Ordering::Relaxed) > 0
  }

  /// Queues one event (never blocks, never fails; outside a Tokio runtime, or after
  /// [`EventRecorder::close`], the event is dropped).
  pub fn record(&self, source: EventSource, event: EventKind, hash: &str, duration: u64) {
    let ev = CacheUsageEvent {
      session_id: self.session_id.clone(),
      source,
      event,
      hash: hash.to_string(),
      duration,
    };
    let Ok(mut w) = self.worker.lock() else { return };
    if w.is_none() {
      if self.counters.closed.load(Ordering::Relaxed) {
        return;
      }
      let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
      let (tx, rx) = mpsc::unbounded_channel();
      let handle =
        rt.spawn(run(rx, Arc::clone(&self.sink), self.timeout, Arc::clone(&self.counters)));
      *w = Some(Worker { tx, handle });
    }
    if let Some(worker) = w.as_ref() {
      if worker.tx.send(ev).is_ok() {
        self.counters.recorded.fetch_add(1, Ordering::Relaxed);
      }
    }
  }

  /// Sends what is still queued and waits for the last batches until `deadline`; what is still
  /// pending then is dropped. Later events are dropped.
  pub async fn close(&self, deadline: tokio::time::Instant) -> EventStats {
    self.counters.closed.store(true, Ordering::Relaxed);
    let worker = self.worker.lock().ok().and_then(|mut w| w.take());
    if let Some(Worker { tx, mut handle }) = worker {
      drop(tx);
      if tokio::time::timeout_at(deadline, &mut handle).await.is_err() {
        handle.abort();
      }
    }
    let c = &self.counters;
    let sent = c.sent.load(Ordering::Relaxed);
    EventStats {
      sent,
      dropped: c.recorded.load(Ordering::Relaxed).saturating_sub(sent),
      first_error: c.first_error.lock().ok().and_then(|e| e.clone()),
    }
  }
}

/// The background task: batches of up to [`BATCH`] events, a partial batch [`FLUSH_AFTER`] its
/// last event, each batch sent on its own task; at the end (the channel closed) the rest goes and
/// every send is awaited.
async fn run(
  mut rx: mpsc::UnboundedReceiver<CacheUsageEvent>,
  sink: Arc<dyn EventSink>,
  timeout: Duration,
  counters: Arc<Counters>,
) {
  let mut sends = JoinSet::new();
  let mut buf: Vec<CacheUsageEvent> = Vec::new();
  let flush = |buf: &mut Vec<CacheUsageEvent>, sends: &mut JoinSet<()>| {
    if buf.is_empty() {
      return;
    }
    let batch = std::mem::take(buf);
    let (sink, counters) = (Arc::clone(&sink), Arc::clone(&counters));
    sends.spawn(async move {
      let n = batch.len() as u64;
      let r = match tokio::time::timeout(timeout, sink.send_events(&batch)).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => {
          Err(format!("sending cache usage events timed out after {} ms", timeout.as_millis()))
        }
      };
      match r {
        Ok(()) => {
          counters.sent.fetch_add(n, Ordering::Relaxed);
        }
        Err(e) => {
          if let Ok(mut f) = counters.first_error.lock() {
            f.get_or_insert(e);
          }
        }
      }
    });
  };
  loop {
    let next = if buf.is_empty() {
      rx.recv().await
    } else {
      match tokio::time::timeout(FLUSH_AFTER, rx.recv()).await {
        Ok(ev) => ev,
        Err(_) => {
          flush(&mut buf, &mut sends);
          continue;
        }
      }
    };
    let Some(ev) = next else { break };
    buf.push(ev);
    if buf.len() >= BATCH {
      flush(&mut buf, &mut sends);
    }
    // Reap finished sends as we go.
    while sends.try_join_next().is_some() {}
  }
  flush(&mut buf, &mut sends);
  while sends.join_next().await.is_some() {}
}
