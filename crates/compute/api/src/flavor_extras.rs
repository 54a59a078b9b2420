//! A flavor's extra specs (`/v2.1/flavors/{id}/os-extra_specs[/{key}]`) and project access
//! (`/v2.1/flavors/{id}/os-flavor-access`, and the `addTenantAccess`/`removeTenantAccess`
//! actions on `/v2.1/flavors/{id}/action`).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use crate::common::{
    bad_request, empty, enforce, no_target, not_found, own_target, parse_body, reply,
    validated_body, worded, ApiErr, Caller, Res,
};
use crate::flavors::flavor_not_found;
use crate::validate::{self, Kw, Pattern, Schema};
use crate::{ApiState, Mv};

const SPEC_KEY: Pattern = Pattern {
    text: "^[a-zA-Z0-9-_:. ]{1,255}$",
    test: |k| {
        (1..=255).contains(&k.chars().count())
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_:. ".contains(c))
    },
};

/// Nova's flavor metadata: keys by [`SPEC_KEY`], values strings or numbers up to 255.
fn specs_schema() -> Schema {
    Schema(vec![
        Kw::Type(&["object"]),
        Kw::PatternProperties(
            SPEC_KEY,
            Box::new(Schema(vec![
                Kw::Type(&["string", "number"]),
                Kw::MaxLength(255),
            ])),
        ),
        Kw::AdditionalProperties(false),
    ])
}

/// Values as stored (numbers become their Python `str`), checked for length as Nova does.
fn as_strings(specs: &Map<String, Value>) -> Result<BTreeMap<String, String>, ApiErr> {
    let mut out = BTreeMap::new();
    for (k, v) in specs {
        let text = validate::py_str(v);
        if text.chars().count() > 255 {
            return Err(bad_request(&format!(
                "extra_specs value has a length greater than the maximum allowed {}.",
                255
            )));
        }
        out.insert(k.clone(), text);
    }
    Ok(out)
}

fn spec_missing(id: &str, key: &str) -> String {
    format!("Flavor {id} has no extra specs with key {key}.")
}

/// `GET /v2.1/flavors/{id}/os-extra_specs`.
pub(crate) async fn specs_index(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Res {
    enforce(
        &s,
        &caller,
        "os_compute_api:os-flavor-extra-specs:index",
        &own_target(&caller),
    )?;
    let f = s
        .compute
        .flavor_get(&caller.ctx, &id)
        .await
        .map_err(|e| worded(e, || flavor_not_found(&id)))?;
    reply(StatusCode::OK, json!({"extra_specs": f.extra_specs}))
}

/// `POST /v2.1/flavors/{id}/os-extra_specs`: adds or replaces; echoes the body.
pub(crate) async fn specs_create(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Res {
    enforce(
        &s,
        &caller,
        "os_compute_api:os-flavor-extra-specs:create",
        &no_target(),
    )?;
    let schema = validate::object(vec![("extra_specs", specs_schema())], vec!["extra_specs"]);
    let v = validated_body(&body, &schema)?;
    let given = v["extra_specs"].as_object().cloned().unwrap_or_default();
    let specs = as_strings(&given)?;
    s.compute
        .flavor_extra_specs_update(&caller.ctx, &id, specs)
        .await
        .map_err(|e| worded(e, || flavor_not_found(&id)))?;
    reply(StatusCode::OK, v)
}

/// `GET /v2.1/flavors/{id}/os-extra_specs/{key}`.
pub(crate) async fn specs_show(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, key)): Path<(String, String)>,
) -> Res {
    enforce(
        &s,
        &caller,
        "os_compute_api:os-flavor-extra-specs:show",
        &own_target(&caller),
    )?;
    let f = s
        .compute
        .flavor_get(&caller.ctx, &id)
        .await
        .map_err(|e| worded(e, || flavor_not_found(&id)))?;
    match f.extra_specs.get(&key) {
        Some(v) => reply(StatusCode::OK, json!({ key: v })),
        None => Err(not_found(&spec_missing(&id, &key))),
    }
}

/// `PUT /v2.1/flavors/{id}/os-extra_specs/{key}`: a body of exactly `{key: value}`.
pub(crate) async fn specs_update(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, key)): Path<(String, String)>,
    body: Bytes,
) -> Res {
    enforce(
        &s,
        &caller,
        "os_compute_api:os-flavor-extra-specs:update",
        &no_target(),
    )?;
    let mut schema = specs_schema();
    schema.0.push(Kw::MinProperties(1));
    schema.0.push(Kw::MaxProperties(1));
    let v = validated_body(&body, &schema)?;
    let given = v.as_object().cloned().unwrap_or_default();
    let specs = as_strings(&given)?;
    if !specs.contains_key(&key) {
        return Err(bad_request("Request body and URI mismatch"));
    }
    s.compute
        .flavor_extra_specs_update(&caller.ctx, &id, specs)
        .await
        .map_err(|e| worded(e, || flavor_not_found(&id)))?;
    reply(StatusCode::OK, v)
}

/// `DELETE /v2.1/flavors/{id}/os-extra_specs/{key}`.
pub(crate) async fn specs_delete(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, key)): Path<(String, String)>,
) -> Res {
    enforce(
        &s,
        &caller,
        "os_compute_api:os-flavor-extra-specs:delete",
        &no_target(),
    )?;
    match s
        .compute
        .flavor_extra_spec_delete(&caller.ctx, &id, &key)
        .await
    {
        Ok(()) => empty(StatusCode::OK),
        Err(common_error::Error::NotFound { kind: "flavor", .. }) => {
            Err(not_found(&flavor_not_found(&id)))
        }
        Err(e) => Err(worded(e, || spec_missing(&id, &key))),
    }
}

fn access_body(id: &str, projects: &[String]) -> Value {
    json!({"flavor_access": projects
        .iter()
        .map(|p| json!({"flavor_id": id, "tenant_id": p}))
        .collect::<Vec<_>>()})
}

/// `GET /v2.1/flavors/{id}/os-flavor-access`.
pub(crate) async fn access_index(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Res {
    enforce(
        &s,
        &caller,
        "os_compute_api:os-flavor-access",
        &own_target(&caller),
    )?;
    match s.compute.flavor_access_list(&caller.ctx, &id).await {
        Ok(p) => reply(StatusCode::OK, access_body(&id, &p)),
        Err(common_error::Error::NotFound {
            kind: "flavor access",
            ..
        }) => Err(not_found("Access list not available for public flavors.")),
        Err(e) => Err(worded(e, || flavor_not_found(&id))),
    }
}

fn tenant_schema(action: &'static str) -> Schema {
    let tenant = Schema(vec![
        Kw::Type(&["string"]),
        Kw::MinLength(1),
        Kw::MaxLength(255),
    ]);
    validate::object(
        vec![(
            action,
            validate::object(vec![("tenant", tenant)], vec!["tenant"]),
        )],
        vec![action],
    )
}

/// `POST /v2.1/flavors/{id}/action`: `addTenantAccess` or `removeTenantAccess`.
pub(crate) async fn action(
    State(s): State<ApiState>,
    caller: Caller,
    _mv: Mv,
    Path(id): Path<String>,
    body: Bytes,
) -> Res {
    let v = parse_body(&body)?;
    let name = v
        .as_object()
        .and_then(|o| o.keys().next().cloned())
        .unwrap_or_default();
    match name.as_str() {
        "addTenantAccess" => {
            enforce(
                &s,
                &caller,
                "os_compute_api:os-flavor-access:add_tenant_access",
                &no_target(),
            )?;
            let v = validated_body(&body, &tenant_schema("addTenantAccess"))?;
            let tenant = v["addTenantAccess"]["tenant"].as_str().unwrap_or_default();
            let p = s
                .compute
                .flavor_access_add(&caller.ctx, &id, tenant)
                .await
                .map_err(|e| worded(e, || flavor_not_found(&id)))?;
            reply(StatusCode::OK, access_body(&id, &p))
        }
        "removeTenantAccess" => {
            enforce(
                &s,
                &caller,
                "os_compute_api:os-flavor-access:remove_tenant_access",
                &no_target(),
            )?;
            let v = validated_body(&body, &tenant_schema("removeTenantAccess"))?;
            let tenant = v["removeTenantAccess"]["tenant"]
                .as_str()
                .unwrap_or_default();
            match s
                .compute
                .flavor_access_remove(&caller.ctx, &id, tenant)
                .await
            {
                Ok(p) => reply(StatusCode::OK, access_body(&id, &p)),
                Err(common_error::Error::NotFound {
                    kind: "flavor access",
                    ..
                }) => Err(not_found(&format!(
                    "Flavor access not found for {id} / {tenant} combination."
                ))),
                Err(e) => Err(worded(e, || flavor_not_found(&id))),
            }
        }
        other => Err(bad_request(&format!("There is no such action: {other}"))),
    }
}
