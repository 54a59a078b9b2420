//! Neutron v2.0 over HTTP: handlers that parse requests as Neutron's API layer does
//! (attribute validation, unrecognized attributes, filters, `fields`, sorting, pagination),
//! check policy by Neutron's rule names (`create_network`, `get_port:binding:host_id`, ...),
//! call the network domain layer, and render Neutron's JSON. Errors are rendered by the
//! shared `Dialect::Network` (`{"NeutronError": {"type", "message", "detail"}}`). No SQL and
//! no business rules here.
//!
//! Adding a resource: a module with handlers (see `networks.rs`), a view building its JSON,
//! routes in [`router`] (or [`l3_routes`]), and its extension aliases in
//! `extensions::EXTENSIONS`. Lists go through `list::respond`.

mod body;
mod extensions;
pub mod list;
mod networks;
mod ports;
mod quotas;
mod security_groups;
mod subnets;
mod views;

// Routers, floating IPs and QoS (the L3 work).
mod floatingips;
mod qos;
mod routers;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use common_error::Error;
use common_http::AuthContext;
use common_policy::{Enforcer, Target};
use network_domain::{Caller, Network};
use network_model::errors::{neutron_error, Status};
use serde_json::{json, Value};

pub use body::Attrs;

/// What every network handler can reach.
#[derive(Clone)]
pub struct ApiState {
    pub net: Network,
    pub policy: Arc<Enforcer>,
    /// Public base URL of the listener, e.g. `http://127.0.0.1:8800`.
    pub base_url: String,
}

impl ApiState {
    /// `http://host:port/network/v2.0`.
    pub fn v2_url(&self) -> String {
        format!("{}/network/v2.0", self.base_url)
    }
}

/// The network router, to be nested under `/network`. The caller adds the observe, auth
/// and dialect layers.
pub fn router(state: ApiState) -> Router {
    let r = Router::new()
        .route("/", get(versions))
        .route("/v2.0", get(v2_root))
        .route("/v2.0/", get(v2_root))
        .route("/v2.0/extensions", get(extensions::list))
        .route("/v2.0/extensions/{alias}", get(extensions::show))
        .route(
            "/v2.0/availability_zones",
            get(extensions::availability_zones),
        )
        .route("/v2.0/networks", get(networks::list).post(networks::create))
        .route(
            "/v2.0/networks/{id}",
            get(networks::show)
                .put(networks::update)
                .delete(networks::delete),
        )
        .route("/v2.0/subnets", get(subnets::list).post(subnets::create))
        .route(
            "/v2.0/subnets/{id}",
            get(subnets::show)
                .put(subnets::update)
                .delete(subnets::delete),
        )
        .route("/v2.0/ports", get(ports::list).post(ports::create))
        .route(
            "/v2.0/ports/{id}",
            get(ports::show).put(ports::update).delete(ports::delete),
        )
        .route(
            "/v2.0/security-groups",
            get(security_groups::list).post(security_groups::create),
        )
        .route(
            "/v2.0/security-groups/{id}",
            get(security_groups::show)
                .put(security_groups::update)
                .delete(security_groups::delete),
        )
        .route(
            "/v2.0/security-group-rules",
            get(security_groups::rule_list).post(security_groups::rule_create),
        )
        .route(
            "/v2.0/security-group-rules/{id}",
            get(security_groups::rule_show)
                .put(security_groups::rule_update)
                .delete(security_groups::rule_delete),
        )
        .route("/v2.0/quotas", get(quotas::list))
        .route(
            "/v2.0/quotas/{project_id}",
            get(quotas::show).put(quotas::update).delete(quotas::delete),
        )
        .route("/v2.0/quotas/{project_id}/default", get(quotas::defaults))
        .route("/v2.0/quotas/{project_id}/details", get(quotas::details));
    l3_routes(r)
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(state)
}

/// Routes of the L3 work (routers, floating IPs, QoS): add `.route(...)` calls here.
fn l3_routes(r: Router<ApiState>) -> Router<ApiState> {
    use axum::routing::put;
    r.route("/v2.0/routers", get(routers::list).post(routers::create))
        .route(
            "/v2.0/routers/{id}",
            get(routers::show)
                .put(routers::update)
                .delete(routers::delete),
        )
        .route(
            "/v2.0/routers/{id}/add_router_interface",
            put(routers::add_interface),
        )
        .route(
            "/v2.0/routers/{id}/remove_router_interface",
            put(routers::remove_interface),
        )
        .route(
            "/v2.0/routers/{id}/add_extraroutes",
            put(routers::add_extraroutes),
        )
        .route(
            "/v2.0/routers/{id}/remove_extraroutes",
            put(routers::remove_extraroutes),
        )
        .route(
            "/v2.0/floatingips",
            get(floatingips::list).post(floatingips::create),
        )
        .route(
            "/v2.0/floatingips/{id}",
            get(floatingips::show)
                .put(floatingips::update)
                .delete(floatingips::delete),
        )
        .route("/v2.0/qos/policies", get(qos::list).post(qos::create))
        .route(
            "/v2.0/qos/policies/{id}",
            get(qos::show).put(qos::update).delete(qos::delete),
        )
        .route(
            "/v2.0/qos/policies/{id}/bandwidth_limit_rules",
            get(qos::rule_list).post(qos::rule_create),
        )
        .route(
            "/v2.0/qos/policies/{id}/bandwidth_limit_rules/{rule_id}",
            get(qos::rule_show)
                .put(qos::rule_update)
                .delete(qos::rule_delete),
        )
        .route("/v2.0/qos/rule-types", get(qos::rule_types))
        .route("/v2.0/qos/rule-types/{name}", get(qos::rule_type_show))
}

/// `GET /network/`: Neutron's version list.
async fn versions(axum::extract::State(s): axum::extract::State<ApiState>) -> Json<Value> {
    Json(json!({"versions": [{
        "id": "v2.0",
        "status": "CURRENT",
        "links": [{"rel": "self", "href": format!("{}/", s.v2_url())}],
    }]}))
}

/// `GET /network/v2.0/`: the collections, as Neutron lists them.
async fn v2_root(axum::extract::State(s): axum::extract::State<ApiState>) -> Json<Value> {
    let base = s.v2_url();
    let resources: Vec<Value> = [
        ("network", "networks"),
        ("subnet", "subnets"),
        ("port", "ports"),
        ("security_group", "security-groups"),
        ("security_group_rule", "security-group-rules"),
        ("quota", "quotas"),
        ("availability_zone", "availability_zones"),
        ("extension", "extensions"),
    ]
    .iter()
    .chain(extensions::L3_COLLECTIONS)
    .map(|(name, coll)| {
        json!({"name": name, "collection": coll,
               "links": [{"rel": "self", "href": format!("{base}/{coll}")}]})
    })
    .collect();
    Json(json!({"resources": resources}))
}

/// The caller as the domain layer sees it; admin is Neutron's `context_is_admin`.
pub fn caller(s: &ApiState, auth: &AuthContext) -> Caller {
    let is_admin = s
        .policy
        .enforce("context_is_admin", &Target::new(), &auth.credentials);
    Caller {
        user_id: auth.credentials.user_id.clone(),
        project_id: auth.credentials.project_id.clone(),
        is_admin,
    }
}

/// Neutron's policy refusal (403 `PolicyNotAuthorized`).
pub fn forbidden(rule: &str) -> Error {
    neutron_error(
        Status::Forbidden,
        "PolicyNotAuthorized",
        format!("rule:{rule} is disallowed by policy"),
    )
}

impl ApiState {
    /// Whether `rule` passes on `t`.
    pub fn allowed(&self, auth: &AuthContext, rule: &str, t: &Target) -> bool {
        self.policy.enforce(rule, t, &auth.credentials)
    }

    /// Checks `rule` on `t`: 403 when refused.
    pub fn authorize(&self, auth: &AuthContext, rule: &str, t: &Target) -> Result<(), Error> {
        if self.allowed(auth, rule, t) {
            Ok(())
        } else {
            Err(forbidden(rule))
        }
    }

    /// Checks `rule` and `rule:<attr>` for every attribute of `attrs` that has a rule of
    /// its own (admin-only attributes), as Neutron's policy engine does on create/update.
    pub fn authorize_attrs(
        &self,
        auth: &AuthContext,
        rule: &str,
        attrs: &[&str],
        t: &Target,
    ) -> Result<(), Error> {
        self.authorize(auth, rule, t)?;
        for a in attrs {
            let sub = format!("{rule}:{a}");
            if self.policy.check_str(&sub).is_some() && !self.allowed(auth, &sub, t) {
                return Err(forbidden(&sub));
            }
        }
        Ok(())
    }
}

/// `True`/`False`, as Neutron's policy targets spell booleans.
pub(crate) fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}
