//! `switchyard`: run an API node (`serve`) or manage one over its admin API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use serde_json::Value;
use switchyard::auth::ClientCredential;
use switchyard::client::{DEFAULT_NODE_URL, NodeClient, UploadMeta};
use switchyard::deploy::Revision;
use switchyard::engine::{EngineConfig, parse_metrics};
use switchyard::node::{self, NodeConfig};
use switchyard::report;
use switchyard::{Engine, ErrorCode};

#[path = "switchyard/access.rs"]
mod access_cmd;
#[path = "switchyard/scenario.rs"]
mod scenario_cmd;

use access_cmd::{AuthCommand, auth};

use scenario_cmd::{ScenarioCommand, scenario};

#[derive(Parser)]
#[command(name = "switchyard", version, about = "Deploy ML models: registry, router and API node")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct NodeArgs {
    /// The node's base URL.
    #[arg(long, global = true, env = "SWITCHYARD_NODE", default_value = DEFAULT_NODE_URL)]
    node: String,
    /// File holding the node's admin token.
    #[arg(long, global = true, env = "SWITCHYARD_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// Print the node's JSON answer instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Run an API node with its registry (headless).
    Serve(ServeArgs),
    /// Services: list or create.
    Service {
        #[command(subcommand)]
        command: ServiceCommand,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Versions of a service: list (version history) or add from an .onnx file.
    Version {
        #[command(subcommand)]
        command: VersionCommand,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Deploy one version (single generation) or a mapping of several generations.
    Deploy {
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
    },
    /// Roll back to the previous revision, or to --to-revision N.
    Rollback {
        service: String,
        #[arg(long)]
        to_revision: Option<i64>,
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Revision history of a service's deployment.
    History {
        service: String,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// A/B results of a deployment from feedback: per generation n, mean, 95% interval, and
    /// the difference against the baseline with its p-value.
    Ab {
        service: String,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Canary plans: start one, see where it stands, pause, resume, promote or abort.
    Canary {
        #[command(subcommand)]
        command: CanaryCommand,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Export a deployment report: one self-contained HTML file (config, revision timeline,
    /// versions, charts, CSV), or each chart as a PNG. Fetched from the node, rendered here.
    Report {
        /// The deployment (service) to report on.
        #[arg(long)]
        deployment: String,
        /// Start of the range: a duration back from now (30m, 24h, 7d) or an RFC 3339 time.
        #[arg(long, default_value = "24h")]
        since: String,
        /// End of the range (default now): a duration back from now or an RFC 3339 time.
        #[arg(long)]
        until: Option<String>,
        /// Where to write: the HTML file (default <deployment>-report.html), or with
        /// --format png the directory for the PNGs (default <deployment>-charts).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also write the report's numbers as CSV files into this directory.
        #[arg(long)]
        csv: Option<PathBuf>,
        /// html: one self-contained file; png: one PNG per chart.
        #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
        format: ReportFormat,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Scenarios: save one from a JSON file, list, show, run (and wait), runs, logs, cancel,
    /// next fire times.
    Scenario {
        #[command(subcommand)]
        command: ScenarioCommand,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Who may call a deployment: auth mode (none, api_key, basic) and API keys.
    Auth {
        #[command(subcommand)]
        command: AuthCommand,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Train the demo model (used by the demo scenario; runs without Python or network).
    #[command(name = "train-demo", hide = true)]
    TrainDemo {
        /// Training CSV: feature columns and a target column.
        #[arg(long)]
        data: PathBuf,
        /// Where to write the ONNX model.
        #[arg(long)]
        out: PathBuf,
        /// Where to write the training metrics (JSON).
        #[arg(long)]
        metrics: PathBuf,
        #[arg(long, default_value_t = switchyard::scenario::demo_trainer::DEFAULT_EPOCHS)]
        epochs: usize,
        #[arg(long, default_value_t = switchyard::scenario::demo_trainer::DEFAULT_LEARNING_RATE)]
        learning_rate: f64,
        #[arg(long, default_value = "target")]
        target: String,
        /// Class names in index order, comma separated.
        #[arg(long, value_delimiter = ',')]
        class_labels: Option<Vec<String>>,
    },
    /// Send one prediction request.
    Predict {
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
    },
    /// Print the node's OpenAPI document (what a node serves at /openapi.json), for client
    /// generators.
    Openapi,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ReportFormat {
    Html,
    Png,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "SWITCHYARD_BIND")]
    bind: SocketAddr,
    /// Registry directory (default: the user data dir).
    #[arg(long, env = "SWITCHYARD_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// File holding the admin API token (required to bind beyond loopback).
    #[arg(long)]
    admin_token_file: Option<PathBuf>,
    /// Do not load the demo services into an empty registry.
    #[arg(long)]
    no_demo: bool,
    /// Seed the router's random picks (reproducible traffic splits).
    #[arg(long)]
    router_seed: Option<u64>,
    /// A registry shared by several nodes: postgres://USER:PASSWORD@HOST/DB (default: SQLite
    /// in the data dir). Nodes sharing it must share the data dir's artifacts/ too.
    #[arg(long, env = "SWITCHYARD_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// This node's name among the nodes sharing the registry (default: the host name). Its
    /// traffic minutes and scenario runs are recorded under it; two nodes on one host sharing
    /// a registry need one each.
    #[arg(long, env = "SWITCHYARD_INSTANCE", value_parser = instance_name)]
    instance: Option<String>,
    /// Seconds a prediction request may take from its first byte to its answer (slow or
    /// stalled bodies get 408).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    request_timeout: u64,
}

#[derive(Subcommand)]
enum CanaryCommand {
    /// Start a canary of VERSION against the live config.
    Start {
        service: String,
        version: String,
        /// Traffic steps in percent, comma separated.
        #[arg(long, default_value = "5,25,50,100", value_delimiter = ',')]
        steps: Vec<f64>,
        /// Seconds each step bakes before its gates decide.
        #[arg(long, default_value_t = 300.0)]
        bake: f64,
        #[arg(long, default_value_t = 0.01)]
        max_error_rate: f64,
        #[arg(long, default_value_t = 250.0)]
        max_p99_ms: f64,
        #[arg(long, default_value_t = 100)]
        min_requests: u64,
        /// Seconds a step may stay inconclusive (too little traffic) before the policy applies.
        #[arg(long, default_value_t = 3600.0)]
        inconclusive_timeout: f64,
        /// What happens after that timeout: pause or rollback.
        #[arg(long, default_value = "pause")]
        on_inconclusive: String,
    },
    /// Where the latest canary stands, with its events.
    Status {
        service: String,
    },
    Pause {
        service: String,
    },
    Resume {
        service: String,
    },
    /// Serve the canary at 100 % now.
    Promote {
        service: String,
    },
    /// Roll back to the config the canary started from.
    Abort {
        service: String,
    },
}

#[derive(Subcommand)]
enum ServiceCommand {
    List,
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
}

#[derive(Subcommand)]
enum VersionCommand {
    /// Version history with metrics, which are live and since when.
    List { service: String },
    /// Add a version from an ONNX file.
    Add {
        service: String,
        file: PathBuf,
        /// Version id (default: the next vN).
        #[arg(long)]
        id: Option<String>,
        /// Append -YYYYMMDD-xxxx to the id.
        #[arg(long)]
        unique: bool,
        /// A metric, repeatable: --metric accuracy=0.93
        #[arg(long = "metric")]
        metrics: Vec<String>,
        #[arg(long, default_value = "")]
        notes: String,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let default_level = if matches!(cli.command, Command::Serve(_)) { "info" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(run(cli))
}

fn read_secret(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let token = text.trim().to_owned();
    if token.len() < 16 {
        bail!("the token in {} is too short: use at least 16 characters", path.display());
    }
    Ok(token)
}

fn client(args: &NodeArgs) -> switchyard::Result<NodeClient> {
    let token = args
        .token_file
        .as_deref()
        .map(read_secret)
        .transpose()
        .map_err(|e| switchyard::Error::InvalidConfig(format!("{e:#}")))?;
    let user = std::env::var("USER").unwrap_or_else(|_| "cli".to_owned());
    NodeClient::new(&args.node, token, &format!("{user} (cli)"))
}

fn instance_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty() && s.len() <= 128 && s.chars().all(|c| c.is_ascii_graphic());
    if ok { Ok(s.to_owned()) } else { Err("use 1-128 visible ASCII characters, e.g. node-a".into()) }
}

fn print_json(v: &impl serde::Serialize) -> switchyard::Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(|e| switchyard::Error::Internal(e.to_string()))?;
    println!("{text}");
    Ok(())
}

async fn run(cli: Cli) -> Result<()> {
    let outcome: switchyard::Result<()> = match cli.command {
        Command::Serve(args) => return serve(args).await,
        Command::Service { command, node } => service(command, &node).await,
        Command::Version { command, node } => version(command, &node).await,
        Command::Deploy { service, version, mapping, sticky, reason, node } => {
            let config = match (version, mapping) {
                (Some(v), _) => serde_json::json!({"mode": "single", "generation": v, "sticky": sticky}),
                (None, Some(m)) => {
                    let text = match m.strip_prefix('@') {
                        Some(path) => std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?,
                        None => m,
                    };
                    let mapping: Value = serde_json::from_str(&text).context("--mapping is not valid JSON")?;
                    serde_json::json!({"mode": "multiple", "mapping": mapping, "sticky": sticky})
                }
                (None, None) => bail!("give a VERSION or --mapping"),
            };
            async { print_revision(&client(&node)?.deploy(&service, &config, &reason).await?, node.json) }.await
        }
        Command::Rollback { service, to_revision, reason, node } => {
            async { print_revision(&client(&node)?.rollback(&service, to_revision, &reason).await?, node.json) }.await
        }
        Command::History { service, node } => history(&service, &node).await,
        Command::Ab { service, node } => ab(&service, &node).await,
        Command::Canary { command, node } => canary(command, &node).await,
        Command::Scenario { command, node } => scenario(command, &node).await,
        Command::Auth { command, node } => auth(command, &node).await,
        Command::Openapi => print_json(&switchyard::node::openapi()),
        Command::TrainDemo { data, out, metrics, epochs, learning_rate, target, class_labels } => {
            use switchyard::scenario::demo_trainer::{TrainOptions, train_files};
            let opts = TrainOptions {
                epochs,
                learning_rate,
                target_column: target,
                class_labels,
                ..TrainOptions::new(data, out, metrics)
            };
            train_files(&opts).map(|_| ())
        }
        Command::Report { deployment, since, until, out, csv, format, node } => {
            report(ReportArgs { deployment, since, until, out, csv, format }, &node).await
        }
        Command::Predict { service, features, generation, key, api_key, basic_user, node } => {
            let features: Value = serde_json::from_str(&features).context("--features is not valid JSON")?;
            let credential = match (api_key, basic_user) {
                (Some(key), None) => Some(ClientCredential::ApiKey { key }),
                (Some(password), Some(user)) => Some(ClientCredential::Basic { user, password }),
                (None, _) => None,
            };
            async {
                let c = client(&node)?;
                print_json(
                    &c.predict(&service, &features, generation.as_deref(), key.as_deref(), credential.as_ref()).await?,
                )
            }
            .await
        }
    };
    outcome.map_err(|e| {
        let hint = match e.code() {
            ErrorCode::NodeUnreachable => "\nhint: start a node with `switchyard serve`, or point --node at one",
            ErrorCode::Unauthorized => {
                "\nhint: admin commands need --token-file with the node's admin token; predictions need the deployment's --api-key"
            }
            _ => "",
        };
        anyhow::anyhow!("{e} [{}]{hint}", e.code())
    })
}

async fn history(service: &str, node: &NodeArgs) -> switchyard::Result<()> {
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

async fn ab(service: &str, node: &NodeArgs) -> switchyard::Result<()> {
    let report = client(node)?.ab(service).await?;
    if node.json {
        return print_json(&report);
    }
    let fmt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.4}"));
    println!("{:<32}  {:>6}  {:>8}  95% INTERVAL", "GENERATION", "N", "MEAN");
    for g in &report.groups {
        println!("{:<32}  {:>6}  {:>8}  [{}, {}]", g.generation, g.n, fmt(g.mean), fmt(g.ci_low), fmt(g.ci_high));
    }
    match &report.not_enough_data {
        Some(why) => println!("\n{why}"),
        None => {
            println!();
            for c in &report.comparisons {
                println!(
                    "{} vs {}: difference {:+.4}, {} = {:.3}, p = {:.4}",
                    c.generation, c.baseline, c.difference, c.test, c.statistic, c.p_value
                );
            }
        }
    }
    Ok(())
}

async fn canary(command: CanaryCommand, node: &NodeArgs) -> switchyard::Result<()> {
    let c = client(node)?;
    let canary = match command {
        CanaryCommand::Start {
            service,
            version,
            steps,
            bake,
            max_error_rate,
            max_p99_ms,
            min_requests,
            inconclusive_timeout,
            on_inconclusive,
        } => {
            let plan = serde_json::json!({
                "version": version, "steps": steps, "bake_seconds": bake,
                "gates": {"max_error_rate": max_error_rate, "max_p99_ms": max_p99_ms, "min_requests": min_requests},
                "inconclusive_timeout_seconds": inconclusive_timeout, "on_inconclusive": on_inconclusive,
            });
            c.start_canary(&service, &plan).await?
        }
        CanaryCommand::Status { service } => c.canary(&service).await?,
        CanaryCommand::Pause { service } => c.canary_action(&service, "pause").await?,
        CanaryCommand::Resume { service } => c.canary_action(&service, "resume").await?,
        CanaryCommand::Promote { service } => c.canary_action(&service, "promote").await?,
        CanaryCommand::Abort { service } => c.canary_action(&service, "abort").await?,
    };
    if node.json {
        return print_json(&canary);
    }
    let step = canary.plan.steps.get(canary.step).copied().unwrap_or(100.0);
    println!(
        "canary {} of {} on {}: {:?}, step {}/{} ({step}%)",
        canary.id,
        canary.plan.version,
        canary.service,
        canary.status,
        canary.step + 1,
        canary.plan.steps.len()
    );
    if let Some(r) = &canary.last_reading {
        println!(
            "gates: {:?} — {} requests, error rate {:.4}, p99 {:.1} ms",
            r.verdict, r.requests, r.error_rate, r.p99_ms
        );
    }
    for e in &canary.events {
        println!("  {}  {}", e.at.format("%Y-%m-%d %H:%M:%S"), e.message);
    }
    Ok(())
}

struct ReportArgs {
    deployment: String,
    since: String,
    until: Option<String>,
    out: Option<PathBuf>,
    csv: Option<PathBuf>,
    format: ReportFormat,
}

async fn report(args: ReportArgs, node: &NodeArgs) -> switchyard::Result<()> {
    let now = chrono::Utc::now();
    let since = report::parse_time(&args.since, now)?;
    let until = args.until.as_deref().map(|u| report::parse_time(u, now)).transpose()?.unwrap_or(now);
    let c = client(node)?;
    let mut data = c.report_data(&args.deployment, since.timestamp_millis(), until.timestamp_millis()).await?;
    if node.json {
        return print_json(&data);
    }
    // Every node calls itself "local" in its registry: say which one answered.
    data.node = format!("{} at {}", data.node, c.base_url());
    // Rendering (plotters) is CPU work: off the async runtime.
    tokio::task::spawn_blocking(move || -> switchyard::Result<()> {
        match args.format {
            ReportFormat::Html => {
                let out = args.out.unwrap_or_else(|| PathBuf::from(format!("{}-report.html", data.service)));
                report::write_html(&data, &out)?;
                let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
                println!("wrote {} ({} KiB)", out.display(), size.div_ceil(1024));
            }
            ReportFormat::Png => {
                let out = args.out.unwrap_or_else(|| PathBuf::from(format!("{}-charts", data.service)));
                let pngs = report::write_pngs(&data, &out)?;
                for path in &pngs.written {
                    println!("wrote {}", path.display());
                }
                for (kind, sentence) in &pngs.skipped {
                    println!("no {} chart: {sentence}", kind.name());
                }
            }
        }
        if let Some(dir) = &args.csv {
            for path in report::write_csv_dir(&data, dir)? {
                println!("wrote {}", path.display());
            }
        }
        Ok(())
    })
    .await
    .map_err(|e| switchyard::Error::Internal(format!("report rendering stopped: {e}")))?
}

fn print_revision(r: &Revision, json: bool) -> switchyard::Result<()> {
    if json {
        return print_json(r);
    }
    println!("{} revision {}: {} ({})", r.service, r.number, r.config.describe(), r.reason);
    Ok(())
}

async fn service(command: ServiceCommand, node: &NodeArgs) -> switchyard::Result<()> {
    let c = client(node)?;
    match command {
        ServiceCommand::List => {
            let services = c.list_services().await?;
            if node.json {
                print_json(&services)
            } else {
                println!("{:<24}  {:>8}  {:>4}  SERVING", "SERVICE", "VERSIONS", "REV");
                for s in services {
                    let (rev, serving) = match &s.deployment {
                        Some(r) => (r.number.to_string(), r.config.describe()),
                        None => ("-".into(), "not deployed".into()),
                    };
                    println!("{:<24}  {:>8}  {:>4}  {serving}", s.service.name, s.version_count, rev);
                }
                Ok(())
            }
        }
        ServiceCommand::Create { name, description } => {
            let s = c.create_service(&name, &description).await?;
            if node.json {
                print_json(&s)
            } else {
                println!("created service {}", s.name);
                Ok(())
            }
        }
    }
}

async fn version(command: VersionCommand, node: &NodeArgs) -> switchyard::Result<()> {
    let c = client(node)?;
    match command {
        VersionCommand::List { service } => {
            let versions = c.list_versions(&service).await?;
            if node.json {
                return print_json(&versions);
            }
            println!("{:<32}  {:<20}  {:<12}  {:<30}  LIVE", "VERSION", "CREATED", "SHA256", "METRICS");
            for v in versions {
                let metrics: Vec<String> = v.version.metrics.iter().map(|(k, m)| format!("{k}={m}")).collect();
                let live = match (v.live_since, v.share) {
                    (Some(since), Some(share)) => {
                        format!("{:.0}% since {}", share * 100.0, since.format("%Y-%m-%d %H:%M:%S"))
                    }
                    _ => "-".into(),
                };
                println!(
                    "{:<32}  {:<20}  {:<12}  {:<30}  {live}",
                    v.version.id,
                    v.version.created_at.format("%Y-%m-%d %H:%M:%S"),
                    &v.version.sha256[..12.min(v.version.sha256.len())],
                    metrics.join(" ")
                );
            }
            Ok(())
        }
        VersionCommand::Add { service, file, id, unique, metrics, notes } => {
            let metrics = parse_metrics(metrics.iter().map(String::as_str))?;
            let bytes = std::fs::read(&file)
                .map_err(|e| switchyard::Error::InvalidInput(format!("cannot read {}: {e}", file.display())))?;
            let name =
                file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model.onnx".into());
            let v = c.upload_version(&service, &name, bytes, &UploadMeta { id, unique, metrics, notes }).await?;
            if node.json {
                print_json(&v)
            } else {
                println!(
                    "created {} {} (sha256 {}, features: {})",
                    v.service,
                    v.id,
                    &v.sha256[..12],
                    v.schema.feature_list()
                );
                Ok(())
            }
        }
    }
}

async fn serve(args: ServeArgs) -> Result<()> {
    let data_dir = args.data_dir.unwrap_or_else(EngineConfig::default_data_dir);
    let config = NodeConfig {
        admin_token: args.admin_token_file.as_deref().map(read_secret).transpose()?,
        request_timeout: std::time::Duration::from_secs(args.request_timeout),
        ..NodeConfig::default()
    };
    node::check_bind(&args.bind, &config)?;
    let engine = Engine::open(EngineConfig {
        router_seed: args.router_seed,
        database_url: args.database_url.clone(),
        instance: args.instance.clone().unwrap_or_else(switchyard::engine::default_instance),
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
    tracing::info!(registry = %data_dir.display(), "switchyard node listening on http://{addr}");
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
