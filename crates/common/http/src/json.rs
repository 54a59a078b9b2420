//! Request-body parsing that never panics and always answers 400 for bad JSON.

use common_error::Error;
use serde::de::DeserializeOwned;

/// Parses a JSON body. Malformed JSON or a shape mismatch is `Error::BadRequest` with a message
/// naming the problem (no internal detail beyond serde's description).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    if body.is_empty() {
        return Err(Error::bad_request(
            "The request body is empty; JSON was expected.",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| Error::bad_request(format!("Malformed request body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_and_empty_bodies_are_bad_requests() {
        assert_eq!(
            parse_json::<serde_json::Value>(b"{").unwrap_err().status(),
            400
        );
        assert_eq!(
            parse_json::<serde_json::Value>(b"").unwrap_err().status(),
            400
        );
        assert!(parse_json::<serde_json::Value>(b"{\"a\":1}").is_ok());
    }
}
