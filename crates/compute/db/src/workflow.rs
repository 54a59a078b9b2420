//! Queries on compute's workflow tables (filled in by the servers work).
