//! Groups (filled in by the group work).

#[allow(unused_imports)]
use crate::Identity;
