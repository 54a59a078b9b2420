//! `/v2.1/os-keypairs`: list (paged by name from 2.35), create (import a public key, or
//! generate one and return the private key once), show and delete. `type` from 2.2,
//! `user_id` for admins from 2.10; 201/204 from 2.2.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use compute_model::Keypair;
use serde_json::{json, Value};

use crate::common::{
    empty, enforce, next_links, pagination_params, reply, validated_body, worded, Caller, Query,
    Res,
};
use crate::validate::{self, Kw, Pattern, Schema};
use crate::{ApiState, Mv};

fn keypair_missing(name: &str, user: &str) -> String {
    format!("Keypair {name} not found for user {user}")
}

/// Nova's `keypair_name_special_chars`: a `name` made of `[_- a-zA-Z0-9]`.
fn name_schema() -> Schema {
    let mut s = validate::name();
    s.0.push(Kw::Pattern(Pattern {
        text: "^[_\\- a-zA-Z0-9]+$",
        test: |n| {
            !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == ' ')
        },
    }));
    s
}

fn create_schema(mv: Mv) -> Schema {
    let text = || Schema(vec![Kw::Type(&["string"])]);
    let mut props = vec![("name", name_schema())];
    if mv.at_least(2) {
        props.push((
            "type",
            Schema(vec![
                Kw::Type(&["string"]),
                Kw::Enum(vec![json!("ssh"), json!("x509")]),
            ]),
        ));
    }
    props.push(("public_key", text()));
    if mv.at_least(10) {
        props.push(("user_id", text()));
    }
    validate::object(
        vec![("keypair", validate::object(props, vec!["name"]))],
        vec!["keypair"],
    )
}

/// A stable integer `id` for the show view (Nova's database id; ours has none).
fn numeric_id(k: &Keypair) -> i64 {
    let mut h: u32 = 2166136261;
    for b in k.user_id.bytes().chain([0]).chain(k.name.bytes()) {
        h = (h ^ u32::from(b)).wrapping_mul(16777619);
    }
    i64::from(h & 0x7FFF_FFFF)
}

fn index_view(k: &Keypair, mv: Mv) -> Value {
    let mut v = json!({"name": k.name, "public_key": k.public_key, "fingerprint": k.fingerprint});
    if mv.at_least(2) {
        v["type"] = json!(k.key_type);
    }
    json!({ "keypair": v })
}

/// The user asked about: `user_id` (2.10+) or the caller.
fn user_of(caller: &Caller, mv: Mv, q: &Query) -> String {
    if mv.at_least(10) {
        if let Some(u) = q.get("user_id") {
            return u.to_string();
        }
    }
    caller.ctx.user_id.clone()
}

fn query_params(mv: Mv) -> Vec<(&'static str, Schema)> {
    let mut p = Vec::new();
    if mv.at_least(10) {
        p.push(("user_id", Schema(vec![Kw::Type(&["string"])])));
    }
    p
}

/// `GET /v2.1/os-keypairs`.
pub(crate) async fn index(
    State(s): State<ApiState>,
    caller: Caller,
    mv: Mv,
    RawQuery(raw): RawQuery,
) -> Res {
    let q = Query::parse(raw.as_deref());
    let mut params = query_params(mv);
    if mv.at_least(35) {
        params.extend(pagination_params());
    }
    q.check(&params, mv.at_least(75))?;
    let user = user_of(&caller, mv, &q);
    let target = common_policy::target(&[("user_id", &user)]);
    enforce(&s, &caller, "os_compute_api:os-keypairs:index", &target)?;
    let (limit, marker) = if mv.at_least(35) {
        crate::common::limit_marker(&q)?
    } else {
        (None, None)
    };
    let list = s
        .compute
        .keypair_list(&caller.ctx, &user, limit, marker.as_deref())
        .await?;
    let mut body = json!({"keypairs": list.iter().map(|k| index_view(k, mv)).collect::<Vec<_>>()});
    if mv.at_least(35) {
        if let Some(l) = next_links(
            &s,
            "os-keypairs",
            &q,
            list.len(),
            list.last().map(|k| k.name.as_str()),
        ) {
            body["keypairs_links"] = l;
        }
    }
    reply(StatusCode::OK, body)
}

/// `POST /v2.1/os-keypairs`.
pub(crate) async fn create(State(s): State<ApiState>, caller: Caller, mv: Mv, body: Bytes) -> Res {
    let v = validated_body(&body, &create_schema(mv))?;
    let k = &v["keypair"];
    let user = if mv.at_least(10) {
        k["user_id"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| caller.ctx.user_id.clone())
    } else {
        caller.ctx.user_id.clone()
    };
    let target = common_policy::target(&[("user_id", &user)]);
    enforce(&s, &caller, "os_compute_api:os-keypairs:create", &target)?;
    let name = k["name"].as_str().unwrap_or_default();
    let key_type = k["type"].as_str().unwrap_or("ssh");
    let (made, private) = s
        .compute
        .keypair_create(&caller.ctx, &user, name, key_type, k["public_key"].as_str())
        .await?;
    let mut out = json!({
        "name": made.name,
        "public_key": made.public_key,
        "fingerprint": made.fingerprint,
        "user_id": made.user_id,
    });
    if let Some(p) = private {
        out["private_key"] = json!(p);
    }
    let status = if mv.at_least(2) {
        out["type"] = json!(made.key_type);
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    reply(status, json!({ "keypair": out }))
}

/// `GET /v2.1/os-keypairs/{name}`.
pub(crate) async fn show(
    State(s): State<ApiState>,
    caller: Caller,
    mv: Mv,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Res {
    let q = Query::parse(raw.as_deref());
    q.check(&query_params(mv), mv.at_least(75))?;
    let user = user_of(&caller, mv, &q);
    let target = common_policy::target(&[("user_id", &user)]);
    enforce(&s, &caller, "os_compute_api:os-keypairs:show", &target)?;
    let k = s
        .compute
        .keypair_get(&caller.ctx, &user, &name)
        .await
        .map_err(|e| worded(e, || keypair_missing(&name, &user)))?;
    let mut v = json!({
        "name": k.name,
        "public_key": k.public_key,
        "fingerprint": k.fingerprint,
        "user_id": k.user_id,
        "created_at": k.created_at,
        "deleted": false,
        "deleted_at": null,
        "id": numeric_id(&k),
        "updated_at": null,
    });
    if mv.at_least(2) {
        v["type"] = json!(k.key_type);
    }
    reply(StatusCode::OK, json!({ "keypair": v }))
}

/// `DELETE /v2.1/os-keypairs/{name}`.
pub(crate) async fn delete(
    State(s): State<ApiState>,
    caller: Caller,
    mv: Mv,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Res {
    let q = Query::parse(raw.as_deref());
    q.check(&query_params(mv), mv.at_least(75))?;
    let user = user_of(&caller, mv, &q);
    let target = common_policy::target(&[("user_id", &user)]);
    enforce(&s, &caller, "os_compute_api:os-keypairs:delete", &target)?;
    s.compute
        .keypair_delete(&caller.ctx, &user, &name)
        .await
        .map_err(|e| worded(e, || keypair_missing(&name, &user)))?;
    empty(if mv.at_least(2) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::ACCEPTED
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_bodies_per_microversion() {
        let err = |mv: u32, v: Value| validate::body(&create_schema(Mv(mv)), &v).unwrap_err();
        assert_eq!(
            err(1, json!({"keypair": {"name": "k", "type": "ssh"}})),
            "Invalid input for field/attribute keypair. Value: {'name': 'k', 'type': 'ssh'}. \
             Additional properties are not allowed ('type' was unexpected)"
        );
        assert_eq!(
            err(2, json!({"keypair": {"name": "k!"}})),
            "Invalid input for field/attribute name. Value: k!. 'k!' does not match '^[_\\\\- a-zA-Z0-9]+$'"
        );
        assert_eq!(
            err(2, json!({"keypair": {"name": "k", "user_id": "u"}})),
            "Invalid input for field/attribute keypair. Value: {'name': 'k', 'user_id': 'u'}. \
             Additional properties are not allowed ('user_id' was unexpected)"
        );
        assert!(validate::body(
            &create_schema(Mv(10)),
            &json!({"keypair": {"name": "my key_1", "user_id": "u"}})
        )
        .is_ok());
    }

    #[test]
    fn ids_are_stable_and_positive() {
        let k = Keypair {
            name: "k".into(),
            user_id: "u".into(),
            key_type: "ssh".into(),
            public_key: String::new(),
            fingerprint: String::new(),
            created_at: String::new(),
        };
        assert_eq!(numeric_id(&k), numeric_id(&k.clone()));
        assert!(numeric_id(&k) >= 0);
    }
}
