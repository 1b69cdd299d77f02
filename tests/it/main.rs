//! Engine integration tests: each starts a real node on an ephemeral loopback port and
//! talks HTTP to it. One binary, so it links once.

mod access;
mod approvals;
mod bad_input;
mod canary;
mod capture;
mod cli;
mod compat;
mod crash;
mod deploy;
mod drift;
mod events;
mod hostile;
mod mlflow;
mod objstore;
mod oip;
mod people;
mod predict;
mod remote;
mod report;
mod rollout;
mod routing;
mod runtest;
mod scenario;
mod shared;
mod support;
mod switching;
mod webhooks;
