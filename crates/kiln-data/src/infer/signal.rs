//! The measures `kiln init` uses to flag columns: how well one column alone predicts the
//! target (leakage), and whether a column's name or values look like personal data or ids.

use std::collections::HashMap;

/// How well one feature alone predicts the target, and the measure used.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Signal {
    pub measure: Measure,
    pub score: f64,
}

/// A single-feature measure of predictive power, each in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Share of rows whose label is the majority label of their feature value.
    Purity,
    /// Share of neighbouring rows, in the order of a numeric feature, with the same label
    /// (multiclass targets).
    NeighbourAgreement,
    /// ROC AUC of the raw value for the positive class, folded so that 0.5 is no signal and
    /// 1 a perfect threshold (max(auc, 1 - auc)).
    ThresholdAuc,
    /// Squared Pearson correlation with a numeric target.
    RSquared,
    /// Share of the target's variance explained by the feature's values (η², the R² of
    /// predicting each row by its group mean).
    EtaSquared,
}

impl Measure {
    pub fn as_str(self) -> &'static str {
        match self {
            Measure::Purity => "majority-label purity",
            Measure::NeighbourAgreement => "label agreement of neighbours in value order",
            Measure::ThresholdAuc => "single-threshold AUC",
            Measure::RSquared => "R² of a straight line",
            Measure::EtaSquared => "η² (variance explained by the values)",
        }
    }
}

/// Majority-label purity of `labels` grouped by `groups` (rows with a missing label are left
/// out; a missing feature value is a group of its own).
pub fn purity(groups: &[Option<u32>], labels: &[Option<u32>]) -> Option<f64> {
    let mut counts: HashMap<(Option<u32>, u32), u64> = HashMap::new();
    let mut n = 0u64;
    for (g, l) in groups.iter().zip(labels) {
        if let Some(l) = l {
            *counts.entry((*g, *l)).or_insert(0) += 1;
            n += 1;
        }
    }
    if n == 0 {
        return None;
    }
    let mut best: HashMap<Option<u32>, u64> = HashMap::new();
    for ((g, _), c) in counts {
        let b = best.entry(g).or_insert(0);
        *b = (*b).max(c);
    }
    Some(best.values().sum::<u64>() as f64 / n as f64)
}

/// max(AUC, 1 - AUC) of `values` for `positive` (rows where either is missing are left out),
/// with tied values sharing their average rank (the Mann-Whitney form).
pub fn threshold_auc(values: &[Option<f64>], positive: &[Option<bool>]) -> Option<f64> {
    let mut rows: Vec<(f64, bool)> =
        values.iter().zip(positive).filter_map(|(v, p)| Some(((*v)?, (*p)?))).filter(|(v, _)| v.is_finite()).collect();
    rows.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let n_pos = rows.iter().filter(|r| r.1).count() as f64;
    let n_neg = rows.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return None;
    }
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < rows.len() {
        let mut j = i;
        while j < rows.len() && rows[j].0 == rows[i].0 {
            j += 1;
        }
        // Ranks i+1 ..= j share their mean.
        let mean_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum += mean_rank * rows[i..j].iter().filter(|r| r.1).count() as f64;
        i = j;
    }
    let auc = (rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg);
    Some(auc.max(1.0 - auc))
}

/// Squared Pearson correlation of two numeric columns over rows where both are present.
pub fn r_squared(x: &[Option<f64>], y: &[Option<f64>]) -> Option<f64> {
    let pairs: Vec<(f64, f64)> = x
        .iter()
        .zip(y)
        .filter_map(|(a, b)| Some(((*a)?, (*b)?)))
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .collect();
    let n = pairs.len() as f64;
    if pairs.len() < 3 {
        return None;
    }
    let (mx, my) = (pairs.iter().map(|p| p.0).sum::<f64>() / n, pairs.iter().map(|p| p.1).sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in &pairs {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy * sxy / (sxx * syy))
}

/// η²: the share of `y`'s variance explained by the group means of `groups`.
pub fn eta_squared(groups: &[Option<u32>], y: &[Option<f64>]) -> Option<f64> {
    let rows: Vec<(Option<u32>, f64)> =
        groups.iter().zip(y).filter_map(|(g, v)| Some((*g, (*v)?))).filter(|(_, v)| v.is_finite()).collect();
    let n = rows.len() as f64;
    if rows.len() < 3 {
        return None;
    }
    let mean = rows.iter().map(|r| r.1).sum::<f64>() / n;
    let total: f64 = rows.iter().map(|r| (r.1 - mean) * (r.1 - mean)).sum();
    if total <= 0.0 {
        return None;
    }
    let mut sums: HashMap<Option<u32>, (f64, f64)> = HashMap::new();
    for (g, v) in &rows {
        let e = sums.entry(*g).or_insert((0.0, 0.0));
        e.0 += v;
        e.1 += 1.0;
    }
    let between: f64 = sums.values().map(|(s, c)| c * (s / c - mean) * (s / c - mean)).sum();
    Some(between / total)
}

/// Codes of `values` in first-seen order (missing stays missing).
pub fn codes<'a>(values: impl Iterator<Item = Option<&'a str>>) -> Vec<Option<u32>> {
    let mut seen: HashMap<&str, u32> = HashMap::new();
    values
        .map(|v| {
            let v = v?;
            let next = seen.len() as u32;
            Some(*seen.entry(v).or_insert(next))
        })
        .collect()
}

/// Share of neighbouring rows in value order that have the same label (rows where either
/// is missing are left out; equal values keep file order). A column that sorts the rows into
/// one run per label scores 1 - (labels - 1) / (rows - 1).
pub fn neighbour_agreement(values: &[Option<f64>], labels: &[Option<u32>]) -> Option<f64> {
    let mut rows: Vec<(f64, u32)> =
        values.iter().zip(labels).filter_map(|(v, l)| Some(((*v)?, (*l)?))).filter(|(v, _)| v.is_finite()).collect();
    if rows.len() < 2 {
        return None;
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let same = rows.windows(2).filter(|w| w[0].1 == w[1].1).count();
    Some(same as f64 / (rows.len() - 1) as f64)
}

/// The lowercase words of a column name: split at non-alphanumeric characters and at
/// lower-to-upper case changes (`customerID` → `customer`, `id`).
pub fn name_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for ch in name.chars() {
        if !ch.is_alphanumeric() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            prev_lower = false;
            continue;
        }
        if ch.is_uppercase() && prev_lower && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        prev_lower = ch.is_lowercase() || ch.is_ascii_digit();
        word.extend(ch.to_lowercase());
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Words of a column name that mark personal data.
const PERSONAL_WORDS: &[&str] = &[
    "email",
    "mail",
    "phone",
    "mobile",
    "telephone",
    "tel",
    "name",
    "firstname",
    "lastname",
    "surname",
    "fullname",
    "username",
    "ssn",
    "address",
    "street",
    "passport",
    "iban",
    "dob",
    "birthdate",
    "zip",
    "zipcode",
    "postcode",
];

/// Why a column name looks like personal data, if it does.
pub fn personal_name(name: &str) -> Option<String> {
    let words = name_words(name);
    let joined = words.concat();
    let hit = words.iter().find(|w| PERSONAL_WORDS.contains(&w.as_str())).cloned().or_else(|| {
        ["socialsecurity", "creditcard", "dateofbirth", "phonenumber", "emailaddress"]
            .iter()
            .find(|p| joined.contains(*p))
            .map(|p| (*p).to_string())
    })?;
    Some(format!("its name contains `{hit}`"))
}

/// Whether a column name is one of an attribute anti-discrimination law commonly protects
/// (sex, gender, race, ethnicity, religion, disability).
pub fn protected_name(name: &str) -> bool {
    name_words(name)
        .iter()
        .any(|w| ["sex", "gender", "race", "ethnicity", "ethnic", "religion", "disability"].contains(&w.as_str()))
}

/// Why a column name looks like an identifier, if it does.
pub fn id_name(name: &str) -> Option<String> {
    let words = name_words(name);
    let lower = name.to_lowercase();
    if lower.starts_with("unnamed") || lower == "index" || lower == "row" || lower == "rownum" {
        return Some(format!("`{name}` is the usual name of a row index"));
    }
    let last = words.last()?;
    ["id", "uuid", "guid", "key"].contains(&last.as_str()).then(|| format!("its name ends in `{last}`"))
}

/// Whether a value looks like an e-mail address: `local@domain.tld`, no spaces.
pub fn looks_like_email(value: &str) -> bool {
    let v = value.trim();
    let Some((local, domain)) = v.split_once('@') else { return false };
    !local.is_empty()
        && !v.contains(char::is_whitespace)
        && domain.split('.').count() >= 2
        && domain.split('.').all(|part| !part.is_empty())
}

/// Whether a value looks like a phone number: 7 to 15 digits, written with only spaces,
/// dashes, dots, parentheses and a leading `+` besides, and at least one such separator or
/// the `+` (a bare run of digits is more likely a code or an amount).
pub fn looks_like_phone(value: &str) -> bool {
    let v = value.trim();
    let digits = v.chars().filter(char::is_ascii_digit).count();
    let allowed = v.chars().enumerate().all(|(i, c)| c.is_ascii_digit() || " -.()".contains(c) || (c == '+' && i == 0));
    let separated = v.chars().any(|c| !c.is_ascii_digit());
    allowed && separated && (7..=15).contains(&digits)
}

/// Why sampled text values look like personal data (at least half of them e-mail addresses
/// or phone numbers), if they do.
pub fn personal_values<'a>(sample: impl Iterator<Item = &'a str>) -> Option<String> {
    let (mut n, mut emails, mut phones) = (0usize, 0usize, 0usize);
    for v in sample {
        n += 1;
        emails += usize::from(looks_like_email(v));
        phones += usize::from(looks_like_phone(v));
    }
    if n == 0 {
        return None;
    }
    let share = |k: usize| k as f64 / n as f64;
    if share(emails) >= 0.5 {
        Some(format!("{:.0}% of its values look like e-mail addresses", share(emails) * 100.0))
    } else if share(phones) >= 0.5 {
        Some(format!("{:.0}% of its values look like phone numbers", share(phones) * 100.0))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_matches_hand_computation() {
        // Positives at 2 and 4, negatives at 1 and 3: pairs (2>1, 2<3, 4>1, 4>3) = 3/4.
        let v = [Some(1.0), Some(2.0), Some(3.0), Some(4.0)];
        let p = [Some(false), Some(true), Some(false), Some(true)];
        assert_eq!(threshold_auc(&v, &p), Some(0.75));
        // A perfect inverse ordering folds to 1; ties count half: (0.5 + 1) / 2 = 0.75.
        let p_inv = [Some(true), Some(true), Some(false), Some(false)];
        assert_eq!(threshold_auc(&v, &p_inv), Some(1.0));
        let tied = [Some(1.0), Some(1.0), Some(2.0)];
        assert_eq!(threshold_auc(&tied, &[Some(false), Some(true), Some(true)]), Some(0.75));
    }

    #[test]
    fn purity_and_eta_by_hand() {
        // Groups a: labels (0, 0, 1), b: (1, 1): majority counts 2 + 2 of 5.
        let g = [Some(0), Some(0), Some(0), Some(1), Some(1)];
        let l = [Some(0), Some(0), Some(1), Some(1), Some(1)];
        assert_eq!(purity(&g, &l), Some(0.8));
        // y = 1, 1, 1, 3, 3: the group means explain all of the variance.
        let y = [Some(1.0), Some(1.0), Some(1.0), Some(3.0), Some(3.0)];
        assert!((eta_squared(&g, &y).expect("eta") - 1.0).abs() < 1e-12);
        // numpy.corrcoef([1, 2, 3], [2, 4, 6.5])[0, 1] ** 2
        let r2 = r_squared(&[Some(1.0), Some(2.0), Some(3.0)], &[Some(2.0), Some(4.0), Some(6.5)]).expect("r2");
        assert!((r2 - 0.995_901_639_344_262_2).abs() < 1e-12);
    }

    #[test]
    fn neighbours_by_hand() {
        // In value order the labels read 0 0 1 1 2: two of the four neighbouring pairs agree.
        let v = [Some(5.0), Some(1.0), Some(3.0), Some(2.0), None, Some(4.0)];
        let l = [Some(2), Some(0), Some(1), Some(0), Some(2), Some(1)];
        assert_eq!(neighbour_agreement(&v, &l), Some(0.5));
        assert_eq!(neighbour_agreement(&[Some(1.0)], &[Some(0)]), None);
    }

    #[test]
    fn names_and_values() {
        assert_eq!(name_words("customerID"), ["customer", "id"]);
        assert_eq!(name_words("E-mail Address"), ["e", "mail", "address"]);
        assert!(id_name("customer_id").is_some() && id_name("Unnamed: 0").is_some());
        assert!(id_name("paid").is_none() && id_name("education_num").is_none());
        assert!(personal_name("contact_email").is_some() && personal_name("LastName").is_some());
        assert!(personal_name("Zip.Code").is_some());
        assert!(protected_name("sex") && protected_name("RaceGroup"));
        assert!(!protected_name("races_won") && !protected_name("hours_per_week"));
        assert!(personal_name("native_country").is_none() && personal_name("hours_per_week").is_none());
        assert!(looks_like_email("ann.lee@example.org") && !looks_like_email("a@b") && !looks_like_email("x @y.z"));
        assert!(looks_like_phone("+1 (555) 010-2233") && looks_like_phone("555-0102-33"));
        assert!(!looks_like_phone("5550102233") && !looks_like_phone("12-3") && !looks_like_phone("Married-civ"));
    }
}
