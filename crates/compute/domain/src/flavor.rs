//! Compute flavor rules (filled in by the API-resources work).
