//! Keystone-compatible Fernet tokens and the Fernet key repository.
//!
//! This crate owns three things, each in its own module:
//!
//! - [`KeyRepository`] (`keys.rs`): the on-disk key directory that
//!   `keystone-manage fernet_setup` / `fernet_rotate` manage: a staged key `0`,
//!   a primary key (the highest index) and secondary keys in between.
//! - The token wire format (`fernet.rs`, `payload.rs`): the Fernet envelope
//!   (version `0x80`, timestamp, IV, AES-128-CBC, HMAC-SHA256) around a msgpack
//!   payload laid out exactly like Keystone's `token_formatters.py`, so a token
//!   issued here validates in Keystone and the other way round.
//! - [`TokenProvider`] (`provider.rs`): issues and validates tokens with the
//!   loaded keys.
//!
//! It decides nothing about users, roles, revocation or expiry: callers check
//! `expires_at` against their own clock and look up everything else. It must
//! not depend on a database, HTTP types or other Ferrostack crates beyond
//! `common-error`; the key directory is the only I/O it does.

mod fernet;
mod keys;
mod payload;
mod provider;

#[cfg(test)]
mod interop_tests;

use base64::Engine as _;
use rand::RngCore as _;

pub use fernet::FernetKey;
pub use keys::KeyRepository;
pub use payload::{Scope, TokenPayload, DEFAULT_AUTH_METHODS};
pub use provider::TokenProvider;

/// Longest token string `validate` will look at. Keystone warns above its
/// `max_token_size` of 255 characters; we stay lenient for tokens with long
/// non-UUID ids but refuse anything larger before decoding it.
pub const MAX_TOKEN_LEN: usize = 1024;

/// What can go wrong with tokens or keys.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token is malformed, tampered with, signed by an unknown key or
    /// carries a payload we do not understand. Deliberately says no more.
    #[error("invalid token")]
    Invalid,
    /// The key repository is missing, empty or holds a malformed key.
    #[error("fernet key repository: {0}")]
    Keys(String),
    /// Reading or writing the key repository failed.
    #[error("fernet key repository I/O on {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The payload handed to `issue` cannot be encoded (a caller bug).
    #[error("token payload cannot be issued: {0}")]
    Payload(String),
}

impl TokenError {
    pub(crate) fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        TokenError::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<TokenError> for common_error::Error {
    fn from(err: TokenError) -> Self {
        match err {
            TokenError::Invalid => common_error::Error::unauthenticated(),
            other => common_error::Error::internal("fernet token", other),
        }
    }
}

/// A fresh audit id: 16 random bytes as url-safe base64 without padding
/// (22 characters), like Keystone's `random_urlsafe_str()`.
pub fn new_audit_id() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_ids_are_22_url_safe_chars_and_unique() {
        let a = new_audit_id();
        let b = new_audit_id();
        assert_eq!(a.len(), 22);
        assert_ne!(a, b);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn invalid_maps_to_keystone_401_and_keys_to_500() {
        let e: common_error::Error = TokenError::Invalid.into();
        assert_eq!(e.status(), 401);
        assert_eq!(
            e.public_message(),
            "The request you have made requires authentication."
        );
        let e: common_error::Error = TokenError::Keys("no keys in /etc/x".into()).into();
        assert_eq!(e.status(), 500);
        assert!(!e.public_message().contains("/etc/x"));
    }
}
