//! `switchyard scenario …`: save, validate, list, show, run (and follow), runs, logs, cancel,
//! next fire times, delete — over the node's admin API like every other command.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::Value;
use switchyard::client::NodeClient;
use switchyard::scenario::{Run, RunStatus, Trigger};

use super::{NodeArgs, client, print_json};

#[derive(Subcommand)]
pub enum ScenarioCommand {
    /// Create or replace a scenario from a JSON file (the name is in the file).
    Save { file: PathBuf },
    /// Check a scenario file without saving it: every problem, at its place.
    Validate { file: PathBuf },
    /// Scenarios with their last run and next fire time.
    List,
    /// A scenario's steps, triggers (with next fire times) and last run.
    Show { name: String },
    /// Start a run by hand.
    Run {
        name: String,
        /// Follow the log until the run ends; exit 0 if it succeeded, 3 if an evaluate gate
        /// stopped it, 1 otherwise.
        #[arg(long)]
        wait: bool,
    },
    /// Runs of a scenario, newest first.
    Runs {
        name: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// A run's steps and log.
    Logs {
        name: String,
        run_id: i64,
        /// Keep printing the log until the run ends.
        #[arg(long, short)]
        follow: bool,
    },
    /// Cancel a run in progress (its command is killed; nothing after it runs).
    Cancel { name: String, run_id: i64 },
    /// The next fire times of a scenario's cron triggers.
    Next {
        name: String,
        #[arg(long, default_value_t = 5)]
        count: usize,
    },
    /// Delete a scenario (its runs stay in the history).
    Delete { name: String },
}

fn read_json_file(path: &Path) -> switchyard::Result<Value> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| switchyard::Error::InvalidInput(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| switchyard::Error::MalformedJson(format!("{} is not valid JSON: {e}", path.display())))
}

fn when(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn run_line(r: &Run) -> String {
    let took =
        r.ended_at.map_or_else(|| "running".to_owned(), |e| format!("{:.1}s", (e - r.started_at).as_seconds_f64()));
    format!("{:>4}  {:<9}  {:<20}  {:>8}  {}", r.id, r.status.as_str(), when(&r.started_at), took, r.message)
}

/// Prints the log from `offset` on; returns the new offset.
fn print_log_from(run: &Run, offset: usize) -> usize {
    let log = run.log.as_deref().unwrap_or_default();
    if let Some(new) = log.get(offset..) {
        print!("{new}");
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }
    log.len()
}

/// Follows a run's log until it ends; returns the final run.
async fn follow(c: &NodeClient, name: &str, id: i64, mut offset: usize) -> switchyard::Result<Run> {
    loop {
        let run = c.scenario_run(name, id).await?;
        offset = print_log_from(&run, offset);
        if run.status != RunStatus::Running {
            return Ok(run);
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

fn print_steps(run: &Run) {
    println!("run {} of {}: {} ({}) — {}", run.id, run.scenario, run.status.as_str(), run.trigger_detail, run.message);
    for (i, s) in run.steps.iter().enumerate() {
        let status =
            serde_json::to_value(s.status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        println!("  {}. {:<20} {:<18} {:<10} {}", i + 1, s.name, s.kind, status, s.message);
    }
}

pub async fn scenario(command: ScenarioCommand, node: &NodeArgs) -> switchyard::Result<()> {
    let c = client(node)?;
    match command {
        ScenarioCommand::Save { file } => {
            let v = c.save_scenario(&read_json_file(&file)?).await?;
            if node.json {
                return print_json(&v);
            }
            println!("saved scenario {} ({} steps)", v.spec.name, v.spec.steps.len());
            if let Some(f) = &v.next_fire {
                println!("next fire: {}", f.local);
            }
        }
        ScenarioCommand::Validate { file } => {
            let issues = c.validate_scenario(&read_json_file(&file)?).await?;
            if node.json {
                return print_json(&issues);
            }
            if issues.is_empty() {
                println!("{} is a valid scenario", file.display());
            } else {
                let lines: Vec<String> = issues.iter().map(|i| format!("  {i}")).collect();
                return Err(switchyard::Error::InvalidConfig(format!(
                    "{} has problems:\n{}",
                    file.display(),
                    lines.join("\n")
                )));
            }
        }
        ScenarioCommand::List => {
            let list = c.list_scenarios().await?;
            if node.json {
                return print_json(&list);
            }
            println!("{:<24}  {:>5}  {:<36}  {:<26}  NEXT FIRE", "SCENARIO", "STEPS", "TRIGGERS", "LAST RUN");
            for v in list {
                let triggers: Vec<String> = v
                    .spec
                    .triggers
                    .iter()
                    .map(|t| match t {
                        Trigger::Manual => "manual".to_owned(),
                        Trigger::Cron(c) => {
                            format!("cron {} {}{}", c.schedule, c.timezone, if c.enabled { "" } else { " (off)" })
                        }
                        Trigger::MlflowAlias(a) => {
                            format!("mlflow {}@{}{}", a.model, a.alias, if a.enabled { "" } else { " (off)" })
                        }
                    })
                    .collect();
                let last = match (&v.running, &v.last_run) {
                    (Some(id), _) => format!("{id} running"),
                    (None, Some(r)) => {
                        format!("{} {} {}", r.id, r.status.as_str(), r.started_at.format("%Y-%m-%d %H:%M"))
                    }
                    (None, None) => "-".into(),
                };
                let next = v.next_fire.map_or("-".to_owned(), |f| f.local);
                println!(
                    "{:<24}  {:>5}  {:<36}  {:<26}  {next}",
                    v.spec.name,
                    v.spec.steps.len(),
                    triggers.join(", "),
                    last
                );
            }
        }
        ScenarioCommand::Show { name } => {
            let v = c.scenario(&name).await?;
            if node.json {
                return print_json(&v);
            }
            println!("{}: {}", v.spec.name, v.spec.description);
            for (k, val) in &v.spec.variables {
                println!("  variable {k} = {val}");
            }
            for (i, s) in v.spec.steps.iter().enumerate() {
                println!("  step {}. {} ({})", i + 1, s.name(), s.kind());
            }
            for t in c.next_fires(&name, 3).await? {
                let next: Vec<String> = t.next.iter().map(|f| f.local.clone()).collect();
                println!(
                    "  trigger {}: cron {} ({}) — {}; next: {}",
                    t.trigger,
                    t.schedule,
                    t.timezone,
                    t.description,
                    next.join(", ")
                );
            }
            match (v.running, &v.last_run) {
                (Some(id), _) => println!("run {id} is in progress"),
                (None, Some(r)) => println!("last run: {}", run_line(r).trim_start()),
                (None, None) => println!("no runs yet"),
            }
        }
        ScenarioCommand::Run { name, wait } => {
            let run = c.start_run(&name).await?;
            if !wait {
                return if node.json {
                    print_json(&run)
                } else {
                    println!(
                        "started run {} of {name}; follow it with `switchyard scenario logs {name} {} --follow`",
                        run.id, run.id
                    );
                    Ok(())
                };
            }
            let run = follow(&c, &name, run.id, 0).await?;
            if node.json {
                print_json(&run)?;
            } else {
                println!();
                print_steps(&run);
            }
            match run.status {
                RunStatus::Succeeded => {}
                RunStatus::Stopped => std::process::exit(3),
                _ => {
                    return Err(switchyard::Error::InvalidConfig(format!(
                        "run {} of {name} {}: {}",
                        run.id,
                        run.status.as_str(),
                        run.message
                    )));
                }
            }
        }
        ScenarioCommand::Runs { name, limit } => {
            let runs = c.scenario_runs(&name, limit).await?;
            if node.json {
                return print_json(&runs);
            }
            println!("{:>4}  {:<9}  {:<20}  {:>8}  MESSAGE", "RUN", "STATUS", "STARTED", "TOOK");
            for r in &runs {
                println!("{}", run_line(r));
            }
        }
        ScenarioCommand::Logs { name, run_id, follow: keep } => {
            let run = c.scenario_run(&name, run_id).await?;
            if node.json {
                return print_json(&run);
            }
            let offset = print_log_from(&run, 0);
            let run =
                if keep && run.status == RunStatus::Running { follow(&c, &name, run_id, offset).await? } else { run };
            println!();
            print_steps(&run);
        }
        ScenarioCommand::Cancel { name, run_id } => {
            let run = c.cancel_run(&name, run_id).await?;
            if node.json {
                return print_json(&run);
            }
            print_steps(&run);
        }
        ScenarioCommand::Next { name, count } => {
            let fires = c.next_fires(&name, count).await?;
            if node.json {
                return print_json(&fires);
            }
            if fires.is_empty() {
                println!("{name} has no cron trigger: it runs only by hand");
            }
            for t in fires {
                let state = if t.enabled { "" } else { " (disabled)" };
                println!("trigger {}: {} ({}){state} — {}", t.trigger, t.schedule, t.timezone, t.description);
                for f in t.next {
                    println!("  {}  ({})", f.local, f.at.to_rfc3339());
                }
            }
        }
        ScenarioCommand::Delete { name } => {
            c.delete_scenario(&name).await?;
            println!("deleted scenario {name} (its runs stay in the history)");
        }
    }
    Ok(())
}
