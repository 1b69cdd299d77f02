//! The report's numbers as CSV (RFC 4180: comma separated, CRLF-free `\n` lines, fields
//! quoted when they hold a comma, a quote or a line break). Numbers are written in full
//! precision, times in RFC 3339 UTC, missing values as empty fields.

use super::data::ReportData;

/// One CSV table of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvFile {
    /// File name, e.g. `traffic.csv`.
    pub name: &'static str,
    pub content: String,
}

impl CsvFile {
    /// Data rows (the header excluded); a quoted field may hold line breaks.
    pub fn rows(&self) -> usize {
        csv::Reader::from_reader(self.content.as_bytes()).records().count()
    }
}

fn opt(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

struct Table {
    out: csv::Writer<Vec<u8>>,
}

impl Table {
    fn new(header: &[&str]) -> Self {
        let out =
            csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).flexible(true).from_writer(Vec::new());
        let mut table = Self { out };
        table.row(header);
        table
    }

    fn row(&mut self, fields: &[impl AsRef<str>]) {
        // Into memory, any number of fields: this cannot fail.
        let _ = self.out.write_record(fields.iter().map(|f| f.as_ref()));
    }

    fn into_file(mut self, name: &'static str) -> CsvFile {
        // Flushing into memory cannot fail, and every field was UTF-8.
        let _ = self.out.flush();
        CsvFile { name, content: String::from_utf8_lossy(self.out.get_ref()).into_owned() }
    }
}

/// Every table of the report: revisions, versions, generations (range totals), traffic (one
/// row per generation and step), A/B groups and comparisons.
pub fn csv_files(data: &ReportData) -> Vec<CsvFile> {
    let mut revisions = Table::new(&[
        "revision",
        "created_at",
        "kind",
        "rollback_of",
        "canary_id",
        "author",
        "reason",
        "config",
        "config_json",
    ]);
    for r in &data.revisions {
        revisions.row(&[
            r.number.to_string(),
            r.created_at.to_rfc3339(),
            format!("{:?}", r.kind).to_lowercase(),
            r.rollback_of.map(|n| n.to_string()).unwrap_or_default(),
            r.canary_id.map(|n| n.to_string()).unwrap_or_default(),
            r.author.clone(),
            r.reason.clone(),
            r.config.describe(),
            serde_json::to_string(&r.config).unwrap_or_default(),
        ]);
    }

    let mut versions = Table::new(&["version", "created_at", "sha256", "metrics", "live", "requests", "share"]);
    for v in &data.versions {
        let metrics: Vec<String> = v.metrics.iter().map(|(k, m)| format!("{k}={m}")).collect();
        versions.row(&[
            v.id.clone(),
            v.created_at.to_rfc3339(),
            v.sha256.clone(),
            metrics.join(";"),
            v.live.to_string(),
            v.requests.to_string(),
            opt(v.share),
        ]);
    }

    let mut generations =
        Table::new(&["generation", "requests", "errors", "rejected", "error_rate", "p50_ms", "p95_ms", "p99_ms"]);
    let mut traffic = Table::new(&[
        "step_start",
        "step_minutes",
        "generation",
        "requests",
        "errors",
        "rejected",
        "error_rate",
        "p50_ms",
        "p95_ms",
        "p99_ms",
    ]);
    for g in &data.generations {
        generations.row(&[
            g.generation.clone(),
            g.requests.to_string(),
            g.errors.to_string(),
            g.rejected.to_string(),
            g.error_rate.to_string(),
            opt(g.p50_ms),
            opt(g.p95_ms),
            opt(g.p99_ms),
        ]);
        for p in &g.points {
            traffic.row(&[
                p.start.to_rfc3339(),
                data.step_minutes.to_string(),
                g.generation.clone(),
                p.requests.to_string(),
                p.errors.to_string(),
                p.rejected.to_string(),
                (p.errors as f64 / p.requests as f64).to_string(),
                opt(p.p50_ms),
                opt(p.p95_ms),
                opt(p.p99_ms),
            ]);
        }
    }

    let mut ab_groups = Table::new(&["generation", "n", "mean", "ci_low", "ci_high"]);
    for g in &data.ab.groups {
        ab_groups.row(&[g.generation.clone(), g.n.to_string(), opt(g.mean), opt(g.ci_low), opt(g.ci_high)]);
    }
    let mut ab_comparisons = Table::new(&["generation", "baseline", "difference", "test", "statistic", "p_value"]);
    for c in &data.ab.comparisons {
        ab_comparisons.row(&[
            c.generation.clone(),
            c.baseline.clone(),
            c.difference.to_string(),
            c.test.to_string(),
            c.statistic.to_string(),
            c.p_value.to_string(),
        ]);
    }

    vec![
        revisions.into_file("revisions.csv"),
        versions.into_file("versions.csv"),
        generations.into_file("generations.csv"),
        traffic.into_file("traffic.csv"),
        ab_groups.into_file("ab_groups.csv"),
        ab_comparisons.into_file("ab_comparisons.csv"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_when_needed() {
        let mut table = Table::new(&["name", "note"]);
        for (name, note) in [("v1", ""), ("a, b", "say \"hi\""), ("two\nlines", "cr\r"), ("", "")] {
            table.row(&[name, note]);
        }
        let file = table.into_file("t.csv");
        assert_eq!(file.content, "name,note\nv1,\n\"a, b\",\"say \"\"hi\"\"\"\n\"two\nlines\",\"cr\r\"\n,\n");
        // A field's line break is no row of its own.
        assert_eq!(file.rows(), 4);
        assert_eq!(Table::new(&["a", "b"]).into_file("empty.csv").rows(), 0);
    }
}
