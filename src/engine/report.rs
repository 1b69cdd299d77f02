//! Deployment reports: the engine collects [`ReportData`] from the registry (after flushing
//! the monitor, so the current minute counts) and renders it off the async workers.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::Engine;
use crate::error::{Error, Result};
use crate::report::{self, ReportData};

impl Engine {
    /// Collects a deployment's report for `[since, until]` from the registry.
    pub async fn report_data(&self, service: &str, since: DateTime<Utc>, until: DateTime<Utc>) -> Result<ReportData> {
        let current = self.deployment(service).await?;
        self.flush_monitor().await?;
        let live: Vec<String> = current.config.generations().iter().map(|g| g.to_string()).collect();
        let mut data = report::data::collect(self.pool(), current, since, until, self.now()).await?;
        data.drift = Some(self.inner.drift.report_between(service, &live, since, until.min(self.now())));
        Ok(data)
    }

    /// Collects a deployment's report for `[since, until]`, renders it as one self-contained
    /// HTML file and writes it atomically to `path`; returns the path written. Rendering runs
    /// on the blocking pool. The desktop's Export button calls this.
    pub async fn export_report(
        &self,
        service: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        path: &Path,
    ) -> Result<PathBuf> {
        let data = self.report_data(service, since, until).await?;
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || report::write_html(&data, &path))
            .await
            .map_err(|e| Error::Internal(format!("report rendering stopped: {e}")))?
    }

    /// Export for the desktop: the range as typed (`24h`, `7d`, an RFC 3339 time) up to now,
    /// written to `path`, or to `<downloads>/<service>-report-<date>.html` when `path` is empty.
    pub async fn export_report_since(&self, service: &str, since: &str, path: &str) -> Result<PathBuf> {
        let now = self.now();
        let since = report::parse_time(since, now)?;
        let path =
            if path.trim().is_empty() { report::default_report_path(service, now) } else { PathBuf::from(path.trim()) };
        self.export_report(service, since, now, &path).await
    }

    /// Where a report of `service` exported now goes unless the user says otherwise: the
    /// downloads folder (else home), `<service>-report-<date>.html`. The Save dialog starts there.
    pub fn default_report_path(&self, service: &str) -> PathBuf {
        report::default_report_path(service, self.now())
    }
}
