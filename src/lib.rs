//! `@farm/build-native`: the build system of FARM apps (FastAPI + React/Vite + Ollama + MongoDB).
//!
//! Everything but [`napi`] is plain Rust, usable and testable without Node.js:
//! [`config`] loads and validates the project configuration, [`plan`] turns targets into a task DAG,
//! [`run`] schedules that DAG (bounded concurrency, fail-fast or continue, cancellation, events),
//! [`builders`] holds one module per kind of task, [`deploy`] generates Dockerfiles, compose, Kubernetes
//! manifests and deploy scripts, and [`report`] writes the build manifest and metrics.
//!
//! Platforms: Unix only. Process groups, signals, the lifeline watchdog, file modes and symlinks in
//! cache entries use Unix APIs throughout; Linux-only calls (`PR_SET_PDEATHSIG`, `/proc`) are gated
//! by `target_os = "linux"` with portable Unix fallbacks. The npm package claims only the targets
//! that are built and tested (linux-x64-gnu); other targets stop here with one clear message.
#[cfg(not(unix))]
compile_error!(
  "@farm/build-native builds on Unix (Linux, macOS) only: its process control (process groups, \
   signals, the lifeline watchdog) and cache entries (file modes, symlinks) use Unix APIs, and no \
   Windows port is built or tested yet. Use WSL 2 on Windows."
);

pub mod assets;
pub mod builders;
pub mod cache;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod deploy;
pub mod error;
pub mod hash;
pub mod orchestrator;
pub mod plan;
pub mod report;
pub mod run;
pub mod typegen;

#[cfg(feature = "node-addon")]
mod napi;
