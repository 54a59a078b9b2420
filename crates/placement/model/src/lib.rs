//! Placement's data types: resource providers, inventories, traits, aggregates, consumers
//! and allocations, plus the standard resource classes and traits (os-resource-classes and
//! os-traits). No I/O here.

use std::collections::BTreeMap;

/// A resource provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceProvider {
    pub uuid: String,
    pub name: String,
    pub generation: i64,
    pub parent_provider_uuid: Option<String>,
    pub root_provider_uuid: String,
}

/// One inventory record of a provider for one resource class.
#[derive(Debug, Clone, PartialEq)]
pub struct Inventory {
    pub resource_class: String,
    pub total: i64,
    pub reserved: i64,
    pub min_unit: i64,
    pub max_unit: i64,
    pub step_size: i64,
    pub allocation_ratio: f64,
}

impl Inventory {
    /// What may be allocated in all: `(total - reserved) * allocation_ratio`, floored.
    pub fn capacity(&self) -> i64 {
        ((self.total - self.reserved) as f64 * self.allocation_ratio).floor() as i64
    }

    /// Whether one allocation of `amount` is allowed by min_unit, max_unit and step_size.
    pub fn unit_ok(&self, amount: i64) -> bool {
        amount >= self.min_unit
            && amount <= self.max_unit
            && self.step_size > 0
            && amount % self.step_size == 0
    }
}

/// A consumer (instance, migration, ...) of allocations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    pub uuid: String,
    pub project_id: String,
    pub user_id: String,
    pub generation: i64,
    pub consumer_type: Option<String>,
}

/// One allocation row: `used` units of a class on a provider for a consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub consumer_uuid: String,
    pub provider_uuid: String,
    pub resource_class: String,
    pub used: i64,
}

/// What a write of a consumer's allocations asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerAllocations {
    pub consumer_uuid: String,
    pub project_id: String,
    pub user_id: String,
    /// `None` = no generation check (below 1.28); `Some(None)` = a new consumer is expected.
    pub consumer_generation: Option<Option<i64>>,
    pub consumer_type: Option<String>,
    /// provider uuid → class → amount. Empty means "delete this consumer's allocations".
    pub allocations: BTreeMap<String, BTreeMap<String, i64>>,
    /// Provider generations the caller expects (`None` = no check).
    pub provider_generations: BTreeMap<String, i64>,
}

/// Everything about the providers needed to filter and build candidates, read at once.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub providers: Vec<ResourceProvider>,
    /// provider → class → inventory
    pub inventories: BTreeMap<String, BTreeMap<String, Inventory>>,
    /// provider → class → used
    pub usages: BTreeMap<String, BTreeMap<String, i64>>,
    pub traits: BTreeMap<String, Vec<String>>,
    pub aggregates: BTreeMap<String, Vec<String>>,
}

/// The standard resource classes of os-resource-classes.
pub const STANDARD_CLASSES: &[&str] = &[
    "VCPU",
    "MEMORY_MB",
    "DISK_GB",
    "PCI_DEVICE",
    "SRIOV_NET_VF",
    "NUMA_SOCKET",
    "NUMA_CORE",
    "NUMA_THREAD",
    "NUMA_MEMORY_MB",
    "IPV4_ADDRESS",
    "VGPU",
    "VGPU_DISPLAY_HEAD",
    "NET_BW_EGR_KILOBIT_PER_SEC",
    "NET_BW_IGR_KILOBIT_PER_SEC",
    "PCPU",
    "MEM_ENCRYPTION_CONTEXT",
    "FPGA",
    "PGPU",
    "NET_PACKET_RATE_KILOPACKET_PER_SEC",
    "NET_PACKET_RATE_EGR_KILOPACKET_PER_SEC",
    "NET_PACKET_RATE_IGR_KILOPACKET_PER_SEC",
];

/// A subset of the standard traits of os-traits.
pub const STANDARD_TRAITS: &[&str] = &[
    "COMPUTE_DEVICE_TAGGING",
    "COMPUTE_NET_ATTACH_INTERFACE",
    "COMPUTE_NET_ATTACH_INTERFACE_WITH_TAG",
    "COMPUTE_VOLUME_ATTACH",
    "COMPUTE_VOLUME_ATTACH_WITH_TAG",
    "COMPUTE_VOLUME_EXTEND",
    "COMPUTE_VOLUME_MULTI_ATTACH",
    "COMPUTE_TRUSTED_CERTS",
    "COMPUTE_IMAGE_TYPE_QCOW2",
    "COMPUTE_IMAGE_TYPE_RAW",
    "COMPUTE_IMAGE_TYPE_ISO",
    "COMPUTE_STATUS_DISABLED",
    "COMPUTE_NODE",
    "COMPUTE_ACCELERATORS",
    "COMPUTE_RESCUE_BFV",
    "COMPUTE_SOCKET_PCI_NUMA_AFFINITY",
    "HW_CPU_X86_AVX",
    "HW_CPU_X86_AVX2",
    "HW_CPU_X86_AVX512F",
    "HW_CPU_X86_SSE",
    "HW_CPU_X86_SSE2",
    "HW_CPU_X86_SSE41",
    "HW_CPU_X86_SSE42",
    "HW_CPU_X86_SSSE3",
    "HW_CPU_X86_AESNI",
    "HW_CPU_X86_VMX",
    "HW_CPU_X86_SVM",
    "HW_CPU_HYPERTHREADING",
    "HW_NIC_SRIOV",
    "HW_NIC_OFFLOAD_TSO",
    "HW_GPU_API_VULKAN",
    "HW_NUMA_ROOT",
    "STORAGE_DISK_HDD",
    "STORAGE_DISK_SSD",
    "MISC_SHARES_VIA_AGGREGATE",
];

/// Whether `name` is a valid custom name: `CUSTOM_` then `[A-Z0-9_]+`, at most 255 chars.
pub fn is_custom_name(name: &str) -> bool {
    name.len() <= 255
        && name.len() > "CUSTOM_".len()
        && name.starts_with("CUSTOM_")
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}
