//! Timestamps: the stubs store raw ticks (the TSC on x86-64, `cntvct_el0` on aarch64; `ticks`
//! is the one place Rust reads them); they become `CLOCK_MONOTONIC` nanoseconds at flush time
//! through the process's one tick map (`TickMap`): a piecewise-linear function through samples
//! (tick, ns) taken at flushes.
//!
//! Invariants: the map is one function for the whole process, so a tick converts to the same
//! nanoseconds whichever flush converts it (an outer call's start, flushed late, and an inner
//! call's start, flushed early, keep their order); it never decreases (knots increase in both
//! coordinates, each segment's slope is rounded down); a knot is only ever appended, and a
//! tick already converted past the last knot (extrapolated) keeps its value: the next sample
//! starts from a knot placed on that extrapolation. The first slope spans at least
//! `MIN_BASELINE_NS` (5 ms), and knots are at least 5 ms (later 1/64 of the process's age, at
//! most 1 s) apart, so the map holds a few thousand knots after hours, while its error at any
//! tick stays about the error of one sample (tens of nanoseconds natively; the CPUs we run on
//! have an invariant TSC: `constant_tsc` + `nonstop_tsc`, checked at start-up).

use std::sync::{Mutex, MutexGuard, OnceLock};

const MIN_BASELINE_NS: i64 = 5_000_000;
/// Knot spacing: at least `MIN_BASELINE_NS`, else the process's age over `AGE_SHARE`, at most
/// `MAX_SPACING_NS`.
const AGE_SHARE: i64 = 64;
const MAX_SPACING_NS: i64 = 1_000_000_000;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub tsc: u64,
    pub ns: i64,
}

static ORIGIN: OnceLock<Sample> = OnceLock::new();

pub fn monotonic_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// The raw tick counter the stubs read (the TSC).
#[cfg(target_arch = "x86_64")]
pub fn ticks() -> u64 {
    // SAFETY: rdtsc is unprivileged on Linux x86-64.
    unsafe { std::arch::x86_64::_rdtsc() }
}

/// The raw tick counter on aarch64: the virtual counter `cntvct_el0` (readable at EL0 on
/// Linux), after an `isb` so it is not read ahead of the code before it.
#[cfg(target_arch = "aarch64")]
pub fn ticks() -> u64 {
    let t: u64;
    // SAFETY: reading the generic timer's virtual count, which Linux lets user space read.
    unsafe { std::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) t, options(nostack)) };
    t
}

/// A (tsc, ns) pair read as close together as possible (the tightest of a few tries).
fn sample() -> Sample {
    let mut best = (u64::MAX, Sample { tsc: 0, ns: 0 });
    for _ in 0..5 {
        let a = ticks();
        let ns = monotonic_ns();
        let b = ticks();
        if b.wrapping_sub(a) < best.0 {
            best = (
                b.wrapping_sub(a),
                Sample {
                    tsc: a / 2 + b / 2,
                    ns,
                },
            );
        }
    }
    best.1
}

/// Takes the start-up sample. Returns whether the CPU says its TSC is invariant.
pub fn init() -> bool {
    let _ = ORIGIN.set(sample());
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags = info.lines().find(|l| l.starts_with("flags")).unwrap_or("");
    flags.split_whitespace().any(|f| f == "constant_tsc")
        && flags.split_whitespace().any(|f| f == "nonstop_tsc")
}

/// A point of the map and the slope (nanoseconds per tick, 32.32 fixed point) from it to the
/// next knot, or past the last one.
#[derive(Clone, Copy, Debug)]
struct Knot {
    tsc: u64,
    ns: i64,
    mult: i128,
}

impl Knot {
    #[inline]
    fn ns(&self, tsc: u64) -> i64 {
        let dt = tsc as i128 - self.tsc as i128;
        (self.ns as i128 + ((dt * self.mult) >> 32)) as i64
    }
}

/// The slope from `a` to `b` (32.32, rounded down, at least 1), or None unless `b` lies after
/// `a` in both coordinates.
fn slope(a: (u64, i64), b: Sample) -> Option<i128> {
    (b.tsc > a.0 && b.ns > a.1)
        .then(|| (((b.ns - a.1) as i128) << 32) / (b.tsc - a.0) as i128)
        .map(|m| m.max(1))
}

/// The process's tick → nanosecond map (see the module header).
#[derive(Debug)]
pub struct TickMap {
    knots: Vec<Knot>,
    /// The last real sample among the knots: extrapolation uses the slope from it to the next.
    last_sample: Sample,
    /// The greatest tick converted so far (at least the last knot's).
    converted: u64,
    /// The segment the last conversion used, copied out of `knots`: a flush's ticks mostly
    /// fall in the same one, so converting one is two comparisons and a multiplication.
    seg: Segment,
}

/// Ticks in `lo..hi` convert with `knot` (`hi` = `u64::MAX` past the last knot).
#[derive(Clone, Copy, Debug)]
struct Segment {
    lo: u64,
    hi: u64,
    knot: Knot,
}

/// A segment no tick falls in: the next conversion looks its segment up.
const NO_SEGMENT: Segment = Segment {
    lo: 1,
    hi: 0,
    knot: Knot {
        tsc: 0,
        ns: 0,
        mult: 0,
    },
};

impl TickMap {
    fn new(origin: Sample) -> TickMap {
        TickMap {
            knots: vec![Knot {
                tsc: origin.tsc,
                ns: origin.ns,
                mult: 0,
            }],
            last_sample: origin,
            converted: origin.tsc,
            seg: NO_SEGMENT,
        }
    }

    fn origin(&self) -> Sample {
        Sample {
            tsc: self.knots[0].tsc,
            ns: self.knots[0].ns,
        }
    }

    /// Whether the first slope is known (a sample `MIN_BASELINE_NS` after the origin).
    fn has_slope(&self) -> bool {
        self.knots.len() > 1
    }

    /// Adds the sample `s` when it is far enough from the last knot (always for the first
    /// slope, which needs `s` at least `MIN_BASELINE_NS` after the origin).
    fn add(&mut self, s: Sample) {
        let last = *self.knots.last().expect("the origin knot");
        let age = s.ns - self.origin().ns;
        let spacing = (age / AGE_SHARE).clamp(MIN_BASELINE_NS, MAX_SPACING_NS);
        if s.ns - last.ns < spacing {
            return;
        }
        let Some(extrapolate) = slope((self.last_sample.tsc, self.last_sample.ns), s) else {
            return;
        };
        if !self.has_slope() || self.converted <= last.tsc {
            // Nothing was converted past the last knot: its slope can still change.
            let Some(m) = slope((last.tsc, last.ns), s) else {
                return;
            };
            self.knots.last_mut().expect("a knot").mult = m;
        } else {
            // Ticks up to `converted` were extrapolated: pin that line with a knot first.
            let pin = (self.converted, last.ns(self.converted));
            let Some(m) = slope(pin, s) else {
                return;
            };
            self.knots.push(Knot {
                tsc: pin.0,
                ns: pin.1,
                mult: m,
            });
        }
        self.knots.push(Knot {
            tsc: s.tsc,
            ns: s.ns,
            mult: extrapolate,
        });
        self.last_sample = s;
        self.converted = s.tsc;
        self.seg = NO_SEGMENT;
    }

    /// The nanoseconds of a tick; a tick past the last knot is extrapolated and remembered.
    #[inline]
    pub fn ns(&mut self, tsc: u64) -> i64 {
        // Past the last knot, `converted` must follow; below it, the maximum changes nothing.
        self.converted = self.converted.max(tsc);
        let seg = self.seg;
        if seg.lo <= tsc && tsc < seg.hi {
            return seg.knot.ns(tsc);
        }
        self.seg = self.segment_of(tsc);
        self.seg.knot.ns(tsc)
    }

    /// The segment `tsc` falls in (the first knot's for a tick before it).
    fn segment_of(&self, tsc: u64) -> Segment {
        let knots = &self.knots;
        let i = knots.partition_point(|k| k.tsc <= tsc).max(1) - 1;
        match knots.get(i + 1) {
            Some(next) if tsc < next.tsc => Segment {
                lo: if i == 0 { 0 } else { knots[i].tsc },
                hi: next.tsc,
                knot: knots[i],
            },
            _ => Segment {
                lo: knots[knots.len() - 1].tsc,
                hi: u64::MAX,
                knot: knots[knots.len() - 1],
            },
        }
    }

    #[cfg(test)]
    fn knot_count(&self) -> usize {
        self.knots.len()
    }
}

static MAP: Mutex<Option<TickMap>> = Mutex::new(None);

/// The process's tick map, with a fresh sample added when one is due: valid for every tick
/// read so far. The first call waits until `MIN_BASELINE_NS` have passed since start-up.
pub struct MapGuard(MutexGuard<'static, Option<TickMap>>);

impl MapGuard {
    /// The map itself, to convert a flush's ticks with (`TickMap::ns`, inlined in the loop).
    pub fn map(&mut self) -> &mut TickMap {
        self.0.as_mut().expect("set by tick_map")
    }
}

pub fn tick_map() -> MapGuard {
    let mut guard = MAP.lock().unwrap_or_else(|p| p.into_inner());
    let map = guard.get_or_insert_with(|| TickMap::new(*ORIGIN.get_or_init(sample)));
    map.add(sample());
    while !map.has_slope() {
        std::thread::sleep(std::time::Duration::from_micros(500));
        map.add(sample());
    }
    MapGuard(guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(tsc: u64, ns: i64) -> Sample {
        Sample { tsc, ns }
    }

    #[test]
    fn fixed_point_matches_exact_ratio() {
        let a = s(1_000, 5_000_000_000);
        // 2.3 ticks per ns over a one-hour baseline.
        let span_tsc: u64 = 8_280_000_000_000;
        let span_ns: i64 = 3_600_000_000_000;
        let mut m = TickMap::new(a);
        m.add(s(a.tsc + span_tsc, a.ns + span_ns));
        for dt in [0u64, 1, 2_300_000, 4_600_000_000, 8_280_000_000_000] {
            let exact = a.ns as i128 + dt as i128 * span_ns as i128 / span_tsc as i128;
            let got = m.ns(a.tsc + dt) as i128;
            assert!(
                (got - exact).abs() <= 1 + exact / 1_000_000_000,
                "dt={dt}: {got} vs {exact}"
            );
        }
    }

    #[test]
    fn the_first_slope_waits_for_the_baseline() {
        let mut m = TickMap::new(s(0, 0));
        m.add(s(1_000, 1_000_000));
        assert!(!m.has_slope());
        m.add(s(12_000, 6_000_000));
        assert!(m.has_slope());
        assert_eq!(m.ns(6_000), 3_000_000);
    }

    /// Samples off the true line by up to ±3 µs (qemu-like), converted in flushes whose ticks
    /// reach past the last knot: every tick keeps the value it first got, the map never
    /// decreases, and it stays within a few sample errors of the true line.
    #[test]
    fn one_function_whatever_the_flush_and_monotone_under_noisy_samples() {
        let truth = |t: u64| (t / 2) as i64; // 2 ticks per ns
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut noise = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % 6_001) as i64 - 3_000
        };
        let mut m = TickMap::new(s(0, 0));
        let mut seen: Vec<(u64, i64)> = Vec::new();
        let mut now: u64 = 0;
        for flush in 0..3_000u64 {
            now += 1_000_000 + (flush % 7) * 300_000; // 0.5–1.5 ms of ticks per flush
            m.add(s(now, truth(now) + noise()));
            if !m.has_slope() {
                continue; // `tick_map` waits for the first slope
            }
            // Records of this flush: ticks from long ago up to a little past the sample.
            for k in 0..20u64 {
                let t = now.saturating_sub(k * 97_531 % 40_000_000) + k * 1_000;
                seen.push((t, m.ns(t)));
            }
        }
        for &(t, v) in &seen {
            assert_eq!(m.ns(t), v, "tick {t} changed its value");
            assert!(
                (v - truth(t)).abs() < 20_000,
                "tick {t}: {v} vs {}",
                truth(t)
            );
        }
        let mut ticks: Vec<u64> = seen.iter().map(|p| p.0).collect();
        ticks.sort();
        for w in ticks.windows(2) {
            assert!(m.ns(w[0]) <= m.ns(w[1]), "decreases between {w:?}");
        }
        let step = (now / 100_000).max(1);
        for t in (0..now).step_by(step as usize) {
            assert!(m.ns(t) <= m.ns(t + step));
        }
    }

    #[test]
    fn knots_stay_few_over_a_long_run() {
        let mut m = TickMap::new(s(0, 0));
        // An hour of flushes every millisecond, each converting a tick past the sample.
        for ms in 1..=3_600_000u64 {
            let t = ms * 2_000_000;
            m.add(s(t, (t / 2) as i64));
            m.ns(t + 10);
        }
        assert!(m.knot_count() < 12_000, "{} knots", m.knot_count());
    }
}
