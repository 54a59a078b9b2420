//! What the agent needs from other services, as traits. The binary implements them over
//! the real image, placement and network services; tests implement them in memory.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common_error::Result;

/// The image service as the agent uses it (with the service's own credentials).
#[async_trait::async_trait]
pub trait ImageSource: Send + Sync + 'static {
    /// Writes the image's bytes to `dest` (a temp path the agent renames) and returns its
    /// disk_format.
    async fn download(&self, image_id: &str, dest: &Path) -> Result<String>;

    /// Uploads `src` as the data of the (queued) image `image_id`.
    async fn upload(&self, image_id: &str, src: &Path) -> Result<()>;
}

/// Placement as the agent uses it: the host's compute node resource provider.
#[async_trait::async_trait]
pub trait NodeReporter: Send + Sync + 'static {
    /// Creates or updates the compute node's resource provider and its inventory
    /// (VCPU, MEMORY_MB, DISK_GB with total/reserved/allocation_ratio/max_unit).
    async fn ensure_node(
        &self,
        uuid: &str,
        name: &str,
        inv: &BTreeMap<String, Inventory>,
    ) -> Result<()>;
}

/// One resource class of a compute node's inventory, as placement records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Inventory {
    pub total: i64,
    pub reserved: i64,
    pub min_unit: i64,
    pub max_unit: i64,
    pub step_size: i64,
    pub allocation_ratio: f64,
}

/// This host's network agent as the compute agent uses it: the taps of an instance's ports
/// must exist (on the network's bridge, with their security group rules and DHCP entries)
/// before QEMU opens them.
#[async_trait::async_trait]
pub trait NetworkPlug: Send + Sync + 'static {
    /// Waits until every port of `port_ids` (bound to this host) is wired on this host;
    /// `Unavailable` when `timeout` passes first. Ports already wired return at once.
    async fn plug(&self, port_ids: &[String], timeout: Duration) -> Result<()>;
}
