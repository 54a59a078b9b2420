//! Assignments (filled in by the assignment work).

#[allow(unused_imports)]
use crate::Identity;
