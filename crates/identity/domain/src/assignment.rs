//! Role assignments (grants) of users and groups on projects, domains and the system, with
//! OS-INHERIT inheritance to the projects below a target, and the `/v3/role_assignments`
//! listing in Keystone's direct and effective modes.
//!
//! Every grant change forgets cached token scopes, so a token's roles follow at once: a
//! token whose user lost every role on its project fails validation (401).

mod effective;

use std::collections::HashMap;

use common_error::{Error, Result};
use identity_db::AssignmentFilter;
use identity_model::{Actor, Assignment, AssignmentTarget, Group, Project, Role, User};

use crate::Identity;

/// What a grant request names, looked up (for the policy target) in Keystone's order: the
/// role, the actor, then the target.
#[derive(Debug, Clone, Default)]
pub struct GrantSubject {
    pub role: Option<Role>,
    pub user: Option<User>,
    pub group: Option<Group>,
    pub project: Option<Project>,
    pub domain: Option<Project>,
}

/// Where an expanded assignment came from (Keystone's `indirect`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Indirect {
    /// Held through membership of this group.
    pub group_id: Option<String>,
    /// Inherited from a grant on this project.
    pub project_id: Option<String>,
    /// Inherited from a grant on this domain.
    pub domain_id: Option<String>,
    /// Implied by this prior role.
    pub role_id: Option<String>,
}

/// One row of `/v3/role_assignments`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AssignmentRef {
    pub actor: Actor,
    pub target: AssignmentTarget,
    pub role_id: String,
    /// A stored grant that is inherited to the projects below its target.
    pub inherited_to_projects: bool,
    pub indirect: Indirect,
}

impl From<Assignment> for AssignmentRef {
    fn from(a: Assignment) -> Self {
        AssignmentRef {
            actor: a.actor,
            target: a.target,
            role_id: a.role_id,
            inherited_to_projects: a.inherited,
            indirect: Indirect::default(),
        }
    }
}

/// The filters of `GET /v3/role_assignments`.
#[derive(Debug, Clone, Default)]
pub struct AssignmentQuery {
    pub role_id: Option<String>,
    pub user_id: Option<String>,
    pub group_id: Option<String>,
    /// `scope.system`: only `all` selects system assignments, but any value conflicts with a
    /// project or domain filter.
    pub system: Option<String>,
    pub domain_id: Option<String>,
    pub project_id: Option<String>,
    pub include_subtree: bool,
    /// `scope.OS-INHERIT:inherited_to`: `Some(true)` for `projects`, `Some(false)` for any
    /// other value, `None` when absent (both kinds).
    pub inherited: Option<bool>,
    pub effective: bool,
    /// For a domain-scoped caller: keep only assignments on that domain or its projects.
    pub within_domain: Option<String>,
}

impl AssignmentQuery {
    /// Whether `scope.system=all` selects system assignments.
    pub fn system_all(&self) -> bool {
        self.system.as_deref() == Some("all")
    }

    /// Keystone's refusals of filter combinations that make no sense.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::bad_request(m));
        if self.domain_id.is_some() && self.project_id.is_some() {
            return bad("Specify a domain or project, not both");
        }
        if self.domain_id.is_some() && self.system.is_some() {
            return bad("Specify system or domain, not both");
        }
        if self.project_id.is_some() && self.system.is_some() {
            return bad("Specify system or project, not both");
        }
        if self.user_id.is_some() && self.group_id.is_some() {
            return bad("Specify a user or group, not both");
        }
        if self.effective && self.group_id.is_some() {
            return bad(
                "Combining effective and group filter will always result in an empty list.",
            );
        }
        if self.effective && self.inherited == Some(true) && self.domain_id.is_some() {
            return bad("Combining effective, domain and inherited filters will always result in an empty list.");
        }
        if self.include_subtree && self.project_id.is_none() {
            return bad("scope.project.id must be specified if include_subtree is also specified");
        }
        Ok(())
    }
}

/// A name with, for users, groups, projects and domain-specific roles, its domain
/// `(id, name)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Named {
    pub name: String,
    pub domain: Option<(String, String)>,
}

/// The names `include_names` adds to one assignment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssignmentNames {
    pub actor: Named,
    /// `None` for the system.
    pub target: Option<Named>,
    pub role: Named,
}

fn assignment_not_found(a: &Assignment) -> Error {
    let actor = match &a.actor {
        Actor::User(id) | Actor::Group(id) => id.as_str(),
    };
    let target = match &a.target {
        AssignmentTarget::Project(id) | AssignmentTarget::Domain(id) => id.as_str(),
        AssignmentTarget::System => "system",
    };
    // Renders as Keystone's "Could not find role assignment with role: R, user or group: A,
    // project, domain, or system: T."
    Error::not_found(
        "role assignment with role",
        format!(
            "{}, user or group: {actor}, project, domain, or system: {target}",
            a.role_id
        ),
    )
}

impl Identity {
    /// Looks up what a grant request names, failing with 404 on the first thing missing
    /// (role, actor, target), as Keystone builds its policy target. A missing actor is
    /// tolerated with `allow_missing_actor` (revoking a deleted user's leftover grant).
    pub async fn grant_subject(
        &self,
        role_id: Option<&str>,
        actor: &Actor,
        target: &AssignmentTarget,
        allow_missing_actor: bool,
    ) -> Result<GrantSubject> {
        let mut s = GrantSubject::default();
        if let Some(r) = role_id {
            s.role = Some(self.role_get(r).await?);
        }
        match actor {
            Actor::User(id) => {
                s.user = self.store.user_get(id).await?;
                if s.user.is_none() && !allow_missing_actor {
                    return Err(Error::not_found("user", id.clone()));
                }
            }
            Actor::Group(id) => {
                s.group = self.store.group_get(id).await?;
                if s.group.is_none() && !allow_missing_actor {
                    return Err(Error::not_found("group", id.clone()));
                }
            }
        }
        match target {
            AssignmentTarget::Project(id) => s.project = Some(self.project_get(id).await?),
            AssignmentTarget::Domain(id) => s.domain = Some(self.domain_get(id).await?),
            AssignmentTarget::System => {}
        }
        Ok(s)
    }

    /// Grants a role (idempotent). A domain-specific role can only be granted on a project
    /// of its domain (403), never on the system (400).
    pub async fn grant_create(&self, a: &Assignment) -> Result<()> {
        let s = self
            .grant_subject(Some(&a.role_id), &a.actor, &a.target, false)
            .await?;
        let role = s
            .role
            .ok_or_else(|| Error::not_found("role", a.role_id.clone()))?;
        match (&a.target, &role.domain_id) {
            (AssignmentTarget::Project(pid), Some(rd))
                if s.project.and_then(|p| p.domain_id).as_deref() != Some(rd.as_str()) =>
            {
                return Err(Error::forbidden(format!(
                    "Project {pid} must be in the same domain as the role {} being assigned.",
                    role.id
                )));
            }
            (AssignmentTarget::System, Some(_)) => {
                return Err(Error::bad_request(format!(
                    "Role {} is a domain-specific role. Unable to use a domain-specific role in a system assignment.",
                    role.id
                )));
            }
            _ => {}
        }
        if a.inherited && a.target == AssignmentTarget::System {
            return Err(Error::bad_request(
                "System assignments cannot be inherited.",
            ));
        }
        self.store.assignment_create(a).await?;
        self.invalidate();
        Ok(())
    }

    /// Whether exactly this grant exists: `Ok` or 404.
    pub async fn grant_check(&self, a: &Assignment) -> Result<()> {
        self.role_get(&a.role_id).await?;
        if self.store.assignment_exists(a).await? {
            Ok(())
        } else {
            Err(assignment_not_found(a))
        }
    }

    /// Revokes a grant (404 when there is none). Tokens are re-resolved on their next
    /// validation: one that no longer carries any role on its scope is refused.
    pub async fn grant_delete(&self, a: &Assignment) -> Result<()> {
        self.role_get(&a.role_id).await?;
        if !self.store.assignment_delete(a).await? {
            return Err(assignment_not_found(a));
        }
        self.invalidate();
        // Keystone deletes a user's application credentials on a project once the user
        // holds no role there any more.
        if let (Actor::User(uid), AssignmentTarget::Project(pid)) = (&a.actor, &a.target) {
            let scope = identity_model::Scope::Project(pid.clone());
            if !self.has_any_role(uid, &scope).await? {
                self.app_creds_purge(uid, Some(pid)).await?;
            }
        }
        Ok(())
    }

    /// The roles granted directly to an actor on a target (`inherited` selects the
    /// OS-INHERIT grants instead).
    pub async fn grant_list(
        &self,
        actor: &Actor,
        target: &AssignmentTarget,
        inherited: bool,
    ) -> Result<Vec<Role>> {
        let mut f = AssignmentFilter {
            inherited: Some(inherited),
            ..Default::default()
        };
        match actor {
            Actor::User(id) => f.user_ids = Some(vec![id.clone()]),
            Actor::Group(id) => f.group_ids = Some(vec![id.clone()]),
        }
        match target {
            AssignmentTarget::Project(id) => f.project_ids = Some(vec![id.clone()]),
            AssignmentTarget::Domain(id) => f.domain_ids = Some(vec![id.clone()]),
            AssignmentTarget::System => f.system = Some(true),
        }
        let mut ids: Vec<String> = self
            .store
            .assignment_list(&f)
            .await?
            .into_iter()
            .filter(|a| a.target == *target)
            .map(|a| a.role_id)
            .collect();
        ids.sort();
        ids.dedup();
        self.store.roles_by_ids(&ids).await
    }

    /// `GET /v3/role_assignments`: stored assignments matching the filters or, in effective
    /// mode, what they amount to per user and project (groups expanded to their members,
    /// inherited grants to the projects below, roles through their implications, no
    /// domain-specific roles), as Keystone computes them.
    pub async fn role_assignment_list(&self, q: &AssignmentQuery) -> Result<Vec<AssignmentRef>> {
        q.validate()?;
        let refs = if q.effective {
            self.assignments_effective(q).await?
        } else {
            self.assignments_direct(q).await?
        };
        match &q.within_domain {
            None => Ok(refs),
            Some(d) => self.assignments_within_domain(refs, d).await,
        }
    }

    async fn assignments_within_domain(
        &self,
        refs: Vec<AssignmentRef>,
        domain_id: &str,
    ) -> Result<Vec<AssignmentRef>> {
        let mut project_domain: HashMap<String, Option<String>> = HashMap::new();
        let mut out = Vec::new();
        for r in refs {
            let keep = match &r.target {
                AssignmentTarget::Domain(d) => d == domain_id,
                AssignmentTarget::Project(p) => {
                    if !project_domain.contains_key(p) {
                        let d = self.store.project_get(p).await?.and_then(|p| p.domain_id);
                        project_domain.insert(p.clone(), d);
                    }
                    project_domain.get(p).and_then(|d| d.as_deref()) == Some(domain_id)
                }
                AssignmentTarget::System => false,
            };
            if keep {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// The names `include_names` adds, one entry per assignment. Actors that no longer
    /// exist get empty names, as in Keystone.
    pub async fn role_assignment_names(
        &self,
        refs: &[AssignmentRef],
    ) -> Result<Vec<AssignmentNames>> {
        let mut domains: HashMap<String, String> = HashMap::new();
        let mut actors: HashMap<Actor, Named> = HashMap::new();
        let mut targets: HashMap<AssignmentTarget, Named> = HashMap::new();
        let mut roles: HashMap<String, Named> = HashMap::new();
        let mut out = Vec::with_capacity(refs.len());
        for r in refs {
            if !actors.contains_key(&r.actor) {
                let named = match &r.actor {
                    Actor::User(id) => match self.store.user_get(id).await? {
                        Some(u) => Named {
                            domain: Some(self.domain_pair(&u.domain_id, &mut domains).await?),
                            name: u.name,
                        },
                        None => Named {
                            name: String::new(),
                            domain: Some((String::new(), String::new())),
                        },
                    },
                    Actor::Group(id) => match self.store.group_get(id).await? {
                        Some(g) => Named {
                            domain: Some(self.domain_pair(&g.domain_id, &mut domains).await?),
                            name: g.name,
                        },
                        None => Named {
                            name: String::new(),
                            domain: Some((String::new(), String::new())),
                        },
                    },
                };
                actors.insert(r.actor.clone(), named);
            }
            if r.target != AssignmentTarget::System && !targets.contains_key(&r.target) {
                let named = match &r.target {
                    AssignmentTarget::Project(id) => match self.store.project_get(id).await? {
                        Some(p) => {
                            let d = p.domain_id.clone().unwrap_or_default();
                            Named {
                                domain: Some(self.domain_pair(&d, &mut domains).await?),
                                name: p.name,
                            }
                        }
                        None => Named {
                            name: String::new(),
                            domain: Some((String::new(), String::new())),
                        },
                    },
                    AssignmentTarget::Domain(id) => Named {
                        name: self.domain_pair(id, &mut domains).await?.1,
                        domain: None,
                    },
                    AssignmentTarget::System => Named::default(),
                };
                targets.insert(r.target.clone(), named);
            }
            if !roles.contains_key(&r.role_id) {
                let named = match self.store.role_get(&r.role_id).await? {
                    Some(role) => {
                        let domain = match &role.domain_id {
                            Some(d) => Some(self.domain_pair(d, &mut domains).await?),
                            None => None,
                        };
                        Named {
                            name: role.name,
                            domain,
                        }
                    }
                    None => Named::default(),
                };
                roles.insert(r.role_id.clone(), named);
            }
            out.push(AssignmentNames {
                actor: actors.get(&r.actor).cloned().unwrap_or_default(),
                target: targets.get(&r.target).cloned(),
                role: roles.get(&r.role_id).cloned().unwrap_or_default(),
            });
        }
        Ok(out)
    }

    async fn domain_pair(
        &self,
        id: &str,
        cache: &mut HashMap<String, String>,
    ) -> Result<(String, String)> {
        if let Some(n) = cache.get(id) {
            return Ok((id.to_string(), n.clone()));
        }
        let name = self
            .store
            .project_get(id)
            .await?
            .map(|d| d.name)
            .unwrap_or_default();
        cache.insert(id.to_string(), name.clone());
        Ok((id.to_string(), name))
    }
}
