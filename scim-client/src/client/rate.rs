//! The client-side rate limit: a token bucket.

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::error::{Error, Result};

/// A token bucket: at most `rate` requests per second on average, bursts up to `burst`.
#[derive(Debug)]
pub(super) struct RateLimiter {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// Checks the settings: `rate` must be a finite number above zero whose interval
    /// (`1 / rate` seconds) is a representable duration, `burst` at least 1.
    pub(super) fn new(rate: f64, burst: f64) -> Result<Self> {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(Error::Invalid(format!(
                "rate limit must be a finite number of requests per second above 0, not {rate}"
            )));
        }
        if Duration::try_from_secs_f64(1.0 / rate).is_err() {
            return Err(Error::Invalid(format!(
                "rate limit {rate} per second is too small (one request every {} s)",
                1.0 / rate
            )));
        }
        if !(burst.is_finite() && burst >= 1.0) {
            return Err(Error::Invalid(format!(
                "rate limit burst must be at least 1, not {burst}"
            )));
        }
        Ok(RateLimiter {
            rate,
            burst,
            state: Mutex::new((burst, Instant::now())),
        })
    }

    /// Waits until a request may be sent.
    pub(super) async fn acquire(&self) {
        loop {
            let wait = {
                let mut s = self.state.lock().await;
                let now = Instant::now();
                let (tokens, last) = *s;
                let tokens =
                    (tokens + now.duration_since(last).as_secs_f64() * self.rate).min(self.burst);
                if tokens >= 1.0 {
                    *s = (tokens - 1.0, now);
                    return;
                }
                *s = (tokens, now);
                // `new` checked that 1 / rate is representable; (1 - tokens) / rate is smaller.
                Duration::try_from_secs_f64((1.0 - tokens.max(0.0)) / self.rate)
                    .unwrap_or(Duration::from_secs(1))
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_rates_are_errors() {
        for r in [
            0.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e-300,
        ] {
            assert!(
                matches!(RateLimiter::new(r, 1.0), Err(Error::Invalid(_))),
                "{r}"
            );
        }
        assert!(RateLimiter::new(1.0, 0.0).is_err());
        assert!(RateLimiter::new(1.0, f64::NAN).is_err());
        assert!(RateLimiter::new(0.001, 1.0).is_ok());
    }
}
