//! The one transport-free error type every Ferrostack layer returns.
//!
//! A variant carries the message a user may see; `Internal` and `Unavailable` carry context
//! that goes to the log only. Rendering into each service's OpenStack dialect lives in
//! `common-http`. This crate must not depend on anything but `thiserror`.

use std::fmt;

/// What went wrong, in terms every OpenStack API can render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Malformed or invalid input (400).
    #[error("{0}")]
    BadRequest(String),
    /// No valid credentials (401).
    #[error("{0}")]
    Unauthenticated(String),
    /// Policy forbids the action (403).
    #[error("{0}")]
    Forbidden(String),
    /// The resource does not exist or the caller may not see it (404).
    #[error("Could not find {kind}: {id}.")]
    NotFound { kind: &'static str, id: String },
    /// A state or uniqueness conflict (409).
    #[error("{0}")]
    Conflict(String),
    /// Over a quota or size limit (413).
    #[error("{0}")]
    QuotaExceeded(String),
    /// Over a rate limit (429); `retry_after` in seconds.
    #[error("Too many requests.")]
    RateLimited { retry_after: u64 },
    /// The scheduler found no host (compute renders it as a fault on the server).
    #[error("{0}")]
    NoValidHost(String),
    /// The request is understood but not implemented (501).
    #[error("{0}")]
    NotImplemented(String),
    /// A dependency (database, bus, agent) could not be reached (503). Context is internal.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected failure (500). Context is internal, never shown to users.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Result alias used across the workspace.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        Error::NotFound {
            kind,
            id: id.into(),
        }
    }

    pub fn bad_request(msg: impl Into<String>) -> Self {
        Error::BadRequest(msg.into())
    }

    pub fn conflict(msg: impl Into<String>) -> Self {
        Error::Conflict(msg.into())
    }

    pub fn forbidden(msg: impl Into<String>) -> Self {
        Error::Forbidden(msg.into())
    }

    pub fn unauthenticated() -> Self {
        Error::Unauthenticated("The request you have made requires authentication.".into())
    }

    /// Wraps an unexpected failure with a short phrase naming what was being done.
    pub fn internal(context: &str, err: impl fmt::Display) -> Self {
        Error::Internal(format!("{context}: {err}"))
    }

    /// The HTTP status this error maps to in every dialect.
    pub fn status(&self) -> u16 {
        match self {
            Error::BadRequest(_) => 400,
            Error::Unauthenticated(_) => 401,
            Error::Forbidden(_) => 403,
            Error::NotFound { .. } => 404,
            Error::Conflict(_) => 409,
            Error::QuotaExceeded(_) => 413,
            Error::RateLimited { .. } => 429,
            Error::NotImplemented(_) => 501,
            Error::NoValidHost(_) | Error::Internal(_) => 500,
            Error::Unavailable(_) => 503,
        }
    }

    /// The message safe to show a user: internal context is replaced by a generic phrase.
    pub fn public_message(&self) -> String {
        match self {
            Error::Internal(_) => {
                "An unexpected error prevented the server from fulfilling your request.".into()
            }
            Error::Unavailable(_) => "The service is temporarily unavailable.".into(),
            other => other.to_string(),
        }
    }
}

/// Adds a context phrase to any error, turning it into `Error::Internal`.
pub trait Context<T> {
    fn context(self, what: &str) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: &str) -> Result<T> {
        self.map_err(|e| Error::internal(what, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_context_is_never_public() {
        let e = Error::internal("open database", "password=secret refused");
        assert_eq!(e.status(), 500);
        assert!(!e.public_message().contains("secret"));
    }

    #[test]
    fn not_found_message_reads_like_keystone() {
        let e = Error::not_found("project", "abc");
        assert_eq!(e.public_message(), "Could not find project: abc.");
        assert_eq!(e.status(), 404);
    }
}
