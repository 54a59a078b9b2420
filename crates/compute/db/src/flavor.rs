//! Queries on compute's flavor tables (filled in by the API-resources work).
