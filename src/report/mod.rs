//! Deployment reports: one self-contained HTML file to attach to a change review, with the
//! current config, the revision timeline, the versions and their share of traffic, charts
//! (plotters, inline SVG) and the numbers as CSV; or each chart as a PNG.
//!
//! - [`data`]: [`ReportData`], collected from the registry by [`data::collect`]. The
//!   node serves it as JSON (`GET /admin/v1/deployments/{service}/report`), so the CLI renders
//!   reports of remote nodes locally.
//! - [`charts`]: the four charts on any plotters backend, or the sentence that replaces one
//!   with nothing to show.
//! - `render`: the HTML document; `csv`: the CSV tables.
//!
//! Rendering is CPU work: async callers run it in `spawn_blocking` (the engine's
//! `export_report` does).

pub mod charts;
mod csv;
pub mod data;
mod fonts;
mod render;
#[cfg(test)]
mod render_tests;

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};

pub use charts::ChartKind;
pub use csv::{CsvFile, csv_files};
pub use data::{GenerationSeries, ReportData, SeriesPoint, VersionRow};
pub use render::render_html;

use crate::error::{Error, Result};

/// Parses a report bound: a duration back from `now` (`90s`, `30m`, `24h`, `7d`, `2w`) or an
/// RFC 3339 time (`2026-11-22T10:00:00Z`).
pub fn parse_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let bad = || {
        Error::InvalidInput(format!(
            "'{}' is neither a duration (30m, 24h, 7d) nor an RFC 3339 time (2026-11-22T10:00:00Z)",
            text.chars().take(64).collect::<String>()
        ))
    };
    let duration = parse_duration(text).map_err(|_| bad())?;
    now.checked_sub_signed(duration).ok_or_else(bad)
}

/// A duration written as a count and a unit: `90s`, `30m`, `24h`, `7d`, `2w`.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let text = text.trim();
    let bad = || {
        Error::InvalidInput(format!(
            "'{}' is not a duration: write a count and a unit, as 90s, 30m, 24h or 7d",
            text.chars().take(64).collect::<String>()
        ))
    };
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = text.split_at(split);
    let n: i64 = n.parse().map_err(|_| bad())?;
    match unit {
        "s" => Duration::try_seconds(n),
        "m" | "min" => Duration::try_minutes(n),
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        "w" => Duration::try_weeks(n),
        _ => None,
    }
    .ok_or_else(bad)
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, synced, then renamed.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "report".into());
    let tmp = dir.join(format!(".{name}.{:08x}.tmp", rand::random::<u32>()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(result?)
}

/// Renders the HTML report and writes it to `path` atomically. Blocking.
pub fn write_html(data: &ReportData, path: &Path) -> Result<PathBuf> {
    write_atomic(path, render_html(data).as_bytes())?;
    Ok(path.to_owned())
}

/// Writes every CSV table into `dir` (created if needed). Blocking.
pub fn write_csv_dir(data: &ReportData, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for f in csv_files(data) {
        let path = dir.join(f.name);
        write_atomic(&path, f.content.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

/// What [`write_pngs`] did: the files written, and the charts replaced by a sentence.
#[derive(Debug, Clone, Default)]
pub struct PngOutput {
    pub written: Vec<PathBuf>,
    pub skipped: Vec<(ChartKind, String)>,
}

/// Draws each chart that has something to show as `DIR/<chart>.png` (created if needed).
/// Blocking.
pub fn write_pngs(data: &ReportData, dir: &Path) -> Result<PngOutput> {
    std::fs::create_dir_all(dir)?;
    let mut out = PngOutput::default();
    for kind in ChartKind::ALL {
        if let Some(sentence) = charts::unavailable(data, kind) {
            out.skipped.push((kind, sentence));
            continue;
        }
        let path = dir.join(format!("{}.png", kind.name()));
        // The bitmap backend picks the encoder by extension: the temporary name ends in .png.
        let tmp = dir.join(format!(".{}.{:08x}.tmp.png", kind.name(), rand::random::<u32>()));
        let drawn = charts::png(data, kind, &tmp).and_then(|()| {
            std::fs::File::open(&tmp)?.sync_all()?;
            Ok(std::fs::rename(&tmp, &path)?)
        });
        if let Err(e) = drawn {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        out.written.push(path);
    }
    Ok(out)
}

/// Where an export goes when the user does not say: the downloads folder (else home).
pub fn default_report_path(service: &str, now: DateTime<Utc>) -> PathBuf {
    let dir = dirs::download_dir().or_else(dirs::home_dir).unwrap_or_else(|| PathBuf::from("."));
    dir.join(format!("{service}-report-{}.html", now.format("%Y%m%d-%H%M")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_durations_or_times() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z").expect("t").with_timezone(&Utc);
        let at = |s: &str| parse_time(s, now).map(|t| t.to_rfc3339());
        assert_eq!(at("30m").ok().as_deref(), Some("2026-11-22T11:30:00+00:00"));
        assert_eq!(at("24h").ok().as_deref(), Some("2026-11-21T12:00:00+00:00"));
        assert_eq!(at("7d").ok().as_deref(), Some("2026-11-15T12:00:00+00:00"));
        assert_eq!(at("90s").ok().as_deref(), Some("2026-11-22T11:58:30+00:00"));
        assert_eq!(at("2026-11-20T08:00:00+01:00").ok().as_deref(), Some("2026-11-20T07:00:00+00:00"));
        for bad in ["", "7", "d", "7y", "-3h", "yesterday", "99999999999999999999d"] {
            assert!(parse_time(bad, now).is_err(), "{bad}");
        }
    }
}
