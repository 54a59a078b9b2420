//! This host as the control plane sees it: the stable compute node uuid, the inventory
//! reported to placement, and the service record sent with every heartbeat.

use std::collections::BTreeMap;
use std::path::Path;

use common_error::{Context, Error, Result};
use compute_model::ComputeService;
use compute_virt::HostInfo;

use crate::ports::Inventory;
use crate::AgentConfig;

/// The file under `instances_dir` that keeps the node uuid across restarts.
pub const NODE_UUID_FILE: &str = "node_uuid";

/// The node uuid stored in `<instances_dir>/node_uuid`, created (once) when absent. A file
/// that holds anything but a uuid is an error: replacing it would orphan the resource
/// provider and every allocation against it.
pub(crate) async fn node_uuid(instances_dir: &Path) -> Result<String> {
    tokio::fs::create_dir_all(instances_dir)
        .await
        .context("create the instances directory")?;
    let path = instances_dir.join(NODE_UUID_FILE);
    match tokio::fs::read_to_string(&path).await {
        Ok(text) => {
            let id = uuid::Uuid::parse_str(text.trim()).map_err(|e| {
                Error::internal(&format!("read node uuid from {}", path.display()), e)
            })?;
            return Ok(id.hyphenated().to_string());
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(Error::internal("read the node uuid file", err)),
    }
    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    let temp = instances_dir.join(format!(
        ".{NODE_UUID_FILE}.{}",
        uuid::Uuid::new_v4().simple()
    ));
    tokio::fs::write(&temp, format!("{id}\n"))
        .await
        .context("write the node uuid file")?;
    if let Err(err) = tokio::fs::rename(&temp, &path).await {
        let _ = tokio::fs::remove_file(&temp).await;
        return Err(Error::internal("rename the node uuid file into place", err));
    }
    tracing::info!(node_uuid = %id, "created compute node uuid");
    Ok(id)
}

/// The placement inventory of this host: VCPU, MEMORY_MB and DISK_GB with the configured
/// allocation ratios and reservations (`max_unit` = total; a reservation never exceeds the
/// total). Classes the host has none of are left out (placement rejects a total of 0).
pub(crate) fn inventory(cfg: &AgentConfig, host: &HostInfo) -> BTreeMap<String, Inventory> {
    let classes = [
        ("VCPU", host.vcpus, 0, cfg.cpu_allocation_ratio),
        (
            "MEMORY_MB",
            host.memory_mb,
            cfg.reserved_host_memory_mb,
            cfg.ram_allocation_ratio,
        ),
        (
            "DISK_GB",
            host.disk_gb,
            cfg.reserved_host_disk_gb,
            cfg.disk_allocation_ratio,
        ),
    ];
    classes
        .into_iter()
        .filter(|(_, total, _, _)| *total > 0)
        .map(|(class, total, reserved, ratio)| {
            let inv = Inventory {
                total,
                reserved: reserved.clamp(0, total),
                min_unit: 1,
                max_unit: total,
                step_size: 1,
                allocation_ratio: if ratio.is_finite() && ratio > 0.0 {
                    ratio
                } else {
                    1.0
                },
            };
            (class.to_string(), inv)
        })
        .collect()
}

/// The service record a heartbeat carries. `uuid` is this run's id (the conductor keeps
/// the uuid of an existing row); `updated_at` is left for the conductor to stamp.
pub(crate) fn service(
    cfg: &AgentConfig,
    service_uuid: &str,
    node_uuid: &str,
    host: &HostInfo,
) -> ComputeService {
    ComputeService {
        uuid: service_uuid.to_string(),
        host: cfg.host.clone(),
        binary: "nova-compute".into(),
        availability_zone: cfg.availability_zone.clone(),
        disabled: false,
        disabled_reason: None,
        forced_down: false,
        updated_at: String::new(),
        node_uuid: node_uuid.to_string(),
        hypervisor_type: host.hypervisor_type.clone(),
        hypervisor_version: host.hypervisor_version,
        host_ip: cfg.host_ip.clone(),
        vcpus: host.vcpus,
        memory_mb: host.memory_mb,
        local_gb: host.disk_gb,
        cpu_info: host.cpu_info.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(vcpus: i64, memory_mb: i64, disk_gb: i64) -> HostInfo {
        HostInfo {
            hypervisor_type: "QEMU".into(),
            hypervisor_version: 7_002_000,
            vcpus,
            memory_mb,
            disk_gb,
            cpu_info: "{}".into(),
        }
    }

    #[test]
    fn inventory_applies_ratios_and_reservations() {
        let cfg = AgentConfig::new("h1", "/nonexistent");
        let inv = inventory(&cfg, &host(4, 8192, 100));
        let vcpu = &inv["VCPU"];
        assert_eq!((vcpu.total, vcpu.reserved, vcpu.max_unit), (4, 0, 4));
        assert_eq!(vcpu.allocation_ratio, cfg.cpu_allocation_ratio);
        let ram = &inv["MEMORY_MB"];
        assert_eq!((ram.total, ram.reserved, ram.max_unit), (8192, 512, 8192));
        assert_eq!(ram.allocation_ratio, cfg.ram_allocation_ratio);
        let disk = &inv["DISK_GB"];
        assert_eq!((disk.total, disk.reserved, disk.max_unit), (100, 0, 100));
        assert_eq!((disk.min_unit, disk.step_size), (1, 1));
    }

    #[test]
    fn inventory_never_reserves_more_than_there_is_nor_reports_nothing() {
        let cfg = AgentConfig {
            reserved_host_memory_mb: 4096,
            cpu_allocation_ratio: f64::NAN,
            ..AgentConfig::new("h1", "/nonexistent")
        };
        let inv = inventory(&cfg, &host(2, 1024, 0));
        assert_eq!(inv["MEMORY_MB"].reserved, 1024);
        assert_eq!(inv["VCPU"].allocation_ratio, 1.0);
        assert!(!inv.contains_key("DISK_GB"));
    }

    #[tokio::test]
    async fn a_corrupt_node_uuid_file_is_an_error_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(NODE_UUID_FILE), "not a uuid").unwrap();
        assert!(node_uuid(dir.path()).await.is_err());
        let text = std::fs::read_to_string(dir.path().join(NODE_UUID_FILE)).unwrap();
        assert_eq!(text, "not a uuid");
    }
}
