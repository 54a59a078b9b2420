//! What each service registers in the identity catalog: its type, name and path prefix.

use identity_domain::catalog::INTERFACES;
use identity_domain::Identity;

/// `(service, catalog type, name, description, path under the base URL)`.
pub const SERVICES: &[(&str, &str, &str, &str, &str)] = &[
    ("image", "image", "glance", "Image Service", "/image"),
    (
        "placement",
        "placement",
        "placement",
        "Placement Service",
        "/placement",
    ),
    (
        "compute",
        "compute",
        "nova",
        "Compute Service",
        "/compute/v2.1",
    ),
    (
        "network",
        "network",
        "neutron",
        "Network Service",
        "/network",
    ),
    (
        "volume",
        "block-storage",
        "cinder",
        "Block Storage Service",
        "/volume/v3",
    ),
    // Older clients look block storage up as `volumev3`: the same endpoint.
    (
        "volume",
        "volumev3",
        "cinderv3",
        "Block Storage Service (v3 alias)",
        "/volume/v3",
    ),
];

/// Registers `service` (a name from [`SERVICES`]; every entry of that name) with its public,
/// internal and admin endpoints at `base_url` + its path, in `region`. Unknown names are
/// ignored (identity registers itself in bootstrap).
pub async fn register(
    identity: &Identity,
    service: &str,
    base_url: &str,
    region: &str,
) -> anyhow::Result<()> {
    for (_, kind, name, description, path) in SERVICES.iter().filter(|s| s.0 == service) {
        let sid = identity
            .service_ensure(kind, name, description)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for iface in INTERFACES {
            identity
                .endpoint_ensure(&sid, iface, region, &format!("{base_url}{path}"))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    Ok(())
}
