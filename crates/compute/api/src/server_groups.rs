//! `/v2.1/os-server-groups`: list (`all_projects` for admins, `limit`/`offset`), create
//! (`policies` list before 2.64, `policy` + `rules` from 2.64; `soft-*` from 2.15), show and
//! delete. Another project's group is 404 for non-admins.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use compute_domain::server_group::ServerGroupCreate;
use compute_model::ServerGroup;
use serde_json::{json, Value};

use crate::common::{
    empty, enforce, int_of, project_target, reply, validated_body, worded, Caller, Query, Res,
    MAX_LIMIT,
};
use crate::validate::{self, Kw, Schema};
use crate::{ApiState, Mv};

fn group_missing(id: &str) -> String {
    format!("Instance group {id} could not be found.")
}

fn view(g: &ServerGroup, mv: Mv) -> Value {
    let mut v = json!({"id": g.uuid, "name": g.name, "members": g.members});
    if mv.at_least(64) {
        v["policy"] = json!(g.policy);
        v["rules"] = match g.max_server_per_host {
            Some(n) => json!({"max_server_per_host": n}),
            None => json!({}),
        };
    } else {
        v["policies"] = json!([g.policy]);
        v["metadata"] = json!({});
    }
    if mv.at_least(13) {
        v["project_id"] = json!(g.project_id);
        v["user_id"] = json!(g.user_id);
    }
    v
}

fn create_schema(mv: Mv) -> Schema {
    let mut policies = vec!["anti-affinity", "affinity"];
    if mv.at_least(15) {
        policies.extend(["soft-anti-affinity", "soft-affinity"]);
    }
    let one_of = |p: &[&str]| Kw::Enum(p.iter().map(|x| json!(x)).collect());
    let props = if mv.at_least(64) {
        let all = [
            "anti-affinity",
            "affinity",
            "soft-anti-affinity",
            "soft-affinity",
        ];
        let rules = validate::object(
            vec![(
                "max_server_per_host",
                Schema(vec![
                    Kw::Type(&["integer", "string"]),
                    Kw::Pattern(validate::Pattern {
                        text: "^[0-9]*$",
                        test: |s| s.chars().all(|c| c.is_ascii_digit()),
                    }),
                    Kw::Minimum(1),
                    Kw::MinLength(1),
                ]),
            )],
            vec![],
        );
        vec![
            ("name", validate::name()),
            ("policy", Schema(vec![Kw::Type(&["string"]), one_of(&all)])),
            ("rules", rules),
        ]
    } else {
        vec![
            ("name", validate::name()),
            (
                "policies",
                Schema(vec![
                    Kw::Type(&["array"]),
                    Kw::PrefixItems(vec![Schema(vec![Kw::Type(&["string"]), one_of(&policies)])]),
                    Kw::MinItems(1),
                    Kw::MaxItems(1),
                ]),
            ),
        ]
    };
    let required = if mv.at_least(64) {
        vec!["name", "policy"]
    } else {
        vec!["name", "policies"]
    };
    validate::object(
        vec![("server_group", validate::object(props, required))],
        vec!["server_group"],
    )
}

/// `GET /v2.1/os-server-groups`.
pub(crate) async fn index(
    State(s): State<ApiState>,
    caller: Caller,
    mv: Mv,
    RawQuery(raw): RawQuery,
) -> Res {
    let q = Query::parse(raw.as_deref());
    q.check(
        &[
            ("all_projects", Schema(vec![Kw::Type(&["string"])])),
            ("limit", validate::non_negative_integer()),
            ("offset", validate::non_negative_integer()),
        ],
        mv.at_least(75),
    )?;
    let own = project_target(&caller.ctx.project_id);
    enforce(&s, &caller, "os_compute_api:os-server-groups:index", &own)?;
    let all = q.has("all_projects") && caller.ctx.is_admin;
    if all {
        enforce(
            &s,
            &caller,
            "os_compute_api:os-server-groups:index:all_projects",
            &own,
        )?;
    }
    let groups = s.compute.server_group_list(&caller.ctx, all).await?;
    let num = |k: &str| q.get(k).map(|v| int_of(&json!(v)).max(0) as usize);
    let offset = num("offset").unwrap_or(0);
    let limit = num("limit").unwrap_or(MAX_LIMIT).min(MAX_LIMIT);
    let page: Vec<Value> = groups
        .iter()
        .skip(offset)
        .take(limit)
        .map(|g| view(g, mv))
        .collect();
    reply(StatusCode::OK, json!({ "server_groups": page }))
}

/// `POST /v2.1/os-server-groups`.
pub(crate) async fn create(State(s): State<ApiState>, caller: Caller, mv: Mv, body: Bytes) -> Res {
    let own = project_target(&caller.ctx.project_id);
    enforce(&s, &caller, "os_compute_api:os-server-groups:create", &own)?;
    let v = validated_body(&body, &create_schema(mv))?;
    let g = &v["server_group"];
    let req = if mv.at_least(64) {
        ServerGroupCreate {
            name: g["name"].as_str().unwrap_or_default().to_string(),
            policy: g["policy"].as_str().unwrap_or_default().to_string(),
            max_server_per_host: g["rules"].get("max_server_per_host").map(int_of),
        }
    } else {
        ServerGroupCreate {
            name: g["name"].as_str().unwrap_or_default().to_string(),
            policy: g["policies"][0].as_str().unwrap_or_default().to_string(),
            max_server_per_host: None,
        }
    };
    let made = s.compute.server_group_create(&caller.ctx, req).await?;
    reply(StatusCode::OK, json!({"server_group": view(&made, mv)}))
}

/// `GET /v2.1/os-server-groups/{id}`.
pub(crate) async fn show(
    State(s): State<ApiState>,
    caller: Caller,
    mv: Mv,
    Path(id): Path<String>,
) -> Res {
    let g = s
        .compute
        .server_group_get(&caller.ctx, &id)
        .await
        .map_err(|e| worded(e, || group_missing(&id)))?;
    enforce(
        &s,
        &caller,
        "os_compute_api:os-server-groups:show",
        &project_target(&g.project_id),
    )?;
    reply(StatusCode::OK, json!({"server_group": view(&g, mv)}))
}

/// `DELETE /v2.1/os-server-groups/{id}`.
pub(crate) async fn delete(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Res {
    let g = s
        .compute
        .server_group_get(&caller.ctx, &id)
        .await
        .map_err(|e| worded(e, || group_missing(&id)))?;
    let target = project_target(&g.project_id);
    enforce(
        &s,
        &caller,
        "os_compute_api:os-server-groups:delete",
        &target,
    )?;
    s.compute
        .server_group_delete(&caller.ctx, &id)
        .await
        .map_err(|e| worded(e, || group_missing(&id)))?;
    empty(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_per_microversion() {
        let g = ServerGroup {
            uuid: "g".into(),
            name: "n".into(),
            project_id: "p".into(),
            user_id: "u".into(),
            policy: "anti-affinity".into(),
            max_server_per_host: Some(3),
            members: vec!["i1".into()],
        };
        assert_eq!(
            view(&g, Mv(1)),
            json!({"id": "g", "name": "n", "members": ["i1"], "policies": ["anti-affinity"], "metadata": {}})
        );
        let v = view(&g, Mv(64));
        assert_eq!(v["rules"], json!({"max_server_per_host": 3}));
        assert_eq!(
            (v["project_id"].clone(), v["policy"].clone()),
            (json!("p"), json!("anti-affinity"))
        );
        assert!(v.get("policies").is_none());
    }

    #[test]
    fn create_bodies_per_microversion() {
        let err = |mv: u32, v: Value| validate::body(&create_schema(Mv(mv)), &v).unwrap_err();
        assert_eq!(
            err(1, json!({"server_group": {"name": "g", "policies": []}})),
            "Invalid input for field/attribute policies. Value: []. [] should be non-empty"
        );
        assert_eq!(
            err(64, json!({"server_group": {"name": "g", "policy": "affinity", "rules": {"max_server_per_host": 0}}})),
            "Invalid input for field/attribute max_server_per_host. Value: 0. 0 is less than the minimum of 1"
        );
    }
}
