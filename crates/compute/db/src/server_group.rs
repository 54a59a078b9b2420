//! Queries on compute's server_group tables (filled in by the API-resources work).
