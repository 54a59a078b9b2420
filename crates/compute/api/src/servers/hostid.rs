//! Nova's `hostId`: the SHA-224 hex digest of `project_id + host`, empty without a host, so
//! a project can tell whether two of its servers share a host without learning the host.

use sha2::Digest as _;

/// The SHA-224 digest of `data` as lowercase hex.
pub(crate) fn sha224_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha224::digest(data))
}

/// Nova's `utils.generate_hostid(host, project_id)`.
pub(crate) fn host_id(host: Option<&str>, project_id: &str) -> String {
    match host {
        Some(h) if !h.is_empty() => sha224_hex(format!("{project_id}{h}").as_bytes()),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha224_matches_the_standard_vectors() {
        assert_eq!(
            sha224_hex(b""),
            "d14a028c2a3a2bc9476102bb288234c415a2b01f828ea62ac5b3e42f"
        );
        assert_eq!(
            sha224_hex(b"abc"),
            "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"
        );
        assert_eq!(
            sha224_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "75388b16512776cc5dba5da1fd890150b0c6455cb4f58b1952522525"
        );
    }

    #[test]
    fn host_id_is_empty_without_a_host() {
        assert_eq!(host_id(None, "p"), "");
        assert_eq!(host_id(Some(""), "p"), "");
        assert_eq!(host_id(Some("c"), "ab"), sha224_hex(b"abc"));
    }
}
