//! Docker Engine API client (bollard): connection with API version negotiation, image builds with
//! a streamed Rust-made context and context-hash skipping (through the classic builder or, with a
//! gRPC session, BuildKit), inspect, tag and push.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::auth::DockerCredentials;
use bollard::models::BuildInfoAux;
use bollard::query_parameters::{
  BuildImageOptionsBuilder, BuilderVersion, PushImageOptionsBuilder, TagImageOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;

use super::context::{collect, context_hash, tar_stream};
use super::error::DockerError;
use super::ignore::IgnoreMatcher;
use super::progress::BuildKitProgress;

/// Image label holding the context hash of the build that produced the image.
pub const CONTEXT_HASH_LABEL: &str = "farm.context-hash";

/// Default Docker socket.
pub const DEFAULT_SOCKET: &str = "unix:///var/run/docker.sock";

/// Number of log lines kept for error reports.
pub const ERROR_TAIL_LINES: usize = 20;

/// Log sink: receives one complete line per call.
pub type LogFn<'a> = &'a (dyn Fn(String) + Send + Sync);

/// A connected engine with a negotiated API version.
#[derive(Debug, Clone)]
pub struct Engine {
  docker: Docker,
  endpoint: String,
}

/// Facts about a local image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
  /// Image id (`sha256:...`).
  pub id: String,
  /// Size in bytes as reported by inspect.
  pub size: u64,
  /// Image labels.
  pub labels: BTreeMap<String, String>,
}

/// An image builder: the engine's default one (from `/_ping`'s `Builder-Version` header: `1`, or
/// no header as Docker 20.10 answers, is classic; `2` is BuildKit), or the one a build uses.
pub use crate::deploy::dockerfile::BuilderKind;

/// Whether farm can build through BuildKit on this engine ([`Engine::buildkit_probe`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildKitProbe {
  /// The engine offers BuildKit builds through the Engine API (`/build?version=2` with a session).
  Available {
    /// What the decision rests on, e.g. `Docker Engine 20.10.24, API 1.41, linux`.
    engine: String,
  },
  /// It does not.
  Unavailable {
    /// Why, e.g. `API 1.38 < 1.39`.
    reason: String,
  },
}

/// The lowest Engine API version with BuildKit builds outside experimental mode (Docker 18.09).
pub const BUILDKIT_MIN_API: (u32, u32) = (1, 39);

/// Name under which a Dockerfile outside the context is put into the context archive.
pub const OUTSIDE_DOCKERFILE: &str = ".farm-dockerfile";

/// An image build request.
#[derive(Debug, Clone)]
pub struct BuildRequest {
  /// Build context root (the directory whose files the context filter selects).
  pub context_root: PathBuf,
  /// The Dockerfile. Inside the context it is sent at its path; outside (e.g.
  /// `../Dockerfile.ollama`) it is added to the archive as [`OUTSIDE_DOCKERFILE`], as the Docker
  /// CLI does.
  pub dockerfile: PathBuf,
  /// Context filter.
  pub ignore: IgnoreMatcher,
  /// Repository without tag, e.g. `farm-demo`.
  pub repository: String,
  /// Tags; the first is the primary (e.g. `[version, "latest"]`).
  pub tags: Vec<String>,
  /// Target stage, if any.
  pub target: Option<String>,
  /// Extra image labels.
  pub labels: BTreeMap<String, String>,
  /// Rebuild even when the context hash matches, without the layer cache.
  pub no_cache: bool,
  /// The builder to build with. BuildKit builds run without network (`networkmode=none`): their
  /// Dockerfiles must need none (and have no `# syntax=` line: no frontend image is pulled).
  pub builder: BuilderKind,
}

/// Result of [`Engine::build`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
  /// Repository.
  pub repository: String,
  /// Tags applied.
  pub tags: Vec<String>,
  /// Image id.
  pub id: String,
  /// Size from inspect, in bytes.
  pub size: u64,
  /// Context hash (also the `farm.context-hash` label).
  pub context_hash: String,
  /// True when the build was skipped because the image with the same hash exists.
  pub skipped: bool,
}

/// Registry credentials (read from environment variables by the caller).
#[derive(Clone)]
pub struct RegistryAuth {
  /// Registry host[:port].
  pub server: String,
  /// User name.
  pub username: String,
  /// Password or token.
  pub password: String,
  /// Env var the user name came from (for error messages).
  pub username_env: String,
  /// Env var the password came from (for error messages).
  pub password_env: String,
}

impl std::fmt::Debug for RegistryAuth {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    f.debug_struct("RegistryAuth")
      .field("server", &self.server)
      .field("username_env", &self.username_env)
      .field("password_env", &self.password_env)
      .finish_non_exhaustive()
  }
}

impl RegistryAuth {
  /// Reads the user name and password from the named environment variables.
  pub fn from_env(
    server: &str,
    username_env: &str,
    password_env: &str,
  ) -> Result<Self, DockerError> {
    let get = |var: &str, what: &'static str| {
      std::env::var(var).ok().filter(|v| !v.is_empty()).ok_or_else(|| {
        DockerError::MissingCredential { var: var.to_string(), what, registry: server.to_string() }
      })
    };
    Ok(RegistryAuth {
      server: server.to_string(),
      username: get(username_env, "user name")?,
      password: get(password_env, "password")?,
      username_env: username_env.to_string(),
      password_env: password_env.to_string(),
    })
  }
}

/// Splits a stream of text chunks into lines (chunks can end mid-line).
#[derive(Debug, Default)]
pub struct LineJoiner {
  partial: String,
}

impl LineJoiner {
  /// Feeds a chunk; returns the complete lines it finished (without line endings).
  pub fn push(&mut self, chunk: &str) -> Vec<String> {
    self.partial.push_str(chunk);
    let mut lines = Vec::new();
    while let Some(i) = self.partial.find('\n') {
      let line: String = self.partial.drain(..=i).collect();
      lines.push(strip_ansi(line.trim_end_matches(['\n', '\r'])));
    }
    lines
  }

  /// The unfinished last line, if any.
  pub fn finish(&mut self) -> Option<String> {
    let rest = std::mem::take(&mut self.partial);
    let rest = rest.trim_end_matches('\r');
    (!rest.is_empty()).then(|| strip_ansi(rest))
  }
}

/// Removes ANSI escape sequences (the classic builder colours RUN stderr with `ESC[91m`).
pub fn strip_ansi(s: &str) -> String {
  let mut out = String::with_capacity(s.len());
  let mut chars = s.chars().peekable();
  while let Some(c) = chars.next() {
    if c == '\u{1b}' {
      if chars.peek() == Some(&'[') {
        chars.next();
        // CSI: parameters and intermediates up to a final byte in '@'..='~'.
        for n in chars.by_ref() {
          if ('@'..='~').contains(&n) {
            break;
          }
        }
      }
      continue;
    }
    out.push(c);
  }
  out
}

/// Tracks the current build step and the last log lines for error reports.
#[derive(Debug, Default)]
pub struct BuildLog {
  /// Last `Step N/M : ...` line.
  pub step: Option<String>,
  /// Last [`ERROR_TAIL_LINES`] lines.
  pub tail: VecDeque<String>,
}

impl BuildLog {
  /// Records a line.
  pub fn record(&mut self, line: &str) {
    let t = line.trim_start();
    if t.starts_with("Step ") && t.contains(" : ") {
      self.step = Some(t.to_string());
    }
    if self.tail.len() == ERROR_TAIL_LINES {
      self.tail.pop_front();
    }
    self.tail.push_back(line.to_string());
  }
}

/// [`BuilderKind`] from the header block of a `/_ping` response.
pub fn builder_kind_from_headers(head: &str) -> BuilderKind {
  let version = head.lines().find_map(|l| {
    let (k, v) = l.split_once(':')?;
    k.trim().eq_ignore_ascii_case("builder-version").then(|| v.trim().to_string())
  });
  match version.as_deref() {
    Some("2") => BuilderKind::BuildKit,
    _ => BuilderKind::Classic,
  }
}

/// `FROM` images of a Dockerfile that are not earlier stage names (for hashing base image ids).
pub fn base_images(dockerfile: &str) -> Vec<String> {
  let mut stages: Vec<String> = Vec::new();
  let mut images = Vec::new();
  for line in dockerfile.lines() {
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.first().is_none_or(|w| !w.eq_ignore_ascii_case("FROM")) {
      continue;
    }
    let args: Vec<&str> = words[1..].iter().copied().filter(|w| !w.starts_with("--")).collect();
    let Some(image) = args.first() else { continue };
    if !stages.iter().any(|s| s.eq_ignore_ascii_case(image))
      && !image.eq_ignore_ascii_case("scratch")
    {
      images.push(image.to_string());
    }
    if args.len() >= 3 && args[1].eq_ignore_ascii_case("AS") {
      stages.push(args[2].to_string());
    }
  }
  images.dedup();
  images
}

/// [`BuildKitProbe`] from the negotiated API version and the engine's `GET /version` answer.
pub fn buildkit_probe_of(api: (u32, u32), v: &bollard::models::SystemVersion) -> BuildKitProbe {
  let os = v.os.clone().unwrap_or_default();
  let product = v
    .components
    .iter()
    .flatten()
    .map(|c| c.name.clone())
    .find(|n| n.contains("Engine"))
    .unwrap_or_else(|| v.platform.as_ref().map(|p| p.name.clone()).unwrap_or_default());
  let version = v.version.clone().unwrap_or_default();
  let unavailable = |reason: String| BuildKitProbe::Unavailable { reason };
  if api < BUILDKIT_MIN_API {
    return unavailable(format!(
      "Engine API {}.{} < {}.{} (BuildKit builds need Docker 18.09 or newer)",
      api.0, api.1, BUILDKIT_MIN_API.0, BUILDKIT_MIN_API.1
    ));
  }
  if !os.eq_ignore_ascii_case("linux") {
    return unavailable(format!("the engine runs on {os:?}, not Linux"));
  }
  if product.to_ascii_lowercase().contains("podman") {
    return unavailable(format!("{product} {version} has no BuildKit session endpoint"));
  }
  BuildKitProbe::Available {
    engine: format!(
      "{} {version}, API {}.{}, {os}",
      if product.is_empty() { "engine" } else { &product },
      api.0,
      api.1
    ),
  }
}

fn unavailable(endpoint: &str, reason: impl Into<String>) -> DockerError {
  DockerError::Unavailable { endpoint: endpoint.to_string(), reason: reason.into() }
}

fn engine_err(call: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> DockerError {
  let call = call.into();
  move |e| DockerError::Engine { call, message: e.to_string() }
}

fn is_auth_message(m: &str) -> bool {
  let l = m.to_ascii_lowercase();
  ["unauthorized", "authentication required", "no basic auth credentials", "denied", "401", "403"]
    .iter()
    .any(|k| l.contains(k))
}

impl Engine {
  /// Connects to `host` (or `$DOCKER_HOST`, or the default socket) and negotiates the API
  /// version with the daemon (bollard defaults to a newer API than e.g. Debian's engine 20.10,
  /// which speaks 1.41). Fails with `DOCKER_UNAVAILABLE` when nothing answers within 10 s.
  pub async fn connect(host: Option<&str>) -> Result<Engine, DockerError> {
    let endpoint = host
      .map(String::from)
      .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()))
      .unwrap_or_else(|| DEFAULT_SOCKET.to_string());
    // Long per-request timeout: builds and pushes stream for minutes.
    const REQUEST_TIMEOUT_SECS: u64 = 3600;
    let docker = if let Some(path) = endpoint.strip_prefix("unix://") {
      if !Path::new(path).exists() {
        return Err(unavailable(&endpoint, format!("socket {path} does not exist")));
      }
      Docker::connect_with_unix(path, REQUEST_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
    } else if endpoint.starts_with("tcp://") || endpoint.starts_with("http://") {
      Docker::connect_with_http(&endpoint, REQUEST_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
    } else {
      return Err(unavailable(&endpoint, "unsupported endpoint (use unix:// or tcp://)"));
    }
    .map_err(|e| unavailable(&endpoint, e.to_string()))?;
    let docker = tokio::time::timeout(Duration::from_secs(10), docker.negotiate_version())
      .await
      .map_err(|_| unavailable(&endpoint, "no answer within 10 s"))?
      .map_err(|e| unavailable(&endpoint, e.to_string()))?;
    // A versioned call proves the negotiated version works (GET /version is unversioned).
    tokio::time::timeout(Duration::from_secs(10), docker.ping())
      .await
      .map_err(|_| unavailable(&endpoint, "ping timed out"))?
      .map_err(|e| unavailable(&endpoint, e.to_string()))?;
    Ok(Engine { docker, endpoint })
  }

  /// The endpoint in use.
  pub fn endpoint(&self) -> &str {
    &self.endpoint
  }

  /// Negotiated API version, e.g. `1.41`.
  pub fn api_version(&self) -> String {
    let v = self.docker.client_version();
    format!("{}.{}", v.major_version, v.minor_version)
  }

  /// The underlying bollard client.
  pub fn client(&self) -> &Docker {
    &self.docker
  }

  /// The engine's default image builder, read from the `Builder-Version` header of `GET /_ping`
  /// (bollard's `ping` returns only the body, so this one request is made on the socket directly).
  pub async fn builder_kind(&self) -> Result<BuilderKind, DockerError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fail = |m: String| DockerError::Engine { call: "GET /_ping".into(), message: m };
    let request = b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";
    let mut response = Vec::new();
    let io = async {
      if let Some(path) = self.endpoint.strip_prefix("unix://") {
        let mut s = tokio::net::UnixStream::connect(path).await?;
        s.write_all(request).await?;
        s.read_to_end(&mut response).await?;
      } else {
        let addr = self
          .endpoint
          .trim_start_matches("tcp://")
          .trim_start_matches("http://")
          .trim_end_matches('/')
          .to_string();
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(request).await?;
        s.read_to_end(&mut response).await?;
      }
      Ok::<_, std::io::Error>(())
    };
    tokio::time::timeout(Duration::from_secs(10), io)
      .await
      .map_err(|_| fail("no answer within 10 s".into()))?
      .map_err(|e| fail(e.to_string()))?;
    let text = String::from_utf8_lossy(&response);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    Ok(builder_kind_from_headers(head))
  }

  /// Whether farm can build through BuildKit here, from `GET /version` (one call): the negotiated
  /// API must be >= [`BUILDKIT_MIN_API`] and the daemon a Linux Docker Engine (Windows daemons
  /// and Podman's Docker-compatible API have no BuildKit session endpoint). The build itself is
  /// the final proof: a BuildKit build that fails before its first step is reported as
  /// [`DockerError::BuildKitUnavailable`] (see [`Engine::build`]).
  pub async fn buildkit_probe(&self) -> Result<BuildKitProbe, DockerError> {
    let v = tokio::time::timeout(Duration::from_secs(10), self.docker.version())
      .await
      .map_err(|_| DockerError::Engine {
        call: "GET /version".into(),
        message: "no answer within 10 s".into(),
      })?
      .map_err(engine_err("GET /version"))?;
    let client = self.docker.client_version();
    Ok(buildkit_probe_of((client.major_version as u32, client.minor_version as u32), &v))
  }

  /// The `created_by` line of every layer of `reference` (`docker history --no-trunc`).
  pub async fn history(&self, reference: &str) -> Result<Vec<String>, DockerError> {
    let items = self
      .docker
      .image_history(reference)
      .await
      .map_err(engine_err(format!("image_history {reference}")))?;
    Ok(items.into_iter().map(|i| i.created_by).collect())
  }

  /// Inspects an image; `Ok(None)` when it does not exist.
  pub async fn image(&self, reference: &str) -> Result<Option<ImageInfo>, DockerError> {
    match self.docker.inspect_image(reference).await {
      Ok(img) => Ok(Some(ImageInfo {
        id: img.id.unwrap_or_default(),
        size: img.size.unwrap_or(0).max(0) as u64,
        labels: img.config.and_then(|c| c.labels).unwrap_or_default().into_iter().collect(),
      })),
      Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
      Err(e) => Err(engine_err(format!("inspect_image {reference}"))(e)),
    }
  }

  /// Tags `source` as `repository:tag`.
  pub async fn tag(&self, source: &str, repository: &str, tag: &str) -> Result<(), DockerError> {
    let opts = TagImageOptionsBuilder::default().repo(repository).tag(tag).build();
    self
      .docker
      .tag_image(source, Some(opts))
      .await
      .map_err(engine_err(format!("tag_image {source} {repository}:{tag}")))
  }

  /// Builds an image with `req.builder` unless an image tagged `repository:tags[0]` carries the
  /// same context hash (files kept by `.dockerignore`, the Dockerfile, the target, the builder and
  /// the ids of the local base images). Log lines go to `log` (BuildKit's status messages decoded
  /// by [`BuildKitProgress`]); a failure names the failing step and its last lines. A BuildKit
  /// build the engine refuses before its first step is [`DockerError::BuildKitUnavailable`].
  pub async fn build(&self, req: &BuildRequest, log: LogFn<'_>) -> Result<BuiltImage, DockerError> {
    let primary_tag = req.tags.first().cloned().unwrap_or_else(|| "latest".to_string());
    let primary = format!("{}:{}", req.repository, primary_tag);
    let dockerfile_path = req.dockerfile.clone();
    let dockerfile = tokio::fs::read(&dockerfile_path)
      .await
      .map_err(|source| DockerError::Context { path: dockerfile_path.clone(), source })?;
    let inside = dockerfile_path
      .strip_prefix(&req.context_root)
      .ok()
      .and_then(|p| p.to_str())
      .map(|p| p.replace('\\', "/"))
      .filter(|p| !p.is_empty() && !p.split('/').any(|c| c == ".."));
    let dockerfile_rel = inside.clone().unwrap_or_else(|| OUTSIDE_DOCKERFILE.to_string());

    // The builder is part of the hash: the same files built by the other builder are another image.
    let mut extra = vec![
      format!("target={}", req.target.as_deref().unwrap_or("")),
      format!("builder={}", req.builder.as_str()),
    ];
    for (k, v) in &req.labels {
      extra.push(format!("label={k}={v}"));
    }
    for base in base_images(&String::from_utf8_lossy(&dockerfile)) {
      let id = self.image(&base).await?.map_or_else(|| "absent".to_string(), |i| i.id);
      extra.push(format!("base={base}@{id}"));
    }
    let root = req.context_root.clone();
    let ignore = req.ignore.clone();
    let outside = inside.is_none().then(|| dockerfile_path.clone());
    let df_force = inside.clone();
    let (entries, hash) = tokio::task::spawn_blocking(move || {
      let force: Vec<&str> = df_force.iter().map(String::as_str).collect();
      let mut entries = collect(&root, &ignore, &force)?;
      if let Some(path) = outside {
        entries.retain(|e| e.rel != OUTSIDE_DOCKERFILE);
        entries.push(super::context::external_file(&path, OUTSIDE_DOCKERFILE)?);
        entries.sort_by(|a, b| a.rel.cmp(&b.rel));
      }
      let hash = context_hash(&root, &entries, &dockerfile, &extra)?;
      Ok::<_, DockerError>((entries, hash))
    })
    .await
    .map_err(|e| DockerError::Engine {
      call: "context hashing task".into(),
      message: e.to_string(),
    })??;

    if !req.no_cache {
      if let Some(existing) = self.image(&primary).await? {
        if existing.labels.get(CONTEXT_HASH_LABEL) == Some(&hash) {
          log(format!("{primary}: context unchanged (hash {hash}), image build skipped"));
          for t in req.tags.iter().skip(1) {
            self.tag(&primary, &req.repository, t).await?;
          }
          return Ok(BuiltImage {
            repository: req.repository.clone(),
            tags: req.tags.clone(),
            id: existing.id,
            size: existing.size,
            context_hash: hash,
            skipped: true,
          });
        }
      }
    }

    log(format!(
      "{primary}: building ({} context entries, hash {hash}) on {}",
      entries.len(),
      self.endpoint
    ));
    let mut labels: HashMap<String, String> = req.labels.clone().into_iter().collect();
    labels.insert(CONTEXT_HASH_LABEL.to_string(), hash.clone());
    let mut opts = BuildImageOptionsBuilder::default()
      .dockerfile(&dockerfile_rel)
      .t(&primary)
      .rm(true)
      .forcerm(true)
      .nocache(req.no_cache)
      .labels(&labels);
    if let Some(t) = &req.target {
      opts = opts.target(t);
    }
    let session = format!(
      "farm-{}-{}",
      std::process::id(),
      std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
    );
    if req.builder == BuilderKind::BuildKit {
      // The session carries nothing but the build (no secrets, no SSH, no registry auth); the
      // steps get no network: what the image needs is in the context.
      opts = opts.version(BuilderVersion::BuilderBuildKit).session(&session).networkmode("none");
    }
    let body = bollard::body_try_stream(tar_stream(req.context_root.clone(), entries));
    let mut stream = self.docker.build_image(opts.build(), None, Some(body));
    let mut joiner = LineJoiner::default();
    let mut blog = BuildLog::default();
    let mut progress = BuildKitProgress::default();
    let emit = |line: String, blog: &mut BuildLog| {
      blog.record(&line);
      log(line);
    };
    while let Some(item) = stream.next().await {
      match item {
        Ok(info) => {
          if let Some(chunk) = info.stream {
            for line in joiner.push(&chunk) {
              emit(line, &mut blog);
            }
          }
          if let Some(status) = info.status {
            let line = match info.id {
              Some(id) => format!("{id}: {status}"),
              None => status,
            };
            emit(line, &mut blog);
          }
          if let Some(BuildInfoAux::BuildKit(status)) = &info.aux {
            for line in progress.feed(status) {
              emit(line, &mut blog);
            }
          }
        }
        Err(e) => {
          if let Some(rest) = joiner.finish() {
            emit(rest, &mut blog);
          }
          for line in progress.finish() {
            emit(line, &mut blog);
          }
          let message = match e {
            bollard::errors::Error::DockerStreamError { error } => error,
            bollard::errors::Error::DockerResponseServerError { status_code, message } => {
              format!("{message} (HTTP {status_code})")
            }
            other => {
              // The body stream's own error (e.g. an unreadable context file) is in the chain.
              let mut m = other.to_string();
              let mut src = std::error::Error::source(&other);
              while let Some(e) = src {
                m.push_str(&format!(": {e}"));
                src = e.source();
              }
              m
            }
          };
          let message = message.trim().to_string();
          if req.builder == BuilderKind::BuildKit {
            // Nothing ran: the engine did not take the BuildKit build at all.
            if progress.vertices() == 0 {
              return Err(DockerError::BuildKitUnavailable {
                endpoint: self.endpoint.clone(),
                message,
              });
            }
            if let Some(failed) = progress.failure() {
              return Err(DockerError::BuildFailed {
                image: primary,
                step: failed.step,
                message,
                last_lines: failed.last_lines,
              });
            }
          }
          return Err(DockerError::BuildFailed {
            image: primary,
            step: blog.step.unwrap_or_else(|| "(before the first step)".to_string()),
            message,
            last_lines: blog.tail.into_iter().collect(),
          });
        }
      }
    }
    if let Some(rest) = joiner.finish() {
      emit(rest, &mut blog);
    }
    for line in progress.finish() {
      emit(line, &mut blog);
    }
    for t in req.tags.iter().skip(1) {
      self.tag(&primary, &req.repository, t).await?;
    }
    let info = self.image(&primary).await?.ok_or_else(|| DockerError::BuildFailed {
      image: primary.clone(),
      step: blog.step.clone().unwrap_or_default(),
      message: "the build finished but the image does not exist".into(),
      last_lines: blog.tail.iter().cloned().collect(),
    })?;
    Ok(BuiltImage {
      repository: req.repository.clone(),
      tags: req.tags.clone(),
      id: info.id,
      size: info.size,
      context_hash: hash,
      skipped: false,
    })
  }

  /// Pushes `repository:tag` (already tagged with the registry prefix) with `X-Registry-Auth`
  /// credentials (an empty auth object when `auth` is `None`, as API 1.41 requires the header).
  /// Returns the pushed digest when the engine reports one.
  pub async fn push(
    &self,
    repository: &str,
    tag: &str,
    auth: Option<&RegistryAuth>,
    log: LogFn<'_>,
  ) -> Result<Option<String>, DockerError> {
    let image = format!("{repository}:{tag}");
    let creds = auth.map(|a| DockerCredentials {
      username: Some(a.username.clone()),
      password: Some(a.password.clone()),
      serveraddress: Some(a.server.clone()),
      ..Default::default()
    });
    let opts = PushImageOptionsBuilder::default().tag(tag).build();
    let mut stream = self.docker.push_image(repository, Some(opts), creds);
    let mut digest = None;
    let fail = |message: String| match auth {
      Some(a) if is_auth_message(&message) => DockerError::RegistryAuth {
        registry: a.server.clone(),
        username_env: a.username_env.clone(),
        password_env: a.password_env.clone(),
        message,
      },
      _ => DockerError::PushFailed { image: image.clone(), message },
    };
    while let Some(item) = stream.next().await {
      match item {
        Ok(info) => {
          if let Some(status) = info.status {
            if let Some(d) = status.split_whitespace().skip_while(|w| *w != "digest:").nth(1) {
              digest = Some(d.to_string());
            }
            let progress = info
              .progress_detail
              .and_then(|p| Some(format!(" {}/{}", p.current?, p.total?)))
              .unwrap_or_default();
            log(format!("{image}: {status}{progress}"));
          }
        }
        Err(bollard::errors::Error::DockerStreamError { error }) => return Err(fail(error)),
        Err(bollard::errors::Error::DockerResponseServerError { status_code, message }) => {
          return Err(fail(format!("{message} (HTTP {status_code})")))
        }
        Err(e) => return Err(fail(e.to_string())),
      }
    }
    Ok(digest)
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn joins_split_chunks_into_lines() {
    let mut j = LineJoiner::default();
    assert!(j.push("Step 1/3 : FR").is_empty());
    assert_eq!(j.push("OM x\n ---> abc\r\npart"), vec!["Step 1/3 : FROM x", " ---> abc"]);
    assert_eq!(j.push("ial\n"), vec!["partial"]);
    assert!(j.push("tail").is_empty());
    assert_eq!(j.finish().as_deref(), Some("tail"));
    assert_eq!(j.finish(), None);
    assert_eq!(
      j.push("\u{1b}[91mto stderr\n\u{1b}[0mRemoving x\n"),
      vec!["to stderr", "Removing x"]
    );
  }

  #[test]
  fn build_log_keeps_step_and_tail() {
    let mut b = BuildLog::default();
    b.record("Step 1/2 : FROM a");
    for i in 0..30 {
      b.record(&format!("line {i}"));
    }
    b.record("Step 2/2 : RUN false");
    assert_eq!(b.step.as_deref(), Some("Step 2/2 : RUN false"));
    assert_eq!(b.tail.len(), ERROR_TAIL_LINES);
    assert_eq!(b.tail.back().map(String::as_str), Some("Step 2/2 : RUN false"));
  }

  #[test]
  fn base_images_skip_stages_and_scratch() {
    let df = "FROM --platform=linux/amd64 node:20-slim AS web\nFROM python:3.11-slim as build\nFROM build AS final\nFROM scratch\nfrom web\n";
    assert_eq!(base_images(df), vec!["node:20-slim", "python:3.11-slim"]);
  }

  #[test]
  fn builder_kind_from_ping_headers() {
    assert_eq!(
      builder_kind_from_headers("HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nBuilder-Version: 2"),
      BuilderKind::BuildKit
    );
    assert_eq!(
      builder_kind_from_headers("HTTP/1.1 200 OK\r\nbuilder-version: 1"),
      BuilderKind::Classic
    );
    assert_eq!(
      builder_kind_from_headers("HTTP/1.1 200 OK\r\nApi-Version: 1.41"),
      BuilderKind::Classic
    );
  }

  #[test]
  fn buildkit_probe_needs_api_1_39_on_linux_and_not_podman() {
    use bollard::models::{SystemVersion, SystemVersionComponents};
    let version = |name: &str, os: &str| SystemVersion {
      components: Some(vec![SystemVersionComponents {
        name: name.into(),
        version: "20.10.24".into(),
        details: None,
      }]),
      version: Some("20.10.24".into()),
      os: Some(os.into()),
      ..Default::default()
    };
    assert_eq!(
      buildkit_probe_of((1, 41), &version("Engine", "linux")),
      BuildKitProbe::Available { engine: "Engine 20.10.24, API 1.41, linux".into() }
    );
    let reason = |p: BuildKitProbe| match p {
      BuildKitProbe::Unavailable { reason } => reason,
      other => panic!("{other:?}"),
    };
    assert!(reason(buildkit_probe_of((1, 38), &version("Engine", "linux"))).contains("1.38 < 1.39"));
    assert!(reason(buildkit_probe_of((1, 41), &version("Engine", "windows"))).contains("not Linux"));
    assert!(reason(buildkit_probe_of((1, 41), &version("Podman Engine", "linux")))
      .contains("Podman Engine 20.10.24 has no BuildKit"));
  }

  #[test]
  fn auth_messages() {
    assert!(is_auth_message("unauthorized: authentication required"));
    assert!(is_auth_message("no basic auth credentials"));
    assert!(!is_auth_message("connection refused"));
  }

  #[test]
  fn credentials_from_env() {
    let err = RegistryAuth::from_env("r:1", "FARM_TEST_SURELY_UNSET_USER_VAR", "X").unwrap_err();
    assert_eq!(err.code(), "DOCKER_MISSING_CREDENTIAL");
    assert!(err.to_string().contains("FARM_TEST_SURELY_UNSET_USER_VAR"));
  }

  #[tokio::test]
  async fn missing_socket_is_docker_unavailable() {
    let err = Engine::connect(Some("unix:///nonexistent/docker.sock")).await.unwrap_err();
    assert_eq!(err.code(), "DOCKER_UNAVAILABLE");
    let msg = err.to_string();
    assert!(msg.contains("/nonexistent/docker.sock") && msg.contains("dockerd"), "{msg}");
  }

  #[tokio::test]
  async fn dead_socket_is_docker_unavailable() {
    // A socket file nobody accepts on.
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("docker.sock");
    let l = std::os::unix::net::UnixListener::bind(&p).unwrap();
    drop(l);
    let err = Engine::connect(Some(&format!("unix://{}", p.display()))).await.unwrap_err();
    assert_eq!(err.code(), "DOCKER_UNAVAILABLE", "{err}");
  }
}
