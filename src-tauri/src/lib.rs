//! The desktop shell: opens the engine, starts the local API node on loopback, and exposes
//! one Tauri command per engine call. No product logic lives here.

mod commands;
mod error;

use std::net::SocketAddr;

use switchyard::auth::Principal;
use switchyard::client::NodeClient;
use switchyard::infra::Target;
use switchyard::node::{self, NodeConfig};
use switchyard::{Engine, EngineConfig};
use tauri::Manager;

/// What every command can reach: the engine, and a client of the embedded node (run and test
/// goes through real HTTP, like any client).
pub struct Desktop {
    pub engine: Engine,
    /// The principal the desktop acts as on its own engine: the OS user, as the local admin
    /// (revisions and the audit name it).
    pub principal: Principal,
    pub node: NodeClient,
    pub node_addr: SocketAddr,
}

impl Desktop {
    /// The node a command acts on: the local engine, or a remote infrastructure by name.
    pub async fn target(&self, infra: Option<String>) -> switchyard::Result<Target> {
        self.engine.target(infra.as_deref()).await
    }
}

/// Where the registry lives, which port the local node takes, and the MLflow server.
struct Options {
    data_dir: std::path::PathBuf,
    port: u16,
    mlflow_uri: Option<String>,
}

/// `--data-dir DIR` / `SWITCHYARD_DATA_DIR` (default: the user data dir shared with
/// `switchyard serve`), `--port N` / `SWITCHYARD_PORT` (default 8080; 0 for any free port),
/// and `--mlflow-uri URL` / `MLFLOW_TRACKING_URI` (credentials from MLflow's variables).
fn options() -> Options {
    let mut data_dir = std::env::var_os("SWITCHYARD_DATA_DIR").map(Into::into);
    let mut port = std::env::var("SWITCHYARD_PORT").ok().and_then(|p| p.parse().ok());
    let mut mlflow_uri = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data-dir" => data_dir = args.next().map(Into::into),
            "--port" => port = args.next().and_then(|p| p.parse().ok()),
            "--mlflow-uri" => mlflow_uri = args.next(),
            _ => {}
        }
    }
    Options {
        data_dir: data_dir.unwrap_or_else(EngineConfig::default_data_dir),
        port: port.unwrap_or(8080),
        mlflow_uri,
    }
}

/// Binds the local node on loopback; if the wanted port is taken (another node runs), any
/// free port. The UI shows the one in use.
async fn bind_local_node(wanted: u16) -> std::io::Result<tokio::net::TcpListener> {
    match tokio::net::TcpListener::bind(("127.0.0.1", wanted)).await {
        Ok(l) => Ok(l),
        Err(e) => {
            tracing::warn!("port {wanted} is not available ({e}); the local node uses a free port instead");
            tokio::net::TcpListener::bind(("127.0.0.1", 0)).await
        }
    }
}

async fn start() -> Result<Desktop, Box<dyn std::error::Error>> {
    let Options { data_dir: dir, port, mlflow_uri } = options();
    let config =
        EngineConfig { mlflow: switchyard::mlflow::Connection::from_env(mlflow_uri), ..EngineConfig::new(dir.clone()) };
    let engine =
        Engine::open(config).await.map_err(|e| format!("cannot open the registry in {}: {e}", dir.display()))?;
    switchyard::demo::seed_if_empty(&engine).await.map_err(|e| format!("cannot seed the demo services: {e}"))?;
    let listener = bind_local_node(port).await?;
    let node_addr = listener.local_addr()?;
    let app = node::router(engine.clone(), NodeConfig::default());
    tauri::async_runtime::spawn(async move {
        if let Err(e) = node::serve(listener, app, std::future::pending()).await {
            tracing::error!("the local node stopped: {e}");
        }
    });
    tracing::info!(registry = %dir.display(), "local node on http://{node_addr}");
    let user = std::env::var("USER").or_else(|_| std::env::var("USERNAME")).unwrap_or_else(|_| "desktop-user".into());
    let node = NodeClient::new(&format!("http://{node_addr}"), None, &user)?;
    Ok(Desktop { engine, principal: Principal::admin(&user), node, node_addr })
}

pub fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let result = tauri::Builder::default()
        // The native Save dialog (report export) and opening what was written, or its folder.
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_opener::init())
        .setup(|app| {
            let desktop = tauri::async_runtime::block_on(start())?;
            app.manage(desktop);
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::services::node_info,
            commands::services::artifact_store,
            commands::services::list_services,
            commands::services::create_service,
            commands::services::watch_changes,
            commands::versions::list_versions,
            commands::versions::add_version,
            commands::versions::revisions,
            commands::versions::mlflow_models,
            commands::versions::mlflow_versions,
            commands::versions::import_mlflow,
            commands::versions::mlflow_settings,
            commands::versions::set_mlflow,
            commands::deployment::deploy,
            commands::deployment::deploy_version,
            commands::deployment::rollback,
            commands::deployment::validate_mapping,
            commands::run::run_test,
            commands::infra::list_infrastructures,
            commands::infra::add_infrastructure,
            commands::infra::remove_infrastructure,
            commands::infra::infrastructure_status,
            commands::notifications::list_webhooks,
            commands::notifications::create_webhook,
            commands::notifications::remove_webhook,
            commands::notifications::test_webhook,
            commands::notifications::webhook_deliveries,
            commands::people::capabilities,
            commands::people::approvals,
            commands::people::decide_approval,
            commands::people::set_protection,
            commands::people::protection,
            commands::people::list_principals,
            commands::people::create_principal,
            commands::people::set_roles,
            commands::people::remove_principal,
            commands::people::create_token,
            commands::people::revoke_token,
            commands::access::access,
            commands::access::set_auth_mode,
            commands::access::create_key,
            commands::access::rotate_key,
            commands::access::revoke_key,
            commands::run::monitor,
            commands::run::drift,
            commands::rollout::canary,
            commands::rollout::start_canary,
            commands::rollout::canary_action,
            commands::rollout::ab_results,
            commands::rollout::feedback,
            commands::capture::capture_status,
            commands::capture::set_capture_policy,
            commands::capture::capture_rows,
            commands::capture::start_replay,
            commands::capture::replay,
            commands::capture::replays,
            commands::capture::cancel_replay,
            commands::report::export_report,
            commands::report::default_report_path,
            commands::scenarios::list_scenarios,
            commands::scenarios::get_scenario,
            commands::scenarios::save_scenario,
            commands::scenarios::validate_scenario,
            commands::scenarios::delete_scenario,
            commands::scenarios::scenario_next_fires,
            commands::scenarios::start_scenario_run,
            commands::scenarios::scenario_runs,
            commands::scenarios::scenario_run,
            commands::scenarios::cancel_scenario_run,
            commands::scenarios::watch_scenario_run,
        ])
        .build(tauri::generate_context!());
    let app = match result {
        Ok(app) => app,
        Err(e) => {
            eprintln!("Switchyard could not start: {e}");
            std::process::exit(1);
        }
    };
    app.run(|handle, event| {
        if let tauri::RunEvent::Exit = event {
            // Persist the last minutes of traffic before the process ends.
            let desktop = handle.state::<Desktop>();
            if let Err(e) = tauri::async_runtime::block_on(desktop.engine.close()) {
                tracing::warn!("could not persist traffic minutes at exit: {e}");
            }
        }
    });
}
