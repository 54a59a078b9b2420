//! Tokens across `keystone-manage fernet_rotate`-style key rotations.

// Marks the helpers below as test code for clippy's allow-unwrap-in-tests.
#![cfg(test)]

use identity_token::{
    new_audit_id, FernetKey, KeyRepository, Scope, TokenError, TokenPayload, TokenProvider,
};

const MAX_ACTIVE_KEYS: usize = 3;

fn setup() -> (tempfile::TempDir, KeyRepository) {
    let dir = tempfile::tempdir().unwrap();
    let repo = KeyRepository::new(dir.path().join("fernet-keys"));
    repo.setup().unwrap();
    (dir, repo)
}

fn payload() -> TokenPayload {
    TokenPayload {
        user_id: "0123456789abcdef0123456789abcdef".into(),
        methods: vec!["password".into()],
        scope: Scope::Project("fedcba9876543210fedcba9876543210".into()),
        expires_at: 1_893_456_000,
        audit_ids: vec![new_audit_id()],
        app_cred_id: None,
    }
}

fn key_files(repo: &KeyRepository) -> usize {
    std::fs::read_dir(repo.path()).unwrap().count()
}

#[test]
fn token_survives_one_rotation_and_dies_when_its_key_is_purged() {
    let (_dir, repo) = setup();
    let provider = TokenProvider::new(repo.clone()).unwrap();
    let issued = payload();
    let token = provider.issue(&issued).unwrap();

    // Key 1 is now a secondary key.
    repo.rotate(MAX_ACTIVE_KEYS).unwrap();
    provider.reload().unwrap();
    assert_eq!(provider.validate(&token).unwrap().0, issued);
    let newer = provider.issue(&issued).unwrap();

    // Key 1 is purged; key 2, which sealed `newer`, is the secondary.
    repo.rotate(MAX_ACTIVE_KEYS).unwrap();
    provider.reload().unwrap();
    assert!(matches!(
        provider.validate(&token),
        Err(TokenError::Invalid)
    ));
    assert_eq!(provider.validate(&newer).unwrap().0, issued);

    // Without a reload the provider still holds the old keys.
    let stale = TokenProvider::new(repo.clone()).unwrap();
    repo.rotate(MAX_ACTIVE_KEYS).unwrap();
    repo.rotate(MAX_ACTIVE_KEYS).unwrap();
    assert!(stale.validate(&newer).is_ok());
    stale.reload().unwrap();
    assert!(matches!(stale.validate(&newer), Err(TokenError::Invalid)));
}

#[test]
fn a_token_sealed_with_the_staged_key_validates_before_promotion() {
    let (_dir, repo) = setup();
    // Another node rotated first: its primary is our staged key 0. Build a
    // repository holding only that key to issue with it.
    let staged = std::fs::read_to_string(repo.path().join("0")).unwrap();
    let other_dir = tempfile::tempdir().unwrap();
    std::fs::write(other_dir.path().join("7"), &staged).unwrap();
    let other = TokenProvider::new(KeyRepository::new(other_dir.path())).unwrap();
    let token = other.issue(&payload()).unwrap();

    let provider = TokenProvider::new(repo).unwrap();
    assert!(provider.validate(&token).is_ok());
}

#[test]
fn rotation_keeps_at_most_max_active_keys_files() {
    let (_dir, repo) = setup();
    assert_eq!(key_files(&repo), 2);
    for round in 1..=6 {
        repo.rotate(MAX_ACTIVE_KEYS).unwrap();
        assert_eq!(key_files(&repo), (round + 2).min(MAX_ACTIVE_KEYS));
    }
    let keys = repo.load().unwrap();
    assert_eq!(keys.len(), MAX_ACTIVE_KEYS);
    let primary = std::fs::read_to_string(repo.path().join("7")).unwrap();
    assert_eq!(keys[0], FernetKey::from_base64(&primary).unwrap());
}

#[test]
fn setup_is_idempotent() {
    let (_dir, repo) = setup();
    let before = repo.load().unwrap();
    repo.setup().unwrap();
    repo.setup().unwrap();
    assert_eq!(repo.load().unwrap(), before);
    assert_eq!(key_files(&repo), 2);
}

#[test]
fn garbage_key_file_is_a_keys_error_and_reload_keeps_old_keys() {
    let (_dir, repo) = setup();
    let provider = TokenProvider::new(repo.clone()).unwrap();
    let token = provider.issue(&payload()).unwrap();
    std::fs::write(repo.path().join("2"), "garbage!").unwrap();
    assert!(matches!(provider.reload(), Err(TokenError::Keys(_))));
    assert!(matches!(
        TokenProvider::new(repo.clone()),
        Err(TokenError::Keys(_))
    ));
    // The provider still serves with the keys it had.
    assert!(provider.validate(&token).is_ok());
}

#[test]
fn missing_repository_is_a_keys_error() {
    let dir = tempfile::tempdir().unwrap();
    let repo = KeyRepository::new(dir.path().join("absent"));
    let err = TokenProvider::new(repo).unwrap_err();
    assert!(matches!(err, TokenError::Keys(_)), "{err}");
    let err: common_error::Error = err.into();
    assert_eq!(err.status(), 500);
}
