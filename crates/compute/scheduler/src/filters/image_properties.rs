//! `ImagePropertiesFilter`: the host can run the image's architecture and hypervisor type.

use crate::{Filter, HostState, RequestSpec};

/// The image's `hw_architecture` (or the older `architecture`) must equal the host's
/// `cpu_arch`, and `img_hv_type` (or `hypervisor_type`) the host's hypervisor type, both
/// compared case-insensitively after Nova's canonicalisation (`amd64` is `x86_64`, `i386`
/// is `i686`, `xapi` is `xen`...). Absent or empty properties pass; a host that reports
/// nothing never satisfies a property that is set.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImagePropertiesFilter;

impl Filter for ImagePropertiesFilter {
    fn name(&self) -> &'static str {
        "ImagePropertiesFilter"
    }

    fn passes(&self, host: &HostState, spec: &RequestSpec) -> bool {
        let prop = |new: &str, old: &str| {
            spec.image_properties
                .get(new)
                .or_else(|| spec.image_properties.get(old))
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
        };
        if let Some(arch) = prop("hw_architecture", "architecture") {
            if host.cpu_arch.trim().is_empty()
                || !canonical_arch(arch).eq_ignore_ascii_case(canonical_arch(&host.cpu_arch))
            {
                return false;
            }
        }
        if let Some(hv) = prop("img_hv_type", "hypervisor_type") {
            if host.hypervisor_type.trim().is_empty()
                || !canonical_hv(hv).eq_ignore_ascii_case(canonical_hv(&host.hypervisor_type))
            {
                return false;
            }
        }
        true
    }
}

/// Nova's `fields.Architecture.canonicalize`, without allocating (this runs once per host
/// per decision): known aliases map to their canonical name, anything else is itself
/// (compared case-insensitively by the caller).
fn canonical_arch(arch: &str) -> &str {
    let arch = arch.trim();
    const ALIASES: [(&str, &str); 8] = [
        ("i386", "i686"),
        ("i486", "i686"),
        ("i586", "i686"),
        ("x86_32", "i686"),
        ("x86_32p", "i686"),
        ("amd64", "x86_64"),
        ("x64", "x86_64"),
        ("arm64", "aarch64"),
    ];
    ALIASES
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(arch))
        .map_or(arch, |(_, canonical)| canonical)
}

/// Nova's `fields.HVType.canonicalize`, without allocating.
fn canonical_hv(hv: &str) -> &str {
    let hv = hv.trim();
    if hv.eq_ignore_ascii_case("xapi") {
        "xen"
    } else {
        hv
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{host, spec};

    /// (image properties, host cpu_arch, host hypervisor_type, passes)
    type Case = (
        &'static [(&'static str, &'static str)],
        &'static str,
        &'static str,
        bool,
    );

    #[test]
    fn image_architecture_and_hypervisor_must_match_the_host() {
        let cases: [Case; 16] = [
            (&[], "x86_64", "QEMU", true),
            (&[], "", "", true),
            (&[("hw_architecture", "x86_64")], "x86_64", "QEMU", true),
            (&[("hw_architecture", "X86_64")], "x86_64", "QEMU", true),
            (&[("hw_architecture", "amd64")], "x86_64", "QEMU", true),
            (&[("hw_architecture", "aarch64")], "x86_64", "QEMU", false),
            (&[("architecture", "aarch64")], "x86_64", "QEMU", false),
            (&[("architecture", "x86_64")], "x86_64", "QEMU", true),
            (&[("hw_architecture", "x86_64")], "", "QEMU", false),
            (&[("hw_architecture", "")], "aarch64", "QEMU", true),
            (&[("img_hv_type", "qemu")], "x86_64", "QEMU", true),
            (&[("img_hv_type", "kvm")], "x86_64", "QEMU", false),
            (&[("hypervisor_type", "QEMU")], "x86_64", "qemu", true),
            (&[("hypervisor_type", "xen")], "x86_64", "qemu", false),
            (
                &[("img_hv_type", "qemu"), ("hw_architecture", "i386")],
                "i686",
                "qemu",
                true,
            ),
            (
                &[("img_hv_type", "qemu"), ("hw_architecture", "i386")],
                "x86_64",
                "qemu",
                false,
            ),
        ];
        for (props, arch, hv, want) in cases {
            let h = HostState {
                cpu_arch: arch.into(),
                hypervisor_type: hv.into(),
                ..host("h1")
            };
            let s = RequestSpec {
                image_properties: props
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                ..spec()
            };
            assert_eq!(
                ImagePropertiesFilter.passes(&h, &s),
                want,
                "image {props:?} on host {arch}/{hv}"
            );
        }
    }

    #[test]
    fn the_new_property_name_wins_over_the_old_one() {
        let s = RequestSpec {
            image_properties: [("hw_architecture", "x86_64"), ("architecture", "aarch64")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..spec()
        };
        assert!(ImagePropertiesFilter.passes(&host("h1"), &s));
    }
}
