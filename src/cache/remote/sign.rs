//! Artifact signatures: Turborepo's `x-artifact-tag` scheme. The tag is the base64 (standard,
//! padded) HMAC-SHA256, keyed with the signature key, of the artifact's id (which holds the task
//! key), then the team id, then the artifact bytes; so a tag cannot be moved to another key,
//! another team or other contents.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why an artifact's tag was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
  /// A signature key is set but the artifact came without a tag.
  #[error("the artifact is not signed, but a signature key is set")]
  Missing,
  /// The tag is not base64.
  #[error("the artifact's tag is not valid base64")]
  Malformed,
  /// The tag does not match the artifact, its key and team (tampered, or another signature key).
  #[error("the artifact's signature does not match (tampered with, or signed with another key)")]
  Mismatch,
}

/// Signs and checks artifacts with one key for one team. `Debug` never shows the key.
#[derive(Clone)]
pub struct Signer {
  key: Vec<u8>,
  team: String,
}

impl std::fmt::Debug for Signer {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    f.debug_struct("Signer").field("team", &self.team).field("key", &"<redacted>").finish()
  }
}

impl Signer {
  /// A signer with the secret `key` (the bytes of the signature key env var) for `team`
  /// (empty when no team is configured).
  pub fn new(key: impl Into<Vec<u8>>, team: impl Into<String>) -> Self {
    Signer { key: key.into(), team: team.into() }
  }

  fn mac(&self, id: &str, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC accepts any key length");
    mac.update(id.as_bytes());
    mac.update(self.team.as_bytes());
    mac.update(body);
    mac
  }

  /// The `x-artifact-tag` of `body` stored under `id`.
  pub fn tag(&self, id: &str, body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(self.mac(id, body).finalize().into_bytes())
  }

  /// Checks a tag (in constant time) before anything of the artifact is used.
  pub fn verify(&self, id: &str, body: &[u8], tag: Option<&str>) -> Result<(), SignatureError> {
    let tag = tag.map(str::trim).filter(|t| !t.is_empty()).ok_or(SignatureError::Missing)?;
    let raw = base64::engine::general_purpose::STANDARD
      .decode(tag)
      .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(tag))
      .map_err(|_| SignatureError::Malformed)?;
    self.mac(id, body).verify_slice(&raw).map_err(|_| SignatureError::Mismatch)
  }
}
