//! TLS for `https://` remote caches (a Turborepo-API server, an S3 endpoint, AWS S3 itself):
//! rustls with the `ring` provider, trusting the system's CA certificates (read by
//! `rustls-native-certs`, which honors `SSL_CERT_FILE` and `SSL_CERT_DIR` in place of the
//! system's store) plus the PEM file named by `FARM_REMOTE_CACHE_CA` (a private CA, added to
//! the others). Only built when a URL is `https://`: plain-HTTP caches never read a CA store.

use std::path::Path;
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::CertificateDer;

use super::error::RemoteError;
use super::settings::BackendSpec;

/// A PEM file of extra CA certificates to trust (added to the system's).
pub const ENV_CA: &str = "FARM_REMOTE_CACHE_CA";

/// The hint added to TLS failures.
pub const TLS_HINT: &str = "a server with a private CA? set FARM_REMOTE_CACHE_CA=<ca.pem> (added to the system's CAs) or SSL_CERT_FILE=<bundle.pem> (in place of them)";

/// `message` with [`TLS_HINT`] when it is about a certificate the client did not trust.
pub fn hint(message: String) -> String {
  let m = message.to_ascii_lowercase();
  if m.contains("certificate") && !m.contains(ENV_CA.to_ascii_lowercase().as_str()) {
    format!("{message} ({TLS_HINT})")
  } else {
    message
  }
}

/// Whether the store is reached over https (an S3 bucket without endpoint is AWS, an Azure
/// container without one is `<account>.blob.core.windows.net`, both over https).
pub fn needs_tls(spec: &BackendSpec) -> bool {
  match spec {
    BackendSpec::Turbo { url, .. } => url.starts_with("https://"),
    BackendSpec::S3 { endpoint, .. } | BackendSpec::Azure { endpoint, .. } => {
      endpoint.as_deref().is_none_or(|e| e.starts_with("https://"))
    }
  }
}

/// The CA certificates of a PEM file.
fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, RemoteError> {
  let shown = path.display();
  let bytes = std::fs::read(path)
    .map_err(|e| RemoteError::Setup(format!("{ENV_CA}={shown}: cannot read it: {e}")))?;
  let certs: Vec<CertificateDer<'static>> =
    CertificateDer::pem_slice_iter(&bytes).collect::<Result<_, _>>().map_err(|e| {
      RemoteError::Setup(format!("{ENV_CA}={shown}: not a PEM file of certificates: {e}"))
    })?;
  if certs.is_empty() {
    return Err(RemoteError::Setup(format!(
      "{ENV_CA}={shown}: no `-----BEGIN CERTIFICATE-----` block in it; point it at the CA's certificate in PEM"
    )));
  }
  Ok(certs)
}

/// The TLS client settings: the system's roots (or `SSL_CERT_FILE` / `SSL_CERT_DIR`) and the
/// certificates of `extra_ca` (`FARM_REMOTE_CACHE_CA`). An unreadable or empty `extra_ca`, or no
/// root at all, is an error (the remote cache is then off for the build, with a warning).
pub fn client_config(extra_ca: Option<&Path>) -> Result<Arc<ClientConfig>, RemoteError> {
  let mut roots = RootCertStore::empty();
  let native = rustls_native_certs::load_native_certs();
  let (_added, _ignored) = roots.add_parsable_certificates(native.certs);
  if let Some(path) = extra_ca {
    for c in read_ca_file(path)? {
      roots.add(c).map_err(|e| {
        RemoteError::Setup(format!("{ENV_CA}={}: not a usable CA certificate: {e}", path.display()))
      })?;
    }
  }
  if roots.is_empty() {
    let why = native.errors.first().map(|e| format!(" ({e})")).unwrap_or_default();
    return Err(RemoteError::Setup(format!(
      "https: no trusted CA certificate found{why}; install the system's CA bundle (e.g. the `ca-certificates` package), or set SSL_CERT_FILE or {ENV_CA}"
    )));
  }
  let provider = Arc::new(rustls::crypto::ring::default_provider());
  let cfg = ClientConfig::builder_with_provider(provider)
    .with_safe_default_protocol_versions()
    .map_err(|e| RemoteError::Setup(format!("https: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
  Ok(Arc::new(cfg))
}

/// The TLS settings for `spec`: `Some` when it is reached over https.
pub fn for_backend(
  spec: &BackendSpec,
  extra_ca: Option<&Path>,
) -> Result<Option<Arc<ClientConfig>>, RemoteError> {
  if needs_tls(spec) {
    client_config(extra_ca).map(Some)
  } else {
    Ok(None)
  }
}
