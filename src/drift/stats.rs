//! The numbers behind drift: quantile bins of a reference sample, PSI, the two-sample KS
//! statistic on binned data, and the chi-square test of class shares. Checked against numpy
//! and scipy on fixed cases (`fixtures/drift_reference.py` writes the expected values).

use statrs::function::gamma;

/// At most this many bins per feature (and per regression output).
pub const MAX_BINS: usize = 20;

/// A share below this counts as this in PSI: an empty bin would make `ln(a / e)` infinite.
/// 1e-4 (one request in ten thousand) keeps one stray value in an empty bin from dominating
/// the sum, yet lets a bin that empties or fills entirely show as a large PSI.
pub const PSI_EPSILON: f64 = 1e-4;

/// How many bins to ask for with `n` reference values: about ten values per bin on average,
/// at least 2 and at most [`MAX_BINS`] (ties can merge cut points, leaving fewer).
pub fn bins_for(n: usize) -> usize {
    (n / 10).clamp(2, MAX_BINS)
}

/// numpy's `quantile(x, q, method="linear")` (its default, Hyndman & Fan's type 7) of an
/// ascending, non-empty sample, with numpy's arithmetic: the index `(n - 1) q` and its
/// two-sided interpolation, so the results are the same floating-point numbers.
pub fn quantile_linear(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let index = (n - 1) as f64 * q;
    if index >= (n - 1) as f64 {
        return sorted[n - 1];
    }
    if index <= 0.0 {
        return sorted[0];
    }
    let below = index.floor();
    let gamma = index - below;
    let (a, b) = (sorted[below as usize], sorted[below as usize + 1]);
    let diff = b - a;
    // numpy's `_lerp`: from the nearer end, so an interpolation at 1 is exactly `b`.
    if gamma >= 0.5 { b - diff * (1.0 - gamma) } else { a + diff * gamma }
}

/// The cut points of `values` (finite): `np.unique(np.quantile(values, np.arange(1, k) / k))`
/// with `k` = [`bins_for`]`(n)`. Ties merge equal cut points; a constant sample has one cut,
/// its value. Empty input has none (one bin).
pub fn cuts(values: &[f64]) -> Vec<f64> {
    if values.is_empty() {
        return Vec::new();
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let k = bins_for(sorted.len());
    let mut cuts: Vec<f64> = (1..k).map(|i| quantile_linear(&sorted, i as f64 / k as f64)).collect();
    cuts.dedup();
    cuts
}

/// The bin of `x` among `cuts` (ascending): the number of cuts ≤ `x`, numpy's
/// `searchsorted(cuts, x, side="right")`. Values beyond the reference's range fall in the
/// end bins. A binary search: at most five comparisons for [`MAX_BINS`] bins.
#[inline]
pub fn bin_of(cuts: &[f64], x: f64) -> usize {
    cuts.partition_point(|c| *c <= x)
}

/// How many of `values` fall in each of the `cuts.len() + 1` bins.
pub fn counts(cuts: &[f64], values: &[f64]) -> Vec<u64> {
    let mut counts = vec![0; cuts.len() + 1];
    for &x in values {
        counts[bin_of(cuts, x)] += 1;
    }
    counts
}

fn shares(counts: &[u64]) -> Option<impl Iterator<Item = f64> + '_> {
    let total: u64 = counts.iter().sum();
    (total > 0).then(|| counts.iter().map(move |&c| (c as f64 / total as f64).max(PSI_EPSILON)))
}

/// The population stability index of `live` against `reference` (counts over the same bins):
/// Σ (a − e) ln(a / e), shares floored at [`PSI_EPSILON`]. None when either side is empty.
pub fn psi(reference: &[u64], live: &[u64]) -> Option<f64> {
    let (e, a) = (shares(reference)?, shares(live)?);
    Some(e.zip(a).map(|(e, a)| (a - e) * (a / e).ln()).sum())
}

/// The two-sample Kolmogorov–Smirnov statistic on binned data: the largest gap between the
/// two empirical CDFs at the bin boundaries. An approximation of the statistic on the raw
/// values, never larger than it (a supremum over fewer points); it equals scipy's
/// `ks_2samp` run on the bin indices. None when either side is empty.
pub fn ks_binned(reference: &[u64], live: &[u64]) -> Option<f64> {
    let (nr, nl) = (reference.iter().sum::<u64>(), live.iter().sum::<u64>());
    if nr == 0 || nl == 0 {
        return None;
    }
    let (mut cr, mut cl, mut d) = (0u64, 0u64, 0.0f64);
    for (r, l) in reference.iter().zip(live) {
        cr += r;
        cl += l;
        d = d.max((cr as f64 / nr as f64 - cl as f64 / nl as f64).abs());
    }
    Some(d)
}

/// Pearson's chi-square test of homogeneity of two count vectors over the same classes
/// (scipy's `chi2_contingency` on the 2 × k table, without continuity correction), over the
/// classes seen on either side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChiSquare {
    pub statistic: f64,
    pub dof: u64,
    pub p_value: f64,
}

/// None when either side is empty or fewer than two classes were seen.
pub fn chi_square(reference: &[u64], live: &[u64]) -> Option<ChiSquare> {
    let (nr, nl) = (reference.iter().sum::<u64>() as f64, live.iter().sum::<u64>() as f64);
    if nr == 0.0 || nl == 0.0 {
        return None;
    }
    let total = nr + nl;
    let mut statistic = 0.0;
    let mut seen = 0u64;
    for (&r, &l) in reference.iter().zip(live) {
        let column = (r + l) as f64;
        if column == 0.0 {
            continue;
        }
        seen += 1;
        for (observed, row) in [(r as f64, nr), (l as f64, nl)] {
            let expected = row * column / total;
            statistic += (observed - expected).powi(2) / expected;
        }
    }
    let dof = seen.checked_sub(1).filter(|d| *d > 0)?;
    // P(χ²_dof > x) = Q(dof / 2, x / 2), the upper regularised incomplete gamma function.
    let p_value =
        if statistic <= 0.0 { 1.0 } else { gamma::checked_gamma_ur(dof as f64 / 2.0, statistic / 2.0).ok()? };
    Some(ChiSquare { statistic, dof, p_value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn reference() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/drift_reference.json");
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json")
    }

    fn floats(v: &Value) -> Vec<f64> {
        v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number")).collect()
    }

    fn ints(v: &Value) -> Vec<u64> {
        v.as_array().expect("array").iter().map(|x| x.as_u64().expect("count")).collect()
    }

    fn close(got: f64, want: f64, what: &str) {
        assert!((got - want).abs() <= 1e-9, "{what}: {got} vs {want}");
    }

    #[test]
    fn epsilon_is_the_one_numpy_used() {
        assert_eq!(reference()["eps"].as_f64(), Some(PSI_EPSILON));
    }

    /// Cut points are numpy's `quantile(method="linear")`, deduplicated, exactly; counts
    /// are `searchsorted(side="right")`'s.
    #[test]
    fn bins_equal_numpy_quantiles() {
        for case in reference()["binning"].as_array().expect("cases") {
            let name = case["name"].as_str().expect("name");
            let values = floats(&case["values"]);
            let got = cuts(&values);
            assert_eq!(got, floats(&case["cuts"]), "{name}");
            assert!(got.len() < MAX_BINS, "{name}: {} bins", got.len() + 1);
            assert_eq!(counts(&got, &values), ints(&case["counts"]), "{name}");
        }
    }

    #[test]
    fn psi_and_ks_equal_numpy_and_scipy() {
        for case in reference()["drift"].as_array().expect("cases") {
            let name = case["name"].as_str().expect("name");
            let c = cuts(&floats(&case["reference"]));
            assert_eq!(c, floats(&case["cuts"]), "{name}");
            let (r, l) = (counts(&c, &floats(&case["reference"])), counts(&c, &floats(&case["live"])));
            assert_eq!((&r, &l), (&ints(&case["reference_counts"]), &ints(&case["live_counts"])), "{name}");
            close(psi(&r, &l).expect("psi"), case["psi"].as_f64().expect("psi"), name);
            let ks = ks_binned(&r, &l).expect("ks");
            close(ks, case["ks_binned"].as_f64().expect("ks"), name);
            assert!(ks <= case["ks_exact"].as_f64().expect("ks") + 1e-12, "{name}: binned KS above the exact one");
        }
    }

    #[test]
    fn chi_square_equals_scipy() {
        for case in reference()["chi_square"].as_array().expect("cases") {
            let name = case["name"].as_str().expect("name");
            let got = chi_square(&ints(&case["reference"]), &ints(&case["live"])).expect("test");
            close(got.statistic, case["statistic"].as_f64().expect("stat"), name);
            assert_eq!(Some(got.dof), case["dof"].as_u64(), "{name}");
            close(got.p_value, case["p_value"].as_f64().expect("p"), name);
        }
    }

    #[test]
    fn empty_sides_have_no_statistic() {
        assert_eq!(psi(&[1, 2], &[0, 0]), None);
        assert_eq!(ks_binned(&[0, 0], &[1, 2]), None);
        assert_eq!(chi_square(&[5, 0], &[7, 0]), None, "one class seen: no test");
        assert_eq!(psi(&[3, 3], &[6, 6]), Some(0.0));
        assert_eq!(cuts(&[]), Vec::<f64>::new());
        assert_eq!(bin_of(&[1.0, 2.0], 2.0), 2, "a value on a cut goes above it");
        assert_eq!(bin_of(&[1.0, 2.0], -5.0), 0);
    }
}
