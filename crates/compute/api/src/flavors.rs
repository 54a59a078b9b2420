//! `/v2.1/flavors`: list (brief and detail, with Nova's filters, sorting and
//! `flavors_links`), show, create, update (2.55) and delete. Fields per microversion:
//! `description` from 2.55, `extra_specs` from 2.61 (when the caller may read them), `swap`
//! as `""` for 0 before 2.75.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use compute_domain::flavor::{FlavorCreate, FlavorFilter, FLAVOR_SORT_KEYS};
use compute_model::Flavor;
use serde_json::{json, Value};

use crate::common::{
    bad_request, can, empty, enforce, int_of, links, next_links, no_target, own_target,
    pagination_params, reply, require, validated_body, worded, Caller, Query, Res,
};
use crate::validate::{self, Kw, Pattern, Schema};
use crate::{ApiState, Mv};

/// Nova's message for a flavor the caller may not see.
pub(crate) fn flavor_not_found(id: &str) -> String {
    format!("Flavor {id} could not be found.")
}

/// The brief view (`GET /flavors`).
fn basic(s: &ApiState, mv: Mv, f: &Flavor) -> Value {
    let mut v = json!({"id": f.id, "name": f.name, "links": links(s, "flavors", &f.id)});
    if mv.at_least(55) {
        v["description"] = json!(f.description);
    }
    v
}

/// The full view (show, detail, create, update).
pub(crate) fn full(s: &ApiState, mv: Mv, f: &Flavor, extra_specs: bool) -> Value {
    let swap = if mv.at_least(75) || f.swap != 0 {
        json!(f.swap)
    } else {
        json!("")
    };
    let rxtx = if f.rxtx_factor == 0.0 {
        json!("")
    } else {
        json!(f.rxtx_factor)
    };
    let mut v = json!({
        "id": f.id,
        "name": f.name,
        "ram": f.ram,
        "disk": f.disk,
        "swap": swap,
        "OS-FLV-EXT-DATA:ephemeral": f.ephemeral,
        "OS-FLV-DISABLED:disabled": f.disabled,
        "vcpus": f.vcpus,
        "os-flavor-access:is_public": f.is_public,
        "rxtx_factor": rxtx,
        "links": links(s, "flavors", &f.id),
    });
    if mv.at_least(55) {
        v["description"] = json!(f.description);
    }
    if extra_specs {
        v["extra_specs"] = json!(f.extra_specs);
    }
    v
}

/// Whether the full view carries `extra_specs` (2.61 and the caller may read them).
pub(crate) fn shows_extra_specs(s: &ApiState, caller: &Caller, mv: Mv) -> bool {
    mv.at_least(61)
        && can(
            s,
            caller,
            "os_compute_api:os-flavor-extra-specs:index",
            &own_target(caller),
        )
}

fn enum_of(values: &[&str]) -> Kw {
    Kw::Enum(values.iter().map(|v| json!(v)).collect())
}

fn list_params() -> Vec<(&'static str, Schema)> {
    let mut p = pagination_params();
    let text = || Schema(vec![Kw::Type(&["string"])]);
    p.push(("is_public", text()));
    p.push(("minRam", text()));
    p.push(("minDisk", text()));
    p.push((
        "sort_key",
        Schema(vec![Kw::Type(&["string"]), enum_of(&FLAVOR_SORT_KEYS)]),
    ));
    p.push((
        "sort_dir",
        Schema(vec![Kw::Type(&["string"]), enum_of(&["asc", "desc"])]),
    ));
    p
}

fn filter(caller: &Caller, q: &Query) -> Result<FlavorFilter, crate::common::ApiErr> {
    let (limit, marker) = crate::common::limit_marker(q)?;
    let mut f = FlavorFilter {
        is_public: Some(true),
        sort_key: q
            .get("sort_key")
            .filter(|k| !k.is_empty())
            .map(str::to_string),
        sort_dir: q
            .get("sort_dir")
            .filter(|k| !k.is_empty())
            .map(str::to_string),
        limit,
        marker,
        ..FlavorFilter::default()
    };
    if caller.ctx.is_admin {
        if let Some(p) = q.get("is_public") {
            f.is_public = if p.eq_ignore_ascii_case("none") {
                None
            } else {
                Some(
                    crate::common::bool_strict(p)
                        .map_err(|_| bad_request(&format!("Invalid is_public filter [{p}]")))?,
                )
            };
        }
    }
    for (name, slot) in [("minRam", &mut f.min_ram), ("minDisk", &mut f.min_disk)] {
        if let Some(v) = q.get(name) {
            *slot = Some(
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| bad_request(&format!("Invalid {name} filter [{v}]")))?,
            );
        }
    }
    Ok(f)
}

async fn list(s: ApiState, caller: Caller, mv: Mv, raw: Option<String>, detail: bool) -> Res {
    let q = Query::parse(raw.as_deref());
    q.check(&list_params(), mv.at_least(75))?;
    let f = filter(&caller, &q)?;
    let flavors = s.compute.flavor_list(&caller.ctx, &f).await?;
    let specs = detail && shows_extra_specs(&s, &caller, mv);
    let items: Vec<Value> = flavors
        .iter()
        .map(|f| {
            if detail {
                full(&s, mv, f, specs)
            } else {
                basic(&s, mv, f)
            }
        })
        .collect();
    let mut body = json!({"flavors": items});
    let path = if detail { "flavors/detail" } else { "flavors" };
    if let Some(l) = next_links(
        &s,
        path,
        &q,
        flavors.len(),
        flavors.last().map(|f| f.id.as_str()),
    ) {
        body["flavors_links"] = l;
    }
    reply(StatusCode::OK, body)
}

/// `GET /v2.1/flavors`.
pub(crate) async fn index(
    State(s): State<ApiState>,
    caller: Caller,
    mv: Mv,
    RawQuery(raw): RawQuery,
) -> Res {
    list(s, caller, mv, raw, false).await
}

/// `GET /v2.1/flavors/detail`.
pub(crate) async fn detail(
    State(s): State<ApiState>,
    caller: Caller,
    mv: Mv,
    RawQuery(raw): RawQuery,
) -> Res {
    list(s, caller, mv, raw, true).await
}

/// `GET /v2.1/flavors/{id}`.
pub(crate) async fn show(
    State(s): State<ApiState>,
    caller: Caller,
    mv: Mv,
    Path(id): Path<String>,
) -> Res {
    let f = s
        .compute
        .flavor_get(&caller.ctx, &id)
        .await
        .map_err(|e| worded(e, || flavor_not_found(&id)))?;
    let specs = shows_extra_specs(&s, &caller, mv);
    reply(StatusCode::OK, json!({"flavor": full(&s, mv, &f, specs)}))
}

fn description() -> Schema {
    Schema(vec![
        Kw::Type(&["string", "null"]),
        Kw::MinLength(0),
        Kw::MaxLength(65535),
        Kw::Pattern(Pattern {
            text: "^[printable characters]*$",
            test: |s| s.chars().all(|c| !c.is_control() || c == '\n' || c == '\t'),
        }),
    ])
}

fn whole(min: i64) -> Schema {
    Schema(vec![
        Kw::Type(&["integer", "string"]),
        Kw::Pattern(Pattern {
            text: "^[0-9]+$",
            test: |s| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()),
        }),
        Kw::Minimum(min),
        Kw::Maximum(0x7FFF_FFFF),
    ])
}

fn create_schema(mv: Mv) -> Schema {
    let mut props = vec![
        ("name", validate::name()),
        (
            "id",
            Schema(vec![
                Kw::Type(&["string", "number", "null"]),
                Kw::MinLength(1),
                Kw::MaxLength(255),
                Kw::Pattern(Pattern {
                    text: "^(?! )[a-zA-Z0-9. _-]+(?<! )$",
                    test: |s| {
                        !s.is_empty()
                            && !s.starts_with(' ')
                            && !s.ends_with(' ')
                            && s.chars()
                                .all(|c| c.is_ascii_alphanumeric() || ". _-".contains(c))
                    },
                }),
            ]),
        ),
        ("ram", whole(1)),
        ("vcpus", whole(1)),
        ("disk", whole(0)),
        ("OS-FLV-EXT-DATA:ephemeral", whole(0)),
        ("swap", whole(0)),
        (
            "rxtx_factor",
            Schema(vec![
                Kw::Type(&["number", "string"]),
                Kw::Pattern(Pattern {
                    text: "^[0-9]+(\\.[0-9]+)?$",
                    test: |s| {
                        let (a, b) = s.split_once('.').unwrap_or((s, "0"));
                        !a.is_empty()
                            && !b.is_empty()
                            && a.chars().all(|c| c.is_ascii_digit())
                            && b.chars().all(|c| c.is_ascii_digit())
                    },
                }),
                Kw::ExclusiveMinimum(0),
            ]),
        ),
        ("os-flavor-access:is_public", validate::boolean()),
    ];
    if mv.at_least(55) {
        props.push(("description", description()));
    }
    validate::object(
        vec![(
            "flavor",
            validate::object(props, vec!["name", "ram", "vcpus", "disk"]),
        )],
        vec!["flavor"],
    )
}

/// `POST /v2.1/flavors`.
pub(crate) async fn create(State(s): State<ApiState>, caller: Caller, mv: Mv, body: Bytes) -> Res {
    enforce(
        &s,
        &caller,
        "os_compute_api:os-flavor-manage:create",
        &no_target(),
    )?;
    let v = validated_body(&body, &create_schema(mv))?;
    let f = &v["flavor"];
    let id = match &f["id"] {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(validate::py_str(other)),
    };
    let rxtx = match &f["rxtx_factor"] {
        Value::Null => 1.0,
        Value::Number(n) => n.as_f64().unwrap_or(1.0),
        Value::String(t) => t.parse().unwrap_or(1.0),
        _ => 1.0,
    };
    let req = FlavorCreate {
        name: f["name"].as_str().unwrap_or_default().to_string(),
        id,
        ram: int_of(&f["ram"]),
        vcpus: int_of(&f["vcpus"]),
        disk: int_of(&f["disk"]),
        ephemeral: int_of(&f["OS-FLV-EXT-DATA:ephemeral"]),
        swap: int_of(&f["swap"]),
        rxtx_factor: rxtx,
        is_public: f
            .get("os-flavor-access:is_public")
            .is_none_or(validate::truthy),
        description: if mv.at_least(55) {
            f["description"].as_str().map(str::to_string)
        } else {
            None
        },
    };
    let created = s.compute.flavor_create(&caller.ctx, req).await?;
    let specs = shows_extra_specs(&s, &caller, mv);
    reply(
        StatusCode::OK,
        json!({"flavor": full(&s, mv, &created, specs)}),
    )
}

/// `PUT /v2.1/flavors/{id}` (2.55): the description only.
pub(crate) async fn update(
    State(s): State<ApiState>,
    caller: Caller,
    mv: Mv,
    Path(id): Path<String>,
    body: Bytes,
) -> Res {
    require(mv, 55)?;
    enforce(
        &s,
        &caller,
        "os_compute_api:os-flavor-manage:update",
        &no_target(),
    )?;
    let schema = validate::object(
        vec![(
            "flavor",
            validate::object(vec![("description", description())], vec!["description"]),
        )],
        vec!["flavor"],
    );
    let v = validated_body(&body, &schema)?;
    let desc = v["flavor"]["description"].as_str().map(str::to_string);
    let f = s
        .compute
        .flavor_update(&caller.ctx, &id, desc)
        .await
        .map_err(|e| worded(e, || flavor_not_found(&id)))?;
    let specs = shows_extra_specs(&s, &caller, mv);
    reply(StatusCode::OK, json!({"flavor": full(&s, mv, &f, specs)}))
}

/// `DELETE /v2.1/flavors/{id}`.
pub(crate) async fn delete(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Res {
    enforce(
        &s,
        &caller,
        "os_compute_api:os-flavor-manage:delete",
        &no_target(),
    )?;
    s.compute
        .flavor_delete(&caller.ctx, &id)
        .await
        .map_err(|e| worded(e, || flavor_not_found(&id)))?;
    empty(StatusCode::ACCEPTED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_bodies_are_checked_like_novas() {
        let err = |mv: u32, v: Value| validate::body(&create_schema(Mv(mv)), &v).unwrap_err();
        let base = |extra: Value| {
            let mut f = json!({"name": "f", "ram": 1, "vcpus": 1, "disk": 0});
            if let (Some(o), Some(e)) = (f.as_object_mut(), extra.as_object()) {
                o.extend(e.clone());
            }
            json!({ "flavor": f })
        };
        assert_eq!(
            err(1, base(json!({"id": " x"}))),
            "Invalid input for field/attribute id. Value:  x. ' x' does not match '^(?! )[a-zA-Z0-9. _-]+(?<! )$'"
        );
        assert_eq!(
            err(1, base(json!({"rxtx_factor": 0}))),
            "Invalid input for field/attribute rxtx_factor. Value: 0. 0 is less than or equal to the minimum of 0"
        );
        assert_eq!(
            err(1, base(json!({"disk": -1}))),
            "Invalid input for field/attribute disk. Value: -1. -1 is less than the minimum of 0"
        );
        assert!(
            err(54, base(json!({"description": "d"}))).ends_with("('description' was unexpected)")
        );
        assert!(validate::body(
            &create_schema(Mv(55)),
            &base(json!({"description": "d", "id": 7, "swap": "512"}))
        )
        .is_ok());
    }
}
