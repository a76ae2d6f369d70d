//! Regression metrics: RMSE, MAE, R² and MAPE, as scikit-learn's, with optional sample weights.
//!
//! Every function returns `None` when lengths differ, a target or prediction is NaN or infinite
//! (scikit-learn raises), a weight is invalid, or the total weight is zero (empty input included).

use super::{bad_weight, ratio, with_weights};

/// Weighted sum of `f(target, prediction)` and total weight over rows with positive weight, plus the
/// number of such rows; `None` for invalid input.
fn weighted_sum(
    targets: &[f64],
    predictions: &[f64],
    weights: Option<&[f64]>,
    f: impl Fn(f64, f64) -> f64,
) -> Option<(f64, f64, usize)> {
    if targets.len() != predictions.len() || weights.is_some_and(|w| w.len() != targets.len()) {
        return None;
    }
    let (mut sum, mut total, mut rows, mut bad) = (0.0, 0.0, 0usize, false);
    with_weights!(weights, |ws| {
        for ((&y, &p), w) in targets.iter().zip(predictions).zip(ws) {
            bad |= !y.is_finite() | !p.is_finite() | bad_weight(w);
            if w > 0.0 {
                sum += w * f(y, p);
                total += w;
                rows += 1;
            }
        }
    });
    if bad { None } else { Some((sum, total, rows)) }
}

/// Weighted mean of `f(target, prediction)`.
fn weighted_mean(
    targets: &[f64],
    predictions: &[f64],
    weights: Option<&[f64]>,
    f: impl Fn(f64, f64) -> f64,
) -> Option<f64> {
    let (sum, total, _) = weighted_sum(targets, predictions, weights, f)?;
    ratio(sum, total)
}

/// Root mean squared error, as scikit-learn's `root_mean_squared_error`.
pub fn rmse(targets: &[f64], predictions: &[f64], weights: Option<&[f64]>) -> Option<f64> {
    weighted_mean(targets, predictions, weights, |y, p| (y - p) * (y - p)).map(f64::sqrt)
}

/// Mean absolute error, as scikit-learn's `mean_absolute_error`.
pub fn mae(targets: &[f64], predictions: &[f64], weights: Option<&[f64]>) -> Option<f64> {
    weighted_mean(targets, predictions, weights, |y, p| (y - p).abs())
}

/// Mean absolute percentage error as a fraction (not ×100), as scikit-learn's
/// `mean_absolute_percentage_error`: `mean(|y - p| / max(|y|, ε))` with `ε = f64::EPSILON`, so a zero
/// target gives a huge but finite term.
pub fn mape(targets: &[f64], predictions: &[f64], weights: Option<&[f64]>) -> Option<f64> {
    weighted_mean(targets, predictions, weights, |y, p| (p - y).abs() / y.abs().max(f64::EPSILON))
}

/// Coefficient of determination `1 - Σw(y - p)² / Σw(y - ȳ)²` with the weighted mean `ȳ`, as
/// scikit-learn's `r2_score`.
///
/// Like scikit-learn's default `force_finite=True`, a constant target gives 1 when the predictions
/// are perfect and 0 otherwise. `None` with fewer than two rows of positive weight (scikit-learn returns
/// NaN below two rows), besides the module's cases.
pub fn r2(targets: &[f64], predictions: &[f64], weights: Option<&[f64]>) -> Option<f64> {
    let (residual, total, rows) = weighted_sum(targets, predictions, weights, |y, p| (y - p) * (y - p))?;
    let (target_sum, _, _) = weighted_sum(targets, predictions, weights, |y, _| y)?;
    if rows < 2 || total <= 0.0 {
        return None;
    }
    let mean = target_sum / total;
    let (spread, _, _) = weighted_sum(targets, predictions, weights, |y, _| (y - mean) * (y - mean))?;
    Some(match (residual == 0.0, spread == 0.0) {
        (true, _) => 1.0,
        (false, true) => 0.0,
        (false, false) => 1.0 - residual / spread,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hand() {
        let y = [1.0, 2.0, 3.0, 4.0];
        let p = [1.5, 2.0, 2.0, 5.0];
        // errors 0.5, 0, -1, 1; squares 0.25, 0, 1, 1
        assert_eq!(mae(&y, &p, None), Some(2.5 / 4.0));
        assert_eq!(rmse(&y, &p, None), Some((2.25_f64 / 4.0).sqrt()));
        // mean 2.5, spread 2.25 + 0.25 + 0.25 + 2.25 = 5
        assert_eq!(r2(&y, &p, None), Some(1.0 - 2.25 / 5.0));
        assert_eq!(mape(&y, &p, None), Some((0.5 + 0.0 + 1.0 / 3.0 + 0.25) / 4.0));
        // weights 2, 1, 0, 1: the third row is gone
        let w = [2.0, 1.0, 0.0, 1.0];
        assert_eq!(mae(&y, &p, Some(&w)), Some(2.0 / 4.0));
        assert_eq!(mae(&y, &p, Some(&w)), mae(&[1.0, 1.0, 2.0, 4.0], &[1.5, 1.5, 2.0, 5.0], None));
    }

    #[test]
    fn r2_special_cases_follow_force_finite() {
        assert_eq!(r2(&[2.0, 2.0], &[2.0, 2.0], None), Some(1.0));
        assert_eq!(r2(&[2.0, 2.0], &[2.0, 3.0], None), Some(0.0));
        assert_eq!(r2(&[1.0, 3.0], &[1.0, 3.0], None), Some(1.0));
        assert_eq!(r2(&[1.0], &[1.0], None), None);
        assert_eq!(r2(&[1.0, 5.0], &[1.0, 3.0], Some(&[1.0, 0.0])), None);
    }

    #[test]
    fn mape_of_a_zero_target_is_finite() {
        let m = mape(&[0.0], &[1.0], None).expect("defined");
        assert_eq!(m, 1.0 / f64::EPSILON);
    }

    #[test]
    fn invalid_inputs_are_none() {
        assert_eq!(rmse(&[], &[], None), None);
        assert_eq!(rmse(&[1.0], &[1.0, 2.0], None), None);
        assert_eq!(rmse(&[1.0], &[f64::NAN], None), None);
        assert_eq!(rmse(&[f64::INFINITY], &[1.0], None), None);
        assert_eq!(rmse(&[1.0], &[1.0], Some(&[0.0])), None);
        assert_eq!(rmse(&[1.0], &[1.0], Some(&[f64::NAN])), None);
        assert_eq!(mae(&[1.0], &[1.0], Some(&[1.0, 1.0])), None);
    }
}
