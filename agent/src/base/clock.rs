//! Timestamps: the stubs store raw TSC values (`ticks` is the one place Rust reads the TSC);
//! they become `CLOCK_MONOTONIC` nanoseconds at flush time, by a linear map fitted between a sample taken at start-up and one taken at the
//! flush. Invariant: the map's baseline is at least `MIN_BASELINE_NS` (5 ms) long, so the
//! relative error of a converted duration stays around ten parts per million or better (the TSC is invariant on the
//! CPUs we run on: `constant_tsc` + `nonstop_tsc`, checked at start-up).

use std::sync::OnceLock;

const MIN_BASELINE_NS: i64 = 5_000_000;

#[derive(Clone, Copy, Debug)]
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

/// Converts raw TSC values to nanoseconds: `ns = a.ns + (tsc - a.tsc) * mult >> 32`, with
/// `mult` (nanoseconds per tick, 32.32 fixed point) computed once, so converting an event is
/// one multiplication.
#[derive(Clone, Copy, Debug)]
pub struct Converter {
    a: Sample,
    mult: i128,
}

impl Converter {
    /// A converter valid for every TSC value read so far.
    pub fn now() -> Converter {
        let a = *ORIGIN.get_or_init(sample);
        let mut b = sample();
        while b.ns - a.ns < MIN_BASELINE_NS {
            std::thread::sleep(std::time::Duration::from_micros(500));
            b = sample();
        }
        let span_ns = (b.ns - a.ns) as i128;
        let span_tsc = (b.tsc as i128 - a.tsc as i128).max(1);
        Converter {
            a,
            mult: (span_ns << 32) / span_tsc,
        }
    }

    pub fn ns(&self, tsc: u64) -> i64 {
        let dt = tsc as i128 - self.a.tsc as i128;
        (self.a.ns as i128 + ((dt * self.mult) >> 32)) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_matches_exact_ratio() {
        let a = Sample {
            tsc: 1_000,
            ns: 5_000_000_000,
        };
        // 2.3 ticks per ns over a one-hour baseline.
        let span_tsc: i128 = 8_280_000_000_000;
        let span_ns: i128 = 3_600_000_000_000;
        let c = Converter {
            a,
            mult: (span_ns << 32) / span_tsc,
        };
        for dt in [0u64, 1, 2_300_000, 4_600_000_000, 8_280_000_000_000] {
            let exact = a.ns as i128 + dt as i128 * span_ns / span_tsc;
            let got = c.ns(a.tsc + dt) as i128;
            assert!(
                (got - exact).abs() <= 1 + exact / 1_000_000_000,
                "dt={dt}: {got} vs {exact}"
            );
        }
    }
}
