//! The engine's one error type and the closed set of error codes shared by HTTP, CLI and IPC.
//!
//! Every variant carries a message a user can act on. Internal details (SQL, I/O paths) are
//! logged where they happen and summarised here; the node never returns them to a client.

use serde::{Deserialize, Serialize};

use crate::registry::artifacts::ArtifactProblem;
use crate::router::MappingIssue;

/// Machine-readable error codes. Clients (the CLI, the desktop UI, HTTP callers) match on
/// these, never on message text. The set is closed: adding one is an API change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    MalformedJson,
    InvalidInput,
    InvalidName,
    InvalidMapping,
    InvalidConfig,
    InvalidModel,
    ServiceNotFound,
    VersionNotFound,
    RevisionNotFound,
    NotDeployed,
    GenerationNotLive,
    RequestNotFound,
    CanaryNotFound,
    CanaryConflict,
    /// The change would leave the config as it is: no revision is written.
    Unchanged,
    AlreadyExists,
    ScenarioNotFound,
    RunNotFound,
    /// A run of the scenario is in progress (runs never overlap), or the run is not running.
    RunConflict,
    /// The service has no replay of that id.
    ReplayNotFound,
    /// The replay is not running on this node (finished, or started by another node).
    ReplayConflict,
    Unauthorized,
    /// The principal is known but lacks the permission (the message names it), or the action
    /// is refused by a rule (self-approval, commands on a node bound beyond loopback).
    Forbidden,
    PrincipalNotFound,
    ApprovalNotFound,
    /// The approval request is decided, expired, or the service is not protected.
    ApprovalConflict,
    /// No webhook with that id (or it was removed).
    WebhookNotFound,
    PayloadTooLarge,
    /// The client did not send its request within the node's deadline.
    RequestTimeout,
    NodeUnreachable,
    /// The artifact store cannot be reached (or refuses access) and this node has not cached
    /// the artifact: nothing was changed.
    ArtifactStoreUnavailable,
    /// The artifact store has no object for a version's artifact.
    ArtifactMissing,
    /// The artifact's bytes do not hash to its SHA-256 (hash mismatch): refused.
    ArtifactCorrupt,
    /// The node has no MLflow tracking server (serve --mlflow-uri, or Settings → MLflow).
    MlflowNotConfigured,
    /// The MLflow tracking server cannot be reached or answers in a way Switchyard cannot
    /// read: nothing was imported.
    MlflowUnavailable,
    /// The MLflow tracking server refused the node's credentials.
    MlflowUnauthorized,
    /// MLflow has no such registered model, version or alias.
    MlflowNotFound,
    /// No such endpoint.
    NotFound,
    /// The endpoint exists, but not with this HTTP method.
    MethodNotAllowed,
    Internal,
}

impl ErrorCode {
    /// Whether the caller's request was at fault (as opposed to the node or a model).
    pub fn is_client_error(self) -> bool {
        !matches!(
            self,
            ErrorCode::Internal
                | ErrorCode::NodeUnreachable
                | ErrorCode::ArtifactStoreUnavailable
                | ErrorCode::ArtifactMissing
                | ErrorCode::ArtifactCorrupt
                | ErrorCode::MlflowUnavailable
                | ErrorCode::MlflowUnauthorized
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::InvalidName => "invalid_name",
            ErrorCode::InvalidMapping => "invalid_mapping",
            ErrorCode::InvalidConfig => "invalid_config",
            ErrorCode::InvalidModel => "invalid_model",
            ErrorCode::ServiceNotFound => "service_not_found",
            ErrorCode::VersionNotFound => "version_not_found",
            ErrorCode::RevisionNotFound => "revision_not_found",
            ErrorCode::NotDeployed => "not_deployed",
            ErrorCode::GenerationNotLive => "generation_not_live",
            ErrorCode::RequestNotFound => "request_not_found",
            ErrorCode::CanaryNotFound => "canary_not_found",
            ErrorCode::CanaryConflict => "canary_conflict",
            ErrorCode::Unchanged => "unchanged",
            ErrorCode::AlreadyExists => "already_exists",
            ErrorCode::ScenarioNotFound => "scenario_not_found",
            ErrorCode::RunNotFound => "run_not_found",
            ErrorCode::RunConflict => "run_conflict",
            ErrorCode::ReplayNotFound => "replay_not_found",
            ErrorCode::ReplayConflict => "replay_conflict",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::PrincipalNotFound => "principal_not_found",
            ErrorCode::ApprovalNotFound => "approval_not_found",
            ErrorCode::ApprovalConflict => "approval_conflict",
            ErrorCode::WebhookNotFound => "webhook_not_found",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::NodeUnreachable => "node_unreachable",
            ErrorCode::ArtifactStoreUnavailable => "artifact_store_unavailable",
            ErrorCode::ArtifactMissing => "artifact_missing",
            ErrorCode::ArtifactCorrupt => "artifact_corrupt",
            ErrorCode::MlflowNotConfigured => "mlflow_not_configured",
            ErrorCode::MlflowUnavailable => "mlflow_unavailable",
            ErrorCode::MlflowUnauthorized => "mlflow_unauthorized",
            ErrorCode::MlflowNotFound => "mlflow_not_found",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    InvalidName(String),
    #[error("invalid mapping: {}", join_issues(.0))]
    InvalidMapping(Vec<MappingIssue>),
    #[error("{0}")]
    InvalidConfig(String),
    #[error("{0}")]
    InvalidModel(String),
    #[error("service '{0}' does not exist")]
    ServiceNotFound(String),
    #[error("service '{service}' has no version '{version}'")]
    VersionNotFound { service: String, version: String },
    #[error("deployment '{deployment}' has no revision {revision}")]
    RevisionNotFound { deployment: String, revision: i64 },
    #[error("service '{0}' is not deployed on this node: deploy a version first")]
    NotDeployed(String),
    #[error("'{generation}' is not a live generation of '{service}' (live: {live})")]
    GenerationNotLive { service: String, generation: String, live: String },
    #[error("{0}")]
    RequestNotFound(String),
    #[error("{0}")]
    CanaryNotFound(String),
    /// A canary is running (or not) where the action needs the opposite.
    #[error("{0}")]
    CanaryConflict(String),
    /// A deploy or rollback whose config equals the active one.
    #[error("{0}")]
    Unchanged(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("scenario '{0}' does not exist")]
    ScenarioNotFound(String),
    #[error("scenario '{scenario}' has no run {id}")]
    RunNotFound { scenario: String, id: i64 },
    #[error("{0}")]
    RunConflict(String),
    #[error("service '{service}' has no replay {id}")]
    ReplayNotFound { service: String, id: i64 },
    #[error("{0}")]
    ReplayConflict(String),
    #[error("{0}")]
    Unauthorized(String),
    /// A prediction request without valid credentials; `challenge` is the
    /// `WWW-Authenticate` value.
    #[error("{message}")]
    AccessDenied { challenge: &'static str, message: String },
    /// Refused for this principal; `permission` is the one it lacks (or the rule's name).
    #[error("{message}")]
    Forbidden { permission: &'static str, message: String },
    #[error("principal '{0}' does not exist")]
    PrincipalNotFound(String),
    #[error("{0}")]
    ApprovalNotFound(String),
    #[error("{0}")]
    ApprovalConflict(String),
    #[error("{0}")]
    WebhookNotFound(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    NodeUnreachable(String),
    /// An artifact the store could not give or take (unreachable, missing, corrupt).
    #[error("{0}")]
    Artifact(crate::registry::artifacts::ArtifactError),
    #[error("{0}")]
    Mlflow(#[from] crate::mlflow::MlflowError),
    #[error("{0}")]
    NoEndpoint(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The node answered with a typed error (used by the HTTP client to rebuild errors).
    #[error("{message}")]
    Remote { code: ErrorCode, message: String },
    #[error("registry storage failed: {0}")]
    Storage(#[from] sqlx::Error),
    #[error("registry migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("file system error: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Internal(String),
}

fn join_issues(issues: &[MappingIssue]) -> String {
    issues.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("; ")
}

impl Error {
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::MalformedJson(_) => ErrorCode::MalformedJson,
            Error::InvalidInput(_) => ErrorCode::InvalidInput,
            Error::InvalidName(_) => ErrorCode::InvalidName,
            Error::InvalidMapping(_) => ErrorCode::InvalidMapping,
            Error::InvalidConfig(_) => ErrorCode::InvalidConfig,
            Error::InvalidModel(_) => ErrorCode::InvalidModel,
            Error::ServiceNotFound(_) => ErrorCode::ServiceNotFound,
            Error::VersionNotFound { .. } => ErrorCode::VersionNotFound,
            Error::RevisionNotFound { .. } => ErrorCode::RevisionNotFound,
            Error::NotDeployed(_) => ErrorCode::NotDeployed,
            Error::GenerationNotLive { .. } => ErrorCode::GenerationNotLive,
            Error::RequestNotFound(_) => ErrorCode::RequestNotFound,
            Error::CanaryNotFound(_) => ErrorCode::CanaryNotFound,
            Error::CanaryConflict(_) => ErrorCode::CanaryConflict,
            Error::Unchanged(_) => ErrorCode::Unchanged,
            Error::AlreadyExists(_) => ErrorCode::AlreadyExists,
            Error::ScenarioNotFound(_) => ErrorCode::ScenarioNotFound,
            Error::RunNotFound { .. } => ErrorCode::RunNotFound,
            Error::ReplayNotFound { .. } => ErrorCode::ReplayNotFound,
            Error::ReplayConflict(_) => ErrorCode::ReplayConflict,
            Error::RunConflict(_) => ErrorCode::RunConflict,
            Error::Unauthorized(_) | Error::AccessDenied { .. } => ErrorCode::Unauthorized,
            Error::Forbidden { .. } => ErrorCode::Forbidden,
            Error::PrincipalNotFound(_) => ErrorCode::PrincipalNotFound,
            Error::ApprovalNotFound(_) => ErrorCode::ApprovalNotFound,
            Error::ApprovalConflict(_) => ErrorCode::ApprovalConflict,
            Error::WebhookNotFound(_) => ErrorCode::WebhookNotFound,
            Error::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            Error::RequestTimeout(_) => ErrorCode::RequestTimeout,
            Error::NodeUnreachable(_) => ErrorCode::NodeUnreachable,
            Error::Artifact(e) => match e.problem {
                ArtifactProblem::Unreachable { .. } => ErrorCode::ArtifactStoreUnavailable,
                ArtifactProblem::Missing => ErrorCode::ArtifactMissing,
                ArtifactProblem::Corrupt { .. } => ErrorCode::ArtifactCorrupt,
            },
            Error::Mlflow(e) => {
                use crate::mlflow::MlflowError as M;
                match e {
                    M::NotConfigured => ErrorCode::MlflowNotConfigured,
                    M::Unreachable { .. } | M::Protocol { .. } => ErrorCode::MlflowUnavailable,
                    M::Unauthorized { .. } => ErrorCode::MlflowUnauthorized,
                    M::NotFound(_) => ErrorCode::MlflowNotFound,
                    M::BadUri(_) => ErrorCode::InvalidInput,
                    M::NotOnnx(_) => ErrorCode::InvalidModel,
                    M::TooLarge { .. } => ErrorCode::PayloadTooLarge,
                }
            }
            Error::NoEndpoint(_) => ErrorCode::NotFound,
            Error::MethodNotAllowed(_) => ErrorCode::MethodNotAllowed,
            Error::Remote { code, .. } => *code,
            Error::Storage(_) | Error::Migration(_) | Error::Io(_) | Error::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The message a client or the console may see. An internal failure's text (SQL, I/O
    /// paths) never leaves the process: it is logged in full here and replaced by a sentence
    /// saying where the details are. HTTP and IPC both answer with this.
    pub fn public_message(&self) -> String {
        if self.code() == ErrorCode::Internal {
            tracing::error!("internal error: {self}");
            "internal error; the Switchyard log has the details".to_owned()
        } else {
            self.to_string()
        }
    }

    /// Per-entry mapping problems, when this is a mapping error (the UI shows each at its entry).
    pub fn mapping_issues(&self) -> &[MappingIssue] {
        match self {
            Error::InvalidMapping(issues) => issues,
            _ => &[],
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_text_never_reaches_a_client() {
        let sql = Error::Internal("no such table: revisions (SELECT * FROM revisions)".into());
        assert!(!sql.public_message().contains("revisions"), "{}", sql.public_message());
        let io = Error::Io(std::io::Error::other("/var/lib/switchyard/registry.db: disk full"));
        assert!(!io.public_message().contains("registry.db"));
        let mine = Error::InvalidInput("feature 'x' is unknown".into());
        assert_eq!(mine.public_message(), mine.to_string());
    }
}
