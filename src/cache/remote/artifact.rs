//! The remote artifact: one cache entry (its JSON, which records the outputs with their modes and
//! symlinks, the result and the logs) and every blob it references, as one deterministic
//! `tar.zst`. Members, in this order: `entry.json`, then `blobs/<32 hex>` sorted by hash; every
//! header has mode 0644, uid/gid 0, mtime 0 and no user names, so one entry always packs to the
//! same bytes.
//!
//! Unpacking checks everything before it writes: only those member names, regular files only,
//! each blob's xxh3 equal to its name, the entry's key equal to the one asked for, the entry's
//! paths and symlinks passing the same escape checks as a local restore, every referenced blob
//! present with its size; a size cap bounds decompression. Then blobs go into the local store and
//! the entry is renamed into place last, so the normal verified local restore takes it from there.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};

use super::super::entry::{check_entry, Entry, ENTRY_FORMAT};
use super::super::error::CacheError;
use super::super::fsutil::write_atomic;
use super::super::store::{check_key, Store};
use crate::hash::Digest;

/// zstd level of artifacts: fast, and deterministic for a given zstd version.
const ZSTD_LEVEL: i32 = 3;

/// Why an artifact could not be made or was refused.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
  /// The local store has no (readable) entry for the key.
  #[error("no local cache entry for {0}")]
  NoEntry(String),
  /// A blob of the entry is missing or corrupt in the local store.
  #[error("blob {hash} of entry {key} is missing or corrupt in the local cache")]
  LocalBlob {
    /// The entry's key.
    key: String,
    /// The blob.
    hash: String,
  },
  /// Packing or unpacking failed at the byte level (bad zstd or tar stream, truncated data).
  #[error("artifact stream: {0}")]
  Stream(#[source] io::Error),
  /// The unpacked artifact is larger than allowed.
  #[error("the artifact unpacks to more than {limit} bytes")]
  TooLarge {
    /// The cap, bytes.
    limit: u64,
  },
  /// A member that does not belong in an artifact (a path escape, a link, an unknown name).
  #[error("refused member {name:?}: {why}")]
  Member {
    /// The member's name as stored.
    name: String,
    /// What is wrong with it.
    why: &'static str,
  },
  /// A blob's contents do not match its name.
  #[error("blob {0} does not match its digest")]
  BlobDigest(String),
  /// `entry.json` is absent or not a valid entry.
  #[error("bad entry: {0}")]
  BadEntry(String),
  /// The entry is for another key.
  #[error("the artifact holds the entry of key {found}, not {expected}")]
  WrongKey {
    /// The key asked for.
    expected: String,
    /// The key inside.
    found: String,
  },
  /// An output record would escape its directory (the local restore's checks).
  #[error("output {path} {why}")]
  UnsafePath {
    /// `label/path` of the record.
    path: String,
    /// The check that failed.
    why: &'static str,
  },
  /// Writing into the local store failed.
  #[error(transparent)]
  Cache(#[from] CacheError),
}

/// What unpacking an artifact did.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
  /// The entry now in the local store.
  pub entry: Entry,
  /// Blobs written (those not already present).
  pub new_blobs: u64,
  /// Size of the unpacked contents, bytes.
  pub unpacked_bytes: u64,
}

fn tar_header(name: &str, size: u64) -> Result<tar::Header, ArtifactError> {
  let mut h = tar::Header::new_ustar();
  h.set_path(name).map_err(ArtifactError::Stream)?;
  h.set_size(size);
  h.set_mode(0o644);
  h.set_uid(0);
  h.set_gid(0);
  h.set_mtime(0);
  h.set_entry_type(tar::EntryType::Regular);
  h.set_cksum();
  Ok(h)
}

/// Packs the local entry of `key` into an artifact.
pub fn pack(store: &Store, key: &str) -> Result<Vec<u8>, ArtifactError> {
  check_key(key)?;
  // Shared lock: no eviction or `cache clean` removes blobs while they are read.
  let lock = store.lock()?;
  let _g = lock.shared().map_err(|e| CacheError::io("locking", store.dir().join("LOCK"), e))?;
  let entry = store.read_entry(key).ok_or_else(|| ArtifactError::NoEntry(key.to_string()))?;
  pack_entry(store, &entry)
}

/// Packs `entry` (whose blobs are in `store`) into an artifact.
pub fn pack_entry(store: &Store, entry: &Entry) -> Result<Vec<u8>, ArtifactError> {
  let json = serde_json::to_vec(entry).map_err(|e| ArtifactError::BadEntry(e.to_string()))?;
  let mut tar = tar::Builder::new(Vec::new());
  tar
    .append(&tar_header("entry.json", json.len() as u64)?, json.as_slice())
    .map_err(ArtifactError::Stream)?;
  for b in entry.blobs() {
    let bytes = store
      .read_blob(b)
      .map_err(|_| ArtifactError::LocalBlob { key: entry.key.clone(), hash: b.hash.to_hex() })?;
    let name = format!("blobs/{}", b.hash.to_hex());
    tar
      .append(&tar_header(&name, bytes.len() as u64)?, bytes.as_slice())
      .map_err(ArtifactError::Stream)?;
  }
  let tar = tar.into_inner().map_err(ArtifactError::Stream)?;
  zstd::stream::encode_all(tar.as_slice(), ZSTD_LEVEL).map_err(ArtifactError::Stream)
}

/// The members of an artifact, checked for names, types, digests and the size cap.
fn read_members(
  bytes: &[u8],
  limit: u64,
) -> Result<(Vec<u8>, BTreeMap<Digest, Vec<u8>>, u64), ArtifactError> {
  let decoder = zstd::stream::read::Decoder::new(bytes).map_err(ArtifactError::Stream)?;
  // One byte over the cap tells "too large" apart from "exactly at the cap".
  let mut archive = tar::Archive::new(decoder.take(limit.saturating_add(1)));
  let mut entry_json = None;
  let mut blobs = BTreeMap::new();
  let mut total = 0u64;
  for member in archive.entries().map_err(ArtifactError::Stream)? {
    let mut member = member.map_err(ArtifactError::Stream)?;
    let name = String::from_utf8_lossy(&member.path_bytes()).into_owned();
    if member.header().entry_type() != tar::EntryType::Regular {
      return Err(ArtifactError::Member { name, why: "is not a regular file" });
    }
    let size = member.header().size().map_err(ArtifactError::Stream)?;
    total = total.saturating_add(size);
    if total > limit {
      return Err(ArtifactError::TooLarge { limit });
    }
    let mut data = Vec::with_capacity(size.min(1 << 24) as usize);
    member.read_to_end(&mut data).map_err(ArtifactError::Stream)?;
    if data.len() as u64 != size {
      return Err(ArtifactError::Stream(io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("member {name} is truncated"),
      )));
    }
    if name == "entry.json" {
      if entry_json.replace(data).is_some() {
        return Err(ArtifactError::Member { name, why: "appears twice" });
      }
      continue;
    }
    let hash = name
      .strip_prefix("blobs/")
      .filter(|h| {
        h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
      })
      .and_then(Digest::from_hex)
      .ok_or(ArtifactError::Member {
        name: name.clone(),
        why: "is not entry.json or blobs/<32 lowercase hex>",
      })?;
    if Digest::of_bytes(&data) != hash {
      return Err(ArtifactError::BlobDigest(hash.to_hex()));
    }
    if blobs.insert(hash, data).is_some() {
      return Err(ArtifactError::Member { name, why: "appears twice" });
    }
  }
  let entry_json = entry_json.ok_or_else(|| ArtifactError::BadEntry("no entry.json".into()))?;
  Ok((entry_json, blobs, total))
}

/// Checks an artifact for `key` completely, without writing anything: the entry and its blobs.
pub fn verify(
  bytes: &[u8],
  key: &str,
  limit: u64,
) -> Result<(Entry, BTreeMap<Digest, Vec<u8>>, u64), ArtifactError> {
  check_key(key)?;
  let (json, blobs, total) = read_members(bytes, limit)?;
  let entry: Entry =
    serde_json::from_slice(&json).map_err(|e| ArtifactError::BadEntry(e.to_string()))?;
  if entry.format != ENTRY_FORMAT {
    return Err(ArtifactError::BadEntry(format!(
      "entry format {} (this version reads {ENTRY_FORMAT})",
      entry.format
    )));
  }
  if entry.key != key {
    return Err(ArtifactError::WrongKey { expected: key.into(), found: entry.key });
  }
  check_entry(&entry).map_err(|(path, why)| ArtifactError::UnsafePath { path, why })?;
  let refs = entry.blobs();
  for b in &refs {
    match blobs.get(&b.hash) {
      Some(data) if data.len() as u64 == b.size => {}
      Some(_) => {
        return Err(ArtifactError::BadEntry(format!("blob {} has the wrong size", b.hash)))
      }
      None => return Err(ArtifactError::BadEntry(format!("blob {} is missing", b.hash))),
    }
  }
  if blobs.len() != refs.len() {
    return Err(ArtifactError::BadEntry("the artifact holds blobs its entry does not use".into()));
  }
  Ok((entry, blobs, total))
}

/// Verifies an artifact for `key` (see [`verify`]) and, only if all of it is sound, writes its
/// blobs and then its entry into `store`. `limit` caps the unpacked size.
pub fn unpack_into(
  store: &Store,
  bytes: &[u8],
  key: &str,
  limit: u64,
) -> Result<Imported, ArtifactError> {
  let (entry, blobs, total) = verify(bytes, key, limit)?;
  let lock = store.lock()?;
  let _g = lock.shared().map_err(|e| CacheError::io("locking", store.dir().join("LOCK"), e))?;
  let tmp = store.tmp_dir();
  let mut new_blobs = 0;
  for (hash, data) in &blobs {
    let dest = store.blob_path(*hash);
    if fs::metadata(&dest).is_ok_and(|m| m.len() == data.len() as u64) {
      continue;
    }
    if let Some(parent) = dest.parent() {
      fs::create_dir_all(parent).map_err(|e| CacheError::io("creating directory", parent, e))?;
    }
    write_atomic(&tmp, &dest, data).map_err(|e| CacheError::io("storing blob", &dest, e))?;
    new_blobs += 1;
  }
  let path = store.entry_path(key);
  let json =
    serde_json::to_vec(&entry).map_err(|e| CacheError::Json { path: path.clone(), source: e })?;
  write_atomic(&tmp, &path, &json).map_err(|e| CacheError::io("writing entry", &path, e))?;
  Ok(Imported { entry, new_blobs, unpacked_bytes: total })
}
