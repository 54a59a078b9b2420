//! Queries on compute's instance tables (filled in by the servers work).
