//! Harness for API integration tests.
