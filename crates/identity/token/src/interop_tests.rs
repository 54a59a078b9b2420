//! Tokens built by Python's `cryptography` Fernet around payloads packed the
//! way Keystone's `token_formatters.py` packs them (msgpack 1.x), with a fixed
//! key, IV (bytes 16..32) and timestamp. They must validate here, and where
//! the expiry is whole seconds our encoder must produce the same bytes.
//!
//! Generated with, per case (see `assemble` in each Keystone payload class):
//! `Fernet(KEY)._encrypt_from_parts(msgpack.packb(payload), 1700000000,
//! bytes(range(16, 32))).rstrip(b'=')`, e.g. for `PROJECT_PASSWORD`
//! `payload = (2, (True, uuid.UUID(U).bytes), 2, (True, uuid.UUID(P).bytes),
//! 1893456000.0, [urlsafe_b64decode(A1 + '==')])`.

use crate::fernet::{decode_token, encode_token};
use crate::payload::pack;
use crate::{FernetKey, KeyRepository, Scope, TokenPayload, TokenProvider};

const KEY: &str = "4X6D4pqaHt2PSrjSYwLQPp3SCM5X9Wfx3h0tENcKnZs=";
const ISSUED_AT: i64 = 1_700_000_000;
const EXPIRES_AT: i64 = 1_893_456_000;
const USER: &str = "0123456789abcdef0123456789abcdef";
const PROJECT: &str = "fedcba9876543210fedcba9876543210";
const APP_CRED_ID: &str = "00112233445566778899aabbccddeeff";
const A1: &str = "qqqqqqqqqqqqqqqqqqqqqg";
const A2: &str = "u7u7u7u7u7u7u7u7u7u7uw";

const PROJECT_PASSWORD: &str = "gAAAAABlU_EAEBESExQVFhcYGRobHB0eHzaYWjPPmBuPZG0lRIeQ1fTD9DTj3gZHYSjqBo-1fFtxK5g9fXHkpRUpZx3bw62bBOlpM_Zmj85MD2dsYM7vjaS1MZEy4uc8kpi46zGTrsSk6u1E1FSlqtlc96vdlr_AgCfk8WiBv26m-7Z5QntRrp4";
const DOMAIN_DEFAULT_TOKEN: &str = "gAAAAABlU_EAEBESExQVFhcYGRobHB0eH56cZjdU36FYj2NxI8G-XO0HQ9ziq1pA0CXsgs7CpToOIvt--l2Q2VrB4TkhGkvB_srP2RkZpuhnPXUVQLrlMVUohzpvUQqMq8RdNoN_w5abUUk9tHIc9N920GoYItlFo653m2SfFpDcBJKCChWtzVE";
const DOMAIN_UUID: &str = "gAAAAABlU_EAEBESExQVFhcYGRobHB0eH4ZlCAA3K_nyyM-ox_WBHC3iNaU6i3w1MnWwrwfHiWTKUyb0FGmyJCWQ_YXBdVQOnnaKWjP7VfVjRRsUexYq814xy6ecV7nMofdJBQGJWwH1qaLvGLyjCcftV75L53JBvBb3A_Z2SQA4PAfhxcrzp6Q";
const SYSTEM_ALL: &str = "gAAAAABlU_EAEBESExQVFhcYGRobHB0eH-UejPxAdaW0Iwc78RiRHpYHfPlbUr306I3JKBdHqy1p25mm9pdubUZKkZ_qqqrthU_JoXaBCKRDMhsc3_pf1ajM6sEGIHRMhijfqfVIOWnNIAJlrUwyYb27vOXvpC4etA";
const APP_CRED: &str = "gAAAAABlU_EAEBESExQVFhcYGRobHB0eHzTLVu79nwCFV6YDPHF_2XNamxTt1aDTp6najFtBc_DEJuChcawlMBQtZZI0x0RVzU9hF0fct_i8xtiqgYuMmer_fcMTWugRfCPwNYB80cHJ9z0XT-qLZmergQ3xFDwllmyma8Tm5wT2aRaXBnwIpvAsU0cLafMoYQ64csxz6JXH";
const UNSCOPED_MAPPED_SUBSECOND: &str = "gAAAAABlU_EAEBESExQVFhcYGRobHB0eHybDXcPbc7Ku79W0l4Amt_UDfl4FVneJ8FeC6m7qXVv5ioKQ6pEGC5cbIhLnO63TwzSqTm2s6RXwEpXPWKzV1-qQQzi8d06WB5-BlQlsMrv6MBMGUQKJnTpnQkGwf61phQ";

fn provider_with_keystone_key() -> (tempfile::TempDir, TokenProvider) {
    let dir = tempfile::tempdir().unwrap();
    let repo = KeyRepository::new(dir.path().join("keys"));
    repo.setup().unwrap();
    // Keystone's key as a secondary: validation must try every key.
    std::fs::write(repo.path().join("1"), format!("{KEY}\n")).unwrap();
    std::fs::write(
        repo.path().join("5"),
        FernetKey::generate().unwrap().to_base64(),
    )
    .unwrap();
    (dir, TokenProvider::new(repo).unwrap())
}

fn expected(user: &str, methods: &[&str], scope: Scope, audit_ids: &[&str]) -> TokenPayload {
    TokenPayload {
        user_id: user.into(),
        methods: methods.iter().map(|m| (*m).to_owned()).collect(),
        scope,
        expires_at: EXPIRES_AT,
        audit_ids: audit_ids.iter().map(|a| (*a).to_owned()).collect(),
        app_cred_id: None,
    }
}

fn cases() -> Vec<(&'static str, TokenPayload)> {
    let mut app_cred = expected(
        USER,
        &["application_credential"],
        Scope::Project(PROJECT.into()),
        &[A1],
    );
    app_cred.app_cred_id = Some(APP_CRED_ID.into());
    vec![
        (
            PROJECT_PASSWORD,
            expected(USER, &["password"], Scope::Project(PROJECT.into()), &[A1]),
        ),
        (
            DOMAIN_DEFAULT_TOKEN,
            expected(
                "admin-user",
                &["token", "password"],
                Scope::Domain("default".into()),
                &[A1, A2],
            ),
        ),
        (
            DOMAIN_UUID,
            expected(USER, &["external"], Scope::Domain(PROJECT.into()), &[A1]),
        ),
        (
            SYSTEM_ALL,
            expected(USER, &["password"], Scope::System, &[A1]),
        ),
        (APP_CRED, app_cred),
    ]
}

#[test]
fn keystone_tokens_validate() {
    let (_dir, provider) = provider_with_keystone_key();
    for (token, want) in cases() {
        let (payload, issued_at) = provider.validate(token).unwrap();
        assert_eq!(payload, want);
        assert_eq!(issued_at, ISSUED_AT);
    }
    // Keystone keeps microseconds in the expiry float; we keep whole seconds.
    let (payload, _) = provider.validate(UNSCOPED_MAPPED_SUBSECOND).unwrap();
    assert_eq!(
        payload,
        expected(
            "federated-user",
            &["mapped", "token"],
            Scope::Unscoped,
            &[A1]
        )
    );
}

#[test]
fn our_encoding_is_byte_identical_to_keystones() {
    let key = FernetKey::from_base64(KEY).unwrap();
    let iv: [u8; 16] = std::array::from_fn(|i| (i + 16) as u8);
    for (token, payload) in cases() {
        let plaintext = pack(&payload).unwrap();
        let ours = encode_token(&key.encrypt_with(&plaintext, ISSUED_AT as u64, iv));
        assert_eq!(ours, token);
        assert_eq!(decode_token(&ours), decode_token(token));
    }
}
