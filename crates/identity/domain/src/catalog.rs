//! Regions, services, endpoints, and the service catalog put into tokens.

use common_error::Result;
use identity_db::EndpointFilter;
use identity_model::{Endpoint, Extra, Region, Service};

use crate::Identity;

/// One catalog entry: a service with its endpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogEntry {
    pub service: Service,
    pub endpoints: Vec<Endpoint>,
}

/// Interfaces an endpoint may have.
pub const INTERFACES: [&str; 3] = ["public", "internal", "admin"];

impl Identity {
    /// The catalog for a token: enabled services with their enabled endpoints, with
    /// `%(project_id)s` / `$(project_id)s` / `%(tenant_id)s` substituted when `project_id` is
    /// given (endpoints needing a project id are left out otherwise, as Keystone does).
    pub async fn catalog(&self, project_id: Option<&str>) -> Result<Vec<CatalogEntry>> {
        let services = self.store.service_list(None, None).await?;
        let endpoints = self.store.endpoint_list(&EndpointFilter::default()).await?;
        let mut out = Vec::new();
        for s in services.into_iter().filter(|s| s.enabled) {
            let eps: Vec<Endpoint> = endpoints
                .iter()
                .filter(|e| e.service_id == s.id && e.enabled)
                .filter_map(|e| {
                    let url = substitute(&e.url, project_id)?;
                    Some(Endpoint { url, ..e.clone() })
                })
                .collect();
            out.push(CatalogEntry { service: s, endpoints: eps });
        }
        Ok(out)
    }

    /// Creates the region unless it exists.
    pub async fn region_ensure(&self, id: &str) -> Result<()> {
        if self.store.region_get(id).await?.is_none() {
            let r = Region { id: id.into(), description: String::new(), parent_region_id: None, extra: Extra::new() };
            self.store.region_create(&r).await?;
        }
        Ok(())
    }

    /// Creates a service of `service_type` named `name` unless one exists; returns its id.
    pub async fn service_ensure(&self, service_type: &str, name: &str, description: &str) -> Result<String> {
        if let Some(s) = self.store.service_list(Some(service_type), Some(name)).await?.into_iter().next() {
            return Ok(s.id);
        }
        let s = Service {
            id: identity_db::new_id(),
            service_type: service_type.into(),
            name: name.into(),
            description: Some(description.into()),
            enabled: true,
            extra: Extra::new(),
        };
        self.store.service_create(&s).await?;
        self.invalidate();
        Ok(s.id)
    }

    /// Makes the service's endpoint on `interface` in `region` point at `url`.
    pub async fn endpoint_ensure(&self, service_id: &str, interface: &str, region: &str, url: &str) -> Result<()> {
        let f = EndpointFilter {
            service_id: Some(service_id.into()),
            region_id: Some(region.into()),
            interface: Some(interface.into()),
        };
        match self.store.endpoint_list(&f).await?.into_iter().next() {
            Some(mut e) if e.url != url => {
                e.url = url.into();
                self.store.endpoint_update(&e).await?;
            }
            Some(_) => {}
            None => {
                let e = Endpoint {
                    id: identity_db::new_id(),
                    service_id: service_id.into(),
                    region_id: Some(region.into()),
                    interface: interface.into(),
                    url: url.into(),
                    enabled: true,
                    extra: Extra::new(),
                };
                self.store.endpoint_create(&e).await?;
            }
        }
        self.invalidate();
        Ok(())
    }
}

/// Substitutes the project id into an endpoint URL template; `None` when the template needs
/// a project id and there is none.
pub fn substitute(url: &str, project_id: Option<&str>) -> Option<String> {
    const KEYS: [&str; 4] = ["%(project_id)s", "$(project_id)s", "%(tenant_id)s", "$(tenant_id)s"];
    if !KEYS.iter().any(|k| url.contains(k)) {
        return Some(url.to_string());
    }
    let pid = project_id?;
    let mut out = url.to_string();
    for k in KEYS {
        out = out.replace(k, pid);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_project_templates() {
        assert_eq!(substitute("http://h/v3/%(project_id)s", Some("p1")).as_deref(), Some("http://h/v3/p1"));
        assert_eq!(substitute("http://h/v3/$(tenant_id)s", Some("p1")).as_deref(), Some("http://h/v3/p1"));
        assert_eq!(substitute("http://h/v3/%(project_id)s", None), None);
        assert_eq!(substitute("http://h/v3", None).as_deref(), Some("http://h/v3"));
    }
}
