//! The drift tests by name, as Evidently names them, with each one's default threshold and
//! drift rule, and Evidently's default choice of test by column kind, reference size and
//! number of distinct values (`get_stattest`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A drift test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatTest {
    /// Two-sample Kolmogorov-Smirnov (numeric; p-value).
    Ks,
    /// First Wasserstein distance normed by the reference's standard deviation (numeric).
    Wasserstein,
    /// Population stability index (numeric or categorical).
    Psi,
    /// Jensen-Shannon distance (numeric or categorical).
    #[serde(rename = "jensenshannon")]
    JensenShannon,
    /// Chi-squared goodness of fit (categorical; p-value).
    #[serde(rename = "chisquare")]
    ChiSquare,
    /// Hellinger distance (numeric or categorical).
    Hellinger,
    /// Z-test for two proportions (binary categorical; p-value).
    Z,
}

/// What a test's score is, which decides its drift rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreKind {
    /// A p-value: drift when it is small.
    PValue,
    /// A distance: drift when it is large.
    Distance,
}

/// A column's kind as the tests see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureKind {
    /// Numbers.
    Numeric,
    /// Categories.
    Categorical,
}

impl StatTest {
    /// Every test, in the order the error messages list them.
    pub const ALL: [StatTest; 7] = [
        StatTest::Ks,
        StatTest::Wasserstein,
        StatTest::Psi,
        StatTest::JensenShannon,
        StatTest::ChiSquare,
        StatTest::Hellinger,
        StatTest::Z,
    ];

    /// The name configs use (Evidently's).
    pub fn name(self) -> &'static str {
        match self {
            StatTest::Ks => "ks",
            StatTest::Wasserstein => "wasserstein",
            StatTest::Psi => "psi",
            StatTest::JensenShannon => "jensenshannon",
            StatTest::ChiSquare => "chisquare",
            StatTest::Hellinger => "hellinger",
            StatTest::Z => "z",
        }
    }

    /// Whether the score is a p-value or a distance.
    pub fn score_kind(self) -> ScoreKind {
        match self {
            StatTest::Ks | StatTest::ChiSquare | StatTest::Z => ScoreKind::PValue,
            _ => ScoreKind::Distance,
        }
    }

    /// Evidently's default threshold: 0.05 for the p-value tests, 0.1 for the distances.
    pub fn default_threshold(self) -> f64 {
        match self.score_kind() {
            ScoreKind::PValue => 0.05,
            ScoreKind::Distance => 0.1,
        }
    }

    /// Evidently's drift rule: KS drifts when p <= threshold, chi-squared and Z when
    /// p < threshold, the distances when d >= threshold.
    pub fn drifted(self, score: f64, threshold: f64) -> bool {
        match self {
            StatTest::Ks => score <= threshold,
            StatTest::ChiSquare | StatTest::Z => score < threshold,
            _ => score >= threshold,
        }
    }

    /// Whether the test takes columns of this kind (Evidently's allowed types; its default
    /// choice also gives chi-squared and Z to numeric columns of few values, tested by their
    /// value counts, so those take numeric columns too).
    pub fn accepts(self, kind: FeatureKind) -> bool {
        !matches!((self, kind), (StatTest::Ks | StatTest::Wasserstein, FeatureKind::Categorical))
    }

    /// Evidently's default test for a column: by kind, reference size (after dropping missing
    /// values) and the number of distinct values of both sides together.
    pub fn default_for(kind: FeatureKind, reference_rows: u64, n_distinct: usize) -> StatTest {
        let few = |n: usize| if n > 2 { StatTest::ChiSquare } else { StatTest::Z };
        match (kind, reference_rows <= 1000) {
            (FeatureKind::Numeric, true) if n_distinct <= 5 => few(n_distinct),
            (FeatureKind::Numeric, true) => StatTest::Ks,
            (FeatureKind::Categorical, true) => few(n_distinct),
            (FeatureKind::Numeric, false) if n_distinct <= 5 => StatTest::JensenShannon,
            (FeatureKind::Numeric, false) => StatTest::Wasserstein,
            (FeatureKind::Categorical, false) => StatTest::JensenShannon,
        }
    }
}

impl fmt::Display for StatTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for StatTest {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self> {
        StatTest::ALL.into_iter().find(|test| test.name() == name).ok_or_else(|| Error::UnknownStatTest {
            name: name.to_string(),
            choices: StatTest::ALL.map(StatTest::name).join(", "),
        })
    }
}

impl fmt::Display for FeatureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FeatureKind::Numeric => "numeric",
            FeatureKind::Categorical => "categorical",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_serialise_and_carry_evidently_defaults() {
        for test in StatTest::ALL {
            assert_eq!(test.name().parse::<StatTest>().expect("own name"), test);
            let json = serde_json::to_string(&test).expect("serialises");
            assert_eq!(json, format!("\"{}\"", test.name()));
            let expected = if matches!(test, StatTest::Ks | StatTest::ChiSquare | StatTest::Z) { 0.05 } else { 0.1 };
            assert_eq!(test.default_threshold(), expected, "{test}");
        }
        // At the threshold itself: KS drifts (p <= t), chi-squared and Z do not (p < t),
        // distances do (d >= t).
        assert!(StatTest::Ks.drifted(0.05, 0.05));
        assert!(!StatTest::ChiSquare.drifted(0.05, 0.05));
        assert!(!StatTest::Z.drifted(0.05, 0.05));
        assert!(StatTest::Psi.drifted(0.1, 0.1));
        assert!(!StatTest::Hellinger.drifted(0.099, 0.1));
    }

    #[test]
    fn default_choice_follows_evidently() {
        use FeatureKind::{Categorical, Numeric};
        assert_eq!(StatTest::default_for(Numeric, 1000, 6), StatTest::Ks);
        assert_eq!(StatTest::default_for(Numeric, 1000, 5), StatTest::ChiSquare);
        assert_eq!(StatTest::default_for(Numeric, 1000, 2), StatTest::Z);
        assert_eq!(StatTest::default_for(Numeric, 1001, 6), StatTest::Wasserstein);
        assert_eq!(StatTest::default_for(Numeric, 1001, 5), StatTest::JensenShannon);
        assert_eq!(StatTest::default_for(Categorical, 1000, 3), StatTest::ChiSquare);
        assert_eq!(StatTest::default_for(Categorical, 1000, 2), StatTest::Z);
        assert_eq!(StatTest::default_for(Categorical, 1001, 2), StatTest::JensenShannon);
        assert!(!StatTest::Ks.accepts(Categorical) && !StatTest::Wasserstein.accepts(Categorical));
        assert!(StatTest::ChiSquare.accepts(Numeric) && StatTest::Psi.accepts(Categorical));
    }
}
