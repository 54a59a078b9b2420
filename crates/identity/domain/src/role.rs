//! Roles (filled in by the role work).

#[allow(unused_imports)]
use crate::Identity;
