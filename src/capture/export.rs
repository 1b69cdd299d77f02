//! Captured rows as CSV (RFC 4180, the `csv` crate) or JSON Lines, features in the model's
//! order. Dropped features have no column; hashed ones hold their keyed hash.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::store::CaptureRow;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Csv,
    Jsonl,
}

impl FromStr for ExportFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "csv" => Ok(ExportFormat::Csv),
            "jsonl" => Ok(ExportFormat::Jsonl),
            other => Err(Error::InvalidInput(format!("unknown export format '{other}' (use csv or jsonl)"))),
        }
    }
}

/// Writes rows page by page; the CSV header goes out with the first page.
pub struct Exporter {
    format: ExportFormat,
    /// Feature columns, in the model's order (dropped ones left out).
    features: Vec<String>,
    csv: Option<csv::Writer<Vec<u8>>>,
    out: Vec<u8>,
}

const LEADING: [&str; 5] = ["at_ms", "request_id", "instance", "revision", "generation"];
const TRAILING: [&str; 5] = ["prediction", "latency_ms", "shadow_generation", "shadow_prediction", "feedback"];

impl Exporter {
    pub fn new(format: ExportFormat, features: Vec<String>) -> Result<Self> {
        let csv = match format {
            ExportFormat::Csv => {
                let mut w = csv::Writer::from_writer(Vec::new());
                let header = LEADING
                    .iter()
                    .map(|s| s.to_string())
                    .chain(features.iter().cloned())
                    .chain(TRAILING.iter().map(|s| s.to_string()));
                w.write_record(header).map_err(csv_error)?;
                Some(w)
            }
            ExportFormat::Jsonl => None,
        };
        Ok(Self { format, features, csv, out: Vec::new() })
    }

    pub fn write(&mut self, row: &CaptureRow) -> Result<()> {
        let prediction = answer(row.label.as_deref(), row.value);
        let shadow = answer(row.shadow_label.as_deref(), row.shadow_value);
        match (self.format, self.csv.as_mut()) {
            (ExportFormat::Csv, Some(w)) => {
                let text = |v: &Value| match v {
                    Value::Null => String::new(),
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let mut record: Vec<String> = vec![
                    row.at_ms.to_string(),
                    row.request_id.clone(),
                    row.instance.clone(),
                    row.revision.to_string(),
                    row.generation.clone(),
                ];
                record.extend(self.features.iter().map(|f| row.features.get(f).map(text).unwrap_or_default()));
                record.extend([
                    text(&prediction),
                    row.latency_ms.to_string(),
                    row.shadow_generation.clone().unwrap_or_default(),
                    text(&shadow),
                    row.feedback.map(|f| f.to_string()).unwrap_or_default(),
                ]);
                w.write_record(&record).map_err(csv_error)?;
            }
            _ => {
                let mut features = Map::new();
                for f in &self.features {
                    if let Some(v) = row.features.get(f) {
                        features.insert(f.clone(), v.clone());
                    }
                }
                let line = serde_json::json!({
                    "at_ms": row.at_ms, "request_id": row.request_id, "instance": row.instance,
                    "revision": row.revision, "generation": row.generation, "features": features,
                    "prediction": prediction, "probabilities": row.probabilities, "latency_ms": row.latency_ms,
                    "shadow_generation": row.shadow_generation, "shadow_prediction": shadow, "feedback": row.feedback,
                });
                serde_json::to_writer(&mut self.out, &line).map_err(|e| Error::Internal(e.to_string()))?;
                self.out.push(b'\n');
            }
        }
        Ok(())
    }

    /// The text written so far.
    pub fn finish(self) -> Result<String> {
        let bytes = match self.csv {
            Some(w) => w.into_inner().map_err(|e| Error::Internal(e.to_string()))?,
            None => self.out,
        };
        String::from_utf8(bytes).map_err(|e| Error::Internal(e.to_string()))
    }
}

fn answer(label: Option<&str>, value: Option<f64>) -> Value {
    match (label, value) {
        (Some(l), _) => Value::String(l.to_owned()),
        (None, Some(v)) => serde_json::json!(v),
        (None, None) => Value::Null,
    }
}

fn csv_error(e: csv::Error) -> Error {
    Error::Internal(format!("writing CSV: {e}"))
}

/// The export's feature columns: the model's features in its order, less the dropped ones.
pub fn columns(model_features: &[String], dropped: &[String]) -> Vec<String> {
    model_features.iter().filter(|f| !dropped.contains(f)).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> CaptureRow {
        CaptureRow {
            id: 1,
            service: "iris".into(),
            instance: "n1".into(),
            at_ms: 5,
            revision: 2,
            generation: "v1".into(),
            request_id: "r,1".into(),
            features: serde_json::json!({"b": 2.5, "a": 1}).as_object().cloned().unwrap_or_default(),
            label: Some("setosa".into()),
            value: None,
            probabilities: Some(vec![("setosa".into(), 0.9)]),
            latency_ms: 0.5,
            shadow_generation: None,
            shadow_label: None,
            shadow_value: None,
            feedback: Some(1.0),
        }
    }

    #[test]
    fn csv_follows_the_model_order_and_quotes() {
        let mut e = Exporter::new(ExportFormat::Csv, columns(&["a".into(), "b".into(), "c".into()], &["c".into()]))
            .expect("test value");
        e.write(&row()).expect("test value");
        let text = e.finish().expect("test value");
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some(
                "at_ms,request_id,instance,revision,generation,a,b,prediction,latency_ms,shadow_generation,shadow_prediction,feedback"
            )
        );
        assert_eq!(lines.next(), Some("5,\"r,1\",n1,2,v1,1,2.5,setosa,0.5,,,1"));
    }

    #[test]
    fn jsonl_is_one_object_a_line() {
        let mut e = Exporter::new(ExportFormat::Jsonl, vec!["b".into(), "a".into()]).expect("test value");
        e.write(&row()).expect("test value");
        e.write(&row()).expect("test value");
        let text = e.finish().expect("test value");
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("test value")).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["prediction"], "setosa");
        assert_eq!(lines[1]["features"], serde_json::json!({"a": 1, "b": 2.5}));
        assert_eq!(lines[1]["feedback"], 1.0);
    }
}
