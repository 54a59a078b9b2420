//! Compute conductor (filled in by the servers work).
