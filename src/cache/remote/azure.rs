//! Azure Blob Storage through `object_store`'s Azure client, built with its `azure-base` feature
//! only: requests go through the shared hyper client ([`super::http::HyperConnector`]) and the
//! Shared Key signature uses `sha2`/`hmac` ([`super::s3::Sha2Crypto`]). The config names the
//! container as `bucket: "az://<container>"`; an artifact is the blob `<prefix>/<id>`, its tag the
//! blob's metadata `x-ms-meta-artifact_tag` (Azure metadata names are C# identifiers: no `-`).
//! The account and its credentials come from `object_store`'s `AZURE_STORAGE_*` env vars
//! (`AZURE_STORAGE_ACCOUNT_NAME`, `AZURE_STORAGE_ACCOUNT_KEY` or `AZURE_STORAGE_SAS_KEY`, …).

use std::sync::Arc;
use std::time::Duration;

use object_store::azure::MicrosoftAzureBuilder;

use super::error::RemoteError;
use super::http::HyperConnector;
use super::objects::ObjectBackend;
use super::s3::Sha2Crypto;

/// The metadata key holding an artifact's tag.
const TAG_ATTRIBUTE: &str = "artifact_tag";

/// The URL scheme that names an Azure container in `cache.remote.bucket`.
pub const SCHEME: &str = "az://";

/// An Azure Blob Storage container: `container` at `endpoint` (e.g. Azurite's
/// `http://127.0.0.1:10000/devstoreaccount1`; None: `https://<account>.blob.core.windows.net`),
/// blobs under `prefix`; `tls` for https ([`super::tls::for_backend`]). The account and its
/// credentials come from the `AZURE_STORAGE_*` env vars.
pub fn open(
  container: &str,
  endpoint: Option<&str>,
  prefix: &str,
  timeout: Duration,
  location: String,
  tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<ObjectBackend, RemoteError> {
  let mut b = MicrosoftAzureBuilder::from_env()
    .with_container_name(container)
    .with_http_connector(HyperConnector { connect_timeout: timeout, tls })
    .with_crypto_provider(Arc::new(Sha2Crypto))
    .with_retry(object_store::RetryConfig {
      max_retries: 1,
      retry_timeout: timeout,
      ..Default::default()
    });
  if let Some(e) = endpoint {
    b = b.with_endpoint(e.to_string()).with_allow_http(e.starts_with("http://"));
  }
  let store =
    b.build().map_err(|e| RemoteError::Setup(format!("Azure container {container}: {e}")))?;
  Ok(ObjectBackend::new(Arc::new(store), prefix, location, TAG_ATTRIBUTE))
}
