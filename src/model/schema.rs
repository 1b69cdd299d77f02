//! The schema of a version's model as stored in the registry and shown to users.

use serde::{Deserialize, Serialize};
use tract_onnx::prelude::DatumType;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    Float32,
    Float64,
    Int64,
}

impl InputType {
    pub(super) fn from_onnx(elem_type: i32) -> Option<Self> {
        match elem_type {
            1 => Some(InputType::Float32),
            11 => Some(InputType::Float64),
            7 => Some(InputType::Int64),
            _ => None,
        }
    }

    pub(super) fn datum_type(self) -> DatumType {
        match self {
            InputType::Float32 => DatumType::F32,
            InputType::Float64 => DatumType::F64,
            InputType::Int64 => DatumType::I64,
        }
    }

    /// Whether `v` (finite) can be given to the model without changing meaning.
    pub fn accepts(self, v: f64) -> bool {
        match self {
            InputType::Float32 => v.abs() <= f64::from(f32::MAX),
            InputType::Float64 => true,
            InputType::Int64 => v.fract() == 0.0 && v.abs() <= 9_007_199_254_740_992.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Feature {
    pub name: String,
    pub dtype: InputType,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutputKind {
    /// A class label plus one probability per class, in `classes` order.
    Classifier { classes: Vec<String> },
    /// One numeric value.
    Regressor,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelSchema {
    /// The ONNX input tensor's name.
    pub input_name: String,
    pub input_type: InputType,
    /// Features in column order; a prediction request names each exactly once.
    pub features: Vec<Feature>,
    pub output: OutputKind,
}

impl ModelSchema {
    /// Whether two versions take the same request (same feature names, order and types), so
    /// they can serve side by side in one mapping.
    pub fn same_input(&self, other: &ModelSchema) -> bool {
        self.features == other.features
    }
}

impl ModelSchema {
    /// Turns a request's `features` object into a row in column order, refusing missing,
    /// unknown, non-numeric and unrepresentable values with a message that names them.
    pub fn row_from_json(
        &self,
        features: &serde_json::Map<String, serde_json::Value>,
    ) -> crate::error::Result<Vec<f64>> {
        use crate::error::Error;
        let mut row = Vec::with_capacity(self.features.len());
        let mut missing = Vec::new();
        let mut problems = Vec::new();
        for f in &self.features {
            match features.get(&f.name) {
                None => missing.push(f.name.as_str()),
                Some(serde_json::Value::Number(n)) => match n.as_f64() {
                    Some(v) if v.is_finite() && f.dtype.accepts(v) => row.push(v),
                    _ => problems.push(format!("'{}' = {n} is out of range for {}", f.name, f.dtype.name())),
                },
                Some(other) => problems.push(format!("'{}' must be a number, got {}", f.name, json_type(other))),
            }
        }
        // Keys of a JSON object are distinct: every key matched a feature unless there are
        // more keys than features found. Only then are the others looked up, in a set of the
        // feature names (linear in features + keys, whatever the model's width).
        let found = self.features.len() - missing.len();
        let unknown: Vec<&str> = if features.len() > found { self.unknown_keys(features) } else { Vec::new() };
        if !missing.is_empty() {
            problems.insert(0, format!("missing features: {}", missing.join(", ")));
        }
        if !unknown.is_empty() {
            let shown: Vec<String> = unknown.iter().take(10).map(|k| k.chars().take(64).collect()).collect();
            problems.push(format!("unknown features: {} (expected: {})", shown.join(", "), self.feature_list()));
        }
        if problems.is_empty() { Ok(row) } else { Err(Error::InvalidInput(problems.join("; "))) }
    }

    /// The keys of `features` that name no feature of this schema, in key order.
    fn unknown_keys<'a>(&self, features: &'a serde_json::Map<String, serde_json::Value>) -> Vec<&'a str> {
        let names: std::collections::HashSet<&str> = self.features.iter().map(|f| f.name.as_str()).collect();
        features
            .keys()
            .filter(|k| {
                #[cfg(test)]
                tests::LOOKUPS.with(|n| n.set(n.get() + 1));
                !names.contains(k.as_str())
            })
            .map(String::as_str)
            .collect()
    }

    /// Checks a row already in column order (a batch row of the Open Inference Protocol):
    /// the schema's width, every value finite and representable in its feature's type.
    pub fn check_row(&self, row: &[f64]) -> crate::error::Result<()> {
        use crate::error::Error;
        if row.len() != self.features.len() {
            return Err(Error::InvalidInput(format!(
                "each row needs {} values, got {}",
                self.features.len(),
                row.len()
            )));
        }
        for (v, f) in row.iter().zip(&self.features) {
            if !v.is_finite() || !f.dtype.accepts(*v) {
                return Err(Error::InvalidInput(format!(
                    "feature '{}' = {v} is out of range for {}",
                    f.name,
                    f.dtype.name()
                )));
            }
        }
        Ok(())
    }

    pub fn feature_list(&self) -> String {
        self.features.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")
    }
}

impl InputType {
    pub fn name(self) -> &'static str {
        match self {
            InputType::Float32 => "float32",
            InputType::Float64 => "float64",
            InputType::Int64 => "int64",
        }
    }
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    thread_local! {
        /// Name lookups made to find unknown features (the complexity-revealing hook).
        pub(super) static LOOKUPS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    /// A request to a 5,000-feature model with one unknown feature is refused with that
    /// feature named, after a number of lookups linear in the request's keys: the check never
    /// compares every key with every feature (25 million comparisons here).
    #[test]
    fn an_unknown_feature_of_a_wide_model_costs_linear_work() {
        let n = 5_000;
        let wide = ModelSchema {
            input_name: "x".into(),
            input_type: InputType::Float32,
            features: (0..n).map(|i| Feature { name: format!("f{i}"), dtype: InputType::Float32 }).collect(),
            output: OutputKind::Regressor,
        };
        let mut features: serde_json::Map<String, serde_json::Value> =
            (0..n).map(|i| (format!("f{i}"), json!(1.0))).collect();
        assert_eq!(wide.row_from_json(&features).expect("row").len(), n);
        LOOKUPS.with(|c| c.set(0));
        assert_eq!(wide.row_from_json(&features).map(|r| r.len()).ok(), Some(n));
        assert_eq!(LOOKUPS.with(|c| c.get()), 0, "a request naming every feature once needs no lookup");
        features.insert("surprise".into(), json!(2.0));
        let err = wide.row_from_json(&features).expect_err("unknown feature").to_string();
        assert!(err.contains("unknown features: surprise"), "{err}");
        let lookups = LOOKUPS.with(|c| c.get());
        assert!(lookups <= (n + 1) as u64, "{lookups} lookups for {} keys", n + 1);
    }

    fn schema(dtype: InputType) -> ModelSchema {
        ModelSchema {
            input_name: "x".into(),
            input_type: dtype,
            features: ["a", "b"].iter().map(|n| Feature { name: (*n).into(), dtype }).collect(),
            output: OutputKind::Regressor,
        }
    }

    fn row(s: &ModelSchema, v: serde_json::Value) -> Result<Vec<f64>, String> {
        let serde_json::Value::Object(map) = v else { panic!("object") };
        s.row_from_json(&map).map_err(|e| e.to_string())
    }

    #[test]
    fn rows_in_schema_order() {
        assert_eq!(row(&schema(InputType::Float32), json!({"b": 2, "a": 1.5})), Ok(vec![1.5, 2.0]));
    }

    #[test]
    fn each_problem_is_named() {
        let s = schema(InputType::Float32);
        assert_eq!(row(&s, json!({"a": 1})), Err("missing features: b".into()));
        assert_eq!(row(&s, json!({"a": 1, "b": 2, "c": 3})), Err("unknown features: c (expected: a, b)".into()));
        assert_eq!(
            row(&s, json!({"a": "1", "b": null})),
            Err("'a' must be a number, got a string; 'b' must be a number, got null".into())
        );
        assert_eq!(row(&s, json!({"a": 1e39, "b": 1})), Err("'a' = 1e+39 is out of range for float32".into()));
        assert!(row(&schema(InputType::Float64), json!({"a": 1e39, "b": 1})).is_ok());
        assert_eq!(
            row(&schema(InputType::Int64), json!({"a": 1.5, "b": 1})),
            Err("'a' = 1.5 is out of range for int64".into())
        );
    }
}
