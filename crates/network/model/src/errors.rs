//! Neutron's typed errors. The network service puts Neutron's exception `type` in front of
//! the message, separated by the unit separator (`\u{1f}`); `common-http`'s
//! `Dialect::Network` renders it as `{"NeutronError": {"type", "message", "detail"}}`.
//! A missing resource is `Error::NotFound { kind: "network", id }`, rendered as
//! `NetworkNotFound` / "Network {id} could not be found.".

use common_error::Error;

/// The HTTP class of a typed Neutron error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 400.
    BadRequest,
    /// 403.
    Forbidden,
    /// 409 (Neutron's `InUse`, `Conflict` and `OverQuota`).
    Conflict,
    /// 503 (Neutron's `ServiceUnavailable`, e.g. `NoNetworkAvailable`).
    Unavailable,
}

/// An error whose Neutron `type` is `kind`, with `message` shown to the user.
pub fn neutron_error(status: Status, kind: &str, message: impl std::fmt::Display) -> Error {
    let text = format!("{kind}\u{1f}{message}");
    match status {
        Status::BadRequest => Error::BadRequest(text),
        Status::Forbidden => Error::Forbidden(text),
        Status::Conflict => Error::Conflict(text),
        // `Unavailable` hides its text; Neutron's message carries nothing secret but
        // `common-error` has no public 503, so it is a conflict-free internal state.
        Status::Unavailable => Error::Unavailable(text),
    }
}

/// `InvalidInput`: "Invalid input for operation: {msg}." (400).
pub fn invalid_input(msg: impl std::fmt::Display) -> Error {
    neutron_error(
        Status::BadRequest,
        "InvalidInput",
        format!("Invalid input for operation: {msg}."),
    )
}

/// An attribute that fails validation, as Neutron's API layer answers it (400
/// `HTTPBadRequest`): "Invalid input for {attr}. Reason: {reason}.".
pub fn invalid_attribute(attr: &str, reason: impl std::fmt::Display) -> Error {
    let reason = reason.to_string();
    let reason = reason.trim_end_matches('.');
    neutron_error(
        Status::BadRequest,
        "HTTPBadRequest",
        format!("Invalid input for {attr}. Reason: {reason}."),
    )
}

/// A plain 400 `HTTPBadRequest` with `msg`.
pub fn bad_request(msg: impl std::fmt::Display) -> Error {
    neutron_error(Status::BadRequest, "HTTPBadRequest", msg)
}

/// `OverQuota` (409): "Quota exceeded for resources: ['network']."
pub fn over_quota(resources: &[&str]) -> Error {
    let list: Vec<String> = resources.iter().map(|r| format!("'{r}'")).collect();
    neutron_error(
        Status::Conflict,
        "OverQuota",
        format!("Quota exceeded for resources: [{}].", list.join(", ")),
    )
}

/// The `type` a typed error carries, if any (for tests and logs).
pub fn neutron_type(err: &Error) -> Option<String> {
    let text = match err {
        Error::BadRequest(m) | Error::Forbidden(m) | Error::Conflict(m) | Error::Unavailable(m) => {
            m
        }
        _ => return None,
    };
    text.split_once('\u{1f}').map(|(k, _)| k.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_errors_carry_their_type() {
        let e = over_quota(&["network"]);
        assert_eq!(e.status(), 409);
        assert_eq!(neutron_type(&e).as_deref(), Some("OverQuota"));
        assert!(e
            .to_string()
            .ends_with("Quota exceeded for resources: ['network']."));
        let e = invalid_attribute("cidr", "'x' is not a valid IP subnet");
        assert_eq!(
            e.to_string(),
            "HTTPBadRequest\u{1f}Invalid input for cidr. Reason: 'x' is not a valid IP subnet."
        );
    }
}
