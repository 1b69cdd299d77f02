//! Mapping validation. The rules (DESIGN.md, Router) are the single source of truth; the UI
//! runs the same rules on the same table of cases (`fixtures/mapping_cases.json`).

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::names::VersionId;

/// How far the sum of probabilities may be from 1.
pub const SUM_TOLERANCE: f64 = 1e-6;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MappingEntry {
    pub generation: VersionId,
    pub proba: f64,
}

/// A mapping that passed every rule: non-empty, known generations, no duplicates, each
/// probability finite in [0, 1], sum within [`SUM_TOLERANCE`] of 1.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct Mapping(Vec<MappingEntry>);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IssueKind {
    /// The text is not JSON.
    Syntax,
    /// The value is not a list, or an entry is not an object.
    NotAList,
    Empty,
    NotAnObject,
    UnknownField,
    Missing,
    WrongType,
    UnknownGeneration,
    Duplicate,
    OutOfRange,
    Sum,
}

/// One problem, located: `index` is the entry (None for the whole mapping), `field` is
/// `generation` or `proba` where it applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MappingIssue {
    pub index: Option<usize>,
    pub field: Option<String>,
    pub kind: IssueKind,
    pub message: String,
}

impl fmt::Display for MappingIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.index, &self.field) {
            (Some(i), Some(field)) => write!(f, "entry {i}, {field}: {}", self.message),
            (Some(i), None) => write!(f, "entry {i}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

fn issue(index: Option<usize>, field: Option<&str>, kind: IssueKind, message: String) -> MappingIssue {
    MappingIssue { index, field: field.map(str::to_owned), kind, message }
}

impl Mapping {
    pub fn entries(&self) -> &[MappingEntry] {
        &self.0
    }

    pub fn generations(&self) -> impl Iterator<Item = &VersionId> {
        self.0.iter().map(|e| &e.generation)
    }

    /// Parses the text a user typed (the mapping editor, `--mapping` on the CLI).
    pub fn from_text(text: &str, is_known: impl Fn(&str) -> bool) -> Result<Mapping, Vec<MappingIssue>> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| vec![issue(None, None, IssueKind::Syntax, format!("not valid JSON: {e}"))])?;
        Self::from_value(&value, is_known)
    }

    /// Checks every rule and reports every problem found, each at its entry and field.
    /// `is_known` says whether a generation names an existing version of the service.
    pub fn from_value(value: &Value, is_known: impl Fn(&str) -> bool) -> Result<Mapping, Vec<MappingIssue>> {
        let Value::Array(items) = value else {
            return Err(vec![issue(
                None,
                None,
                IssueKind::NotAList,
                "a mapping is a list like [{\"generation\":\"v2\",\"proba\":0.7},{\"generation\":\"v1\",\"proba\":0.3}]".into(),
            )]);
        };
        if items.is_empty() {
            return Err(vec![issue(
                None,
                None,
                IssueKind::Empty,
                "the mapping is empty: add at least one generation".into(),
            )]);
        }
        let mut issues = Vec::new();
        let mut entries = Vec::with_capacity(items.len());
        let mut seen = HashSet::new();
        let mut sum = 0.0;
        let mut sum_is_meaningful = true;
        for (i, item) in items.iter().enumerate() {
            let at = Some(i);
            let Value::Object(obj) = item else {
                issues.push(issue(
                    at,
                    None,
                    IssueKind::NotAnObject,
                    "must be an object with \"generation\" and \"proba\"".into(),
                ));
                sum_is_meaningful = false;
                continue;
            };
            for key in obj.keys() {
                if key != "generation" && key != "proba" {
                    issues.push(issue(
                        at,
                        Some(key),
                        IssueKind::UnknownField,
                        format!("unknown field \"{key}\" (allowed: generation, proba)"),
                    ));
                }
            }
            let generation = match obj.get("generation") {
                None => {
                    issues.push(issue(at, Some("generation"), IssueKind::Missing, "missing".into()));
                    None
                }
                Some(Value::String(s)) => {
                    if !is_known(s) {
                        issues.push(issue(
                            at,
                            Some("generation"),
                            IssueKind::UnknownGeneration,
                            format!("\"{s}\" is not a version of this service"),
                        ));
                        None
                    } else if !seen.insert(s.clone()) {
                        issues.push(issue(
                            at,
                            Some("generation"),
                            IssueKind::Duplicate,
                            format!("\"{s}\" appears more than once"),
                        ));
                        None
                    } else {
                        match VersionId::parse(s) {
                            Ok(v) => Some(v),
                            Err(e) => {
                                issues.push(issue(at, Some("generation"), IssueKind::UnknownGeneration, e.to_string()));
                                None
                            }
                        }
                    }
                }
                Some(_) => {
                    issues.push(issue(
                        at,
                        Some("generation"),
                        IssueKind::WrongType,
                        "must be a version id string, like \"v2\"".into(),
                    ));
                    None
                }
            };
            let proba = match obj.get("proba") {
                None => {
                    issues.push(issue(at, Some("proba"), IssueKind::Missing, "missing".into()));
                    sum_is_meaningful = false;
                    None
                }
                Some(Value::Number(n)) => match n.as_f64() {
                    Some(p) if p.is_finite() && (0.0..=1.0).contains(&p) => {
                        sum += p;
                        Some(p)
                    }
                    _ => {
                        issues.push(issue(
                            at,
                            Some("proba"),
                            IssueKind::OutOfRange,
                            format!("must be between 0 and 1 (got {n})"),
                        ));
                        sum_is_meaningful = false;
                        None
                    }
                },
                Some(other) => {
                    issues.push(issue(
                        at,
                        Some("proba"),
                        IssueKind::WrongType,
                        format!("must be a number between 0 and 1 (got {other})"),
                    ));
                    sum_is_meaningful = false;
                    None
                }
            };
            if let (Some(generation), Some(proba)) = (generation, proba) {
                entries.push(MappingEntry { generation, proba });
            }
        }
        if sum_is_meaningful && (sum - 1.0).abs() > SUM_TOLERANCE {
            issues.push(issue(
                None,
                None,
                IssueKind::Sum,
                format!("probabilities sum to {} instead of 1", round6(sum)),
            ));
        }
        if issues.is_empty() { Ok(Mapping(entries)) } else { Err(issues) }
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

impl<'de> Deserialize<'de> for Mapping {
    /// Stored and transmitted mappings are checked structurally here; whether the
    /// generations exist is checked by the deploy path, which knows the service.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Mapping::from_value(&value, |_| true).map_err(|issues| {
            serde::de::Error::custom(issues.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The shared table of cases; the UI's vitest suite reads the same file.
    #[derive(Deserialize)]
    struct Case {
        name: String,
        versions: Vec<String>,
        mapping: Value,
        valid: bool,
        #[serde(default)]
        issues: Vec<ExpectedIssue>,
    }
    #[derive(Deserialize)]
    struct ExpectedIssue {
        index: Option<usize>,
        field: Option<String>,
        kind: IssueKind,
    }

    #[test]
    fn shared_case_table() {
        let text = include_str!("../../fixtures/mapping_cases.json");
        let cases: Vec<Case> = serde_json::from_str(text).expect("case table parses");
        assert!(cases.len() >= 15);
        for case in cases {
            // A case's mapping is either JSON or, for syntax cases, a string of raw text.
            let known = |g: &str| case.versions.iter().any(|v| v == g);
            let result = match &case.mapping {
                Value::String(text) => Mapping::from_text(text, known),
                v => Mapping::from_value(v, known),
            };
            match result {
                Ok(m) => {
                    assert!(case.valid, "{}: accepted, expected refusal", case.name);
                    let sum: f64 = m.entries().iter().map(|e| e.proba).sum();
                    assert!((sum - 1.0).abs() <= SUM_TOLERANCE, "{}", case.name);
                }
                Err(issues) => {
                    assert!(!case.valid, "{}: refused ({issues:?}), expected valid", case.name);
                    let got: Vec<_> = issues.iter().map(|i| (i.index, i.field.clone(), i.kind)).collect();
                    let want: Vec<_> = case.issues.iter().map(|i| (i.index, i.field.clone(), i.kind)).collect();
                    assert_eq!(got, want, "{}", case.name);
                    for i in &issues {
                        assert!(!i.message.is_empty());
                    }
                }
            }
        }
    }

    #[test]
    fn messages_name_entry_and_field() {
        let err =
            Mapping::from_text(r#"[{"generation":"v1","proba":0.5},{"generation":"v9","proba":0.5}]"#, |g| g == "v1")
                .expect_err("v9 unknown");
        assert_eq!(err[0].to_string(), "entry 1, generation: \"v9\" is not a version of this service");
    }

    /// Found by fuzz/mapping: JSON numbers were not parsed correctly rounded, so `1e-30` read
    /// as 9.999999999999999e-31, stored as such, and read back as 1e-30: a stored mapping did
    /// not read back the same (serde_json's `float_roundtrip` feature).
    #[test]
    fn stored_mappings_read_back_the_same() {
        let text = r#"[{"generation":"v1","proba":1e-30},{"generation":"v2","proba":0.9999999999}]"#;
        let m = Mapping::from_text(text, |_| true).expect("valid");
        assert_eq!(m.entries()[0].proba, 1e-30);
        let stored = serde_json::to_string(&m).expect("json");
        assert_eq!(Mapping::from_text(&stored, |_| true).expect("valid"), m);
    }

    proptest! {
        /// Whatever the input, an accepted mapping sums to one and names only known versions.
        #[test]
        fn accepted_mappings_sum_to_one(
            entries in prop::collection::vec(("v[0-9]{1,2}|x", prop_oneof![
                -0.5f64..1.5, Just(0.0), Just(1.0), Just(0.5), Just(0.25), Just(f64::MAX)
            ]), 0..6)
        ) {
            let known = |g: &str| g.starts_with('v') && g.len() <= 2;
            let value = Value::Array(entries.iter().map(|(g, p)| serde_json::json!({"generation": g, "proba": p})).collect());
            if let Ok(m) = Mapping::from_value(&value, known) {
                let sum: f64 = m.entries().iter().map(|e| e.proba).sum();
                prop_assert!((sum - 1.0).abs() <= SUM_TOLERANCE);
                prop_assert!(m.generations().all(|g| known(g.as_str())));
                prop_assert!(!m.entries().is_empty());
            }
        }

        /// Normalised random weights over distinct known versions are always accepted.
        #[test]
        fn normalised_mappings_are_accepted(weights in prop::collection::vec(0.001f64..10.0, 1..8)) {
            let total: f64 = weights.iter().sum();
            let value = Value::Array(weights.iter().enumerate()
                .map(|(i, w)| serde_json::json!({"generation": format!("v{i}"), "proba": w / total})).collect());
            prop_assert!(Mapping::from_value(&value, |_| true).is_ok());
        }
    }
}
