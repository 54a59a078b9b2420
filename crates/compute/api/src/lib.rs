//! Nova's compute API v2.1 over HTTP: microversion negotiation (2.1 to [`MAX_MINOR`] via
//! `OpenStack-API-Version: compute 2.x` or the legacy `X-OpenStack-Nova-API-Version`),
//! policy by Nova's rule names, Nova's JSON, and Nova's error bodies
//! (`{"itemNotFound": {"code", "message"}}`, rendered by `common-http`).
//!
//! Handlers parse, check policy, make one domain call and render; no SQL, no business rules.
//! Must not depend on the db crate or on other services.

mod availability_zones;
mod common;
mod flavor_extras;
mod flavors;
mod hypervisors;
mod keypairs;
pub mod metadata;
pub mod microversion;
mod migrations;
mod quotas;
#[cfg(test)]
mod resource_tests;
mod server_groups;
mod servers;
mod services;
mod usage;
mod validate;
mod versions;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use common_http::AuthContext;
use common_policy::Enforcer;
use compute_domain::{Compute, Context};

pub use microversion::{Mv, MAX_MINOR, MIN_MINOR};

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiState {
    pub compute: Compute,
    pub policy: Arc<Enforcer>,
    /// Public base URL of the listener, e.g. `http://127.0.0.1:8800`; links are
    /// `{base_url}/compute/v2.1/...`.
    pub base_url: String,
}

impl ApiState {
    /// `{base_url}/compute/v2.1`.
    pub fn v21_url(&self) -> String {
        format!("{}/compute/v2.1", self.base_url)
    }
}

/// The domain's view of the caller.
pub fn context(auth: &AuthContext, request_id: &str) -> Context {
    let roles: Vec<String> = auth.roles.iter().map(|(_, n)| n.clone()).collect();
    Context {
        user_id: auth.credentials.user_id.clone(),
        project_id: auth.credentials.project_id.clone().unwrap_or_default(),
        is_admin: roles.iter().any(|r| r == "admin"),
        roles,
        request_id: request_id.to_string(),
    }
}

/// The compute router, to be nested under `/compute`. The unversioned root (`GET /`)
/// answers without microversion negotiation; everything else negotiates.
pub fn router(state: ApiState) -> Router {
    let versioned = Router::new()
        .merge(servers::routes())
        .merge(resource_routes())
        .layer(axum::middleware::from_fn(microversion::negotiate));
    Router::new()
        .route("/", get(versions::versions))
        .merge(versioned)
        .with_state(state)
}

/// Every route but the servers': version document, flavors, keypairs, server groups,
/// quotas and limits, availability zones, services, hypervisors, usage, migrations.
fn resource_routes() -> Router<ApiState> {
    Router::new()
        .route("/v2.1", get(versions::version))
        .route("/v2.1/", get(versions::version))
        .route("/v2.1/extensions", get(versions::extensions))
        .route("/v2.1/extensions/{alias}", get(versions::extension))
        .route("/v2.1/flavors", get(flavors::index).post(flavors::create))
        .route("/v2.1/flavors/detail", get(flavors::detail))
        .route(
            "/v2.1/flavors/{id}",
            get(flavors::show)
                .put(flavors::update)
                .delete(flavors::delete),
        )
        .route("/v2.1/flavors/{id}/action", post(flavor_extras::action))
        .route(
            "/v2.1/flavors/{id}/os-flavor-access",
            get(flavor_extras::access_index),
        )
        .route(
            "/v2.1/flavors/{id}/os-extra_specs",
            get(flavor_extras::specs_index).post(flavor_extras::specs_create),
        )
        .route(
            "/v2.1/flavors/{id}/os-extra_specs/{key}",
            get(flavor_extras::specs_show)
                .put(flavor_extras::specs_update)
                .delete(flavor_extras::specs_delete),
        )
        .route(
            "/v2.1/os-keypairs",
            get(keypairs::index).post(keypairs::create),
        )
        .route(
            "/v2.1/os-keypairs/{name}",
            get(keypairs::show).delete(keypairs::delete),
        )
        .route(
            "/v2.1/os-server-groups",
            get(server_groups::index).post(server_groups::create),
        )
        .route(
            "/v2.1/os-server-groups/{id}",
            get(server_groups::show).delete(server_groups::delete),
        )
        .route(
            "/v2.1/os-quota-sets/{id}",
            get(quotas::show).put(quotas::update).delete(quotas::delete),
        )
        .route("/v2.1/os-quota-sets/{id}/defaults", get(quotas::defaults))
        .route("/v2.1/os-quota-sets/{id}/detail", get(quotas::detail))
        .route("/v2.1/limits", get(quotas::limits))
        .route("/v2.1/os-availability-zone", get(availability_zones::index))
        .route(
            "/v2.1/os-availability-zone/detail",
            get(availability_zones::detail),
        )
        .route("/v2.1/os-services", get(services::index))
        .route(
            "/v2.1/os-services/{id}",
            axum::routing::put(services::update).delete(services::delete),
        )
        .route("/v2.1/os-hypervisors", get(hypervisors::index))
        .route("/v2.1/os-hypervisors/detail", get(hypervisors::detail))
        .route(
            "/v2.1/os-hypervisors/statistics",
            get(hypervisors::statistics),
        )
        .route("/v2.1/os-hypervisors/{id}", get(hypervisors::show))
        .route("/v2.1/os-hypervisors/{id}/uptime", get(hypervisors::uptime))
        .route("/v2.1/os-simple-tenant-usage", get(usage::index))
        .route("/v2.1/os-simple-tenant-usage/{id}", get(usage::show))
        .route("/v2.1/os-migrations", get(migrations::index))
}
