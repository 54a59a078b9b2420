//! `DiskWeigher`: free disk (GiB).

use crate::{HostState, RequestSpec, Weigher};

/// Weighs a host by its free `DISK_GB` (capacity − used). With a positive multiplier the
/// emptiest host wins (spread); with a negative one the fullest (pack).
#[derive(Debug, Clone, Copy, Default)]
pub struct DiskWeigher;

impl Weigher for DiskWeigher {
    fn name(&self) -> &'static str {
        "DiskWeigher"
    }

    fn weigh(&self, host: &HostState, _spec: &RequestSpec) -> f64 {
        host.free("DISK_GB") as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{host, spec, with_used};

    #[test]
    fn weight_is_the_free_amount() {
        let cases = [(0, 1.0), (1, 0.875), (4, 0.5), (8, 0.0), (10, -0.25)];
        let capacity = host("h1").capacity["DISK_GB"];
        for (eighths, share) in cases {
            let h = with_used(host("h1"), "DISK_GB", capacity / 8 * eighths);
            let want = capacity as f64 * share;
            assert_eq!(DiskWeigher.weigh(&h, &spec()), want, "{eighths}/8 used");
        }
        let mut h = host("h1");
        h.capacity.remove("DISK_GB");
        assert_eq!(DiskWeigher.weigh(&h, &spec()), 0.0, "no such class");
    }
}
