//! `@farm/build-native`: the build system of FARM apps (FastAPI + React/Vite + Ollama + MongoDB).
//!
//! Everything but [`napi`] is plain Rust, usable and testable without Node.js:
//! [`config`] loads and validates the project configuration, [`plan`] turns targets into a task DAG,
//! [`run`] schedules that DAG (bounded concurrency, fail-fast or continue, cancellation, events),
//! [`builders`] holds one module per kind of task, [`deploy`] generates Dockerfiles, compose, Kubernetes
//! manifests and deploy scripts, and [`report`] writes the build manifest and metrics.

pub mod assets;
pub mod builders;
pub mod cache;
pub mod config;
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
