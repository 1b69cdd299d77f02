//! The registry: services and their immutable versions.
//!
//! Creating a version inspects the model first (tract must be able to run it), then stores
//! the artifact in the [`artifacts`] store, then inserts the row: a refused model leaves
//! nothing behind, and a crash between the last two steps leaves at most an unreferenced
//! artifact object, which `switchyard gc` finds.

pub mod artifacts;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::error::{Error, Result};
use crate::model::ModelSchema;
use crate::names::{ServiceName, VersionId};
use crate::store::Pool;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Service {
    pub name: ServiceName,
    pub description: String,
    pub created_at: DateTime<Utc>,
}

/// The provenance detail holding an example row of the version's features (a JSON object):
/// the first row of its reference CSV unless one was given. Run & test starts from it.
pub const SAMPLE_ROW: &str = "sample_row";

/// Where a version came from.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Provenance {
    /// Who created it (user, scenario run, …).
    pub created_by: String,
    /// The file name it was uploaded from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_file: Option<String>,
    /// Free-form facts (training command, git commit, data set, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
}

impl Provenance {
    /// Where the version came from, in a line: the MLflow model version (and alias and run)
    /// it was imported from, else the file it was uploaded from.
    pub fn origin(&self) -> Option<String> {
        let d = |k: &str| self.details.get(k).filter(|v| !v.is_empty());
        if let Some(model) = d("mlflow.model") {
            let mut line = format!("MLflow {model}");
            if let Some(version) = d("mlflow.version") {
                line += &format!(" {version}");
            }
            if let Some(alias) = d("mlflow.alias") {
                line += &format!(" @{alias}");
            }
            if let Some(run) = d("mlflow.run_id") {
                line += &format!(", run {run}");
            }
            return Some(line);
        }
        self.source_file.clone()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Version {
    pub service: ServiceName,
    pub id: VersionId,
    pub sha256: String,
    pub size_bytes: i64,
    pub schema: ModelSchema,
    pub metrics: BTreeMap<String, f64>,
    pub provenance: Provenance,
    pub notes: String,
    pub created_at: DateTime<Utc>,
}

/// What a user supplies to create a version.
#[derive(Debug, Clone, Default)]
pub struct NewVersion {
    /// A given id, or None for the next `vN`.
    pub id: Option<String>,
    /// Append `-YYYYMMDD-xxxx` to the id (to `version` when no id is given).
    pub unique: bool,
    pub metrics: BTreeMap<String, f64>,
    pub notes: String,
    pub provenance: Provenance,
    /// A CSV of feature rows (a holdout set) whose distributions become the version's
    /// drift reference.
    pub reference_csv: Option<String>,
}

pub(crate) fn to_datetime(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Internal(format!("cannot encode: {e}")))
}

fn json_col<T: for<'de> Deserialize<'de>>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Internal(format!("stored {what} is unreadable: {e}")))
}

pub async fn create_service(pool: &Pool, name: &str, description: &str, now: DateTime<Utc>) -> Result<Service> {
    let name = ServiceName::parse(name)?;
    let created_at = now.timestamp_millis();
    let res = sqlx::query("INSERT INTO services (name, description, created_at) VALUES ($1, $2, $3)")
        .bind(name.as_str())
        .bind(description)
        .bind(created_at)
        .execute(pool)
        .await;
    match res {
        Ok(_) => Ok(Service { name, description: description.to_owned(), created_at: to_datetime(created_at) }),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(Error::AlreadyExists(format!("service '{name}' already exists")))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn list_services(pool: &Pool) -> Result<Vec<Service>> {
    let rows = sqlx::query("SELECT name, description, created_at FROM services ORDER BY name").fetch_all(pool).await?;
    rows.iter().map(service_from_row).collect()
}

pub async fn get_service(pool: &Pool, name: &str) -> Result<Service> {
    // A name that cannot be valid names no service; it never reaches the database (which
    // may refuse its bytes, e.g. PostgreSQL a NUL, as an error rather than a miss).
    if ServiceName::parse(name).is_err() {
        return Err(Error::ServiceNotFound(name.chars().take(64).collect()));
    }
    let row = sqlx::query("SELECT name, description, created_at FROM services WHERE name = $1")
        .bind(name)
        .fetch_optional(pool)
        .await?;
    match row {
        Some(row) => service_from_row(&row),
        None => Err(Error::ServiceNotFound(name.to_owned())),
    }
}

fn service_from_row(row: &sqlx::any::AnyRow) -> Result<Service> {
    Ok(Service {
        name: ServiceName::parse(row.try_get("name")?)?,
        description: row.try_get("description")?,
        created_at: to_datetime(row.try_get("created_at")?),
    })
}

const VERSION_COLUMNS: &str =
    "service, id, artifact_sha256, artifact_size, schema_json, metrics_json, provenance_json, notes, created_at";

fn version_from_row(row: &sqlx::any::AnyRow) -> Result<Version> {
    Ok(Version {
        service: ServiceName::parse(row.try_get("service")?)?,
        id: VersionId::parse(row.try_get("id")?)?,
        sha256: row.try_get("artifact_sha256")?,
        size_bytes: row.try_get("artifact_size")?,
        schema: json_col(row.try_get("schema_json")?, "schema")?,
        metrics: json_col(row.try_get("metrics_json")?, "metrics")?,
        provenance: json_col(row.try_get("provenance_json")?, "provenance")?,
        notes: row.try_get("notes")?,
        created_at: to_datetime(row.try_get("created_at")?),
    })
}

/// Versions of a service, oldest first.
pub async fn list_versions(pool: &Pool, service: &str) -> Result<Vec<Version>> {
    get_service(pool, service).await?;
    let rows = sqlx::query(&format!("SELECT {VERSION_COLUMNS} FROM versions WHERE service = $1 ORDER BY seq"))
        .bind(service)
        .fetch_all(pool)
        .await?;
    rows.iter().map(version_from_row).collect()
}

pub async fn get_version(pool: &Pool, service: &str, id: &str) -> Result<Version> {
    if VersionId::parse(id).is_err() {
        get_service(pool, service).await?;
        return Err(Error::VersionNotFound { service: service.to_owned(), version: id.chars().take(64).collect() });
    }
    let row = sqlx::query(&format!("SELECT {VERSION_COLUMNS} FROM versions WHERE service = $1 AND id = $2"))
        .bind(service)
        .bind(id)
        .fetch_optional(pool)
        .await?;
    match row {
        Some(row) => version_from_row(&row),
        None => {
            get_service(pool, service).await?;
            Err(Error::VersionNotFound { service: service.to_owned(), version: id.to_owned() })
        }
    }
}

/// Every version's artifact, as `(sha256, "service version")` in upload order, across all
/// services of the registry (what the garbage collector keeps and a migration copies).
pub async fn artifact_uses(pool: &Pool) -> Result<Vec<(String, String)>> {
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT artifact_sha256, service, id FROM versions ORDER BY created_at, service, seq")
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|(sha, service, id)| (sha, format!("{service} {id}"))).collect())
}

/// The id a new version gets: the given one, or `v{n}` with n one past the highest automatic
/// number so far; with `unique`, a date and random suffix are appended.
fn choose_id(existing: &[VersionId], given: Option<&str>, unique: bool, now: DateTime<Utc>) -> Result<VersionId> {
    let base = match given {
        Some(id) => id.to_owned(),
        None if unique => "version".to_owned(),
        None => {
            let next = existing.iter().filter_map(VersionId::auto_number).max().unwrap_or(0) + 1;
            format!("v{next}")
        }
    };
    let id = if unique {
        let suffix: u16 = rand::rng().random();
        format!("{base}-{}-{suffix:04x}", now.format("%Y%m%d"))
    } else {
        base
    };
    let id = VersionId::parse(&id)?;
    if existing.contains(&id) {
        return Err(Error::AlreadyExists(format!(
            "version '{id}' already exists: version ids are never reused (omit the id for the next vN, or use make unique)"
        )));
    }
    Ok(id)
}

/// Records a version whose artifact is already stored. Runs in one transaction so the id
/// choice and the insert cannot race with another upload; the version's drift reference, if
/// any, is written in the same transaction.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert_version(
    pool: &Pool,
    service: &ServiceName,
    new: &NewVersion,
    sha256: &str,
    size: usize,
    schema: &ModelSchema,
    reference: Option<&crate::drift::Reference>,
    now: DateTime<Utc>,
) -> Result<Version> {
    for (k, v) in &new.metrics {
        if k.is_empty() || !v.is_finite() {
            return Err(Error::InvalidInput(format!("metric '{k}' must have a name and a finite value")));
        }
    }
    // IMMEDIATE: this transaction reads then writes, and a deferred one cannot upgrade while
    // another connection writes (scenario runs and the metrics flusher write in the
    // background): SQLite would answer "database is locked" at once.
    let mut tx = crate::store::begin_write(pool).await?;
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM versions WHERE service = $1")
        .bind(service.as_str())
        .fetch_all(&mut *tx)
        .await?;
    let existing = ids.iter().map(|s| VersionId::parse(s)).collect::<Result<Vec<_>>>()?;
    let created_at = now.timestamp_millis();
    let id = choose_id(&existing, new.id.as_deref(), new.unique, to_datetime(created_at))?;
    let seq = existing.len() as i64 + 1;
    sqlx::query(
        "INSERT INTO versions (service, id, seq, artifact_sha256, artifact_size, schema_json, metrics_json, provenance_json, notes, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(service.as_str())
    .bind(id.as_str())
    .bind(seq)
    .bind(sha256)
    .bind(size as i64)
    .bind(to_json(schema)?)
    .bind(to_json(&new.metrics)?)
    .bind(to_json(&new.provenance)?)
    .bind(&new.notes)
    .bind(created_at)
    .execute(&mut *tx)
    .await?;
    if let Some(reference) = reference {
        crate::drift::store::put(&mut tx, service.as_str(), id.as_str(), reference, created_at).await?;
    }
    tx.commit().await?;
    Ok(Version {
        service: service.clone(),
        id,
        sha256: sha256.to_owned(),
        size_bytes: size as i64,
        schema: schema.clone(),
        metrics: new.metrics.clone(),
        provenance: new.provenance.clone(),
        notes: new.notes.clone(),
        created_at: to_datetime(created_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<VersionId> {
        v.iter().map(|s| VersionId::parse(s).expect("id")).collect()
    }

    #[test]
    fn automatic_ids_skip_given_ones() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z").expect("t").with_timezone(&Utc);
        assert_eq!(choose_id(&[], None, false, now).expect("id").as_str(), "v1");
        assert_eq!(choose_id(&ids(&["v1", "v2", "best"]), None, false, now).expect("id").as_str(), "v3");
        assert_eq!(choose_id(&ids(&["v1", "v7"]), None, false, now).expect("id").as_str(), "v8");
        assert!(matches!(choose_id(&ids(&["v1"]), Some("v1"), false, now), Err(Error::AlreadyExists(_))));
        assert!(matches!(choose_id(&[], Some("bad id"), false, now), Err(Error::InvalidName(_))));
    }

    #[test]
    fn unique_ids_have_date_and_suffix() {
        let now = DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z").expect("date").with_timezone(&Utc);
        let id = choose_id(&[], Some("retrained_model"), true, now).expect("id");
        let s = id.as_str();
        assert!(s.starts_with("retrained_model-20261121-"), "{s}");
        let suffix = &s["retrained_model-20261121-".len()..];
        assert_eq!(suffix.len(), 4);
        assert!(suffix.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(choose_id(&[], None, true, now).expect("id").as_str().starts_with("version-20261121-"));
    }
}

#[cfg(test)]
mod provenance_tests {
    use super::*;

    #[test]
    fn origin_names_the_mlflow_version_else_the_file() {
        let mut p =
            Provenance { created_by: "ana".into(), source_file: Some("churn/7".into()), details: BTreeMap::new() };
        for (k, v) in [
            ("mlflow.model", "churn"),
            ("mlflow.version", "7"),
            ("mlflow.alias", "champion"),
            ("mlflow.run_id", "9c45"),
        ] {
            p.details.insert(k.into(), v.into());
        }
        assert_eq!(p.origin().as_deref(), Some("MLflow churn 7 @champion, run 9c45"));
        p.details.clear();
        assert_eq!(p.origin().as_deref(), Some("churn/7"));
        p.source_file = None;
        assert_eq!(p.origin(), None);
    }
}
