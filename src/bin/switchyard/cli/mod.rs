//! The command groups, one module each, and what they share: the node to talk to
//! ([`NodeArgs`], [`client`]) and JSON output.

pub mod access;
pub mod artifacts;
pub mod capture;
pub mod deploy;
pub mod generate;
pub mod people;
pub mod predict;
pub mod report;
pub mod rollout;
pub mod scenario;
pub mod serve;
pub mod services;
pub mod train_demo;
pub mod webhooks;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use switchyard::client::{DEFAULT_NODE_URL, NodeClient};

#[derive(Args, Clone)]
pub struct NodeArgs {
    /// The node's base URL.
    #[arg(long, global = true, env = "SWITCHYARD_NODE", default_value = DEFAULT_NODE_URL)]
    pub node: String,
    /// File holding the node's admin token.
    #[arg(long, global = true, env = "SWITCHYARD_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Print the node's JSON answer instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// Seconds a request to the node may take before it is given up.
    #[arg(long, global = true, env = "SWITCHYARD_TIMEOUT", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
}

pub fn read_secret(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let token = text.trim().to_owned();
    if token.len() < 16 {
        bail!("the token in {} is too short: use at least 16 characters", path.display());
    }
    Ok(token)
}

pub fn client(args: &NodeArgs) -> switchyard::Result<NodeClient> {
    let token = args
        .token_file
        .as_deref()
        .map(read_secret)
        .transpose()
        .map_err(|e| switchyard::Error::InvalidConfig(format!("{e:#}")))?;
    let user = std::env::var("USER").unwrap_or_else(|_| "cli".to_owned());
    NodeClient::with_timeout(&args.node, token, &format!("{user} (cli)"), std::time::Duration::from_secs(args.timeout))
}

pub fn print_json(v: &impl serde::Serialize) -> switchyard::Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(|e| switchyard::Error::Internal(e.to_string()))?;
    println!("{text}");
    Ok(())
}
