//! Queries on compute's service tables (filled in by the API-resources work).
