//! Mapping text as a user types it (the console's editor, `--mapping` on the CLI), parsed
//! against a service's versions. An accepted mapping keeps every rule (non-empty, known and
//! distinct generations, probabilities in [0, 1] summing to 1) and routes only to
//! generations with a share; a refused one lists located issues, each with a message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use switchyard::names::VersionId;
use switchyard::router::{Mapping, Route, SUM_TOLERANCE};
use switchyard::{Error, ErrorCode};

/// The service's versions; "two words" is not a valid version id, to reach that refusal.
const KNOWN: [&str; 6] = ["v1", "v2", "v3", "blue-green", "model_2026.1", "two words"];

fn known(g: &str) -> bool {
    KNOWN.contains(&g)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let value: Option<Value> = serde_json::from_str(text).ok();
    match Mapping::from_text(text, known) {
        Ok(mapping) => {
            let entries = mapping.entries();
            assert!(!entries.is_empty());
            assert_eq!(value.as_ref().and_then(Value::as_array).map(Vec::len), Some(entries.len()));
            let sum: f64 = entries.iter().map(|e| e.proba).sum();
            assert!((sum - 1.0).abs() <= SUM_TOLERANCE, "sum {sum}");
            for (i, e) in entries.iter().enumerate() {
                assert!(e.proba.is_finite() && (0.0..=1.0).contains(&e.proba), "proba {}", e.proba);
                assert!(known(e.generation.as_str()), "unknown generation {}", e.generation.as_str());
                assert!(VersionId::parse(e.generation.as_str()).is_ok());
                assert!(
                    entries[..i].iter().all(|o| o.generation != e.generation),
                    "duplicate {}",
                    e.generation.as_str()
                );
            }
            // Stored and sent back, it reads the same; the serde path agrees.
            let json = serde_json::to_string(&mapping).expect("serialise");
            assert_eq!(Mapping::from_text(&json, known).as_ref(), Ok(&mapping));
            assert_eq!(serde_json::from_str::<Mapping>(text).ok().as_ref(), Some(&mapping));
            // Routing never lands on a generation without a share.
            let route = Route::weighted(&mapping);
            let mut points = vec![0.0, 0.5, 1.0 - f64::EPSILON];
            let mut acc = 0.0;
            for e in entries {
                acc += e.proba;
                points.extend([acc, acc - 1e-12].into_iter().filter(|u| (0.0..1.0).contains(u)));
            }
            for u in points {
                let g = route.pick(u);
                let e = entries.iter().find(|e| &e.generation == g).expect("picked a generation of the mapping");
                assert!(e.proba > 0.0, "u = {u} picked {} with probability 0", g.as_str());
            }
        }
        Err(issues) => {
            assert!(!issues.is_empty(), "a refusal says why");
            let len = value.as_ref().and_then(Value::as_array).map(Vec::len);
            for issue in &issues {
                assert!(!issue.message.trim().is_empty());
                if let Some(i) = issue.index {
                    assert!(len.is_some_and(|n| i < n), "issue at entry {i} of {len:?}");
                }
            }
            let err = Error::InvalidMapping(issues);
            assert_eq!(err.code(), ErrorCode::InvalidMapping);
            assert!(err.code().is_client_error() && !err.to_string().is_empty());
            // Stored mappings (serde, every name accepted) follow the same rules.
            assert_eq!(
                serde_json::from_str::<Mapping>(text).ok(),
                Mapping::from_text(text, |_| true).ok(),
                "serde and from_text disagree"
            );
        }
    }
});
