//! `switchyard webhooks …`: the node's notification endpoints and their deliveries.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::json;
use switchyard::notify::Delivery;

use super::{NodeArgs, client, print_json, read_secret};

#[derive(Subcommand)]
pub enum WebhooksCommand {
    /// Add a webhook: events (deploy, rollback, canary steps and endings, failed scenario
    /// runs) are POSTed to URL as JSON with a Slack-compatible `text`.
    Add {
        /// http:// or https:// URL.
        url: String,
        /// Only this service's events (default: every service's).
        #[arg(long)]
        service: Option<String>,
        /// A file holding the HMAC-SHA256 secret (16 to 256 characters) that signs each
        /// request; it is never shown again.
        #[arg(long)]
        secret_file: Option<PathBuf>,
    },
    /// List the webhooks (secrets are never shown; URLs are masked past their first segment).
    List,
    /// Remove a webhook; its pending deliveries end as failed.
    Remove { id: i64 },
    /// Send a test event to a webhook now and say how it went.
    Test { id: i64 },
    /// Recent deliveries, newest first, with their state and why they failed.
    Deliveries {
        /// Only this webhook's.
        #[arg(long)]
        webhook: Option<i64>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

pub async fn webhooks(command: WebhooksCommand, node: &NodeArgs) -> switchyard::Result<()> {
    let c = client(node)?;
    match command {
        WebhooksCommand::Add { url, service, secret_file } => {
            let secret = secret_file
                .as_deref()
                .map(read_secret)
                .transpose()
                .map_err(|e| switchyard::Error::InvalidInput(format!("{e:#}")))?;
            let hook = c.create_webhook(&json!({"url": url, "service": service, "secret": secret})).await?;
            if node.json {
                return print_json(&hook);
            }
            let signed = if hook.signed { "signed" } else { "unsigned" };
            println!(
                "webhook {} added: {} ({}, {signed})",
                hook.id,
                hook.url,
                hook.service.as_deref().unwrap_or("every service")
            );
        }
        WebhooksCommand::List => {
            let hooks = c.list_webhooks().await?;
            if node.json {
                return print_json(&hooks);
            }
            if hooks.is_empty() {
                println!("no webhooks: add one with `switchyard webhooks add URL`");
            }
            for h in hooks {
                let signed = if h.signed { "signed" } else { "unsigned" };
                let scope = h.service.as_deref().unwrap_or("every service");
                println!("{:>4}  {}  {scope}  {signed}  by {}", h.id, h.url, h.created_by);
            }
        }
        WebhooksCommand::Remove { id } => {
            c.remove_webhook(id).await?;
            println!("webhook {id} removed");
        }
        WebhooksCommand::Test { id } => {
            let d = c.test_webhook(id).await?;
            if node.json {
                return print_json(&d);
            }
            println!("{}", line(&d));
            if d.state != switchyard::notify::DeliveryState::Delivered {
                return Err(switchyard::Error::NodeUnreachable(format!(
                    "the test notification to webhook {id} was not delivered: {}",
                    d.last_error.as_deref().unwrap_or("no reason recorded")
                )));
            }
        }
        WebhooksCommand::Deliveries { webhook, limit } => {
            let ds = c.webhook_deliveries(webhook, limit).await?;
            if node.json {
                return print_json(&ds);
            }
            for d in &ds {
                println!("{}", line(d));
            }
        }
    }
    Ok(())
}

fn line(d: &Delivery) -> String {
    let state = format!("{:?}", d.state).to_lowercase();
    let why = d.last_error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
    format!(
        "{:>5}  webhook {}  {}  {}  {state} after {}/{} attempts{why}",
        d.id,
        d.webhook_id,
        d.created_at.format("%Y-%m-%d %H:%M:%S"),
        d.event,
        d.attempts,
        d.max_attempts
    )
}
