//! Compute server_group rules (filled in by the API-resources work).
