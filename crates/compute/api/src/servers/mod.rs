//! `/v2.1/servers` and the server sub-resources: Nova's request schemas (validated the way
//! Python's `jsonschema` reports errors), Nova's policy rules checked on the loaded server (so
//! another project's server is 404, never 403), one domain call, Nova's views per
//! microversion.

use axum::routing::{get, post};
use axum::Router;

use crate::ApiState;

mod actions;
mod create;
mod crud;
mod hostid;
mod metadata;
mod pyrepr;
mod query;
mod schema;
mod schemas;
mod subresources;
mod tags;
mod util;
mod views;

#[cfg(test)]
mod tests;

/// The servers routes.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v2.1/servers", get(crud::index).post(create::create))
        .route("/v2.1/servers/detail", get(crud::detail))
        .route(
            "/v2.1/servers/{id}",
            get(crud::show).put(crud::update).delete(crud::delete),
        )
        .route("/v2.1/servers/{id}/action", post(actions::action))
        .route(
            "/v2.1/servers/{id}/metadata",
            get(metadata::index)
                .post(metadata::create)
                .put(metadata::update_all),
        )
        .route(
            "/v2.1/servers/{id}/metadata/{key}",
            get(metadata::show)
                .put(metadata::update)
                .delete(metadata::delete),
        )
        .route(
            "/v2.1/servers/{id}/tags",
            get(tags::index)
                .put(tags::update_all)
                .delete(tags::delete_all),
        )
        .route(
            "/v2.1/servers/{id}/tags/{tag}",
            get(tags::show).put(tags::update).delete(tags::delete),
        )
        .route(
            "/v2.1/servers/{id}/os-instance-actions",
            get(subresources::actions),
        )
        .route(
            "/v2.1/servers/{id}/os-instance-actions/{request_id}",
            get(subresources::action_show),
        )
        .route("/v2.1/servers/{id}/ips", get(subresources::ips))
        .route(
            "/v2.1/servers/{id}/ips/{network}",
            get(subresources::ips_show),
        )
        .route(
            "/v2.1/servers/{id}/os-volume_attachments",
            get(subresources::volume_attachments),
        )
        .route(
            "/v2.1/servers/{id}/os-interface",
            get(subresources::interfaces),
        )
}
