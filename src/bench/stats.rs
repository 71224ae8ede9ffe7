//! Latency histograms and medians.
//!
//! A benchmark that keeps every sample grows with its duration; this histogram has a fixed
//! size (a few thousand counters) whatever the number of samples, at about 3% relative
//! precision, and two of them merge by adding counters, so each connection records its own
//! without locks and the totals are combined at the end.

use std::time::Duration;

/// Sub-buckets per power of two: 32 gives a relative error below 1/32 (about 3%).
const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
/// Values below this are counted exactly, one bucket each.
const EXACT: u64 = 2 * SUB as u64;
const BUCKETS: usize = EXACT as usize + (64 - (SUB_BITS + 1) as usize) * SUB;

/// A fixed-size log-linear histogram of durations in nanoseconds.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            count: 0,
            max: 0,
        }
    }
}

fn index(v: u64) -> usize {
    if v < EXACT {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros(); // >= SUB_BITS + 1
    let shift = msb - SUB_BITS;
    let top = (v >> shift) as usize; // in SUB..2*SUB
    EXACT as usize + (msb - SUB_BITS - 1) as usize * SUB + (top - SUB)
}

/// The smallest value that falls in bucket `i`.
fn lower_bound(i: usize) -> u64 {
    if i < EXACT as usize {
        return i as u64;
    }
    let group = (i - EXACT as usize) / SUB;
    let top = (SUB + (i - EXACT as usize) % SUB) as u64;
    top << (group + 1)
}

impl Histogram {
    /// Counts one sample.
    pub fn record(&mut self, d: Duration) {
        let v = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.counts[index(v)] += 1;
        self.count += 1;
        self.max = self.max.max(v);
    }

    /// Adds another histogram's samples to this one.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.count += other.count;
        self.max = self.max.max(other.max);
    }

    /// How many samples were recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest sample, exactly.
    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max)
    }

    /// The sample at quantile `q` (0.0..=1.0), to within the bucket precision; zero when
    /// nothing was recorded.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                // The middle of the bucket, but never above the true maximum.
                let lo = lower_bound(i);
                let hi = if i + 1 < BUCKETS {
                    lower_bound(i + 1)
                } else {
                    u64::MAX
                };
                let mid = lo + (hi - lo) / 2;
                return Duration::from_nanos(mid.min(self.max));
            }
        }
        self.max()
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
    fn buckets_are_contiguous_and_ordered() {
        for i in 0..BUCKETS - 1 {
            assert!(lower_bound(i) < lower_bound(i + 1), "bucket {i}");
            assert_eq!(index(lower_bound(i)), i);
            assert_eq!(index(lower_bound(i + 1) - 1), i);
        }
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_are_within_three_percent() {
        let mut h = Histogram::default();
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
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        a.record(Duration::from_millis(1));
        b.record(Duration::from_millis(9));
        a.merge(&b);
        assert_eq!(a.count(), 2);
        assert_eq!(a.max(), Duration::from_millis(9));
        assert_eq!(Histogram::default().quantile(0.5), Duration::ZERO);
    }

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
