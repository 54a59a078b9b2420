//! `GET /allocation_candidates` (1.10+): request groups from the query, candidates and
//! provider summaries in the format of the microversion.

use std::collections::BTreeMap;

use axum::extract::{RawQuery, State};
use axum::Extension;
use common_http::Authed;
use placement_domain::{Group, TraitReq};
use serde_json::{json, Map, Value};

use crate::providers::{parse_member_of, parse_required, parse_resources};
use crate::{is_uuid, need, ok, query_pairs, ApiState, Mv, PErr, Res};

/// Splits `resources_X` / `resources1` into (`resources`, suffix).
fn split_key(k: &str, mv: Mv) -> Option<(&'static str, String)> {
    for base in ["resources", "required", "member_of", "in_tree"] {
        if let Some(rest) = k.strip_prefix(base) {
            if rest.is_empty() {
                return Some((base, String::new()));
            }
            if mv.0 < 25 {
                return None;
            }
            let numeric = rest.bytes().all(|b| b.is_ascii_digit()) && !rest.starts_with('0');
            let named = mv.0 >= 33
                && rest.len() <= 65
                && rest.starts_with('_')
                && rest[1..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                && rest.len() > 1;
            if numeric || named {
                return Some((base, rest.to_string()));
            }
            return None;
        }
    }
    None
}

pub(crate) async fn list(
    State(s): State<ApiState>,
    Authed(a): Authed,
    Extension(mv): Extension<Mv>,
    RawQuery(q): RawQuery,
) -> Res {
    need(mv, 10)?;
    s.authorize(&a, "placement:allocation_candidates:list")?;
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut required: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let (mut limit, mut policy, mut root_req) = (None, None, Vec::new());
    for (k, v) in query_pairs(q.as_deref()) {
        if k == "limit" && mv.0 >= 16 {
            limit = Some(v.parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                PErr::bad(format!(
                    "Invalid query string parameters: '{v}' does not match '^[1-9][0-9]*$'"
                ))
            })?);
            continue;
        }
        if k == "group_policy" && mv.0 >= 25 {
            if v != "none" && v != "isolate" {
                return Err(PErr::bad(format!(
                    "Invalid query string parameters: '{v}' is not one of ['none', 'isolate']"
                )));
            }
            policy = Some(v);
            continue;
        }
        if k == "root_required" && mv.0 >= 35 {
            root_req.push(v);
            continue;
        }
        let Some((base, sfx)) = split_key(&k, mv) else {
            return Err(PErr::bad(format!("Invalid query string parameters: Additional properties are not allowed ('{k}' was unexpected)")));
        };
        let g = groups.entry(sfx.clone()).or_insert_with(|| Group {
            suffix: sfx.clone(),
            ..Group::default()
        });
        match base {
            "resources" => g.resources = parse_resources(&s, &v).await?,
            "required" if mv.0 >= 17 => required.entry(sfx).or_default().push(v),
            "member_of" if mv.0 >= 21 => members.entry(sfx).or_default().push(v),
            "in_tree" if mv.0 >= 31 && is_uuid(&v) => g.in_tree = Some(v),
            _ => {
                return Err(PErr::bad(format!(
                    "Invalid query string parameters: '{k}={v}' is not allowed"
                )))
            }
        }
    }
    for (sfx, vals) in members {
        if let Some(g) = groups.get_mut(&sfx) {
            parse_member_of(&vals, mv, &mut g.member_of)?;
        }
    }
    for (sfx, vals) in required {
        if let Some(g) = groups.get_mut(&sfx) {
            parse_required(&s, &vals, mv, &mut g.required).await?;
        }
    }
    let mut root_required = TraitReq::default();
    parse_required(&s, &root_req, mv, &mut root_required).await?;
    if let Some((sfx, _)) = groups
        .iter()
        .find(|(_, g)| g.resources.is_empty() && !g.suffix.is_empty())
    {
        return Err(PErr::bad(format!(
            "All request groups must specify resources. Group {sfx} has none."
        )));
    }
    if groups.values().all(|g| g.resources.is_empty()) {
        return Err(PErr::bad(
            "At least one request group (`resources` or `resources{$S}`) is required.",
        ));
    }
    let suffixed = groups.values().filter(|g| !g.suffix.is_empty()).count();
    if suffixed > 1 && policy.is_none() {
        return Err(PErr::bad("The \"group_policy\" parameter is required when specifying more than one \"resources{$S}\" parameter."));
    }
    let list: Vec<Group> = groups.into_values().collect();
    let (cands, snap) = s
        .placement
        .candidates(
            &list,
            policy.as_deref() == Some("isolate"),
            &root_required,
            limit,
        )
        .await?;
    let requested: Vec<&String> = list.iter().flat_map(|g| g.resources.keys()).collect();
    let mut reqs = Vec::new();
    let mut used_rps: Vec<String> = Vec::new();
    for c in &cands {
        used_rps.extend(c.allocations.keys().cloned());
        if mv.0 >= 12 {
            let allocs: Map<String, Value> = c
                .allocations
                .iter()
                .map(|(p, r)| (p.clone(), json!({"resources": r})))
                .collect();
            let mut r = json!({"allocations": allocs});
            if mv.0 >= 34 {
                r["mappings"] = json!(c.mappings);
            }
            reqs.push(r);
        } else {
            let allocs: Vec<Value> = c
                .allocations
                .iter()
                .map(|(p, r)| json!({"resource_provider": {"uuid": p}, "resources": r}))
                .collect();
            reqs.push(json!({"allocations": allocs}));
        }
    }
    let roots: Vec<String> = snap
        .providers
        .iter()
        .filter(|p| used_rps.contains(&p.uuid))
        .map(|p| p.root_provider_uuid.clone())
        .collect();
    let empty = Vec::new();
    let mut summaries = Map::new();
    for p in &snap.providers {
        let include = if mv.0 >= 29 {
            roots.contains(&p.root_provider_uuid)
        } else {
            used_rps.contains(&p.uuid)
        };
        if !include {
            continue;
        }
        let mut res = Map::new();
        for (c, inv) in snap.inventories.get(&p.uuid).cloned().unwrap_or_default() {
            if mv.0 < 27 && !requested.contains(&&c) {
                continue;
            }
            let used = snap
                .usages
                .get(&p.uuid)
                .and_then(|m| m.get(&c))
                .copied()
                .unwrap_or(0);
            res.insert(c, json!({"capacity": inv.capacity(), "used": used}));
        }
        let mut sum = json!({"resources": res});
        if mv.0 >= 17 {
            sum["traits"] = json!(snap.traits.get(&p.uuid).unwrap_or(&empty));
        }
        if mv.0 >= 29 {
            sum["parent_provider_uuid"] = json!(p.parent_provider_uuid);
            sum["root_provider_uuid"] = json!(p.root_provider_uuid);
        }
        summaries.insert(p.uuid.clone(), sum);
    }
    ok(json!({"allocation_requests": reqs, "provider_summaries": summaries}))
}
