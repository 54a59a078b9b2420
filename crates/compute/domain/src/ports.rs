//! What compute needs from other services, as traits. The binary implements them over the
//! real placement and image services (in process today; over REST/bus in split mode), and
//! domain tests may implement them in memory.

use std::collections::BTreeMap;

use common_error::Result;

use crate::Context;

/// provider uuid → resource class → amount.
pub type Allocations = BTreeMap<String, BTreeMap<String, i64>>;

/// A host that can take a request, as placement sees it, with what the scheduler's filters
/// and weighers need.
#[derive(Debug, Clone, PartialEq)]
pub struct HostCandidate {
    /// The compute node (root resource provider) uuid.
    pub provider: String,
    /// The allocation that would be claimed.
    pub allocations: Allocations,
    /// resource class → usable capacity ((total − reserved) × allocation ratio).
    pub capacity: BTreeMap<String, i64>,
    /// resource class → already allocated.
    pub used: BTreeMap<String, i64>,
    pub traits: Vec<String>,
    pub aggregates: Vec<String>,
}

/// The placement service as compute uses it.
#[async_trait::async_trait]
pub trait PlacementPort: Send + Sync + 'static {
    /// Hosts (at most `limit`) that can hold `resources`, having every `required` trait and
    /// none of `forbidden`.
    async fn candidates(
        &self,
        resources: &BTreeMap<String, i64>,
        required: &[String],
        forbidden: &[String],
        limit: usize,
    ) -> Result<Vec<HostCandidate>>;

    /// Atomically replaces `consumer`'s allocations with `allocations` (a new consumer when
    /// it has none). `Conflict` when capacity is gone or a concurrent writer won; nothing is
    /// claimed then.
    async fn claim(
        &self,
        consumer: &str,
        project_id: &str,
        user_id: &str,
        allocations: &Allocations,
    ) -> Result<()>;

    /// Removes every allocation of `consumer`; succeeds when there is none.
    async fn release(&self, consumer: &str) -> Result<()>;

    /// `consumer`'s allocations (empty when none).
    async fn allocations(&self, consumer: &str) -> Result<Allocations>;

    /// resource class → amount allocated on `provider` (for hypervisor statistics).
    async fn provider_usages(&self, provider: &str) -> Result<BTreeMap<String, i64>>;
}

/// An image as compute needs to know it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageInfo {
    pub id: String,
    pub name: String,
    pub status: String,
    pub disk_format: String,
    pub container_format: String,
    /// GiB.
    pub min_disk: i64,
    /// MiB.
    pub min_ram: i64,
    /// Bytes.
    pub size: i64,
    pub properties: BTreeMap<String, String>,
}

/// The image service as compute uses it, on behalf of the caller.
#[async_trait::async_trait]
pub trait ImagePort: Send + Sync + 'static {
    /// The image if `ctx` may see it, else `NotFound`.
    async fn get(&self, ctx: &Context, id: &str) -> Result<ImageInfo>;

    /// Creates a queued image owned by `ctx`'s project (a server snapshot); returns its id.
    /// The agent uploads the data later.
    async fn create(
        &self,
        ctx: &Context,
        name: &str,
        disk_format: &str,
        properties: &BTreeMap<String, String>,
    ) -> Result<String>;

    /// Deletes an image (undo of a failed snapshot); succeeds when it is gone.
    async fn delete(&self, ctx: &Context, id: &str) -> Result<()>;
}
