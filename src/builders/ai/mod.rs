//! The ai-models builder: Ollama model configs, pulls and exports, custom model bundles and
//! the sanitized `ai-config.json` for deployment.
//!
//! - [`config`]: the farm config's `ai` section ([`config::AiConfig`]) and its validation.
//! - [`ollama`]: async HTTP/1.1 client for Ollama's API (no TLS).
//! - [`store`]: Ollama's on-disk model store, digest verification, export with a Modelfile.
//! - [`export_index`]: `models/exported-models.json`, the export format the docker task reads.
//! - [`custom`]: custom model directories copied with checksums (never converted).
//! - [`secrets`]: the recursive secret scrubber.
//! - [`build_ai`] runs the task; [`model_digests`] and [`cache_key`] give its cache key.

pub mod config;
pub mod custom;
pub mod export_index;
pub mod ollama;
pub mod secrets;
pub mod store;

mod build;
mod fsutil;
mod task;

pub use task::AiModelsBuilder;

#[cfg(test)]
mod fake_ollama;
#[cfg(test)]
mod tests;

pub use build::{
  build_ai, cache_key, model_digests, AiArtifact, AiContext, AiError, AiEvent, AiOutput, LogLevel,
};
