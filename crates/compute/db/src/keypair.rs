//! Queries on compute's keypair tables (filled in by the API-resources work).
