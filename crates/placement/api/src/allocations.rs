//! `/allocations`, `/resource_providers/{uuid}/allocations`, usages.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::Extension;
use common_http::Authed;
use placement_model::ConsumerAllocations;
use serde_json::{json, Map, Value};

use crate::providers::provider;
use crate::{
    body_object, invalid, is_uuid, need, no_content, ok, query_pairs, ApiState, Mv, PErr, Res,
};

/// The project and user placement records for consumers written before 1.8.
const INCOMPLETE: &str = "00000000-0000-0000-0000-000000000000";

fn uuid_of(v: &Value, what: &str) -> Result<String, PErr> {
    match v {
        Value::String(s) if is_uuid(s) => Ok(s.clone()),
        _ => Err(invalid(format!("{v} is not a 'uuid' ({what})"))),
    }
}

fn resources(v: Option<&Value>) -> Result<BTreeMap<String, i64>, PErr> {
    let Some(Value::Object(m)) = v else {
        return Err(invalid("'resources' is a required property"));
    };
    if m.is_empty() {
        return Err(invalid("{} does not have enough properties"));
    }
    let mut out = BTreeMap::new();
    for (c, n) in m {
        match n.as_i64() {
            Some(n) if (1..=placement_domain::MAX_INT).contains(&n) => {
                out.insert(c.clone(), n);
            }
            _ => {
                return Err(invalid(format!(
                    "{n} is not valid under the schema of '{c}'"
                )))
            }
        }
    }
    Ok(out)
}

fn id_field(m: &Map<String, Value>, k: &str, mv: Mv) -> Result<String, PErr> {
    if mv.0 < 8 {
        return Ok(INCOMPLETE.into());
    }
    match m.get(k) {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 255 => Ok(s.clone()),
        Some(v) => Err(invalid(format!(
            "{v} is not valid under the schema of '{k}'"
        ))),
        None => Err(invalid(format!("'{k}' is a required property"))),
    }
}

/// One consumer's allocation request body at `mv`.
fn parse_consumer(
    uuid: &str,
    m: &Map<String, Value>,
    mv: Mv,
    allow_empty: bool,
) -> Result<ConsumerAllocations, PErr> {
    let mut allowed = vec!["allocations", "project_id", "user_id"];
    if mv.0 >= 28 {
        allowed.push("consumer_generation");
    }
    if mv.0 >= 38 {
        allowed.push("consumer_type");
    }
    if mv.0 >= 12 && mv.0 < 28 {
        allowed.push("consumer_generation");
    }
    if let Some(k) = m.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(invalid(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    let mut allocations: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    match (m.get("allocations"), mv.0 >= 12) {
        (Some(Value::Array(items)), false) => {
            for it in items {
                let Value::Object(o) = it else {
                    return Err(invalid(format!("{it} is not of type 'object'")));
                };
                let rp = o
                    .get("resource_provider")
                    .and_then(|r| r.get("uuid"))
                    .ok_or_else(|| invalid("'resource_provider' is a required property"))?;
                allocations
                    .entry(uuid_of(rp, "resource_provider")?)
                    .or_default()
                    .extend(resources(o.get("resources"))?);
            }
        }
        (Some(Value::Object(d)), true) => {
            for (rp, v) in d {
                let rp = uuid_of(&Value::String(rp.clone()), "resource provider")?;
                let Value::Object(o) = v else {
                    return Err(invalid(format!("{v} is not of type 'object'")));
                };
                allocations.insert(rp, resources(o.get("resources"))?);
            }
        }
        (Some(v), _) => {
            return Err(invalid(format!(
                "{v} is not valid under the schema of 'allocations'"
            )))
        }
        (None, _) => return Err(invalid("'allocations' is a required property")),
    }
    if allocations.is_empty() && !allow_empty {
        return Err(invalid("[] is too short"));
    }
    let consumer_generation = if mv.0 >= 28 {
        match m.get("consumer_generation") {
            None => return Err(invalid("'consumer_generation' is a required property")),
            Some(Value::Null) => Some(None),
            Some(v) => match v.as_i64() {
                Some(g) => Some(Some(g)),
                None => return Err(invalid(format!("{v} is not of type 'integer', 'null'"))),
            },
        }
    } else {
        None
    };
    let consumer_type = if mv.0 >= 38 {
        match m.get("consumer_type") {
            Some(Value::String(t))
                if !t.is_empty()
                    && t.len() <= 255
                    && t.bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') =>
            {
                Some(t.clone())
            }
            Some(v) => return Err(invalid(format!("{v} does not match '^[A-Z0-9_]+$'"))),
            None => return Err(invalid("'consumer_type' is a required property")),
        }
    } else {
        None
    };
    Ok(ConsumerAllocations {
        consumer_uuid: uuid.to_string(),
        project_id: id_field(m, "project_id", mv)?,
        user_id: id_field(m, "user_id", mv)?,
        consumer_generation,
        consumer_type,
        allocations,
        provider_generations: BTreeMap::new(),
    })
}

async fn check_classes(s: &ApiState, reqs: &[ConsumerAllocations]) -> Result<(), PErr> {
    let classes = s.placement.classes().await?;
    for r in reqs {
        for c in r.allocations.values().flat_map(|m| m.keys()) {
            if !classes.contains(c) {
                return Err(PErr::bad(format!(
                    "Unable to allocate inventory: No such resource class {c}."
                )));
            }
        }
    }
    Ok(())
}

pub(crate) async fn put(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Extension(mv): Extension<Mv>,
    Path(c): Path<String>,
    b: Bytes,
) -> Res {
    s.authorize(&a, "placement:allocations:update")?;
    if !is_uuid(&c) {
        return Err(PErr::bad(format!("Malformed consumer_uuid: {c}")));
    }
    let m = body_object(&b)?;
    let req = parse_consumer(&c, &m, mv, mv.0 >= 28)?;
    let reqs = [req];
    check_classes(&s, &reqs).await?;
    s.placement.store.allocations_write(&reqs).await?;
    no_content()
}

pub(crate) async fn post_many(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Extension(mv): Extension<Mv>,
    b: Bytes,
) -> Res {
    need(mv, 13)?;
    s.authorize(&a, "placement:allocations:manage")?;
    let m = body_object(&b)?;
    if m.is_empty() {
        return Err(invalid("{} does not have enough properties"));
    }
    let mut reqs = Vec::new();
    for (c, v) in &m {
        if !is_uuid(c) {
            return Err(invalid(format!(
                "'{c}' does not match any of the regexes: consumer uuid"
            )));
        }
        let Value::Object(o) = v else {
            return Err(invalid(format!("{v} is not of type 'object'")));
        };
        reqs.push(parse_consumer(c, o, mv, true)?);
    }
    check_classes(&s, &reqs).await?;
    s.placement.store.allocations_write(&reqs).await?;
    no_content()
}

pub(crate) async fn show(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Extension(mv): Extension<Mv>,
    Path(c): Path<String>,
) -> Res {
    s.authorize(&a, "placement:allocations:list")?;
    let allocs = s.placement.store.allocations_of_consumer(&c).await?;
    let snap = s.placement.store.snapshot().await?;
    let mut out: Map<String, Value> = Map::new();
    for al in &allocs {
        let gen = snap
            .providers
            .iter()
            .find(|p| p.uuid == al.provider_uuid)
            .map(|p| p.generation);
        let e = out
            .entry(al.provider_uuid.clone())
            .or_insert_with(|| json!({"generation": gen, "resources": {}}));
        e["resources"][&al.resource_class] = json!(al.used);
    }
    let mut body = json!({"allocations": out});
    if let Some(con) = s
        .placement
        .store
        .consumer_get(&c)
        .await?
        .filter(|_| !allocs.is_empty())
    {
        if mv.0 >= 12 {
            body["project_id"] = json!(con.project_id);
            body["user_id"] = json!(con.user_id);
        }
        if mv.0 >= 28 {
            body["consumer_generation"] = json!(con.generation);
        }
        if mv.0 >= 38 {
            body["consumer_type"] = json!(con.consumer_type.unwrap_or_else(|| "unknown".into()));
        }
    }
    ok(body)
}

pub(crate) async fn delete(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Extension(mv): Extension<Mv>,
    Path(c): Path<String>,
) -> Res {
    s.authorize(&a, "placement:allocations:delete")?;
    let Some(con) = s.placement.store.consumer_get(&c).await? else {
        return Err(PErr::not_found(format!(
            "No allocations for consumer '{c}'"
        )));
    };
    let req = ConsumerAllocations {
        consumer_uuid: c,
        project_id: con.project_id,
        user_id: con.user_id,
        consumer_generation: None,
        consumer_type: None,
        allocations: BTreeMap::new(),
        provider_generations: BTreeMap::new(),
    };
    let _ = mv;
    s.placement.store.allocations_write(&[req]).await?;
    no_content()
}

pub(crate) async fn provider_allocations(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Path(u): Path<String>,
) -> Res {
    s.authorize(&a, "placement:resource_providers:allocations:list")?;
    let p = provider(&s, &u).await?;
    let mut out: Map<String, Value> = Map::new();
    for al in s.placement.store.allocations_on_provider(&u).await? {
        let e = out
            .entry(al.consumer_uuid.clone())
            .or_insert_with(|| json!({"resources": {}}));
        e["resources"][&al.resource_class] = json!(al.used);
    }
    ok(json!({"allocations": out, "resource_provider_generation": p.generation}))
}

pub(crate) async fn provider_usages(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Path(u): Path<String>,
) -> Res {
    s.authorize(&a, "placement:resource_providers:usages")?;
    let p = provider(&s, &u).await?;
    let snap = s.placement.store.snapshot().await?;
    let mut out: Map<String, Value> = Map::new();
    for c in snap
        .inventories
        .get(&u)
        .map(|m| m.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        out.insert(c, json!(0));
    }
    for (c, n) in snap.usages.get(&u).cloned().unwrap_or_default() {
        out.insert(c, json!(n));
    }
    ok(json!({"usages": out, "resource_provider_generation": p.generation}))
}

pub(crate) async fn usages(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Extension(mv): Extension<Mv>,
    RawQuery(q): RawQuery,
) -> Res {
    need(mv, 9)?;
    let (mut project, mut user, mut ctype) = (None, None, None);
    for (k, v) in query_pairs(q.as_deref()) {
        match k.as_str() {
            "project_id" => project = Some(v),
            "user_id" => user = Some(v),
            "consumer_type" if mv.0 >= 38 => ctype = Some(v),
            _ => {
                return Err(PErr::bad(format!(
                    "Invalid query string parameters: '{k}' is not allowed"
                )))
            }
        }
    }
    let Some(project) = project else {
        return Err(PErr::bad(
            "Invalid query string parameters: 'project_id' is a required property",
        ));
    };
    let t = common_policy::target(&[
        ("project_id", &project),
        ("user_id", &a.credentials.user_id),
    ]);
    s.authorize_on(&a, "placement:usages", &t)?;
    let rows = s
        .placement
        .store
        .usages_of_project(&project, user.as_deref())
        .await?;
    if mv.0 < 38 {
        let mut out: BTreeMap<String, i64> = BTreeMap::new();
        for (_, _, c, n) in rows {
            *out.entry(c).or_insert(0) += n;
        }
        return ok(json!({"usages": out}));
    }
    let mut out: BTreeMap<String, (std::collections::BTreeSet<String>, BTreeMap<String, i64>)> =
        BTreeMap::new();
    for (t, consumer, c, n) in rows {
        let t = t.unwrap_or_else(|| "unknown".into());
        for key in [t.clone(), "all".to_string()] {
            if ctype
                .as_ref()
                .is_some_and(|w| w != &key && !(w == "all" && key == "all"))
            {
                continue;
            }
            let e = out.entry(key).or_default();
            e.0.insert(consumer.clone());
            *e.1.entry(c.clone()).or_insert(0) += n;
        }
    }
    let body: Map<String, Value> = out
        .into_iter()
        .filter(|(k, _)| ctype.is_some() || k != "all")
        .map(|(k, (consumers, classes))| {
            let mut m: Map<String, Value> =
                classes.into_iter().map(|(c, n)| (c, json!(n))).collect();
            m.insert("consumer_count".into(), json!(consumers.len()));
            (k, Value::Object(m))
        })
        .collect();
    ok(json!({"usages": body}))
}
