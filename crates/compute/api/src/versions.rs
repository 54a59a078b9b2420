//! Version documents (no token needed): `GET /compute/` lists v2.0 and v2.1, `GET
//! /compute/v2.1[/]` describes v2.1; and `GET /v2.1/extensions`, which lists none.

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::common::{enforce, not_found, own_target, reply, Caller, Res};
use crate::{ApiState, MAX_MINOR, MIN_MINOR};

fn v21(state: &ApiState, full: bool) -> Value {
    let mut v = json!({
        "id": "v2.1",
        "status": "CURRENT",
        "version": format!("2.{MAX_MINOR}"),
        "min_version": format!("2.{MIN_MINOR}"),
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": format!("{}/", state.v21_url())}],
    });
    if full {
        v["links"] = json!([
            {"rel": "self", "href": format!("{}/", state.v21_url())},
            {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"},
        ]);
        v["media-types"] = json!([{
            "base": "application/json",
            "type": "application/vnd.openstack.compute+json;version=2.1",
        }]);
    }
    v
}

/// `GET /compute/`.
pub(crate) async fn versions(State(s): State<ApiState>) -> Res {
    reply(
        StatusCode::OK,
        json!({"versions": [
            {
                "id": "v2.0",
                "status": "SUPPORTED",
                "version": "",
                "min_version": "",
                "updated": "2011-01-21T11:33:21Z",
                "links": [{"rel": "self", "href": format!("{}/compute/v2/", s.base_url)}],
            },
            v21(&s, false),
        ]}),
    )
}

/// `GET /compute/v2.1` and `/compute/v2.1/`.
pub(crate) async fn version(State(s): State<ApiState>) -> Res {
    reply(StatusCode::OK, json!({"version": v21(&s, true)}))
}

/// `GET /v2.1/extensions`: Nova lists its legacy extensions; every behaviour they named is
/// built in here, so the list is empty.
pub(crate) async fn extensions(State(s): State<ApiState>, caller: Caller) -> Res {
    enforce(
        &s,
        &caller,
        "os_compute_api:extensions",
        &own_target(&caller),
    )?;
    reply(StatusCode::OK, json!({"extensions": []}))
}

/// `GET /v2.1/extensions/{alias}`: none exist.
pub(crate) async fn extension(
    State(s): State<ApiState>,
    caller: Caller,
    axum::extract::Path(alias): axum::extract::Path<String>,
) -> Res {
    enforce(
        &s,
        &caller,
        "os_compute_api:extensions",
        &own_target(&caller),
    )?;
    let _ = alias;
    Err(not_found("The resource could not be found."))
}
