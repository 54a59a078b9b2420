//! Compute keypair rules (filled in by the API-resources work).
