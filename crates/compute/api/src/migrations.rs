//! `GET /v2.1/os-migrations`: the resize and move records, newest first, with Nova's
//! filters; `migration_type` and links from 2.23, `uuid`, paging and `changes-since` from
//! 2.59, `changes-before` from 2.66. Listing another project's (or every project's)
//! migrations and seeing hosts are for admins.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use compute_domain::service::MigrationQuery;
use compute_model::Migration;
use serde_json::{json, Value};

use crate::common::{
    bad_request, can, enforce, next_links, own_target, pagination_params, reply, Caller, Query, Res,
};
use crate::validate::{Kw, Schema};
use crate::{ApiState, Mv};

/// A stored or client timestamp in the stored format, or Nova's 400.
fn stored_time(name: &str, v: &str) -> Result<String, crate::common::ApiErr> {
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|t| t.naive_utc())
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f"))
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string())
        .map_err(|_| {
            bad_request(&format!(
                "Invalid input for query parameters {name}. Value: {v}. '{v}' is not a \
                 'date-time'"
            ))
        })
}

fn flavor_ref(id: &str) -> Value {
    id.parse::<i64>().map_or_else(|_| json!(id), |n| json!(n))
}

fn view(m: &Migration, mv: Mv, hosts: bool) -> Value {
    let host = |h: &Option<String>| if hosts { json!(h) } else { Value::Null };
    let mut v = json!({
        "id": m.id,
        "source_compute": host(&m.source_compute),
        "dest_compute": host(&m.dest_compute),
        "source_node": host(&m.source_node),
        "dest_node": host(&m.dest_node),
        "dest_host": null,
        "old_instance_type_id": flavor_ref(&m.old_flavor_id),
        "new_instance_type_id": flavor_ref(&m.new_flavor_id),
        "instance_uuid": m.instance_uuid,
        "status": m.status,
        "created_at": m.created_at,
        "updated_at": m.updated_at,
    });
    if mv.at_least(23) {
        v["migration_type"] = json!(m.migration_type);
    }
    if mv.at_least(59) {
        v["uuid"] = json!(m.uuid);
    }
    v
}

/// `GET /v2.1/os-migrations`.
pub(crate) async fn index(
    State(s): State<ApiState>,
    caller: Caller,
    mv: Mv,
    RawQuery(raw): RawQuery,
) -> Res {
    let q = Query::parse(raw.as_deref());
    let text = || Schema(vec![Kw::Type(&["string"])]);
    let mut params = vec![
        ("hidden", text()),
        ("host", text()),
        ("instance_uuid", text()),
        ("source_compute", text()),
        ("status", text()),
        ("migration_type", text()),
        ("project_id", text()),
        ("user_id", text()),
    ];
    if mv.at_least(59) {
        params.extend(pagination_params());
        params.push(("changes-since", text()));
    }
    if mv.at_least(66) {
        params.push(("changes-before", text()));
    }
    q.check(&params, false)?;
    enforce(
        &s,
        &caller,
        "os_compute_api:os-migrations:index",
        &own_target(&caller),
    )?;
    let project = q.get("project_id").map(str::to_string);
    if project.as_deref() != Some(caller.ctx.project_id.as_str()) {
        enforce(
            &s,
            &caller,
            "os_compute_api:os-migrations:index:all_projects",
            &own_target(&caller),
        )?;
    }
    let hosts = can(
        &s,
        &caller,
        "os_compute_api:os-migrations:index:host",
        &own_target(&caller),
    );
    let get = |k: &str| q.get(k).map(str::to_string);
    let mut filter = MigrationQuery {
        instance_uuid: get("instance_uuid"),
        status: get("status"),
        host: get("host"),
        source_compute: get("source_compute"),
        migration_type: get("migration_type"),
        project_id: project,
        user_id: get("user_id"),
        ..MigrationQuery::default()
    };
    if mv.at_least(59) {
        if let Some(t) = q.get("changes-since") {
            filter.changes_since = Some(stored_time("changes-since", t)?);
        }
    }
    if mv.at_least(66) {
        if let Some(t) = q.get("changes-before") {
            let before = stored_time("changes-before", t)?;
            if filter
                .changes_since
                .as_ref()
                .is_some_and(|since| &before < since)
            {
                return Err(bad_request(
                    "The value of changes-since must be less than or equal to changes-before.",
                ));
            }
            filter.changes_before = Some(before);
        }
    }
    let mut list = s.compute.migration_list(&filter).await?;
    if mv.at_least(59) {
        let (limit, marker) = crate::common::limit_marker(&q)?;
        if let Some(m) = marker {
            let pos = list
                .iter()
                .position(|x| x.uuid == m)
                .ok_or_else(|| bad_request(&format!("Marker {m} could not be found.")))?;
            list.drain(..=pos);
        }
        if let Some(l) = limit {
            list.truncate(l);
        }
    }
    let mut body =
        json!({"migrations": list.iter().map(|m| view(m, mv, hosts)).collect::<Vec<_>>()});
    if mv.at_least(59) {
        let last = list.last().map(|m| m.uuid.as_str());
        if let Some(l) = next_links(&s, "os-migrations", &q, list.len(), last) {
            body["migrations_links"] = l;
        }
    }
    reply(StatusCode::OK, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migration() -> Migration {
        Migration {
            uuid: "m-uuid".into(),
            id: 4,
            instance_uuid: "i1".into(),
            migration_type: "resize".into(),
            status: "finished".into(),
            source_compute: Some("h1".into()),
            dest_compute: Some("h2".into()),
            source_node: Some("n1".into()),
            dest_node: Some("n2".into()),
            old_flavor_id: "1".into(),
            new_flavor_id: "custom".into(),
            project_id: "p".into(),
            user_id: "u".into(),
            created_at: "2026-01-01T00:00:00.000000".into(),
            updated_at: "2026-01-01T00:00:00.000000".into(),
        }
    }

    #[test]
    fn fields_per_microversion_and_hidden_hosts() {
        let v = view(&migration(), Mv(1), true);
        assert!(v.get("migration_type").is_none() && v.get("uuid").is_none());
        assert_eq!(v["old_instance_type_id"], 1);
        assert_eq!(v["new_instance_type_id"], "custom");
        assert_eq!(v["dest_compute"], "h2");
        let v = view(&migration(), Mv(59), false);
        assert_eq!(
            (v["migration_type"].clone(), v["uuid"].clone()),
            (json!("resize"), json!("m-uuid"))
        );
        assert_eq!(v["source_compute"], Value::Null);
    }

    #[test]
    fn change_times_are_parsed_or_refused() {
        assert_eq!(
            stored_time("changes-since", "2026-01-02T03:04:05Z").ok(),
            Some("2026-01-02T03:04:05.000000".to_string())
        );
        assert!(stored_time("changes-since", "soon").is_err());
    }
}
