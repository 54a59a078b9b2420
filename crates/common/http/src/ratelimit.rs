//! Keyed token-bucket rate limiting.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use common_error::Error;

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A token bucket per key: `rate` tokens per second, at most `burst` saved up. A rate of 0
/// disables the limiter.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

const MAX_KEYS: usize = 100_000;

impl RateLimiter {
    pub fn new(rate: f64, burst: f64) -> Self {
        RateLimiter {
            rate,
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`, or answers `Error::RateLimited` with the seconds until one
    /// is available.
    pub fn check(&self, key: &str) -> Result<(), Error> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let Ok(mut map) = self.buckets.lock() else {
            return Ok(());
        };
        if map.len() >= MAX_KEYS && !map.contains_key(key) {
            let (rate, burst) = (self.rate, self.burst);
            map.retain(|_, b| b.tokens + now.duration_since(b.last).as_secs_f64() * rate < burst);
        }
        let b = map.entry(key.to_string()).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        b.tokens =
            (b.tokens + now.duration_since(b.last).as_secs_f64() * self.rate).min(self.burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - b.tokens) / self.rate).ceil().max(1.0) as u64;
            Err(Error::RateLimited { retry_after: wait })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_limited_per_key() {
        let rl = RateLimiter::new(1.0, 3.0);
        for _ in 0..3 {
            rl.check("a").unwrap();
        }
        match rl.check("a") {
            Err(Error::RateLimited { retry_after }) => assert!(retry_after >= 1),
            other => panic!("expected rate limit, got {other:?}"),
        }
        rl.check("b").unwrap();
    }

    #[test]
    fn zero_rate_disables() {
        let rl = RateLimiter::new(0.0, 1.0);
        for _ in 0..100 {
            rl.check("a").unwrap();
        }
    }
}
