//! Clock alignment across nodes. Each node has its own `CLOCK_MONOTONIC` (it counts from that
//! node's boot, or from a time namespace's offset): a rank on another node than rank 0 records
//! times hours apart from rank 0's. The agent measures, at `MPI_Init` and again at
//! `MPI_Finalize`, how far each rank's clock is ahead of rank 0's (`offset`: the rank's clock
//! minus rank 0's at the same instant, from the ping-pong with the smallest round trip; `error`:
//! half that round trip) and stores both samples in the rank's file. The merge rewrites the
//! rank's `start_times`, `end_times` and MPI window into rank 0's time base,
//! `t0 = t - offset(t)`, with `offset(t)` interpolated linearly between the two samples (the
//! drift) where they differ by more than their error bounds, else the more precise sample's
//! offset, so every reader is right without knowing about it. The raw samples stay beside the
//! data (`clock_sync_begin`, `clock_sync_end`: `[at, offset, error]` in ns, `at` in the rank's
//! own clock), so the raw times are `t0 + offset(t)`, recoverable exactly up to rounding.
//!
//! Invariants: ranks that share rank 0's clock (same kernel boot, same time namespace) have
//! both offsets exactly 0 and are copied unchanged; an identity sync changes nothing.

/// Rank attribute: `[at, offset, error]` (ns) measured at `MPI_Init`.
pub const CLOCK_SYNC_BEGIN: &str = "clock_sync_begin";
/// Rank attribute: `[at, offset, error]` (ns) measured at `MPI_Finalize`.
pub const CLOCK_SYNC_END: &str = "clock_sync_end";
/// Rank attribute of a merged file: the larger error bound of the two samples (ns): how far
/// the rank's aligned times may be from rank 0's time base.
pub const CLOCK_ERROR: &str = "clock_error_ns";

/// One measurement of a rank's clock against rank 0's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClockSample {
    /// When it was taken, in the rank's own clock (ns).
    pub at_ns: i64,
    /// The rank's clock minus rank 0's at the same instant (ns).
    pub offset_ns: i64,
    /// Half the round trip of the ping-pong the offset came from (ns).
    pub error_ns: i64,
}

impl ClockSample {
    pub fn to_array(self) -> [i64; 3] {
        [self.at_ns, self.offset_ns, self.error_ns]
    }

    pub fn from_slice(v: &[i64]) -> Option<ClockSample> {
        match v {
            [at_ns, offset_ns, error_ns] => Some(ClockSample {
                at_ns: *at_ns,
                offset_ns: *offset_ns,
                error_ns: *error_ns,
            }),
            _ => None,
        }
    }
}

/// A rank's two samples, where taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClockSync {
    pub begin: Option<ClockSample>,
    pub end: Option<ClockSample>,
}

impl ClockSync {
    /// Nothing to correct: no sample, or every offset 0.
    pub fn is_identity(&self) -> bool {
        [self.begin, self.end]
            .iter()
            .flatten()
            .all(|s| s.offset_ns == 0)
    }

    /// The larger error bound of the samples (0 without any).
    pub fn error_ns(&self) -> i64 {
        [self.begin, self.end]
            .iter()
            .flatten()
            .map(|s| s.error_ns)
            .max()
            .unwrap_or(0)
    }

    /// The rank's offset at its own time `t`: linear between the samples (extended past them
    /// at the same rate) when they differ by more than their error bounds together, so the
    /// drift is real; else the more precise sample's (a drift within the measurement's noise
    /// is not one); the one sample where there is one.
    pub fn offset_at(&self, t: i64) -> i64 {
        match (self.begin, self.end) {
            (Some(b), Some(e)) if (e.offset_ns - b.offset_ns).abs() <= b.error_ns + e.error_ns => {
                if b.error_ns <= e.error_ns {
                    b.offset_ns
                } else {
                    e.offset_ns
                }
            }
            (Some(b), Some(e)) if e.at_ns > b.at_ns => {
                let slope_num = i128::from(e.offset_ns - b.offset_ns);
                let span = i128::from(e.at_ns - b.at_ns);
                let dt = i128::from(t) - i128::from(b.at_ns);
                (i128::from(b.offset_ns) + slope_num * dt / span) as i64
            }
            (Some(s), _) | (None, Some(s)) => s.offset_ns,
            (None, None) => 0,
        }
    }

    /// `t` (the rank's clock) in rank 0's time base.
    pub fn to_reference(&self, t: i64) -> i64 {
        t.wrapping_sub(self.offset_at(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000_000;

    #[test]
    fn a_constant_offset_moves_every_time_by_it() {
        let s = ClockSync {
            begin: Some(ClockSample {
                at_ns: 7 * HOUR,
                offset_ns: 7 * HOUR - 5,
                error_ns: 3,
            }),
            end: None,
        };
        assert!(!s.is_identity());
        assert_eq!(s.to_reference(7 * HOUR + 100), 105);
        assert_eq!(s.error_ns(), 3);
    }

    #[test]
    fn drift_is_interpolated_between_the_samples() {
        // The rank's clock runs 1 µs per second faster: +1000 ns of offset over 1 s.
        let s = ClockSync {
            begin: Some(ClockSample {
                at_ns: 1_000_000_000,
                offset_ns: 500,
                error_ns: 2,
            }),
            end: Some(ClockSample {
                at_ns: 2_000_000_000,
                offset_ns: 1_500,
                error_ns: 4,
            }),
        };
        assert_eq!(s.offset_at(1_000_000_000), 500);
        assert_eq!(s.offset_at(1_500_000_000), 1_000);
        assert_eq!(s.offset_at(2_000_000_000), 1_500);
        assert_eq!(s.offset_at(2_500_000_000), 2_000);
        assert_eq!(s.to_reference(1_500_000_000), 1_499_999_000);
        assert_eq!(s.error_ns(), 4);
    }

    #[test]
    fn a_drift_within_the_error_bounds_is_noise_and_the_precise_sample_wins() {
        // A round trip that waited for a time slice: ±6.6 ms at init, ±5 µs at finalize.
        let s = ClockSync {
            begin: Some(ClockSample {
                at_ns: 1_000_000_000,
                offset_ns: 7 * HOUR - 5_386_000,
                error_ns: 6_651_000,
            }),
            end: Some(ClockSample {
                at_ns: 2_000_000_000,
                offset_ns: 7 * HOUR + 36,
                error_ns: 4_850,
            }),
        };
        for t in [1_000_000_000, 1_500_000_000, 2_000_000_000] {
            assert_eq!(s.offset_at(t), 7 * HOUR + 36);
        }
        assert_eq!(s.error_ns(), 6_651_000);
    }

    #[test]
    fn no_sample_or_zero_offsets_change_nothing() {
        let none = ClockSync::default();
        assert!(none.is_identity());
        assert_eq!(none.to_reference(42), 42);
        let zero = ClockSync {
            begin: Some(ClockSample::default()),
            end: Some(ClockSample {
                at_ns: 10,
                offset_ns: 0,
                error_ns: 0,
            }),
        };
        assert!(zero.is_identity());
        assert_eq!(zero.to_reference(42), 42);
        assert_eq!(
            ClockSample::from_slice(&[1, 2, 3]).map(ClockSample::to_array),
            Some([1, 2, 3])
        );
        assert_eq!(ClockSample::from_slice(&[1, 2]), None);
    }
}
