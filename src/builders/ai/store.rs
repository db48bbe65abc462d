//! Ollama's on-disk model store, read without the server.
//!
//! Layout (`$OLLAMA_MODELS`, default `~/.ollama/models`):
//! `manifests/<host>/<namespace>/<model>/<tag>` (a Docker v2 manifest) →
//! `blobs/sha256-<64 hex>` (content-addressed layers). The manifest digest that `/api/tags`
//! reports is the sha256 of the manifest file's bytes.
//!
//! [`export_model`] copies (hardlinks where possible) a model's weights, template, params,
//! system prompt, messages and licenses into one directory with a `Modelfile`, verifying every
//! blob's sha256 against its name.

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fsutil::{copy_hashing, hardlink_atomic, sha256_file, sha256_hex, write_atomic};

/// Ollama's default registry host (`types/model/name.go`).
pub const DEFAULT_HOST: &str = "registry.ollama.ai";
/// Ollama's default namespace.
pub const DEFAULT_NAMESPACE: &str = "library";
/// Ollama's default tag.
pub const DEFAULT_TAG: &str = "latest";

/// Layer media types used by Ollama.
pub mod media {
  /// Docker v2 manifest.
  pub const MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
  /// Model config blob.
  pub const CONFIG: &str = "application/vnd.docker.container.image.v1+json";
  /// GGUF weights.
  pub const MODEL: &str = "application/vnd.ollama.image.model";
  /// Prompt template.
  pub const TEMPLATE: &str = "application/vnd.ollama.image.template";
  /// Parameters (JSON object).
  pub const PARAMS: &str = "application/vnd.ollama.image.params";
  /// System prompt.
  pub const SYSTEM: &str = "application/vnd.ollama.image.system";
  /// License text.
  pub const LICENSE: &str = "application/vnd.ollama.image.license";
  /// LoRA adapter (GGUF).
  pub const ADAPTER: &str = "application/vnd.ollama.image.adapter";
  /// Multimodal projector (GGUF).
  pub const PROJECTOR: &str = "application/vnd.ollama.image.projector";
  /// Seed messages (JSON array of `{role, content}`).
  pub const MESSAGES: &str = "application/vnd.ollama.image.messages";
}

/// The 4-byte magic at the start of every GGUF file.
pub const GGUF_MAGIC: &[u8; 4] = b"GGUF";

/// Largest text layer (template, params, license, ...) read into memory.
const MAX_TEXT_LAYER: u64 = 16 << 20;

/// Errors from reading or exporting the store. Every variant names the file or model.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
  /// A model name that Ollama would not accept (or that would escape the store).
  #[error("invalid Ollama model name `{name}`: {reason}")]
  InvalidName {
    /// The name as given.
    name: String,
    /// What is wrong.
    reason: String,
  },
  /// Neither `OLLAMA_MODELS` nor `HOME` is set and no directory was given.
  #[error(
    "cannot locate Ollama's model store: set OLLAMA_MODELS (or HOME) or pass the models directory"
  )]
  NoStoreDir,
  /// The model has no manifest in the store.
  #[error("model `{model}` is not in the local Ollama store (no manifest at {path}); pull it first (`ollama pull {model}`) or point OLLAMA_MODELS at the server's store")]
  ModelNotInStore {
    /// Short model name.
    model: String,
    /// Expected manifest path.
    path: PathBuf,
  },
  /// An I/O error on a file of the store or of the export.
  #[error("{path}: {source}")]
  Io {
    /// The file.
    path: PathBuf,
    /// The OS error.
    #[source]
    source: io::Error,
  },
  /// A manifest or JSON layer that cannot be parsed.
  #[error("{path}: invalid {what}: {reason}")]
  BadJson {
    /// The file.
    path: PathBuf,
    /// Which kind of document.
    what: &'static str,
    /// Parser message.
    reason: String,
  },
  /// A layer digest that is not `sha256:<64 hex>`.
  #[error("manifest {manifest}: invalid blob digest `{digest}` (expected sha256:<64 hex digits>)")]
  BadDigest {
    /// The manifest.
    manifest: PathBuf,
    /// The digest as written.
    digest: String,
  },
  /// A blob whose content does not hash to its name: the store is corrupt.
  #[error("blob {path} is corrupt: its sha256 is {actual} but its name says {expected}; delete it and pull the model again")]
  DigestMismatch {
    /// The blob file.
    path: PathBuf,
    /// sha256 hex from the blob's name.
    expected: String,
    /// sha256 hex of the content.
    actual: String,
  },
  /// A blob whose size differs from the manifest's.
  #[error("blob {path} has {actual} bytes but the manifest says {expected}; the store is corrupt, pull the model again")]
  SizeMismatch {
    /// The blob file.
    path: PathBuf,
    /// Size in the manifest.
    expected: u64,
    /// Size on disk.
    actual: u64,
  },
  /// A weights layer that does not start with the GGUF magic.
  #[error(
    "blob {path} ({media_type}) is not a GGUF file (no `GGUF` magic); cannot export it as weights"
  )]
  NotGguf {
    /// The blob file.
    path: PathBuf,
    /// Its layer media type.
    media_type: String,
  },
  /// A model this exporter cannot represent faithfully.
  #[error("cannot export model `{model}`: {reason}")]
  Unsupported {
    /// Short model name.
    model: String,
    /// Why.
    reason: String,
  },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
  move |source| StoreError::Io { path: path.to_path_buf(), source }
}

/// A fully qualified Ollama model name: `host/namespace/model:tag`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelName {
  /// Registry host (default [`DEFAULT_HOST`]); may carry a `:port`.
  pub host: String,
  /// Namespace (default [`DEFAULT_NAMESPACE`]).
  pub namespace: String,
  /// Model.
  pub model: String,
  /// Tag (default [`DEFAULT_TAG`]).
  pub tag: String,
}

impl ModelName {
  /// Parses `model`, `model:tag`, `ns/model[:tag]` or `host/ns/model[:tag]`, filling
  /// Ollama's defaults. Rejects digests (`@sha256:`), empty parts and parts that could
  /// escape the store directory.
  pub fn parse(s: &str) -> Result<Self, StoreError> {
    let bad =
      |reason: &str| StoreError::InvalidName { name: s.to_string(), reason: reason.to_string() };
    if s.contains('@') {
      return Err(bad("digest references (`@sha256:...`) are not supported; use a tag"));
    }
    let (path, tag) = match s.rfind(':') {
      Some(i) if !s[i + 1..].contains('/') => (&s[..i], &s[i + 1..]),
      _ => (s, DEFAULT_TAG),
    };
    let parts: Vec<&str> = path.split('/').collect();
    let (host, namespace, model) = match parts.as_slice() {
      [m] => (DEFAULT_HOST, DEFAULT_NAMESPACE, *m),
      [ns, m] => (DEFAULT_HOST, *ns, *m),
      [h, ns, m] => (*h, *ns, *m),
      _ => {
        return Err(bad(
          "expected model[:tag], namespace/model[:tag] or host/namespace/model[:tag]",
        ))
      }
    };
    let part_ok = |p: &str, extra: &[char]| {
      !p.is_empty()
        && p.len() <= 350
        && p.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && p
          .chars()
          .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') || extra.contains(&c))
    };
    if !part_ok(host, &[':']) {
      return Err(bad("the host must be letters, digits, `.`, `-`, `_`, `:`"));
    }
    if !part_ok(namespace, &[]) || !part_ok(model, &[]) || !part_ok(tag, &[]) {
      return Err(bad(
        "namespace, model and tag must be non-empty, start with a letter, digit or `_`, and use only letters, digits, `.`, `_`, `-`",
      ));
    }
    Ok(Self {
      host: host.into(),
      namespace: namespace.into(),
      model: model.into(),
      tag: tag.into(),
    })
  }

  /// The shortest display name, as `/api/tags` shows it: `model:tag` for the default host
  /// and namespace, `ns/model:tag` for the default host, `host/ns/model:tag` otherwise.
  pub fn short(&self) -> String {
    if self.host == DEFAULT_HOST {
      if self.namespace == DEFAULT_NAMESPACE {
        format!("{}:{}", self.model, self.tag)
      } else {
        format!("{}/{}:{}", self.namespace, self.model, self.tag)
      }
    } else {
      format!("{}/{}/{}:{}", self.host, self.namespace, self.model, self.tag)
    }
  }

  /// A file/directory name for this model: [`Self::short`] with `/` and `:` replaced by `-`.
  pub fn file_stem(&self) -> String {
    self.short().chars().map(|c| if c == '/' || c == ':' { '-' } else { c }).collect()
  }

  /// The manifest's path relative to the store root.
  pub fn manifest_rel_path(&self) -> PathBuf {
    ["manifests", &self.host, &self.namespace, &self.model, &self.tag].iter().collect()
  }
}

impl fmt::Display for ModelName {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str(&self.short())
  }
}

/// A manifest layer (or the config descriptor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Layer {
  /// Media type (see [`media`]).
  pub media_type: String,
  /// `sha256:<hex>`.
  pub digest: String,
  /// Size in bytes.
  pub size: u64,
  /// The model this layer was inherited from, when Ollama recorded it.
  #[serde(default, skip_serializing_if = "Option::is_none")]
  pub from: Option<String>,
}

/// A Docker v2 manifest as Ollama writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
  /// Always 2.
  pub schema_version: u32,
  /// [`media::MANIFEST`].
  #[serde(default)]
  pub media_type: Option<String>,
  /// The config blob.
  pub config: Layer,
  /// Content layers.
  pub layers: Vec<Layer>,
}

impl Manifest {
  /// Σ layer sizes + config size (what `/api/tags` reports as `size`).
  pub fn total_size(&self) -> u64 {
    self.layers.iter().map(|l| l.size).sum::<u64>() + self.config.size
  }
}

/// A manifest read from the store.
#[derive(Debug, Clone)]
pub struct LocalManifest {
  /// The model.
  pub name: ModelName,
  /// The manifest file.
  pub path: PathBuf,
  /// sha256 hex of the manifest bytes (the digest `/api/tags` reports).
  pub digest: String,
  /// Parsed manifest.
  pub manifest: Manifest,
}

/// Ollama's model store at a directory.
#[derive(Debug, Clone)]
pub struct Store {
  root: PathBuf,
}

impl Store {
  /// A store at `root` (the directory holding `manifests/` and `blobs/`).
  pub fn new(root: impl Into<PathBuf>) -> Self {
    Self { root: root.into() }
  }

  /// `dir` if given, else `$OLLAMA_MODELS`, else `$HOME/.ollama/models`.
  pub fn locate(dir: Option<&Path>) -> Result<Self, StoreError> {
    if let Some(d) = dir {
      return Ok(Self::new(d));
    }
    if let Some(d) = std::env::var_os("OLLAMA_MODELS").filter(|v| !v.is_empty()) {
      return Ok(Self::new(PathBuf::from(d)));
    }
    match std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE")) {
      Some(h) if !h.is_empty() => Ok(Self::new(PathBuf::from(h).join(".ollama").join("models"))),
      _ => Err(StoreError::NoStoreDir),
    }
  }

  /// The store root.
  pub fn root(&self) -> &Path {
    &self.root
  }

  /// Where `name`'s manifest lives.
  pub fn manifest_path(&self, name: &ModelName) -> PathBuf {
    self.root.join(name.manifest_rel_path())
  }

  /// Reads `name`'s manifest; `Ok(None)` when the model is not in the store.
  pub fn read_manifest(&self, name: &ModelName) -> Result<Option<LocalManifest>, StoreError> {
    let path = self.manifest_path(name);
    let bytes = match fs::read(&path) {
      Ok(b) => b,
      Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
      Err(e) => return Err(StoreError::Io { path, source: e }),
    };
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| StoreError::BadJson {
      path: path.clone(),
      what: "manifest",
      reason: e.to_string(),
    })?;
    for l in std::iter::once(&manifest.config).chain(&manifest.layers) {
      digest_hex(&l.digest).ok_or_else(|| StoreError::BadDigest {
        manifest: path.clone(),
        digest: l.digest.clone(),
      })?;
    }
    Ok(Some(LocalManifest { name: name.clone(), path, digest: sha256_hex(&bytes), manifest }))
  }

  /// The blob file for `digest` (`sha256:<hex>` or `sha256-<hex>`), or `None` for a malformed digest.
  pub fn blob_path(&self, digest: &str) -> Option<PathBuf> {
    digest_hex(digest).map(|h| self.root.join("blobs").join(format!("sha256-{h}")))
  }

  /// Streams the blob of `layer` through sha256 and checks its name and size. Returns its path.
  pub fn verify_blob(&self, manifest: &Path, layer: &Layer) -> Result<PathBuf, StoreError> {
    let path = self.blob_path(&layer.digest).ok_or_else(|| StoreError::BadDigest {
      manifest: manifest.to_path_buf(),
      digest: layer.digest.clone(),
    })?;
    let (actual, size) = sha256_file(&path).map_err(io_err(&path))?;
    check_blob(&path, layer, &actual, size)?;
    Ok(path)
  }
}

/// The lowercase hex of a `sha256:<hex>` / `sha256-<hex>` digest, `None` if malformed.
pub fn digest_hex(digest: &str) -> Option<String> {
  let hex = digest.strip_prefix("sha256:").or_else(|| digest.strip_prefix("sha256-"))?;
  (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| hex.to_ascii_lowercase())
}

fn check_blob(path: &Path, layer: &Layer, actual: &str, size: u64) -> Result<(), StoreError> {
  let expected = digest_hex(&layer.digest).unwrap_or_default();
  if actual != expected {
    return Err(StoreError::DigestMismatch {
      path: path.to_path_buf(),
      expected,
      actual: actual.to_string(),
    });
  }
  if size != layer.size {
    return Err(StoreError::SizeMismatch {
      path: path.to_path_buf(),
      expected: layer.size,
      actual: size,
    });
  }
  Ok(())
}

/// One file written by [`export_model`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedFile {
  /// File name inside the export directory.
  pub file: String,
  /// The layer media type it came from.
  pub media_type: String,
  /// `sha256:<hex>` (verified).
  pub digest: String,
  /// Size in bytes.
  pub size: u64,
  /// `true` when hardlinked to the store blob, `false` when copied.
  pub hardlinked: bool,
}

/// The result of [`export_model`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedModel {
  /// Short model name.
  pub model: String,
  /// Manifest sha256 hex.
  pub manifest_digest: String,
  /// The export directory.
  pub dir: PathBuf,
  /// Files copied from blobs (the `Modelfile` is not listed).
  pub files: Vec<ExportedFile>,
  /// Media types of layers that were not exported (unknown to this exporter).
  pub skipped_layers: Vec<String>,
  /// Total bytes of `files` plus the Modelfile.
  pub total_size: u64,
}

/// Text that goes into the Modelfile.
#[derive(Debug, Default)]
struct ModelfileParts {
  weights: Vec<String>,
  adapters: Vec<String>,
  template: Option<String>,
  system: Option<String>,
  params: Vec<(String, String)>,
  messages: Vec<(String, String)>,
  licenses: Vec<String>,
}

/// Exports `name` from `store` into `dest` (replaced if it exists): weights (GGUF, hardlinked
/// where possible, else copied), template, params, system, messages, licenses, and a
/// `Modelfile` whose paths are relative (`FROM ./model.gguf`). Every blob (config included)
/// is verified against its sha256 name. The directory is built under a temp name and
/// renamed into place, so a failed export leaves no partial directory.
pub fn export_model(
  store: &Store,
  name: &ModelName,
  dest: &Path,
) -> Result<ExportedModel, StoreError> {
  let local = store.read_manifest(name)?.ok_or_else(|| StoreError::ModelNotInStore {
    model: name.short(),
    path: store.manifest_path(name),
  })?;
  let parent = dest.parent().unwrap_or(Path::new("."));
  fs::create_dir_all(parent).map_err(io_err(parent))?;
  let tmp = super::fsutil::temp_path_for(dest);
  let _ = fs::remove_dir_all(&tmp);
  fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
  match export_into(store, &local, &tmp) {
    Ok(mut out) => {
      super::fsutil::replace_dir(&tmp, dest).map_err(io_err(dest))?;
      out.dir = dest.to_path_buf();
      Ok(out)
    }
    Err(e) => {
      let _ = fs::remove_dir_all(&tmp);
      Err(e)
    }
  }
}

fn export_into(
  store: &Store,
  local: &LocalManifest,
  dir: &Path,
) -> Result<ExportedModel, StoreError> {
  let model = local.name.short();
  let m = &local.manifest;
  store.verify_blob(&local.path, &m.config)?;
  let mut parts = ModelfileParts::default();
  let mut files = Vec::new();
  let mut skipped = Vec::new();
  let (mut n_proj, mut n_adapter, mut n_license) = (0, 0, 0);
  for layer in &m.layers {
    let mt = layer.media_type.as_str();
    match mt {
      media::MODEL | media::PROJECTOR | media::ADAPTER => {
        let file = match mt {
          media::MODEL if parts.weights.iter().any(|w| w == "model.gguf") => {
            return Err(StoreError::Unsupported {
              model,
              reason: "the manifest has several weight layers; only one is supported".into(),
            })
          }
          media::MODEL => "model.gguf".to_string(),
          media::PROJECTOR => {
            n_proj += 1;
            format!("projector-{n_proj}.gguf")
          }
          _ => {
            n_adapter += 1;
            format!("adapter-{n_adapter}.gguf")
          }
        };
        files.push(export_weights(store, local, layer, &dir.join(&file), &file)?);
        if mt == media::ADAPTER {
          parts.adapters.push(file);
        } else if mt == media::MODEL {
          parts.weights.insert(0, file);
        } else {
          parts.weights.push(file);
        }
      }
      media::TEMPLATE | media::SYSTEM | media::PARAMS | media::MESSAGES | media::LICENSE => {
        let file = match mt {
          media::TEMPLATE => "template.txt".to_string(),
          media::SYSTEM => "system.txt".to_string(),
          media::PARAMS => "params.json".to_string(),
          media::MESSAGES => "messages.json".to_string(),
          _ => {
            n_license += 1;
            if n_license == 1 {
              "LICENSE".to_string()
            } else {
              format!("LICENSE-{n_license}")
            }
          }
        };
        let path = dir.join(&file);
        if path.exists() {
          return Err(StoreError::Unsupported {
            model,
            reason: format!("the manifest has several `{mt}` layers"),
          });
        }
        let (bytes, blob) = read_text_layer(store, local, layer)?;
        write_atomic(&path, &bytes, false).map_err(io_err(&path))?;
        let text = String::from_utf8(bytes).map_err(|_| StoreError::Unsupported {
          model: model.clone(),
          reason: format!("{} is not UTF-8 text", blob.display()),
        })?;
        match mt {
          media::TEMPLATE => parts.template = Some(text),
          media::SYSTEM => parts.system = Some(text),
          media::PARAMS => parts.params = params_lines(&blob, &text)?,
          media::MESSAGES => parts.messages = messages_lines(&blob, &text)?,
          _ => parts.licenses.push(text),
        }
        files.push(ExportedFile {
          file,
          media_type: mt.to_string(),
          digest: layer.digest.clone(),
          size: layer.size,
          hardlinked: false,
        });
      }
      other => skipped.push(other.to_string()),
    }
  }
  if !parts.weights.iter().any(|w| w == "model.gguf") {
    return Err(StoreError::Unsupported {
      model,
      reason: format!("manifest {} has no weights layer", local.path.display()),
    });
  }
  let modelfile = render_modelfile(&model, &local.digest, &parts)?;
  let mf_path = dir.join("Modelfile");
  write_atomic(&mf_path, modelfile.as_bytes(), false).map_err(io_err(&mf_path))?;
  let total_size = files.iter().map(|f| f.size).sum::<u64>() + modelfile.len() as u64;
  Ok(ExportedModel {
    model,
    manifest_digest: local.digest.clone(),
    dir: dir.to_path_buf(),
    files,
    skipped_layers: skipped,
    total_size,
  })
}

fn export_weights(
  store: &Store,
  local: &LocalManifest,
  layer: &Layer,
  dst: &Path,
  file: &str,
) -> Result<ExportedFile, StoreError> {
  let src = store.blob_path(&layer.digest).ok_or_else(|| StoreError::BadDigest {
    manifest: local.path.clone(),
    digest: layer.digest.clone(),
  })?;
  let mut magic = [0u8; 4];
  let mut f = fs::File::open(&src).map_err(io_err(&src))?;
  let got = f.read(&mut magic).map_err(io_err(&src))?;
  drop(f);
  if got < 4 || &magic != GGUF_MAGIC {
    return Err(StoreError::NotGguf { path: src, media_type: layer.media_type.clone() });
  }
  // Verify the source first; a hardlink then shares exactly the verified bytes.
  let (actual, size) = sha256_file(&src).map_err(io_err(&src))?;
  check_blob(&src, layer, &actual, size)?;
  let hardlinked = hardlink_atomic(&src, dst).is_ok();
  if !hardlinked {
    let (copied, n) = copy_hashing(&src, dst).map_err(io_err(dst))?;
    if let Err(e) = check_blob(&src, layer, &copied, n) {
      let _ = fs::remove_file(dst);
      return Err(e);
    }
  }
  Ok(ExportedFile {
    file: file.to_string(),
    media_type: layer.media_type.clone(),
    digest: layer.digest.clone(),
    size: layer.size,
    hardlinked,
  })
}

fn read_text_layer(
  store: &Store,
  local: &LocalManifest,
  layer: &Layer,
) -> Result<(Vec<u8>, PathBuf), StoreError> {
  let path = store.blob_path(&layer.digest).ok_or_else(|| StoreError::BadDigest {
    manifest: local.path.clone(),
    digest: layer.digest.clone(),
  })?;
  let len = fs::metadata(&path).map_err(io_err(&path))?.len();
  if len > MAX_TEXT_LAYER {
    return Err(StoreError::Unsupported {
      model: local.name.short(),
      reason: format!(
        "{} ({}) is {len} bytes, over the {MAX_TEXT_LAYER}-byte limit for text layers",
        path.display(),
        layer.media_type
      ),
    });
  }
  let bytes = fs::read(&path).map_err(io_err(&path))?;
  check_blob(&path, layer, &sha256_hex(&bytes), bytes.len() as u64)?;
  Ok((bytes, path))
}

fn params_lines(path: &Path, text: &str) -> Result<Vec<(String, String)>, StoreError> {
  let bad =
    |reason: String| StoreError::BadJson { path: path.to_path_buf(), what: "params layer", reason };
  let v: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
  let Value::Object(map) = v else { return Err(bad("expected a JSON object".into())) };
  let mut out = Vec::new();
  for (k, v) in map {
    let values = match v {
      Value::Array(a) => a,
      other => vec![other],
    };
    for v in values {
      let s = match v {
        Value::String(s) => serde_json::to_string(&s).map_err(|e| bad(e.to_string()))?,
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => return Err(bad(format!("parameter `{k}` has an unsupported value {other}"))),
      };
      out.push((k.clone(), s));
    }
  }
  Ok(out)
}

fn messages_lines(path: &Path, text: &str) -> Result<Vec<(String, String)>, StoreError> {
  #[derive(Deserialize)]
  struct Msg {
    role: String,
    content: String,
  }
  let msgs: Vec<Msg> = serde_json::from_str(text).map_err(|e| StoreError::BadJson {
    path: path.to_path_buf(),
    what: "messages layer",
    reason: e.to_string(),
  })?;
  Ok(msgs.into_iter().map(|m| (m.role, m.content)).collect())
}

fn triple_quoted(model: &str, what: &str, s: &str) -> Result<String, StoreError> {
  if s.contains("\"\"\"") {
    return Err(StoreError::Unsupported {
      model: model.to_string(),
      reason: format!("its {what} contains `\"\"\"`, which a Modelfile cannot quote"),
    });
  }
  Ok(format!("\"\"\"{s}\"\"\""))
}

fn render_modelfile(model: &str, digest: &str, p: &ModelfileParts) -> Result<String, StoreError> {
  let mut s =
    format!("# Exported by farm build from Ollama model {model} (manifest sha256:{digest})\n");
  s.push_str(&format!("# Recreate with: ollama create {model} -f Modelfile\n"));
  for w in &p.weights {
    s.push_str(&format!("FROM ./{w}\n"));
  }
  for a in &p.adapters {
    s.push_str(&format!("ADAPTER ./{a}\n"));
  }
  if let Some(t) = &p.template {
    s.push_str(&format!("TEMPLATE {}\n", triple_quoted(model, "template", t)?));
  }
  if let Some(t) = &p.system {
    s.push_str(&format!("SYSTEM {}\n", triple_quoted(model, "system prompt", t)?));
  }
  for (k, v) in &p.params {
    s.push_str(&format!("PARAMETER {k} {v}\n"));
  }
  for (role, content) in &p.messages {
    s.push_str(&format!("MESSAGE {role} {}\n", triple_quoted(model, "messages", content)?));
  }
  for l in &p.licenses {
    s.push_str(&format!("LICENSE {}\n", triple_quoted(model, "license", l)?));
  }
  Ok(s)
}

#[cfg(test)]
pub(super) mod testutil {
  //! Generates a small Ollama model store on disk (for tests).
  use super::*;

  /// A model to write into a test store.
  pub struct TestModel<'a> {
    /// Model name (`tiny`, `ns/x:tag`).
    pub name: &'a str,
    /// Weights bytes (should start with `GGUF`).
    pub weights: Vec<u8>,
    /// Template text.
    pub template: &'a str,
    /// Params JSON.
    pub params: Value,
    /// License text.
    pub license: &'a str,
    /// Family for the config blob.
    pub family: &'a str,
    /// Parameter size (`model_type`).
    pub parameter_size: &'a str,
    /// Quantization (`file_type`).
    pub quantization: &'a str,
  }

  impl<'a> TestModel<'a> {
    /// A tiny model with the given name and some weights bytes.
    pub fn tiny(name: &'a str, seed: u8) -> Self {
      let mut weights = GGUF_MAGIC.to_vec();
      weights.extend_from_slice(&3u32.to_le_bytes());
      weights.extend((0..2000u32).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
      Self {
        name,
        weights,
        template:
          "{{ if .System }}<|system|>{{ .System }}{{ end }}<|user|>{{ .Prompt }}<|assistant|>",
        params: serde_json::json!({"stop": ["<|user|>", "<|end|>"], "temperature": 0.7, "num_ctx": 2048}),
        license: "Test license: for tests only.",
        family: "llama",
        parameter_size: "1.2M",
        quantization: "Q4_0",
      }
    }
  }

  fn put_blob(root: &Path, bytes: &[u8], media_type: &str) -> Layer {
    let h = sha256_hex(bytes);
    let dir = root.join("blobs");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(format!("sha256-{h}")), bytes).unwrap();
    Layer {
      media_type: media_type.into(),
      digest: format!("sha256:{h}"),
      size: bytes.len() as u64,
      from: None,
    }
  }

  /// Writes the model's blobs and manifest under `root`; returns the manifest digest (hex).
  pub fn write_model(root: &Path, m: &TestModel<'_>) -> String {
    let name = ModelName::parse(m.name).unwrap();
    let model = put_blob(root, &m.weights, media::MODEL);
    let template = put_blob(root, m.template.as_bytes(), media::TEMPLATE);
    let params = put_blob(root, m.params.to_string().as_bytes(), media::PARAMS);
    let license = put_blob(root, m.license.as_bytes(), media::LICENSE);
    let layers = vec![model, template, license, params];
    let diff_ids: Vec<String> = layers.iter().map(|l| l.digest.clone()).collect();
    let config = serde_json::json!({
      "model_format": "gguf", "model_family": m.family, "model_families": [m.family],
      "model_type": m.parameter_size, "file_type": m.quantization, "architecture": "amd64", "os": "linux",
      "rootfs": {"type": "layers", "diff_ids": diff_ids}
    });
    let config = put_blob(root, config.to_string().as_bytes(), media::CONFIG);
    let manifest =
      Manifest { schema_version: 2, media_type: Some(media::MANIFEST.into()), config, layers };
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let path = root.join(name.manifest_rel_path());
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, &bytes).unwrap();
    sha256_hex(&bytes)
  }
}

#[cfg(test)]
mod tests {
  use super::testutil::*;
  use super::*;

  #[test]
  fn model_names_parse_like_ollama() {
    let n = ModelName::parse("llama3.2").unwrap();
    assert_eq!(
      (n.host.as_str(), n.namespace.as_str(), n.tag.as_str()),
      (DEFAULT_HOST, "library", "latest")
    );
    assert_eq!(n.short(), "llama3.2:latest");
    assert_eq!(ModelName::parse("registry.ollama.ai/library/llama3.2:latest").unwrap(), n);
    assert_eq!(ModelName::parse("me/m:q4").unwrap().short(), "me/m:q4");
    let h = ModelName::parse("localhost:5000/me/m").unwrap();
    assert_eq!((h.host.as_str(), h.tag.as_str()), ("localhost:5000", "latest"));
    assert_eq!(h.short(), "localhost:5000/me/m:latest");
    assert_eq!(h.file_stem(), "localhost-5000-me-m-latest");
    assert_eq!(
      n.manifest_rel_path(),
      Path::new("manifests/registry.ollama.ai/library/llama3.2/latest")
    );
    for bad in ["", "../x", "a/../b", "a/b/c/d", "x:", ":t", "m@sha256:00", "a b", ".hidden"] {
      assert!(ModelName::parse(bad).is_err(), "{bad} accepted");
    }
  }

  #[test]
  fn export_is_byte_identical_and_modelfile_is_complete() {
    let d = tempfile::tempdir().unwrap();
    let store = Store::new(d.path().join("store"));
    let m = TestModel::tiny("tiny", 1);
    let digest = write_model(store.root(), &m);
    let name = ModelName::parse("tiny").unwrap();
    let local = store.read_manifest(&name).unwrap().unwrap();
    assert_eq!(local.digest, digest);
    let dest = d.path().join("out/models/tiny-latest");
    let ex = export_model(&store, &name, &dest).unwrap();
    assert_eq!(ex.manifest_digest, digest);
    for l in &local.manifest.layers {
      let f = ex.files.iter().find(|f| f.digest == l.digest).unwrap();
      let blob = fs::read(store.blob_path(&l.digest).unwrap()).unwrap();
      assert_eq!(fs::read(dest.join(&f.file)).unwrap(), blob, "{}", f.file);
    }
    assert_eq!(fs::read(dest.join("model.gguf")).unwrap(), m.weights);
    let mf = fs::read_to_string(dest.join("Modelfile")).unwrap();
    assert!(mf.contains("FROM ./model.gguf\n"), "{mf}");
    assert!(mf.contains(&format!("TEMPLATE \"\"\"{}\"\"\"\n", m.template)), "{mf}");
    assert!(mf.contains("PARAMETER stop \"<|user|>\"\nPARAMETER stop \"<|end|>\"\n"), "{mf}");
    assert!(
      mf.contains("PARAMETER temperature 0.7\n") && mf.contains("PARAMETER num_ctx 2048\n"),
      "{mf}"
    );
    assert!(mf.contains("LICENSE \"\"\"Test license: for tests only.\"\"\"\n"), "{mf}");
    // Re-export over an existing directory works and leaves no temp dirs.
    export_model(&store, &name, &dest).unwrap();
    let names: Vec<_> =
      fs::read_dir(dest.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("tiny-latest")]);
  }

  /// Across filesystems a hardlink is impossible: the export copies (and verifies) instead.
  /// Runs when /dev/shm is a different filesystem from the temp dir (as on Linux CI).
  #[cfg(target_os = "linux")]
  #[test]
  fn export_copies_when_hardlink_is_impossible() {
    use std::os::unix::fs::MetadataExt;
    let d = tempfile::tempdir().unwrap();
    let Ok(other) = tempfile::tempdir_in("/dev/shm") else { return };
    if fs::metadata(d.path()).unwrap().dev() == fs::metadata(other.path()).unwrap().dev() {
      return;
    }
    let store = Store::new(d.path());
    let m = TestModel::tiny("tiny", 9);
    write_model(store.root(), &m);
    let ex =
      export_model(&store, &ModelName::parse("tiny").unwrap(), &other.path().join("x")).unwrap();
    assert!(ex.files.iter().all(|f| !f.hardlinked));
    assert_eq!(fs::read(other.path().join("x/model.gguf")).unwrap(), m.weights);
  }

  #[test]
  fn corrupt_blob_is_a_clear_error_and_leaves_nothing() {
    let d = tempfile::tempdir().unwrap();
    let store = Store::new(d.path());
    write_model(store.root(), &TestModel::tiny("tiny", 2));
    let name = ModelName::parse("tiny").unwrap();
    let local = store.read_manifest(&name).unwrap().unwrap();
    let weights = &local.manifest.layers[0];
    let blob = store.blob_path(&weights.digest).unwrap();
    let mut bytes = fs::read(&blob).unwrap();
    bytes[100] ^= 0xff; // same size, different content
    fs::write(&blob, &bytes).unwrap();
    let dest = d.path().join("out/tiny");
    let err = export_model(&store, &name, &dest).unwrap_err();
    assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&blob.display().to_string()) && msg.contains("corrupt"), "{msg}");
    assert!(msg.contains(&digest_hex(&weights.digest).unwrap()), "{msg}");
    assert!(!dest.exists());
    assert_eq!(fs::read_dir(d.path().join("out")).unwrap().count(), 0, "temp dir left behind");
  }

  #[test]
  fn non_gguf_weights_and_missing_models_are_errors() {
    let d = tempfile::tempdir().unwrap();
    let store = Store::new(d.path());
    let mut m = TestModel::tiny("notgguf", 3);
    m.weights = b"PK\x03\x04 not gguf".to_vec();
    write_model(store.root(), &m);
    let err =
      export_model(&store, &ModelName::parse("notgguf").unwrap(), &d.path().join("o")).unwrap_err();
    assert!(matches!(err, StoreError::NotGguf { .. }), "{err}");
    let err =
      export_model(&store, &ModelName::parse("absent").unwrap(), &d.path().join("o")).unwrap_err();
    assert!(err.to_string().contains("ollama pull absent:latest"), "{err}");
  }

  #[test]
  fn template_with_triple_quotes_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let store = Store::new(d.path());
    let mut m = TestModel::tiny("q", 4);
    m.template = "say \"\"\"hi\"\"\"";
    write_model(store.root(), &m);
    let err =
      export_model(&store, &ModelName::parse("q").unwrap(), &d.path().join("o")).unwrap_err();
    assert!(err.to_string().contains("cannot quote"), "{err}");
  }
}
