//! The REST client of an MLflow tracking server (reqwest): registered model versions and
//! aliases, runs, and artifact files through the server's artifact proxy
//! (`mlflow-artifacts:` URIs, `mlflow server`'s default).

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use reqwest::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{AliasRef, Fetched, MlflowError, ModelUri, ModelVersion, RegisteredModel, VersionSummary, onnx_file};

/// How to reach a tracking server: its URL and credentials (MLflow's own environment
/// variables: `MLFLOW_TRACKING_URI`, `MLFLOW_TRACKING_TOKEN`, `MLFLOW_TRACKING_USERNAME` and
/// `MLFLOW_TRACKING_PASSWORD`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub uri: String,
    pub credentials: Credentials,
}

#[derive(Clone, PartialEq, Eq, Default)]
pub enum Credentials {
    #[default]
    None,
    Token(String),
    Basic {
        username: String,
        password: String,
    },
}

impl std::fmt::Debug for Credentials {
    // Never prints a secret (the engine config is logged at start).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credentials::None => "None",
            Credentials::Token(_) => "Token(…)",
            Credentials::Basic { .. } => "Basic(…)",
        })
    }
}

impl Connection {
    /// From MLflow's environment variables, or None when `MLFLOW_TRACKING_URI` is unset.
    /// `uri` overrides the variable (a `--mlflow-uri` flag).
    pub fn from_env(uri: Option<String>) -> Option<Connection> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let uri = uri.filter(|u| !u.trim().is_empty()).or_else(|| var("MLFLOW_TRACKING_URI"))?;
        let credentials = match (var("MLFLOW_TRACKING_TOKEN"), var("MLFLOW_TRACKING_USERNAME")) {
            (Some(token), _) => Credentials::Token(token),
            (None, Some(username)) => {
                Credentials::Basic { username, password: var("MLFLOW_TRACKING_PASSWORD").unwrap_or_default() }
            }
            (None, None) => Credentials::None,
        };
        Some(Connection { uri: uri.trim().trim_end_matches('/').to_owned(), credentials })
    }
}

/// Metadata calls are small: a server that takes longer is as good as down.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A model file may be large and the proxy slow.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(600);
/// Runs read at once when listing versions.
const RUN_READS_AT_ONCE: usize = 4;

pub struct MlflowClient {
    connection: Connection,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct VersionAnswer {
    model_version: ModelVersion,
}

#[derive(Deserialize)]
struct ModelsAnswer {
    #[serde(default)]
    registered_models: Vec<ModelEntry>,
}

#[derive(Deserialize)]
struct ModelAnswer {
    registered_model: ModelEntry,
}

#[derive(Deserialize)]
struct ModelEntry {
    name: String,
    #[serde(default)]
    aliases: Vec<AliasRef>,
    #[serde(default)]
    latest_versions: Vec<VersionEntry>,
}

#[derive(Deserialize)]
struct VersionsAnswer {
    #[serde(default)]
    model_versions: Vec<VersionEntry>,
}

#[derive(Deserialize)]
struct VersionEntry {
    version: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    run_id: Option<String>,
    #[serde(default)]
    source: String,
    #[serde(default)]
    creation_timestamp: Option<i64>,
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
struct Tag {
    key: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
struct DownloadUri {
    artifact_uri: String,
}

#[derive(Deserialize)]
struct ArtifactList {
    #[serde(default)]
    files: Vec<ArtifactFile>,
}

#[derive(Deserialize)]
struct ArtifactFile {
    path: String,
    #[serde(default)]
    is_dir: bool,
    #[serde(default)]
    file_size: Option<u64>,
}

#[derive(Deserialize)]
struct RunAnswer {
    run: Run,
}

#[derive(Deserialize)]
struct Run {
    #[serde(default)]
    data: RunData,
}

#[derive(Deserialize, Default)]
struct RunData {
    #[serde(default)]
    metrics: Vec<Metric>,
    #[serde(default)]
    tags: Vec<Tag>,
}

/// What the browser shows of a version's run.
#[derive(Default)]
struct RunFacts {
    metrics: BTreeMap<String, f64>,
    /// The run's own tags: MLflow's `mlflow.*` system tags are left out.
    tags: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Metric {
    key: String,
    value: f64,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    #[serde(default)]
    message: String,
}

impl MlflowClient {
    pub fn new(connection: Connection) -> Result<MlflowClient, MlflowError> {
        let http = reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT).build().map_err(|e| {
            MlflowError::Unreachable { uri: connection.uri.clone(), reason: format!("no HTTP client: {e}") }
        })?;
        Ok(MlflowClient { connection, http })
    }

    pub fn uri(&self) -> &str {
        &self.connection.uri
    }

    fn authorized(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.connection.credentials {
            Credentials::None => builder,
            Credentials::Token(token) => builder.bearer_auth(token),
            Credentials::Basic { username, password } => builder.basic_auth(username, Some(password)),
        }
    }

    /// Sends a request and checks its status; `what` names the object (or the change) for
    /// errors.
    async fn checked(&self, builder: reqwest::RequestBuilder, what: &str) -> Result<reqwest::Response, MlflowError> {
        let uri = self.uri().to_owned();
        let response = self.authorized(builder).send().await.map_err(|e| MlflowError::Unreachable {
            uri: uri.clone(),
            reason: if e.is_timeout() { "no answer in time".to_owned() } else { root_cause(&e) },
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let message = response.json::<ErrorAnswer>().await.map(|a| a.message).unwrap_or_default();
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                MlflowError::Unauthorized { uri, status: status.as_u16() }
            }
            // MLflow answers a missing alias with 400 INVALID_PARAMETER_VALUE, a missing
            // model or version with 404 RESOURCE_DOES_NOT_EXIST.
            StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST => {
                let detail = if message.is_empty() { String::new() } else { format!(" ({message})") };
                MlflowError::NotFound(format!("MLflow at {uri} has no {what}{detail}"))
            }
            _ => MlflowError::Unreachable { uri, reason: format!("HTTP {status} for {what}") },
        })
    }

    async fn send(
        &self,
        path: &str,
        query: &[(&str, &str)],
        timeout: Duration,
        what: &str,
    ) -> Result<reqwest::Response, MlflowError> {
        let builder = self.http.get(format!("{}{path}", self.connection.uri)).query(query).timeout(timeout);
        self.checked(builder, what).await
    }

    async fn json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        what: &str,
    ) -> Result<T, MlflowError> {
        let response = self.send(path, query, CALL_TIMEOUT, what).await?;
        response.json::<T>().await.map_err(|e| MlflowError::Protocol {
            uri: self.uri().to_owned(),
            what: what.to_owned(),
            reason: root_cause(&e),
        })
    }

    /// The version a URI names (an alias resolved to its version now).
    pub async fn resolve(&self, uri: &ModelUri) -> Result<ModelVersion, MlflowError> {
        let answer: VersionAnswer = match uri {
            ModelUri::Version { model, version } => {
                self.json(
                    "/api/2.0/mlflow/model-versions/get",
                    &[("name", model), ("version", version)],
                    &format!("version {version} of model '{model}'"),
                )
                .await?
            }
            ModelUri::Alias { model, alias } => {
                self.json(
                    "/api/2.0/mlflow/registered-models/alias",
                    &[("name", model), ("alias", alias)],
                    &format!("alias '{alias}' of model '{model}'"),
                )
                .await?
            }
        };
        Ok(answer.model_version)
    }

    /// The registered models (at most `limit`), with their aliases and latest version.
    pub async fn models(&self, limit: usize) -> Result<Vec<RegisteredModel>, MlflowError> {
        let limit = limit.to_string();
        let answer: ModelsAnswer = self
            .json("/api/2.0/mlflow/registered-models/search", &[("max_results", &limit)], "its registered models")
            .await?;
        Ok(answer
            .registered_models
            .into_iter()
            .map(|m| RegisteredModel {
                latest_version: m
                    .latest_versions
                    .iter()
                    .map(|v| v.version.clone())
                    .max_by_key(|v| v.parse::<u64>().unwrap_or(0)),
                name: m.name,
                aliases: m.aliases,
            })
            .collect())
    }

    /// A registered model's newest versions (at most `limit`), newest first, each with the
    /// aliases that point at it and its run's metrics.
    pub async fn versions(&self, model: &str, limit: usize) -> Result<Vec<VersionSummary>, MlflowError> {
        let what = format!("model '{model}'");
        let found: ModelAnswer = self.json("/api/2.0/mlflow/registered-models/get", &[("name", model)], &what).await?;
        let filter = format!("name='{}'", model.replace('\'', "\\'"));
        let limit = limit.to_string();
        let answer: VersionsAnswer = self
            .json(
                "/api/2.0/mlflow/model-versions/search",
                &[("filter", &filter), ("order_by", "version_number DESC"), ("max_results", &limit)],
                &format!("the versions of {what}"),
            )
            .await?;
        // The runs are read a few at a time: one call each, and a page lists up to `limit`.
        let run_ids: Vec<Option<String>> =
            answer.model_versions.iter().map(|v| v.run_id.clone().filter(|r| !r.is_empty())).collect();
        let runs: Vec<RunFacts> = futures_util::stream::iter(run_ids)
            .map(|run| async move {
                match run {
                    Some(run) => self.run_facts(&run).await,
                    None => Ok(RunFacts::default()),
                }
            })
            .buffered(RUN_READS_AT_ONCE)
            .try_collect()
            .await?;
        let versions = answer
            .model_versions
            .into_iter()
            .zip(runs)
            .map(|(v, run)| {
                let mut aliases: Vec<String> = found
                    .registered_model
                    .aliases
                    .iter()
                    .filter(|a| a.version == v.version)
                    .map(|a| a.alias.clone())
                    .collect();
                aliases.sort();
                // The version's own tags win over its run's of the same key.
                let mut tags = run.tags;
                tags.extend(v.tags.into_iter().map(|t| (t.key, t.value)));
                VersionSummary {
                    status: v.status.unwrap_or_else(|| "READY".to_owned()),
                    created_ms: v.creation_timestamp,
                    version: v.version,
                    run_id: v.run_id,
                    source: v.source,
                    aliases,
                    metrics: run.metrics,
                    tags,
                }
            })
            .collect();
        Ok(versions)
    }

    async fn post(&self, path: &str, body: &serde_json::Value, what: &str) -> Result<(), MlflowError> {
        let builder = self.http.post(format!("{}{path}", self.connection.uri)).json(body).timeout(CALL_TIMEOUT);
        self.checked(builder, what).await.map(drop)
    }

    /// Points `alias` of a registered model at `version`.
    pub async fn set_alias(&self, model: &str, alias: &str, version: &str) -> Result<(), MlflowError> {
        let body = serde_json::json!({"name": model, "alias": alias, "version": version});
        self.post(
            "/api/2.0/mlflow/registered-models/alias",
            &body,
            &format!("version {version} of model '{model}' to point {alias} at"),
        )
        .await
    }

    /// Sets a tag on a model version.
    pub async fn set_tag(&self, model: &str, version: &str, key: &str, value: &str) -> Result<(), MlflowError> {
        let body = serde_json::json!({"name": model, "version": version, "key": key, "value": value});
        self.post(
            "/api/2.0/mlflow/model-versions/set-tag",
            &body,
            &format!("version {version} of model '{model}' to tag"),
        )
        .await
    }

    /// The latest value of each metric of a run.
    pub async fn run_metrics(&self, run_id: &str) -> Result<BTreeMap<String, f64>, MlflowError> {
        Ok(self.run_facts(run_id).await?.metrics)
    }

    /// A run's metrics (latest value of each) and its own tags.
    async fn run_facts(&self, run_id: &str) -> Result<RunFacts, MlflowError> {
        let answer: RunAnswer =
            self.json("/api/2.0/mlflow/runs/get", &[("run_id", run_id)], &format!("run {run_id}")).await?;
        let data = answer.run.data;
        Ok(RunFacts {
            metrics: data.metrics.into_iter().filter(|m| m.value.is_finite()).map(|m| (m.key, m.value)).collect(),
            tags: data.tags.into_iter().filter(|t| !t.key.starts_with("mlflow.")).map(|t| (t.key, t.value)).collect(),
        })
    }

    /// Resolves the URI, reads the model's MLmodel file, refuses a model without the onnx
    /// flavour, and downloads its ONNX file (at most `limit` bytes) with the run's metrics.
    pub async fn fetch(&self, uri: &ModelUri, limit: u64) -> Result<Fetched, MlflowError> {
        let version = self.resolve(uri).await?;
        let what = format!("version {} of model '{}'", version.version, version.name);
        if version.status != "READY" {
            return Err(MlflowError::NotFound(format!(
                "MLflow has not finished registering {what} (status {}): import it once it is READY",
                version.status
            )));
        }
        let location: DownloadUri = self
            .json(
                "/api/2.0/mlflow/model-versions/get-download-uri",
                &[("name", &version.name), ("version", &version.version)],
                &format!("the files of {what}"),
            )
            .await?;
        let root = proxied_path(&location.artifact_uri).ok_or_else(|| MlflowError::Protocol {
            uri: self.uri().to_owned(),
            what: format!("the location of {what}"),
            reason: format!(
                "'{}' is not served through the tracking server's artifact proxy; start the server with --serve-artifacts (its default)",
                location.artifact_uri
            ),
        })?;
        let listing: ArtifactList = self
            .json("/api/2.0/mlflow-artifacts/artifacts", &[("path", &root)], &format!("the file list of {what}"))
            .await?;
        let has = |name: &str| listing.files.iter().find(|f| !f.is_dir && f.path.rsplit('/').next() == Some(name));
        if has("MLmodel").is_none() {
            return Err(MlflowError::NotOnnx(format!(
                "{what} has no MLmodel file; Switchyard imports models logged with mlflow.onnx.log_model"
            )));
        }
        let mlmodel = self.download(&format!("{root}/MLmodel"), limit, &format!("the MLmodel file of {what}")).await?;
        let mlmodel = String::from_utf8_lossy(&mlmodel).into_owned();
        let file = onnx_file(&mlmodel, &version.name)?;
        if let Some(size) = has(&file).and_then(|f| f.file_size).filter(|s| *s > limit) {
            return Err(MlflowError::TooLarge {
                uri: self.uri().to_owned(),
                what: format!("{file} of {what}"),
                size,
                limit,
            });
        }
        let bytes = self.download(&format!("{root}/{file}"), limit, &format!("{file} of {what}")).await?;
        let metrics = match version.run_id.as_deref().filter(|r| !r.is_empty()) {
            Some(run) => self.run_metrics(run).await?,
            None => BTreeMap::new(),
        };
        Ok(Fetched { uri: uri.clone(), version, metrics, bytes })
    }

    /// One artifact file through the proxy, refused past `limit` bytes.
    async fn download(&self, path: &str, limit: u64, what: &str) -> Result<Vec<u8>, MlflowError> {
        let encoded: String = path
            .split('/')
            .map(|p| url::form_urlencoded::byte_serialize(p.as_bytes()).collect::<String>())
            .collect::<Vec<_>>()
            .join("/");
        let mut response =
            self.send(&format!("/api/2.0/mlflow-artifacts/artifacts/{encoded}"), &[], DOWNLOAD_TIMEOUT, what).await?;
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| MlflowError::Unreachable {
            uri: self.uri().to_owned(),
            reason: format!("the download of {what} broke off: {}", root_cause(&e)),
        })? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > limit {
                return Err(MlflowError::TooLarge {
                    uri: self.uri().to_owned(),
                    what: what.to_owned(),
                    size: bytes.len() as u64,
                    limit,
                });
            }
        }
        Ok(bytes)
    }
}

/// The proxy path of an `mlflow-artifacts:` URI (`mlflow-artifacts:/1/models/m-…/artifacts`
/// or with a host: `mlflow-artifacts://host:port/1/…`), or None for any other scheme.
fn proxied_path(artifact_uri: &str) -> Option<String> {
    let rest = artifact_uri.strip_prefix("mlflow-artifacts:")?;
    let path = match rest.strip_prefix("//") {
        Some(with_host) => with_host.split_once('/').map(|(_, p)| p)?,
        None => rest,
    };
    let path = path.trim_matches('/');
    (!path.is_empty() && !path.split('/').any(|p| p == "..")).then(|| path.to_owned())
}

/// The innermost cause of an HTTP error (reqwest's outer message names only the URL).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxied_artifact_uris_give_their_path() {
        assert_eq!(proxied_path("mlflow-artifacts:/1/models/m-1/artifacts").as_deref(), Some("1/models/m-1/artifacts"));
        assert_eq!(
            proxied_path("mlflow-artifacts://mlflow:5000/1/abc/artifacts/model").as_deref(),
            Some("1/abc/artifacts/model")
        );
        assert_eq!(proxied_path("s3://bucket/1/models/m-1/artifacts"), None);
        assert_eq!(proxied_path("mlflow-artifacts:/"), None);
        assert_eq!(proxied_path("mlflow-artifacts:/1/../../etc"), None);
    }

    #[test]
    fn credentials_never_print() {
        let c = Credentials::Basic { username: "u".into(), password: "hunter2".into() };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{:?}", Credentials::Token("sekrit".into())).contains("sekrit"));
    }
}
