//! Latency histograms and medians.
//!
//! A benchmark that keeps every sample grows with its duration; the crate's one
//! [`Histogram`] (here with the [`LogLinear`] layout, about 3% relative precision) has a
//! bounded size whatever the number of samples, and two of them merge by adding counters, so
//! each connection records its own without locks and the totals are combined at the end.

use std::time::Duration;

pub use crate::histogram::{Histogram, LogLinear};

/// The benchmarks' view of a [`LogLinear`] histogram: samples and quantiles are durations
/// (recorded in nanoseconds).
impl Histogram<LogLinear> {
    /// Counts one sample.
    pub fn record(&mut self, d: Duration) {
        self.record_value(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// The largest sample, exactly.
    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max_value())
    }

    /// The sample at quantile `q` (0.0..=1.0), to within the bucket precision (the bucket's
    /// middle, never above the true maximum); zero when nothing was recorded.
    pub fn quantile(&self, q: f64) -> Duration {
        Duration::from_nanos(self.value_at(q))
    }
}

/// The median of some runs' values (the mean of the middle two for an even count); `None`
/// for no runs. Medians, not means, because one run disturbed by another process on a shared
/// machine should not move the figure.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_three_percent() {
        let mut h = Histogram::<LogLinear>::default();
        for us in 1..=10_000u64 {
            h.record(Duration::from_micros(us));
        }
        for (q, want) in [(0.5, 5_000.0), (0.99, 9_900.0), (1.0, 10_000.0)] {
            let got = h.quantile(q).as_secs_f64() * 1e6;
            assert!((got - want).abs() / want < 0.03, "q{q}: {got} vs {want}");
        }
        assert_eq!(h.max(), Duration::from_micros(10_000));
        assert_eq!(h.count(), 10_000);
    }

    #[test]
    fn merge_adds_samples() {
        let mut a = Histogram::<LogLinear>::default();
        let mut b = Histogram::<LogLinear>::default();
        a.record(Duration::from_millis(1));
        b.record(Duration::from_millis(9));
        a.merge(&b);
        assert_eq!(a.count(), 2);
        assert_eq!(a.max(), Duration::from_millis(9));
        assert_eq!(
            Histogram::<LogLinear>::default().quantile(0.5),
            Duration::ZERO
        );
    }

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
