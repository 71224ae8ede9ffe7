//! The one latency histogram, used by the simulator (`sim::report`) and the benchmarks
//! (`bench::stats`).
//!
//! Both need the same thing: constant memory however many samples (an hour of 10,000 clients
//! is millions of them), percentiles within a known precision, and merging by adding counters
//! so each connection can record its own without locks. They differ only in the bucket
//! layout, which is what their published figures were made with and so must not change: the
//! simulator's report prints milliseconds at three significant decimal digits ([`Decimal3`],
//! samples in microseconds, a quantile is its bucket's floor), the benchmarks use a binary
//! log-linear layout with about 3% precision ([`LogLinear`], samples in nanoseconds, a quantile
//! is its bucket's middle). The layout is a type parameter, so the counting, merging and
//! ranking are written once.

use std::marker::PhantomData;

/// How samples map to buckets and which value stands for a bucket in a quantile.
pub trait Layout {
    /// The bucket of sample `v`; buckets are ordered like the values they hold.
    fn index(v: u64) -> usize;
    /// The value reported for a quantile that falls in bucket `i` (capped at the true maximum
    /// by the histogram).
    fn representative(i: usize) -> u64;
}

/// A histogram of `u64` samples with the bucket layout `L`.
///
/// The counters grow up to the highest bucket seen, so two histograms with the same samples
/// compare equal however they were merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram<L> {
    counts: Vec<u64>,
    count: u64,
    max: u64,
    layout: PhantomData<L>,
}

impl<L: Layout> Histogram<L> {
    /// Counts one sample.
    pub fn record_value(&mut self, v: u64) {
        let i = L::index(v);
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
        self.count += 1;
        self.max = self.max.max(v);
    }

    /// Adds another histogram's samples to this one.
    pub fn merge(&mut self, other: &Histogram<L>) {
        if other.counts.len() > self.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
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

    /// The largest sample, exactly (0 when empty).
    pub fn max_value(&self) -> u64 {
        self.max
    }

    /// The sample at quantile `q` (0.0..=1.0), to within the layout's precision and never
    /// above the true maximum; 0 when nothing was recorded.
    pub fn value_at(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return L::representative(i).min(self.max);
            }
        }
        self.max
    }
}

/// Three significant decimal digits: values below 1000 have their own bucket, above that one
/// bucket per three-digit mantissa and power of ten; a quantile is its bucket's floor, so a
/// report in milliseconds of microsecond samples prints round figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Decimal3;

impl Decimal3 {
    /// The smallest value in bucket `b`.
    fn floor(b: usize) -> u64 {
        if b < 1000 {
            return b as u64;
        }
        let e = ((b - 1000) / 900 + 1) as u32;
        let m = ((b - 1000) % 900 + 100) as u64;
        m.saturating_mul(10u64.saturating_pow(e))
    }
}

impl Layout for Decimal3 {
    fn index(v: u64) -> usize {
        if v < 1000 {
            return v as usize;
        }
        let mut e = 0usize;
        let mut m = v;
        while m >= 1000 {
            m /= 10;
            e += 1;
        }
        1000 + (e - 1) * 900 + (m as usize - 100)
    }

    fn representative(i: usize) -> u64 {
        Decimal3::floor(i)
    }
}

/// Sub-buckets per power of two: 32 gives a relative error below 1/32 (about 3%).
const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
/// Values below this are counted exactly, one bucket each.
const EXACT: u64 = 2 * SUB as u64;
/// Buckets of [`LogLinear`] for the whole `u64` range.
const LOG_LINEAR_BUCKETS: usize = EXACT as usize + (64 - (SUB_BITS + 1) as usize) * SUB;

/// Binary log-linear buckets with 32 sub-buckets per power of two (about 3% relative
/// precision); a quantile is its bucket's middle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogLinear;

impl LogLinear {
    /// The smallest value that falls in bucket `i`.
    fn lower_bound(i: usize) -> u64 {
        if i < EXACT as usize {
            return i as u64;
        }
        let group = (i - EXACT as usize) / SUB;
        let top = (SUB + (i - EXACT as usize) % SUB) as u64;
        top << (group + 1)
    }
}

impl Layout for LogLinear {
    fn index(v: u64) -> usize {
        if v < EXACT {
            return v as usize;
        }
        let msb = 63 - v.leading_zeros(); // >= SUB_BITS + 1
        let shift = msb - SUB_BITS;
        let top = (v >> shift) as usize; // in SUB..2*SUB
        EXACT as usize + (msb - SUB_BITS - 1) as usize * SUB + (top - SUB)
    }

    fn representative(i: usize) -> u64 {
        let lo = LogLinear::lower_bound(i);
        let hi = if i + 1 < LOG_LINEAR_BUCKETS {
            LogLinear::lower_bound(i + 1)
        } else {
            u64::MAX
        };
        lo + (hi - lo) / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_linear_buckets_are_contiguous_and_ordered() {
        for i in 0..LOG_LINEAR_BUCKETS - 1 {
            let (lo, next) = (LogLinear::lower_bound(i), LogLinear::lower_bound(i + 1));
            assert!(lo < next, "bucket {i}");
            assert_eq!(LogLinear::index(lo), i);
            assert_eq!(LogLinear::index(next - 1), i);
        }
        assert_eq!(LogLinear::index(u64::MAX), LOG_LINEAR_BUCKETS - 1);
    }

    #[test]
    fn decimal3_keeps_three_digits() {
        for v in [0, 7, 999, 1000, 1234, 98_765, 12_345_678, u64::MAX] {
            let f = Decimal3::floor(Decimal3::index(v));
            assert!(f <= v && v - f <= v / 100, "{v} -> {f}");
        }
    }

    #[test]
    fn merged_equals_recorded_together() {
        let mut a = Histogram::<Decimal3>::default();
        let mut b = Histogram::<Decimal3>::default();
        let mut both = Histogram::<Decimal3>::default();
        for (i, v) in [5u64, 2_000_000, 1234, 999].into_iter().enumerate() {
            if i % 2 == 0 {
                a.record_value(v)
            } else {
                b.record_value(v)
            }
            both.record_value(v);
        }
        a.merge(&b);
        assert_eq!(a, both);
        assert_eq!(a.value_at(0.5), 999);
        assert_eq!(a.value_at(1.0), 2_000_000);
        assert_eq!(Histogram::<LogLinear>::default().value_at(0.5), 0);
    }
}
