//! S3-compatible object stores (AWS S3, MinIO, SeaweedFS) through `object_store`'s S3 client,
//! built with its `aws-base` feature only: requests go through the shared hyper client
//! ([`super::http::HyperConnector`]) and SigV4 signing uses `sha2`/`hmac` ([`Sha2Crypto`]).
//! An artifact is the object `<prefix>/<id>`; its tag is the object's user metadata
//! `x-amz-meta-artifact-tag`. Credentials come from the standard AWS env vars.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use object_store::aws::AmazonS3Builder;
use object_store::client::{
  CryptoProvider, DigestAlgorithm, DigestContext, HmacContext, Signer as OsSigner, SigningAlgorithm,
};
use sha2::{Digest as _, Sha256};

use super::error::RemoteError;
use super::http::HyperConnector;
use super::objects::ObjectBackend;

/// The metadata key holding an artifact's tag.
const TAG_ATTRIBUTE: &str = "artifact-tag";

/// SHA-256 and HMAC-SHA256 for SigV4, from the `sha2`/`hmac` crates.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sha2Crypto;

struct Sha256Ctx(Option<Sha256>, Vec<u8>);
struct HmacCtx(Option<Hmac<Sha256>>, Vec<u8>);

impl DigestContext for Sha256Ctx {
  fn update(&mut self, data: &[u8]) {
    if let Some(h) = &mut self.0 {
      h.update(data);
    }
  }
  fn finish(&mut self) -> object_store::Result<&[u8]> {
    if let Some(h) = self.0.take() {
      self.1 = h.finalize().to_vec();
    }
    Ok(&self.1)
  }
}

impl HmacContext for HmacCtx {
  fn update(&mut self, data: &[u8]) {
    if let Some(h) = &mut self.0 {
      h.update(data);
    }
  }
  fn finish(&mut self) -> object_store::Result<&[u8]> {
    if let Some(h) = self.0.take() {
      self.1 = h.finalize().into_bytes().to_vec();
    }
    Ok(&self.1)
  }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct CryptoError(&'static str);

impl CryptoProvider for Sha2Crypto {
  fn digest(&self, _algorithm: DigestAlgorithm) -> object_store::Result<Box<dyn DigestContext>> {
    Ok(Box::new(Sha256Ctx(Some(Sha256::new()), Vec::new())))
  }

  fn hmac(
    &self,
    _algorithm: DigestAlgorithm,
    secret: &[u8],
  ) -> object_store::Result<Box<dyn HmacContext>> {
    let mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| object_store::Error::Generic {
      store: "S3",
      source: Box::new(CryptoError("invalid HMAC key")),
    })?;
    Ok(Box::new(HmacCtx(Some(mac), Vec::new())))
  }

  fn sign(
    &self,
    _algorithm: SigningAlgorithm,
    _pem: &[u8],
  ) -> object_store::Result<Box<dyn OsSigner>> {
    Err(object_store::Error::Generic {
      store: "S3",
      source: Box::new(CryptoError("RSA signing is not needed for S3 and not built in")),
    })
  }
}

/// An S3-compatible bucket: `bucket` at `endpoint` (None: AWS or `AWS_ENDPOINT_URL`) in
/// `region`, objects under `prefix`; `tls` for https endpoints ([`super::tls::for_backend`]).
/// Credentials: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` (read by
/// `object_store` from the environment).
pub fn open(
  bucket: &str,
  endpoint: Option<&str>,
  region: Option<&str>,
  prefix: &str,
  timeout: Duration,
  location: String,
  tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<ObjectBackend, RemoteError> {
  open_with(AmazonS3Builder::from_env(), bucket, endpoint, region, prefix, timeout, location, tls)
}

/// [`open`] from a builder the caller prepared (tests give credentials here).
#[allow(clippy::too_many_arguments)]
pub(crate) fn open_with(
  builder: AmazonS3Builder,
  bucket: &str,
  endpoint: Option<&str>,
  region: Option<&str>,
  prefix: &str,
  timeout: Duration,
  location: String,
  tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<ObjectBackend, RemoteError> {
  let mut b = builder
    .with_bucket_name(bucket)
    .with_http_connector(HyperConnector { connect_timeout: timeout, tls })
    .with_crypto_provider(Arc::new(Sha2Crypto))
    .with_retry(object_store::RetryConfig {
      max_retries: 1,
      retry_timeout: timeout,
      ..Default::default()
    });
  if let Some(e) = endpoint {
    b = b
      .with_endpoint(e)
      .with_allow_http(e.starts_with("http://"))
      .with_virtual_hosted_style_request(false);
  }
  if let Some(r) = region {
    b = b.with_region(r);
  } else if std::env::var_os("AWS_REGION").is_none()
    && std::env::var_os("AWS_DEFAULT_REGION").is_none()
  {
    b = b.with_region("us-east-1");
  }
  let store = b.build().map_err(|e| RemoteError::Setup(format!("S3 bucket {bucket}: {e}")))?;
  Ok(ObjectBackend::new(Arc::new(store), prefix, location, TAG_ATTRIBUTE))
}
