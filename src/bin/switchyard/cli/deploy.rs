//! `switchyard deploy`, `rollback` and `history`: a service's deployment and its revisions.

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::Value;
use switchyard::deploy::Revision;
use switchyard::engine::DeployOutcome;

use super::{NodeArgs, client, print_json};

#[derive(Args)]
pub struct DeployArgs {
    service: String,
    /// The version to serve alone.
    #[arg(required_unless_present = "mapping", conflicts_with = "mapping")]
    version: Option<String>,
    /// A mapping, as JSON or @FILE: '[{"generation":"v2","proba":0.7},{"generation":"v1","proba":0.3}]'.
    #[arg(long)]
    mapping: Option<String>,
    /// Assign requests with an x-switchyard-key header by a stable hash of the key.
    #[arg(long)]
    sticky: bool,
    /// Why (recorded in the revision history).
    #[arg(long, default_value = "")]
    reason: String,
    #[command(flatten)]
    node: NodeArgs,
}

impl DeployArgs {
    /// The deployment config asked for: the version alone, or the mapping (read from @FILE).
    pub fn config(&self) -> Result<Value> {
        let sticky = self.sticky;
        Ok(match (&self.version, &self.mapping) {
            (Some(v), _) => serde_json::json!({"mode": "single", "generation": v, "sticky": sticky}),
            (None, Some(m)) => {
                let text = match m.strip_prefix('@') {
                    Some(path) => std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?,
                    None => m.clone(),
                };
                let mapping: Value = serde_json::from_str(&text).context("--mapping is not valid JSON")?;
                serde_json::json!({"mode": "multiple", "mapping": mapping, "sticky": sticky})
            }
            (None, None) => bail!("give a VERSION or --mapping"),
        })
    }
}

/// Deploys; on a protected service the node records an approval request instead.
pub async fn deploy(args: &DeployArgs, config: &Value) -> switchyard::Result<()> {
    match client(&args.node)?.deploy(&args.service, config, &args.reason).await? {
        DeployOutcome::Deployed { revision } => print_revision(&revision, args.node.json),
        DeployOutcome::ApprovalRequested { request } => super::people::print_request(&request, args.node.json),
    }
}

pub async fn rollback(
    service: &str,
    to_revision: Option<i64>,
    reason: &str,
    node: &NodeArgs,
) -> switchyard::Result<()> {
    print_revision(&client(node)?.rollback(service, to_revision, reason).await?, node.json)
}

pub async fn history(service: &str, node: &NodeArgs) -> switchyard::Result<()> {
    let revs = client(node)?.revisions(service).await?;
    if node.json {
        return print_json(&revs);
    }
    println!("{:>4}  {:<20}  {:<9}  {:<16}  {:<44}  WHY", "REV", "WHEN", "KIND", "WHO", "CONFIG");
    for r in revs.iter().rev() {
        println!(
            "{:>4}  {:<20}  {:<9}  {:<16}  {:<44}  {}",
            r.number,
            r.created_at.format("%Y-%m-%d %H:%M:%S"),
            format!("{:?}", r.kind).to_lowercase(),
            r.author,
            r.config.describe(),
            r.reason
        );
    }
    Ok(())
}

fn print_revision(r: &Revision, json: bool) -> switchyard::Result<()> {
    if json {
        return print_json(r);
    }
    println!("{} revision {}: {} ({})", r.service, r.number, r.config.describe(), r.reason);
    Ok(())
}
