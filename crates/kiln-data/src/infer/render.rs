//! The starter config's validation bounds and its TOML text, each inferred value with a
//! comment saying why.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use kiln_core::schema::{DType, Role, Task};

use super::{ColumnGuess, Flag, MAX_LISTED_VALUES, Starter, no_missing, share_bounds};
use crate::config::{ColumnExpectation, FileFormat, ValidationConfig};
use crate::error::Result;

/// Slices suggested in `[evaluation]` (the first few small categorical columns).
const MAX_SLICES: usize = 3;

/// The `[validation]` section: bounds taken from the data, with a margin where new data
/// may differ.
pub(super) fn validation(
    guesses: &[ColumnGuess],
    n_rows: usize,
    class_counts: &[u64],
    task: Task,
    positive: Option<usize>,
    duplicate_fraction: f64,
) -> Result<ValidationConfig> {
    let worst_missing =
        guesses.iter().filter(|g| g.role != Role::Drop).map(|g| g.summary.missing_fraction).fold(0.0, f64::max);
    let mut columns = BTreeMap::new();
    for g in guesses {
        let expectation = match g.role {
            Role::Numeric => range(g),
            Role::Target if task == Task::Regression => ColumnExpectation { max_missing: Some(0.0), ..range(g) },
            Role::Target => no_missing(),
            Role::Categorical if listed(g) => ColumnExpectation {
                allowed: Some(sorted(g.summary.top.iter().map(|t| t.value.clone()).collect())),
                ..Default::default()
            },
            _ => continue,
        };
        columns.insert(g.name.clone(), expectation);
    }
    let total: u64 = class_counts.iter().sum();
    let share = |c: u64| c as f64 / total.max(1) as f64;
    let class_balance = match (task, positive) {
        (Task::Binary, Some(p)) => Some(share_bounds(share(class_counts[p]), share(class_counts[p]))),
        (Task::Multiclass, _) => {
            let low = class_counts.iter().map(|c| share(*c)).fold(1.0, f64::min);
            let high = class_counts.iter().map(|c| share(*c)).fold(0.0, f64::max);
            Some(share_bounds(low, high))
        }
        _ => None,
    };
    Ok(ValidationConfig {
        max_missing: Some(((worst_missing * 100.0).ceil() / 100.0 + 0.05).min(1.0)),
        min_rows: Some((n_rows as u64 / 2).max(1)),
        max_duplicate_fraction: Some(((duplicate_fraction * 1000.0).ceil() / 1000.0 + 0.001).min(1.0)),
        class_balance,
        columns,
        ..ValidationConfig::default()
    })
}

fn sorted(mut values: Vec<String>) -> Vec<String> {
    values.sort();
    values
}

fn range(g: &ColumnGuess) -> ColumnExpectation {
    let summary = g.summary.numeric.as_ref();
    ColumnExpectation { min: summary.map(|n| n.min), max: summary.map(|n| n.max), ..Default::default() }
}

/// Whether a categorical column's values are few enough to list (text and true/false only:
/// whole-number codes are listed by their range in the data instead).
fn listed(g: &ColumnGuess) -> bool {
    g.role == Role::Categorical && g.dtype != DType::Int && g.summary.distinct <= MAX_LISTED_VALUES
}

/// Features named like attributes that anti-discrimination law protects.
fn protected_features(s: &Starter) -> Vec<String> {
    s.guesses
        .iter()
        .filter(|g| g.role.is_feature() && super::signal::protected_name(&g.name))
        .map(|g| g.name.clone())
        .collect()
}

/// A TOML string.
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A TOML key: bare when it can be.
fn key(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        s.to_string()
    } else {
        q(s)
    }
}

/// A number as TOML: whole numbers of an int column as integers, floats so that they read back
/// exactly.
fn number(v: f64, dtype: DType) -> String {
    if dtype == DType::Int && v.fract() == 0.0 && v.abs() < 9.0e15 { format!("{}", v as i64) } else { format!("{v:?}") }
}

fn pct(f: f64) -> String {
    format!("{:.1}%", f * 100.0)
}

/// `name = value` padded so that the comment lines up.
fn line(out: &mut String, text: &str, comment: &str) {
    if comment.is_empty() {
        let _ = writeln!(out, "{text}");
    } else {
        let _ = writeln!(out, "{text:<34} # {comment}");
    }
}

/// The whole config text.
pub(super) fn render(s: &Starter) -> String {
    let mut out = String::new();
    let n_cols = s.guesses.len();
    let _ = writeln!(
        out,
        "# Starter config written by `kiln init` from {} ({} rows, {n_cols} columns).",
        s.source.display(),
        s.n_rows
    );
    let _ = writeln!(out, "# Every inferred choice says why in a comment: check them, edit what is wrong, then");
    let _ = writeln!(out, "# `kiln data validate` and `kiln run` this file.");
    flagged_summary(&mut out, s);
    project(&mut out, s);
    data(&mut out, s);
    columns(&mut out, s);
    validation_text(&mut out, s);
    split_and_preprocess(&mut out, s);
    models(&mut out, s.project.task);
    evaluation(&mut out, s);
    acceptance(&mut out, s);
    out
}

fn flagged_summary(out: &mut String, s: &Starter) {
    let flagged: Vec<&ColumnGuess> = s.guesses.iter().filter(|g| g.flag.is_some()).collect();
    if flagged.is_empty() {
        return;
    }
    let _ = writeln!(out, "#\n# Columns kept out of the features (see their comments under [columns]):");
    for g in flagged {
        let what = match &g.flag {
            Some(Flag::Constant) => "constant",
            Some(Flag::IdLike { .. }) => "id-like",
            Some(Flag::PersonalData { .. }) => "PERSONAL DATA",
            Some(Flag::Leakage(_)) => "POSSIBLE LEAKAGE",
            Some(Flag::HighCardinality) => "high-cardinality text",
            None => continue,
        };
        let _ = writeln!(out, "#   {:<24} {what}", g.name);
    }
}

fn project(out: &mut String, s: &Starter) {
    let p = &s.project;
    let _ = writeln!(out, "\n[project]");
    line(out, &format!("name = {}", q(&p.name)), "from the file name");
    line(out, &format!("task = {}", q(p.task.as_str())), &s.task_reason);
    if let Some(d) = &p.description {
        line(out, &format!("description = {}", q(d)), "");
    }
    line(out, &format!("seed = {}", p.seed), "every random step (split, training) derives from it");
}

fn data(out: &mut String, s: &Starter) {
    let d = &s.data;
    let _ = writeln!(out, "\n[data]");
    line(out, &format!("train = {}", q(&d.train.display().to_string())), "relative to this file");
    let format = if d.format == Some(FileFormat::Parquet) { "parquet" } else { "csv" };
    line(out, &format!("format = {}", q(format)), "from the file extension");
    if d.format == Some(FileFormat::Csv) {
        line(out, "header = true", "the first line names the columns");
        line(out, &format!("separator = {}", q(&d.separator)), "");
        if d.missing.is_empty() {
            let _ = writeln!(
                out,
                "# missing = [\"NA\", \"?\"]           # markers of a missing value, if the file has any"
            );
        } else {
            let listed: Vec<String> = d.missing.iter().map(|v| q(v)).collect();
            line(
                out,
                &format!("missing = [{}]", listed.join(", ")),
                "the only non-numbers in otherwise numeric columns: taken for missing values",
            );
        }
    }
}

fn string_list(out: &mut String, name: &str, guesses: &[&ColumnGuess]) {
    if guesses.is_empty() {
        return;
    }
    let _ = writeln!(out, "{name} = [");
    for g in guesses {
        line(out, &format!("  {},", q(&g.name)), &g.reason);
    }
    let _ = writeln!(out, "]");
}

fn columns(out: &mut String, s: &Starter) {
    let c = &s.columns;
    let _ = writeln!(out, "\n[columns]");
    line(out, &format!("target = {}", q(&c.target)), &s.target_reason);
    if let Some(classes) = &c.classes {
        let listed: Vec<String> = classes.iter().map(|v| q(v)).collect();
        let counts: Vec<String> = classes.iter().zip(&s.class_counts).map(|(k, n)| format!("{k}: {n}")).collect();
        line(
            out,
            &format!("classes = [{}]", listed.join(", ")),
            &format!("every label in the data ({})", counts.join(", ")),
        );
    }
    if let (Some(positive), Some(classes)) = (&c.positive, &c.classes) {
        let idx = classes.iter().position(|k| k == positive).expect("positive is a class");
        let total: u64 = s.class_counts.iter().sum();
        let share = s.class_counts[idx] as f64 / total.max(1) as f64;
        line(
            out,
            &format!("positive = {}", q(positive)),
            &format!(
                "the minority class ({} of {total} rows, {}): usually the case to find; swap if the other is",
                s.class_counts[idx],
                pct(share)
            ),
        );
    }
    let by_role = |role: Role| s.guesses.iter().filter(|g| g.role == role).collect::<Vec<_>>();
    string_list(out, "numeric", &by_role(Role::Numeric));
    string_list(out, "categorical", &by_role(Role::Categorical));
    string_list(out, "id", &by_role(Role::Id));
    if !c.id.is_empty() {
        let _ = writeln!(out, "# ids are kept to join predictions back to rows, never used as features");
    }
    string_list(out, "drop", &by_role(Role::Drop));
    if !c.pii.is_empty() {
        let listed: Vec<String> = c.pii.iter().map(|v| q(v)).collect();
        line(
            out,
            &format!("pii = [{}]", listed.join(", ")),
            "personal data: a feature only if also listed in allow_as_feature",
        );
    }
    let protected = protected_features(s);
    if !protected.is_empty() {
        let listed: Vec<String> = protected.iter().map(|v| q(v)).collect();
        let _ = writeln!(
            out,
            "# {} look(s) like protected attributes: to check fairness across them, uncomment",
            protected.join(", ")
        );
        let _ = writeln!(out, "# protected = [{}]", listed.join(", "));
        let _ = writeln!(out, "# allow_as_feature = [{}]      # to keep them features too", listed.join(", "));
    }
    if !c.types.is_empty() {
        let _ = writeln!(out, "\n[columns.types]                    # the storage types found in the file");
        for (name, dtype) in &c.types {
            line(out, &format!("{} = {}", key(name), q(dtype.as_str())), "");
        }
    }
}

fn validation_text(out: &mut String, s: &Starter) {
    let v = &s.validation;
    let _ = writeln!(out, "\n# Expectations taken from this file; `kiln data validate` checks every row against them.");
    let _ = writeln!(out, "[validation]");
    if let Some(n) = v.min_rows {
        line(
            out,
            &format!("min_rows = {n}"),
            &format!("half the {} rows here: a much smaller file is likely cut short", s.n_rows),
        );
    }
    if let Some(m) = v.max_missing {
        line(out, &format!("max_missing = {m:?}"), "the largest missing share of a kept column here, plus 5 points");
    }
    if let Some(m) = v.max_duplicate_fraction {
        line(
            out,
            &format!("max_duplicate_fraction = {m:?}"),
            "the share of repeated rows here (ids aside), plus 0.1 point",
        );
    }
    if let Some(b) = v.class_balance {
        let what = if s.project.task == Task::Binary { "the positive class's share" } else { "every class's share" };
        line(
            out,
            &format!("class_balance = {{ min = {:?}, max = {:?} }}", b.min.unwrap_or(0.0), b.max.unwrap_or(1.0)),
            &format!("{what} here, from half to one and a half times"),
        );
    }
    for (name, e) in &v.columns {
        let g = s.guess(name).expect("validation names a column of the file");
        let why = if e.allowed.is_some() {
            "every value seen here"
        } else if e.min.is_some() {
            "the range seen here"
        } else {
            ""
        };
        let _ = writeln!(out);
        line(out, &format!("[validation.columns.{}]", key(name)), why);
        if let Some(min) = e.min {
            line(out, &format!("min = {}", number(min, g.dtype)), "");
        }
        if let Some(max) = e.max {
            line(out, &format!("max = {}", number(max, g.dtype)), "");
        }
        if let Some(allowed) = &e.allowed {
            let listed: Vec<String> = allowed.iter().map(|v| q(v)).collect();
            line(out, &format!("allowed = [{}]", listed.join(", ")), "");
        }
        if let Some(m) = e.max_missing {
            line(
                out,
                &format!("max_missing = {m:?}"),
                if g.role == Role::Target { "every row needs a label" } else { "" },
            );
        }
    }
}

fn split_and_preprocess(out: &mut String, s: &Starter) {
    let sp = &s.split;
    let _ = writeln!(out, "\n[split]");
    let (method, why) = match sp.method {
        crate::config::SplitMethod::Stratified => {
            ("stratified", "no separate test file: test rows are carved out, keeping the class shares")
        }
        _ => ("random", "no separate test file: test rows are carved out at random"),
    };
    line(out, &format!("method = {}", q(method)), why);
    line(out, &format!("test_fraction = {:?}", sp.test_fraction), "");
    line(
        out,
        &format!("validation_fraction = {:?}", sp.validation_fraction),
        "carved from the training rows (early stopping)",
    );
    if !s.columns.id.is_empty() {
        let _ = writeln!(
            out,
            "# method = \"key_hash\" with key = {} keeps a row on its side as new rows arrive",
            q(&s.columns.id[0])
        );
    }
    let _ = writeln!(out, "\n[preprocess]                       # kiln's defaults");
    let _ = writeln!(out, "encoding = \"one_hot\"\nimpute = \"mean\"\nscale = \"standard\"\nmin_frequency = 10");
}

fn models(out: &mut String, task: Task) {
    let _ = writeln!(out, "\n# The models to compare, baseline first: what a team has before any ML.");
    let prior = if task == Task::Regression { "predicts the mean" } else { "predicts the class shares" };
    let _ = writeln!(out, "[[models]]\nkind = \"prior\"                     # {prior}");
    let _ = writeln!(
        out,
        "\n[[models]]\nkind = \"linear\"\nname = \"linear\"\nl2 = 0.0001\nepochs = 20\nbatch_size = 256\nlr = 0.01"
    );
    let _ = writeln!(
        out,
        "\n# Gradient-boosted trees with LightGBM's defaults (100 rounds, learning rate 0.1, 31 leaves)."
    );
    let _ = writeln!(out, "[[models]]\nkind = \"gbdt\"\nname = \"gbdt\"");
    let _ = writeln!(
        out,
        "\n[[models]]\nkind = \"mlp\"\nname = \"mlp\"\nhidden = [256, 256]\nactivation = \"relu\"\ndropout = 0.1\nepochs = 10\nbatch_size = 512\nlr = 0.001\nweight_decay = 0.0001"
    );
    let _ =
        writeln!(out, "\n# The tabular ResNet (Gorishniy et al. 2021), an 8-wide embedding per categorical column.");
    let _ = writeln!(
        out,
        "[[models]]\nkind = \"resnet\"\nname = \"resnet\"\nepochs = 10\nbatch_size = 512\nweight_decay = 0.0001\nembedding_dim = 8"
    );
}

fn evaluation(out: &mut String, s: &Starter) {
    let _ = writeln!(out, "\n# Every metric of the task on the test rows, with 95% bootstrap intervals.");
    let _ = writeln!(out, "[evaluation]");
    if s.project.task == Task::Binary {
        line(out, "threshold = 0.5", "predicted positive when the score is at least this");
    }
    line(out, "min_slice_size = 30", "smaller slices are reported as suppressed");
    let _ = writeln!(out, "ci = {{ method = \"bootstrap\", replicates = 1000, level = 0.95, seed = 7 }}");
    let slices: Vec<&ColumnGuess> = s.guesses.iter().filter(|g| listed(g)).take(MAX_SLICES).collect();
    for g in slices {
        let _ = writeln!(
            out,
            "\n[[evaluation.slices]]              # a categorical column with {} values",
            g.summary.distinct
        );
        let _ = writeln!(out, "by = [{}]", q(&g.name));
    }
}

fn acceptance(out: &mut String, s: &Starter) {
    let _ =
        writeln!(out, "\n# What a model must show before it may ship. These are floors to raise: set them from what");
    let _ = writeln!(out, "# the business needs. Floors are checked against the lower end of the 95% interval.");
    let _ = writeln!(out, "[acceptance]\ndecide_by = \"ci\"");
    match s.project.task {
        Task::Binary => {
            let _ = writeln!(out, "\n[[acceptance.metrics]]\nmetric = \"roc_auc\"");
            line(out, "min = 0.6", "0.5 is a coin toss");
            let _ =
                writeln!(out, "\n[acceptance.baseline]              # beat the best baseline (the prior scores 0.5)");
            let _ = writeln!(out, "metric = \"roc_auc\"\nmin_lift = 0.02");
        }
        Task::Multiclass => {
            let total: u64 = s.class_counts.iter().sum();
            let majority = s.class_counts.iter().copied().max().unwrap_or(0) as f64 / total.max(1) as f64;
            let _ = writeln!(out, "\n[[acceptance.metrics]]\nmetric = \"accuracy\"");
            line(
                out,
                &format!("min = {:?}", (majority * 100.0).floor() / 100.0),
                &format!("always guessing the largest class scores {}", pct(majority)),
            );
            let _ = writeln!(out, "\n[acceptance.baseline]              # lower log loss than the class shares alone");
            let _ = writeln!(out, "metric = \"log_loss\"\nmin_lift = 0.01");
        }
        Task::Regression => {
            let _ = writeln!(out, "\n[[acceptance.metrics]]\nmetric = \"r2\"");
            line(out, "min = 0.1", "0 is what predicting the mean scores");
            let _ = writeln!(out, "\n[acceptance.baseline]              # explain more variance than the mean alone");
            let _ = writeln!(out, "metric = \"r2\"\nmin_lift = 0.05");
        }
    }
    if let Some(first) = protected_features(s).first()
        && s.project.task == Task::Binary
    {
        let _ = writeln!(out, "\n# With columns.protected set, a fairness gate:");
        let _ = writeln!(
            out,
            "# [[acceptance.fairness]]\n# metric = \"equalized_odds_difference\"\n# column = {}\n# max = 0.10",
            q(first)
        );
    }
    let _ = writeln!(out, "\n# [acceptance.budget]\n# max_latency_p95_ms = 20.0\n# max_size_mb = 50");
}
