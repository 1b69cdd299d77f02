//! A deployment's config: an immutable value. Changing it means writing a new revision.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::names::VersionId;
use crate::router::{Mapping, Route};

/// Which generations serve, and how requests are assigned to them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Serving {
    /// One generation answers every request.
    Single { generation: VersionId },
    /// Generations chosen at random with the mapping's probabilities.
    Multiple { mapping: Mapping },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeploymentConfig {
    #[serde(flatten)]
    pub serving: Serving,
    /// With sticky assignment on, a request carrying `x-switchyard-key` is assigned by a
    /// stable hash of the key, so the same key always gets the same generation.
    #[serde(default)]
    pub sticky: bool,
    /// Mirror a share of requests to a shadow generation, off the response path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<Shadow>,
}

/// The most traffic a shadow may receive, in percent.
pub const MAX_SHADOW_PERCENT: f64 = 50.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Shadow {
    pub generation: VersionId,
    /// Share of requests mirrored, 0–50 %.
    pub percent: f64,
}

impl DeploymentConfig {
    pub fn single(generation: VersionId) -> Self {
        Self { serving: Serving::Single { generation }, sticky: false, shadow: None }
    }

    /// Every generation whose model must be loaded: the served ones, then the shadow.
    pub fn loaded_generations(&self) -> Vec<&VersionId> {
        let mut gens = self.generations();
        if let Some(shadow) = &self.shadow
            && !gens.contains(&&shadow.generation)
        {
            gens.push(&shadow.generation);
        }
        gens
    }

    /// The generations this config serves, in config order.
    pub fn generations(&self) -> Vec<&VersionId> {
        match &self.serving {
            Serving::Single { generation } => vec![generation],
            Serving::Multiple { mapping } => mapping.generations().collect(),
        }
    }

    pub fn route(&self) -> Route {
        match &self.serving {
            Serving::Single { generation } => Route::single(generation.clone()),
            Serving::Multiple { mapping } => Route::weighted(mapping),
        }
    }

    /// Parses a config as a client sent it, checking every generation against the service's
    /// versions, and reporting mapping problems at their entry.
    pub fn from_value(value: &Value, is_known: impl Fn(&str) -> bool) -> Result<Self> {
        let Value::Object(obj) = value else {
            return Err(Error::InvalidConfig(
                "a deployment config is an object with a \"mode\" of \"single\" or \"multiple\"".into(),
            ));
        };
        for key in obj.keys() {
            if !matches!(key.as_str(), "mode" | "generation" | "mapping" | "sticky" | "shadow") {
                return Err(Error::InvalidConfig(format!(
                    "unknown config field \"{key}\" (allowed: mode, generation, mapping, sticky, shadow)"
                )));
            }
        }
        let sticky = match obj.get("sticky") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(Error::InvalidConfig("\"sticky\" must be true or false".into())),
        };
        let serving = match obj.get("mode").and_then(Value::as_str) {
            Some("single") => {
                if obj.contains_key("mapping") {
                    return Err(Error::InvalidConfig(
                        "mode \"single\" takes a \"generation\", not a \"mapping\"".into(),
                    ));
                }
                let Some(Value::String(g)) = obj.get("generation") else {
                    return Err(Error::InvalidConfig(
                        "mode \"single\" needs \"generation\": a version id such as \"v2\"".into(),
                    ));
                };
                if !is_known(g) {
                    return Err(Error::InvalidConfig(format!("generation \"{g}\" is not a version of this service")));
                }
                Serving::Single { generation: VersionId::parse(g)? }
            }
            Some("multiple") => {
                if obj.contains_key("generation") {
                    return Err(Error::InvalidConfig(
                        "mode \"multiple\" takes a \"mapping\", not a \"generation\"".into(),
                    ));
                }
                let mapping = obj.get("mapping").ok_or_else(|| {
                    Error::InvalidConfig(
                        "mode \"multiple\" needs a \"mapping\": [{\"generation\":\"v2\",\"proba\":0.7},…]".into(),
                    )
                })?;
                Serving::Multiple { mapping: Mapping::from_value(mapping, &is_known).map_err(Error::InvalidMapping)? }
            }
            _ => return Err(Error::InvalidConfig("\"mode\" must be \"single\" or \"multiple\"".into())),
        };
        let shadow = match obj.get("shadow") {
            None | Some(Value::Null) => None,
            Some(v) => Some(parse_shadow(v, &is_known)?),
        };
        Ok(Self { serving, sticky, shadow })
    }
}

fn parse_shadow(value: &Value, is_known: impl Fn(&str) -> bool) -> Result<Shadow> {
    let usage = "\"shadow\" is {\"generation\": \"v3\", \"percent\": 10} (percent from 0 to 50)";
    let Value::Object(obj) = value else { return Err(Error::InvalidConfig(usage.into())) };
    if obj.keys().any(|k| k != "generation" && k != "percent") {
        return Err(Error::InvalidConfig(format!("unknown shadow field: {usage}")));
    }
    let Some(Value::String(g)) = obj.get("generation") else { return Err(Error::InvalidConfig(usage.into())) };
    if !is_known(g) {
        return Err(Error::InvalidConfig(format!("shadow generation \"{g}\" is not a version of this service")));
    }
    let percent = obj.get("percent").and_then(Value::as_f64).ok_or_else(|| Error::InvalidConfig(usage.into()))?;
    if !(0.0..=MAX_SHADOW_PERCENT).contains(&percent) {
        return Err(Error::InvalidConfig(format!(
            "shadow percent must be between 0 and {MAX_SHADOW_PERCENT} (got {percent})"
        )));
    }
    Ok(Shadow { generation: VersionId::parse(g)?, percent })
}

impl DeploymentConfig {
    /// A one-line description of a config, used as the default "why" of a revision.
    pub fn describe(&self) -> String {
        let config = self;
        let mut extra = String::new();
        if config.sticky {
            extra.push_str(", sticky");
        }
        if let Some(shadow) = &config.shadow {
            extra.push_str(&format!(", shadow {} {}%", shadow.generation, shadow.percent));
        }
        let sticky = extra;
        match &config.serving {
            Serving::Single { generation } => format!("deploy {generation}{sticky}"),
            Serving::Multiple { mapping } => {
                let parts: Vec<String> = mapping
                    .entries()
                    .iter()
                    .map(|e| format!("{} {}%", e.generation, (e.proba * 1000.0).round() / 10.0))
                    .collect();
                format!("mapping {}{sticky}", parts.join(", "))
            }
        }
    }

    /// The same config with a different serving part (canary steps keep sticky and shadow).
    pub fn with_serving(&self, serving: Serving) -> Self {
        Self { serving, ..self.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_through_json() {
        let value = json!({"mode": "multiple", "mapping": [{"generation": "v2", "proba": 0.7}, {"generation": "v1", "proba": 0.3}], "sticky": true});
        let config = DeploymentConfig::from_value(&value, |_| true).expect("valid");
        assert_eq!(serde_json::to_value(&config).expect("json"), value);
        let back: DeploymentConfig = serde_json::from_value(value).expect("deserialize");
        assert_eq!(back, config);
        let shadowed = json!({"mode": "single", "generation": "v1", "sticky": false, "shadow": {"generation": "v2", "percent": 10.0}});
        let config = DeploymentConfig::from_value(&shadowed, |_| true).expect("valid");
        assert_eq!(serde_json::to_value(&config).expect("json"), shadowed);
        assert_eq!(config.loaded_generations().len(), 2);
        let single = json!({"mode": "single", "generation": "v1", "sticky": false});
        assert_eq!(
            serde_json::to_value(DeploymentConfig::from_value(&single, |_| true).expect("valid")).expect("json"),
            single
        );
    }

    #[test]
    fn refusals_say_what_to_do() {
        let known = |g: &str| g == "v1";
        let cases = [
            (json!([]), "object"),
            (json!({"mode": "both"}), "\"mode\" must be"),
            (json!({"mode": "single"}), "needs \"generation\""),
            (json!({"mode": "single", "generation": "v3"}), "not a version"),
            (json!({"mode": "multiple"}), "needs a \"mapping\""),
            (json!({"mode": "single", "generation": "v1", "sticky": "yes"}), "true or false"),
            (json!({"mode": "single", "generation": "v1", "shade": 1}), "unknown config field"),
            (json!({"mode": "single", "generation": "v1", "shadow": 1}), "\"shadow\" is"),
            (
                json!({"mode": "single", "generation": "v1", "shadow": {"generation": "v1", "percent": 60}}),
                "between 0 and 50",
            ),
            (
                json!({"mode": "single", "generation": "v1", "shadow": {"generation": "v5", "percent": 5}}),
                "shadow generation",
            ),
        ];
        for (value, expected) in cases {
            let err = DeploymentConfig::from_value(&value, known).expect_err("refused").to_string();
            assert!(err.contains(expected), "{value}: {err}");
        }
        let err = DeploymentConfig::from_value(
            &json!({"mode": "multiple", "mapping": [{"generation": "v1", "proba": 0.5}]}),
            known,
        )
        .expect_err("bad sum");
        assert_eq!(err.mapping_issues().len(), 1);
    }
}
