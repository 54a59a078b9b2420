//! `/v2.1/os-availability-zone` (anyone) and `/detail` (admins, with hosts and their
//! services): the zones of the compute services, available when an enabled service is in
//! them.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use crate::common::{enforce, no_target, reply, Caller, Query, Res};
use crate::ApiState;

/// `GET /v2.1/os-availability-zone`.
pub(crate) async fn index(
    State(s): State<ApiState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Res {
    let _ = Query::parse(raw.as_deref());
    enforce(
        &s,
        &caller,
        "os_compute_api:os-availability-zone:list",
        &no_target(),
    )?;
    let zones: Vec<Value> = s
        .compute
        .availability_zones()
        .await?
        .iter()
        .map(
            |z| json!({"zoneName": z.name, "zoneState": {"available": z.available}, "hosts": null}),
        )
        .collect();
    reply(StatusCode::OK, json!({ "availabilityZoneInfo": zones }))
}

/// `GET /v2.1/os-availability-zone/detail`.
pub(crate) async fn detail(State(s): State<ApiState>, caller: Caller) -> Res {
    enforce(
        &s,
        &caller,
        "os_compute_api:os-availability-zone:detail",
        &no_target(),
    )?;
    let zones: Vec<Value> = s
        .compute
        .availability_zones()
        .await?
        .iter()
        .map(|z| {
            let hosts = if z.available {
                let mut hosts = Map::new();
                for (host, services) in &z.hosts {
                    let mut m = Map::new();
                    for (binary, (up, enabled, updated)) in services {
                        m.insert(
                            binary.clone(),
                            json!({"available": up, "active": enabled, "updated_at": updated}),
                        );
                    }
                    hosts.insert(host.clone(), Value::Object(m));
                }
                Value::Object(hosts)
            } else {
                Value::Null
            };
            json!({"zoneName": z.name, "zoneState": {"available": z.available}, "hosts": hosts})
        })
        .collect();
    reply(StatusCode::OK, json!({ "availabilityZoneInfo": zones }))
}
