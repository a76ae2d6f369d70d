//! Two hand-written SVG plots: a feature's reference against current shares (bars side by
//! side per bin or category), and drift scores over the windows, one line per group, with the
//! threshold dashed. Coordinates to one decimal; non-finite values are left out.

use std::fmt::Write;

use kiln_core::text::escape_html as esc;

use super::num;
use crate::report::Plot;

const REFERENCE: &str = "#9aa4ae";
const CURRENT: &str = "#0969da";
const PALETTE: [&str; 8] = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#9c755f"];
const W: f64 = 520.0;
const H: f64 = 230.0;
const LEFT: f64 = 48.0;
const TOP: f64 = 26.0;
const BOTTOM: f64 = 46.0;

fn c(v: f64) -> String {
    format!("{v:.1}")
}

/// Reference against current shares of one feature.
pub(super) fn shares(title: &str, plot: &Plot) -> String {
    let n = plot.reference.len().min(plot.current.len());
    let top = plot.reference.iter().chain(&plot.current).copied().filter(|v| v.is_finite()).fold(0.0f64, f64::max);
    let top = if top > 0.0 { top * 1.1 } else { 1.0 };
    let (pw, ph) = (W - LEFT - 12.0, H - TOP - BOTTOM);
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"plot\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\">",
        esc(title)
    );
    let _ = write!(out, "<text x=\"{LEFT}\" y=\"16\" font-size=\"13\" font-weight=\"600\">{}</text>", esc(title));
    legend(&mut out, &[("reference", REFERENCE), ("current", CURRENT)], W - 170.0);
    for k in 0..=4 {
        let v = top * k as f64 / 4.0;
        let y = TOP + ph - ph * k as f64 / 4.0;
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"#e6e6e6\"/><text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
            c(LEFT + pw),
            c(y),
            c(y),
            c(LEFT - 4.0),
            c(y + 3.0),
            num(v)
        );
    }
    if n > 0 {
        let slot = pw / n as f64;
        let bar = (slot * 0.4).max(0.5);
        for i in 0..n {
            for (j, (v, colour)) in [(plot.reference[i], REFERENCE), (plot.current[i], CURRENT)].into_iter().enumerate()
            {
                if !v.is_finite() {
                    continue;
                }
                let h = ph * v / top;
                let x = LEFT + slot * i as f64 + slot * 0.1 + bar * j as f64;
                let _ = write!(
                    out,
                    "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{colour}\"/>",
                    c(x),
                    c(TOP + ph - h),
                    c(bar),
                    c(h)
                );
            }
        }
        labels(&mut out, plot, n, slot, TOP + ph);
    }
    let _ = write!(
        out,
        "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"#444\"/>",
        c(LEFT + pw),
        c(TOP + ph),
        c(TOP + ph)
    );
    out.push_str("</svg>");
    out
}

/// Axis labels: a few bin edges, or the categories (shortened).
fn labels(out: &mut String, plot: &Plot, n: usize, slot: f64, y: f64) {
    let step = n.div_ceil(8).max(1);
    if plot.categories.is_empty() {
        for i in (0..plot.edges.len()).step_by(n.div_ceil(6).max(1)) {
            let x = LEFT + slot * i as f64;
            let _ = write!(
                out,
                "<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
                c(x),
                c(y + 14.0),
                axis(plot.edges[i])
            );
        }
    } else {
        for (i, name) in plot.categories.iter().enumerate().step_by(step) {
            let short: String = name.chars().take(12).collect();
            let x = LEFT + slot * (i as f64 + 0.5);
            let _ = write!(
                out,
                "<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\" transform=\"rotate(-30 {} {})\">{}</text>",
                c(x),
                c(y + 12.0),
                c(x),
                c(y + 12.0),
                esc(&short)
            );
        }
    }
}

/// A short axis label: three significant digits, thousands as k and millions as M.
fn axis(v: f64) -> String {
    let a = v.abs();
    let (scaled, unit) = if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let digits = if scaled.abs() >= 100.0 {
        0
    } else if scaled.abs() >= 10.0 {
        1
    } else {
        2
    };
    format!("{scaled:.digits$}{unit}")
}

fn legend(out: &mut String, items: &[(&str, &str)], x: f64) {
    for (i, (name, colour)) in items.iter().enumerate() {
        let x = x + 85.0 * i as f64;
        let _ = write!(
            out,
            "<rect x=\"{}\" y=\"7\" width=\"10\" height=\"10\" fill=\"{colour}\"/><text x=\"{}\" y=\"16\" font-size=\"11\">{}</text>",
            c(x),
            c(x + 14.0),
            esc(name)
        );
    }
}

/// Drift scores over the windows: one line per named series, the threshold dashed.
pub(super) fn over_time(title: &str, series: &[(String, Vec<f64>)], threshold: f64, windows: usize) -> String {
    let values = series.iter().flat_map(|(_, v)| v.iter()).copied().chain([threshold]).filter(|v| v.is_finite());
    let top = values.fold(0.0f64, f64::max).max(1e-12) * 1.1;
    let (pw, ph) = (W - LEFT - 12.0, H - TOP - BOTTOM);
    let px = |i: usize| LEFT + if windows > 1 { pw * i as f64 / (windows - 1) as f64 } else { pw / 2.0 };
    let py = |v: f64| TOP + ph - ph * v / top;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"plot\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\">",
        esc(title)
    );
    let _ = write!(out, "<text x=\"{LEFT}\" y=\"16\" font-size=\"13\" font-weight=\"600\">{}</text>", esc(title));
    for k in 0..=4 {
        let v = top * k as f64 / 4.0;
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"#e6e6e6\"/><text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
            c(LEFT + pw),
            c(py(v)),
            c(py(v)),
            c(LEFT - 4.0),
            c(py(v) + 3.0),
            num(v)
        );
    }
    let _ = write!(
        out,
        "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"#cf222e\" stroke-dasharray=\"5 4\"/>",
        c(LEFT + pw),
        c(py(threshold)),
        c(py(threshold))
    );
    for i in 0..windows {
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{i}</text>",
            c(px(i)),
            c(TOP + ph + 14.0)
        );
    }
    for (k, (name, values)) in series.iter().enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(i, v)| format!("{},{}", c(px(i)), c(py(*v))))
            .collect();
        let _ = write!(
            out,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
            points.join(" ")
        );
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"10\" fill=\"{colour}\">{}</text>",
            c(LEFT + 4.0 + 120.0 * (k % 4) as f64),
            c(H - 8.0 - 12.0 * (k / 4) as f64),
            esc(&name.chars().take(22).collect::<String>())
        );
    }
    out.push_str("</svg>");
    out
}
