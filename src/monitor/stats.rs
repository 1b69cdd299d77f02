//! The statistics behind A/B results: normal and Student-t tail probabilities and the t
//! quantile, from `statrs`. Checked against scipy in `ab.rs` tests, and against closed forms
//! here.

use statrs::distribution::{Continuous, ContinuousCDF, Normal, StudentsT};
use statrs::function::gamma;

/// Above this many degrees of freedom Student's t is taken as the standard normal, which is
/// then within 3e-6 of its 97.5% quantile and 3e-7 of its tail probabilities. statrs's t
/// works through the incomplete beta function, which loses digits as the degrees of freedom
/// grow (5e-8 at 5e6), and its inverse stops returning at all near 1e8.
const NORMAL_ABOVE_DF: f64 = 1e6;

/// Student's t with `df` degrees of freedom, centred and unscaled; None unless
/// 0 < `df` ≤ [`NORMAL_ABOVE_DF`].
fn students_t(df: f64) -> Option<StudentsT> {
    if df > NORMAL_ABOVE_DF {
        return None;
    }
    StudentsT::new(0.0, 1.0, df).ok()
}

/// P(|Z| > |z|) for a standard normal Z: erfc(|z|/√2) = Q(1/2, z²/2), the upper regularised
/// incomplete gamma function (statrs's `erfc` is off by 2e-12 near the 5% point; this is
/// not).
pub fn normal_two_sided_p(z: f64) -> f64 {
    match z * z / 2.0 {
        0.0 => 1.0,
        f64::INFINITY => 0.0,
        x => gamma::checked_gamma_ur(0.5, x).unwrap_or(f64::NAN),
    }
}

/// P(|T| > |t|) for Student's t with `df` degrees of freedom (NaN unless `df` > 0).
pub fn t_two_sided_p(t: f64, df: f64) -> f64 {
    match students_t(df) {
        Some(d) => d.sf(t.abs()) * 2.0,
        None if df > NORMAL_ABOVE_DF => normal_two_sided_p(t),
        None => f64::NAN,
    }
}

/// The t with P(|T| > t) = `p` (e.g. 0.05 gives the 97.5% quantile); NaN unless `df` > 0 and
/// 0 ≤ `p` ≤ 1.
pub fn t_critical(p: f64, df: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    let tail = p / 2.0;
    let Some(d) = students_t(df) else {
        return if df > NORMAL_ABOVE_DF { Normal::standard().inverse_cdf(1.0 - tail) } else { f64::NAN };
    };
    // statrs's quantile is off in the sixth digit at 1e5 degrees of freedom: a few Newton steps
    // on its (more accurate) tail probability finish it.
    let mut t = d.inverse_cdf(1.0 - tail);
    for _ in 0..20 {
        let step = (d.sf(t) - tail) / d.pdf(t);
        if !step.is_finite() {
            break;
        }
        t += step;
        if step.abs() <= 4.0 * f64::EPSILON * t.abs() {
            break;
        }
    }
    t
}

/// The 97.5% quantile of the standard normal.
pub const Z_975: f64 = 1.959_963_984_540_054;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert!((normal_two_sided_p(Z_975) - 0.05).abs() < 1e-12);
        assert!((normal_two_sided_p(-Z_975) - 0.05).abs() < 1e-12);
        assert!((normal_two_sided_p(0.0) - 1.0).abs() < 1e-12);
        assert_eq!(normal_two_sided_p(f64::INFINITY), 0.0);
        assert!(normal_two_sided_p(f64::NAN).is_nan());
        // t with 10 df: the 97.5% quantile is 2.228138851986273.
        assert!((t_critical(0.05, 10.0) - 2.228_138_851_986_273).abs() < 1e-9);
        assert!((t_two_sided_p(2.228_138_851_986_273, 10.0) - 0.05).abs() < 1e-12);
        assert!((t_two_sided_p(-2.228_138_851_986_273, 10.0) - 0.05).abs() < 1e-12);
        // Many degrees of freedom approach the normal.
        assert!((t_critical(0.05, 1e7) - Z_975).abs() < 1e-5);
    }

    /// Closed forms: 1 df is the Cauchy distribution, P(|T| > t) = 1 − 2·atan(t)/π; with 2 df
    /// P(|T| > t) = 1 − t/√(2 + t²).
    #[test]
    fn closed_forms_for_one_and_two_degrees_of_freedom() {
        use std::f64::consts::PI;
        for t in [0.1, 0.5, 1.0, 2.0, 5.0, 30.0] {
            assert!((t_two_sided_p(t, 1.0) - (1.0 - 2.0 * t.atan() / PI)).abs() < 1e-12, "{t}");
            assert!((t_two_sided_p(t, 2.0) - (1.0 - t / (2.0 + t * t).sqrt())).abs() < 1e-12, "{t}");
        }
        assert!((t_critical(0.05, 1.0) - (PI * 0.475).tan()).abs() < 1e-9);
        assert!((t_critical(0.05, 2.0) - 0.95 / (2.0f64 * 0.975 * 0.025).sqrt()).abs() < 1e-9);
        // Welch's degrees of freedom are fractional: the quantile lies between its neighbours'.
        let (lo, mid, hi) = (t_critical(0.05, 8.0), t_critical(0.05, 7.5), t_critical(0.05, 7.0));
        assert!(lo < mid && mid < hi, "{lo} {mid} {hi}");
        assert!((t_two_sided_p(mid, 7.5) - 0.05).abs() < 1e-12);
    }

    /// From 1 to 1e9 degrees of freedom (a million feedback outcomes and more), the quantile
    /// is returned, is the inverse of the tail probability, falls towards the normal's (to the
    /// 1e-9 statrs's incomplete beta function holds there), and agrees with its first-order
    /// expansion z + (z³ + z) / 4ν for many degrees of freedom.
    #[test]
    fn quantiles_hold_for_any_number_of_outcomes() {
        let mut dfs: Vec<f64> = (0..=36).map(|i| 10f64.powf(i as f64 / 4.0)).chain([999_999.5, 1_000_000.5]).collect();
        dfs.sort_by(f64::total_cmp);
        let mut previous = f64::INFINITY;
        for df in dfs {
            let t = t_critical(0.05, df);
            assert!((t_two_sided_p(t, df) - 0.05).abs() < 1e-9, "{df}: {t}");
            assert!(t <= previous + 1e-9 && t >= Z_975 - 1e-12, "{df}: {t} after {previous}");
            if df >= 1e4 {
                let expansion = Z_975 + (Z_975.powi(3) + Z_975) / (4.0 * df);
                assert!((t - expansion).abs() < 3e-6, "{df}: {t} vs {expansion}");
            }
            previous = t;
        }
    }

    #[test]
    fn no_degrees_of_freedom_is_not_a_number() {
        assert!(t_two_sided_p(1.0, 0.0).is_nan());
        assert!(t_two_sided_p(1.0, f64::NAN).is_nan());
        assert!(t_critical(0.05, f64::NAN).is_nan());
        assert!(t_critical(0.05, -1.0).is_nan());
        assert!(t_critical(1.5, 10.0).is_nan());
        assert_eq!(t_critical(0.0, 10.0), f64::INFINITY);
    }
}
