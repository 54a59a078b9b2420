//! The msgpack payload inside a Fernet token, laid out like the payload
//! classes of Keystone's `keystone/token/token_formatters.py`:
//!
//! | version | Keystone class                       | array after the version              |
//! | ------- | ------------------------------------ | ------------------------------------ |
//! | 0       | `UnscopedPayload`                    | user, methods, expires, audit_ids    |
//! | 1       | `DomainScopedPayload`                | user, methods, domain, expires, audit_ids |
//! | 2       | `ProjectScopedPayload`               | user, methods, project, expires, audit_ids |
//! | 8       | `SystemScopedPayload`                | user, methods, `"all"`, expires, audit_ids |
//! | 9       | `ApplicationCredentialScopedPayload` | user, methods, project, expires, audit_ids, app_cred |
//!
//! - user, project and app_cred ids are pairs: `[true, <16 uuid bytes>]` for a
//!   32-char lowercase uuid hex, `[false, "<id>"]` otherwise.
//! - the domain id is *not* a pair: bare 16 uuid bytes, or the bare string of
//!   a non-uuid id (Keystone only allows its default domain id, `default`).
//! - methods are a bitmask over [`DEFAULT_AUTH_METHODS`] (bit `1 << index`).
//! - expires is a float of unix seconds; audit ids are their 16 raw bytes.
//!
//! Other Keystone versions (trust, federation, OAuth) are not issued here and
//! do not validate.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rmpv::Value;

use crate::TokenError;

/// Keystone's default `[auth] methods`; a method's bit is `1 << index`.
pub const DEFAULT_AUTH_METHODS: [&str; 6] = [
    "external",
    "password",
    "token",
    "oauth1",
    "mapped",
    "application_credential",
];

const V_UNSCOPED: u64 = 0;
const V_DOMAIN: u64 = 1;
const V_PROJECT: u64 = 2;
const V_SYSTEM: u64 = 8;
const V_APP_CRED: u64 = 9;

/// The only system scope Keystone knows.
const SYSTEM_ALL: &str = "all";

/// Largest float that still holds every whole second exactly.
const MAX_EXPIRES: i64 = 1 << 53;

/// What the token is scoped to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Unscoped,
    Project(String),
    Domain(String),
    /// System scope; Keystone's only system target is `all`.
    System,
}

/// Everything a Keystone Fernet token carries besides its issue time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPayload {
    pub user_id: String,
    /// Authentication methods from [`DEFAULT_AUTH_METHODS`]. Decoded tokens
    /// list them in Keystone's order: highest bit first.
    pub methods: Vec<String>,
    pub scope: Scope,
    /// Unix seconds.
    pub expires_at: i64,
    /// One id, or two for a token rescoped from another (the parent's last).
    pub audit_ids: Vec<String>,
    /// Set for application-credential tokens; requires a project scope.
    pub app_cred_id: Option<String>,
}

/// Encodes a payload as Keystone's msgpack array.
pub(crate) fn pack(p: &TokenPayload) -> Result<Vec<u8>, TokenError> {
    let bad = |msg: String| TokenError::Payload(msg);
    let user = id_pair(&p.user_id, "user_id")?;
    let methods = methods_to_mask(&p.methods)?;
    if !(0..MAX_EXPIRES).contains(&p.expires_at) {
        return Err(bad(format!("expires_at {} is out of range", p.expires_at)));
    }
    let expires = Value::F64(p.expires_at as f64);
    if p.audit_ids.is_empty() || p.audit_ids.len() > 2 {
        return Err(bad(format!("{} audit ids, want 1 or 2", p.audit_ids.len())));
    }
    let audit_ids = p
        .audit_ids
        .iter()
        .map(|id| audit_id_bytes(id).map(Value::Binary))
        .collect::<Result<Vec<_>, _>>()?;
    let audit_ids = Value::Array(audit_ids);

    // [version, user, methods, <scope>, expires, audit_ids, <app cred>]
    let (version, scope, app_cred) = match (&p.scope, &p.app_cred_id) {
        (Scope::Project(project), Some(app_cred)) => (
            V_APP_CRED,
            Some(id_pair(project, "project_id")?),
            Some(id_pair(app_cred, "app_cred_id")?),
        ),
        (_, Some(_)) => {
            return Err(bad(
                "an application credential token needs a project scope".into()
            ));
        }
        (Scope::Unscoped, None) => (V_UNSCOPED, None, None),
        (Scope::Domain(domain), None) => (V_DOMAIN, Some(domain_value(domain)?), None),
        (Scope::Project(project), None) => (V_PROJECT, Some(id_pair(project, "project_id")?), None),
        (Scope::System, None) => (V_SYSTEM, Some(Value::from(SYSTEM_ALL)), None),
    };
    let mut fields = vec![Value::from(version), user, methods];
    fields.extend(scope);
    fields.extend([expires, audit_ids]);
    fields.extend(app_cred);
    let mut out = Vec::with_capacity(128);
    rmpv::encode::write_value(&mut out, &Value::Array(fields))
        .map_err(|e| bad(format!("msgpack encoding: {e}")))?;
    Ok(out)
}

/// Decodes Keystone's msgpack array; `None` for anything we do not accept.
pub(crate) fn unpack(bytes: &[u8]) -> Option<TokenPayload> {
    let mut rd = bytes;
    let value = rmpv::decode::read_value_with_max_depth(&mut rd, 8).ok()?;
    if !rd.is_empty() {
        return None;
    }
    let fields = value.as_array()?;
    let (version, rest) = fields.split_first()?;
    let version = version.as_u64()?;
    let (scope, rest, app_cred) = match (version, rest) {
        (V_UNSCOPED, [user, methods, expires, audit]) => {
            (Scope::Unscoped, [user, methods, expires, audit], None)
        }
        (V_DOMAIN, [user, methods, domain, expires, audit]) => {
            let scope = Scope::Domain(domain_from_value(domain)?);
            (scope, [user, methods, expires, audit], None)
        }
        (V_PROJECT, [user, methods, project, expires, audit]) => {
            let scope = Scope::Project(id_from_pair(project)?);
            (scope, [user, methods, expires, audit], None)
        }
        (V_SYSTEM, [user, methods, system, expires, audit]) => {
            if system.as_slice()? != SYSTEM_ALL.as_bytes() {
                return None;
            }
            (Scope::System, [user, methods, expires, audit], None)
        }
        (V_APP_CRED, [user, methods, project, expires, audit, app_cred]) => {
            let scope = Scope::Project(id_from_pair(project)?);
            let app_cred = Some(id_from_pair(app_cred)?);
            (scope, [user, methods, expires, audit], app_cred)
        }
        (other, _) => {
            tracing::debug!(version = other, "fernet payload version not supported");
            return None;
        }
    };
    let [user, methods, expires, audit] = rest;
    let audit_ids = audit
        .as_array()?
        .iter()
        .map(|id| match id.as_slice()? {
            [] => None,
            raw => Some(URL_SAFE_NO_PAD.encode(raw)),
        })
        .collect::<Option<Vec<_>>>()?;
    if audit_ids.is_empty() || audit_ids.len() > 2 {
        return None;
    }
    Some(TokenPayload {
        user_id: id_from_pair(user)?,
        methods: mask_to_methods(methods.as_u64()?)?,
        scope,
        expires_at: expires_from_value(expires)?,
        audit_ids,
        app_cred_id: app_cred,
    })
}

fn non_empty(id: &str, what: &str) -> Result<(), TokenError> {
    if id.is_empty() {
        return Err(TokenError::Payload(format!("{what} is empty")));
    }
    Ok(())
}

/// Keystone's `attempt_convert_uuid_hex_to_bytes`: `[true, bytes]` or `[false, id]`.
///
/// Python's `uuid.UUID()` also accepts dashed or upper-case spellings and
/// gives them back as lowercase hex; we only compress the spelling that
/// round-trips unchanged, so ids always come back as they went in.
fn id_pair(id: &str, what: &str) -> Result<Value, TokenError> {
    non_empty(id, what)?;
    Ok(match uuid_hex_to_bytes(id) {
        Some(bytes) => Value::Array(vec![Value::Boolean(true), Value::Binary(bytes.to_vec())]),
        None => Value::Array(vec![Value::Boolean(false), Value::from(id)]),
    })
}

/// Keystone's `_convert_or_decode` over an id pair.
fn id_from_pair(value: &Value) -> Option<String> {
    let [flag, id] = value.as_array()?.as_slice() else {
        return None;
    };
    let raw = id.as_slice()?;
    let id = match flag {
        Value::Boolean(true) => uuid_bytes_to_hex(raw)?,
        Value::Boolean(false) => text(raw)?,
        _ => return None,
    };
    (!id.is_empty()).then_some(id)
}

/// Keystone's `DomainScopedPayload.assemble`: bare uuid bytes or bare text.
fn domain_value(domain: &str) -> Result<Value, TokenError> {
    non_empty(domain, "domain_id")?;
    Ok(match uuid_hex_to_bytes(domain) {
        Some(bytes) => Value::Binary(bytes.to_vec()),
        None => Value::from(domain),
    })
}

/// Keystone's `DomainScopedPayload.disassemble`: 16 bytes are a uuid, text
/// is the (default) domain id as written.
fn domain_from_value(value: &Value) -> Option<String> {
    if let Some(id) = value.as_str() {
        return text(id.as_bytes());
    }
    match value.as_slice()? {
        raw if raw.len() == 16 => uuid_bytes_to_hex(raw),
        raw => text(raw),
    }
}

/// Old msgpack (< 1.0) wrote text and bytes alike as "raw"; accept either.
fn text(raw: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(raw).ok()?;
    (!s.is_empty()).then(|| s.to_owned())
}

/// 16 bytes for exactly 32 lowercase hex digits, like `uuid.uuid4().hex`.
fn uuid_hex_to_bytes(id: &str) -> Option<[u8; 16]> {
    let canonical = id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !canonical {
        return None;
    }
    uuid::Uuid::try_parse(id).ok().map(|u| u.into_bytes())
}

fn uuid_bytes_to_hex(raw: &[u8]) -> Option<String> {
    let uuid = uuid::Uuid::from_slice(raw).ok()?;
    Some(uuid.simple().to_string())
}

/// Keystone's `random_urlsafe_str_to_bytes`, restricted to real audit ids.
fn audit_id_bytes(id: &str) -> Result<Vec<u8>, TokenError> {
    match URL_SAFE_NO_PAD.decode(id) {
        Ok(raw) if raw.len() == 16 => Ok(raw),
        _ => Err(TokenError::Payload(format!(
            "audit id {id:?} is not 16 bytes of url-safe base64"
        ))),
    }
}

/// Keystone's `convert_method_list_to_integer`, but unknown names are an
/// error instead of silently dropped, and duplicates count once.
fn methods_to_mask(methods: &[String]) -> Result<Value, TokenError> {
    if methods.is_empty() {
        return Err(TokenError::Payload("no authentication methods".into()));
    }
    let mut mask = 0u64;
    for method in methods {
        let index = DEFAULT_AUTH_METHODS
            .iter()
            .position(|m| m == method)
            .ok_or_else(|| TokenError::Payload(format!("unknown auth method {method:?}")))?;
        mask |= 1 << index;
    }
    Ok(Value::from(mask))
}

/// Keystone's `convert_integer_to_method_list`: highest bit first. Bits we do
/// not know mean a different `[auth] methods` config: not ours to trust.
fn mask_to_methods(mask: u64) -> Option<Vec<String>> {
    let known = (1u64 << DEFAULT_AUTH_METHODS.len()) - 1;
    if mask == 0 || mask & !known != 0 {
        return None;
    }
    let methods = DEFAULT_AUTH_METHODS
        .iter()
        .enumerate()
        .rev()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, m)| (*m).to_owned())
        .collect();
    Some(methods)
}

/// Keystone writes a float (it may carry microseconds); we keep whole seconds.
fn expires_from_value(value: &Value) -> Option<i64> {
    let secs = match value {
        Value::F64(f) => *f,
        Value::F32(f) => f64::from(*f),
        Value::Integer(i) => return i.as_i64().filter(|s| (0..MAX_EXPIRES).contains(s)),
        _ => return None,
    };
    if !secs.is_finite() || secs < 0.0 || secs >= MAX_EXPIRES as f64 {
        return None;
    }
    Some(secs.floor() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "0123456789abcdef0123456789abcdef";
    const PROJECT: &str = "fedcba9876543210fedcba9876543210";

    fn payload(scope: Scope, methods: &[&str]) -> TokenPayload {
        TokenPayload {
            user_id: USER.into(),
            methods: methods.iter().map(|m| (*m).to_owned()).collect(),
            scope,
            expires_at: 1_700_000_000,
            audit_ids: vec![crate::new_audit_id()],
            app_cred_id: None,
        }
    }

    #[test]
    fn method_bits_follow_keystone_default_order() {
        let mask = |m: &[&str]| {
            let m: Vec<String> = m.iter().map(|s| (*s).to_owned()).collect();
            methods_to_mask(&m).unwrap().as_u64().unwrap()
        };
        assert_eq!(mask(&["external"]), 1);
        assert_eq!(mask(&["password"]), 2);
        assert_eq!(mask(&["token"]), 4);
        assert_eq!(mask(&["oauth1"]), 8);
        assert_eq!(mask(&["mapped"]), 16);
        assert_eq!(mask(&["application_credential"]), 32);
        assert_eq!(mask(&["password", "token", "password"]), 6);
        assert_eq!(mask_to_methods(6).unwrap(), ["token", "password"]);
        assert!(mask_to_methods(0).is_none());
        assert!(mask_to_methods(64).is_none());
    }

    #[test]
    fn project_token_bytes_match_keystone_layout() {
        let mut p = payload(Scope::Project(PROJECT.into()), &["password"]);
        p.audit_ids = vec![URL_SAFE_NO_PAD.encode([0xAAu8; 16])];
        let bytes = pack(&p).unwrap();
        let mut expected = vec![0x96, 0x02, 0x92, 0xc3, 0xc4, 0x10];
        expected.extend(uuid_hex_to_bytes(USER).unwrap());
        expected.push(0x02);
        expected.extend([0x92, 0xc3, 0xc4, 0x10]);
        expected.extend(uuid_hex_to_bytes(PROJECT).unwrap());
        expected.push(0xcb);
        expected.extend(1_700_000_000f64.to_be_bytes());
        expected.extend([0x91, 0xc4, 0x10]);
        expected.extend([0xAAu8; 16]);
        assert_eq!(bytes, expected);
    }

    #[test]
    fn default_domain_is_a_bare_string_and_uuid_domains_bare_bytes() {
        let bytes = pack(&payload(Scope::Domain("default".into()), &["password"])).unwrap();
        let v = rmpv::decode::read_value(&mut bytes.as_slice()).unwrap();
        assert_eq!(v.as_array().unwrap()[3], Value::from("default"));
        let bytes = pack(&payload(Scope::Domain(PROJECT.into()), &["password"])).unwrap();
        let v = rmpv::decode::read_value(&mut bytes.as_slice()).unwrap();
        assert_eq!(
            v.as_array().unwrap()[3],
            Value::Binary(uuid_hex_to_bytes(PROJECT).unwrap().to_vec())
        );
    }

    #[test]
    fn only_canonical_uuid_hex_is_compressed() {
        assert!(uuid_hex_to_bytes(USER).is_some());
        assert!(uuid_hex_to_bytes(&USER.to_uppercase()).is_none());
        assert!(uuid_hex_to_bytes("01234567-89ab-cdef-0123-456789abcdef").is_none());
        assert!(uuid_hex_to_bytes("admin-user").is_none());
        assert!(uuid_hex_to_bytes(&"g".repeat(32)).is_none());
    }

    #[test]
    fn bad_payloads_are_refused_at_issue() {
        let ok = payload(Scope::Unscoped, &["password"]);
        let cases: [fn(&mut TokenPayload); 9] = [
            |p| p.methods = vec![],
            |p| p.methods = vec!["totp".into()],
            |p| p.audit_ids = vec![],
            |p| p.audit_ids = vec![crate::new_audit_id(); 3],
            |p| p.audit_ids = vec!["short".into()],
            |p| p.user_id = String::new(),
            |p| p.expires_at = -1,
            |p| p.scope = Scope::Project(String::new()),
            |p| p.app_cred_id = Some("ac".into()),
        ];
        for (i, mutate) in cases.iter().enumerate() {
            let mut p = ok.clone();
            mutate(&mut p);
            assert!(matches!(pack(&p), Err(TokenError::Payload(_))), "case {i}");
        }
    }

    #[test]
    fn raw_strings_from_old_msgpack_decode_as_text() {
        // [0, [false, raw "admin"], 2, 1.7e9, [bin16]] with a str-typed id.
        let v = Value::Array(vec![
            Value::from(0u64),
            Value::Array(vec![
                Value::Boolean(false),
                Value::Binary(b"admin".to_vec()),
            ]),
            Value::from(2u64),
            Value::F64(1_700_000_000.75),
            Value::Array(vec![Value::Binary(vec![1; 16])]),
        ]);
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, &v).unwrap();
        let p = unpack(&bytes).unwrap();
        assert_eq!(p.user_id, "admin");
        assert_eq!(p.expires_at, 1_700_000_000);
        assert_eq!(p.methods, ["password"]);
    }

    /// Behind the HMAC only our own keys' payloads arrive, but the parser must
    /// not panic on anything either.
    #[test]
    fn mutated_payloads_never_panic() {
        use rand::{Rng as _, SeedableRng as _};
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let mut p = payload(Scope::Project("admin-project".into()), &["password"]);
        p.app_cred_id = Some(PROJECT.into());
        let good = pack(&p).unwrap();
        for _ in 0..2_000 {
            let mut bytes = good.clone();
            for _ in 0..rng.gen_range(1..4) {
                let i = rng.gen_range(0..bytes.len());
                bytes[i] = rng.gen();
            }
            if rng.gen_bool(0.2) {
                bytes.truncate(rng.gen_range(0..bytes.len()));
            }
            let _ = unpack(&bytes);
            let noise: Vec<u8> = (0..rng.gen_range(0..64)).map(|_| rng.gen()).collect();
            let _ = unpack(&noise);
        }
    }

    #[test]
    fn trailing_bytes_and_unknown_versions_do_not_unpack() {
        let mut bytes = pack(&payload(Scope::System, &["password"])).unwrap();
        assert!(unpack(&bytes).is_some());
        bytes.push(0xc0);
        assert!(unpack(&bytes).is_none());
        let mut bytes = pack(&payload(Scope::System, &["password"])).unwrap();
        bytes[1] = 3; // TrustScopedPayload: not ours.
        assert!(unpack(&bytes).is_none());
    }
}
