//! Deployment reports: numbers equal the registry's, charts are well-formed SVG with one
//! series per generation, edge cases render plain sentences, the CLI writes HTML, CSV and
//! PNG, and the HTML opens in headless Chromium with no console error and no network request.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;

use chrono::{DateTime, Duration, Utc};
use hdrhistogram::Histogram;
use serde_json::Value;
use sqlx::Row;
use switchyard::report::{self, ChartKind, ReportData};

mod fixtures;

use crate::support::{TestNode, spawn_node};
use fixtures::{db, seeded_node, story_node, traffic};

/// A count as the report prints it: `12,345`.
fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Requests, errors, rejected and the merged latency histogram.
type Counts = (u64, u64, u64, Histogram<u64>);

/// The registry's own numbers for a range, computed here from the rows.
struct Expected {
    /// generation -> (requests, errors, rejected, merged histogram)
    totals: BTreeMap<String, Counts>,
    /// (minute, generation) -> (requests, errors, rejected, histogram)
    minutes: BTreeMap<(i64, String), Counts>,
    /// generation -> outcomes
    feedback: BTreeMap<String, Vec<f64>>,
}

async fn expected(node: &TestNode, since: DateTime<Utc>, until: DateTime<Utc>) -> Expected {
    let mut db = db(node).await;
    let rows = sqlx::query(
        "SELECT generation, minute, requests, errors, rejected, latency_json FROM traffic_minutes \
         WHERE service = 'iris' AND role = 'live' AND minute >= $1 AND minute <= $2",
    )
    .bind(since.timestamp().div_euclid(60))
    .bind(until.timestamp().div_euclid(60))
    .fetch_all(&mut db)
    .await
    .expect("minutes");
    let mut e = Expected { totals: BTreeMap::new(), minutes: BTreeMap::new(), feedback: BTreeMap::new() };
    for row in rows {
        let g: String = row.get("generation");
        let (req, err, rej) = (
            row.get::<i64, _>("requests") as u64,
            row.get::<i64, _>("errors") as u64,
            row.get::<i64, _>("rejected") as u64,
        );
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
        let pairs: Vec<(u64, u64)> = serde_json::from_str(row.get::<&str, _>("latency_json")).expect("latency json");
        for (v, n) in pairs {
            h.record_n(v, n).expect("record");
        }
        let t = e
            .totals
            .entry(g.clone())
            .or_insert_with(|| (0, 0, 0, Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram")));
        t.0 += req;
        t.1 += err;
        t.2 += rej;
        t.3.add(&h).expect("merge");
        e.minutes.insert((row.get("minute"), g), (req, err, rej, h));
    }
    for row in sqlx::query(
        "SELECT generation, outcome FROM feedback WHERE service = 'iris' AND created_at >= $1 AND created_at <= $2",
    )
    .bind(since.timestamp_millis())
    .bind(until.timestamp_millis())
    .fetch_all(&mut db)
    .await
    .expect("feedback")
    {
        e.feedback.entry(row.get("generation")).or_default().push(row.get("outcome"));
    }
    sqlx::Connection::close(db).await.expect("close");
    e
}

fn p(h: &Histogram<u64>, q: f64) -> String {
    (h.value_at_quantile(q) as f64 / 1000.0).to_string()
}

/// The CSV table `name` as header-keyed rows.
fn csv_rows(data: &ReportData, name: &str) -> Vec<HashMap<String, String>> {
    let file = report::csv_files(data).into_iter().find(|f| f.name == name).expect("csv file");
    let mut lines = file.content.lines();
    let header: Vec<String> = lines.next().expect("header").split(',').map(str::to_owned).collect();
    lines
        .map(|l| {
            // The tables checked here hold no quoted fields.
            header.iter().cloned().zip(l.split(',').map(str::to_owned)).collect()
        })
        .collect()
}

/// Every inline `<svg>…</svg>` of the HTML, parsed.
fn svgs(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<svg ") {
        let end = rest[start..].find("</svg>").expect("svg closes") + start + "</svg>".len();
        out.push(rest[start..end].to_owned());
        rest = &rest[end..];
    }
    out
}

/// Parses an SVG as XML; returns its id and the texts of its `<text>` elements.
fn parse_svg(svg: &str) -> (String, Vec<String>) {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("SVG is not well-formed XML: {e}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    let texts = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or("").trim().to_owned())
        .collect();
    (root.attribute("id").expect("svg id").to_owned(), texts)
}

/// Fill and stroke colours used in an SVG, lower-case hex.
fn colours(svg: &str) -> Vec<String> {
    let lower = svg.to_lowercase();
    ["#4e79a7", "#f28e2b"].iter().filter(|c| lower.contains(*c)).map(|c| c.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_numbers_equal_the_registry() {
    let node = seeded_node().await;
    let until = Utc::now() + Duration::seconds(1);
    let since = until - Duration::hours(4);
    let data = node.engine.report_data("iris", since, until).await.expect("report data");
    let e = expected(&node, since, until).await;

    // Header: current config and who changed it last (the canary's rollback).
    assert_eq!(data.current.number, 5);
    assert_eq!(data.last_author, "canary-controller");
    assert_eq!(data.step_minutes, 1);

    // Traffic per generation equals the registry's rows; percentiles of merged histograms.
    assert_eq!(data.generations.iter().map(|g| g.generation.as_str()).collect::<Vec<_>>(), ["v1", "v2"]);
    let live_sent: u64 = 160 + 5 + 20 + 30;
    let inserted: u64 = (0..10).map(|i| 120 + i + 40 + 2 * i).sum();
    assert_eq!(data.total_requests(), live_sent + inserted, "every request sent and inserted is counted");
    let generations = csv_rows(&data, "generations.csv");
    for (g, row) in data.generations.iter().zip(&generations) {
        let (req, err, rej, h) = &e.totals[&g.generation];
        assert_eq!((g.requests, g.errors, g.rejected), (*req, *err, *rej), "{}", g.generation);
        assert_eq!(row["generation"], g.generation);
        assert_eq!(row["requests"], req.to_string());
        assert_eq!(row["errors"], err.to_string());
        assert_eq!(row["rejected"], rej.to_string());
        assert_eq!(row["error_rate"], (*err as f64 / *req as f64).to_string());
        assert_eq!(
            (row["p50_ms"].clone(), row["p95_ms"].clone(), row["p99_ms"].clone()),
            (p(h, 0.5), p(h, 0.95), p(h, 0.99))
        );
    }
    // Shares of traffic in the version table.
    let total: u64 = e.totals.values().map(|t| t.0).sum();
    for row in csv_rows(&data, "versions.csv") {
        let requests = e.totals.get(&row["version"]).map_or(0, |t| t.0);
        assert_eq!(row["requests"], requests.to_string());
        assert_eq!(row["share"], (requests as f64 / total as f64).to_string());
    }
    // One traffic row per generation and minute, equal to the stored minute.
    let traffic = csv_rows(&data, "traffic.csv");
    assert_eq!(traffic.len(), e.minutes.len());
    for row in &traffic {
        let minute = DateTime::parse_from_rfc3339(&row["step_start"]).expect("time").timestamp() / 60;
        let (req, err, rej, h) = &e.minutes[&(minute, row["generation"].clone())];
        assert_eq!(
            [&row["requests"], &row["errors"], &row["rejected"], &row["p50_ms"], &row["p99_ms"]],
            [&req.to_string(), &err.to_string(), &rej.to_string(), &p(h, 0.5), &p(h, 0.99)]
        );
    }
    // A/B groups from the feedback rows.
    let groups = csv_rows(&data, "ab_groups.csv");
    assert_eq!(groups.len(), 2);
    for row in &groups {
        let outcomes = &e.feedback[&row["generation"]];
        assert_eq!(row["n"], outcomes.len().to_string());
        let mean = outcomes.iter().sum::<f64>() / outcomes.len() as f64;
        assert!((row["mean"].parse::<f64>().expect("mean") - mean).abs() < 1e-12);
    }
    assert_eq!(csv_rows(&data, "ab_comparisons.csv").len(), 1);

    // The revision timeline: the five revisions, rollbacks and canary steps marked.
    let revisions = csv_rows(&data, "revisions.csv");
    let kinds: Vec<(&str, &str, &str)> =
        revisions.iter().map(|r| (r["kind"].as_str(), r["rollback_of"].as_str(), r["canary_id"].as_str())).collect();
    assert_eq!(
        kinds,
        [("deploy", "", ""), ("deploy", "", ""), ("rollback", "1", ""), ("deploy", "", "1"), ("rollback", "3", "1")]
    );

    // The HTML written by the desktop's export function shows the same numbers.
    let out = tempfile::tempdir().expect("tempdir");
    let path = node.engine.export_report("iris", since, until, &out.path().join("report.html")).await.expect("export");
    let html = std::fs::read_to_string(&path).expect("html");
    for g in &data.generations {
        let row_start = html.find(&format!("<tr id=\"generation-{}\">", g.generation)).expect("generation row");
        let row = &html[row_start..row_start + html[row_start..].find("</tr>").expect("row end")];
        assert!(row.contains(&format!(">{}<", count(e.totals[&g.generation].0))), "{row}");
        assert!(row.contains(&format!(">{}<", count(e.totals[&g.generation].1))), "{row}");
    }
    assert!(html.contains(&format!("id=\"kpi-requests\">{}<", count(total))));
    assert!(html.contains("Rollback to revision 1") && html.contains("Canary #1"));
    assert!(html.contains("<b>canary-controller</b>"));
    // The embedded CSV is the same as the CSV files.
    for f in report::csv_files(&data) {
        let escaped = f.content.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
        assert!(html.contains(&escaped), "{} is embedded", f.name);
    }

    // Every chart is a well-formed SVG with one series per generation, in its colour.
    let charts = svgs(&html);
    assert_eq!(charts.len(), 4);
    let mut ids = Vec::new();
    for svg in &charts {
        let (id, texts) = parse_svg(svg);
        for generation in ["v1", "v2"] {
            assert!(texts.iter().any(|t| t == generation), "{id}: legend has {generation}: {texts:?}");
        }
        assert_eq!(colours(svg), ["#4e79a7", "#f28e2b"], "{id}: v1 and v2 keep their colours");
        ids.push(id);
    }
    assert_eq!(ids, ["chart-traffic_share", "chart-latency", "chart-error_rate", "chart-ab_outcome"]);
    assert!(parse_svg(&charts[3]).1.iter().any(|t| t.starts_with("v2 (n = ")));

    // The node serves the same data to remote renderers.
    let r = node
        .http
        .get(node.url(&format!(
            "/admin/v1/deployments/iris/report?since={}&until={}",
            since.timestamp_millis(),
            until.timestamp_millis()
        )))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let remote: ReportData = r.json().await.expect("report json");
    assert_eq!(remote.generations, data.generations);
    assert_eq!(remote.revisions, data.revisions);
    assert_eq!(remote.ab, data.ab);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_range_one_generation_and_no_feedback_say_so() {
    let node = spawn_node().await;
    node.with_iris().await;

    // Empty range: no traffic, no feedback.
    let until = Utc::now() + Duration::seconds(1);
    let data = node.engine.report_data("iris", until - Duration::minutes(30), until).await.expect("data");
    assert!(data.generations.is_empty());
    let html = report::render_html(&data);
    assert!(!html.contains("<svg"), "no empty charts");
    assert!(html.contains("No live traffic was served in this range, so there is no traffic share to chart."));
    assert!(html.contains("No live traffic was served in this range, so there is no latency to chart."));
    assert!(html.contains("No live traffic was served in this range, so there is no error rate to chart."));
    assert!(html.contains("No feedback was recorded in this range, so there is no A/B outcome to chart"));
    assert!(html.contains("id=\"kpi-requests\">0<"));
    // A range before the deployment existed still shows the current config.
    let old = node.engine.report_data("iris", until - Duration::days(9), until - Duration::days(8)).await.expect("old");
    assert!(old.revisions.is_empty() && old.versions.is_empty());
    assert!(report::render_html(&old).contains("No config change in this range"));

    // One generation: the share is trivially 100%; latency and errors are still charted.
    traffic(&node, 30, false).await;
    let until = Utc::now() + Duration::seconds(1);
    let data = node.engine.report_data("iris", until - Duration::minutes(30), until).await.expect("data");
    assert_eq!(data.generations.len(), 1);
    let html = report::render_html(&data);
    assert!(
        html.contains("Only v1 served traffic in this range: its share is 100% throughout (30 requests)."),
        "{html}"
    );
    let ids: Vec<String> = svgs(&html).iter().map(|s| parse_svg(s).0).collect();
    assert_eq!(ids, ["chart-latency", "chart-error_rate"]);
    assert!(html.contains("No feedback was recorded in this range"));
    assert_eq!(report::charts::unavailable(&data, ChartKind::Latency), None);

    // An inverted range is the caller's mistake.
    let r =
        node.http.get(node.url("/admin/v1/deployments/iris/report?since=2000&until=1000")).send().await.expect("send");
    assert_eq!(crate::support::error_code(r).await.1, "invalid_input");
    let r = node.http.get(node.url("/admin/v1/deployments/iris/report?since=yesterday")).send().await.expect("send");
    assert_eq!(crate::support::error_code(r).await.1, "invalid_input");
    let r = node.http.get(node.url("/admin/v1/deployments/nope/report")).send().await.expect("send");
    assert_eq!(crate::support::error_code(r).await.1, "service_not_found");
    node.create_service("bare").await;
    let r = node.http.get(node.url("/admin/v1/deployments/bare/report")).send().await.expect("send");
    assert_eq!(crate::support::error_code(r).await.1, "not_deployed");
}

async fn cli(url: &str, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.args(args).env("SWITCHYARD_NODE", url).env_remove("SWITCHYARD_TOKEN_FILE");
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run cli")).await.expect("join");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn is_png(path: &Path) -> bool {
    let bytes = std::fs::read(path).unwrap_or_default();
    bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 8 * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_writes_html_csv_and_png() {
    let node = spawn_node().await;
    node.with_iris().await;
    node.deploy_mapping("iris", &[("v2", 0.5), ("v1", 0.5)]).await;
    traffic(&node, 60, true).await;
    let out = tempfile::tempdir().expect("tempdir");
    let html = out.path().join("report.html");
    let csv = out.path().join("csv");
    let (ok, stdout, err) = cli(
        &node.url,
        &[
            "report",
            "--deployment",
            "iris",
            "--since",
            "7d",
            "--out",
            html.to_str().expect("utf8"),
            "--csv",
            csv.to_str().expect("utf8"),
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert!(stdout.contains("wrote") && stdout.contains("report.html"), "{stdout}");
    let text = std::fs::read_to_string(&html).expect("html written");
    assert_eq!(svgs(&text).len(), 4);
    assert!(text.contains(&format!("on node <b>local at {}</b>", node.url)), "the node that answered is named");
    let mut names: Vec<String> = std::fs::read_dir(&csv)
        .expect("csv dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["ab_comparisons.csv", "ab_groups.csv", "generations.csv", "revisions.csv", "traffic.csv", "versions.csv"]
    );
    let generations = std::fs::read_to_string(csv.join("generations.csv")).expect("csv");
    let sent: u64 =
        generations.lines().skip(1).map(|l| l.split(',').nth(1).expect("requests").parse::<u64>().expect("n")).sum();
    assert_eq!(sent, 60);

    let pngs = out.path().join("charts");
    let until = (Utc::now() + Duration::minutes(1)).to_rfc3339();
    let (ok, stdout, err) = cli(
        &node.url,
        &[
            "report",
            "--deployment",
            "iris",
            "--since",
            "1h",
            "--until",
            &until,
            "--format",
            "png",
            "--out",
            pngs.to_str().expect("utf8"),
        ],
    )
    .await;
    assert!(ok, "{err}");
    for kind in ChartKind::ALL {
        let path = pngs.join(format!("{}.png", kind.name()));
        assert!(is_png(&path), "{} is a PNG of some size", path.display());
    }
    assert_eq!(stdout.lines().count(), 4, "{stdout}");

    // Mistakes are explained.
    let (ok, _, err) = cli(&node.url, &["report", "--deployment", "iris", "--since", "last week"]).await;
    assert!(!ok && err.contains("neither a duration"), "{err}");
    let (ok, _, err) = cli(&node.url, &["report", "--deployment", "nope", "--since", "1h"]).await;
    assert!(!ok && err.contains("[service_not_found]"), "{err}");
}

/// Attribute values and CSS `url(…)` references that a browser would fetch over the network.
fn remote_references(html: &str) -> Vec<String> {
    let lower = html.to_lowercase();
    let mut found = Vec::new();
    for marker in ["src=\"", "href=\"", "src='", "href='", "url(", "@import", "srcset=\""] {
        let mut from = 0;
        while let Some(i) = lower[from..].find(marker) {
            let at = from + i + marker.len();
            let value: String = lower[at..].chars().take(12).collect();
            let value = value.trim_start_matches(['"', '\'', ' ']);
            if value.starts_with("http:") || value.starts_with("https:") || value.starts_with("//") {
                found.push(lower[at..].chars().take(60).collect());
            }
            from = at;
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_opens_in_headless_chromium_offline() {
    let node = story_node().await;
    let until = Utc::now() + Duration::seconds(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = node
        .engine
        .export_report("iris", until - Duration::hours(4), until, &dir.path().join("report.html"))
        .await
        .expect("export");
    let html = std::fs::read_to_string(&path).expect("html");
    assert!(!html.to_lowercase().contains("<script"), "the report is script-free");
    assert_eq!(remote_references(&html), Vec::<String>::new(), "nothing to fetch");

    let screenshot = dir.path().join("report.png");
    let netlog = dir.path().join("netlog.json");
    let profile = tempfile::tempdir().expect("profile dir");
    let url = format!("file://{}", path.display());
    let args = vec![
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-quic".to_owned(),
        "--no-first-run".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--hide-scrollbars".to_owned(),
        "--host-resolver-rules=MAP * ~NOTFOUND".to_owned(),
        format!("--user-data-dir={}", profile.path().display()),
        format!("--log-net-log={}", netlog.display()),
        "--enable-logging=stderr".to_owned(),
        "--v=0".to_owned(),
        format!("--screenshot={}", screenshot.display()),
        "--window-size=1280,2000".to_owned(),
        url,
    ];
    let out = tokio::task::spawn_blocking(move || {
        Command::new("/usr/bin/chromium")
            .args(&args)
            .output()
            .expect("chromium runs (Debian package chromium, installed by scripts/install-deps.sh)")
    })
    .await
    .expect("join");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {stderr}");
    for line in stderr.lines() {
        assert!(
            !line.contains("CONSOLE") && !line.contains("Uncaught") && !line.contains("Failed to load resource"),
            "console message: {line}"
        );
    }
    assert!(is_png(&screenshot), "screenshot written");

    // The network log: Chromium's own background requests have no initiator origin ("not an
    // origin"); anything the page asked for would carry the page's origin.
    let log: Value =
        serde_json::from_str(&std::fs::read_to_string(&netlog).expect("net log written")).expect("net log");
    let page_requests: Vec<&Value> = log["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| {
            let p = &e["params"];
            p["url"].is_string() && p["initiator"].is_string() && p["initiator"] != "not an origin"
        })
        .map(|e| &e["params"]["url"])
        .collect();
    assert!(page_requests.is_empty(), "the page made network requests: {page_requests:?}");

    if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.png");
        std::fs::copy(&screenshot, &docs).expect("copy screenshot");
    }
}
