//! Slicings of the evaluated rows: the overall slice, one column, a cross of several, numeric
//! bands, or a single value.

use std::collections::HashMap;

use crate::config::SliceConfig;
use crate::data::{ColumnValues, EvalData, SliceColumn};
use crate::error::{Error, Result};

/// The name of the slicing that holds every row.
pub const OVERALL: &str = "overall";

/// One way of cutting the rows into groups.
#[derive(Debug, Clone, PartialEq)]
pub struct Slicing {
    /// "overall", a column name, "a × b" for a cross, or the configured name.
    pub name: String,
    pub columns: Vec<String>,
    pub groups: Vec<Group>,
}

/// The rows of one slice.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The slice's value ("Female", "Female × White", "[25, 35)").
    pub value: String,
    /// Row indices, ascending.
    pub rows: Vec<u32>,
}

/// The overall slicing followed by the configured ones (one per segment column when none are
/// configured). Groups keep the order of their levels (or bands); empty groups are left out,
/// since no row falls in them.
pub fn build(data: &EvalData, configs: &[SliceConfig], segments: &[String]) -> Result<Vec<Slicing>> {
    build_columns(&data.columns, data.n_rows(), configs, segments)
}

/// [`build`] over `n` rows of the slicing columns alone (rows without labels, as a monitor
/// sees them).
pub fn build_columns(
    columns: &[SliceColumn],
    n: usize,
    configs: &[SliceConfig],
    segments: &[String],
) -> Result<Vec<Slicing>> {
    let mut out = vec![Slicing {
        name: OVERALL.into(),
        columns: Vec::new(),
        groups: vec![Group { value: "all".into(), rows: (0..n as u32).collect() }],
    }];
    let defaults: Vec<SliceConfig>;
    let configs = if configs.is_empty() {
        defaults = segments
            .iter()
            .map(|s| SliceConfig { by: vec![s.clone()], bands: None, value: None, name: None })
            .collect();
        &defaults
    } else {
        configs
    };
    for config in configs {
        out.push(slicing(columns, n, config)?);
    }
    Ok(out)
}

fn slicing(columns: &[SliceColumn], n: usize, config: &SliceConfig) -> Result<Slicing> {
    let name = config.display_name();
    let mut keyed: Vec<(Vec<String>, Vec<u32>)> = Vec::with_capacity(config.by.len());
    for column in &config.by {
        let col = columns.iter().find(|c| &c.name == column).ok_or_else(|| Error::UnknownColumn {
            key: format!("slice `{name}`"),
            column: column.clone(),
            hint: "the evaluated rows have no such column: slice by a segment or protected column",
        })?;
        let (levels, codes) = match (&col.values, &config.bands) {
            (ColumnValues::Numeric(values), Some(edges)) => band_codes(values, edges),
            (ColumnValues::Numeric(values), None) => distinct_numeric(values),
            (ColumnValues::Categorical { codes, levels }, None) => (levels.clone(), codes.clone()),
            (ColumnValues::Categorical { .. }, Some(_)) => {
                return Err(Error::BandsNotNumeric { key: format!("slice `{name}`"), column: column.clone() });
            }
        };
        keyed.push((levels, codes));
    }
    // Combine the codes of the crossed columns into one key per row, in level order.
    let mut key_of: HashMap<Vec<u32>, usize> = HashMap::new();
    let mut keys: Vec<Vec<u32>> = Vec::new();
    let mut rows_of: Vec<Vec<u32>> = Vec::new();
    let mut key = Vec::with_capacity(keyed.len());
    for row in 0..n {
        key.clear();
        key.extend(keyed.iter().map(|(_, codes)| codes[row]));
        let slot = match key_of.get(&key) {
            Some(&slot) => slot,
            None => {
                key_of.insert(key.clone(), keys.len());
                keys.push(key.clone());
                rows_of.push(Vec::new());
                keys.len() - 1
            }
        };
        rows_of[slot].push(row as u32);
    }
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
    let mut groups = Vec::with_capacity(order.len());
    for slot in order {
        let value = keys[slot]
            .iter()
            .zip(&keyed)
            .map(|(&code, (levels, _))| levels.get(code as usize).cloned().unwrap_or_else(|| format!("#{code}")))
            .collect::<Vec<_>>()
            .join(" × ");
        if let Some(wanted) = &config.value
            && &value != wanted
        {
            continue;
        }
        groups.push(Group { value, rows: std::mem::take(&mut rows_of[slot]) });
    }
    if let Some(wanted) = &config.value
        && groups.is_empty()
    {
        return Err(Error::AbsentValue {
            key: format!("slice `{name}`"),
            column: config.by[0].clone(),
            value: wanted.clone(),
        });
    }
    Ok(Slicing { name, columns: config.by.clone(), groups })
}

/// Bands `(-inf, e0)`, `[e0, e1)`, …, `[ek, inf)` and "(missing)".
fn band_codes(values: &[Option<f64>], edges: &[f64]) -> (Vec<String>, Vec<u32>) {
    let mut levels = Vec::with_capacity(edges.len() + 2);
    levels.push(format!("< {}", fmt_edge(edges[0])));
    for w in edges.windows(2) {
        levels.push(format!("[{}, {})", fmt_edge(w[0]), fmt_edge(w[1])));
    }
    levels.push(format!(">= {}", fmt_edge(edges[edges.len() - 1])));
    let missing = levels.len() as u32;
    levels.push("(missing)".into());
    let codes = values
        .iter()
        .map(|v| match v {
            Some(x) if !x.is_nan() => edges.partition_point(|e| e <= x) as u32,
            _ => missing,
        })
        .collect();
    (levels, codes)
}

fn distinct_numeric(values: &[Option<f64>]) -> (Vec<String>, Vec<u32>) {
    let mut distinct: Vec<f64> = values.iter().flatten().copied().filter(|v| !v.is_nan()).collect();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    let mut levels: Vec<String> = distinct.iter().map(|v| fmt_edge(*v)).collect();
    let missing = levels.len() as u32;
    levels.push("(missing)".into());
    let codes = values
        .iter()
        .map(|v| match v {
            Some(x) if !x.is_nan() => distinct.partition_point(|d| d < x) as u32,
            _ => missing,
        })
        .collect();
    (levels, codes)
}

fn fmt_edge(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Labels, SliceColumn};

    fn data() -> EvalData {
        EvalData {
            labels: Labels::Binary(vec![true, false, true, false, true, false]),
            class_names: vec!["no".into(), "yes".into()],
            weights: None,
            columns: vec![
                SliceColumn {
                    name: "sex".into(),
                    values: ColumnValues::Categorical {
                        codes: vec![0, 1, 0, 1, 1, 1],
                        levels: vec!["Female".into(), "Male".into()],
                    },
                },
                SliceColumn {
                    name: "race".into(),
                    values: ColumnValues::Categorical {
                        codes: vec![1, 1, 0, 0, 1, 2],
                        levels: vec!["A".into(), "B".into(), "C".into()],
                    },
                },
                SliceColumn {
                    name: "age".into(),
                    values: ColumnValues::Numeric(vec![
                        Some(20.0),
                        Some(30.0),
                        Some(35.0),
                        None,
                        Some(70.0),
                        Some(25.0),
                    ]),
                },
            ],
            protected: vec![],
            display: vec![],
        }
    }

    #[test]
    fn default_slicings_are_overall_then_one_per_segment() {
        let s = build(&data(), &[], &["sex".into()]).expect("slices");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].groups[0].rows, vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(s[1].groups.iter().map(|g| g.value.as_str()).collect::<Vec<_>>(), ["Female", "Male"]);
        assert_eq!(s[1].groups[1].rows, vec![1, 3, 4, 5]);
    }

    #[test]
    fn crosses_bands_and_single_values() {
        let configs = vec![
            SliceConfig { by: vec!["sex".into(), "race".into()], bands: None, value: None, name: None },
            SliceConfig { by: vec!["age".into()], bands: Some(vec![25.0, 35.0]), value: None, name: None },
            SliceConfig { by: vec!["race".into()], bands: None, value: Some("B".into()), name: None },
        ];
        let s = build(&data(), &configs, &[]).expect("slices");
        let cross: Vec<(&str, &[u32])> = s[1].groups.iter().map(|g| (g.value.as_str(), g.rows.as_slice())).collect();
        assert_eq!(
            cross,
            vec![
                ("Female × A", &[2u32][..]),
                ("Female × B", &[0][..]),
                ("Male × A", &[3][..]),
                ("Male × B", &[1, 4][..]),
                ("Male × C", &[5][..])
            ]
        );
        assert_eq!(s[1].name, "sex × race");
        let bands: Vec<(&str, &[u32])> = s[2].groups.iter().map(|g| (g.value.as_str(), g.rows.as_slice())).collect();
        assert_eq!(
            bands,
            vec![("< 25", &[0u32][..]), ("[25, 35)", &[1, 5][..]), (">= 35", &[2, 4][..]), ("(missing)", &[3][..])]
        );
        assert_eq!(s[3].groups.len(), 1);
        assert_eq!(s[3].groups[0].rows, vec![0, 1, 4]);
        assert_eq!(s[3].name, "race = B");
    }

    #[test]
    fn unknown_columns_and_absent_values_are_errors() {
        let bad = SliceConfig { by: vec!["zip".into()], bands: None, value: None, name: None };
        let e = build(&data(), &[bad], &[]).expect_err("unknown column");
        assert!(e.to_string().contains("`zip`"), "{e}");
        let absent = SliceConfig { by: vec!["race".into()], bands: None, value: Some("Z".into()), name: None };
        let e = build(&data(), &[absent], &[]).expect_err("absent value");
        assert!(e.to_string().contains("`Z`"), "{e}");
    }
}
