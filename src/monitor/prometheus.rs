//! `/metrics`: Prometheus text format 0.0.4, totals since the node started.

use std::fmt::Write;

use super::{Key, Role, Totals};

/// Histogram bucket bounds, seconds.
const BOUNDS: [f64; 14] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// Label values escaped as the format requires.
pub(crate) fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

pub(super) fn render(mut series: Vec<(Key, Totals)>, mut auth_failures: Vec<(String, u64)>) -> String {
    series.sort_by(|a, b| a.0.cmp(&b.0));
    auth_failures.sort();
    let mut out = String::new();
    let live = || series.iter().filter(|((_, _, r), _)| *r == Role::Live);
    let shadow = || series.iter().filter(|((_, _, r), _)| *r == Role::Shadow);

    let _ = writeln!(out, "# HELP switchyard_requests_total Prediction requests by service, generation and status.");
    let _ = writeln!(out, "# TYPE switchyard_requests_total counter");
    for ((service, generation, _), t) in live() {
        for (status, n) in [("ok", t.ok), ("rejected", t.rejected), ("error", t.errors)] {
            let _ = writeln!(
                out,
                "switchyard_requests_total{{service=\"{}\",generation=\"{}\",status=\"{status}\"}} {n}",
                esc(service),
                esc(generation)
            );
        }
    }

    let _ = writeln!(out, "# HELP switchyard_request_duration_seconds Latency of successful predictions.");
    let _ = writeln!(out, "# TYPE switchyard_request_duration_seconds histogram");
    for ((service, generation, _), t) in live() {
        let labels = format!("service=\"{}\",generation=\"{}\"", esc(service), esc(generation));
        for bound in BOUNDS {
            let us = (bound * 1e6) as u64;
            let n = t.latency.count_between(1, us);
            let _ = writeln!(out, "switchyard_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "switchyard_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", t.ok);
        let _ = writeln!(out, "switchyard_request_duration_seconds_sum{{{labels}}} {}", t.latency_sum_seconds);
        let _ = writeln!(out, "switchyard_request_duration_seconds_count{{{labels}}} {}", t.ok);
    }

    let _ = writeln!(
        out,
        "# HELP switchyard_shadow_requests_total Mirrored requests by service, shadow generation and status."
    );
    let _ = writeln!(out, "# TYPE switchyard_shadow_requests_total counter");
    for ((service, generation, _), t) in shadow() {
        for (status, n) in [("ok", t.ok), ("error", t.errors)] {
            let _ = writeln!(
                out,
                "switchyard_shadow_requests_total{{service=\"{}\",generation=\"{}\",status=\"{status}\"}} {n}",
                esc(service),
                esc(generation)
            );
        }
    }
    let _ =
        writeln!(out, "# HELP switchyard_shadow_agreements_total Mirrored answers that agreed with the live answer.");
    let _ = writeln!(out, "# TYPE switchyard_shadow_agreements_total counter");
    for ((service, generation, _), t) in shadow() {
        let _ = writeln!(
            out,
            "switchyard_shadow_agreements_total{{service=\"{}\",generation=\"{}\"}} {}",
            esc(service),
            esc(generation),
            t.agreed
        );
    }
    let _ = writeln!(
        out,
        "# HELP switchyard_auth_failures_total Prediction requests refused for missing or wrong credentials."
    );
    let _ = writeln!(out, "# TYPE switchyard_auth_failures_total counter");
    for (service, n) in auth_failures {
        let _ = writeln!(out, "switchyard_auth_failures_total{{service=\"{}\"}} {n}", esc(&service));
    }
    out
}
