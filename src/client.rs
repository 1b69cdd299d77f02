//! A typed client of a node's HTTP API (native predict and admin). The CLI uses it, and so
//! does the desktop's run-and-test panel, so both see exactly what any HTTP caller sees.
//! Errors the node answers are rebuilt as [`Error::Remote`] with their code; a node that
//! cannot be reached, or does not answer in time, is [`Error::NodeUnreachable`].

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::approval::{ApprovalRequest, Protection};
use crate::audit::{AuditRow, ChainVerdict};
use crate::auth::people::{Capabilities, Grant, NewToken, PrincipalView};
use crate::auth::{AccessView, AuthMode, ClientCredential, NewKey};
use crate::capture::export::ExportFormat;
use crate::capture::replay::Replay;
use crate::capture::store::{CaptureRow, RowFilter};
use crate::capture::{CapturePolicy, CaptureStatus};
use crate::deploy::Revision;
use crate::deploy::canary::Canary;
use crate::engine::{CanaryOutcome, DeployOutcome, ServiceSummary, VersionView};
use crate::error::{Error, ErrorCode, Result};
use crate::monitor::MonitorSnapshot;
use crate::monitor::ab::AbReport;
use crate::registry::artifacts::ArtifactStoreInfo;
use crate::registry::artifacts::gc::GcReport;
use crate::registry::{Service, Version};
use crate::report::ReportData;
use crate::scenario::{Run, ScenarioIssue, ScenarioView, TriggerFires};

/// The default address of a node.
pub const DEFAULT_NODE_URL: &str = "http://127.0.0.1:8080";

#[derive(Debug, Clone)]
pub struct NodeClient {
    base: String,
    token: Option<String>,
    author: String,
    http: reqwest::Client,
}

/// A native prediction answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PredictResponse {
    pub request_id: String,
    pub service: String,
    pub generation: String,
    pub revision: i64,
    pub prediction: Value,
    #[serde(default)]
    pub probabilities: Option<BTreeMap<String, f64>>,
    pub latency_ms: f64,
}

/// What to upload as a new version.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UploadMeta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub unique: bool,
    pub metrics: BTreeMap<String, f64>,
    pub notes: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}
#[derive(Deserialize)]
struct ErrorDetail {
    code: ErrorCode,
    message: String,
}

/// How long a request may take by default (reports and uploads of large models included).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

impl NodeClient {
    pub fn new(base_url: &str, token: Option<String>, author: &str) -> Result<Self> {
        Self::with_timeout(base_url, token, author, DEFAULT_TIMEOUT)
    }

    /// A client whose requests end with a timeout error after `timeout` (connecting: at most
    /// 3 s of it).
    pub fn with_timeout(base_url: &str, token: Option<String>, author: &str, timeout: Duration) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .timeout(timeout)
            .build()
            .map_err(|e| Error::Internal(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { base: base_url.trim_end_matches('/').to_owned(), token, author: author.to_owned(), http })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut req =
            self.http.request(method, format!("{}{path}", self.base)).header(crate::node::AUTHOR_HEADER, &self.author);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        req
    }

    async fn send<T: DeserializeOwned>(&self, req: RequestBuilder) -> Result<T> {
        let bytes = self.fetch(req).await?;
        self.decode(&bytes)
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T> {
        serde_json::from_slice(bytes).map_err(|e| Error::Internal(format!("unexpected answer from {}: {e}", self.base)))
    }

    /// The body of a successful answer, or the node's typed error.
    async fn fetch(&self, req: RequestBuilder) -> Result<Vec<u8>> {
        Ok(self.fetch_status(req).await?.1)
    }

    /// The status and body of a successful answer, or the node's typed error.
    async fn fetch_status(&self, req: RequestBuilder) -> Result<(StatusCode, Vec<u8>)> {
        let response = req.send().await.map_err(|e| self.unreachable(e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.unreachable(e))?;
        if status.is_success() {
            return Ok((status, bytes.to_vec()));
        }
        Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Error::Remote { code: body.error.code, message: body.error.message },
            Err(_) => Error::Remote {
                code: match status {
                    StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
                    StatusCode::FORBIDDEN => ErrorCode::Forbidden,
                    _ => ErrorCode::Internal,
                },
                message: format!(
                    "{} answered {status}: {}",
                    self.base,
                    String::from_utf8_lossy(&bytes).chars().take(200).collect::<String>()
                ),
            },
        })
    }

    fn unreachable(&self, e: reqwest::Error) -> Error {
        let what = if e.is_timeout() { "did not answer in time" } else { "cannot be reached" };
        Error::NodeUnreachable(format!("the node at {} {what}: {e}", self.base))
    }

    pub async fn list_services(&self) -> Result<Vec<ServiceSummary>> {
        self.send(self.request(Method::GET, "/admin/v1/services")).await
    }

    pub async fn create_service(&self, name: &str, description: &str) -> Result<Service> {
        self.send(
            self.request(Method::POST, "/admin/v1/services").json(&json!({"name": name, "description": description})),
        )
        .await
    }

    pub async fn list_versions(&self, service: &str) -> Result<Vec<VersionView>> {
        self.send(self.request(Method::GET, &format!("/admin/v1/services/{service}/versions"))).await
    }

    pub async fn upload_version(
        &self,
        service: &str,
        file_name: &str,
        bytes: Vec<u8>,
        meta: &UploadMeta,
        reference_csv: Option<Vec<u8>>,
    ) -> Result<Version> {
        let meta = serde_json::to_string(meta).map_err(|e| Error::Internal(e.to_string()))?;
        let mut form = reqwest::multipart::Form::new()
            .part("model", reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_owned()))
            .text("meta", meta);
        if let Some(csv) = reference_csv {
            form = form.part("reference", reqwest::multipart::Part::bytes(csv).file_name("reference.csv"));
        }
        self.send(self.request(Method::POST, &format!("/admin/v1/services/{service}/versions")).multipart(form)).await
    }

    /// Imports an MLflow model (`models:/NAME/VERSION` or `models:/NAME@ALIAS`) from the node's
    /// tracking server as a version of `service`.
    pub async fn import_mlflow(&self, service: &str, model_uri: &str) -> Result<crate::mlflow::MlflowImport> {
        self.send(
            self.request(Method::POST, &format!("/admin/v1/services/{service}/versions/mlflow"))
                .json(&json!({"model_uri": model_uri})),
        )
        .await
    }

    pub async fn mlflow_models(&self) -> Result<crate::mlflow::MlflowModels> {
        self.send(self.request(Method::GET, "/admin/v1/mlflow/models")).await
    }

    pub async fn mlflow_versions(&self, model: &str) -> Result<Vec<crate::mlflow::VersionSummary>> {
        let model: String = url::form_urlencoded::byte_serialize(model.as_bytes()).collect();
        self.send(self.request(Method::GET, &format!("/admin/v1/mlflow/models/{model}/versions"))).await
    }

    pub async fn deployment(&self, service: &str) -> Result<Revision> {
        self.send(self.request(Method::GET, &format!("/admin/v1/deployments/{service}"))).await
    }

    /// Deploys, or (on a protected service) requests approval: the node answers 202 with the
    /// approval request then.
    pub async fn deploy(&self, service: &str, config: &Value, reason: &str) -> Result<DeployOutcome> {
        let body = json!({"config": config, "reason": reason});
        let (status, bytes) = self
            .fetch_status(self.request(Method::PUT, &format!("/admin/v1/deployments/{service}")).json(&body))
            .await?;
        Ok(if status == StatusCode::ACCEPTED {
            DeployOutcome::ApprovalRequested { request: self.decode(&bytes)? }
        } else {
            DeployOutcome::Deployed { revision: self.decode(&bytes)? }
        })
    }

    pub async fn rollback(&self, service: &str, to_revision: Option<i64>, reason: &str) -> Result<Revision> {
        let body = json!({"to_revision": to_revision, "reason": reason});
        self.send(self.request(Method::POST, &format!("/admin/v1/deployments/{service}/rollback")).json(&body)).await
    }

    pub async fn revisions(&self, service: &str) -> Result<Vec<Revision>> {
        self.send(self.request(Method::GET, &format!("/admin/v1/deployments/{service}/revisions"))).await
    }

    pub async fn ab(&self, service: &str) -> Result<AbReport> {
        self.send(self.request(Method::GET, &format!("/admin/v1/deployments/{service}/ab"))).await
    }

    pub async fn capture_status(&self, service: &str) -> Result<CaptureStatus> {
        self.send(self.request(Method::GET, &format!("/admin/v1/deployments/{service}/capture"))).await
    }

    /// Sets (None: turns off) a deployment's capture policy.
    pub async fn set_capture_policy(&self, service: &str, policy: Option<&CapturePolicy>) -> Result<CaptureStatus> {
        let req = self.request(Method::PUT, &format!("/admin/v1/deployments/{service}/capture"));
        self.send(req.json(&json!({ "policy": policy }))).await
    }

    pub async fn capture_rows(&self, service: &str, filter: &RowFilter) -> Result<Vec<CaptureRow>> {
        self.send(self.request(Method::GET, &format!("/admin/v1/deployments/{service}/capture/rows")).query(filter))
            .await
    }

    /// Captured rows as CSV or JSON Lines text.
    pub async fn export_capture(&self, service: &str, since: Option<&str>, format: ExportFormat) -> Result<String> {
        let format = match format {
            ExportFormat::Csv => "csv",
            ExportFormat::Jsonl => "jsonl",
        };
        let mut query = vec![("format", format)];
        if let Some(since) = since {
            query.push(("since", since));
        }
        let req = self.request(Method::GET, &format!("/admin/v1/deployments/{service}/capture/export")).query(&query);
        let bytes = self.fetch(req).await?;
        String::from_utf8(bytes).map_err(|e| Error::Internal(format!("unexpected answer from {}: {e}", self.base)))
    }

    pub async fn start_replay(
        &self,
        service: &str,
        version: &str,
        since: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Replay> {
        let req = self.request(Method::POST, &format!("/admin/v1/deployments/{service}/replays"));
        self.send(req.json(&json!({"version": version, "since": since, "limit": limit}))).await
    }

    pub async fn replay(&self, service: &str, id: i64) -> Result<Replay> {
        self.send(self.request(Method::GET, &format!("/admin/v1/deployments/{service}/replays/{id}"))).await
    }

    pub async fn replays(&self, service: &str) -> Result<Vec<Replay>> {
        self.send(self.request(Method::GET, &format!("/admin/v1/deployments/{service}/replays"))).await
    }

    pub async fn cancel_replay(&self, service: &str, id: i64) -> Result<Replay> {
        self.send(self.request(Method::POST, &format!("/admin/v1/deployments/{service}/replays/{id}/cancel"))).await
    }

    pub async fn canary(&self, service: &str) -> Result<Canary> {
        self.send(self.request(Method::GET, &format!("/admin/v1/deployments/{service}/canary"))).await
    }

    /// Starts a canary, or (on a protected service) requests approval (202).
    pub async fn start_canary(&self, service: &str, plan: &Value) -> Result<CanaryOutcome> {
        let (status, bytes) = self
            .fetch_status(self.request(Method::POST, &format!("/admin/v1/deployments/{service}/canary")).json(plan))
            .await?;
        Ok(if status == StatusCode::ACCEPTED {
            CanaryOutcome::ApprovalRequested { request: self.decode(&bytes)? }
        } else {
            CanaryOutcome::Started { canary: self.decode(&bytes)? }
        })
    }

    /// Who this client's token stands for, and what it may do.
    pub async fn me(&self) -> Result<Capabilities> {
        self.send(self.request(Method::GET, "/admin/v1/me")).await
    }

    pub async fn list_principals(&self) -> Result<Vec<PrincipalView>> {
        self.send(self.request(Method::GET, "/admin/v1/users")).await
    }

    pub async fn get_principal(&self, name: &str) -> Result<PrincipalView> {
        self.send(self.request(Method::GET, &format!("/admin/v1/users/{name}"))).await
    }

    pub async fn create_principal(&self, name: &str, roles: &[Grant]) -> Result<PrincipalView> {
        let body = json!({"name": name, "roles": roles});
        self.send(self.request(Method::POST, "/admin/v1/users").json(&body)).await
    }

    pub async fn set_roles(&self, name: &str, roles: &[Grant]) -> Result<PrincipalView> {
        self.send(self.request(Method::PUT, &format!("/admin/v1/users/{name}/roles")).json(&json!({"roles": roles})))
            .await
    }

    pub async fn remove_principal(&self, name: &str) -> Result<PrincipalView> {
        self.send(self.request(Method::DELETE, &format!("/admin/v1/users/{name}"))).await
    }

    pub async fn create_token(&self, principal: &str, name: &str, expires_in: Option<Duration>) -> Result<NewToken> {
        let body = json!({"name": name, "expires_in_seconds": expires_in.map(|d| d.as_secs())});
        self.send(self.request(Method::POST, &format!("/admin/v1/users/{principal}/tokens")).json(&body)).await
    }

    pub async fn revoke_token(&self, principal: &str, id: i64) -> Result<PrincipalView> {
        self.send(self.request(Method::POST, &format!("/admin/v1/users/{principal}/tokens/{id}/revoke"))).await
    }

    /// Audit rows from `since_ms` (Unix ms), oldest first.
    pub async fn audit(&self, since_ms: Option<i64>, service: Option<&str>) -> Result<Vec<AuditRow>> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(since) = since_ms {
            query.push(("since", since.to_string()));
        }
        if let Some(service) = service {
            query.push(("service", service.to_owned()));
        }
        self.send(self.request(Method::GET, "/admin/v1/audit").query(&query)).await
    }

    pub async fn verify_audit(&self) -> Result<ChainVerdict> {
        self.send(self.request(Method::GET, "/admin/v1/audit/verify")).await
    }

    pub async fn set_protection(&self, service: &str, protected: bool) -> Result<Protection> {
        let body = json!({"protected": protected});
        self.send(self.request(Method::PUT, &format!("/admin/v1/deployments/{service}/protection")).json(&body)).await
    }

    /// Approval requests of a service (or every service), newest first.
    pub async fn approvals(&self, service: Option<&str>, pending_only: bool) -> Result<Vec<ApprovalRequest>> {
        let path = match service {
            Some(s) => format!("/admin/v1/deployments/{s}/approvals?pending={pending_only}"),
            None => format!("/admin/v1/approvals?pending={pending_only}"),
        };
        self.send(self.request(Method::GET, &path)).await
    }

    /// Approves (`approve`) or rejects (`reject`) a request.
    pub async fn decide(&self, service: &str, id: i64, decision: &str, note: &str) -> Result<ApprovalRequest> {
        let path = format!("/admin/v1/deployments/{service}/approvals/{id}/{decision}");
        self.send(self.request(Method::POST, &path).json(&json!({"note": note}))).await
    }

    /// `action` is pause, resume, promote or abort.
    pub async fn canary_action(&self, service: &str, action: &str) -> Result<Canary> {
        self.send(self.request(Method::POST, &format!("/admin/v1/deployments/{service}/canary/{action}"))).await
    }

    pub async fn monitor(&self, service: &str, minutes: i64) -> Result<MonitorSnapshot> {
        self.send(self.request(Method::GET, &format!("/admin/v1/deployments/{service}/monitor?minutes={minutes}")))
            .await
    }

    /// Drift of a deployment's generations over the last `minutes` minutes.
    pub async fn drift(&self, service: &str, minutes: i64) -> Result<crate::drift::DriftReport> {
        self.send(self.request(Method::GET, &format!("/admin/v1/deployments/{service}/drift?minutes={minutes}"))).await
    }

    /// The data of a deployment report over `[since_ms, until_ms]` (Unix milliseconds).
    pub async fn report_data(&self, service: &str, since_ms: i64, until_ms: i64) -> Result<ReportData> {
        self.send(
            self.request(
                Method::GET,
                &format!("/admin/v1/deployments/{service}/report?since={since_ms}&until={until_ms}"),
            ),
        )
        .await
    }

    /// Creates or replaces a scenario (the spec as JSON, e.g. read from a file).
    pub async fn save_scenario(&self, spec: &Value) -> Result<ScenarioView> {
        self.send(self.request(Method::POST, "/admin/v1/scenarios").json(spec)).await
    }

    pub async fn validate_scenario(&self, spec: &Value) -> Result<Vec<ScenarioIssue>> {
        self.send(self.request(Method::POST, "/admin/v1/scenarios/validate").json(spec)).await
    }

    pub async fn list_scenarios(&self) -> Result<Vec<ScenarioView>> {
        self.send(self.request(Method::GET, "/admin/v1/scenarios")).await
    }

    pub async fn scenario(&self, name: &str) -> Result<ScenarioView> {
        self.send(self.request(Method::GET, &format!("/admin/v1/scenarios/{name}"))).await
    }

    pub async fn delete_scenario(&self, name: &str) -> Result<()> {
        self.fetch(self.request(Method::DELETE, &format!("/admin/v1/scenarios/{name}"))).await.map(|_| ())
    }

    pub async fn next_fires(&self, name: &str, count: usize) -> Result<Vec<TriggerFires>> {
        self.send(self.request(Method::GET, &format!("/admin/v1/scenarios/{name}/next?count={count}"))).await
    }

    /// Starts a manual run; the node answers at once with the run (status `running`).
    pub async fn start_run(&self, name: &str) -> Result<Run> {
        self.send(self.request(Method::POST, &format!("/admin/v1/scenarios/{name}/runs"))).await
    }

    /// Runs of a scenario, newest first, without logs.
    pub async fn scenario_runs(&self, name: &str, limit: usize) -> Result<Vec<Run>> {
        self.send(self.request(Method::GET, &format!("/admin/v1/scenarios/{name}/runs?limit={limit}"))).await
    }

    /// One run with its log.
    pub async fn scenario_run(&self, name: &str, id: i64) -> Result<Run> {
        self.send(self.request(Method::GET, &format!("/admin/v1/scenarios/{name}/runs/{id}"))).await
    }

    pub async fn access(&self, service: &str) -> Result<AccessView> {
        self.send(self.request(Method::GET, &format!("/admin/v1/deployments/{service}/auth"))).await
    }

    pub async fn set_auth_mode(&self, service: &str, mode: AuthMode) -> Result<AccessView> {
        let req = self.request(Method::PUT, &format!("/admin/v1/deployments/{service}/auth"));
        self.send(req.json(&json!({"mode": mode}))).await
    }

    pub async fn create_key(&self, service: &str, name: &str) -> Result<NewKey> {
        let req = self.request(Method::POST, &format!("/admin/v1/deployments/{service}/keys"));
        self.send(req.json(&json!({"name": name}))).await
    }

    pub async fn rotate_key(&self, service: &str, id: i64, overlap: Duration) -> Result<NewKey> {
        let req = self.request(Method::POST, &format!("/admin/v1/deployments/{service}/keys/{id}/rotate"));
        self.send(req.json(&json!({"overlap_seconds": overlap.as_secs()}))).await
    }

    pub async fn revoke_key(&self, service: &str, id: i64) -> Result<AccessView> {
        self.send(self.request(Method::POST, &format!("/admin/v1/deployments/{service}/keys/{id}/revoke"))).await
    }

    /// Where the node's artifacts live.
    pub async fn artifact_store(&self) -> Result<ArtifactStoreInfo> {
        self.send(self.request(Method::GET, "/admin/v1/artifacts")).await
    }

    pub async fn list_webhooks(&self) -> Result<Vec<crate::notify::Webhook>> {
        self.send(self.request(Method::GET, "/admin/v1/webhooks")).await
    }

    pub async fn create_webhook(&self, new: &Value) -> Result<crate::notify::Webhook> {
        self.send(self.request(Method::POST, "/admin/v1/webhooks").json(new)).await
    }

    pub async fn remove_webhook(&self, id: i64) -> Result<()> {
        self.fetch(self.request(Method::DELETE, &format!("/admin/v1/webhooks/{id}"))).await.map(|_| ())
    }

    pub async fn test_webhook(&self, id: i64) -> Result<crate::notify::Delivery> {
        self.send(self.request(Method::POST, &format!("/admin/v1/webhooks/{id}/test")).json(&json!({}))).await
    }

    pub async fn webhook_deliveries(&self, webhook: Option<i64>, limit: i64) -> Result<Vec<crate::notify::Delivery>> {
        let mut query = vec![("limit", limit.to_string())];
        if let Some(w) = webhook {
            query.push(("webhook", w.to_string()));
        }
        self.send(self.request(Method::GET, "/admin/v1/webhooks/deliveries").query(&query)).await
    }

    /// The node's artifact garbage collection (`dry_run`: list only).
    pub async fn collect_garbage(&self, dry_run: bool, grace: Duration) -> Result<GcReport> {
        let body = json!({"dry_run": dry_run, "grace_seconds": grace.as_secs()});
        self.send(self.request(Method::POST, "/admin/v1/artifacts/gc").json(&body)).await
    }

    pub async fn cancel_run(&self, name: &str, id: i64) -> Result<Run> {
        self.send(self.request(Method::POST, &format!("/admin/v1/scenarios/{name}/runs/{id}/cancel"))).await
    }

    /// One native prediction; `generation` forces a generation, `key` is the sticky key,
    /// `credential` what the deployment's auth mode asks for (never the admin token).
    pub async fn predict(
        &self,
        service: &str,
        features: &Value,
        generation: Option<&str>,
        key: Option<&str>,
        credential: Option<&ClientCredential>,
    ) -> Result<PredictResponse> {
        let mut req = self
            .http
            .post(format!("{}/v1/services/{service}/predict", self.base))
            .header(crate::node::AUTHOR_HEADER, &self.author)
            .json(&json!({"features": features}));
        req = match credential {
            None => req,
            Some(ClientCredential::ApiKey { key }) => req.bearer_auth(key),
            Some(ClientCredential::Basic { user, password }) => req.basic_auth(user, Some(password)),
        };
        if let Some(g) = generation {
            req = req.header(crate::node::GENERATION_HEADER, g);
        }
        if let Some(k) = key {
            req = req.header(crate::node::KEY_HEADER, k);
        }
        self.send(req).await
    }
}
