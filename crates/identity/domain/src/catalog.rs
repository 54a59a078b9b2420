//! Regions, services, endpoints, and the service catalog put into tokens.

use common_error::{Error, Result};
pub use identity_db::EndpointFilter;
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
        let all = match self.caches.catalog() {
            Some(hit) => hit,
            None => {
                let services = self.store.service_list(None, None).await?;
                let endpoints = self.store.endpoint_list(&EndpointFilter::default()).await?;
                let entries: Vec<CatalogEntry> = services
                    .into_iter()
                    .filter(|s| s.enabled)
                    .map(|s| CatalogEntry {
                        endpoints: endpoints
                            .iter()
                            .filter(|e| e.service_id == s.id && e.enabled)
                            .cloned()
                            .collect(),
                        service: s,
                    })
                    .collect();
                let entries = std::sync::Arc::new(entries);
                self.caches.put_catalog(entries.clone());
                entries
            }
        };
        Ok(all
            .iter()
            .map(|c| CatalogEntry {
                service: c.service.clone(),
                endpoints: c
                    .endpoints
                    .iter()
                    .filter_map(|e| {
                        let url = substitute(&e.url, project_id)?;
                        Some(Endpoint { url, ..e.clone() })
                    })
                    .collect(),
            })
            .collect())
    }

    /// Creates the region unless it exists.
    pub async fn region_ensure(&self, id: &str) -> Result<()> {
        if self.store.region_get(id).await?.is_none() {
            let r = Region {
                id: id.into(),
                description: String::new(),
                parent_region_id: None,
                extra: Extra::new(),
            };
            self.store.region_create(&r).await?;
        }
        Ok(())
    }

    /// Creates a service of `service_type` named `name` unless one exists; returns its id.
    pub async fn service_ensure(
        &self,
        service_type: &str,
        name: &str,
        description: &str,
    ) -> Result<String> {
        if let Some(s) = self
            .store
            .service_list(Some(service_type), Some(name))
            .await?
            .into_iter()
            .next()
        {
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
    pub async fn endpoint_ensure(
        &self,
        service_id: &str,
        interface: &str,
        region: &str,
        url: &str,
    ) -> Result<()> {
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

/// Longest region id and description, and longest service name and type (Keystone's schema).
pub const MAX_REGION_ID_LEN: usize = 255;
pub const MAX_DESCRIPTION_LEN: usize = 255;
pub const MAX_SERVICE_FIELD_LEN: usize = 255;
/// Longest endpoint URL (Keystone's schema).
pub const MAX_URL_LEN: usize = 225;

/// Template keys Keystone accepts in endpoint URLs.
const URL_KEYS: [&str; 5] = [
    "tenant_id",
    "project_id",
    "user_id",
    "compute_host",
    "public_endpoint",
];

/// Keystone's `ValidationError`: "Expecting to find X in Y. ..."
pub fn expecting(attribute: &str, target: &str) -> Error {
    Error::bad_request(format!(
        "Expecting to find {attribute} in {target}. The server could not comply with the request since it is \
         either malformed or otherwise incorrect. The client is assumed to be in error."
    ))
}

/// Checks an endpoint interface.
pub fn check_interface(interface: &str) -> Result<()> {
    if INTERFACES.contains(&interface) {
        return Ok(());
    }
    Err(Error::bad_request(format!(
        "Invalid input for field 'interface': '{interface}' is not one of ['admin', 'internal', 'public']"
    )))
}

/// Checks an endpoint URL as Keystone does: `scheme:rest`, at most 225 characters, and only
/// `%(key)s` / `$(key)s` templates with a known key.
pub fn check_url(url: &str) -> Result<()> {
    let bad = || {
        Error::bad_request(format!(
            "Cannot create an endpoint with an invalid URL: {url}."
        ))
    };
    if url.chars().count() > MAX_URL_LEN {
        return Err(Error::bad_request(format!(
            "Invalid input for field 'url': '{url}' is too long"
        )));
    }
    let scheme_ok = url.split_once(':').is_some_and(|(scheme, rest)| {
        !scheme.is_empty()
            && !rest.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
    });
    if !scheme_ok {
        return Err(Error::bad_request(format!(
            "Invalid input for field 'url': '{url}' does not match '^[a-zA-Z0-9+.-]+:.+'"
        )));
    }
    let t = url.replace("$(", "%(");
    let mut rest = t.as_str();
    while let Some(i) = rest.find('%') {
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('%') {
            rest = r;
            continue;
        }
        let inner = after.strip_prefix('(').ok_or_else(bad)?;
        let (key, tail) = inner.split_once(')').ok_or_else(bad)?;
        if !URL_KEYS.contains(&key) {
            return Err(bad());
        }
        rest = tail.strip_prefix('s').ok_or_else(bad)?;
    }
    Ok(())
}

impl Identity {
    /// Creates a region (an empty id gets a new one). A duplicate id is 409, an unknown parent
    /// 404.
    pub async fn region_create(&self, mut r: Region) -> Result<Region> {
        if r.id.is_empty() {
            r.id = identity_db::new_id();
        }
        if self.store.region_get(&r.id).await?.is_some() {
            return Err(Error::conflict(format!(
                "Conflict occurred attempting to store region - Duplicate ID, {}.",
                r.id
            )));
        }
        if let Some(p) = &r.parent_region_id {
            if self.store.region_get(p).await?.is_none() {
                return Err(Error::not_found("region", p.clone()));
            }
        }
        self.store.region_create(&r).await.map_err(|e| match e {
            Error::Conflict(_) => Error::conflict(format!(
                "Conflict occurred attempting to store region - Duplicate ID, {}.",
                r.id
            )),
            other => other,
        })?;
        self.invalidate();
        Ok(r)
    }

    pub async fn region_get(&self, id: &str) -> Result<Region> {
        self.store
            .region_get(id)
            .await?
            .ok_or_else(|| Error::not_found("region", id))
    }

    pub async fn region_list(&self, parent_region_id: Option<&str>) -> Result<Vec<Region>> {
        self.store.region_list(parent_region_id).await
    }

    /// Applies a partial update; a new parent must exist (404) and must not make a cycle (400).
    pub async fn region_update(
        &self,
        id: &str,
        apply: impl FnOnce(&mut Region) -> Result<()>,
    ) -> Result<Region> {
        let mut r = self.region_get(id).await?;
        let old_parent = r.parent_region_id.clone();
        apply(&mut r)?;
        if r.parent_region_id != old_parent {
            if let Some(p) = r.parent_region_id.clone() {
                if self.store.region_get(&p).await?.is_none() {
                    return Err(Error::not_found("region", p));
                }
                let mut next = Some(p);
                let mut steps = 0;
                while let Some(cur) = next {
                    if cur == r.id {
                        return Err(Error::bad_request(format!(
                            "The specified parent region {cur} would create a circular region hierarchy."
                        )));
                    }
                    steps += 1;
                    if steps > 10_000 {
                        break;
                    }
                    next = self
                        .store
                        .region_get(&cur)
                        .await?
                        .and_then(|x| x.parent_region_id);
                }
            }
        }
        self.store.region_update(&r).await?;
        self.invalidate();
        Ok(r)
    }

    /// Deletes a region and all its descendants; 403 when any of them has endpoints.
    pub async fn region_delete(&self, id: &str) -> Result<()> {
        let r = self.region_get(id).await?;
        let all = self.store.region_list(None).await?;
        let mut tree = vec![r.id.clone()];
        let mut i = 0;
        while i < tree.len() {
            let cur = tree[i].clone();
            for child in all
                .iter()
                .filter(|x| x.parent_region_id.as_deref() == Some(cur.as_str()))
            {
                if !tree.contains(&child.id) {
                    tree.push(child.id.clone());
                }
            }
            i += 1;
        }
        let endpoints = self.store.endpoint_list(&EndpointFilter::default()).await?;
        if endpoints
            .iter()
            .any(|e| e.region_id.as_ref().is_some_and(|rid| tree.contains(rid)))
        {
            return Err(Error::forbidden(format!(
                "Unable to delete region {id} because it or its child regions have associated endpoints."
            )));
        }
        for rid in tree.iter().rev() {
            self.store.region_delete(rid).await?;
        }
        self.invalidate();
        Ok(())
    }

    /// Creates a service with a new id.
    pub async fn service_create(&self, mut s: Service) -> Result<Service> {
        if s.id.is_empty() {
            s.id = identity_db::new_id();
        }
        self.store.service_create(&s).await?;
        self.invalidate();
        Ok(s)
    }

    pub async fn service_get(&self, id: &str) -> Result<Service> {
        self.store
            .service_get(id)
            .await?
            .ok_or_else(|| Error::not_found("service", id))
    }

    pub async fn service_list(
        &self,
        service_type: Option<&str>,
        name: Option<&str>,
    ) -> Result<Vec<Service>> {
        self.store.service_list(service_type, name).await
    }

    pub async fn service_update(
        &self,
        id: &str,
        apply: impl FnOnce(&mut Service) -> Result<()>,
    ) -> Result<Service> {
        let mut s = self.service_get(id).await?;
        apply(&mut s)?;
        self.store.service_update(&s).await?;
        self.invalidate();
        Ok(s)
    }

    /// Deletes a service and its endpoints.
    pub async fn service_delete(&self, id: &str) -> Result<()> {
        if !self.store.service_delete(id).await? {
            return Err(Error::not_found("service", id));
        }
        self.invalidate();
        Ok(())
    }

    async fn endpoint_refs_exist(&self, e: &Endpoint) -> Result<()> {
        if let Some(r) = &e.region_id {
            if self.store.region_get(r).await?.is_none() {
                return Err(expecting("endpoint region_id", "region table"));
            }
        }
        if self.store.service_get(&e.service_id).await?.is_none() {
            return Err(expecting("endpoint service_id", "service table"));
        }
        Ok(())
    }

    /// Creates an endpoint. Its region and service must exist (400), except that a region
    /// given the legacy way (`region` rather than `region_id`) is created on the fly, as
    /// Keystone does.
    pub async fn endpoint_create(&self, mut e: Endpoint, create_region: bool) -> Result<Endpoint> {
        check_interface(&e.interface)?;
        check_url(&e.url)?;
        if e.id.is_empty() {
            e.id = identity_db::new_id();
        }
        if let (true, Some(r)) = (create_region, e.region_id.clone()) {
            if self.store.region_get(&r).await?.is_none() {
                self.region_create(Region {
                    id: r,
                    description: String::new(),
                    parent_region_id: None,
                    extra: Extra::new(),
                })
                .await?;
            }
        }
        self.endpoint_refs_exist(&e).await?;
        self.store
            .endpoint_create(&e)
            .await
            .map_err(|err| match err {
                Error::Conflict(_) => Error::conflict(format!(
                    "Conflict occurred attempting to store endpoint - Duplicate ID, {}.",
                    e.id
                )),
                other => other,
            })?;
        self.invalidate();
        Ok(e)
    }

    pub async fn endpoint_get(&self, id: &str) -> Result<Endpoint> {
        self.store
            .endpoint_get(id)
            .await?
            .ok_or_else(|| Error::not_found("endpoint", id))
    }

    pub async fn endpoint_list(&self, f: &EndpointFilter) -> Result<Vec<Endpoint>> {
        self.store.endpoint_list(f).await
    }

    /// Applies a partial update, with the same checks as creation.
    pub async fn endpoint_update(
        &self,
        id: &str,
        create_region: bool,
        apply: impl FnOnce(&mut Endpoint) -> Result<()>,
    ) -> Result<Endpoint> {
        let mut e = self.endpoint_get(id).await?;
        apply(&mut e)?;
        check_interface(&e.interface)?;
        check_url(&e.url)?;
        if let (true, Some(r)) = (create_region, e.region_id.clone()) {
            if self.store.region_get(&r).await?.is_none() {
                self.region_create(Region {
                    id: r,
                    description: String::new(),
                    parent_region_id: None,
                    extra: Extra::new(),
                })
                .await?;
            }
        }
        self.endpoint_refs_exist(&e).await?;
        self.store.endpoint_update(&e).await?;
        self.invalidate();
        Ok(e)
    }

    pub async fn endpoint_delete(&self, id: &str) -> Result<()> {
        if !self.store.endpoint_delete(id).await? {
            return Err(Error::not_found("endpoint", id));
        }
        self.invalidate();
        Ok(())
    }
}

/// Substitutes the project id into an endpoint URL template; `None` when the template needs
/// a project id and there is none.
pub fn substitute(url: &str, project_id: Option<&str>) -> Option<String> {
    const KEYS: [&str; 4] = [
        "%(project_id)s",
        "$(project_id)s",
        "%(tenant_id)s",
        "$(tenant_id)s",
    ];
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
        assert_eq!(
            substitute("http://h/v3/%(project_id)s", Some("p1")).as_deref(),
            Some("http://h/v3/p1")
        );
        assert_eq!(
            substitute("http://h/v3/$(tenant_id)s", Some("p1")).as_deref(),
            Some("http://h/v3/p1")
        );
        assert_eq!(substitute("http://h/v3/%(project_id)s", None), None);
        assert_eq!(
            substitute("http://h/v3", None).as_deref(),
            Some("http://h/v3")
        );
    }

    #[test]
    fn endpoint_urls_are_checked_like_keystone() {
        for ok in [
            "http://x",
            "http://h:8776/v3/%(project_id)s",
            "https://h/$(tenant_id)s/a",
            "http://h/100%%",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "x",
            "no-scheme",
            ":rest",
            "http:",
            "http://h/%(nope)s",
            "http://h/%20",
            "http://h/%(project_id",
            "http://h/%(project_id)d",
        ] {
            assert_eq!(check_url(bad).unwrap_err().status(), 400, "{bad}");
        }
        assert!(check_url(&format!("http://{}", "a".repeat(300))).is_err());
        assert!(check_interface("public").is_ok());
        assert!(check_interface("PUBLIC").is_err());
    }
}
