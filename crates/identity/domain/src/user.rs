//! Users (filled in by the user work).

#[allow(unused_imports)]
use crate::Identity;
