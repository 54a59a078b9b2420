//! Compute quota rules (filled in by the API-resources work).
