//! A deployment config as a client sends it (`PUT .../config`, the CLI, the console),
//! parsed against a service's versions. An accepted config names only known generations,
//! keeps the mapping and shadow rules, and reads back the same after storage; a refused one
//! is a typed client error with a message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use switchyard::ErrorCode;
use switchyard::deploy::{DeploymentConfig, MAX_SHADOW_PERCENT, Serving};
use switchyard::router::SUM_TOLERANCE;

const KNOWN: [&str; 5] = ["v1", "v2", "v3", "blue-green", "two words"];

fn known(g: &str) -> bool {
    KNOWN.contains(&g)
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else { return };
    match DeploymentConfig::from_value(&value, known) {
        Ok(config) => {
            let served = config.generations();
            assert!(!served.is_empty());
            for g in config.loaded_generations() {
                assert!(known(g.as_str()), "unknown generation {}", g.as_str());
            }
            if let Serving::Multiple { mapping } = &config.serving {
                let sum: f64 = mapping.entries().iter().map(|e| e.proba).sum();
                assert!((sum - 1.0).abs() <= SUM_TOLERANCE, "sum {sum}");
            }
            if let Some(shadow) = &config.shadow {
                assert!((0.0..=MAX_SHADOW_PERCENT).contains(&shadow.percent), "shadow {}", shadow.percent);
            }
            let route = config.route();
            assert_eq!(route.generations().len(), served.len());
            // Stored as JSON, it reads back the same through both paths.
            let stored = serde_json::to_value(&config).expect("serialise");
            assert_eq!(DeploymentConfig::from_value(&stored, known).ok().as_ref(), Some(&config), "{stored}");
            assert_eq!(
                serde_json::from_value::<DeploymentConfig>(stored.clone()).ok().as_ref(),
                Some(&config),
                "{stored}"
            );
        }
        Err(e) => {
            let code = e.code();
            assert!(
                matches!(code, ErrorCode::InvalidConfig | ErrorCode::InvalidMapping | ErrorCode::InvalidName),
                "unexpected code {code}: {e}"
            );
            assert!(code.is_client_error() && !e.to_string().trim().is_empty(), "{code}: {e}");
            if code == ErrorCode::InvalidMapping {
                assert!(!e.mapping_issues().is_empty());
            }
        }
    }
});
