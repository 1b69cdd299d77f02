//! `switchyard report`: a deployment report, fetched from the node and rendered here (HTML,
//! PNG charts, CSV).

use std::path::PathBuf;

use clap::Args;
use switchyard::report;

use super::{NodeArgs, client, print_json};

#[derive(Args)]
pub struct ReportArgs {
    /// The deployment (service) to report on.
    #[arg(long)]
    deployment: String,
    /// Start of the range: a duration back from now (30m, 24h, 7d) or an RFC 3339 time.
    #[arg(long, default_value = "24h")]
    since: String,
    /// End of the range (default now): a duration back from now or an RFC 3339 time.
    #[arg(long)]
    until: Option<String>,
    /// Where to write: the HTML file (default <deployment>-report.html), or with
    /// --format png the directory for the PNGs (default <deployment>-charts).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write the report's numbers as CSV files into this directory.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// html: one self-contained file; png: one PNG per chart.
    #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
    format: ReportFormat,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ReportFormat {
    Html,
    Png,
}

pub async fn report(args: ReportArgs) -> switchyard::Result<()> {
    let now = switchyard::clock::Clock::now(&switchyard::clock::SystemClock);
    let since = report::parse_time(&args.since, now)?;
    let until = args.until.as_deref().map(|u| report::parse_time(u, now)).transpose()?.unwrap_or(now);
    let c = client(&args.node)?;
    let mut data = c.report_data(&args.deployment, since.timestamp_millis(), until.timestamp_millis()).await?;
    if args.node.json {
        return print_json(&data);
    }
    // Every node calls itself "local" in its registry: say which one answered.
    data.node = format!("{} at {}", data.node, c.base_url());
    // Rendering (plotters) is CPU work: off the async runtime.
    tokio::task::spawn_blocking(move || -> switchyard::Result<()> {
        match args.format {
            ReportFormat::Html => {
                let out = args.out.unwrap_or_else(|| PathBuf::from(format!("{}-report.html", data.service)));
                report::write_html(&data, &out)?;
                let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
                println!("wrote {} ({} KiB)", out.display(), size.div_ceil(1024));
            }
            ReportFormat::Png => {
                let out = args.out.unwrap_or_else(|| PathBuf::from(format!("{}-charts", data.service)));
                let pngs = report::write_pngs(&data, &out)?;
                for path in &pngs.written {
                    println!("wrote {}", path.display());
                }
                for (kind, sentence) in &pngs.skipped {
                    println!("no {} chart: {sentence}", kind.name());
                }
            }
        }
        if let Some(dir) = &args.csv {
            for path in report::write_csv_dir(&data, dir)? {
                println!("wrote {}", path.display());
            }
        }
        Ok(())
    })
    .await
    .map_err(|e| switchyard::Error::Internal(format!("report rendering stopped: {e}")))?
}
