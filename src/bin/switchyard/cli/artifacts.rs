//! `switchyard gc` and `switchyard artifacts …`: the artifact store's unreferenced objects,
//! where a node's artifacts live, and the migration of a registry's artifacts to another
//! store.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use switchyard::EngineConfig;
use switchyard::registry::artifacts::StoreKind;
use switchyard::registry::artifacts::migrate::Outcome;

use super::{NodeArgs, client, print_json};

#[derive(Args)]
pub struct GcArgs {
    /// List the objects no version refers to, without deleting any.
    #[arg(long)]
    dry_run: bool,
    /// Keep unreferenced objects younger than this (an upload may be committing its
    /// version), e.g. 30m, 1h, 2days.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    grace: Duration,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Subcommand)]
pub enum ArtifactsCommand {
    /// Where the node's artifacts live, and what its cache holds.
    Show {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Copy every artifact of a registry into another store (e.g. s3://bucket/prefix), each
    /// hash checked on both sides; then start its nodes with --artifacts URL. Needs no
    /// running node; run it again to resume.
    Migrate(MigrateArgs),
}

#[derive(Args)]
pub struct MigrateArgs {
    /// The store to copy into: s3://BUCKET/PREFIX, gs://…, az://… or file:///PATH
    /// (credentials from the environment, e.g. AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL).
    #[arg(long)]
    to: String,
    /// The registry's data dir (default: the user data dir).
    #[arg(long, env = "SWITCHYARD_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The registry's database, if shared (default: SQLite in the data dir).
    #[arg(long, env = "SWITCHYARD_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The store the artifacts are in now (default: the data dir's artifacts/).
    #[arg(long, env = "SWITCHYARD_ARTIFACTS")]
    artifacts: Option<String>,
    /// Print each step as a JSON line instead of text.
    #[arg(long)]
    json: bool,
}

pub async fn gc(args: GcArgs) -> switchyard::Result<()> {
    let report = client(&args.node)?.collect_garbage(args.dry_run, args.grace).await?;
    if args.node.json {
        return print_json(&report);
    }
    let verb = if report.dry_run { "would delete" } else { "deleted" };
    println!(
        "{}: {} referenced, {} unreferenced (grace period {})",
        report.store,
        report.referenced,
        report.unreferenced.len(),
        humantime::format_duration(Duration::from_secs(report.grace_seconds))
    );
    for u in &report.unreferenced {
        let fate = match (u.deleted, u.expired) {
            (true, _) => "deleted",
            (false, true) => verb,
            (false, false) => "kept (within the grace period)",
        };
        println!("{}  {:>10} B  {}  {fate}", u.sha256, u.size_bytes, u.last_modified.format("%Y-%m-%d %H:%M:%S"));
    }
    Ok(())
}

pub async fn artifacts(command: ArtifactsCommand) -> switchyard::Result<()> {
    match command {
        ArtifactsCommand::Show { node } => {
            let info = client(&node)?.artifact_store().await?;
            if node.json {
                return print_json(&info);
            }
            let place = match info.kind {
                StoreKind::DataDir => "the node's data dir (artifacts/), not shared".to_owned(),
                _ => format!("{} (shared)", info.location),
            };
            println!("artifacts: {place}");
            if let Some(cache) = info.cache {
                println!("cache: {} artifacts, {} bytes", cache.artifacts, cache.bytes);
            }
            Ok(())
        }
        ArtifactsCommand::Migrate(args) => migrate(args).await,
    }
}

async fn migrate(args: MigrateArgs) -> switchyard::Result<()> {
    let config = EngineConfig {
        database_url: args.database_url,
        artifacts: args.artifacts,
        ..EngineConfig::new(args.data_dir.unwrap_or_else(EngineConfig::default_data_dir))
    };
    let json = args.json;
    let steps = switchyard::engine::migrate_artifacts(&config, &args.to, |step| {
        if json {
            if let Ok(line) = serde_json::to_string(step) {
                println!("{line}");
            }
            return;
        }
        let what = match step.outcome {
            Outcome::Copied => "copied",
            Outcome::AlreadyThere => "already there",
            Outcome::Repaired => "replaced a damaged copy",
        };
        println!(
            "[{}/{}] {}  {:>10} B  {}: {what}, hash verified",
            step.index,
            step.total,
            &step.sha256[..12],
            step.size_bytes,
            step.versions.join(", ")
        );
    })
    .await?;
    if !json {
        let copied = steps.iter().filter(|s| s.outcome != Outcome::AlreadyThere).count();
        println!(
            "{} artifacts in {} ({copied} written); start the nodes with --artifacts {}",
            steps.len(),
            args.to,
            args.to
        );
    }
    Ok(())
}
