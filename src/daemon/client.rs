//! The client side: one connection per build, asked for each task's inputs.

use super::error::DaemonError;
use super::protocol::{
  binary_identity, decode_set, read_exact, read_line, socket_path, write_line, DaemonStatus, Reply,
  Request, WireSpec, PROTOCOL_VERSION,
};
use crate::hash::{InputSet, InputSpec};
use std::io::{BufReader, ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// How long the handshake may take before the build goes on without the daemon.
const HELLO_TIMEOUT: Duration = Duration::from_millis(500);
/// How long one `inputs` answer may take (a cold walk of a large tree).
const INPUTS_TIMEOUT: Duration = Duration::from_secs(120);

/// A build's connection to the project's daemon.
#[derive(Debug)]
pub struct Client {
  reader: BufReader<UnixStream>,
  writer: UnixStream,
}

/// Connects to the socket; `Ok(None)` when no daemon runs (no socket, or a stale one, which is
/// removed).
fn connect(socket: &Path) -> Result<Option<UnixStream>, DaemonError> {
  match UnixStream::connect(socket) {
    Ok(s) => Ok(Some(s)),
    Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
    Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
      // Nobody listens: a daemon that died without cleaning up.
      let _ = std::fs::remove_file(socket);
      Ok(None)
    }
    Err(e) => Err(DaemonError::io("connecting to", socket, e)),
  }
}

fn ask(stream: &UnixStream, req: &Request) -> Result<Reply, DaemonError> {
  let mut w = stream;
  write_line(&mut w, req).map_err(|e| DaemonError::io("writing to", "daemon socket", e))?;
  let mut r = BufReader::new(stream);
  read_line::<Reply>(&mut r)?.ok_or_else(|| DaemonError::Protocol("connection closed".into()))
}

impl Client {
  /// Connects to the daemon of the project and greets it. `Ok(None)` when no daemon runs;
  /// `Err(Mismatch)` when it runs another protocol or binary (`FARM_DAEMON_PROTOCOL` overrides
  /// the protocol this side claims, for tests of that path).
  pub fn connect(root: &Path, cache_dir: &Path) -> Result<Option<Client>, DaemonError> {
    let socket = socket_path(root, cache_dir);
    let Some(stream) = connect(&socket)? else { return Ok(None) };
    let io = |e| DaemonError::io("configuring", &socket, e);
    stream.set_read_timeout(Some(HELLO_TIMEOUT)).map_err(io)?;
    let protocol = std::env::var("FARM_DAEMON_PROTOCOL")
      .ok()
      .and_then(|v| v.parse().ok())
      .unwrap_or(PROTOCOL_VERSION);
    let reply = ask(&stream, &Request::Hello { protocol, identity: binary_identity() })?;
    if !reply.ok {
      return Err(DaemonError::Mismatch(reply.error.unwrap_or_default()));
    }
    stream.set_read_timeout(Some(INPUTS_TIMEOUT)).map_err(io)?;
    let writer = stream.try_clone().map_err(|e| DaemonError::io("cloning", &socket, e))?;
    Ok(Some(Client { reader: BufReader::new(stream), writer }))
  }

  /// The inputs of `spec` as the daemon knows them; `Ok(None)` when it does not serve that spec
  /// (a root outside the project), and the caller walks itself.
  pub fn hash_inputs(&mut self, spec: &InputSpec) -> Result<Option<InputSet>, DaemonError> {
    let req = Request::Inputs { spec: WireSpec::from(spec) };
    write_line(&mut self.writer, &req)
      .and_then(|_| self.writer.flush())
      .map_err(|e| DaemonError::io("writing to", "daemon socket", e))?;
    let reply: Reply = read_line(&mut self.reader)?
      .ok_or_else(|| DaemonError::Protocol("connection closed".into()))?;
    if !reply.ok {
      return Err(DaemonError::Remote(reply.error.unwrap_or_default()));
    }
    match (reply.served.as_deref(), reply.len) {
      (Some("outside"), _) => Ok(None),
      (Some("memo" | "walk"), Some(len)) => {
        decode_set(&read_exact(&mut self.reader, len)?).map(Some)
      }
      _ => Err(DaemonError::Protocol(format!("unexpected answer {reply:?}"))),
    }
  }
}

/// The status of the project's daemon; `Ok(None)` when none runs.
pub fn daemon_status(root: &Path, cache_dir: &Path) -> Result<Option<DaemonStatus>, DaemonError> {
  let socket = socket_path(root, cache_dir);
  let Some(stream) = connect(&socket)? else { return Ok(None) };
  stream
    .set_read_timeout(Some(Duration::from_secs(5)))
    .map_err(|e| DaemonError::io("configuring", &socket, e))?;
  let reply = ask(&stream, &Request::Status)?;
  reply.status.map(Some).ok_or_else(|| DaemonError::Protocol("status without a status".into()))
}

/// Asks the project's daemon to exit and waits (up to 5 s) until its socket is gone. Returns
/// whether one was running.
pub fn stop_daemon(root: &Path, cache_dir: &Path) -> Result<bool, DaemonError> {
  let socket = socket_path(root, cache_dir);
  let Some(stream) = connect(&socket)? else { return Ok(false) };
  stream
    .set_read_timeout(Some(Duration::from_secs(5)))
    .map_err(|e| DaemonError::io("configuring", &socket, e))?;
  let reply = ask(&stream, &Request::Stop)?;
  if !reply.ok {
    return Err(DaemonError::Remote(reply.error.unwrap_or_default()));
  }
  let deadline = std::time::Instant::now() + Duration::from_secs(5);
  while socket.exists() && std::time::Instant::now() < deadline {
    std::thread::sleep(Duration::from_millis(10));
  }
  Ok(true)
}
