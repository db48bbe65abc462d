//! Warm mode: a per-project background process (`farm daemon start`) that keeps the input walks
//! of the project's tasks in memory, invalidated by file-system events, and answers the CLI over
//! a local socket.
//!
//! The daemon only serves what [`crate::hash::hash_inputs`] would return for an
//! [`crate::hash::InputSpec`]; the build itself (keys, env vars, tool versions, cache lookups,
//! restores, tasks) always runs in the client, so output and exit codes are those of the normal
//! path. A memoized walk is served only when, after a synchronization point that guarantees every
//! earlier file-system event was seen, no event touched the walk's tree and the ancestor
//! `.gitignore`/`.git` files are unchanged; otherwise the daemon walks afresh (with its in-memory
//! stat cache). Any watcher error or queue overflow turns memoization off for good.
//!
//! Protocol (line-delimited JSON over a Unix socket, one connection per build): `hello`
//! (protocol version + binary identity; a mismatch refuses), `inputs` (a spec; the answer is a
//! JSON header line then a binary file list), `status`, `stop`.

mod client;
mod error;
mod memo;
mod protocol;
mod server;
mod watch;

pub use client::{daemon_status, stop_daemon, Client};
pub use error::DaemonError;
pub use memo::{Memo, SpecKey};
pub use protocol::{binary_identity, socket_path, DaemonStatus, PROTOCOL_VERSION};
pub use server::{serve, ServeEnd, ServeOptions};
