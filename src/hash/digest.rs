//! 128-bit content digests (xxh3-128) and streaming file hashing.

use std::cell::RefCell;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use xxhash_rust::xxh3::{xxh3_128, Xxh3};

/// Size of the per-thread read buffer used by [`hash_file`].
const READ_BUF_LEN: usize = 128 * 1024;

/// An xxh3-128 digest. Serialized and displayed as 32 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Digest(pub u128);

impl Digest {
  /// Digest of an in-memory byte slice.
  pub fn of_bytes(bytes: &[u8]) -> Digest {
    Digest(xxh3_128(bytes))
  }

  /// The 32-character lowercase hex form.
  pub fn to_hex(self) -> String {
    format!("{:032x}", self.0)
  }

  /// Parses exactly 32 hex characters (either case); `None` for anything else.
  pub fn from_hex(s: &str) -> Option<Digest> {
    if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
      return None;
    }
    u128::from_str_radix(s, 16).ok().map(Digest)
  }
}

impl fmt::Display for Digest {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{:032x}", self.0)
  }
}

impl fmt::Debug for Digest {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "Digest({:032x})", self.0)
  }
}

impl Serialize for Digest {
  fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&self.to_hex())
  }
}

impl<'de> Deserialize<'de> for Digest {
  fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
    let s = String::deserialize(d)?;
    Digest::from_hex(&s)
      .ok_or_else(|| serde::de::Error::custom(format!("expected 32 hex characters, got {s:?}")))
  }
}

thread_local! {
  static READ_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Hashes a file's contents with xxh3-128, returning the digest and the number of bytes read.
///
/// Small files (up to 128 KiB) are hashed in one shot from a reused per-thread buffer; larger
/// files are streamed. Both paths give the same digest as [`Digest::of_bytes`] on the contents.
pub fn hash_file(path: &Path) -> io::Result<(Digest, u64)> {
  hash_open_file(&mut File::open(path)?)
}

/// Like [`hash_file`] for an already opened file.
pub fn hash_open_file(file: &mut File) -> io::Result<(Digest, u64)> {
  READ_BUF.with(|cell| {
    let mut buf = cell.borrow_mut();
    if buf.len() != READ_BUF_LEN {
      buf.resize(READ_BUF_LEN, 0);
    }
    hash_reader(file, &mut buf)
  })
}

/// Hashes everything `reader` yields using `buf` as scratch space (see [`hash_file`]).
pub fn hash_reader(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<(Digest, u64)> {
  // Fill the buffer once; if the input ends within it, hash in one shot.
  let mut filled = 0;
  while filled < buf.len() {
    match reader.read(&mut buf[filled..]) {
      Ok(0) => return Ok((Digest(xxh3_128(&buf[..filled])), filled as u64)),
      Ok(n) => filled += n,
      Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
      Err(e) => return Err(e),
    }
  }
  let mut hasher = Xxh3::new();
  hasher.update(&buf[..filled]);
  let mut total = filled as u64;
  loop {
    match reader.read(buf) {
      Ok(0) => break,
      Ok(n) => {
        hasher.update(&buf[..n]);
        total += n as u64;
      }
      Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
      Err(e) => return Err(e),
    }
  }
  Ok((Digest(hasher.digest128()), total))
}
