//! Random and mutated input to `validate` is always `Invalid`, never a panic.

use identity_token::{new_audit_id, KeyRepository, Scope, TokenError, TokenPayload, TokenProvider};
use rand::{Rng, SeedableRng};

const ROUNDS: usize = 2_000;
const URL_SAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

#[test]
fn random_strings_and_mutations_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let repo = KeyRepository::new(dir.path().join("keys"));
    repo.setup().unwrap();
    let provider = TokenProvider::new(repo).unwrap();
    let token = provider
        .issue(&TokenPayload {
            user_id: "admin-user".into(),
            methods: vec!["password".into(), "token".into()],
            scope: Scope::Domain("default".into()),
            expires_at: 1_893_456_000,
            audit_ids: vec![new_audit_id(), new_audit_id()],
            app_cred_id: None,
        })
        .unwrap();
    assert!(provider.validate(&token).is_ok());

    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    for round in 0..ROUNDS {
        let candidate = match round % 4 {
            // Arbitrary unicode of random length.
            0 => {
                let len = rng.gen_range(0..400);
                (0..len).map(|_| rng.gen::<char>()).collect::<String>()
            }
            // Url-safe base64 alphabet, lengths around a real token's.
            1 => {
                let len = rng.gen_range(0..=2 * token.len());
                let mut s: String = (0..len)
                    .map(|_| URL_SAFE[rng.gen_range(0..URL_SAFE.len())] as char)
                    .collect();
                if rng.gen_bool(0.5) {
                    s.replace_range(..s.len().min(6), "gAAAAA");
                }
                s
            }
            // The real token with a few characters replaced, cut or extended.
            2 => {
                let mut bytes = token.as_bytes().to_vec();
                for _ in 0..rng.gen_range(1..4) {
                    let i = rng.gen_range(0..bytes.len());
                    bytes[i] = URL_SAFE[rng.gen_range(0..URL_SAFE.len())];
                }
                if rng.gen_bool(0.3) {
                    bytes.truncate(rng.gen_range(0..bytes.len()));
                }
                if rng.gen_bool(0.3) {
                    bytes.extend((0..rng.gen_range(1..8)).map(|_| b'='));
                }
                String::from_utf8(bytes).unwrap()
            }
            // Arbitrary bytes, lossily made into a string.
            _ => {
                let len = rng.gen_range(0..600);
                let bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            }
        };
        if candidate == token {
            continue;
        }
        match provider.validate(&candidate) {
            Err(TokenError::Invalid) => {}
            // Only an untouched token prefix plus padding can still be valid.
            Ok(_) => assert!(candidate.trim_end_matches('=') == token, "{candidate}"),
            Err(other) => panic!("round {round}: unexpected error {other}"),
        }
    }
}
