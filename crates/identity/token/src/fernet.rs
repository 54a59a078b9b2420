//! The Fernet envelope (<https://github.com/fernet/spec>), as Python's
//! `cryptography.fernet` and therefore Keystone produce it:
//!
//! ```text
//! 0x80 | timestamp (u64 BE) | IV (16) | AES-128-CBC(PKCS7) ciphertext | HMAC-SHA256 (32)
//! ```
//!
//! The HMAC covers everything before it. A key is 32 bytes in url-safe base64:
//! the first 16 sign, the last 16 encrypt. Keystone strips the base64 `=`
//! padding from the token string; we accept it with or without.

use std::fmt;

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use sha2::Sha256;

use crate::{TokenError, MAX_TOKEN_LEN};

type HmacSha256 = Hmac<Sha256>;
type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;
type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

const VERSION: u8 = 0x80;
const HEADER_LEN: usize = 1 + 8 + 16;
const MAC_LEN: usize = 32;
const BLOCK: usize = 16;
/// Version, timestamp, IV, one cipher block and the MAC.
const MIN_TOKEN_BYTES: usize = HEADER_LEN + BLOCK + MAC_LEN;

/// Url-safe base64 that accepts input with or without `=` padding but still
/// rejects non-canonical trailing bits, so every token has one spelling.
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One Fernet key: 16 bytes to sign, 16 to encrypt.
#[derive(Clone, PartialEq, Eq)]
pub struct FernetKey {
    signing: [u8; 16],
    encryption: [u8; 16],
}

impl FernetKey {
    /// A new random key from the operating system's generator.
    pub fn generate() -> Result<Self, TokenError> {
        let mut raw = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut raw)
            .map_err(|e| TokenError::Keys(format!("cannot generate a key: {e}")))?;
        Ok(Self::from_bytes(&raw))
    }

    /// Parses a key file's content: 32 bytes as url-safe base64 (44 chars
    /// with padding). Surrounding whitespace is ignored. The error never
    /// repeats the key material.
    pub fn from_base64(text: &str) -> Result<Self, TokenError> {
        let raw = URL_SAFE_LENIENT
            .decode(text.trim())
            .map_err(|_| TokenError::Keys("key is not url-safe base64".into()))?;
        let raw: [u8; 32] = raw.try_into().map_err(|v: Vec<u8>| {
            TokenError::Keys(format!("key decodes to {} bytes, not 32", v.len()))
        })?;
        Ok(Self::from_bytes(&raw))
    }

    /// The key as Keystone writes it to a key file (url-safe, padded).
    pub fn to_base64(&self) -> String {
        let mut raw = [0u8; 32];
        raw[..16].copy_from_slice(&self.signing);
        raw[16..].copy_from_slice(&self.encryption);
        base64::engine::general_purpose::URL_SAFE.encode(raw)
    }

    fn from_bytes(raw: &[u8; 32]) -> Self {
        let mut signing = [0u8; 16];
        let mut encryption = [0u8; 16];
        signing.copy_from_slice(&raw[..16]);
        encryption.copy_from_slice(&raw[16..]);
        Self {
            signing,
            encryption,
        }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes a key of any length; a 16-byte key cannot fail.
        <HmacSha256 as Mac>::new_from_slice(&self.signing)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
    }

    /// Seals `plaintext` into raw Fernet bytes with a given time and IV.
    pub(crate) fn encrypt_with(&self, plaintext: &[u8], timestamp: u64, iv: [u8; 16]) -> Vec<u8> {
        let padded_len = (plaintext.len() / BLOCK + 1) * BLOCK;
        let mut out = Vec::with_capacity(HEADER_LEN + padded_len + MAC_LEN);
        out.push(VERSION);
        out.extend_from_slice(&timestamp.to_be_bytes());
        out.extend_from_slice(&iv);
        out.extend_from_slice(plaintext);
        out.resize(HEADER_LEN + padded_len, 0);
        let cipher = Aes128CbcEnc::new(&self.encryption.into(), &iv.into());
        // The buffer holds exactly the padded length, so padding cannot fail.
        if cipher
            .encrypt_padded_mut::<Pkcs7>(&mut out[HEADER_LEN..], plaintext.len())
            .is_err()
        {
            unreachable!("buffer sized for PKCS7 padding");
        }
        let mut mac = self.mac();
        mac.update(&out);
        out.extend_from_slice(&mac.finalize().into_bytes());
        out
    }

    /// Seals `plaintext` with a random IV.
    pub(crate) fn encrypt(&self, plaintext: &[u8], timestamp: u64) -> Vec<u8> {
        let mut iv = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut iv);
        self.encrypt_with(plaintext, timestamp, iv)
    }

    /// Opens raw Fernet bytes: checks the layout, verifies the HMAC in
    /// constant time, decrypts. Returns the plaintext and the timestamp, or
    /// `None` for anything that is not a token sealed with this key.
    pub(crate) fn decrypt(&self, token: &[u8]) -> Option<(Vec<u8>, u64)> {
        if !well_formed(token) {
            return None;
        }
        let (signed, tag) = token.split_at(token.len() - MAC_LEN);
        let mut mac = self.mac();
        mac.update(signed);
        mac.verify_slice(tag).ok()?;

        let timestamp = u64::from_be_bytes(signed[1..9].try_into().ok()?);
        let iv: [u8; 16] = signed[9..HEADER_LEN].try_into().ok()?;
        let mut buf = signed[HEADER_LEN..].to_vec();
        let cipher = Aes128CbcDec::new(&self.encryption.into(), &iv.into());
        let plaintext = cipher.decrypt_padded_mut::<Pkcs7>(&mut buf).ok()?;
        Some((plaintext.to_vec(), timestamp))
    }
}

impl fmt::Debug for FernetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FernetKey(..)")
    }
}

/// Version byte and lengths fit the Fernet layout.
fn well_formed(token: &[u8]) -> bool {
    token.len() >= MIN_TOKEN_BYTES
        && (token.len() - HEADER_LEN - MAC_LEN).is_multiple_of(BLOCK)
        && token.first() == Some(&VERSION)
}

/// Raw Fernet bytes as Keystone spells a token: url-safe base64, no padding.
pub(crate) fn encode_token(raw: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(raw)
}

/// The token string back to raw Fernet bytes; `None` if it is oversized, not
/// url-safe base64 or not shaped like a Fernet token.
pub(crate) fn decode_token(token: &str) -> Option<Vec<u8>> {
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let raw = URL_SAFE_LENIENT.decode(token.as_bytes()).ok()?;
    well_formed(&raw).then_some(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The vector from the Fernet spec's generate.json / verify.json.
    const SPEC_SECRET: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
    const SPEC_TOKEN: &str = "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA==";
    const SPEC_TIME: u64 = 499_162_800; // 1985-10-26T01:20:00-07:00

    fn iv_0_to_15() -> [u8; 16] {
        std::array::from_fn(|i| i as u8)
    }

    #[test]
    fn matches_the_fernet_spec_vector() {
        let key = FernetKey::from_base64(SPEC_SECRET).unwrap();
        let raw = key.encrypt_with(b"hello", SPEC_TIME, iv_0_to_15());
        assert_eq!(
            base64::engine::general_purpose::URL_SAFE.encode(&raw),
            SPEC_TOKEN
        );
        let (plain, ts) = key.decrypt(&decode_token(SPEC_TOKEN).unwrap()).unwrap();
        assert_eq!(plain, b"hello");
        assert_eq!(ts, SPEC_TIME);
    }

    #[test]
    fn padding_is_optional_but_trailing_bits_are_canonical() {
        let stripped = SPEC_TOKEN.trim_end_matches('=');
        assert_eq!(decode_token(stripped), decode_token(SPEC_TOKEN));
        assert!(decode_token(stripped).is_some());
        // Partial padding is what Keystone's restore_padding completes.
        assert!(decode_token(&format!("{stripped}=")).is_some());
        assert!(decode_token(&format!("{stripped}===")).is_none());
        // "…DA" ends in 4 unused bits; "…DB" sets one of them.
        assert!(decode_token(&format!("{}B", &stripped[..stripped.len() - 1])).is_none());
        // Standard alphabet characters are not url-safe base64.
        assert!(decode_token(&stripped.replace('_', "/")).is_none());
    }

    #[test]
    fn key_round_trips_through_base64_and_hides_itself() {
        let key = FernetKey::generate().unwrap();
        let text = key.to_base64();
        assert_eq!(text.len(), 44);
        assert_eq!(FernetKey::from_base64(&format!("{text}\n")).unwrap(), key);
        assert_eq!(format!("{key:?}"), "FernetKey(..)");
    }

    #[test]
    fn malformed_keys_are_rejected() {
        for bad in ["", "not base64!", "c2hvcnQ=", &"A".repeat(88)] {
            assert!(matches!(
                FernetKey::from_base64(bad),
                Err(TokenError::Keys(_))
            ));
        }
    }

    #[test]
    fn another_key_cannot_open_a_token() {
        let a = FernetKey::generate().unwrap();
        let b = FernetKey::generate().unwrap();
        let raw = a.encrypt(b"payload", 1);
        assert!(a.decrypt(&raw).is_some());
        assert!(b.decrypt(&raw).is_none());
    }

    #[test]
    fn every_plaintext_length_round_trips() {
        let key = FernetKey::generate().unwrap();
        for len in 0..40 {
            let plain = vec![7u8; len];
            let raw = key.encrypt(&plain, 42);
            assert!((raw.len() - HEADER_LEN - MAC_LEN).is_multiple_of(BLOCK));
            assert_eq!(key.decrypt(&raw), Some((plain, 42)));
        }
    }
}
