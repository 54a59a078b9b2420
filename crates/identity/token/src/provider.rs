//! Issuing and validating tokens with the keys of a [`KeyRepository`], like
//! Keystone's `TokenFormatter` over a `MultiFernet`: encrypt with the primary
//! key, decrypt with any.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::fernet::{decode_token, encode_token};
use crate::payload::{pack, unpack};
use crate::{FernetKey, KeyRepository, TokenError, TokenPayload, MAX_TOKEN_LEN};

/// Keystone logs tokens longer than its `max_token_size`.
const KEYSTONE_MAX_TOKEN_SIZE: usize = 255;

/// Issues and validates Fernet tokens. Cheap to share (`Send + Sync`); call
/// [`reload`](Self::reload) after the repository was rotated.
#[derive(Debug)]
pub struct TokenProvider {
    repo: KeyRepository,
    /// Primary first, then secondaries, then staged; never empty.
    keys: RwLock<Arc<[FernetKey]>>,
}

impl TokenProvider {
    /// Loads the repository's keys.
    pub fn new(repo: KeyRepository) -> Result<Self, TokenError> {
        let keys = repo.load()?;
        Ok(Self {
            repo,
            keys: RwLock::new(keys.into()),
        })
    }

    pub fn key_repository(&self) -> &KeyRepository {
        &self.repo
    }

    /// Re-reads the keys (after a rotation). On failure the old keys stay.
    pub fn reload(&self) -> Result<(), TokenError> {
        let keys: Arc<[FernetKey]> = self.repo.load()?.into();
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
        Ok(())
    }

    /// Issues a token with the primary key, stamped with the current time.
    pub fn issue(&self, payload: &TokenPayload) -> Result<String, TokenError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.seal(payload, now)
    }

    /// Issues a token stamped with `issued_at` (unix seconds) instead of now.
    pub fn issue_at(&self, payload: &TokenPayload, issued_at: i64) -> Result<String, TokenError> {
        let issued_at = u64::try_from(issued_at)
            .map_err(|_| TokenError::Payload(format!("issued_at {issued_at} is negative")))?;
        self.seal(payload, issued_at)
    }

    /// Decrypts with any loaded key (primary, secondary or staged), verifies
    /// the HMAC and unpacks the payload. Returns it with the Fernet timestamp,
    /// which is the token's `issued_at` in unix seconds. Expiry is NOT
    /// checked: the caller compares `expires_at` with its own clock.
    pub fn validate(&self, token: &str) -> Result<(TokenPayload, i64), TokenError> {
        let raw = decode_token(token).ok_or(TokenError::Invalid)?;
        let keys = self.keys();
        let (plaintext, timestamp) = keys
            .iter()
            .find_map(|key| key.decrypt(&raw))
            .ok_or(TokenError::Invalid)?;
        let issued_at = i64::try_from(timestamp).map_err(|_| TokenError::Invalid)?;
        let payload = unpack(&plaintext).ok_or(TokenError::Invalid)?;
        Ok((payload, issued_at))
    }

    fn seal(&self, payload: &TokenPayload, issued_at: u64) -> Result<String, TokenError> {
        let plaintext = pack(payload)?;
        let keys = self.keys();
        let primary = keys
            .first()
            .ok_or_else(|| TokenError::Keys("no keys loaded".into()))?;
        let token = encode_token(&primary.encrypt(&plaintext, issued_at));
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Payload(format!(
                "token would be {} characters, over the {MAX_TOKEN_LEN} we accept",
                token.len()
            )));
        }
        if token.len() > KEYSTONE_MAX_TOKEN_SIZE {
            tracing::info!(
                len = token.len(),
                "fernet token longer than Keystone's max_token_size of {KEYSTONE_MAX_TOKEN_SIZE}"
            );
        }
        Ok(token)
    }

    fn keys(&self) -> Arc<[FernetKey]> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{new_audit_id, Scope};

    const USER: &str = "0123456789abcdef0123456789abcdef";
    const PROJECT: &str = "fedcba9876543210fedcba9876543210";
    const APP_CRED: &str = "00112233445566778899aabbccddeeff";

    fn provider() -> (tempfile::TempDir, TokenProvider) {
        let dir = tempfile::tempdir().unwrap();
        let repo = KeyRepository::new(dir.path().join("keys"));
        repo.setup().unwrap();
        (dir, TokenProvider::new(repo).unwrap())
    }

    fn payload(user: &str, scope: Scope, methods: &[&str]) -> TokenPayload {
        TokenPayload {
            user_id: user.into(),
            methods: methods.iter().map(|m| (*m).to_owned()).collect(),
            scope,
            expires_at: 1_893_456_000,
            audit_ids: vec![new_audit_id()],
            app_cred_id: None,
        }
    }

    /// Keystone hands methods back highest bit first.
    fn keystone_order(methods: &[String]) -> Vec<String> {
        let mut sorted = methods.to_vec();
        let bit = |m: &String| crate::DEFAULT_AUTH_METHODS.iter().position(|d| d == m);
        sorted.sort_by_key(|m| std::cmp::Reverse(bit(m)));
        sorted.dedup();
        sorted
    }

    fn assert_round_trip(provider: &TokenProvider, p: &TokenPayload) {
        let token = provider.issue_at(p, 1_700_000_000).unwrap();
        assert!(token.starts_with("gAAAAA"), "{token}");
        assert!(!token.contains('='));
        let (back, issued_at) = provider.validate(&token).unwrap();
        assert_eq!(issued_at, 1_700_000_000);
        let expected = TokenPayload {
            methods: keystone_order(&p.methods),
            ..p.clone()
        };
        assert_eq!(back, expected);
    }

    #[test]
    fn every_scope_method_and_id_shape_round_trips() {
        let (_dir, provider) = provider();
        let method_sets: Vec<Vec<&str>> = vec![
            vec!["password"],
            vec!["token"],
            vec!["external"],
            vec!["oauth1"],
            vec!["mapped"],
            vec!["application_credential"],
            vec!["password", "token"],
            vec![
                "external",
                "password",
                "token",
                "oauth1",
                "mapped",
                "application_credential",
            ],
        ];
        let id_shapes = [
            (USER, PROJECT),
            ("admin-user", "demo"),
            ("default", "admin-project"),
        ];
        for methods in &method_sets {
            for (user, project) in id_shapes {
                for scope in [
                    Scope::Unscoped,
                    Scope::Project(project.into()),
                    Scope::Domain("default".into()),
                    Scope::Domain(PROJECT.into()),
                    Scope::Domain("some-domain".into()),
                    Scope::System,
                ] {
                    assert_round_trip(&provider, &payload(user, scope, methods));
                }
                let mut p = payload(user, Scope::Project(project.into()), methods);
                p.app_cred_id = Some(APP_CRED.into());
                assert_round_trip(&provider, &p);
                p.app_cred_id = Some("my-app-cred".into());
                p.audit_ids.push(new_audit_id());
                assert_round_trip(&provider, &p);
            }
        }
    }

    #[test]
    fn project_password_token_has_keystone_length() {
        let (_dir, provider) = provider();
        let token = provider
            .issue(&payload(
                USER,
                Scope::Project(PROJECT.into()),
                &["password"],
            ))
            .unwrap();
        assert_eq!(token.len(), 183, "{token}");
        assert!(token.len() <= KEYSTONE_MAX_TOKEN_SIZE);
        assert!(token.starts_with("gAAAAA"));
        let (_, issued_at) = provider.validate(&token).unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!((now - issued_at).abs() < 5);
    }

    #[test]
    fn tampering_with_any_character_is_invalid() {
        let (_dir, provider) = provider();
        let token = provider
            .issue(&payload(
                USER,
                Scope::Project(PROJECT.into()),
                &["password"],
            ))
            .unwrap();
        let bytes = token.as_bytes();
        for i in 0..bytes.len() {
            for replacement in [b'A', b'-', b'z', b'9'] {
                if bytes[i] == replacement {
                    continue;
                }
                let mut tampered = bytes.to_vec();
                tampered[i] = replacement;
                let tampered = String::from_utf8(tampered).unwrap();
                assert!(
                    matches!(provider.validate(&tampered), Err(TokenError::Invalid)),
                    "position {i}"
                );
            }
        }
        for bad in [
            &token[..token.len() - 1],
            &format!("{token}A"),
            "",
            "gAAAAA",
        ] {
            assert!(matches!(provider.validate(bad), Err(TokenError::Invalid)));
        }
    }

    #[test]
    fn tampering_with_any_decoded_byte_is_invalid() {
        let (_dir, provider) = provider();
        let token = provider
            .issue(&payload(USER, Scope::System, &["password"]))
            .unwrap();
        let raw = decode_token(&token).unwrap();
        for i in 0..raw.len() {
            let mut tampered = raw.clone();
            tampered[i] ^= 0x01;
            let tampered = encode_token(&tampered);
            assert!(
                matches!(provider.validate(&tampered), Err(TokenError::Invalid)),
                "byte {i}"
            );
        }
    }

    #[test]
    fn oversized_tokens_are_refused_at_both_ends() {
        let (_dir, provider) = provider();
        let long = "x".repeat(700);
        let p = payload(&long, Scope::Project(long.clone()), &["password"]);
        assert!(matches!(provider.issue(&p), Err(TokenError::Payload(_))));
        let huge = format!("gAAAAA{}", "A".repeat(MAX_TOKEN_LEN));
        assert!(matches!(provider.validate(&huge), Err(TokenError::Invalid)));
    }

    #[test]
    fn provider_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<TokenProvider>();
    }
}
