use std::collections::BTreeMap;

use serde::Deserialize;
use switchyard::deploy::Revision;
use switchyard::engine::VersionView;
use switchyard::mlflow::settings::{MlflowConnect, MlflowSettings};
use switchyard::mlflow::{MlflowImport, MlflowModels, VersionSummary};
use switchyard::registry::{NewVersion, Provenance, Version};
use tauri::State;
use tauri::ipc::{InvokeBody, Request};

use crate::Desktop;
use crate::error::{IpcError, IpcResult};

/// Header carrying an upload's metadata; the body is the raw .onnx bytes.
const META_HEADER: &str = "x-switchyard-meta";

#[derive(Deserialize)]
struct UploadMeta {
    service: String,
    file_name: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    unique: bool,
    #[serde(default)]
    metrics: BTreeMap<String, f64>,
    #[serde(default)]
    notes: String,
    /// The body's last this many bytes are a reference CSV (the version's drift reference),
    /// after the model's.
    #[serde(default)]
    reference_bytes: usize,
}

#[tauri::command]
pub async fn list_versions(
    desktop: State<'_, Desktop>,
    infra: Option<String>,
    service: String,
) -> IpcResult<Vec<VersionView>> {
    Ok(desktop.target(infra).await?.list_versions(&service).await?)
}

#[tauri::command]
pub async fn revisions(
    desktop: State<'_, Desktop>,
    infra: Option<String>,
    service: String,
) -> IpcResult<Vec<Revision>> {
    Ok(desktop.target(infra).await?.revisions(&service).await?)
}

#[tauri::command]
pub async fn add_version(desktop: State<'_, Desktop>, request: Request<'_>) -> IpcResult<Version> {
    let InvokeBody::Raw(bytes) = request.body() else {
        return Err(IpcError::invalid_input("send the model file's bytes as the request body"));
    };
    let meta = request
        .headers()
        .get(META_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| IpcError::invalid_input(format!("missing {META_HEADER} header")))?;
    let meta: UploadMeta =
        serde_json::from_str(meta).map_err(|e| IpcError::invalid_input(format!("bad upload metadata: {e}")))?;
    let split = bytes.len().checked_sub(meta.reference_bytes).filter(|at| *at > 0 || meta.reference_bytes == 0);
    let Some(split) = split else {
        return Err(IpcError::invalid_input("the upload is shorter than its reference CSV"));
    };
    let (model, reference) = bytes.split_at(split);
    let reference_csv = if reference.is_empty() {
        None
    } else {
        let text = std::str::from_utf8(reference)
            .map_err(|_| IpcError::invalid_input("the reference CSV is not UTF-8 text"))?;
        Some(text.to_owned())
    };
    let new = NewVersion {
        id: meta.id.filter(|id| !id.trim().is_empty()),
        unique: meta.unique,
        metrics: meta.metrics,
        notes: meta.notes,
        provenance: Provenance {
            created_by: desktop.principal.name.clone(),
            source_file: Some(meta.file_name),
            details: BTreeMap::new(),
        },
        reference_csv,
    };
    Ok(desktop.engine.create_version(&meta.service, model.to_vec(), new).await?)
}

/// The MLflow tracking server's registered models (the local engine's server).
#[tauri::command]
pub async fn mlflow_models(desktop: State<'_, Desktop>) -> IpcResult<MlflowModels> {
    Ok(desktop.engine.mlflow_models().await?)
}

/// A registered model's newest versions, with their aliases and run metrics.
#[tauri::command]
pub async fn mlflow_versions(desktop: State<'_, Desktop>, model: String) -> IpcResult<Vec<VersionSummary>> {
    Ok(desktop.engine.mlflow_versions(&model).await?)
}

/// Imports `models:/NAME/VERSION` or `models:/NAME@ALIAS` as a version of `service`.
#[tauri::command]
pub async fn import_mlflow(desktop: State<'_, Desktop>, service: String, model_uri: String) -> IpcResult<MlflowImport> {
    Ok(desktop.engine.import_mlflow(&service, &model_uri, &desktop.principal.name).await?)
}

/// How the local engine reaches MLflow (never a secret).
#[tauri::command]
pub fn mlflow_settings(desktop: State<'_, Desktop>) -> MlflowSettings {
    desktop.engine.mlflow_settings()
}

/// Connects the local engine to an MLflow tracking server (None disconnects); kept for the
/// next start.
#[tauri::command]
pub fn set_mlflow(desktop: State<'_, Desktop>, connect: Option<MlflowConnect>) -> IpcResult<MlflowSettings> {
    Ok(desktop.engine.set_mlflow(connect.as_ref())?)
}
