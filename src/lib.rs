//! Switchyard's engine: everything the product does, with no UI.
//!
//! - [`registry`]: services and immutable versions; the artifact store (data dir or object
//!   store, with a verified cache per node).
//! - [`model`]: ONNX inspection, loading (tract-onnx) and single-row prediction.
//! - [`router`]: mappings, their validation, weighted and sticky picks.
//! - [`deploy`]: deployment configs and append-only revisions.
//! - [`auth`]: who may call a deployment: auth modes and hashed API keys.
//! - [`monitor`]: per-generation requests, errors and latency percentiles per minute.
//! - [`drift`]: reference distributions per version and live drift (PSI, KS, class shares).
//! - [`engine`]: the [`Engine`] handle that ties them together and activates configs.
//! - [`node`]: the axum HTTP API node over an engine.
//! - [`infra`]: the remote API nodes the console manages, and [`infra::Target`].
//! - [`client`]: the typed HTTP client of a node's API (CLI, desktop run-and-test).
//! - [`runtest`]: run-and-test, N requests over HTTP with the observed split.
//! - [`report`]: deployment reports: HTML with plotters charts, CSV, PNG.
//! - [`scenario`]: scenarios (train, create version, evaluate, deploy) on cron triggers.
//! - [`clock`]: the injectable wall clock of the scheduler.
//! - [`build_info`]: the version and git commit of this build.
//! - [`store`]: the sqlx pool and migrations.
//!
//! Start with [`Engine::open`], then `node::router` to serve it.

pub mod approval;
pub mod audit;
pub mod auth;
pub mod build_info;
pub mod capture;
pub mod client;
pub mod clock;
pub mod demo;
pub mod deploy;
pub mod drift;
pub mod engine;
pub mod error;
pub mod events;
pub mod infra;
pub mod mlflow;
pub mod model;
pub mod monitor;
pub mod names;
pub mod node;
pub mod notify;
pub mod registry;
pub mod report;
pub mod router;
pub mod runtest;
pub mod scenario;
pub mod store;

pub use engine::{Engine, EngineConfig};
pub use error::{Error, ErrorCode, Result};
