//! Domains and projects: creation rules, the hierarchy, updates, deletion.

use common_error::{Error, Result};
use identity_model::{ListFilter, Project, RevocationEvent};

use crate::Identity;

/// Longest project or domain name (Keystone's schema limit).
pub const MAX_NAME_LEN: usize = 64;
/// Longest tag, and most tags on one project.
pub const MAX_TAG_LEN: usize = 255;
pub const MAX_TAGS: usize = 80;

/// Checks a project or domain name.
pub fn check_name(kind: &str, name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::bad_request(format!(
            "Invalid input for field 'name': {kind} name cannot be empty."
        )));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(Error::bad_request(format!(
            "Invalid input for field 'name': '{name}' is too long (maximum {MAX_NAME_LEN} characters)."
        )));
    }
    Ok(())
}

/// Checks tags as Keystone does: at most 80, each 1..=255 characters without `/` or `,`.
pub fn check_tags(tags: &[String]) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(Error::bad_request(format!(
            "Invalid input for field 'tags': more than {MAX_TAGS} tags."
        )));
    }
    for t in tags {
        check_tag(t)?;
    }
    Ok(())
}

pub fn check_tag(t: &str) -> Result<()> {
    if t.is_empty() || t.chars().count() > MAX_TAG_LEN || t.contains('/') || t.contains(',') {
        return Err(Error::bad_request(format!(
            "Invalid input for field 'tags': tag '{t}' must be 1 to {MAX_TAG_LEN} characters without '/' or ','."
        )));
    }
    Ok(())
}

fn duplicate(kind: &str, name: &str, domain: &str) -> Error {
    Error::conflict(format!(
        "Conflict occurred attempting to store {kind} - Duplicate entry found with name {name} at domain ID {domain}."
    ))
}

impl Identity {
    /// Creates a project (or a domain when `p.is_domain`). `p.domain_id` must be resolved by
    /// the caller for projects; a parent must exist in the same domain.
    pub async fn project_create(&self, mut p: Project) -> Result<Project> {
        let kind = if p.is_domain { "domain" } else { "project" };
        check_name(kind, &p.name)?;
        check_tags(&p.tags)?;
        p.tags.sort();
        p.tags.dedup();
        if p.is_domain {
            p.domain_id = None;
            p.parent_id = None;
            if self.store.domain_get_by_name(&p.name).await?.is_some() {
                return Err(duplicate("domain", &p.name, "<<keystone.domain.root>>"));
            }
        } else {
            if let Some(parent_id) = &p.parent_id {
                let parent = self
                    .store
                    .project_get(parent_id)
                    .await?
                    .ok_or_else(|| Error::not_found("project", parent_id.clone()))?;
                let parent_domain = if parent.is_domain {
                    Some(parent.id.clone())
                } else {
                    parent.domain_id.clone()
                };
                match &p.domain_id {
                    None => p.domain_id = parent_domain.clone(),
                    Some(d) if Some(d) != parent_domain.as_ref() => {
                        return Err(Error::bad_request(
                            "Cannot create project, since it specifies its domain_id and its parent in different domains.",
                        ))
                    }
                    _ => {}
                }
                if parent.is_domain {
                    p.parent_id = parent_domain.clone();
                }
            }
            let domain_id = p
                .domain_id
                .clone()
                .ok_or_else(|| Error::bad_request("domain_id is required"))?;
            let domain = self
                .store
                .project_get(&domain_id)
                .await?
                .filter(|d| d.is_domain);
            if domain.is_none() {
                return Err(Error::not_found("domain", domain_id));
            }
            if p.parent_id.is_none() {
                p.parent_id = Some(domain_id.clone());
            }
            if self
                .store
                .project_get_by_name(&domain_id, &p.name)
                .await?
                .is_some()
            {
                return Err(duplicate("project", &p.name, &domain_id));
            }
        }
        if self.store.project_get(&p.id).await?.is_some() {
            return Err(Error::conflict(format!(
                "Conflict occurred attempting to store {kind} - Duplicate ID, {}.",
                p.id
            )));
        }
        self.store.project_create(&p).await.map_err(|e| match e {
            Error::Conflict(_) => duplicate(kind, &p.name, p.domain_id.as_deref().unwrap_or("")),
            other => other,
        })?;
        self.invalidate();
        Ok(p)
    }

    /// A project by id (domains are not projects here unless `allow_domain`).
    pub async fn project_get(&self, id: &str) -> Result<Project> {
        self.store
            .project_get(id)
            .await?
            .filter(|p| !p.is_domain)
            .ok_or_else(|| Error::not_found("project", id))
    }

    /// A domain by id.
    pub async fn domain_get(&self, id: &str) -> Result<Project> {
        self.store
            .project_get(id)
            .await?
            .filter(|p| p.is_domain)
            .ok_or_else(|| Error::not_found("domain", id))
    }

    /// A domain by name.
    pub async fn domain_get_by_name(&self, name: &str) -> Result<Project> {
        self.store
            .domain_get_by_name(name)
            .await?
            .ok_or_else(|| Error::not_found("domain", name))
    }

    pub async fn project_list(&self, f: &ListFilter) -> Result<Vec<Project>> {
        self.store.project_list(f).await
    }

    /// Applies a partial update. Disabling revokes the project's (or domain's) tokens.
    pub async fn project_update(
        &self,
        id: &str,
        is_domain: bool,
        apply: impl FnOnce(&mut Project) -> Result<()>,
    ) -> Result<Project> {
        let kind = if is_domain { "domain" } else { "project" };
        let mut p = self
            .store
            .project_get(id)
            .await?
            .filter(|p| p.is_domain == is_domain)
            .ok_or_else(|| Error::not_found(kind, id))?;
        let was_enabled = p.enabled;
        let old_name = p.name.clone();
        apply(&mut p)?;
        check_name(kind, &p.name)?;
        check_tags(&p.tags)?;
        p.tags.sort();
        p.tags.dedup();
        if p.name != old_name {
            let clash = if is_domain {
                self.store.domain_get_by_name(&p.name).await?
            } else {
                self.store
                    .project_get_by_name(p.domain_id.as_deref().unwrap_or_default(), &p.name)
                    .await?
            };
            if clash.is_some_and(|c| c.id != p.id) {
                return Err(duplicate(
                    kind,
                    &p.name,
                    p.domain_id.as_deref().unwrap_or("<<keystone.domain.root>>"),
                ));
            }
        }
        self.store.project_update(&p).await?;
        if was_enabled && !p.enabled {
            let ev = if is_domain {
                RevocationEvent {
                    domain_id: Some(p.id.clone()),
                    ..Default::default()
                }
            } else {
                RevocationEvent {
                    project_id: Some(p.id.clone()),
                    ..Default::default()
                }
            };
            self.revoke(ev).await?;
        }
        self.invalidate();
        Ok(p)
    }

    /// Deletes a project (a leaf) and revokes its tokens.
    pub async fn project_delete(&self, id: &str) -> Result<()> {
        let p = self.project_get(id).await?;
        if self.store.project_children_count(&p.id).await? > 0 {
            return Err(Error::forbidden(format!(
                "Cannot delete the project {id} since it is not a leaf in the hierarchy. Use the cascade option if you want to delete a whole subtree."
            )));
        }
        self.store.project_delete(&p.id).await?;
        self.revoke(RevocationEvent {
            project_id: Some(p.id),
            ..Default::default()
        })
        .await
    }

    /// Deletes a disabled domain with everything in it.
    pub async fn domain_delete(&self, id: &str) -> Result<()> {
        let d = self.domain_get(id).await?;
        if d.enabled {
            return Err(Error::forbidden(
                "Cannot delete a domain that is enabled, please disable it first.",
            ));
        }
        let f = ListFilter {
            domain_id: Some(d.id.clone()),
            is_domain: Some(false),
            ..Default::default()
        };
        let mut projects = self.store.project_list(&f).await?;
        // Leaves first: delete deeper projects before their parents.
        let mut depth = std::collections::HashMap::new();
        for p in &projects {
            depth.insert(p.id.clone(), self.project_ancestors(p).await?.len());
        }
        projects.sort_by_key(|p| std::cmp::Reverse(depth.get(&p.id).copied().unwrap_or(0)));
        for p in projects {
            self.store.project_delete(&p.id).await?;
        }
        let uf = ListFilter {
            domain_id: Some(d.id.clone()),
            ..Default::default()
        };
        for u in self.store.user_list(&uf).await? {
            self.store.user_delete(&u.id).await?;
        }
        for g in self.store.group_list(&uf).await? {
            self.store.group_delete(&g.id).await?;
        }
        for r in self.store.role_list(None, Some(&d.id)).await? {
            self.store.role_delete(&r.id).await?;
        }
        self.store.project_delete(&d.id).await?;
        self.revoke(RevocationEvent {
            domain_id: Some(d.id),
            ..Default::default()
        })
        .await
    }
}
