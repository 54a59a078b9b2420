//! Queries on compute's quota tables (filled in by the API-resources work).
