//! The Docker builder: images made from farm's outputs through the Docker Engine API (bollard,
//! version negotiated), a Rust-made tar build context honouring `.dockerignore`, build skipping by
//! context hash, the image checks and the smoke run, push to a registry with credentials from
//! environment variables, and the docker task that ties it to the file generation in `deploy`.

mod builder;
pub mod checks;
pub mod config;
pub mod container;
pub mod context;
pub mod engine;
pub mod error;
pub mod ignore;
pub mod progress;
pub mod stage;
pub mod task;
pub mod toolchain;

pub use builder::{python_deps, DockerBuilder};
pub use config::DockerConfig;
pub use error::DockerError;
