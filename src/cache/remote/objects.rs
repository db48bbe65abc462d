//! What the object-store backends ([`super::s3`], [`super::azure`]) share: an artifact is one
//! object, its tag one metadata attribute of it; a missing object is `Ok(None)`.

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, Attributes, GetOptions, ObjectStore, PutOptions, PutPayload};

use super::{Fetched, Stored};

/// The value of the metadata attribute `tag_attribute`.
fn tag_of(attributes: &Attributes, tag_attribute: &'static str) -> Option<String> {
  attributes.get(&Attribute::Metadata(tag_attribute.into())).map(|v| v.as_ref().to_string())
}

/// Downloads the object at `path` with its tag; `Ok(None)` when there is none.
pub(super) async fn get(
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
pub(super) async fn put(
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
pub(super) async fn head(
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
