//! The network service's types: Neutron's resources as the API and the database see them
//! (`resources`, `l3`), its typed errors (`errors`), and the data-plane plan a host's network
//! agent converges to (`dataplane`), with the device and namespace names both sides agree on
//! (`names`). Depends on nothing but `common-error` and serde.

pub mod dataplane;
pub mod errors;
pub mod l3;
pub mod names;
pub mod resources;

pub use errors::{invalid_input, neutron_error, over_quota, Status};
pub use resources::*;
