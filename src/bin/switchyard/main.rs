//! `switchyard`: run an API node (`serve`) or manage one over its admin API.
//!
//! Here the command line (`Cli`) and its dispatch; each command group lives in `cli/`.

mod cli;

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser, Subcommand};
use switchyard::ErrorCode;

use cli::NodeArgs;
use cli::access::{AuthCommand, auth};
use cli::artifacts::{ArtifactsCommand, GcArgs, artifacts, gc};
use cli::deploy::{self, DeployArgs};
use cli::generate::{GenerateCommand, generate};
use cli::people::{ApprovalsCommand, AuditCommand, UsersCommand, approvals, audit, users};
use cli::predict::{self, PredictArgs};
use cli::report::{ReportArgs, report};
use cli::rollout::{CanaryCommand, ab, canary, drift};
use cli::scenario::{ScenarioCommand, scenario};
use cli::serve::{ServeArgs, serve};
use cli::services::{MlflowCommand, ServiceCommand, VersionCommand, mlflow, service, version};
use cli::train_demo::{TrainDemoArgs, train_demo};
use cli::webhooks::{WebhooksCommand, webhooks};

/// jemalloc instead of glibc's malloc: the request path allocates small values and larger
/// buffers in turn, which makes glibc consolidate its free lists on most requests (see the
/// dependency's note in Cargo.toml).
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(name = "switchyard", version = switchyard::build_info::LONG_VERSION, about = "Deploy ML models: registry, router and API node")]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    /// MLflow Model Registry: import a registered model's version (by number or alias).
    Mlflow {
        #[command(subcommand)]
        command: MlflowCommand,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Deploy one version (single generation) or a mapping of several generations.
    Deploy(DeployArgs),
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
    /// Drift of a deployment's generations against their references: per feature PSI and
    /// KS (most drifting first), and the prediction distribution.
    Drift {
        service: String,
        /// How many minutes back.
        #[arg(long, default_value_t = 60)]
        minutes: i64,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Traffic capture of a deployment: set the policy (percent, cap, retention, dropped and
    /// hashed features), show it, list captured requests, export them as CSV or JSON Lines.
    Capture {
        #[command(subcommand)]
        command: cli::capture::CaptureCommand,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Run a deployment's captured requests through VERSION, in the node's engine (never on the
    /// live deployment): agreement with live, confusion matrix or Δ, ground truth from
    /// feedback, latency. Saved as a replay result.
    Replay {
        service: String,
        #[arg(long)]
        version: String,
        /// Start of the window: a duration back from now (24h) or an RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// At most this many rows, oldest first.
        #[arg(long)]
        limit: Option<i64>,
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
    Report(ReportArgs),
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
    /// Principals of the node: roles (viewer, deployer, operator, admin; optionally scoped to
    /// services by a glob) and tokens.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Approval requests of protected services: list, approve, reject; protect a service.
    Approvals {
        #[command(subcommand)]
        command: ApprovalsCommand,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// The audit of every state-changing admin call: verify its hash chain, export it as JSONL.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Notifications: webhooks told about deploys, rollbacks, canaries and failed scenario
    /// runs, and their deliveries.
    Webhooks {
        #[command(subcommand)]
        command: WebhooksCommand,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// The artifact store's objects that no version refers to (uploads that never committed):
    /// list them (--dry-run), or delete those older than the grace period.
    Gc(GcArgs),
    /// Where artifacts live: show a node's store, or migrate a registry's artifacts to an
    /// object store.
    Artifacts {
        #[command(subcommand)]
        command: ArtifactsCommand,
    },
    /// Train the demo model (used by the demo scenario; runs without Python or network).
    #[command(name = "train-demo", hide = true)]
    TrainDemo(TrainDemoArgs),
    /// Send one prediction request.
    Predict(PredictArgs),
    /// Print the node's OpenAPI document (what a node serves at /openapi.json), for client
    /// generators.
    Openapi,
    /// Write the man pages or the shell completions (used by scripts/package.sh).
    #[command(hide = true)]
    Generate {
        #[command(subcommand)]
        command: GenerateCommand,
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

/// Runs the command. A mistake in the command's own input (an unreadable file, invalid JSON)
/// fails as it is; what the node or the engine answers is told with its code and a hint.
async fn run(cli: Cli) -> Result<()> {
    let outcome: switchyard::Result<()> = match cli.command {
        Command::Serve(args) => return serve(args).await,
        Command::Service { command, node } => service(command, &node).await,
        Command::Version { command, node } => version(command, &node).await,
        Command::Mlflow { command, node } => mlflow(command, &node).await,
        Command::Deploy(args) => {
            let config = args.config()?;
            deploy::deploy(&args, &config).await
        }
        Command::Rollback { service, to_revision, reason, node } => {
            deploy::rollback(&service, to_revision, &reason, &node).await
        }
        Command::History { service, node } => deploy::history(&service, &node).await,
        Command::Ab { service, node } => ab(&service, &node).await,
        Command::Drift { service, minutes, node } => drift(&service, minutes, &node).await,
        Command::Canary { command, node } => canary(command, &node).await,
        Command::Capture { command, node } => cli::capture::capture(command, &node).await,
        Command::Replay { service, version, since, limit, node } => {
            cli::capture::replay(&service, &version, since.as_deref(), limit, &node).await
        }
        Command::Scenario { command, node } => scenario(command, &node).await,
        Command::Auth { command, node } => auth(command, &node).await,
        Command::Users { command, node } => users(command, &node).await,
        Command::Approvals { command, node } => approvals(command, &node).await,
        Command::Audit { command, node } => audit(command, &node).await,
        Command::Webhooks { command, node } => webhooks(command, &node).await,
        Command::Gc(args) => gc(args).await,
        Command::Artifacts { command } => artifacts(command).await,
        Command::Openapi => cli::print_json(&switchyard::node::openapi()),
        Command::TrainDemo(args) => train_demo(args),
        Command::Generate { command } => return generate(command, Cli::command()),
        Command::Report(args) => report(args).await,
        Command::Predict(args) => {
            let features = args.features()?;
            predict::predict(args, &features).await
        }
    };
    outcome.map_err(|e| {
        let hint = match e.code() {
            ErrorCode::NodeUnreachable => "\nhint: start a node with `switchyard serve`, or point --node at one",
            ErrorCode::ArtifactStoreUnavailable => {
                "\nhint: the store's endpoint and credentials come from the environment (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, …)"
            }
            ErrorCode::Unauthorized => {
                "\nhint: admin commands need --token-file with the node's admin token or a principal's token; predictions need the deployment's --api-key"
            }
            ErrorCode::MlflowUnavailable | ErrorCode::MlflowUnauthorized => {
                "\nhint: the node reaches MLflow with its own --mlflow-uri (MLFLOW_TRACKING_URI) and MLFLOW_TRACKING_TOKEN or _USERNAME/_PASSWORD"
            }
            ErrorCode::Forbidden => "\nhint: `switchyard users me` shows what your token may do; an admin grants roles with `switchyard users roles`",
            _ => "",
        };
        anyhow::anyhow!("{e} [{}]{hint}", e.code())
    })
}
