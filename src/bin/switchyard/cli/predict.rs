//! `switchyard predict`: send one prediction request, as a client of the deployment would.

use anyhow::{Context, Result};
use clap::Args;
use serde_json::Value;
use switchyard::auth::ClientCredential;

use super::{NodeArgs, client, print_json};

#[derive(Args)]
pub struct PredictArgs {
    service: String,
    /// Features as a JSON object: '{"sepal_length":5.1,…}'.
    #[arg(long)]
    features: String,
    /// Force this generation.
    #[arg(long)]
    generation: Option<String>,
    /// Sticky key.
    #[arg(long)]
    key: Option<String>,
    /// The deployment's API key (when its auth mode asks for one).
    #[arg(long, env = "SWITCHYARD_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Send --api-key as basic auth with this user name (the key's name).
    #[arg(long, requires = "api_key")]
    basic_user: Option<String>,
    #[command(flatten)]
    node: NodeArgs,
}

impl PredictArgs {
    /// `--features`, parsed.
    pub fn features(&self) -> Result<Value> {
        serde_json::from_str(&self.features).context("--features is not valid JSON")
    }
}

pub async fn predict(args: PredictArgs, features: &Value) -> switchyard::Result<()> {
    let PredictArgs { service, generation, key, api_key, basic_user, node, .. } = args;
    let credential = match (api_key, basic_user) {
        (Some(key), None) => Some(ClientCredential::ApiKey { key }),
        (Some(password), Some(user)) => Some(ClientCredential::Basic { user, password }),
        (None, _) => None,
    };
    let c = client(&node)?;
    print_json(&c.predict(&service, features, generation.as_deref(), key.as_deref(), credential.as_ref()).await?)
}
