//! `RamWeigher`: free RAM (MiB).

use crate::{HostState, RequestSpec, Weigher};

/// Weighs a host by its free `MEMORY_MB` (capacity − used). With a positive multiplier the
/// emptiest host wins (spread); with a negative one the fullest (pack).
#[derive(Debug, Clone, Copy, Default)]
pub struct RamWeigher;

impl Weigher for RamWeigher {
    fn name(&self) -> &'static str {
        "RamWeigher"
    }

    fn weigh(&self, host: &HostState, _spec: &RequestSpec) -> f64 {
        host.free("MEMORY_MB") as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{host, spec, with_used};

    #[test]
    fn weight_is_the_free_amount() {
        let cases = [(0, 1.0), (1, 0.875), (4, 0.5), (8, 0.0), (10, -0.25)];
        let capacity = host("h1").capacity["MEMORY_MB"];
        for (eighths, share) in cases {
            let h = with_used(host("h1"), "MEMORY_MB", capacity / 8 * eighths);
            let want = capacity as f64 * share;
            assert_eq!(RamWeigher.weigh(&h, &spec()), want, "{eighths}/8 used");
        }
        let mut h = host("h1");
        h.capacity.remove("MEMORY_MB");
        assert_eq!(RamWeigher.weigh(&h, &spec()), 0.0, "no such class");
    }
}
