//! Hand-written SVG plots: ROC and calibration curves per slicing, forest plots of a metric
//! with its intervals, and learning curves. Coordinates are written to one decimal; points
//! that are not finite are left out, so no plot ever reads "NaN".

use std::fmt::Write;

use super::{escape_html as esc, num, truncate, truncate_middle};
use crate::data::CurvePoint;
use crate::report::{SliceReport, SlicingReport};

/// Line colours (Tableau 10); after ten, lines repeat the colours dashed.
const PALETTE: [&str; 10] =
    ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
/// The most slices drawn in one ROC or calibration plot (the largest ones).
const MAX_LINES: usize = 12;
/// The most rows of one forest plot.
const MAX_FOREST_ROWS: usize = 60;
/// The most points drawn of one learning curve.
const MAX_CURVE_POINTS: usize = 200;
const AXIS: &str = "#444";
const GRID: &str = "#e6e6e6";
const MUTED: &str = "#666";
const REFERENCE: &str = "#888";

/// One coordinate, one decimal ("-0.0" reads "0.0").
fn c(v: f64) -> String {
    let s = format!("{v:.1}");
    if s == "-0.0" { "0.0".into() } else { s }
}

/// A linear map from data to the plot area (SVG y grows downwards).
#[derive(Clone, Copy)]
struct Frame {
    left: f64,
    top: f64,
    width: f64,
    height: f64,
    x: (f64, f64),
    y: (f64, f64),
}

impl Frame {
    fn px(&self, v: f64) -> f64 {
        self.left + (v - self.x.0) / (self.x.1 - self.x.0) * self.width
    }

    fn py(&self, v: f64) -> f64 {
        self.top + self.height - (v - self.y.0) / (self.y.1 - self.y.0) * self.height
    }

    fn bottom(&self) -> f64 {
        self.top + self.height
    }

    fn right(&self) -> f64 {
        self.left + self.width
    }
}

/// Tick positions covering `[lo, hi]` with a 1-2-5 step, and the step.
fn ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, f64) {
    let range = (hi - lo).abs().max(1e-12);
    let raw = range / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let step = mag
        * if f < 1.5 {
            1.0
        } else if f < 3.0 {
            2.0
        } else if f < 7.0 {
            5.0
        } else {
            10.0
        };
    let mut out = Vec::new();
    let mut t = (lo / step).ceil() * step;
    while t <= hi + step * 1e-6 && out.len() < 50 {
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    (out, step)
}

/// `[lo, hi]` widened to whole steps of its ticks (a degenerate range is widened first).
fn nice_range(lo: f64, hi: f64) -> (f64, f64) {
    let (lo, hi) = if hi - lo > 1e-12 {
        (lo, hi)
    } else {
        let pad = if lo.abs() > 1e-12 { lo.abs() * 0.05 } else { 0.5 };
        (lo - pad, hi + pad)
    };
    let (_, step) = ticks(lo, hi, 5);
    ((lo / step).floor() * step, (hi / step).ceil() * step)
}

/// A tick label with as many decimals as the step needs.
fn tick_label(v: f64, step: f64) -> String {
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let s = format!("{v:.decimals$}");
    if s.starts_with('-') && s.trim_start_matches(['-', '0', '.']).is_empty() { s[1..].to_string() } else { s }
}

fn open(out: &mut String, class: &str, model: &str, label: &str, width: f64, height: f64) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="plot {class}" data-model="{}" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{}" font-size="11">"#,
        esc(model),
        esc(label),
        w = c(width),
        h = c(height),
    );
}

fn text(out: &mut String, x: f64, y: f64, anchor: &str, extra: &str, content: &str) {
    let _ = write!(out, r#"<text x="{}" y="{}" text-anchor="{anchor}"{extra}>{}</text>"#, c(x), c(y), esc(content));
}

/// Grid lines, axes, tick labels and axis titles.
fn axes(out: &mut String, f: &Frame, x_title: &str, y_title: &str) {
    let (xt, xs) = ticks(f.x.0, f.x.1, 5);
    let (yt, ys) = ticks(f.y.0, f.y.1, 5);
    out.push_str(r#"<g class="grid">"#);
    for &t in &xt {
        let x = f.px(t);
        let _ = write!(
            out,
            r#"<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="{GRID}"/>"#,
            c(x),
            c(f.top),
            c(f.bottom())
        );
    }
    for &t in &yt {
        let y = f.py(t);
        let _ = write!(
            out,
            r#"<line x1="{1}" y1="{0}" x2="{2}" y2="{0}" stroke="{GRID}"/>"#,
            c(y),
            c(f.left),
            c(f.right())
        );
    }
    out.push_str("</g>");
    let _ = write!(
        out,
        r#"<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="{AXIS}"/>"#,
        c(f.left),
        c(f.top),
        c(f.width),
        c(f.height)
    );
    out.push_str(r##"<g class="ticks" fill="#444" font-size="10">"##);
    for &t in &xt {
        let x = f.px(t);
        let _ = write!(
            out,
            r#"<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="{AXIS}"/>"#,
            c(x),
            c(f.bottom()),
            c(f.bottom() + 4.0)
        );
        text(out, x, f.bottom() + 15.0, "middle", "", &tick_label(t, xs));
    }
    for &t in &yt {
        let y = f.py(t);
        let _ = write!(
            out,
            r#"<line x1="{1}" y1="{0}" x2="{2}" y2="{0}" stroke="{AXIS}"/>"#,
            c(y),
            c(f.left - 4.0),
            c(f.left)
        );
        text(out, f.left - 7.0, y + 3.5, "end", "", &tick_label(t, ys));
    }
    out.push_str("</g>");
    text(out, f.left + f.width / 2.0, f.bottom() + 33.0, "middle", r##" fill="#222""##, x_title);
    let (yx, yy) = (f.left - 40.0, f.top + f.height / 2.0);
    let _ = write!(
        out,
        r##"<text x="{0}" y="{1}" text-anchor="middle" fill="#222" transform="rotate(-90 {0} {1})">{2}</text>"##,
        c(yx),
        c(yy),
        esc(y_title)
    );
}

/// A polyline through the finite points.
fn polyline(out: &mut String, f: &Frame, points: &[(f64, f64)], color: &str, dashed: bool, width: f64) {
    let pts: Vec<String> = points
        .iter()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|&(x, y)| format!("{},{}", c(f.px(x)), c(f.py(y))))
        .collect();
    if pts.is_empty() {
        return;
    }
    let dash = if dashed { r#" stroke-dasharray="5 3""# } else { "" };
    let _ = write!(
        out,
        r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="{}" stroke-linejoin="round"{dash}/>"#,
        pts.join(" "),
        c(width)
    );
}

/// The chance or perfect-calibration diagonal.
fn diagonal(out: &mut String, f: &Frame) {
    let _ = write!(
        out,
        r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{REFERENCE}" stroke-dasharray="3 3"/>"#,
        c(f.px(0.0)),
        c(f.py(0.0)),
        c(f.px(1.0)),
        c(f.py(1.0))
    );
}

/// One legend entry: a slice value (shortened to fit, in full as a tooltip) and a metric.
struct Entry {
    value: String,
    suffix: String,
    color: &'static str,
    dashed: bool,
}

impl Entry {
    fn new(value: &str, suffix: String, color: &'static str, dashed: bool) -> Self {
        Self { value: value.to_string(), suffix, color, dashed }
    }
}

/// A legend to the right of the plot area, with a note below it.
fn legend(out: &mut String, x: f64, y: f64, title: &str, entries: &[Entry], note: Option<&str>) {
    let mut yy = y;
    text(out, x, yy, "start", r##" font-weight="600" fill="#222""##, &truncate(title, 26));
    yy += 16.0;
    for e in entries {
        let dash = if e.dashed { r#" stroke-dasharray="5 3""# } else { "" };
        let _ = write!(
            out,
            r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="2.5"{dash}/>"#,
            c(x),
            c(yy - 4.0),
            c(x + 20.0),
            c(yy - 4.0),
            e.color
        );
        let _ = write!(
            out,
            r##"<text x="{}" y="{}" fill="#222">{}{}<title>{}{}</title></text>"##,
            c(x + 26.0),
            c(yy),
            esc(&truncate_middle(&e.value, 20)),
            esc(&e.suffix),
            esc(&e.value),
            esc(&e.suffix)
        );
        yy += 16.0;
    }
    if let Some(note) = note {
        text(out, x, yy + 2.0, "start", r##" fill="#666" font-style="italic""##, note);
    }
}

/// The slices drawn for a slicing: non-suppressed ones that `has` accepts, the largest
/// `MAX_LINES` kept in their original order; and how many were left out.
fn drawn(slicing: &SlicingReport, has: impl Fn(&SliceReport) -> bool) -> (Vec<&SliceReport>, usize) {
    let mut eligible: Vec<(usize, &SliceReport)> =
        slicing.slices.iter().enumerate().filter(|(_, s)| !s.suppressed && has(s)).collect();
    let total = eligible.len();
    if total > MAX_LINES {
        eligible.sort_by(|a, b| b.1.n.cmp(&a.1.n).then(a.0.cmp(&b.0)));
        eligible.truncate(MAX_LINES);
        eligible.sort_by_key(|e| e.0);
    }
    (eligible.into_iter().map(|e| e.1).collect(), total.saturating_sub(MAX_LINES))
}

fn style(i: usize) -> (&'static str, bool) {
    (PALETTE[i % PALETTE.len()], i >= PALETTE.len())
}

/// The square plot frame shared by ROC and calibration plots.
const SQUARE: Frame = Frame { left: 58.0, top: 28.0, width: 280.0, height: 280.0, x: (0.0, 1.0), y: (0.0, 1.0) };
const SQUARE_W: f64 = 575.0;
const SQUARE_H: f64 = 360.0;

fn metric_suffix(slice: &SliceReport, metric: &str) -> String {
    slice.metrics.get(metric).and_then(|m| m.value).map_or_else(String::new, |v| format!(" · {}", num(v)))
}

/// ROC curves of one slicing: a line per slice, the overall curve dashed for reference, the
/// chance diagonal, and a legend with each slice's ROC AUC.
pub(super) fn roc(model: &str, slicing: &SlicingReport, overall: Option<&SliceReport>) -> String {
    let f = SQUARE;
    let mut out = square_plot(
        "roc",
        model,
        &format!("ROC curves of {model} by {}", slicing.name),
        &format!("ROC by {}", truncate(&slicing.name, 40)),
        ("False positive rate", "True positive rate"),
    );
    let mut entries = Vec::new();
    let is_overall = slicing.name == crate::slices::OVERALL;
    if !is_overall && let Some(o) = overall.filter(|o| !o.roc.is_empty()) {
        polyline(&mut out, &f, &o.roc.iter().map(|p| (p[0], p[1])).collect::<Vec<_>>(), REFERENCE, true, 1.5);
        entries.push(Entry::new("overall", metric_suffix(o, "roc_auc"), REFERENCE, true));
    }
    let (slices, left_out) = drawn(slicing, |s| !s.roc.is_empty());
    for (i, s) in slices.iter().enumerate() {
        let (color, dashed) = style(i);
        polyline(&mut out, &f, &s.roc.iter().map(|p| (p[0], p[1])).collect::<Vec<_>>(), color, dashed, 2.0);
        entries.push(Entry::new(&s.value, metric_suffix(s, "roc_auc"), color, dashed));
    }
    let notes = ("no curve: one class only or suppressed", None);
    finish_square(out, "Slice · ROC AUC", &entries, left_out, notes)
}

/// A square plot's opening: the SVG element, its heading, both axes and the diagonal.
fn square_plot(class: &str, model: &str, label: &str, heading: &str, (x_title, y_title): (&str, &str)) -> String {
    let f = SQUARE;
    let mut out = String::new();
    open(&mut out, class, model, label, SQUARE_W, SQUARE_H);
    text(&mut out, f.left, 18.0, "start", r##" font-weight="600" font-size="12" fill="#222""##, heading);
    axes(&mut out, &f, x_title, y_title);
    diagonal(&mut out, &f);
    out
}

/// A square plot's legend (titled `title`) and closing tag. The legend's note says why nothing
/// was drawn (`notes.0`), how many slices were left out, or else `notes.1`.
fn finish_square(
    mut out: String,
    title: &str,
    entries: &[Entry],
    left_out: usize,
    (empty, otherwise): (&str, Option<&str>),
) -> String {
    let f = SQUARE;
    let note = match (entries.is_empty(), left_out) {
        (true, _) => Some(empty.to_string()),
        (false, 0) => otherwise.map(str::to_string),
        (false, k) => Some(format!("+{k} smaller slices not drawn")),
    };
    legend(&mut out, f.right() + 18.0, f.top + 8.0, title, entries, note.as_deref());
    out.push_str("</svg>");
    out
}

/// Reliability diagram of one slicing: observed positive rate against mean predicted
/// probability per bin, a line per slice, each bin's marker sized by its share of the slice's
/// weight, and the diagonal of perfect calibration.
pub(super) fn calibration(model: &str, slicing: &SlicingReport, overall: Option<&SliceReport>) -> String {
    let f = SQUARE;
    let mut out = square_plot(
        "calibration",
        model,
        &format!("Calibration of {model} by {}", slicing.name),
        &format!("Calibration by {}", truncate(&slicing.name, 34)),
        ("Mean predicted probability", "Observed positive rate"),
    );
    let mut entries = Vec::new();
    let curve = |out: &mut String, s: &SliceReport, color: &'static str, dashed: bool, markers: bool| {
        let pts: Vec<(f64, f64)> = s.calibration.iter().map(|b| (b.mean_predicted, b.observed_rate)).collect();
        polyline(out, &f, &pts, color, dashed, if markers { 1.8 } else { 1.5 });
        if markers {
            let total: f64 = s.calibration.iter().map(|b| b.weight).filter(|w| w.is_finite()).sum();
            for b in &s.calibration {
                let (x, y) = (b.mean_predicted, b.observed_rate);
                if !(x.is_finite() && y.is_finite() && b.weight.is_finite()) || total <= 0.0 {
                    continue;
                }
                let r = 2.0 + 7.0 * (b.weight / total).sqrt();
                let _ = write!(
                    out,
                    r#"<circle cx="{}" cy="{}" r="{}" fill="{color}" fill-opacity="0.55" stroke="{color}"><title>{}: predicted {}, observed {}, {}% of weight</title></circle>"#,
                    c(f.px(x)),
                    c(f.py(y)),
                    c(r),
                    esc(&s.value),
                    num(x),
                    num(y),
                    num(100.0 * b.weight / total)
                );
            }
        }
    };
    let is_overall = slicing.name == crate::slices::OVERALL;
    if !is_overall && let Some(o) = overall.filter(|o| !o.calibration.is_empty()) {
        curve(&mut out, o, REFERENCE, true, false);
        entries.push(Entry::new("overall", metric_suffix(o, "ece"), REFERENCE, true));
    }
    let (slices, left_out) = drawn(slicing, |s| !s.calibration.is_empty());
    for (i, s) in slices.iter().enumerate() {
        let (color, dashed) = style(i);
        curve(&mut out, s, color, dashed, true);
        entries.push(Entry::new(&s.value, metric_suffix(s, "ece"), color, dashed));
    }
    let has_ece = slicing.slices.iter().chain(overall).any(|s| s.metrics.get("ece").and_then(|m| m.value).is_some());
    let title = if has_ece { "Slice · ECE" } else { "Slice" };
    let notes = ("no curve: suppressed or not binary", Some("marker area: share of weight"));
    finish_square(out, title, &entries, left_out, notes)
}

/// One row of a forest plot.
pub(super) enum ForestRow {
    /// A group heading (a slicing's name).
    Heading(String),
    /// A labelled estimate and interval; `None` draws no marker (suppressed or undefined).
    /// `label` is drawn (shortened to fit), `title` is its tooltip.
    Item { label: String, title: String, value: Option<f64>, lo: Option<f64>, hi: Option<f64>, note: Option<String> },
}

/// A forest plot: one row per item, a point and its interval, a dashed vertical line at
/// `reference` (e.g. the overall value), the estimate and interval written on the right.
pub(super) fn forest(
    model: &str,
    class: &str,
    title: &str,
    rows: &[ForestRow],
    reference: Option<(f64, &str)>,
) -> String {
    let mut rows: Vec<&ForestRow> = rows.iter().collect();
    let left_out = rows.len().saturating_sub(MAX_FOREST_ROWS);
    rows.truncate(MAX_FOREST_ROWS);
    let row_h = 20.0;
    let (label_w, plot_w, text_w) = (210.0, 340.0, 190.0);
    let top = 34.0;
    let height = top + row_h * rows.len().max(1) as f64 + 46.0 + if left_out > 0 { 16.0 } else { 0.0 };
    let width = label_w + plot_w + text_w;
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for r in &rows {
        if let ForestRow::Item { value, lo: l, hi: h, .. } = r {
            for v in [value, l, h].into_iter().flatten().filter(|v| v.is_finite()) {
                lo = lo.min(*v);
                hi = hi.max(*v);
            }
        }
    }
    if let Some((r, _)) = reference.filter(|(r, _)| r.is_finite()) {
        lo = lo.min(r);
        hi = hi.max(r);
    }
    let mut out = String::new();
    open(&mut out, class, model, title, width, height);
    text(&mut out, 8.0, 18.0, "start", r##" font-weight="600" font-size="12" fill="#222""##, title);
    if !(lo.is_finite() && hi.is_finite()) {
        text(&mut out, 8.0, top + 14.0, "start", &format!(r#" fill="{MUTED}""#), "no values to plot");
        out.push_str("</svg>");
        return out;
    }
    let (lo, hi) = nice_range(lo, hi);
    let f = Frame { left: label_w, top, width: plot_w, height: row_h * rows.len() as f64, x: (lo, hi), y: (0.0, 1.0) };
    // Alternate row shading, then the grid and x axis.
    for (i, _) in rows.iter().enumerate().filter(|(i, _)| i % 2 == 1) {
        let _ = write!(
            out,
            r##"<rect x="0" y="{}" width="{}" height="{}" fill="#f6f8fa"/>"##,
            c(top + row_h * i as f64),
            c(width),
            c(row_h)
        );
    }
    let (xt, xs) = ticks(lo, hi, 6);
    for &t in &xt {
        let x = f.px(t);
        let _ = write!(
            out,
            r#"<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="{GRID}"/>"#,
            c(x),
            c(f.top),
            c(f.bottom())
        );
        let _ = write!(
            out,
            r#"<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="{AXIS}"/>"#,
            c(x),
            c(f.bottom()),
            c(f.bottom() + 4.0)
        );
        text(&mut out, x, f.bottom() + 15.0, "middle", r##" fill="#444" font-size="10""##, &tick_label(t, xs));
    }
    let _ = write!(
        out,
        r#"<line x1="{}" y1="{2}" x2="{}" y2="{2}" stroke="{AXIS}"/>"#,
        c(f.left),
        c(f.right()),
        c(f.bottom())
    );
    if let Some((r, label)) = reference.filter(|(r, _)| r.is_finite()) {
        let x = f.px(r);
        let _ = write!(
            out,
            r#"<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="{REFERENCE}" stroke-dasharray="4 3"/>"#,
            c(x),
            c(f.top - 4.0),
            c(f.bottom())
        );
        let anchor = if x > f.left + 0.75 * f.width {
            "end"
        } else if x < f.left + 0.25 * f.width {
            "start"
        } else {
            "middle"
        };
        text(
            &mut out,
            x,
            f.top - 7.0,
            anchor,
            &format!(r#" fill="{MUTED}" font-size="10""#),
            &format!("{label} {}", num(r)),
        );
    }
    text(
        &mut out,
        label_w + plot_w + 12.0,
        top - 7.0,
        "start",
        &format!(r#" fill="{MUTED}" font-size="10""#),
        "estimate [interval]",
    );
    for (i, r) in rows.iter().enumerate() {
        let yc = top + row_h * (i as f64 + 0.5);
        match r {
            ForestRow::Heading(h) => {
                text(&mut out, 8.0, yc + 4.0, "start", r##" font-weight="600" fill="#222""##, &truncate(h, 32));
            }
            ForestRow::Item { label, title, value, lo: l, hi: h, note } => {
                let _ = write!(
                    out,
                    r##"<text x="20" y="{}" fill="#222">{}<title>{}</title></text>"##,
                    c(yc + 4.0),
                    esc(&truncate_middle(label, 34)),
                    esc(title)
                );
                if let (Some(l), Some(h)) = (l, h)
                    && l.is_finite()
                    && h.is_finite()
                {
                    let (x1, x2) = (f.px(*l), f.px(*h));
                    let _ = write!(
                        out,
                        r#"<line x1="{0}" y1="{2}" x2="{1}" y2="{2}" stroke="{3}" stroke-width="2"/><line x1="{0}" y1="{4}" x2="{0}" y2="{5}" stroke="{3}"/><line x1="{1}" y1="{4}" x2="{1}" y2="{5}" stroke="{3}"/>"#,
                        c(x1),
                        c(x2),
                        c(yc),
                        PALETTE[0],
                        c(yc - 4.0),
                        c(yc + 4.0)
                    );
                }
                if let Some(v) = value.filter(|v| v.is_finite()) {
                    let _ = write!(
                        out,
                        r##"<circle cx="{}" cy="{}" r="4" fill="{}" stroke="#fff"/>"##,
                        c(f.px(v)),
                        c(yc),
                        PALETTE[0]
                    );
                }
                let right = match (value, l, h, note) {
                    (_, _, _, Some(n)) => n.clone(),
                    (Some(v), Some(l), Some(h), None) => format!("{} [{}, {}]", num(*v), num(*l), num(*h)),
                    (Some(v), _, _, None) => num(*v),
                    (None, _, _, None) => super::NONE.into(),
                };
                let fill = if note.is_some() || value.is_none() { MUTED } else { "#222" };
                text(&mut out, label_w + plot_w + 12.0, yc + 4.0, "start", &format!(r#" fill="{fill}""#), &right);
            }
        }
    }
    if left_out > 0 {
        text(
            &mut out,
            8.0,
            f.bottom() + 36.0,
            "start",
            &format!(r#" fill="{MUTED}" font-style="italic""#),
            &format!("+{left_out} more rows not drawn (see the table)"),
        );
    }
    out.push_str("</svg>");
    out
}

/// A learning-curve panel: title, y-axis title, the value read from each epoch, colour.
type Panel = (&'static str, &'static str, fn(&CurvePoint) -> f64, &'static str);

/// Learning curves of one model: training loss and the validation metric per epoch, side by
/// side.
pub(super) fn learning(model: &str, curve: &[CurvePoint]) -> String {
    let stride = curve.len().div_ceil(MAX_CURVE_POINTS).max(1);
    let mut points: Vec<&CurvePoint> = curve.iter().step_by(stride).collect();
    if let Some(last) = curve.last()
        && points.last().is_some_and(|p| !std::ptr::eq(*p, last))
    {
        points.push(last);
    }
    let (width, height) = (780.0, 280.0);
    let mut out = String::new();
    open(&mut out, "learning", model, &format!("Learning curves of {model}"), width, height);
    let panels: [Panel; 2] = [
        ("Training loss", "loss", |p| p.train_loss, PALETTE[0]),
        ("Validation metric", "metric", |p| p.valid_metric, PALETTE[1]),
    ];
    for (k, (title, y_title, get, color)) in panels.into_iter().enumerate() {
        let left = 62.0 + k as f64 * 390.0;
        let xs: Vec<f64> = points.iter().map(|p| p.epoch as f64).collect();
        let ys: Vec<f64> = points.iter().map(|p| get(p)).filter(|v| v.is_finite()).collect();
        text(&mut out, left, 18.0, "start", r##" font-weight="600" font-size="12" fill="#222""##, title);
        if ys.is_empty() {
            text(&mut out, left, 50.0, "start", &format!(r#" fill="{MUTED}""#), "no values");
            continue;
        }
        let x = nice_range(
            xs.iter().copied().fold(f64::INFINITY, f64::min),
            xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        );
        let (y_lo, y_hi) =
            (ys.iter().copied().fold(f64::INFINITY, f64::min), ys.iter().copied().fold(f64::NEG_INFINITY, f64::max));
        // A little room above and below, so that no point sits on the frame.
        let pad = (y_hi - y_lo) * 0.04;
        let lo = if y_lo >= 0.0 { (y_lo - pad).max(0.0) } else { y_lo - pad };
        let y = nice_range(lo, y_hi + pad);
        let f = Frame { left, top: 28.0, width: 300.0, height: 200.0, x, y };
        axes(&mut out, &f, "Epoch", y_title);
        let pts: Vec<(f64, f64)> = points.iter().map(|p| (p.epoch as f64, get(p))).collect();
        polyline(&mut out, &f, &pts, color, false, 2.0);
        if pts.len() <= 40 {
            for &(ex, ey) in pts.iter().filter(|(a, b)| a.is_finite() && b.is_finite()) {
                let _ = write!(
                    out,
                    r##"<circle cx="{}" cy="{}" r="2.5" fill="{color}"><title>epoch {}: {}</title></circle>"##,
                    c(f.px(ex)),
                    c(f.py(ey)),
                    ex,
                    num(ey)
                );
            }
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_follow_one_two_five_steps() {
        let (t, s) = ticks(0.0, 1.0, 5);
        assert_eq!(s, 0.2);
        assert_eq!(t.len(), 6);
        assert_eq!(tick_label(t[3], s), "0.6");
        let (lo, hi) = nice_range(0.83, 0.91);
        assert!(lo <= 0.83 && hi >= 0.91 && hi - lo < 0.2, "{lo} {hi}");
        let (lo, hi) = nice_range(3.0, 3.0);
        assert!(lo < 3.0 && hi > 3.0);
        assert_eq!(c(-0.04), "0.0");
    }
}
