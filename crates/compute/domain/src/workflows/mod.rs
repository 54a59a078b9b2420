//! The conductor's persistent workflows (filled in by the servers work).
