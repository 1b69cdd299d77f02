//! One module per screen; each command is one engine call.

pub mod access;
pub mod capture;
pub mod deployment;
pub mod infra;
pub mod notifications;
pub mod people;
pub mod report;
pub mod rollout;
pub mod run;
pub mod scenarios;
pub mod services;
pub mod versions;
