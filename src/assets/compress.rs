//! Gzip and brotli sizes, byte-for-byte what Node's `zlib.gzipSync` / `zlib.brotliCompressSync`
//! produce with their defaults.
//!
//! When this code runs inside Node (the addon), the host process exports its own zlib and brotli
//! (Node ships them for addons), so they are called directly: deflate level 6, `windowBits` 31
//! (gzip), `memLevel` 8, default strategy; brotli with no parameter set (quality 11, `lgwin` 22,
//! generic mode), the whole input given with `BROTLI_OPERATION_FINISH` as Node does. The sizes are
//! then identical to Node's, from several threads at once. Outside Node (plain `cargo test`) the
//! pure-Rust fallback is `flate2` (miniz_oxide, level 6) and the `brotli` crate (quality 11,
//! `lgwin` 22), whose sizes are close to but not always equal to Node's; [`implementation`] says
//! which one is in use.

use std::io::Write;
use std::sync::OnceLock;

/// A compression failure (the codec returned an error code).
#[derive(Debug, thiserror::Error)]
pub enum CompressError {
  /// zlib's deflate failed.
  #[error("gzip failed: {0}")]
  Gzip(String),
  /// The brotli encoder failed.
  #[error("brotli failed: {0}")]
  Brotli(String),
}

/// Which codecs compute the sizes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Implementation {
  /// E.g. `zlib 1.3.1-e00f703 (host process), deflate level 6, windowBits 31, memLevel 8`.
  pub gzip: String,
  /// E.g. `brotli 1.1.0 (host process), quality 11, lgwin 22`.
  pub brotli: String,
  /// Whether the sizes equal Node's `zlib.gzipSync` / `zlib.brotliCompressSync` defaults.
  pub matches_node: bool,
}

/// The size of `data` gzipped with Node's defaults (level 6).
pub fn gzip_size(data: &[u8]) -> Result<u64, CompressError> {
  match host() {
    Some(h) => h.gzip_size(data),
    None => fallback_gzip_size(data),
  }
}

/// The size of `data` brotli-compressed with Node's defaults (quality 11).
pub fn brotli_size(data: &[u8]) -> Result<u64, CompressError> {
  match host() {
    Some(h) => h.brotli_size(data),
    None => fallback_brotli_size(data),
  }
}

/// Which codecs [`gzip_size`] and [`brotli_size`] use in this process.
pub fn implementation() -> Implementation {
  match host() {
    Some(h) => Implementation {
      gzip: format!(
        "zlib {} (host process), deflate level 6, windowBits 31, memLevel 8",
        h.zlib_version
      ),
      brotli: format!("brotli {} (host process), quality 11, lgwin 22", h.brotli_version),
      matches_node: true,
    },
    None => Implementation {
      gzip: "flate2 (miniz_oxide), deflate level 6".into(),
      brotli: "brotli crate (Rust port of Google's brotli), quality 11, lgwin 22".into(),
      matches_node: false,
    },
  }
}

fn fallback_gzip_size(data: &[u8]) -> Result<u64, CompressError> {
  let mut enc = flate2::write::GzEncoder::new(CountingSink(0), flate2::Compression::new(6));
  enc.write_all(data).map_err(|e| CompressError::Gzip(e.to_string()))?;
  let sink = enc.finish().map_err(|e| CompressError::Gzip(e.to_string()))?;
  Ok(sink.0)
}

fn fallback_brotli_size(data: &[u8]) -> Result<u64, CompressError> {
  let params = brotli::enc::BrotliEncoderParams {
    quality: 11,
    lgwin: 22,
    size_hint: data.len(),
    ..Default::default()
  };
  let mut sink = CountingSink(0);
  brotli::BrotliCompress(&mut &data[..], &mut sink, &params)
    .map_err(|e| CompressError::Brotli(e.to_string()))?;
  Ok(sink.0)
}

/// A writer that only counts bytes.
struct CountingSink(u64);

impl Write for CountingSink {
  fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
    self.0 += buf.len() as u64;
    Ok(buf.len())
  }
  fn flush(&mut self) -> std::io::Result<()> {
    Ok(())
  }
}

fn host() -> Option<&'static host::HostCodecs> {
  static HOST: OnceLock<Option<host::HostCodecs>> = OnceLock::new();
  HOST.get_or_init(host::HostCodecs::find).as_ref()
}

#[cfg(unix)]
mod host {
  //! The host process's zlib and brotli, found with `dlsym(RTLD_DEFAULT, …)`.

  use super::CompressError;
  use std::ffi::{c_char, c_int, c_uint, c_ulong, c_void, CStr};

  /// zlib's `z_stream` (the layout is part of zlib's ABI).
  #[repr(C)]
  struct ZStream {
    next_in: *const u8,
    avail_in: c_uint,
    total_in: c_ulong,
    next_out: *mut u8,
    avail_out: c_uint,
    total_out: c_ulong,
    msg: *const c_char,
    state: *mut c_void,
    zalloc: *const c_void,
    zfree: *const c_void,
    opaque: *mut c_void,
    data_type: c_int,
    adler: c_ulong,
    reserved: c_ulong,
  }

  type DeflateInit2 = unsafe extern "C" fn(
    *mut ZStream,
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    *const c_char,
    c_int,
  ) -> c_int;
  type Deflate = unsafe extern "C" fn(*mut ZStream, c_int) -> c_int;
  type DeflateEnd = unsafe extern "C" fn(*mut ZStream) -> c_int;
  type ZlibVersion = unsafe extern "C" fn() -> *const c_char;
  type BrCreate = unsafe extern "C" fn(*const c_void, *const c_void, *mut c_void) -> *mut c_void;
  type BrDestroy = unsafe extern "C" fn(*mut c_void);
  type BrStream = unsafe extern "C" fn(
    *mut c_void,
    c_int,
    *mut usize,
    *mut *const u8,
    *mut usize,
    *mut *mut u8,
    *mut usize,
  ) -> c_int;
  type BrIsFinished = unsafe extern "C" fn(*mut c_void) -> c_int;
  type BrVersion = unsafe extern "C" fn() -> u32;

  const Z_FINISH: c_int = 4;
  const Z_OK: c_int = 0;
  const Z_STREAM_END: c_int = 1;
  const Z_BUF_ERROR: c_int = -5;
  const BROTLI_OPERATION_FINISH: c_int = 2;
  const OUT_CHUNK: usize = 64 * 1024;

  /// Function pointers into the host's codecs.
  pub(super) struct HostCodecs {
    deflate_init2: DeflateInit2,
    deflate: Deflate,
    deflate_end: DeflateEnd,
    br_create: BrCreate,
    br_destroy: BrDestroy,
    br_stream: BrStream,
    br_is_finished: BrIsFinished,
    pub(super) zlib_version: String,
    pub(super) brotli_version: String,
  }

  fn sym(name: &CStr) -> Option<*mut c_void> {
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only looks a symbol up.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!p.is_null()).then_some(p)
  }

  impl HostCodecs {
    /// Finds every needed symbol, or `None` when the process does not export them all.
    pub(super) fn find() -> Option<HostCodecs> {
      // SAFETY: each pointer is the address of the C function of that name, whose signature is
      // fixed by zlib's and brotli's public headers (transmuted to exactly that signature).
      unsafe {
        let zlib_version: ZlibVersion = std::mem::transmute(sym(c"zlibVersion")?);
        let br_version: BrVersion = std::mem::transmute(sym(c"BrotliEncoderVersion")?);
        let codecs = HostCodecs {
          deflate_init2: std::mem::transmute::<*mut c_void, DeflateInit2>(sym(c"deflateInit2_")?),
          deflate: std::mem::transmute::<*mut c_void, Deflate>(sym(c"deflate")?),
          deflate_end: std::mem::transmute::<*mut c_void, DeflateEnd>(sym(c"deflateEnd")?),
          br_create: std::mem::transmute::<*mut c_void, BrCreate>(sym(
            c"BrotliEncoderCreateInstance",
          )?),
          br_destroy: std::mem::transmute::<*mut c_void, BrDestroy>(sym(
            c"BrotliEncoderDestroyInstance",
          )?),
          br_stream: std::mem::transmute::<*mut c_void, BrStream>(sym(
            c"BrotliEncoderCompressStream",
          )?),
          br_is_finished: std::mem::transmute::<*mut c_void, BrIsFinished>(sym(
            c"BrotliEncoderIsFinished",
          )?),
          zlib_version: {
            let v = zlib_version();
            if v.is_null() {
              return None;
            }
            CStr::from_ptr(v).to_string_lossy().into_owned()
          },
          brotli_version: {
            let v = br_version();
            format!("{}.{}.{}", v >> 24, (v >> 12) & 0xfff, v & 0xfff)
          },
        };
        // zlib 1.x only: the z_stream layout above is zlib 1's.
        codecs.zlib_version.starts_with("1.").then_some(codecs)
      }
    }

    /// `zlib.gzipSync(data).length` with Node's defaults.
    pub(super) fn gzip_size(&self, data: &[u8]) -> Result<u64, CompressError> {
      let mut out = vec![0u8; OUT_CHUNK];
      // SAFETY: a zeroed z_stream (null allocators = zlib's defaults) is what deflateInit2_ expects;
      // next_in/next_out point into live buffers with the lengths given; deflateEnd frees the state.
      unsafe {
        let mut s: ZStream = std::mem::zeroed();
        let rc = (self.deflate_init2)(
          &mut s,
          6,
          8,
          31,
          8,
          0,
          c"1.3.1".as_ptr(),
          std::mem::size_of::<ZStream>() as c_int,
        );
        if rc != Z_OK {
          return Err(CompressError::Gzip(format!("deflateInit2 returned {rc}")));
        }
        let mut rest = data;
        let result = loop {
          if s.avail_in == 0 && !rest.is_empty() {
            let n = rest.len().min(c_uint::MAX as usize);
            s.next_in = rest.as_ptr();
            s.avail_in = n as c_uint;
            rest = &rest[n..];
          }
          s.next_out = out.as_mut_ptr();
          s.avail_out = OUT_CHUNK as c_uint;
          let flush = if rest.is_empty() { Z_FINISH } else { 0 };
          match (self.deflate)(&mut s, flush) {
            Z_STREAM_END => break Ok(s.total_out as u64),
            Z_OK | Z_BUF_ERROR => continue,
            rc => break Err(CompressError::Gzip(format!("deflate returned {rc}"))),
          }
        };
        (self.deflate_end)(&mut s);
        result
      }
    }

    /// `zlib.brotliCompressSync(data).length` with Node's defaults.
    pub(super) fn brotli_size(&self, data: &[u8]) -> Result<u64, CompressError> {
      let mut out = vec![0u8; OUT_CHUNK];
      // SAFETY: the encoder is created with default allocators and destroyed once; the in/out
      // pointers and lengths describe live buffers and are advanced by the encoder itself.
      unsafe {
        let st = (self.br_create)(std::ptr::null(), std::ptr::null(), std::ptr::null_mut());
        if st.is_null() {
          return Err(CompressError::Brotli("could not create an encoder".into()));
        }
        let mut avail_in = data.len();
        let mut next_in = data.as_ptr();
        let mut total = 0usize;
        let result = loop {
          let mut avail_out = OUT_CHUNK;
          let mut next_out = out.as_mut_ptr();
          let ok = (self.br_stream)(
            st,
            BROTLI_OPERATION_FINISH,
            &mut avail_in,
            &mut next_in,
            &mut avail_out,
            &mut next_out,
            &mut total,
          );
          if ok == 0 {
            break Err(CompressError::Brotli("BrotliEncoderCompressStream failed".into()));
          }
          if (self.br_is_finished)(st) != 0 {
            break Ok(total as u64);
          }
        };
        (self.br_destroy)(st);
        result
      }
    }
  }

  // SAFETY: plain function pointers into thread-safe C libraries (each call uses its own stream).
  unsafe impl Send for HostCodecs {}
  // SAFETY: as above; nothing is shared between calls.
  unsafe impl Sync for HostCodecs {}
}

#[cfg(not(unix))]
mod host {
  //! No symbol lookup off Unix: the pure-Rust codecs are used.

  /// Never found.
  pub(super) struct HostCodecs {
    pub(super) zlib_version: String,
    pub(super) brotli_version: String,
  }

  impl HostCodecs {
    pub(super) fn find() -> Option<HostCodecs> {
      None
    }
    pub(super) fn gzip_size(&self, _: &[u8]) -> Result<u64, super::CompressError> {
      Err(super::CompressError::Gzip("no host zlib".into()))
    }
    pub(super) fn brotli_size(&self, _: &[u8]) -> Result<u64, super::CompressError> {
      Err(super::CompressError::Brotli("no host brotli".into()))
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::io::Read;

  #[test]
  fn fallback_gzip_round_trips_and_counts_the_whole_stream() {
    let data = b"hello hello hello hello, a little text that compresses well well well".repeat(50);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    enc.write_all(&data).unwrap();
    let bytes = enc.finish().unwrap();
    assert_eq!(fallback_gzip_size(&data).unwrap(), bytes.len() as u64);
    let mut back = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..]).read_to_end(&mut back).unwrap();
    assert_eq!(back, data);
    assert!(bytes.len() < data.len() / 5);
  }

  #[test]
  fn fallback_brotli_is_decodable_and_smaller_than_gzip_on_text() {
    let data = b"export const x = 1; function f(a) { return a + 1 }\n".repeat(200);
    let b = fallback_brotli_size(&data).unwrap();
    let g = fallback_gzip_size(&data).unwrap();
    assert!(b > 0 && b < g, "brotli {b} gzip {g}");
    // empty input: gzip is its 20-byte frame, brotli a single byte (as Node gives)
    assert_eq!(fallback_gzip_size(b"").unwrap(), 20);
    assert_eq!(fallback_brotli_size(b"").unwrap(), 1);
  }

  #[test]
  fn implementation_names_its_codecs() {
    let i = implementation();
    assert!(i.gzip.contains("level 6"), "{i:?}");
    assert!(i.brotli.contains("quality 11"), "{i:?}");
  }
}
