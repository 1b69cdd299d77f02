//! Importing versions from an MLflow Model Registry: the I/O around `crate::mlflow`.

use std::sync::Arc;

use super::Engine;
use crate::error::{Error, Result};
use crate::mlflow::settings::{self, MlflowConnect, MlflowSettings, MlflowSource};
use crate::mlflow::{MlflowClient, MlflowError, MlflowImport, MlflowModels, ModelUri, VersionSummary};
use crate::registry::{self, NewVersion, Provenance};

/// The largest model an import downloads (the node's default upload limit).
const IMPORT_LIMIT: u64 = 256 * 1024 * 1024;

impl Engine {
    /// How this engine reaches MLflow (never a secret).
    pub fn mlflow_settings(&self) -> MlflowSettings {
        let source = if self.inner.mlflow_fixed { MlflowSource::Start } else { MlflowSource::Console };
        MlflowSettings::of(self.inner.mlflow.load().as_deref(), source)
    }

    /// Connects to a tracking server from the console (None disconnects), saved in the data
    /// dir for the next start. Refused when the server was set at start (`--mlflow-uri`,
    /// `MLFLOW_TRACKING_URI`), which wins.
    pub fn set_mlflow(&self, connect: Option<&MlflowConnect>) -> Result<MlflowSettings> {
        if self.inner.mlflow_fixed {
            return Err(Error::InvalidConfig(
                "this node's MLflow server was set when it started (--mlflow-uri or MLFLOW_TRACKING_URI): restart it without them to choose one here".into(),
            ));
        }
        let connection = connect.map(MlflowConnect::connection).transpose()?;
        settings::save(&self.inner.data_dir, connection.as_ref())?;
        tracing::info!(uri = connection.as_ref().map(|c| c.uri.as_str()).unwrap_or("none"), "MLflow connection saved");
        self.inner.mlflow.store(connection.map(Arc::new));
        Ok(self.mlflow_settings())
    }

    fn mlflow_client(&self) -> Result<MlflowClient> {
        let connection = self.inner.mlflow.load_full().ok_or(MlflowError::NotConfigured)?;
        Ok(MlflowClient::new((*connection).clone())?)
    }

    /// The tracking server's registered models (the first 200), with their aliases.
    pub async fn mlflow_models(&self) -> Result<MlflowModels> {
        let client = self.mlflow_client()?;
        Ok(MlflowModels { tracking_uri: client.uri().to_owned(), models: client.models(200).await? })
    }

    /// A registered model's 20 newest versions with their aliases and run metrics.
    pub async fn mlflow_versions(&self, model: &str) -> Result<Vec<VersionSummary>> {
        Ok(self.mlflow_client()?.versions(model, 20).await?)
    }

    /// The version an alias of a registered model names now.
    pub async fn mlflow_alias_version(&self, model: &str, alias: &str) -> Result<String> {
        let uri = ModelUri::Alias { model: model.to_owned(), alias: alias.to_owned() };
        Ok(self.mlflow_client()?.resolve(&uri).await?.version)
    }

    /// Points `alias` (if any) at a model version and sets `tags` on it, in MLflow.
    pub async fn mlflow_set(
        &self,
        model: &str,
        version: &str,
        alias: Option<&str>,
        tags: &std::collections::BTreeMap<String, String>,
    ) -> Result<()> {
        let client = self.mlflow_client()?;
        if let Some(alias) = alias {
            client.set_alias(model, alias, version).await?;
        }
        for (key, value) in tags {
            client.set_tag(model, version, key, value).await?;
        }
        Ok(())
    }

    /// Imports the ONNX model an MLflow model URI names (`models:/churn/7`,
    /// `models:/churn@champion`) as a version of `service`: its metrics are the run's, its
    /// provenance names the MLflow model, version, run, source and alias. The same model bytes
    /// imported again (or uploaded before) are recognised by their hash: the existing version
    /// is returned with `created: false`, and nothing is written.
    pub async fn import_mlflow(&self, service: &str, model_uri: &str, author: &str) -> Result<MlflowImport> {
        let service = registry::get_service(self.pool(), service).await?.name;
        let uri = ModelUri::parse(model_uri)?;
        let client = self.mlflow_client()?;
        let fetched = client.fetch(&uri, IMPORT_LIMIT).await?;
        let sha = crate::registry::artifacts::sha256_hex(&fetched.bytes);
        if let Some(existing) =
            registry::list_versions(self.pool(), service.as_str()).await?.into_iter().find(|v| v.sha256 == sha)
        {
            tracing::info!(%service, version = %existing.id, %uri, "MLflow model imported before");
            return Ok(MlflowImport { version: existing, created: false });
        }
        let new = NewVersion {
            metrics: fetched.metrics.clone(),
            notes: format!("Imported from MLflow: {} (version {})", uri, fetched.version.version),
            provenance: Provenance {
                created_by: author.to_owned(),
                source_file: Some(format!("{}/{}", fetched.version.name, fetched.version.version)),
                details: fetched.provenance(client.uri()),
            },
            ..NewVersion::default()
        };
        let version = self.create_version(service.as_str(), fetched.bytes, new).await?;
        tracing::info!(%service, version = %version.id, %uri, "imported from MLflow");
        Ok(MlflowImport { version, created: true })
    }
}
