//! The clock requests are metered with. `Instant::now()` costs a
//! clock_gettime through the vDSO, a few hundred instructions on a VM's
//! clock (measured: 4 of them added ~9% to a small proxied request), so
//! where the kernel itself trusts the TSC (clocksource `tsc`: invariant and
//! synchronized across cores) the meter reads the TSC directly, calibrated
//! once against `Instant`. Elsewhere it falls back to `Instant`.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

const CLOCKSOURCE: &str = "/sys/devices/system/clocksource/clocksource0/current_clocksource";
/// Calibration spins this long, once per process.
const CALIBRATION: Duration = Duration::from_millis(2);

pub struct Clock {
    origin: Instant,
    origin_ticks: u64,
    /// Microseconds per TSC tick; `None`: use `Instant`.
    us_per_tick: Option<f64>,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            us_per_tick: *US_PER_TICK.get_or_init(calibrate),
            origin_ticks: ticks(),
            origin: Instant::now(),
        }
    }
}

impl Clock {
    /// Microseconds since this clock was made.
    pub fn now_us(&self) -> u64 {
        match self.us_per_tick {
            Some(scale) => (ticks().wrapping_sub(self.origin_ticks) as f64 * scale) as u64,
            None => u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX),
        }
    }
}

static US_PER_TICK: OnceLock<Option<f64>> = OnceLock::new();

fn calibrate() -> Option<f64> {
    let source = std::fs::read_to_string(CLOCKSOURCE).ok()?;
    if !cfg!(target_arch = "x86_64") || source.trim() != "tsc" {
        return None;
    }
    let (start, start_ticks) = (Instant::now(), ticks());
    while start.elapsed() < CALIBRATION {
        std::hint::spin_loop();
    }
    let (elapsed, elapsed_ticks) = (start.elapsed(), ticks().wrapping_sub(start_ticks));
    (elapsed_ticks > 0).then(|| elapsed.as_secs_f64() * 1e6 / elapsed_ticks as f64)
}

#[cfg(target_arch = "x86_64")]
fn ticks() -> u64 {
    // SAFETY: RDTSC has no preconditions on x86_64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
fn ticks() -> u64 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_follows_real_time() {
        let clock = Clock::default();
        let started = Instant::now();
        let before = clock.now_us();
        std::thread::sleep(Duration::from_millis(20));
        let measured = clock.now_us() - before;
        let real = started.elapsed().as_micros() as u64;
        assert!(
            measured >= 19_000 && measured <= real + 1_000,
            "measured {measured} µs, real {real} µs"
        );
    }
}
