//! `switchyard ab` and `switchyard canary …`: how a rollout's generations compare, and canary
//! plans.

use clap::Subcommand;

use super::{NodeArgs, client, print_json};

pub async fn ab(service: &str, node: &NodeArgs) -> switchyard::Result<()> {
    let report = client(node)?.ab(service).await?;
    if node.json {
        return print_json(&report);
    }
    let fmt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.4}"));
    println!("{:<32}  {:>6}  {:>8}  95% INTERVAL", "GENERATION", "N", "MEAN");
    for g in &report.groups {
        println!("{:<32}  {:>6}  {:>8}  [{}, {}]", g.generation, g.n, fmt(g.mean), fmt(g.ci_low), fmt(g.ci_high));
    }
    match &report.not_enough_data {
        Some(why) => println!("\n{why}"),
        None => {
            println!();
            for c in &report.comparisons {
                println!(
                    "{} vs {}: difference {:+.4}, {} = {:.3}, p = {:.4}",
                    c.generation, c.baseline, c.difference, c.test, c.statistic, c.p_value
                );
            }
        }
    }
    Ok(())
}

pub async fn drift(service: &str, minutes: i64, node: &NodeArgs) -> switchyard::Result<()> {
    let report = client(node)?.drift(service, minutes).await?;
    if node.json {
        return print_json(&report);
    }
    let fmt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.4}"));
    if report.generations.is_empty() {
        println!("no generation of {service} has served on this node in the last {minutes} minutes");
    }
    for g in &report.generations {
        let against = match (&g.reference, &g.baseline) {
            (Some(r), _) => format!("against a reference of {} rows ({})", r.rows, r.source.as_str()),
            (None, Some(b)) => format!("collecting its baseline: {} of {} requests", b.collected, b.target),
            (None, None) => "no reference".to_owned(),
        };
        println!("{}: {} requests, {against}", g.generation, g.requests);
        if g.features.is_empty() {
            println!();
            continue;
        }
        println!("  {:<32}  {:>8}  {:>8}", "FEATURE", "PSI", "KS");
        for f in &g.features {
            println!("  {:<32}  {:>8}  {:>8}", f.feature, fmt(f.psi), fmt(f.ks));
        }
        match &g.prediction {
            Some(switchyard::drift::PredictionDrift::Classifier { chi_square, p_value, .. }) => {
                println!("  prediction: class shares chi-square {}, p = {}", fmt(*chi_square), fmt(*p_value));
            }
            Some(switchyard::drift::PredictionDrift::Regressor { psi, ks, .. }) => {
                println!("  prediction: value PSI {}, KS {}", fmt(*psi), fmt(*ks));
            }
            None => {}
        }
        println!();
    }
    Ok(())
}

/// Comparative gates: the canary against the baseline serving over the same window (each
/// off unless given).
#[derive(clap::Args)]
pub struct ComparativeArgs {
    /// Roll back when the canary's error rate is above the baseline's by more than this share
    /// (0.005 = half a point), by a one-sided test at --alpha.
    #[arg(long)]
    max_error_rate_increase: Option<f64>,
    /// Roll back when the canary's p99 is above the baseline's by more than this many percent,
    /// by a bootstrap of the latency histograms at --alpha.
    #[arg(long)]
    max_p99_increase_percent: Option<f64>,
    /// Roll back when any feature's PSI on the canary's traffic is above this (the version
    /// needs a reference).
    #[arg(long)]
    max_feature_psi: Option<f64>,
    /// Roll back when the canary, as the live config's shadow, disagrees with the live answer
    /// on more than this share of requests.
    #[arg(long)]
    max_disagreement: Option<f64>,
    /// Significance level of the comparative tests.
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
}

impl ComparativeArgs {
    fn gates(&self) -> Option<serde_json::Value> {
        let set =
            [self.max_error_rate_increase, self.max_p99_increase_percent, self.max_feature_psi, self.max_disagreement];
        set.iter().any(Option::is_some).then(|| {
            serde_json::json!({
                "max_error_rate_increase": self.max_error_rate_increase,
                "max_p99_increase_percent": self.max_p99_increase_percent,
                "max_feature_psi": self.max_feature_psi,
                "max_disagreement": self.max_disagreement,
                "alpha": self.alpha,
            })
        })
    }
}

#[derive(Subcommand)]
pub enum CanaryCommand {
    /// Start a canary of VERSION against the live config.
    Start {
        service: String,
        version: String,
        /// Traffic steps in percent, comma separated.
        #[arg(long, default_value = "5,25,50,100", value_delimiter = ',')]
        steps: Vec<f64>,
        /// Seconds each step bakes before its gates decide.
        #[arg(long, default_value_t = 300.0)]
        bake: f64,
        #[arg(long, default_value_t = 0.01)]
        max_error_rate: f64,
        #[arg(long, default_value_t = 250.0)]
        max_p99_ms: f64,
        #[arg(long, default_value_t = 100)]
        min_requests: u64,
        /// Seconds a step may stay inconclusive (too little traffic) before the policy applies.
        #[arg(long, default_value_t = 3600.0)]
        inconclusive_timeout: f64,
        /// What happens after that timeout: pause or rollback.
        #[arg(long, default_value = "pause")]
        on_inconclusive: String,
        #[command(flatten)]
        comparative: ComparativeArgs,
    },
    /// Where the latest canary stands, with its events.
    Status { service: String },
    /// Hold the canary at its current step (no judging, no next step) until resumed.
    Pause { service: String },
    /// Go on from where the canary was paused.
    Resume { service: String },
    /// Serve the canary at 100 % now.
    Promote { service: String },
    /// Roll back to the config the canary started from.
    Abort { service: String },
}

pub async fn canary(command: CanaryCommand, node: &NodeArgs) -> switchyard::Result<()> {
    let c = client(node)?;
    let canary = match command {
        CanaryCommand::Start {
            service,
            version,
            steps,
            bake,
            max_error_rate,
            max_p99_ms,
            min_requests,
            inconclusive_timeout,
            on_inconclusive,
            comparative,
        } => {
            let mut gates = serde_json::json!({"max_error_rate": max_error_rate, "max_p99_ms": max_p99_ms, "min_requests": min_requests});
            if let Some(compared) = comparative.gates() {
                gates["comparative"] = compared;
            }
            let plan = serde_json::json!({
                "version": version, "steps": steps, "bake_seconds": bake, "gates": gates,
                "inconclusive_timeout_seconds": inconclusive_timeout, "on_inconclusive": on_inconclusive,
            });
            match c.start_canary(&service, &plan).await? {
                switchyard::engine::CanaryOutcome::Started { canary } => canary,
                switchyard::engine::CanaryOutcome::ApprovalRequested { request } => {
                    return super::people::print_request(&request, node.json);
                }
            }
        }
        CanaryCommand::Status { service } => c.canary(&service).await?,
        CanaryCommand::Pause { service } => c.canary_action(&service, "pause").await?,
        CanaryCommand::Resume { service } => c.canary_action(&service, "resume").await?,
        CanaryCommand::Promote { service } => c.canary_action(&service, "promote").await?,
        CanaryCommand::Abort { service } => c.canary_action(&service, "abort").await?,
    };
    if node.json {
        return print_json(&canary);
    }
    let step = canary.plan.steps.get(canary.step).copied().unwrap_or(100.0);
    println!(
        "canary {} of {} on {}: {:?}, step {}/{} ({step}%)",
        canary.id,
        canary.plan.version,
        canary.service,
        canary.status,
        canary.step + 1,
        canary.plan.steps.len()
    );
    if let Some(r) = &canary.last_reading {
        println!(
            "gates: {:?} — {} requests, error rate {:.4}, p99 {:.1} ms",
            r.verdict, r.requests, r.error_rate, r.p99_ms
        );
        for check in &r.comparative {
            println!("  {}: {:?} — {}", check.gate.label(), check.verdict, check.detail);
        }
    }
    for e in &canary.events {
        println!("  {}  {}", e.at.format("%Y-%m-%d %H:%M:%S"), e.message);
    }
    Ok(())
}
