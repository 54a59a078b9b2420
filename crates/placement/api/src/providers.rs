//! `/resource_providers`: providers, their inventories, traits and aggregates.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use common_http::Authed;
use placement_domain::{AggReq, ProviderFilter, TraitReq};
use placement_model::{Inventory, ResourceProvider};
use serde_json::{json, Map, Value};

use crate::{
    body_json, body_object, int_field, invalid, is_uuid, need, no_content, ok, query_pairs,
    ApiState, Mv, PErr, Res,
};

/// A provider as Placement renders it at `mv`.
pub(crate) fn render(p: &ResourceProvider, mv: Mv) -> Value {
    let base = format!("/placement/resource_providers/{}", p.uuid);
    let mut links = vec![
        json!({"rel": "self", "href": base}),
        json!({"rel": "inventories", "href": format!("{base}/inventories")}),
        json!({"rel": "usages", "href": format!("{base}/usages")}),
    ];
    if mv.0 >= 1 {
        links.push(json!({"rel": "aggregates", "href": format!("{base}/aggregates")}));
    }
    if mv.0 >= 6 {
        links.push(json!({"rel": "traits", "href": format!("{base}/traits")}));
    }
    if mv.0 >= 11 {
        links.push(json!({"rel": "allocations", "href": format!("{base}/allocations")}));
    }
    let mut v = json!({"uuid": p.uuid, "name": p.name, "generation": p.generation, "links": links});
    if mv.0 >= 14 {
        v["parent_provider_uuid"] = json!(p.parent_provider_uuid);
        v["root_provider_uuid"] = json!(p.root_provider_uuid);
    }
    v
}

fn name_field(m: &Map<String, Value>) -> Result<String, PErr> {
    match m.get("name") {
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 200 => Ok(s.clone()),
        Some(v) => Err(invalid(format!(
            "{v} is not valid under any of the given schemas for 'name'"
        ))),
        None => Err(invalid("'name' is a required property")),
    }
}

fn parent_field(m: &Map<String, Value>, mv: Mv) -> Result<Option<String>, PErr> {
    match m.get("parent_provider_uuid") {
        None | Some(Value::Null) => Ok(None),
        Some(_) if mv.0 < 14 => Err(invalid(
            "Additional properties are not allowed ('parent_provider_uuid' was unexpected)",
        )),
        Some(Value::String(s)) if is_uuid(s) => Ok(Some(s.clone())),
        Some(v) => Err(invalid(format!("{v} is not a 'uuid'"))),
    }
}

fn check_keys(m: &Map<String, Value>, allowed: &[&str]) -> Result<(), PErr> {
    match m.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(invalid(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        ))),
        None => Ok(()),
    }
}

pub(crate) async fn create(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Extension(mv): Extension<Mv>,
    b: Bytes,
) -> Res {
    s.authorize(&a, "placement:resource_providers:create")?;
    let m = body_object(&b)?;
    check_keys(&m, &["name", "uuid", "parent_provider_uuid"])?;
    let name = name_field(&m)?;
    let uuid = match m.get("uuid") {
        None => placement_domain::new_uuid(),
        Some(Value::String(u)) if is_uuid(u) => u.clone(),
        Some(v) => return Err(invalid(format!("{v} is not a 'uuid'"))),
    };
    let parent = parent_field(&m, mv)?;
    let p = s
        .placement
        .store
        .provider_create(&uuid, &name, parent.as_deref())
        .await?;
    let loc = format!("/placement/resource_providers/{}", p.uuid);
    if mv.0 >= 20 {
        Ok(([(header::LOCATION, s.location(&loc))], Json(render(&p, mv))).into_response())
    } else {
        Ok((StatusCode::CREATED, [(header::LOCATION, s.location(&loc))]).into_response())
    }
}

pub(crate) async fn show(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Extension(mv): Extension<Mv>,
    Path(u): Path<String>,
) -> Res {
    s.authorize(&a, "placement:resource_providers:show")?;
    ok(render(&provider(&s, &u).await?, mv))
}

pub(crate) async fn provider(s: &ApiState, u: &str) -> Result<ResourceProvider, PErr> {
    s.placement
        .store
        .provider_get(u)
        .await?
        .ok_or_else(|| PErr::not_found(format!("No resource provider with uuid {u} found")))
}

pub(crate) async fn update(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Extension(mv): Extension<Mv>,
    Path(u): Path<String>,
    b: Bytes,
) -> Res {
    s.authorize(&a, "placement:resource_providers:update")?;
    let m = body_object(&b)?;
    check_keys(&m, &["name", "parent_provider_uuid"])?;
    let name = name_field(&m)?;
    let parent = parent_field(&m, mv)?;
    let cur = provider(&s, &u).await?;
    let parent = if mv.0 >= 14 {
        parent
    } else {
        cur.parent_provider_uuid.clone()
    };
    let p = s
        .placement
        .store
        .provider_update(&u, &name, parent.as_deref())
        .await?;
    ok(render(&p, mv))
}

pub(crate) async fn delete(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Path(u): Path<String>,
) -> Res {
    s.authorize(&a, "placement:resource_providers:delete")?;
    provider(&s, &u).await?;
    s.placement.store.provider_delete(&u).await?;
    no_content()
}

/// `member_of` values: `in:a,b`, `a`, and at 1.32 `!a` / `!in:a,b`.
pub(crate) fn parse_member_of(vals: &[String], mv: Mv, req: &mut AggReq) -> Result<(), PErr> {
    for v in vals {
        let (neg, rest) = match v.strip_prefix('!') {
            Some(r) if mv.0 >= 32 => (true, r),
            _ => (false, v.as_str()),
        };
        let list = rest.strip_prefix("in:").unwrap_or(rest);
        let ids: Vec<String> = list.split(',').map(|x| x.trim().to_string()).collect();
        if ids.iter().any(|i| !is_uuid(i)) {
            return Err(PErr::bad(format!("Invalid query string parameters: Expected 'member_of' parameter to contain valid UUID(s). Got: {v}")));
        }
        if neg {
            req.forbidden.extend(ids);
        } else {
            req.any_of.push(ids);
        }
    }
    Ok(())
}

/// `required` values: comma lists of traits, `!T` forbidden (1.22), `in:A,B` (1.39).
pub(crate) async fn parse_required(
    s: &ApiState,
    vals: &[String],
    mv: Mv,
    req: &mut TraitReq,
) -> Result<(), PErr> {
    let mut named = Vec::new();
    for v in vals {
        if let Some(rest) = v.strip_prefix("in:").filter(|_| mv.0 >= 39) {
            let set: Vec<String> = rest.split(',').map(str::to_string).collect();
            named.extend(set.clone());
            req.any_of.push(set);
            continue;
        }
        for t in v.split(',') {
            match t.strip_prefix('!') {
                Some(f) if mv.0 >= 22 => {
                    named.push(f.to_string());
                    req.forbidden.push(f.to_string());
                }
                _ => {
                    named.push(t.to_string());
                    req.all.push(t.to_string());
                }
            }
        }
    }
    if named.iter().any(|t| t.is_empty()) {
        return Err(PErr::bad("Invalid query string parameters: Expected 'required' parameter value of the form: HW_CPU_X86_VMX,CUSTOM_MAGIC."));
    }
    s.placement
        .check_traits(&named)
        .await
        .map_err(|e| PErr::bad(PErr::from(e).detail))
}

/// `resources=VCPU:2,MEMORY_MB:512`.
pub(crate) async fn parse_resources(s: &ApiState, v: &str) -> Result<BTreeMap<String, i64>, PErr> {
    let mut out = BTreeMap::new();
    for part in v.split(',') {
        let bad = || {
            PErr::bad(format!("Badly formed resources parameter. Expected resources query string parameter in form: ?resources=VCPU:2,MEMORY_MB:1024. Got: {v}."))
        };
        let (c, n) = part.split_once(':').ok_or_else(bad)?;
        let n: i64 = n.trim().parse().map_err(|_| bad())?;
        if n < 1 {
            return Err(bad());
        }
        if !s.placement.class_exists(c).await? {
            return Err(PErr::bad(format!(
                "Invalid resource class in resources parameter: No such resource class {c}."
            )));
        }
        out.insert(c.to_string(), n);
    }
    Ok(out)
}

pub(crate) async fn list(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Extension(mv): Extension<Mv>,
    RawQuery(q): RawQuery,
) -> Res {
    s.authorize(&a, "placement:resource_providers:list")?;
    let mut f = ProviderFilter::default();
    let mut members = Vec::new();
    let mut required = Vec::new();
    for (k, v) in query_pairs(q.as_deref()) {
        match k.as_str() {
            "name" => f.name = Some(v),
            "uuid" if is_uuid(&v) => f.uuid = Some(v),
            "member_of" if mv.0 >= 3 => members.push(v),
            "resources" if mv.0 >= 4 => f.resources = parse_resources(&s, &v).await?,
            "in_tree" if mv.0 >= 14 && is_uuid(&v) => f.in_tree = Some(v),
            "required" if mv.0 >= 18 => required.push(v),
            _ => {
                return Err(PErr::bad(format!(
                    "Invalid query string parameters: '{k}={v}' is not allowed"
                )))
            }
        }
    }
    parse_member_of(&members, mv, &mut f.member_of)?;
    parse_required(&s, &required, mv, &mut f.required).await?;
    let (rps, _) = s.placement.providers(&f).await?;
    ok(json!({"resource_providers": rps.iter().map(|p| render(p, mv)).collect::<Vec<_>>()}))
}

// ---- inventories ----

fn inv_json(i: &Inventory) -> Value {
    json!({"total": i.total, "reserved": i.reserved, "min_unit": i.min_unit, "max_unit": i.max_unit,
           "step_size": i.step_size, "allocation_ratio": i.allocation_ratio})
}

fn parse_inventory(class: &str, m: &Map<String, Value>, extra: &[&str]) -> Result<Inventory, PErr> {
    let mut allowed = vec![
        "total",
        "reserved",
        "min_unit",
        "max_unit",
        "step_size",
        "allocation_ratio",
    ];
    allowed.extend_from_slice(extra);
    check_keys(m, &allowed)?;
    let ratio = match m.get("allocation_ratio") {
        None => 1.0,
        Some(v) => match v.as_f64() {
            Some(r) if r > 0.0 && r <= 3.4e38 => r,
            _ => {
                return Err(invalid(format!(
                    "{v} is not valid under the schema of 'allocation_ratio'"
                )))
            }
        },
    };
    Ok(Inventory {
        resource_class: class.to_string(),
        total: int_field(m, "total", 1, None)?,
        reserved: int_field(m, "reserved", 0, Some(0))?,
        min_unit: int_field(m, "min_unit", 1, Some(1))?,
        max_unit: int_field(m, "max_unit", 1, Some(placement_domain::MAX_INT))?,
        step_size: int_field(m, "step_size", 1, Some(1))?,
        allocation_ratio: ratio,
    })
}

fn gen_field(m: &Map<String, Value>) -> Result<i64, PErr> {
    match m
        .get("resource_provider_generation")
        .and_then(Value::as_i64)
    {
        Some(g) => Ok(g),
        None => Err(invalid(
            "'resource_provider_generation' is a required property",
        )),
    }
}

async fn inventories(
    s: &ApiState,
    u: &str,
) -> Result<(ResourceProvider, BTreeMap<String, Inventory>), PErr> {
    let p = provider(s, u).await?;
    let snap = s.placement.store.snapshot().await?;
    Ok((p, snap.inventories.get(u).cloned().unwrap_or_default()))
}

fn invs_body(gen: i64, invs: &BTreeMap<String, Inventory>) -> Value {
    let m: Map<String, Value> = invs.iter().map(|(k, i)| (k.clone(), inv_json(i))).collect();
    json!({"inventories": m, "resource_provider_generation": gen})
}

pub(crate) async fn inv_list(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Path(u): Path<String>,
) -> Res {
    s.authorize(&a, "placement:resource_providers:inventories:list")?;
    let (p, invs) = inventories(&s, &u).await?;
    ok(invs_body(p.generation, &invs))
}

pub(crate) async fn inv_put_all(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Path(u): Path<String>,
    b: Bytes,
) -> Res {
    s.authorize(&a, "placement:resource_providers:inventories:update")?;
    let m = body_object(&b)?;
    check_keys(&m, &["inventories", "resource_provider_generation"])?;
    let gen = gen_field(&m)?;
    let Some(Value::Object(im)) = m.get("inventories") else {
        return Err(invalid("'inventories' is a required property"));
    };
    let mut set = Vec::new();
    for (c, v) in im {
        let Value::Object(one) = v else {
            return Err(invalid(format!("{v} is not of type 'object'")));
        };
        let i = parse_inventory(c, one, &[])?;
        s.placement.check_inventory(&i).await?;
        set.push(i);
    }
    provider(&s, &u).await?;
    s.placement
        .store
        .inventories_write(&u, gen, &set, true, &[])
        .await?;
    let (p, invs) = inventories(&s, &u).await?;
    ok(invs_body(p.generation, &invs))
}

pub(crate) async fn inv_post(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Path(u): Path<String>,
    b: Bytes,
) -> Res {
    s.authorize(&a, "placement:resource_providers:inventories:create")?;
    let m = body_object(&b)?;
    let gen = gen_field(&m)?;
    let Some(Value::String(c)) = m.get("resource_class") else {
        return Err(invalid("'resource_class' is a required property"));
    };
    let i = parse_inventory(c, &m, &["resource_class", "resource_provider_generation"])?;
    s.placement.check_inventory(&i).await?;
    let (_, invs) = inventories(&s, &u).await?;
    if invs.contains_key(c) {
        return Err(PErr::new(
            409,
            format!(
                "Update conflict: Inventory for '{c}' on resource provider '{u}' already exists."
            ),
        ));
    }
    let g = s
        .placement
        .store
        .inventories_write(&u, gen, std::slice::from_ref(&i), false, &[])
        .await?;
    let mut body = inv_json(&i);
    body["resource_provider_generation"] = json!(g);
    let loc = format!("/placement/resource_providers/{u}/inventories/{c}");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, s.location(&loc))],
        Json(body),
    )
        .into_response())
}

pub(crate) async fn inv_delete_all(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Extension(mv): Extension<Mv>,
    Path(u): Path<String>,
) -> Res {
    need(mv, 5)?;
    s.authorize(&a, "placement:resource_providers:inventories:delete")?;
    let p = provider(&s, &u).await?;
    s.placement
        .store
        .inventories_write(&u, p.generation, &[], true, &[])
        .await?;
    no_content()
}

pub(crate) async fn inv_show(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Path((u, c)): Path<(String, String)>,
) -> Res {
    s.authorize(&a, "placement:resource_providers:inventories:show")?;
    let (p, invs) = inventories(&s, &u).await?;
    let Some(i) = invs.get(&c) else {
        return Err(PErr::not_found(format!(
            "No inventory of class {c} for {u}"
        )));
    };
    let mut body = inv_json(i);
    body["resource_provider_generation"] = json!(p.generation);
    ok(body)
}

pub(crate) async fn inv_put(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Path((u, c)): Path<(String, String)>,
    b: Bytes,
) -> Res {
    s.authorize(&a, "placement:resource_providers:inventories:update")?;
    let m = body_object(&b)?;
    let gen = gen_field(&m)?;
    let i = parse_inventory(&c, &m, &["resource_provider_generation"])?;
    s.placement.check_inventory(&i).await?;
    provider(&s, &u).await?;
    let g = s
        .placement
        .store
        .inventories_write(&u, gen, std::slice::from_ref(&i), false, &[])
        .await?;
    let mut body = inv_json(&i);
    body["resource_provider_generation"] = json!(g);
    ok(body)
}

pub(crate) async fn inv_delete(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Path((u, c)): Path<(String, String)>,
) -> Res {
    s.authorize(&a, "placement:resource_providers:inventories:delete")?;
    let (p, invs) = inventories(&s, &u).await?;
    if !invs.contains_key(&c) {
        return Err(PErr::not_found(format!(
            "No inventory of class {c} found for delete"
        )));
    }
    s.placement
        .store
        .inventories_write(&u, p.generation, &[], false, &[c])
        .await?;
    no_content()
}

// ---- traits and aggregates ----

async fn provider_set(s: &ApiState, u: &str, traits: bool) -> Result<(i64, Vec<String>), PErr> {
    let p = provider(s, u).await?;
    let snap = s.placement.store.snapshot().await?;
    let m = if traits {
        &snap.traits
    } else {
        &snap.aggregates
    };
    Ok((p.generation, m.get(u).cloned().unwrap_or_default()))
}

pub(crate) async fn traits_list(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Extension(mv): Extension<Mv>,
    Path(u): Path<String>,
) -> Res {
    need(mv, 6)?;
    s.authorize(&a, "placement:resource_providers:traits:list")?;
    let (g, t) = provider_set(&s, &u, true).await?;
    ok(json!({"traits": t, "resource_provider_generation": g}))
}

pub(crate) async fn traits_put(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Extension(mv): Extension<Mv>,
    Path(u): Path<String>,
    b: Bytes,
) -> Res {
    need(mv, 6)?;
    s.authorize(&a, "placement:resource_providers:traits:update")?;
    let m = body_object(&b)?;
    check_keys(&m, &["traits", "resource_provider_generation"])?;
    let gen = gen_field(&m)?;
    let traits = string_list(m.get("traits"), "traits")?;
    provider(&s, &u).await?;
    s.placement.check_traits(&traits).await?;
    let g = s
        .placement
        .store
        .provider_set_traits(&u, gen, &traits)
        .await?;
    let (_, t) = provider_set(&s, &u, true).await?;
    ok(json!({"traits": t, "resource_provider_generation": g}))
}

pub(crate) async fn traits_delete(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Extension(mv): Extension<Mv>,
    Path(u): Path<String>,
) -> Res {
    need(mv, 6)?;
    s.authorize(&a, "placement:resource_providers:traits:delete")?;
    let p = provider(&s, &u).await?;
    s.placement
        .store
        .provider_set_traits(&u, p.generation, &[])
        .await?;
    no_content()
}

fn string_list(v: Option<&Value>, what: &str) -> Result<Vec<String>, PErr> {
    let Some(Value::Array(items)) = v else {
        return Err(invalid(format!("'{what}' is a required property")));
    };
    let mut out: Vec<String> = Vec::new();
    for i in items {
        match i {
            Value::String(s) if !out.contains(s) => out.push(s.clone()),
            _ => {
                return Err(invalid(format!(
                    "{i} is not valid under the schema of '{what}'"
                )))
            }
        }
    }
    Ok(out)
}

pub(crate) async fn aggs_list(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Extension(mv): Extension<Mv>,
    Path(u): Path<String>,
) -> Res {
    need(mv, 1)?;
    s.authorize(&a, "placement:resource_providers:aggregates:list")?;
    let (g, aggs) = provider_set(&s, &u, false).await?;
    let mut body = json!({"aggregates": aggs});
    if mv.0 >= 19 {
        body["resource_provider_generation"] = json!(g);
    }
    ok(body)
}

pub(crate) async fn aggs_put(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Extension(mv): Extension<Mv>,
    Path(u): Path<String>,
    b: Bytes,
) -> Res {
    need(mv, 1)?;
    s.authorize(&a, "placement:resource_providers:aggregates:update")?;
    let v = body_json(&b)?;
    let (gen, list) = if mv.0 >= 19 {
        let Value::Object(m) = &v else {
            return Err(invalid("the body must be an object"));
        };
        check_keys(m, &["aggregates", "resource_provider_generation"])?;
        (
            Some(gen_field(m)?),
            string_list(m.get("aggregates"), "aggregates")?,
        )
    } else {
        (None, string_list(Some(&v), "aggregates")?)
    };
    if let Some(bad) = list.iter().find(|x| !is_uuid(x)) {
        return Err(invalid(format!("'{bad}' is not a 'uuid'")));
    }
    provider(&s, &u).await?;
    let g = s
        .placement
        .store
        .provider_set_aggregates(&u, gen, &list)
        .await?;
    let mut body = json!({"aggregates": list});
    if mv.0 >= 19 {
        body["resource_provider_generation"] = json!(g);
    }
    ok(body)
}
