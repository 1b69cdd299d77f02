//! `switchyard serve`: run an API node with its registry until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use switchyard::Engine;
use switchyard::engine::EngineConfig;
use switchyard::node::{self, NodeConfig};

use super::read_secret;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "SWITCHYARD_BIND")]
    bind: SocketAddr,
    /// Registry directory (default: the user data dir).
    #[arg(long, env = "SWITCHYARD_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// File holding the admin API token (required to bind beyond loopback).
    #[arg(long, env = "SWITCHYARD_ADMIN_TOKEN_FILE")]
    admin_token_file: Option<PathBuf>,
    /// Run scenario `run_command` steps on a node bound beyond loopback (refused otherwise:
    /// whoever holds an admin token could run programs on this machine).
    #[arg(long, env = "SWITCHYARD_ALLOW_COMMANDS")]
    allow_commands: bool,
    /// Do not load the demo services into an empty registry.
    #[arg(long, env = "SWITCHYARD_NO_DEMO")]
    no_demo: bool,
    /// Seed the router's random picks (reproducible traffic splits).
    #[arg(long)]
    router_seed: Option<u64>,
    /// A registry shared by several nodes: postgres://USER:PASSWORD@HOST/DB (default: SQLite
    /// in the data dir). Nodes sharing it also share an artifact store (--artifacts).
    #[arg(long, env = "SWITCHYARD_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Where version artifacts live: s3://BUCKET/PREFIX, gs://BUCKET/PREFIX,
    /// az://CONTAINER/PREFIX or file:///PATH, with a verified cache in the data dir's cache/
    /// (default: the data dir's artifacts/, this node only). Credentials and endpoint come
    /// from the standard variables: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
    /// AWS_ENDPOINT_URL (AWS_ALLOW_HTTP=true for an http:// endpoint), GOOGLE_*, AZURE_*.
    #[arg(long, env = "SWITCHYARD_ARTIFACTS")]
    artifacts: Option<String>,
    /// This node's name among the nodes sharing the registry (default: the host name). Its
    /// traffic minutes and scenario runs are recorded under it; two nodes on one host sharing
    /// a registry need one each.
    #[arg(long, env = "SWITCHYARD_INSTANCE", value_parser = instance_name)]
    instance: Option<String>,
    /// The MLflow tracking server versions are imported from (`switchyard mlflow import`).
    /// Credentials come from MLflow's own variables: MLFLOW_TRACKING_TOKEN, or
    /// MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD.
    #[arg(long, env = "MLFLOW_TRACKING_URI")]
    mlflow_uri: Option<String>,
    /// Seconds a prediction request may take from its first byte to its answer (slow or
    /// stalled bodies get 408).
    #[arg(long, env = "SWITCHYARD_REQUEST_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    request_timeout: u64,
    /// How many requests after a deployment make a generation's drift baseline when its
    /// version was added without a reference CSV.
    #[arg(long, env = "SWITCHYARD_DRIFT_BASELINE", default_value_t = switchyard::drift::DEFAULT_BASELINE_REQUESTS as u64,
          value_parser = clap::value_parser!(u64).range(switchyard::drift::MIN_REFERENCE_ROWS as u64..=1_000_000))]
    drift_baseline: u64,
    /// Tell the webhooks (`drift` events) when a feature's PSI on a generation's traffic goes
    /// above this, once per crossing; 0 turns drift alerts off.
    #[arg(long, env = "SWITCHYARD_DRIFT_ALERT_PSI", default_value_t = 0.25, value_parser = non_negative)]
    drift_alert_psi: f64,
    /// The window drift alerts look at, in minutes (at least 200 requests in it decide).
    #[arg(long, env = "SWITCHYARD_DRIFT_ALERT_MINUTES", default_value_t = 60, value_parser = clap::value_parser!(i64).range(1..=1440))]
    drift_alert_minutes: i64,
}

fn non_negative(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err("a number, 0 or more (0.25 is a common PSI limit)".into()),
    }
}

fn instance_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty() && s.len() <= 128 && s.chars().all(|c| c.is_ascii_graphic());
    if ok { Ok(s.to_owned()) } else { Err("use 1-128 visible ASCII characters, e.g. node-a".into()) }
}

pub async fn serve(args: ServeArgs) -> Result<()> {
    let data_dir = args.data_dir.unwrap_or_else(EngineConfig::default_data_dir);
    let config = NodeConfig {
        admin_token: args.admin_token_file.as_deref().map(read_secret).transpose()?,
        request_timeout: std::time::Duration::from_secs(args.request_timeout),
        ..NodeConfig::default()
    };
    node::check_bind(&args.bind, &config)?;
    let refuse_commands = (!args.bind.ip().is_loopback() && !args.allow_commands).then(|| {
        format!(
            "this node listens on {} (beyond loopback) and refuses run_command steps: restart it with --allow-commands to run them",
            args.bind
        )
    });
    let engine = Engine::open(EngineConfig {
        router_seed: args.router_seed,
        refuse_commands,
        database_url: args.database_url.clone(),
        artifacts: args.artifacts.clone(),
        mlflow: switchyard::mlflow::Connection::from_env(args.mlflow_uri.clone()),
        instance: args.instance.clone().unwrap_or_else(switchyard::engine::default_instance),
        drift_baseline: args.drift_baseline as usize,
        drift_alert: (args.drift_alert_psi > 0.0).then(|| switchyard::drift::AlertRule {
            max_psi: args.drift_alert_psi,
            minutes: args.drift_alert_minutes,
            ..switchyard::drift::AlertRule::default()
        }),
        ..EngineConfig::new(data_dir.clone())
    })
    .await
    .with_context(|| format!("cannot open the registry in {}", data_dir.display()))?;
    if !args.no_demo {
        switchyard::demo::seed_if_empty(&engine).await.context("cannot seed the demo services")?;
    }
    let listener =
        tokio::net::TcpListener::bind(args.bind).await.with_context(|| format!("cannot listen on {}", args.bind))?;
    let addr = listener.local_addr()?;
    for s in engine.list_services().await? {
        let serving = s.deployment.as_ref().map_or("not deployed".to_owned(), |r| r.config.describe());
        tracing::info!(service = %s.service.name, "{serving}");
    }
    let artifacts = engine.artifact_store().await?;
    tracing::info!(registry = %data_dir.display(), artifacts = %artifacts.location, "switchyard node listening on http://{addr}");
    node::serve(listener, node::router(engine.clone(), config), shutdown_signal()).await?;
    engine.close().await?;
    tracing::info!("node stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
