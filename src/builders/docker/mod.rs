//! The Docker builder: image builds through the Docker Engine API (bollard, version negotiated),
//! a Rust-made tar build context honouring `.dockerignore`, build skipping by context hash, push to
//! a registry with credentials from environment variables, and the docker task that ties it to the
//! file generation in `deploy`.

mod builder;
pub mod config;
pub mod context;
pub mod engine;
pub mod error;
pub mod ignore;
pub mod task;
pub mod toolchain;

pub use builder::DockerBuilder;
pub use config::DockerConfig;
pub use error::DockerError;
