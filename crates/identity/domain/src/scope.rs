//! What a user holds on a scope: effective roles (direct, through groups, inherited down the
//! project tree, expanded through role implications) and the resolved user/project/domain.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use common_error::{Error, Result};
use identity_db::AssignmentFilter;
use identity_model::{Actor, AssignmentTarget, Project, ResolvedScope, Role, Scope};

use crate::Identity;

/// How deep a project tree may be walked (Keystone's default max depth is 5).
const MAX_DEPTH: usize = 64;

impl Identity {
    /// Ids of the roles `user_id` holds on `scope` directly or through groups and
    /// inheritance, before implications are expanded.
    pub async fn assigned_role_ids(
        &self,
        user_id: &str,
        scope: &Scope,
    ) -> Result<BTreeSet<String>> {
        let groups: Vec<String> = self
            .store
            .groups_for_user(user_id)
            .await?
            .into_iter()
            .map(|g| g.id)
            .collect();
        let mut f = AssignmentFilter {
            user_ids: Some(vec![user_id.to_string()]),
            group_ids: Some(groups),
            ..Default::default()
        };
        let mut ids = BTreeSet::new();
        match scope {
            Scope::Unscoped => return Ok(ids),
            Scope::System => {
                f.system = Some(true);
                for a in self.store.assignment_list(&f).await? {
                    ids.insert(a.role_id);
                }
            }
            Scope::Domain(d) => {
                f.domain_ids = Some(vec![d.clone()]);
                f.inherited = Some(false);
                for a in self.store.assignment_list(&f).await? {
                    ids.insert(a.role_id);
                }
            }
            Scope::Project(p) => {
                let project = self
                    .store
                    .project_get(p)
                    .await?
                    .ok_or_else(|| Error::not_found("project", p.clone()))?;
                let ancestors = self.project_ancestors(&project).await?;
                let mut targets = vec![project.id.clone()];
                targets.extend(ancestors.iter().map(|a| a.id.clone()));
                if let Some(d) = &project.domain_id {
                    targets.push(d.clone());
                }
                f.project_ids = Some(targets.clone());
                f.domain_ids = project.domain_id.clone().map(|d| vec![d]);
                for a in self.store.assignment_list(&f).await? {
                    let direct =
                        matches!(&a.target, AssignmentTarget::Project(t) if *t == project.id);
                    if (direct && !a.inherited) || (!direct && a.inherited) {
                        ids.insert(a.role_id);
                    }
                }
            }
        }
        Ok(ids)
    }

    /// Expands role ids through implications (transitively) and loads the roles.
    pub async fn expand_implied(&self, ids: BTreeSet<String>) -> Result<Vec<Role>> {
        let pairs = self.store.implied_role_list().await?;
        let mut graph: HashMap<&str, Vec<&str>> = HashMap::new();
        for (p, i) in &pairs {
            graph.entry(p.as_str()).or_default().push(i.as_str());
        }
        let mut all: BTreeSet<String> = ids.clone();
        let mut stack: Vec<String> = ids.into_iter().collect();
        while let Some(r) = stack.pop() {
            for i in graph.get(r.as_str()).into_iter().flatten() {
                if all.insert((*i).to_string()) {
                    stack.push((*i).to_string());
                }
            }
        }
        let ids: Vec<String> = all.into_iter().collect();
        self.store.roles_by_ids(&ids).await
    }

    /// Effective roles of a user on a scope, as a token carries them: implications expanded,
    /// domain-specific roles left out.
    pub async fn effective_roles(&self, user_id: &str, scope: &Scope) -> Result<Vec<Role>> {
        let ids = self.assigned_role_ids(user_id, scope).await?;
        let mut roles = self.expand_implied(ids).await?;
        roles.retain(|r| r.domain_id.is_none());
        Ok(roles)
    }

    /// The parents of a project, nearest first (domains excluded).
    pub async fn project_ancestors(&self, project: &Project) -> Result<Vec<Project>> {
        let mut out = Vec::new();
        let mut next = project.parent_id.clone();
        while let Some(id) = next {
            if out.len() >= MAX_DEPTH {
                break;
            }
            match self.store.project_get(&id).await? {
                Some(p) if !p.is_domain => {
                    next = p.parent_id.clone();
                    out.push(p);
                }
                _ => break,
            }
        }
        Ok(out)
    }

    /// Resolves what a token of `user_id` on `scope` means now, through the cache. Fails with
    /// 401 when the user, the project or a domain is gone or disabled, or the user holds no
    /// role on the scope. `app_cred_roles` restricts roles to an application credential's.
    pub async fn resolve_scope(
        &self,
        user_id: &str,
        scope: &Scope,
        app_cred: Option<(&str, &[String])>,
    ) -> Result<Arc<ResolvedScope>> {
        let key = (
            user_id.to_string(),
            scope.clone(),
            app_cred.map(|(id, _)| id.to_string()),
        );
        if let Some(hit) = self.caches.scope(&key) {
            return Ok(hit);
        }
        let resolved = Arc::new(
            self.resolve_scope_uncached(user_id, scope, app_cred)
                .await?,
        );
        self.caches.put_scope(key, resolved.clone());
        Ok(resolved)
    }

    async fn resolve_scope_uncached(
        &self,
        user_id: &str,
        scope: &Scope,
        app_cred: Option<(&str, &[String])>,
    ) -> Result<ResolvedScope> {
        let unauth = Error::unauthenticated;
        let user = self.store.user_get(user_id).await?.ok_or_else(unauth)?;
        if !user.enabled {
            return Err(unauth());
        }
        let user_domain = self
            .store
            .project_get(&user.domain_id)
            .await?
            .ok_or_else(unauth)?;
        if !user_domain.enabled {
            return Err(unauth());
        }
        let mut out = ResolvedScope {
            user_domain_name: user_domain.name.clone(),
            user,
            project: None,
            project_domain_name: None,
            domain: None,
            roles: Vec::new(),
        };
        match scope {
            Scope::Unscoped => return Ok(out),
            Scope::Project(pid) => {
                let p = self.store.project_get(pid).await?.ok_or_else(unauth)?;
                if !p.enabled || p.is_domain {
                    return Err(unauth());
                }
                let d = self
                    .store
                    .project_get(p.domain_id.as_deref().unwrap_or_default())
                    .await?
                    .ok_or_else(unauth)?;
                if !d.enabled {
                    return Err(unauth());
                }
                out.project_domain_name = Some(d.name);
                out.project = Some(p);
            }
            Scope::Domain(did) => {
                let d = self.store.project_get(did).await?.ok_or_else(unauth)?;
                if !d.enabled || !d.is_domain {
                    return Err(unauth());
                }
                out.domain = Some(d);
            }
            Scope::System => {}
        }
        let mut roles = self.effective_roles(&out.user.id, scope).await?;
        if let Some((_, allowed)) = app_cred {
            roles.retain(|r| allowed.contains(&r.id));
        }
        if roles.is_empty() {
            return Err(unauth());
        }
        out.roles = roles;
        Ok(out)
    }

    /// Whether `user_id` holds any role on the project (used for default-project scoping).
    pub async fn has_any_role(&self, user_id: &str, scope: &Scope) -> Result<bool> {
        Ok(!self.assigned_role_ids(user_id, scope).await?.is_empty())
    }
}

/// The actor of a user, for building assignments.
pub fn user_actor(id: &str) -> Actor {
    Actor::User(id.to_string())
}
