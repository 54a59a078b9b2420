//! Compute service rules (filled in by the API-resources work).
