//! The Markdown and HTML renderings of a report evaluated on seeded synthetic data.

#[path = "../examples/support/synthetic.rs"]
#[allow(dead_code)]
mod synthetic;

use std::sync::OnceLock;

use kiln_eval::render;
use kiln_eval::report::EvalReport;

/// Bootstrap replicates: enough for intervals, few enough for a quick test.
const REPLICATES: usize = 40;

fn report_5k() -> &'static EvalReport {
    static REPORT: OnceLock<EvalReport> = OnceLock::new();
    REPORT.get_or_init(|| synthetic::report(5_000, 42, REPLICATES))
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// The text of every `<svg …>…</svg>` element.
fn svgs(html: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<svg") {
        let Some(len) = rest[start..].find("</svg>") else { break };
        out.push(&rest[start..start + len + "</svg>".len()]);
        rest = &rest[start + len..];
    }
    out
}

/// The numbers inside every coordinate-like attribute and `points` list of an SVG.
fn coordinates(svg: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for attr in [
        " x=\"",
        " y=\"",
        " x1=\"",
        " x2=\"",
        " y1=\"",
        " y2=\"",
        " cx=\"",
        " cy=\"",
        " r=\"",
        " points=\"",
        " width=\"",
        " height=\"",
    ] {
        let mut rest = svg;
        while let Some(i) = rest.find(attr) {
            let value = &rest[i + attr.len()..];
            let end = value.find('"').unwrap_or(value.len());
            out.extend(value[..end].split([' ', ',']).filter(|s| !s.is_empty()));
            rest = &value[end..];
        }
    }
    out
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn the_synthetic_report_has_the_expected_shape() {
    let report = report_5k();
    assert_eq!(report.models.len(), 3);
    assert_eq!(report.models[0].slicings.len(), 3, "overall, region, plan");
    let prior = &report.verdicts[0];
    assert!(!prior.passed, "the prior baseline fails the ROC AUC floor");
    let boosted = report.verdicts.iter().find(|v| v.model == "boosted").expect("boosted verdict");
    assert_eq!(boosted.n_failed, 1, "the boosted model fails its latency budget only");
    assert_eq!(report.chosen.as_deref(), Some("logistic"));
}

#[test]
fn markdown_lists_failures_and_slices() {
    let report = report_5k();
    let md = render::markdown(report);
    assert!(md.starts_with("# Evaluation report: churn &lt;demo&gt;\n"), "{}", &md[..80]);
    assert!(md.contains("| Chosen model | **logistic** |"));
    // The budget failure, with its value, threshold and what decided it.
    assert!(md.contains("### Failures of boosted"));
    assert!(md.contains("| budget | latency_p95_ms | model | 1.620 | <= 1 | point estimate | 1.620 |"), "{md}");
    // A metric failure decided by the interval's lower bound.
    assert!(md.contains("| metric | roc_auc | overall | 0.5000 | >= 0.7 | CI lower bound |"), "{md}");
    assert!(md.contains("| boosted | **FAIL** | 11 | 1 |"));
    // Slice rows with their intervals, the suppressed slice marked, the odd value escaped.
    let logistic = &report.models[1];
    let east = &logistic.slicings[1].slices[2];
    assert_eq!(east.value, "east");
    let auc = east.metrics["roc_auc"];
    let cell = format!(
        "{:.4} [{:.4}, {:.4}]",
        auc.value.expect("auc"),
        auc.ci.expect("interval").lo,
        auc.ci.expect("interval").hi
    );
    assert!(md.contains(&format!("| region | east | {} |  | {cell} |", thousands(east.n))), "{cell}\n{md}");
    assert!(md.contains("| plan | trial | 12 | yes (< 30) | — |"));
    assert!(md.contains("| region | &lt;b&gt;&amp;\"x\" |"));
    assert!(!md.contains("<b>") && !md.contains("<demo>"));
    // The comparison table has every model, with costs.
    assert!(md.contains("| boosted | gradient_boosting | 0.8"));
    assert!(md.contains("| 45.2 | 0.41 / 1.62 | 31.5 / 42.8 | 2.412 MB | 183,250 |"), "{md}");
    // Per model: confusion matrix and confident errors, pii masked upstream.
    assert_eq!(count(&md, "### Confusion matrix (overall)"), 3);
    assert_eq!(count(&md, "### Most confident errors (overall)"), 3);
    assert!(md.contains("| *** |") || md.contains("| \\*\\*\\* |"));
}

#[test]
fn html_is_self_contained_balanced_and_escaped() {
    let report = report_5k();
    let html = render::html(report);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    // Offline: nothing is fetched and nothing runs.
    for banned in ["<script", "<link", "<img", "http://", "https://", "url(", "@import"] {
        let allowed_ns = banned == "http://" && count(&html, banned) == count(&html, "http://www.w3.org/2000/svg");
        assert!(allowed_ns || !html.contains(banned), "the page contains {banned}");
    }
    // Balanced elements.
    for tag in ["svg", "table", "section", "tr", "td", "text", "g", "title"] {
        let opened = count(&html, &format!("<{tag}>")) + count(&html, &format!("<{tag} "));
        let closed = count(&html, &format!("</{tag}>"));
        assert_eq!(opened, closed, "<{tag}> opened {opened} times, closed {closed} times");
    }
    // One ROC and one calibration plot per model and non-overall slicing, a forest plot per
    // model and one for the comparison, learning curves for the models that have them.
    for model in &report.models {
        let attr = format!("data-model=\"{}\"", model.name);
        let of_model: Vec<&str> = svgs(&html).into_iter().filter(|s| s.contains(&attr)).collect();
        let roc = of_model.iter().filter(|s| s.contains("class=\"plot roc\"")).count();
        let cal = of_model.iter().filter(|s| s.contains("class=\"plot calibration\"")).count();
        assert_eq!((roc, cal), (2, 2), "{}", model.name);
    }
    assert_eq!(count(&html, "class=\"plot forest\""), 3);
    assert_eq!(count(&html, "class=\"plot forest comparison\""), 1);
    assert_eq!(count(&html, "class=\"plot learning\""), 2);
    // Coordinates are finite numbers with at most one decimal.
    for svg in svgs(&html) {
        for v in coordinates(svg) {
            let parsed: f64 = v.parse().unwrap_or_else(|_| panic!("coordinate {v:?} is not a number"));
            assert!(parsed.is_finite(), "coordinate {v}");
            assert!(v.split('.').nth(1).is_none_or(|d| d.len() <= 1), "coordinate {v} has more than one decimal");
        }
        assert!(!svg.contains("NaN") && !svg.contains("inf\""), "non-finite value in an svg");
    }
    // User values are escaped everywhere.
    assert!(!html.contains("<b>&"));
    assert!(html.contains("&lt;b&gt;&amp;&quot;x&quot;"));
    assert!(html.contains("<title>Evaluation report: churn &lt;demo&gt;</title>"));
    // Verdict badges.
    assert_eq!(
        count(&html, "<span class=\"badge fail\">FAIL · 1</span>"),
        3,
        "verdict table, comparison, model heading"
    );
    assert!(html.contains("<span class=\"badge pass\">PASS</span>"));
}

#[test]
fn rendering_is_deterministic() {
    let report = report_5k();
    assert_eq!(render::html(report), render::html(report));
    assert_eq!(render::markdown(report), render::markdown(report));
    let again = synthetic::report(5_000, 42, REPLICATES);
    assert_eq!(render::html(report), render::html(&again));
}

#[test]
fn size_does_not_grow_with_rows() {
    let small = render::html(report_5k());
    let large_report = synthetic::report(50_000, 42, REPLICATES);
    let large = render::html(&large_report);
    let ratio = large.len() as f64 / small.len() as f64;
    assert!((ratio - 1.0).abs() < 0.02, "5,000 rows: {} bytes; 50,000 rows: {} bytes", small.len(), large.len());
    let (md_small, md_large) = (render::markdown(report_5k()), render::markdown(&large_report));
    let md_ratio = md_large.len() as f64 / md_small.len() as f64;
    assert!((md_ratio - 1.0).abs() < 0.03, "markdown: {} vs {} bytes", md_small.len(), md_large.len());
}

#[test]
fn empty_and_missing_parts_render() {
    let mut report = report_5k().clone();
    for m in &mut report.models {
        m.learning_curve.clear();
        m.worst_slices.clear();
        m.fairness.clear();
        for slicing in &mut m.slicings {
            for s in &mut slicing.slices {
                s.roc.clear();
                s.calibration.clear();
                s.confusion = None;
                s.confident_errors.clear();
                for v in s.metrics.values_mut() {
                    v.value = None;
                    v.ci = None;
                }
            }
        }
    }
    report.verdicts.clear();
    report.comparisons.clear();
    report.chosen = None;
    let html = render::html(&report);
    let md = render::markdown(&report);
    assert!(html.contains("No ROC curves"));
    assert!(html.contains("no values to plot"));
    assert!(md.contains("No acceptance checks were configured."));
    assert!(md.contains("none: no model passed every check"));
    for svg in svgs(&html) {
        assert!(!svg.contains("NaN"));
    }
    report.models.clear();
    assert!(render::html(&report).contains("</html>"));
    assert!(render::markdown(&report).contains("## Model comparison"));
}

#[test]
fn comparisons_and_fairness_render_when_present() {
    use std::collections::BTreeMap;

    use kiln_eval::ci::Interval;
    use kiln_eval::report::{Comparison, FairnessGroup, FairnessSummary};

    let mut report = report_5k().clone();
    report.comparisons = vec![Comparison {
        model: "boosted".into(),
        baseline: "prior".into(),
        metric: "roc_auc".into(),
        lift: 0.362,
        lift_ci: Some(Interval { lo: 0.351, hi: 0.3725 }),
        bootstrap_p: Some(0.0),
        delong_p: Some(2.5e-9),
        mcnemar_p: Some(0.0312),
    }];
    let mut gaps = BTreeMap::new();
    gaps.insert(
        "demographic_parity_difference".to_string(),
        BTreeMap::from([("between_groups".to_string(), Some(0.0812)), ("to_overall".to_string(), None)]),
    );
    report.models[2].fairness = vec![FairnessSummary {
        column: "region".into(),
        groups: vec![
            FairnessGroup {
                group: "north".into(),
                n: 1481,
                selection_rate: Some(0.41),
                tpr: Some(0.8),
                fpr: Some(0.12),
            },
            FairnessGroup { group: "<b>&\"x\"".into(), n: 500, selection_rate: None, tpr: None, fpr: None },
        ],
        gaps,
    }];
    let md = render::markdown(&report);
    assert!(md.contains("| 0.3620 [0.3510, 0.3725] vs prior | < 0.0001 | < 0.0001 | 0.03120 |"), "{md}");
    assert!(md.contains("Protected column **region**"));
    assert!(md.contains("| north | 1,481 | 0.4100 | 0.8000 | 0.1200 |"));
    assert!(md.contains("| &lt;b&gt;&amp;\"x\" | 500 | — | — | — |"));
    assert!(md.contains("| demographic_parity_difference | 0.08120 | — |"));
    let html = render::html(&report);
    assert!(html.contains(
        "<td class=\"num\">0.3620<span class=\"ci\">[0.3510, 0.3725]</span><span class=\"ci\">vs prior</span></td>"
    ));
    assert!(html.contains("<h4>Protected column region</h4>"));
    assert!(html.contains("<td>&lt;b&gt;&amp;&quot;x&quot;</td><td class=\"num\">500</td>"));
    assert!(!html.contains("No paired comparison"));
}
