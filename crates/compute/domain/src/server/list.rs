//! `server_list`: the store filters by columns; here the rest of Nova's filters (status,
//! name, flavor, tags), the sort keys, `marker` and `limit`.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDateTime};
use common_error::{Error, Result};
use compute_db::{InstanceQuery, ReadDeleted};
use compute_model::{state, Instance};

use super::ServerFilter;
use crate::{Compute, Context};

/// Nova's `osapi_max_limit`.
pub const MAX_LIMIT: usize = 1000;

/// Sort keys Nova accepts for servers (plus `name`/`id` aliases).
pub const SORT_KEYS: &[&str] = &[
    "access_ip_v4",
    "access_ip_v6",
    "availability_zone",
    "config_drive",
    "created_at",
    "display_description",
    "display_name",
    "host",
    "hostname",
    "image_ref",
    "instance_type_id",
    "key_name",
    "launch_index",
    "launched_at",
    "locked",
    "node",
    "power_state",
    "progress",
    "project_id",
    "task_state",
    "terminated_at",
    "updated_at",
    "user_id",
    "uuid",
    "vm_state",
    "name",
    "id",
    "description",
];

/// A timestamp filter in the stored form; `BadRequest` when it does not parse.
fn stamp(what: &str, v: &str) -> Result<String> {
    const STORED: &str = "%Y-%m-%dT%H:%M:%S%.6f";
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.naive_utc().format(STORED).to_string());
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(v, f) {
            return Ok(t.format(STORED).to_string());
        }
    }
    Err(Error::BadRequest(format!("Invalid filter field: {what}.")))
}

/// Nova filters names with a regex; this supports substring matches with `^`/`$` anchors,
/// case-insensitively.
fn name_matches(name: &str, pattern: &str) -> bool {
    let name = name.to_lowercase();
    let p = pattern.to_lowercase();
    let (start, p) = match p.strip_prefix('^') {
        Some(rest) => (true, rest),
        None => (false, p.as_str()),
    };
    let (end, p) = match p.strip_suffix('$') {
        Some(rest) => (true, rest),
        None => (false, p),
    };
    match (start, end) {
        (true, true) => name == p,
        (true, false) => name.starts_with(p),
        (false, true) => name.ends_with(p),
        (false, false) => name.contains(p),
    }
}

fn keep(i: &Instance, f: &ServerFilter) -> bool {
    if !f.status.is_empty() {
        let s = state::status(i.vm_state, i.task_state);
        if !f.status.iter().any(|x| x.eq_ignore_ascii_case(s)) {
            return false;
        }
    }
    if f.name.as_deref().is_some_and(|n| !name_matches(&i.name, n)) {
        return false;
    }
    if f.flavor.as_deref().is_some_and(|fl| fl != i.flavor.id) {
        return false;
    }
    let has = |t: &String| i.tags.contains(t);
    if !f.tags.is_empty() && !f.tags.iter().all(has) {
        return false;
    }
    if !f.tags_any.is_empty() && !f.tags_any.iter().any(has) {
        return false;
    }
    if !f.not_tags.is_empty() && f.not_tags.iter().all(has) {
        return false;
    }
    if !f.not_tags_any.is_empty() && f.not_tags_any.iter().any(has) {
        return false;
    }
    true
}

/// A sortable value of `key` (None sorts first).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    None,
    Int(i64),
    Text(String),
}

fn key(i: &Instance, k: &str) -> Key {
    let t = |s: &str| Key::Text(s.to_string());
    let o = |s: &Option<String>| {
        s.as_deref()
            .map(|s| Key::Text(s.to_string()))
            .unwrap_or(Key::None)
    };
    match k {
        "access_ip_v4" => t(&i.access_ip_v4),
        "access_ip_v6" => t(&i.access_ip_v6),
        "availability_zone" => o(&i.availability_zone),
        "config_drive" => Key::Int(i64::from(i.config_drive)),
        "display_description" | "description" => o(&i.description),
        "display_name" | "name" => t(&i.name),
        "host" => o(&i.host),
        "hostname" => t(&i.hostname),
        "image_ref" => t(&i.image_ref),
        "instance_type_id" => t(&i.flavor.id),
        "key_name" => o(&i.key_name),
        "launch_index" => Key::Int(i.launch_index),
        "launched_at" => o(&i.launched_at),
        "locked" => Key::Int(i64::from(i.locked)),
        "node" => o(&i.node),
        "power_state" => Key::Int(i.power_state.code()),
        "progress" => Key::Int(i.progress),
        "project_id" => t(&i.project_id),
        "task_state" => i.task_state.map(|s| t(s.as_str())).unwrap_or(Key::None),
        "terminated_at" => o(&i.terminated_at),
        "updated_at" => t(&i.updated_at),
        "user_id" => t(&i.user_id),
        "uuid" | "id" => t(&i.uuid),
        "vm_state" => t(i.vm_state.as_str()),
        _ => t(&i.created_at),
    }
}

pub(super) async fn list(c: &Compute, ctx: &Context, f: &ServerFilter) -> Result<Vec<Instance>> {
    let mut sort = f.sort.clone();
    for (k, d) in &sort {
        if !SORT_KEYS.contains(&k.as_str()) {
            return Err(Error::BadRequest(format!("Invalid sort_key: {k}")));
        }
        if d != "asc" && d != "desc" {
            return Err(Error::BadRequest(format!("Invalid sort_dir: {d}")));
        }
    }
    if sort.is_empty() {
        sort.push(("created_at".into(), "desc".into()));
    }
    let tiebreak = sort[0].1.clone();
    sort.push(("uuid".into(), tiebreak));

    let project_id = if !ctx.is_admin {
        Some(ctx.project_id.clone())
    } else if let Some(p) = &f.project_id {
        Some(p.clone())
    } else if f.all_tenants {
        None
    } else {
        Some(ctx.project_id.clone())
    };
    let asks_deleted = f.status.iter().any(|s| s.eq_ignore_ascii_case("DELETED"));
    let deleted = if f.deleted {
        ReadDeleted::Only
    } else if f.changes_since.is_some() || f.changes_before.is_some() || asks_deleted {
        ReadDeleted::Yes
    } else {
        ReadDeleted::No
    };
    let q = InstanceQuery {
        project_id,
        user_id: f.user_id.clone(),
        host: f.host.clone(),
        image_ref: f.image.clone(),
        availability_zone: f.availability_zone.clone(),
        locked: f.locked,
        deleted,
        changed_since: f
            .changes_since
            .as_deref()
            .map(|v| stamp("changes-since", v))
            .transpose()?,
        changed_before: f
            .changes_before
            .as_deref()
            .map(|v| stamp("changes-before", v))
            .transpose()?,
        ..InstanceQuery::default()
    };
    let mut all: Vec<Instance> = c
        .store
        .instance_list(&q)
        .await?
        .into_iter()
        .filter(|i| keep(i, f))
        .collect();
    all.sort_by(|a, b| {
        for (k, d) in &sort {
            let o = key(a, k).cmp(&key(b, k));
            let o = if d == "desc" { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    let start = match &f.marker {
        Some(m) => match all.iter().position(|i| &i.uuid == m) {
            Some(p) => p + 1,
            None => return Err(Error::BadRequest(format!("marker [{m}] not found"))),
        },
        None => 0,
    };
    let limit = f.limit.unwrap_or(MAX_LIMIT).min(MAX_LIMIT);
    Ok(all.into_iter().skip(start).take(limit).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_like_a_simple_regex() {
        assert!(name_matches("Web-1", "web"));
        assert!(name_matches("web-1", "^web"));
        assert!(!name_matches("my-web", "^web"));
        assert!(name_matches("my-web", "web$"));
        assert!(name_matches("web", "^web$"));
        assert!(!name_matches("web-1", "^web$"));
    }

    #[test]
    fn timestamps_parse_to_the_stored_form() {
        assert_eq!(
            stamp("x", "2026-11-22T01:02:03Z").unwrap(),
            "2026-11-22T01:02:03.000000"
        );
        assert_eq!(
            stamp("x", "2026-11-22T03:02:03+02:00").unwrap(),
            "2026-11-22T01:02:03.000000"
        );
        assert_eq!(
            stamp("x", "2026-11-22T01:02:03.5").unwrap(),
            "2026-11-22T01:02:03.500000"
        );
        assert!(matches!(
            stamp("changes-since", "yesterday"),
            Err(Error::BadRequest(_))
        ));
    }
}
