//! `/v2.1/os-quota-sets/{project_id}` (show, `defaults`, `detail`, update, revert) and
//! `/v2.1/limits`. Resources per microversion as Nova lists them: the network ones go at
//! 2.36, the personality ones at 2.57.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use compute_domain::quota::QUOTA_RESOURCES;
use serde_json::{json, Map, Value};

use crate::common::{
    empty, enforce, no_target, project_target, reply, validated_body, Caller, Query, Res,
};
use crate::validate::{self, Kw, Pattern, Schema};
use crate::{ApiState, Mv};

/// The resources a microversion shows, in Nova's order.
fn shown(mv: Mv) -> Vec<&'static str> {
    QUOTA_RESOURCES
        .iter()
        .copied()
        .filter(|r| {
            let network = matches!(
                *r,
                "fixed_ips" | "floating_ips" | "security_group_rules" | "security_groups"
            );
            let personality = r.starts_with("injected_file");
            let gone = (mv.at_least(36) && network) || (mv.at_least(57) && personality);
            !gone
        })
        .collect()
}

fn quota_set<T: Into<Value> + Copy>(
    mv: Mv,
    id: Option<&str>,
    values: &BTreeMap<String, T>,
) -> Value {
    let mut m = Map::new();
    if let Some(id) = id {
        m.insert("id".into(), json!(id));
    }
    for r in shown(mv) {
        if let Some(v) = values.get(r) {
            m.insert(r.into(), (*v).into());
        }
    }
    json!({ "quota_set": m })
}

fn user_param() -> Vec<(&'static str, Schema)> {
    vec![("user_id", Schema(vec![Kw::Type(&["string"])]))]
}

/// `GET /v2.1/os-quota-sets/{project_id}`.
pub(crate) async fn show(
    State(s): State<ApiState>,
    caller: Caller,
    mv: Mv,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Res {
    Query::parse(raw.as_deref()).check(&user_param(), mv.at_least(75))?;
    enforce(
        &s,
        &caller,
        "os_compute_api:os-quota-sets:show",
        &project_target(&id),
    )?;
    let limits = s.compute.quota_limits(&id).await?;
    reply(StatusCode::OK, quota_set(mv, Some(&id), &limits))
}

/// `GET /v2.1/os-quota-sets/{project_id}/defaults`.
pub(crate) async fn defaults(
    State(s): State<ApiState>,
    caller: Caller,
    mv: Mv,
    Path(id): Path<String>,
) -> Res {
    enforce(
        &s,
        &caller,
        "os_compute_api:os-quota-sets:defaults",
        &project_target(&id),
    )?;
    reply(
        StatusCode::OK,
        quota_set(mv, Some(&id), &s.compute.quota_defaults()),
    )
}

/// `GET /v2.1/os-quota-sets/{project_id}/detail`.
pub(crate) async fn detail(
    State(s): State<ApiState>,
    caller: Caller,
    mv: Mv,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Res {
    Query::parse(raw.as_deref()).check(&user_param(), mv.at_least(75))?;
    enforce(
        &s,
        &caller,
        "os_compute_api:os-quota-sets:detail",
        &project_target(&id),
    )?;
    let d = s.compute.quota_detail(&id).await?;
    let mut m = Map::new();
    m.insert("id".into(), json!(id));
    for r in shown(mv) {
        if let Some(x) = d.get(r) {
            m.insert(
                r.into(),
                json!({"in_use": x.in_use, "limit": x.limit, "reserved": x.reserved}),
            );
        }
    }
    reply(StatusCode::OK, json!({ "quota_set": m }))
}

fn update_schema(mv: Mv) -> Schema {
    let limit = || {
        Schema(vec![
            Kw::Type(&["integer", "string"]),
            Kw::Pattern(Pattern {
                text: "^-?[0-9]+$",
                test: |s| {
                    let d = s.strip_prefix('-').unwrap_or(s);
                    !d.is_empty() && d.chars().all(|c| c.is_ascii_digit())
                },
            }),
            Kw::Minimum(-1),
            Kw::Maximum(0x7FFF_FFFF),
        ])
    };
    let mut props: Vec<(&'static str, Schema)> =
        shown(mv).into_iter().map(|r| (r, limit())).collect();
    props.push(("force", validate::boolean()));
    validate::object(
        vec![("quota_set", validate::object(props, vec![]))],
        vec!["quota_set"],
    )
}

/// `PUT /v2.1/os-quota-sets/{project_id}`.
pub(crate) async fn update(
    State(s): State<ApiState>,
    caller: Caller,
    mv: Mv,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Res {
    Query::parse(raw.as_deref()).check(&user_param(), mv.at_least(75))?;
    enforce(
        &s,
        &caller,
        "os_compute_api:os-quota-sets:update",
        &project_target(&id),
    )?;
    let v = validated_body(&body, &update_schema(mv))?;
    let qs = v["quota_set"].as_object().cloned().unwrap_or_default();
    let force = qs.get("force").is_some_and(validate::truthy);
    let mut values = BTreeMap::new();
    for (k, x) in &qs {
        if k == "force" || x.is_null() || x.as_str() == Some("") {
            continue;
        }
        values.insert(k.clone(), crate::common::int_of(x));
    }
    let limits = s.compute.quota_update(&id, &values, force).await?;
    reply(StatusCode::OK, quota_set(mv, None, &limits))
}

/// `DELETE /v2.1/os-quota-sets/{project_id}`: back to the defaults.
pub(crate) async fn delete(
    State(s): State<ApiState>,
    caller: Caller,
    mv: Mv,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Res {
    Query::parse(raw.as_deref()).check(&user_param(), mv.at_least(75))?;
    enforce(
        &s,
        &caller,
        "os_compute_api:os-quota-sets:delete",
        &project_target(&id),
    )?;
    s.compute.quota_revert(&id).await?;
    empty(StatusCode::ACCEPTED)
}

/// `GET /v2.1/limits` (`tenant_id` for admins): absolute limits and usage, no rate limits.
pub(crate) async fn limits(
    State(s): State<ApiState>,
    caller: Caller,
    mv: Mv,
    RawQuery(raw): RawQuery,
) -> Res {
    let q = Query::parse(raw.as_deref());
    q.check(
        &[
            ("reserved", Schema(vec![Kw::Type(&["string"])])),
            ("tenant_id", Schema(vec![Kw::Type(&["string"])])),
        ],
        mv.at_least(75),
    )?;
    enforce(&s, &caller, "os_compute_api:limits", &no_target())?;
    let mut project = caller.ctx.project_id.clone();
    if let Some(t) = q.get("tenant_id") {
        enforce(
            &s,
            &caller,
            "os_compute_api:limits:other_project",
            &no_target(),
        )?;
        project = t.to_string();
    }
    let limits = s.compute.quota_limits(&project).await?;
    let used = s.compute.quota_in_use(&project).await?;
    let hidden = |r: &str| {
        let network = matches!(
            r,
            "floating_ips" | "security_groups" | "security_group_rules"
        );
        let personality = matches!(r, "injected_files" | "injected_file_content_bytes");
        (mv.at_least(36) && network) || (mv.at_least(57) && personality)
    };
    let names: [(&str, &[&str]); 12] = [
        ("ram", &["maxTotalRAMSize"]),
        ("instances", &["maxTotalInstances"]),
        ("cores", &["maxTotalCores"]),
        ("key_pairs", &["maxTotalKeypairs"]),
        ("floating_ips", &["maxTotalFloatingIps"]),
        ("metadata_items", &["maxServerMeta", "maxImageMeta"]),
        ("injected_files", &["maxPersonality"]),
        ("injected_file_content_bytes", &["maxPersonalitySize"]),
        ("security_groups", &["maxSecurityGroups"]),
        ("security_group_rules", &["maxSecurityGroupRules"]),
        ("server_groups", &["maxServerGroups"]),
        ("server_group_members", &["maxServerGroupMembers"]),
    ];
    let mut absolute = Map::new();
    for (resource, shown_as) in names {
        let Some(v) = limits.get(resource) else {
            continue;
        };
        if hidden(resource) {
            continue;
        }
        for name in shown_as {
            if *name == "maxImageMeta" && mv.at_least(39) {
                continue;
            }
            absolute.insert((*name).into(), json!(v));
        }
    }
    for (name, resource) in [
        ("totalRAMUsed", "ram"),
        ("totalCoresUsed", "cores"),
        ("totalInstancesUsed", "instances"),
        ("totalFloatingIpsUsed", "floating_ips"),
        ("totalSecurityGroupsUsed", "security_groups"),
        ("totalServerGroupsUsed", "server_groups"),
    ] {
        if !hidden(resource) {
            absolute.insert(name.into(), json!(used.get(resource).copied().unwrap_or(0)));
        }
    }
    reply(
        StatusCode::OK,
        json!({"limits": {"rate": [], "absolute": absolute}}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_shown_per_microversion() {
        assert_eq!(shown(Mv(1)).len(), 14);
        let v36 = shown(Mv(36));
        assert!(!v36.contains(&"floating_ips") && v36.contains(&"injected_files"));
        assert_eq!(
            shown(Mv(57)),
            vec![
                "instances",
                "cores",
                "ram",
                "metadata_items",
                "key_pairs",
                "server_groups",
                "server_group_members"
            ]
        );
    }

    #[test]
    fn update_bodies_are_checked_like_novas() {
        let bad = |v: Value| validate::body(&update_schema(Mv(57)), &v).unwrap_err();
        assert_eq!(
            bad(json!({"quota_set": {"cores": "1.5"}})),
            "Invalid input for field/attribute cores. Value: 1.5. '1.5' does not match '^-?[0-9]+$'"
        );
        assert_eq!(
            bad(json!({"quota_set": {"force": "maybe"}})),
            "Invalid input for field/attribute force. Value: maybe. 'maybe' is not one of [True, \
             'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', False, 'False', \
             'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no']"
        );
        assert!(validate::body(
            &update_schema(Mv(57)),
            &json!({"quota_set": {"cores": -1, "force": true}})
        )
        .is_ok());
    }
}
