//! The backend of the object stores ([`super::s3`], [`super::azure`] make its store): an
//! artifact is one object under a prefix, its tag one metadata attribute of it; a missing object
//! is `Ok(None)`.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, Attributes, GetOptions, ObjectStore, PutOptions, PutPayload};

use super::error::RemoteError;
use super::{CachingStatus, Fetched, RemoteBackend, Stored};

/// Artifacts in an object store (an S3-compatible bucket, an Azure container).
#[derive(Debug, Clone)]
pub struct ObjectBackend {
  store: Arc<dyn ObjectStore>,
  prefix: String,
  location: String,
  tag_attribute: &'static str,
}

impl ObjectBackend {
  /// Objects of `store` under `prefix`, tags in the metadata attribute `tag_attribute`;
  /// `location` names the store in messages (no secrets).
  pub(super) fn new(
    store: Arc<dyn ObjectStore>,
    prefix: &str,
    location: String,
    tag_attribute: &'static str,
  ) -> Self {
    ObjectBackend { store, prefix: prefix.to_string(), location, tag_attribute }
  }

  fn path(&self, name: &str) -> ObjectPath {
    ObjectPath::from(format!("{}/{name}", self.prefix))
  }

  fn error(&self, what: String, e: object_store::Error) -> RemoteError {
    let message = super::tls::hint(super::http::error_chain(&e));
    RemoteError::Store { location: self.location.clone(), what, message }
  }
}

#[async_trait]
impl RemoteBackend for ObjectBackend {
  fn location(&self) -> String {
    self.location.clone()
  }

  async fn get(&self, id: &str) -> Result<Option<Fetched>, RemoteError> {
    get(&*self.store, &self.path(id), self.tag_attribute)
      .await
      .map_err(|e| self.error(format!("download of {id}"), e))
  }

  async fn put(
    &self,
    id: &str,
    body: Bytes,
    tag: Option<String>,
    _duration_ms: u64,
  ) -> Result<(), RemoteError> {
    put(&*self.store, &self.path(id), body, tag, self.tag_attribute)
      .await
      .map_err(|e| self.error(format!("upload of {id}"), e))
  }

  /// A `HEAD` of the object, which reads its metadata (the tag) and not its bytes.
  async fn exists(&self, id: &str) -> Result<Option<Stored>, RemoteError> {
    head(&*self.store, &self.path(id), self.tag_attribute)
      .await
      .map_err(|e| self.error(format!("HEAD of {id}"), e))
  }

  /// A bucket or a container has no caching status: whoever may write to it, may upload.
  async fn caching_status(&self) -> Result<Option<CachingStatus>, RemoteError> {
    Ok(None)
  }
}

/// The value of the metadata attribute `tag_attribute`.
fn tag_of(attributes: &Attributes, tag_attribute: &'static str) -> Option<String> {
  attributes.get(&Attribute::Metadata(tag_attribute.into())).map(|v| v.as_ref().to_string())
}

/// Downloads the object at `path` with its tag; `Ok(None)` when there is none.
async fn get(
  store: &dyn ObjectStore,
  path: &ObjectPath,
  tag_attribute: &'static str,
) -> Result<Option<Fetched>, object_store::Error> {
  let res = match store.get_opts(path, GetOptions::default()).await {
    Ok(r) => r,
    Err(object_store::Error::NotFound { .. }) => return Ok(None),
    Err(e) => return Err(e),
  };
  let tag = tag_of(&res.attributes, tag_attribute);
  let body = res.bytes().await?;
  Ok(Some(Fetched { body, tag, duration_ms: None }))
}

/// Stores `body` at `path`, with `tag` as the metadata attribute `tag_attribute`.
async fn put(
  store: &dyn ObjectStore,
  path: &ObjectPath,
  body: Bytes,
  tag: Option<String>,
  tag_attribute: &'static str,
) -> Result<(), object_store::Error> {
  let mut attributes = Attributes::new();
  attributes.insert(Attribute::ContentType, "application/octet-stream".into());
  if let Some(t) = tag {
    attributes.insert(Attribute::Metadata(tag_attribute.into()), t.into());
  }
  let opts = PutOptions { attributes, ..Default::default() };
  store.put_opts(path, PutPayload::from_bytes(body), opts).await.map(|_| ())
}

/// A `HEAD` of the object at `path`: its tag, without its bytes; `Ok(None)` when there is none.
async fn head(
  store: &dyn ObjectStore,
  path: &ObjectPath,
  tag_attribute: &'static str,
) -> Result<Option<Stored>, object_store::Error> {
  match store.get_opts(path, GetOptions::default().with_head(true)).await {
    Ok(r) => Ok(Some(Stored { tag: tag_of(&r.attributes, tag_attribute) })),
    Err(object_store::Error::NotFound { .. }) => Ok(None),
    Err(e) => Err(e),
  }
}
