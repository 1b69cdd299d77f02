//! `switchyard capture policy|off|show|rows|export …` and `switchyard replay`: traffic capture
//! of a deployment, and captured requests run through another version.

use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;
use switchyard::capture::CapturePolicy;
use switchyard::capture::export::ExportFormat;
use switchyard::capture::replay::{Replay, ReplayStatus};
use switchyard::capture::store::RowFilter;

use super::{NodeArgs, client, print_json};

#[derive(Subcommand)]
pub enum CaptureCommand {
    /// Capture a share of SERVICE's requests (and set the cap, retention, dropped and hashed
    /// features).
    Policy {
        service: String,
        /// Share of requests captured, 0–100.
        #[arg(long)]
        percent: f64,
        /// At most this many rows are kept; the oldest go first.
        #[arg(long, default_value_t = 100_000)]
        max_rows: i64,
        /// Rows older than this are deleted (90s, 30m, 24h, 7d).
        #[arg(long, default_value = "7d")]
        retention: String,
        /// Features never stored (comma separated).
        #[arg(long, value_delimiter = ',')]
        drop: Vec<String>,
        /// Features stored as a keyed HMAC-SHA256 (comma separated).
        #[arg(long, value_delimiter = ',')]
        hash: Vec<String>,
    },
    /// Turn capture of SERVICE off (rows stored are kept until their retention).
    Off { service: String },
    /// The policy, rows stored and rows dropped.
    Show { service: String },
    /// Recent captured requests, newest first.
    Rows {
        service: String,
        #[arg(long)]
        generation: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// Write captured rows as CSV or JSON Lines, features in the model's order.
    Export {
        service: String,
        /// A duration back from now (7d) or an RFC 3339 time (default: every row).
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value = "csv", value_parser = ["csv", "jsonl"])]
        format: String,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub async fn capture(command: CaptureCommand, node: &NodeArgs) -> switchyard::Result<()> {
    let c = client(node)?;
    let status = match command {
        CaptureCommand::Policy { service, percent, max_rows, retention, drop, hash } => {
            let retention_seconds = switchyard::report::parse_duration(&retention)?.num_seconds();
            let policy =
                CapturePolicy { percent, max_rows, retention_seconds, drop_features: drop, hash_features: hash };
            c.set_capture_policy(&service, Some(&policy)).await?
        }
        CaptureCommand::Off { service } => c.set_capture_policy(&service, None).await?,
        CaptureCommand::Show { service } => c.capture_status(&service).await?,
        CaptureCommand::Rows { service, generation, limit } => {
            let rows =
                c.capture_rows(&service, &RowFilter { generation, limit: Some(limit), ..RowFilter::default() }).await?;
            if node.json {
                return print_json(&rows);
            }
            println!(
                "{:<24}  {:<12}  {:<10}  {:>9}  {:<10}  REQUEST",
                "TIME", "GENERATION", "ANSWER", "LATENCY", "FEEDBACK"
            );
            for r in rows {
                let answer = r.label.clone().or(r.value.map(|v| format!("{v:.4}"))).unwrap_or_default();
                let at = chrono::DateTime::from_timestamp_millis(r.at_ms)
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string());
                println!(
                    "{:<24}  {:<12}  {:<10}  {:>7.3}ms  {:<10}  {}",
                    at.unwrap_or_default(),
                    r.generation,
                    answer,
                    r.latency_ms,
                    r.feedback.map(|f| f.to_string()).unwrap_or_else(|| "-".into()),
                    r.request_id
                );
            }
            return Ok(());
        }
        CaptureCommand::Export { service, since, format, out } => {
            let format = if format == "jsonl" { ExportFormat::Jsonl } else { ExportFormat::Csv };
            let text = c.export_capture(&service, since.as_deref(), format).await?;
            match out {
                Some(path) => std::fs::write(&path, text)?,
                None => print!("{text}"),
            }
            return Ok(());
        }
    };
    if node.json {
        return print_json(&status);
    }
    match &status.policy {
        None => println!("capture of {}: off", status.service),
        Some(p) => {
            println!(
                "capture of {}: {}% of requests, at most {} rows, kept {}s",
                status.service, p.percent, p.max_rows, p.retention_seconds
            );
            if !p.drop_features.is_empty() {
                println!("dropped: {}", p.drop_features.join(", "));
            }
            if !p.hash_features.is_empty() {
                println!("hashed: {}", p.hash_features.join(", "));
            }
        }
    }
    println!("stored: {} rows; dropped on this node: {}", status.stored, status.dropped);
    Ok(())
}

/// Runs a replay on the node and follows it with a progress line; Ctrl-C cancels it.
pub async fn replay(
    service: &str,
    version: &str,
    since: Option<&str>,
    limit: Option<i64>,
    node: &NodeArgs,
) -> switchyard::Result<()> {
    let c = client(node)?;
    let mut r = c.start_replay(service, version, since, limit).await?;
    let mut interrupted = std::pin::pin!(tokio::signal::ctrl_c());
    while r.status == ReplayStatus::Running {
        if !node.json {
            eprint!("\rreplaying {} rows of {service} through {version}: {}/{}", r.total, r.replayed, r.total);
        }
        tokio::select! {
            _ = &mut interrupted => {
                c.cancel_replay(service, r.id).await?;
            }
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
        r = c.replay(service, r.id).await?;
    }
    if !node.json {
        eprintln!("\rreplayed {}/{} rows{:<30}", r.replayed, r.total, "");
    }
    print_replay(&r, node.json)
}

fn print_replay(r: &Replay, json: bool) -> switchyard::Result<()> {
    if json {
        return print_json(r);
    }
    println!("replay {} of {} through {}: {:?}", r.id, r.service, r.version, r.status);
    if let Some(e) = &r.error {
        println!("error: {e}");
    }
    let Some(f) = &r.figures else { return Ok(()) };
    println!("rows: {}; agreement with live: {:.2}% ({} identical)", f.rows, f.agreement * 100.0, f.identical);
    if let Some(m) = &f.confusion {
        println!("\nconfusion (rows: live, columns: {}):", r.version);
        print!("{:>14}", "");
        for c in &m.classes {
            print!("  {c:>12}");
        }
        println!();
        for (c, row) in m.classes.iter().zip(&m.counts) {
            print!("{c:>14}");
            for n in row {
                print!("  {n:>12}");
            }
            println!();
        }
    }
    if let Some(d) = &f.regression {
        println!("MAE {:.6}, max |Δ| {:.6}", d.mae, d.max_abs_delta);
        for b in d.histogram.iter().filter(|b| b.count > 0) {
            let edge = |e: Option<f64>, inf: &str| e.map_or(inf.to_owned(), |e| format!("{e}"));
            println!("  Δ in [{}, {}): {}", edge(b.low, "-inf"), edge(b.high, "inf"), b.count);
        }
    }
    if let Some(t) = &f.ground_truth {
        println!(
            "\nground truth ({} rows): {} live {:.4} [{:.4}, {:.4}], {} {:.4} [{:.4}, {:.4}]; {:?} {:.3}, p = {:.4}",
            t.n,
            t.metric,
            t.live.value,
            t.live.ci_low,
            t.live.ci_high,
            r.version,
            t.candidate.value,
            t.candidate.ci_low,
            t.candidate.ci_high,
            t.test,
            t.statistic,
            t.p_value
        );
    }
    let l = &f.latency;
    println!(
        "latency: {} p50 {:.3} ms, p99 {:.3} ms; live p50 {:.3} ms, p99 {:.3} ms",
        r.version, l.candidate_p50_ms, l.candidate_p99_ms, l.live_p50_ms, l.live_p99_ms
    );
    if !f.disagreements.is_empty() {
        println!("\nmost disagreeing rows:");
        for d in f.disagreements.iter().take(10) {
            println!("  {}  live {}  {} {}  (score {:.4})", d.request_id, d.live, r.version, d.candidate, d.score);
        }
    }
    Ok(())
}
