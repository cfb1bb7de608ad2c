//! Timestamps: the stubs store raw TSC values; they become `CLOCK_MONOTONIC` nanoseconds at
//! flush time, by a linear map fitted between a sample taken at start-up and one taken at the
//! flush. Invariant: the map's baseline is at least `MIN_BASELINE_NS` long, so the relative
//! error of a converted duration stays in the parts-per-million (the TSC is invariant on the
//! CPUs we run on: `constant_tsc` + `nonstop_tsc`, checked at start-up).

use std::sync::OnceLock;

const MIN_BASELINE_NS: i64 = 20_000_000;

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

fn rdtsc() -> u64 {
    // SAFETY: rdtsc is unprivileged on Linux x86-64.
    unsafe { std::arch::x86_64::_rdtsc() }
}

/// A (tsc, ns) pair read as close together as possible (the tightest of a few tries).
fn sample() -> Sample {
    let mut best = (u64::MAX, Sample { tsc: 0, ns: 0 });
    for _ in 0..5 {
        let a = rdtsc();
        let ns = monotonic_ns();
        let b = rdtsc();
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

/// Converts raw TSC values to nanoseconds.
#[derive(Clone, Copy, Debug)]
pub struct Converter {
    a: Sample,
    b: Sample,
}

impl Converter {
    /// A converter valid for every TSC value read so far.
    pub fn now() -> Converter {
        let a = *ORIGIN.get_or_init(sample);
        let mut b = sample();
        while b.ns - a.ns < MIN_BASELINE_NS {
            std::thread::sleep(std::time::Duration::from_millis(1));
            b = sample();
        }
        Converter { a, b }
    }

    pub fn ns(&self, tsc: u64) -> i64 {
        let dt = tsc as i128 - self.a.tsc as i128;
        let span_ns = (self.b.ns - self.a.ns) as i128;
        let span_tsc = (self.b.tsc as i128 - self.a.tsc as i128).max(1);
        (self.a.ns as i128 + dt * span_ns / span_tsc) as i64
    }
}
