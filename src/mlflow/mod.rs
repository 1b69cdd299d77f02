//! MLflow Model Registry, read through a tracking server's REST API (`client.rs`): what a
//! model URI names (`models:/churn/7`, `models:/churn@champion`), that version's run metrics,
//! and the ONNX file of a model logged with `mlflow.onnx.log_model`, downloaded through the
//! server's artifact proxy. Everything here is plain data and pure checks, except the client;
//! `engine/mlflow.rs` turns an import into a Switchyard version.

mod client;
pub mod settings;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use client::{Connection, Credentials, MlflowClient};

/// A model URI as MLflow writes it: a registered model's version or alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelUri {
    Version { model: String, version: String },
    Alias { model: String, alias: String },
}

impl ModelUri {
    pub fn parse(text: &str) -> Result<ModelUri, MlflowError> {
        let bad = |why: &str| {
            MlflowError::BadUri(format!(
                "'{text}' is not an MLflow model URI ({why}): write models:/NAME/VERSION or models:/NAME@ALIAS"
            ))
        };
        let rest = text.trim().strip_prefix("models:/").ok_or_else(|| bad("it does not start with models:/"))?;
        let (model, uri) = if let Some((model, alias)) = rest.rsplit_once('@') {
            (model, ModelUri::Alias { model: model.to_owned(), alias: alias.to_owned() })
        } else if let Some((model, version)) = rest.rsplit_once('/') {
            if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("the version is not a number"));
            }
            (model, ModelUri::Version { model: model.to_owned(), version: version.to_owned() })
        } else {
            return Err(bad("it names no version or alias"));
        };
        if model.is_empty() || model.contains('/') {
            return Err(bad("the model name is empty or has a '/'"));
        }
        if let ModelUri::Alias { alias, .. } = &uri
            && (alias.is_empty() || alias.contains('/'))
        {
            return Err(bad("the alias is empty or has a '/'"));
        }
        Ok(uri)
    }

    pub fn model(&self) -> &str {
        match self {
            ModelUri::Version { model, .. } | ModelUri::Alias { model, .. } => model,
        }
    }
}

impl fmt::Display for ModelUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelUri::Version { model, version } => write!(f, "models:/{model}/{version}"),
            ModelUri::Alias { model, alias } => write!(f, "models:/{model}@{alias}"),
        }
    }
}

/// Why talking to MLflow or importing from it failed, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum MlflowError {
    #[error(
        "no MLflow tracking server is configured: connect one in Settings → MLflow, or start the node with --mlflow-uri URL (or MLFLOW_TRACKING_URI)"
    )]
    NotConfigured,
    #[error("{0}")]
    BadUri(String),
    #[error("MLflow at {uri} cannot be reached: {reason}")]
    Unreachable { uri: String, reason: String },
    #[error(
        "MLflow at {uri} refused the credentials (HTTP {status}): give the token or username and password in Settings → MLflow, or set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, for the node"
    )]
    Unauthorized { uri: String, status: u16 },
    #[error("{0}")]
    NotFound(String),
    /// The model was not logged as ONNX: names its flavours and the fix.
    #[error("{0}")]
    NotOnnx(String),
    #[error("MLflow at {uri}: {what} is {size} bytes, over the {limit}-byte limit of a version")]
    TooLarge { uri: String, what: String, size: u64, limit: u64 },
    #[error("MLflow at {uri} answered {what} in a way Switchyard cannot read: {reason}")]
    Protocol { uri: String, what: String, reason: String },
}

/// A registered model's version, as MLflow describes it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ModelVersion {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub run_id: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// READY once MLflow has the version's files; PENDING_REGISTRATION or
    /// FAILED_REGISTRATION before or instead.
    #[serde(default = "ready")]
    pub status: String,
}

fn ready() -> String {
    "READY".to_owned()
}

/// An alias of a registered model and the version it names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AliasRef {
    pub alias: String,
    pub version: String,
}

/// A registered model as the console's browser lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RegisteredModel {
    pub name: String,
    pub aliases: Vec<AliasRef>,
    /// The highest version number, if the model has any version.
    pub latest_version: Option<String>,
}

/// One version of a registered model, as the console's browser lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionSummary {
    pub version: String,
    /// READY, PENDING_REGISTRATION or FAILED_REGISTRATION.
    pub status: String,
    pub run_id: Option<String>,
    pub source: String,
    /// The aliases pointing at this version now, in alphabetical order.
    pub aliases: Vec<String>,
    /// The run's metrics (latest value of each): what the version's metrics will be.
    pub metrics: BTreeMap<String, f64>,
    /// The version's tags in MLflow, and its run's own tags (MLflow's `mlflow.*` system
    /// tags left out); the version's win where both have a key.
    pub tags: BTreeMap<String, String>,
    /// When MLflow registered it (milliseconds since the epoch).
    pub created_ms: Option<i64>,
}

/// The tracking server and its registered models.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MlflowModels {
    pub tracking_uri: String,
    pub models: Vec<RegisteredModel>,
}

/// What an import brought in, before it becomes a version: the ONNX bytes and the facts
/// recorded with them.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub uri: ModelUri,
    pub version: ModelVersion,
    /// The run's metrics (latest value of each), the version's metrics in Switchyard.
    pub metrics: BTreeMap<String, f64>,
    pub bytes: Vec<u8>,
}

impl Fetched {
    /// The provenance details recorded with the version (shown in version history and
    /// reports): where in MLflow it came from, and which alias pointed at it then.
    pub fn provenance(&self, tracking_uri: &str) -> BTreeMap<String, String> {
        let mut details = BTreeMap::from([
            ("mlflow.tracking_uri".to_owned(), tracking_uri.to_owned()),
            ("mlflow.model".to_owned(), self.version.name.clone()),
            ("mlflow.version".to_owned(), self.version.version.clone()),
            ("mlflow.source".to_owned(), self.version.source.clone()),
        ]);
        if let Some(run) = self.version.run_id.as_deref().filter(|r| !r.is_empty()) {
            details.insert("mlflow.run_id".to_owned(), run.to_owned());
        }
        if let ModelUri::Alias { alias, .. } = &self.uri {
            details.insert("mlflow.alias".to_owned(), alias.clone());
        }
        details
    }
}

/// An import's outcome: the version, and whether this import created it (false: the same
/// model bytes were imported before, as this version).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MlflowImport {
    pub version: crate::registry::Version,
    pub created: bool,
}

/// The part of an MLmodel file that says how the model was logged.
#[derive(Debug, Deserialize)]
struct MlModel {
    #[serde(default)]
    flavors: BTreeMap<String, serde_yaml_ng::Value>,
}

/// The ONNX file named by an MLmodel file's `onnx` flavour, or the refusal naming the
/// flavours the model has and how to log it as ONNX.
pub fn onnx_file(mlmodel: &str, model: &str) -> Result<String, MlflowError> {
    let parsed: MlModel = serde_yaml_ng::from_str(mlmodel).map_err(|e| {
        MlflowError::NotOnnx(format!("the MLmodel file of '{model}' cannot be read ({e}); Switchyard imports models logged with mlflow.onnx.log_model"))
    })?;
    if let Some(onnx) = parsed.flavors.get("onnx") {
        let data = onnx.get("data").and_then(|d| d.as_str()).unwrap_or("model.onnx");
        if data.is_empty() || data.contains("..") || data.starts_with('/') {
            return Err(MlflowError::NotOnnx(format!(
                "the onnx flavour of '{model}' names the file '{data}', which is not a file of the model"
            )));
        }
        return Ok(data.to_owned());
    }
    let flavours: Vec<&str> = parsed.flavors.keys().map(String::as_str).filter(|f| *f != "python_function").collect();
    let named = if flavours.is_empty() {
        "no flavour Switchyard knows".to_owned()
    } else {
        format!("the {} flavour", flavours.join(", "))
    };
    Err(MlflowError::NotOnnx(format!(
        "'{model}' was logged with {named}, not as ONNX; Switchyard serves ONNX models. Convert it (for scikit-learn: skl2onnx's convert_sklearn) and log it with mlflow.onnx.log_model, or convert it in a scenario run_command step"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_uris_parse_and_print_back() {
        for (text, uri) in [
            ("models:/churn/7", ModelUri::Version { model: "churn".into(), version: "7".into() }),
            ("models:/churn@champion", ModelUri::Alias { model: "churn".into(), alias: "champion".into() }),
            (" models:/My Model@prod ", ModelUri::Alias { model: "My Model".into(), alias: "prod".into() }),
        ] {
            let parsed = ModelUri::parse(text).expect("parses");
            assert_eq!(parsed, uri);
            assert_eq!(parsed.to_string(), text.trim());
        }
        for bad in [
            "churn/7",
            "models:/churn",
            "models:/churn/",
            "models:/churn/latest",
            "models://7",
            "models:/@x",
            "models:/a/b/3",
            "models:/churn@",
        ] {
            let e = ModelUri::parse(bad).expect_err("refused");
            assert!(matches!(e, MlflowError::BadUri(_)), "{bad}: {e}");
            assert!(e.to_string().contains("models:/NAME/VERSION"), "{e}");
        }
    }

    #[test]
    fn an_onnx_flavour_names_its_file_and_others_are_refused_with_the_fix() {
        let onnx = "artifact_path: x\nflavors:\n  onnx:\n    data: model.onnx\n    onnx_version: 1.23.2\n  python_function:\n    loader_module: mlflow.onnx\n";
        assert_eq!(onnx_file(onnx, "churn").expect("onnx"), "model.onnx");
        let sklearn = "flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n  sklearn:\n    pickled_model: model.pkl\n    serialization_format: cloudpickle\n";
        let e = onnx_file(sklearn, "churn").expect_err("refused").to_string();
        assert!(
            e.contains("the sklearn flavour") && e.contains("mlflow.onnx.log_model") && e.contains("skl2onnx"),
            "{e}"
        );
        let escape = "flavors:\n  onnx:\n    data: ../../etc/passwd\n";
        assert!(onnx_file(escape, "churn").is_err());
        assert!(matches!(onnx_file(": not yaml [", "churn"), Err(MlflowError::NotOnnx(_))));
    }

    #[test]
    fn provenance_names_the_model_version_run_and_alias() {
        let fetched = Fetched {
            uri: ModelUri::parse("models:/churn@champion").expect("parses"),
            version: ModelVersion {
                name: "churn".into(),
                version: "3".into(),
                source: "models:/m-1".into(),
                run_id: Some("abc".into()),
                aliases: vec!["champion".into()],
                status: ready(),
            },
            metrics: BTreeMap::new(),
            bytes: vec![],
        };
        let p = fetched.provenance("http://mlflow:5000");
        assert_eq!(p["mlflow.model"], "churn");
        assert_eq!(p["mlflow.version"], "3");
        assert_eq!(p["mlflow.run_id"], "abc");
        assert_eq!(p["mlflow.alias"], "champion");
        assert_eq!(p["mlflow.source"], "models:/m-1");
        assert_eq!(p["mlflow.tracking_uri"], "http://mlflow:5000");
    }
}
