//! `switchyard service …` and `switchyard version …`: services and their versions.

use std::path::PathBuf;

use clap::Subcommand;
use switchyard::client::UploadMeta;
use switchyard::engine::parse_metrics;

use super::{NodeArgs, client, print_json};

#[derive(Subcommand)]
pub enum ServiceCommand {
    /// Every service with its deployment, traffic and number of versions.
    List,
    /// Create a service (a name for a prediction API; versions are added to it).
    Create {
        name: String,
        /// What the service predicts.
        #[arg(long, default_value = "")]
        description: String,
    },
}

#[derive(Subcommand)]
pub enum MlflowCommand {
    /// The node's tracking server and its registered models with their aliases.
    Models,
    /// A registered model's newest versions with their aliases and run metrics.
    Versions { model: String },
    /// Import a model logged with mlflow.onnx.log_model as a version, through the node's
    /// MLflow tracking server (`serve --mlflow-uri`): its ONNX file, its run's metrics, and
    /// where it came from. A model imported before is named, not added again.
    Import {
        service: String,
        /// models:/NAME/VERSION or models:/NAME@ALIAS
        model_uri: String,
    },
}

pub async fn mlflow(command: MlflowCommand, node: &NodeArgs) -> switchyard::Result<()> {
    let c = client(node)?;
    match command {
        MlflowCommand::Models => {
            let found = c.mlflow_models().await?;
            if node.json {
                return print_json(&found);
            }
            println!("MLflow at {}", found.tracking_uri);
            println!("{:<32}  {:>6}  ALIASES", "MODEL", "LATEST");
            for m in found.models {
                let aliases: Vec<String> = m.aliases.iter().map(|a| format!("@{}→{}", a.alias, a.version)).collect();
                println!("{:<32}  {:>6}  {}", m.name, m.latest_version.as_deref().unwrap_or("-"), aliases.join(" "));
            }
            Ok(())
        }
        MlflowCommand::Versions { model } => {
            let versions = c.mlflow_versions(&model).await?;
            if node.json {
                return print_json(&versions);
            }
            println!("{:>7}  {:<20}  {:<16}  {:<32}  METRICS", "VERSION", "STATUS", "ALIASES", "RUN");
            for v in versions {
                let metrics: Vec<String> = v.metrics.iter().map(|(k, m)| format!("{k}={m}")).collect();
                let aliases: Vec<String> = v.aliases.iter().map(|a| format!("@{a}")).collect();
                println!(
                    "{:>7}  {:<20}  {:<16}  {:<32}  {}",
                    v.version,
                    v.status,
                    aliases.join(" "),
                    v.run_id.as_deref().unwrap_or("-"),
                    metrics.join(" ")
                );
            }
            Ok(())
        }
        MlflowCommand::Import { service, model_uri } => {
            let imported = c.import_mlflow(&service, &model_uri).await?;
            if node.json {
                return print_json(&imported);
            }
            let v = &imported.version;
            let run = v.provenance.details.get("mlflow.run_id").map(|r| format!(", run {r}")).unwrap_or_default();
            if imported.created {
                let metrics: Vec<String> = v.metrics.iter().map(|(k, m)| format!("{k}={m}")).collect();
                println!(
                    "imported {model_uri} as {service} {} (sha256 {}{run})",
                    v.id,
                    &v.sha256[..12.min(v.sha256.len())]
                );
                if !metrics.is_empty() {
                    println!("metrics: {}", metrics.join(" "));
                }
            } else {
                println!(
                    "{model_uri} is already {service} {} (same model, sha256 {}): nothing imported",
                    v.id,
                    &v.sha256[..12.min(v.sha256.len())]
                );
            }
            Ok(())
        }
    }
}

#[derive(Subcommand)]
pub enum VersionCommand {
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
        /// A CSV of feature rows (a holdout set; header: the model's features) whose
        /// distributions become the version's drift reference.
        #[arg(long)]
        reference: Option<PathBuf>,
    },
}

pub async fn service(command: ServiceCommand, node: &NodeArgs) -> switchyard::Result<()> {
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

pub async fn version(command: VersionCommand, node: &NodeArgs) -> switchyard::Result<()> {
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
        VersionCommand::Add { service, file, id, unique, metrics, notes, reference } => {
            let metrics = parse_metrics(metrics.iter().map(String::as_str))?;
            let bytes = std::fs::read(&file)
                .map_err(|e| switchyard::Error::InvalidInput(format!("cannot read {}: {e}", file.display())))?;
            let name =
                file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model.onnx".into());
            let reference = reference
                .map(|path| {
                    std::fs::read(&path)
                        .map_err(|e| switchyard::Error::InvalidInput(format!("cannot read {}: {e}", path.display())))
                })
                .transpose()?;
            let v =
                c.upload_version(&service, &name, bytes, &UploadMeta { id, unique, metrics, notes }, reference).await?;
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
