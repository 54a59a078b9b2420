//! Credentials (filled in by the credential work).

#[allow(unused_imports)]
use crate::Identity;
