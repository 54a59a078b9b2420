//! Filters (Nova's `scheduler/filters`), one per file. Each drops the hosts that cannot
//! take a request; [`defaults`] lists them in the order the scheduler runs them.

mod aggregate_multitenancy_isolation;
mod availability_zone;
mod compute;
mod ignore_hosts;
mod image_properties;
mod resource;
mod server_group_affinity;
mod server_group_anti_affinity;

pub use aggregate_multitenancy_isolation::AggregateMultiTenancyIsolation;
pub use availability_zone::AvailabilityZoneFilter;
pub use compute::ComputeFilter;
pub use ignore_hosts::IgnoreHostsFilter;
pub use image_properties::ImagePropertiesFilter;
pub use resource::ResourceFilter;
pub use server_group_affinity::ServerGroupAffinityFilter;
pub use server_group_anti_affinity::ServerGroupAntiAffinityFilter;

use crate::Filter;

/// The default filters, in order: Nova's default `enabled_filters` order
/// (`AvailabilityZoneFilter`, `ComputeFilter`, `ImagePropertiesFilter`,
/// `ServerGroupAntiAffinityFilter`, `ServerGroupAffinityFilter`) with the retry filter's
/// successor `IgnoreHostsFilter` first (cheapest), `ResourceFilter` after `ComputeFilter`,
/// and `AggregateMultiTenancyIsolation` before the image check.
pub fn defaults() -> Vec<Box<dyn Filter>> {
    vec![
        Box::new(IgnoreHostsFilter),
        Box::new(AvailabilityZoneFilter),
        Box::new(ComputeFilter),
        Box::new(ResourceFilter),
        Box::new(AggregateMultiTenancyIsolation),
        Box::new(ImagePropertiesFilter),
        Box::new(ServerGroupAntiAffinityFilter),
        Box::new(ServerGroupAffinityFilter),
    ]
}
