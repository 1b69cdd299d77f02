//! Validated names: a `ServiceName` or `VersionId` exists only if it passed its check
//! ("parse, don't validate"). Both are safe in URLs, file names and log lines.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const MAX_LEN: usize = 64;

/// A service name: lowercase ASCII letter first, then lowercase letters, digits, `_` or `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ServiceName(String);

impl ServiceName {
    pub fn parse(s: &str) -> Result<Self> {
        let ok = !s.is_empty()
            && s.len() <= MAX_LEN
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(Error::InvalidName(format!(
                "invalid service name '{}': use 1-{MAX_LEN} characters, a lowercase letter first, then lowercase letters, digits, '_' or '-' (e.g. iris_classifier)",
                truncate(s)
            )))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A scenario name: the same rules as a service name (e.g. `retrain_iris`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ScenarioName(String);

impl ScenarioName {
    pub fn parse(s: &str) -> Result<Self> {
        match ServiceName::parse(s) {
            Ok(ServiceName(name)) => Ok(Self(name)),
            Err(_) => Err(Error::InvalidName(format!(
                "invalid scenario name '{}': use 1-{MAX_LEN} characters, a lowercase letter first, then lowercase letters, digits, '_' or '-' (e.g. retrain_iris)",
                truncate(s)
            ))),
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A version id such as `v3` or `retrained_model-20261121-7f3a`: an ASCII letter or digit
/// first, then letters, digits, `_`, `-` or `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct VersionId(String);

impl VersionId {
    pub fn parse(s: &str) -> Result<Self> {
        let ok = !s.is_empty()
            && s.len() <= MAX_LEN
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(Error::InvalidName(format!(
                "invalid version id '{}': use 1-{MAX_LEN} characters, a letter or digit first, then letters, digits, '_', '-' or '.' (e.g. v3)",
                truncate(s)
            )))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The number of an automatic id (`v7` → 7), if this is one.
    pub fn auto_number(&self) -> Option<u64> {
        self.0.strip_prefix('v').and_then(|n| n.parse().ok())
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

macro_rules! string_newtype_impls {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(&self.0)
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                <$t>::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}
string_newtype_impls!(ServiceName);
string_newtype_impls!(VersionId);
string_newtype_impls!(ScenarioName);

/// OpenAPI schemas: a string with the name's rules as a pattern, so clients and generated
/// tests know what a valid name is.
macro_rules! name_schema {
    ($t:ty, $pattern:expr, $description:expr, $example:expr) => {
        impl utoipa::PartialSchema for $t {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some($pattern))
                    .min_length(Some(1))
                    .max_length(Some(MAX_LEN))
                    .description(Some($description))
                    .examples([$example])
                    .into()
            }
        }
        impl utoipa::ToSchema for $t {}
    };
}
name_schema!(ServiceName, SERVICE_PATTERN, "A service name", "iris_classifier");
name_schema!(ScenarioName, SERVICE_PATTERN, "A scenario name", "retrain_iris");
name_schema!(VersionId, VERSION_PATTERN, "A version id (a generation when it serves)", "v2");

/// The rules of [`ServiceName::parse`] and [`VersionId::parse`] as regular expressions.
pub const SERVICE_PATTERN: &str = "^[a-z][a-z0-9_-]{0,63}$";
pub const VERSION_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names() {
        for ok in ["iris_classifier", "a", "churn-model-2"] {
            assert!(ServiceName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Iris", "1abc", "a b", "a/b", "é", &"a".repeat(65)] {
            assert!(ServiceName::parse(bad).is_err(), "{bad}");
        }
    }

    /// The OpenAPI patterns say exactly what `parse` accepts.
    #[test]
    fn patterns_match_the_rules() {
        let service = regex::Regex::new(SERVICE_PATTERN).expect("regex");
        let version = regex::Regex::new(VERSION_PATTERN).expect("regex");
        let long = "a".repeat(65);
        for s in ["iris_classifier", "a", "Iris", "1abc", "v2", "retrained-1.2", "", "a b", ".x", "é", "a\n", &long] {
            assert_eq!(service.is_match(s), ServiceName::parse(s).is_ok(), "service {s:?}");
            assert_eq!(service.is_match(s), ScenarioName::parse(s).is_ok(), "scenario {s:?}");
            assert_eq!(version.is_match(s), VersionId::parse(s).is_ok(), "version {s:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn patterns_agree_with_parse(s in "[a-zA-Z0-9_.\\- é]{0,70}") {
            let service = regex::Regex::new(SERVICE_PATTERN).expect("regex");
            let version = regex::Regex::new(VERSION_PATTERN).expect("regex");
            proptest::prop_assert_eq!(service.is_match(&s), ServiceName::parse(&s).is_ok());
            proptest::prop_assert_eq!(version.is_match(&s), VersionId::parse(&s).is_ok());
        }
    }

    #[test]
    fn names_pad_in_tables() {
        let name = ServiceName::parse("iris").expect("name");
        assert_eq!(format!("[{name:<6}]"), "[iris  ]");
    }

    #[test]
    fn version_ids() {
        for ok in ["v1", "retrained_model-20261121-7f3a", "2026.11", "V2"] {
            assert!(VersionId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-v1", "v 1", "v1/..", "../x", &"v".repeat(65)] {
            assert!(VersionId::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(VersionId::parse("v12").ok().and_then(|v| v.auto_number()), Some(12));
        assert_eq!(VersionId::parse("v1x").ok().and_then(|v| v.auto_number()), None);
    }
}
