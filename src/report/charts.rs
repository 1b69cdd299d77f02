//! The report's charts, drawn with plotters on any backend: SVG strings for the HTML report,
//! PNG files for `--format png`. A chart with nothing to show is not drawn: [`unavailable`]
//! gives the plain sentence that replaces it.
//!
//! Every chart gives a generation the same colour (its position among the report's
//! versions), draws its own title and legend, and labels both axes. Steps without traffic
//! are gaps, never interpolated.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::data::ReportData;
use super::fonts::{self, FAMILY};
use crate::error::{Error, Result};
use crate::monitor::ab::OutcomeKind;

/// Tableau 10: distinct, colour-blind considerate, prints well.
const PALETTE: [RGBColor; 10] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0xff, 0x9d, 0xa7),
    RGBColor(0x9c, 0x75, 0x5f),
    RGBColor(0xba, 0xb0, 0xac),
];
const INK: RGBColor = RGBColor(0x1f, 0x29, 0x33);
const MUTED: RGBColor = RGBColor(0x5b, 0x66, 0x73);
const GRID: RGBColor = RGBColor(0xe6, 0xe9, 0xee);
const AXIS: RGBColor = RGBColor(0x9a, 0xa3, 0xad);

/// The colour of the generation at `index` among the report's versions.
pub fn color(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

/// The same colour as CSS hex (`#4e79a7`), for the HTML tables.
pub fn color_hex(index: usize) -> String {
    let RGBColor(r, g, b) = color(index);
    format!("#{}", hex::encode([r, g, b]))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKind {
    TrafficShare,
    Latency,
    ErrorRate,
    AbOutcome,
}

impl ChartKind {
    pub const ALL: [ChartKind; 4] =
        [ChartKind::TrafficShare, ChartKind::Latency, ChartKind::ErrorRate, ChartKind::AbOutcome];

    /// The chart's name in files (`traffic_share.png`) and element ids (`chart-traffic_share`).
    pub fn name(self) -> &'static str {
        match self {
            ChartKind::TrafficShare => "traffic_share",
            ChartKind::Latency => "latency",
            ChartKind::ErrorRate => "error_rate",
            ChartKind::AbOutcome => "ab_outcome",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ChartKind::TrafficShare => "Traffic share per generation",
            ChartKind::Latency => "Latency per generation (successful requests)",
            ChartKind::ErrorRate => "Server error rate per generation",
            ChartKind::AbOutcome => "A/B outcome per generation, with 95% intervals",
        }
    }

    fn size(self) -> (u32, u32) {
        match self {
            ChartKind::Latency => (1040, 560),
            ChartKind::AbOutcome => (1040, 340),
            _ => (1040, 320),
        }
    }
}

/// Why a chart is not drawn, as a sentence for the reader; None when it is drawn.
pub fn unavailable(data: &ReportData, kind: ChartKind) -> Option<String> {
    let served = data.generations.len();
    match kind {
        _ if served == 0 && kind != ChartKind::AbOutcome => Some(format!(
            "No live traffic was served in this range, so there is no {} to chart.",
            match kind {
                ChartKind::TrafficShare => "traffic share",
                ChartKind::Latency => "latency",
                _ => "error rate",
            }
        )),
        ChartKind::TrafficShare if served == 1 => {
            let g = &data.generations[0];
            Some(format!(
                "Only {} served traffic in this range: its share is 100% throughout ({} requests).",
                g.generation,
                super::render::count(g.requests)
            ))
        }
        ChartKind::Latency if data.generations.iter().all(|g| g.p50_ms.is_none()) => {
            Some("No request succeeded in this range, so there is no latency to chart.".to_owned())
        }
        ChartKind::AbOutcome if data.ab.groups.iter().all(|g| g.n == 0) => Some(format!(
            "No feedback was recorded in this range, so there is no A/B outcome to chart (outcomes are sent to POST /v1/services/{}/feedback).",
            data.service
        )),
        _ => None,
    }
}

fn drawing_error(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("cannot draw the chart: {e}"))
}

/// The chart as an SVG document (one `<svg id="chart-NAME">` element).
pub fn svg(data: &ReportData, kind: ChartKind) -> Result<String> {
    fonts::ensure()?;
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, kind.size()).into_drawing_area();
        draw(data, kind, &root).map_err(drawing_error)?;
        root.present().map_err(drawing_error)?;
    }
    let open = format!(r#"<svg id="chart-{}" class="chart" role="img" aria-label="{}" "#, kind.name(), kind.title());
    Ok(buf.replacen("<svg ", &open, 1))
}

/// Draws the chart into a PNG file at `path` (whose name must end in `.png`).
pub fn png(data: &ReportData, kind: ChartKind, path: &Path) -> Result<()> {
    fonts::ensure()?;
    let root = BitMapBackend::new(path, kind.size()).into_drawing_area();
    draw(data, kind, &root).map_err(drawing_error)?;
    root.present().map_err(drawing_error)?;
    Ok(())
}

type DrawResult<T, DB> = std::result::Result<T, DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw<DB: DrawingBackend>(data: &ReportData, kind: ChartKind, root: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
    root.fill(&WHITE)?;
    let legend: Vec<(String, RGBColor)> = match kind {
        ChartKind::AbOutcome => data
            .ab
            .groups
            .iter()
            .filter(|g| g.n > 0)
            .map(|g| (g.generation.clone(), color(data.color_index(&g.generation))))
            .collect(),
        _ => data.generations.iter().map(|g| (g.generation.clone(), color(data.color_index(&g.generation)))).collect(),
    };
    let body = header(root, kind.title(), &legend)?;
    match kind {
        ChartKind::TrafficShare => traffic_share(data, &body),
        ChartKind::Latency => latency(data, &body),
        ChartKind::ErrorRate => error_rate(data, &body),
        ChartKind::AbOutcome => ab_outcome(data, &body),
    }
}

fn font(size: u32) -> FontDesc<'static> {
    (FAMILY, size).into_font()
}

/// Draws the title (left) and legend (right) in a strip on top; returns the area below.
fn header<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    legend: &[(String, RGBColor)],
) -> DrawResult<DrawingArea<DB, Shift>, DB> {
    let (top, body) = root.split_vertically(40);
    top.draw(&Text::new(title.to_owned(), (14, 12), font(17).style(FontStyle::Bold).color(&INK)))?;
    let label = font(14).color(&INK);
    let mut widths = Vec::with_capacity(legend.len());
    for (name, _) in legend {
        widths.push(top.estimate_text_size(name, &label)?.0 as i32);
    }
    let total: i32 = widths.iter().map(|w| 12 + 6 + w + 18).sum();
    let mut x = top.dim_in_pixel().0 as i32 - total - 2;
    for ((name, c), w) in legend.iter().zip(widths) {
        top.draw(&Rectangle::new([(x, 14), (x + 12, 26)], c.filled()))?;
        top.draw(&Text::new(name.clone(), (x + 18, 13), label.clone()))?;
        x += 12 + 6 + w + 18;
    }
    Ok(body)
}

/// The x range of time charts: whole steps covering the report's range.
fn time_range(data: &ReportData) -> Range<DateTime<Utc>> {
    let step_ms = data.step_minutes * 60_000;
    let start = data.since.timestamp_millis().div_euclid(step_ms) * step_ms;
    let end = (data.until.timestamp_millis().div_euclid(step_ms) + 1) * step_ms;
    let at = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap_or_default();
    at(start)..at(end)
}

fn time_label(range: &Range<DateTime<Utc>>) -> impl Fn(&DateTime<Utc>) -> String + use<> {
    let span = range.end - range.start;
    move |t: &DateTime<Utc>| {
        let format = if span <= Duration::minutes(10) {
            "%H:%M:%S"
        } else if span <= Duration::hours(36) {
            "%H:%M"
        } else {
            "%b %d %H:%M"
        };
        t.format(format).to_string()
    }
}

type TimeChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedDateTime<DateTime<Utc>>, RangedCoordf64>>;

/// A time chart over the report's range with labelled axes and a light horizontal grid.
fn time_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    data: &ReportData,
    y: Range<f64>,
    y_desc: &str,
    y_fmt: &dyn Fn(&f64) -> String,
    x_axis: bool,
) -> DrawResult<TimeChart<'a, DB>, DB> {
    let range = time_range(data);
    let fmt_x = time_label(&range);
    let mut chart = ChartBuilder::on(area)
        .margin_left(14)
        .margin_right(24)
        .margin_top(8)
        .margin_bottom(if x_axis { 4 } else { 10 })
        .x_label_area_size(if x_axis { 48 } else { 0 })
        .y_label_area_size(76)
        .build_cartesian_2d(range, y)?;
    let mut mesh = chart.configure_mesh();
    mesh.disable_x_mesh()
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .axis_style(AXIS)
        .x_labels(8)
        .y_labels(5)
        .x_label_formatter(&fmt_x)
        .y_label_formatter(y_fmt)
        .y_desc(y_desc)
        .label_style(font(12).color(&MUTED))
        .axis_desc_style(font(13).color(&MUTED));
    if x_axis {
        mesh.x_desc("time (UTC)");
    }
    mesh.draw()?;
    Ok(chart)
}

/// Points split where a step is missing, so gaps stay gaps.
fn segments(points: Vec<(DateTime<Utc>, f64)>, step_minutes: i64) -> Vec<Vec<(DateTime<Utc>, f64)>> {
    let mut out: Vec<Vec<(DateTime<Utc>, f64)>> = Vec::new();
    for p in points {
        match out.last_mut() {
            Some(seg) if seg.last().is_some_and(|last| p.0 - last.0 <= Duration::minutes(step_minutes)) => seg.push(p),
            _ => out.push(vec![p]),
        }
    }
    out
}

/// Draws one generation's series: lines over consecutive steps, a dot for a lone step.
fn draw_series<DB: DrawingBackend>(
    chart: &mut TimeChart<'_, DB>,
    points: Vec<(DateTime<Utc>, f64)>,
    step_minutes: i64,
    c: RGBColor,
) -> DrawResult<(), DB> {
    // A point stands for its whole step: draw it at the step's middle.
    let half = Duration::seconds(step_minutes * 30);
    let points = points.into_iter().map(|(t, v)| (t + half, v)).collect();
    for seg in segments(points, step_minutes) {
        if seg.len() == 1 {
            chart.draw_series(seg.into_iter().map(|p| Circle::new(p, 3, c.filled())))?;
        } else {
            chart.draw_series(LineSeries::new(seg, c.stroke_width(2)))?;
        }
    }
    Ok(())
}

fn nice_max(max: f64, floor: f64) -> f64 {
    if max.is_finite() && max > 0.0 { (max * 1.15).max(floor) } else { floor }
}

fn traffic_share<DB: DrawingBackend>(data: &ReportData, area: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
    let pct = |v: &f64| format!("{v:.0}%");
    let mut chart = time_chart(area, data, 0.0..100.0, "share of requests", &pct, true)?;
    // step start -> requests per generation (report order)
    let mut steps: BTreeMap<DateTime<Utc>, Vec<(usize, u64)>> = BTreeMap::new();
    for g in &data.generations {
        let c = data.color_index(&g.generation);
        for p in &g.points {
            steps.entry(p.start).or_default().push((c, p.requests));
        }
    }
    // Each generation's band, step by step: (start, low, high) in percent.
    let mut bands: BTreeMap<usize, Vec<(DateTime<Utc>, f64, f64)>> = BTreeMap::new();
    for (start, parts) in steps {
        let total: u64 = parts.iter().map(|(_, n)| n).sum();
        let mut y = 0.0;
        for (c, n) in parts {
            let share = n as f64 / total as f64 * 100.0;
            bands.entry(c).or_default().push((start, y, y + share));
            y += share;
        }
    }
    // One polygon per run of consecutive steps: no seams between steps, gaps stay empty.
    let step = Duration::minutes(data.step_minutes);
    let mut polygons = Vec::new();
    for (c, band) in bands {
        let mut runs: Vec<Vec<(DateTime<Utc>, f64, f64)>> = Vec::new();
        for b in band {
            match runs.last_mut() {
                Some(run) if run.last().is_some_and(|last| b.0 - last.0 == step) => run.push(b),
                _ => runs.push(vec![b]),
            }
        }
        for run in runs {
            let mut points: Vec<(DateTime<Utc>, f64)> =
                run.iter().flat_map(|(s, _, hi)| [(*s, *hi), (*s + step, *hi)]).collect();
            points.extend(run.iter().rev().flat_map(|(s, lo, _)| [(*s + step, *lo), (*s, *lo)]));
            polygons.push(Polygon::new(points, color(c).filled()));
        }
    }
    chart.draw_series(polygons)?;
    Ok(())
}

fn latency<DB: DrawingBackend>(data: &ReportData, area: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
    let panels = area.split_evenly((3, 1));
    let ms = |v: &f64| match *v {
        0.0 => "0 ms".to_owned(),
        v if v >= 10.0 => format!("{v:.0} ms"),
        v if v >= 1.0 => format!("{v:.1} ms"),
        v => format!("{v:.2} ms"),
    };
    type Pick = fn(&super::data::SeriesPoint) -> Option<f64>;
    let picks: [(&str, Pick); 3] = [("p50", |p| p.p50_ms), ("p95", |p| p.p95_ms), ("p99", |p| p.p99_ms)];
    for (i, (panel, (name, pick))) in panels.iter().zip(picks).enumerate() {
        let max = data.generations.iter().flat_map(|g| g.points.iter().filter_map(pick)).fold(0.0, f64::max);
        let mut chart = time_chart(panel, data, 0.0..nice_max(max, 0.1), &format!("{name} latency"), &ms, i == 2)?;
        for g in &data.generations {
            let points = g.points.iter().filter_map(|p| pick(p).map(|v| (p.start, v))).collect();
            draw_series(&mut chart, points, data.step_minutes, color(data.color_index(&g.generation)))?;
        }
    }
    Ok(())
}

fn error_rate<DB: DrawingBackend>(data: &ReportData, area: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
    let rate = |p: &super::data::SeriesPoint| p.errors as f64 / p.requests as f64 * 100.0;
    let max = data.generations.iter().flat_map(|g| g.points.iter().map(rate)).fold(0.0, f64::max);
    let pct = |v: &f64| if *v >= 10.0 { format!("{v:.0}%") } else { format!("{v:.1}%") };
    let mut chart = time_chart(area, data, 0.0..nice_max(max, 1.0).min(100.0), "server errors / requests", &pct, true)?;
    for g in &data.generations {
        let points = g.points.iter().map(|p| (p.start, rate(p))).collect();
        draw_series(&mut chart, points, data.step_minutes, color(data.color_index(&g.generation)))?;
    }
    Ok(())
}

fn ab_outcome<DB: DrawingBackend>(data: &ReportData, area: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
    let groups: Vec<_> = data.ab.groups.iter().filter(|g| g.n > 0).collect();
    let binary = data.ab.kind == Some(OutcomeKind::Binary);
    let values = groups.iter().flat_map(|g| [g.mean, g.ci_low, g.ci_high]).flatten();
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let pad = ((hi - lo) * 0.15).max(hi.abs().max(lo.abs()) * 0.05).max(1e-3);
    let (mut y0, mut y1) = (lo - pad, hi + pad);
    if binary {
        (y0, y1) = (y0.max(0.0), y1.min(1.0));
        // At least ten points of percentage, inside [0, 1].
        if y1 - y0 < 0.1 {
            y1 = (y0 + 0.1).min(1.0);
            y0 = y1 - 0.1;
        }
    }
    let names: Vec<String> = groups.iter().map(|g| format!("{} (n = {})", g.generation, g.n)).collect();
    // Generation i sits at x = i; only whole positions are labelled.
    let fmt_x = |v: &f64| {
        let i = v.round();
        if (v - i).abs() < 1e-6 && i >= 0.0 {
            names.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    let fmt_y = |v: &f64| if binary { format!("{:.0}%", v * 100.0) } else { format!("{v:.3}") };
    let mut chart = ChartBuilder::on(area)
        .margin_left(14)
        .margin_right(24)
        .margin_top(8)
        .margin_bottom(4)
        .x_label_area_size(48)
        .y_label_area_size(76)
        .build_cartesian_2d(-0.5..groups.len() as f64 - 0.5, y0..y1)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .axis_style(AXIS)
        .x_labels(groups.len() + 1)
        .y_labels(6)
        .x_label_formatter(&fmt_x)
        .y_label_formatter(&fmt_y)
        .x_desc("generation")
        .y_desc(if binary { "positive outcomes" } else { "mean outcome" })
        .label_style(font(13).color(&MUTED))
        .axis_desc_style(font(13).color(&MUTED))
        .draw()?;
    for (i, g) in groups.iter().enumerate() {
        let c = color(data.color_index(&g.generation));
        let Some(mean) = g.mean else { continue };
        let x = i as f64;
        if let (Some(l), Some(h)) = (g.ci_low, g.ci_high) {
            chart.draw_series(std::iter::once(ErrorBar::new_vertical(
                x,
                l.max(y0),
                mean,
                h.min(y1),
                c.stroke_width(2),
                28,
            )))?;
        }
        chart.draw_series(std::iter::once(Circle::new((x, mean), 6, c.filled())))?;
        let text = match (g.ci_low, g.ci_high) {
            (Some(l), Some(h)) if binary => {
                format!("{:.1}%  [{:.1}, {:.1}]", mean * 100.0, l * 100.0, h * 100.0)
            }
            (Some(l), Some(h)) => format!("{mean:.3}  [{l:.3}, {h:.3}]"),
            _ if binary => format!("{:.1}%", mean * 100.0),
            _ => format!("{mean:.3}"),
        };
        chart.draw_series(std::iter::once(
            EmptyElement::at((x, mean)) + Text::new(text, (24, -8), font(13).color(&INK)),
        ))?;
    }
    Ok(())
}
