//! BuildKit build progress: the `aux` messages of a BuildKit build (decoded `StatusResponse`
//! protobufs: vertices, their logs, warnings) turned into plain log lines in the style of
//! `docker buildx build --progress=plain` (`#3 [python-deps 4/5] RUN …`, `#3 0.51 output`,
//! `#3 DONE 2.1s`), with the failing vertex and its last output kept for the error report.

use std::collections::{HashMap, VecDeque};

use bollard::moby::buildkit::v1::StatusResponse;

use super::engine::{LineJoiner, ERROR_TAIL_LINES};

/// What is known about one vertex (a build step) so far.
#[derive(Debug, Default)]
struct VertexState {
  number: usize,
  name: String,
  announced: bool,
  finished: bool,
  output: LineJoiner,
  tail: VecDeque<String>,
}

impl VertexState {
  fn keep(&mut self, line: &str) {
    if self.tail.len() == ERROR_TAIL_LINES {
      self.tail.pop_front();
    }
    self.tail.push_back(line.to_string());
  }
}

/// The failing step of a BuildKit build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedVertex {
  /// `#7 [python-deps 4/5] RUN …`.
  pub step: String,
  /// BuildKit's error for the vertex.
  pub error: String,
  /// The vertex's last output lines.
  pub last_lines: Vec<String>,
}

/// Accumulates the status messages of one BuildKit build.
#[derive(Debug, Default)]
pub struct BuildKitProgress {
  vertices: HashMap<String, VertexState>,
  failed: Option<String>,
  last_started: Option<String>,
}

/// Seconds of an optional protobuf `Timestamp` (its type is not re-exported by bollard).
macro_rules! seconds {
  ($ts:expr) => {
    $ts.as_ref().map(|t| t.seconds as f64 + f64::from(t.nanos) / 1e9)
  };
}

impl BuildKitProgress {
  /// Number of vertices reported so far (0: the build never started on the engine's side).
  pub fn vertices(&self) -> usize {
    self.vertices.len()
  }

  /// Feeds one status message; returns the log lines it produced.
  pub fn feed(&mut self, status: &StatusResponse) -> Vec<String> {
    let mut lines = Vec::new();
    for v in &status.vertexes {
      let next = self.vertices.len() + 1;
      let state = self.vertices.entry(v.digest.clone()).or_insert_with(|| VertexState {
        number: next,
        name: v.name.clone(),
        ..Default::default()
      });
      let n = state.number;
      if !state.announced && (v.started.is_some() || v.cached) {
        state.announced = true;
        lines.push(format!("#{n} {}", state.name));
        self.last_started = Some(v.digest.clone());
      }
      if state.finished {
        continue;
      }
      if v.cached {
        state.finished = true;
        lines.push(format!("#{n} CACHED"));
      } else if !v.error.is_empty() {
        state.finished = true;
        let line = format!("#{n} ERROR: {}", v.error);
        state.keep(&line);
        lines.push(line);
        self.failed.get_or_insert_with(|| v.digest.clone());
      } else if v.completed.is_some() {
        state.finished = true;
        let took = seconds!(v.completed).zip(seconds!(v.started)).map(|(c, s)| (c - s).max(0.0));
        lines.push(match took {
          Some(t) => format!("#{n} DONE {t:.1}s"),
          None => format!("#{n} DONE"),
        });
      }
    }
    for l in &status.logs {
      let Some(state) = self.vertices.get_mut(&l.vertex) else { continue };
      let n = state.number;
      for line in state.output.push(&String::from_utf8_lossy(&l.msg)) {
        state.keep(&line);
        lines.push(format!("#{n} {line}"));
      }
    }
    for w in &status.warnings {
      let n = self.vertices.get(&w.vertex).map_or(0, |s| s.number);
      lines.push(format!("#{n} WARNING: {}", String::from_utf8_lossy(&w.short).trim_end()));
    }
    lines
  }

  /// Flushes unfinished output lines (call once the stream ended).
  pub fn finish(&mut self) -> Vec<String> {
    let mut lines = Vec::new();
    let mut states: Vec<&mut VertexState> = self.vertices.values_mut().collect();
    states.sort_by_key(|s| s.number);
    for state in states {
      if let Some(rest) = state.output.finish() {
        state.keep(&rest);
        lines.push(format!("#{} {rest}", state.number));
      }
    }
    lines
  }

  /// The failing vertex (the first one with an error, else the last one started) with its last
  /// output lines, `None` before any vertex was reported.
  pub fn failure(&self) -> Option<FailedVertex> {
    let digest = self.failed.as_ref().or(self.last_started.as_ref())?;
    let state = self.vertices.get(digest)?;
    let error = state
      .tail
      .iter()
      .rev()
      .find_map(|l| l.strip_prefix(&format!("#{} ERROR: ", state.number)))
      .unwrap_or_default()
      .to_string();
    Some(FailedVertex {
      step: format!("#{} {}", state.number, state.name),
      error,
      last_lines: state.tail.iter().cloned().collect(),
    })
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use bollard::moby::buildkit::v1::{Vertex, VertexLog, VertexWarning};

  /// Sets an optional protobuf `Timestamp` field.
  macro_rules! at {
    ($field:expr, $s:expr, $nanos:expr) => {{
      let mut t = $field.take().unwrap_or_default();
      t.seconds = $s;
      t.nanos = $nanos;
      $field = Some(t);
    }};
  }

  fn vertex(digest: &str, name: &str) -> Vertex {
    Vertex { digest: digest.into(), name: name.into(), ..Default::default() }
  }

  fn log(digest: &str, msg: &str) -> VertexLog {
    VertexLog { vertex: digest.into(), msg: msg.as_bytes().to_vec(), ..Default::default() }
  }

  #[test]
  fn numbers_vertices_and_joins_their_output() {
    let mut p = BuildKitProgress::default();
    let run = "[python-deps 4/5] RUN --mount=type=cache,target=/root/.cache/pip pip install";
    let mut a = vertex("sha256:a", "[internal] load build definition from Dockerfile");
    at!(a.started, 10, 0);
    let mut b = vertex("sha256:b", run);
    // Seen before it starts: no line yet, but it keeps its number.
    assert_eq!(
      p.feed(&StatusResponse { vertexes: vec![a.clone(), b.clone()], ..Default::default() }),
      ["#1 [internal] load build definition from Dockerfile"]
    );
    at!(a.completed, 10, 500_000_000);
    at!(b.started, 11, 0);
    let lines = p.feed(&StatusResponse {
      vertexes: vec![a.clone(), b.clone()],
      logs: vec![
        log("sha256:b", "Processing ./wheels/fastapi-0.1.whl\nInstall"),
        log("sha256:b", "ing collected\n"),
      ],
      ..Default::default()
    });
    assert_eq!(
      lines,
      [
        "#1 DONE 0.5s".to_string(),
        format!("#2 {run}"),
        "#2 Processing ./wheels/fastapi-0.1.whl".into(),
        "#2 Installing collected".into()
      ]
    );
    // Repeated messages about a finished vertex add nothing.
    assert!(p.feed(&StatusResponse { vertexes: vec![a], ..Default::default() }).is_empty());
    let mut c = vertex("sha256:c", "[production 2/6] COPY --from=python-deps /opt/venv /opt/venv");
    c.cached = true;
    at!(c.started, 12, 0);
    let w =
      VertexWarning { vertex: "sha256:c".into(), short: b"odd\n".to_vec(), ..Default::default() };
    let lines =
      p.feed(&StatusResponse { vertexes: vec![c], warnings: vec![w], ..Default::default() });
    assert_eq!(
      lines,
      [
        "#3 [production 2/6] COPY --from=python-deps /opt/venv /opt/venv",
        "#3 CACHED",
        "#3 WARNING: odd"
      ]
    );
    assert_eq!(p.vertices(), 3);
  }

  #[test]
  fn the_failing_vertex_keeps_its_output_and_error() {
    let mut p = BuildKitProgress::default();
    let mut ok = vertex("sha256:ok", "[2/3] RUN echo fine");
    at!(ok.started, 1, 0);
    at!(ok.completed, 2, 0);
    let mut bad = vertex("sha256:bad", "[3/3] RUN exit 3");
    at!(bad.started, 2, 0);
    p.feed(&StatusResponse {
      vertexes: vec![ok, bad.clone()],
      logs: vec![
        log("sha256:ok", "fine\n"),
        log("sha256:bad", "marker-1\nmarker-2 without newline"),
      ],
      ..Default::default()
    });
    at!(bad.completed, 3, 0);
    bad.error = "process \"/bin/sh -c exit 3\" did not complete successfully: exit code: 3".into();
    let lines = p.feed(&StatusResponse { vertexes: vec![bad], ..Default::default() });
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with("#2 ERROR: process"), "{lines:?}");
    assert_eq!(p.finish(), ["#2 marker-2 without newline"]);
    let f = p.failure().unwrap();
    assert_eq!(f.step, "#2 [3/3] RUN exit 3");
    assert!(f.error.ends_with("exit code: 3"), "{f:?}");
    assert_eq!(f.last_lines[0], "marker-1");
    assert!(f.last_lines.iter().any(|l| l == "marker-2 without newline"), "{f:?}");
    assert!(!f.last_lines.iter().any(|l| l == "fine"), "only the failing step's output: {f:?}");
    assert_eq!(BuildKitProgress::default().failure(), None);
  }
}
