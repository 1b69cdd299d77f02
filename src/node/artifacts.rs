//! Artifact store routes of the admin API (`/admin/v1/artifacts…`): where this node's
//! artifacts live, and the garbage collector of unreferenced objects.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::body::JsonBody;
use super::error::{ApiResult, ErrorBody};
use crate::error::Error;
use crate::registry::artifacts::ArtifactStoreInfo;
use crate::registry::artifacts::gc::{DEFAULT_GRACE, GcReport};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(store)).routes(routes!(gc))
}

/// Where this node's artifacts live (the data dir, or an object store) and what its cache
/// holds.
#[utoipa::path(get, path = "/artifacts", tag = "artifacts", operation_id = "artifact_store",
    responses((status = 200, description = "The artifact store", body = ArtifactStoreInfo)))]
async fn store(State(s): State<AppState>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.artifact_store().await?))
}

/// What to collect.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GcRequest {
    /// List the unreferenced objects without deleting any.
    #[serde(default)]
    pub dry_run: bool,
    /// Keep unreferenced objects written less than this many seconds ago (an upload may be
    /// committing its version). Default: 3600; at most ten years.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 315_360_000)]
    pub grace_seconds: Option<u64>,
}

/// The longest grace period a collection accepts (ten years).
const MAX_GRACE_SECONDS: u64 = 315_360_000;

/// Lists the artifact store's objects no version refers to (uploads that never committed)
/// and, unless `dry_run`, deletes those older than the grace period.
#[utoipa::path(post, path = "/artifacts/gc", tag = "artifacts", operation_id = "collect_garbage",
    request_body = GcRequest,
    responses(
        (status = 200, description = "What was found and deleted", body = GcReport),
        (status = 400, description = "A grace period out of range", body = ErrorBody),
        (status = 503, description = "The artifact store cannot be reached", body = ErrorBody),
    ))]
async fn gc(State(s): State<AppState>, JsonBody(req): JsonBody<GcRequest>) -> ApiResult<impl IntoResponse> {
    let grace = match req.grace_seconds {
        None => DEFAULT_GRACE,
        Some(s) if s <= MAX_GRACE_SECONDS => std::time::Duration::from_secs(s),
        Some(s) => {
            return Err(Error::InvalidInput(format!(
                "grace_seconds {s} is too long: use at most {MAX_GRACE_SECONDS} (ten years)"
            ))
            .into());
        }
    };
    Ok(Json(s.engine.collect_garbage(req.dry_run, grace).await?))
}
