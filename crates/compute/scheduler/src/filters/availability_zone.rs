//! `AvailabilityZoneFilter`: the host must be in the requested availability zone.

use crate::{Filter, HostState, RequestSpec};

/// When the request names an availability zone, only hosts in exactly that zone pass; a
/// request without one passes everywhere. (The domain splits Nova's `zone:host` forced-host
/// form before building the spec.)
#[derive(Debug, Clone, Copy, Default)]
pub struct AvailabilityZoneFilter;

impl Filter for AvailabilityZoneFilter {
    fn name(&self) -> &'static str {
        "AvailabilityZoneFilter"
    }

    fn passes(&self, host: &HostState, spec: &RequestSpec) -> bool {
        match spec.availability_zone.as_deref() {
            None | Some("") => true,
            Some(zone) => host.availability_zone == zone,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{host, spec};

    #[test]
    fn host_must_be_in_the_requested_zone() {
        let cases = [
            // (requested, host zone, passes)
            (None, "nova", true),
            (None, "az2", true),
            (Some(""), "az2", true),
            (Some("nova"), "nova", true),
            (Some("nova"), "az2", false),
            (Some("az2"), "nova", false),
            (Some("Nova"), "nova", false),
        ];
        for (want_zone, zone, want) in cases {
            let h = HostState {
                availability_zone: zone.into(),
                ..host("h1")
            };
            let s = RequestSpec {
                availability_zone: want_zone.map(String::from),
                ..spec()
            };
            assert_eq!(
                AvailabilityZoneFilter.passes(&h, &s),
                want,
                "requested {want_zone:?}, host in {zone}"
            );
        }
    }
}
