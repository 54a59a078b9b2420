//! The two listing modes of `/v3/role_assignments`, following Keystone's
//! `list_role_assignments`: direct (stored grants, system ones included) and effective
//! (per user and project: groups expanded to members, inherited grants spread down the
//! project tree, implied roles added, domain-specific roles removed).

use std::collections::{HashMap, HashSet};

use common_error::{Error, Result};
use identity_db::AssignmentFilter;
use identity_model::{Actor, AssignmentTarget, ListFilter, Project};

use super::{AssignmentQuery, AssignmentRef};
use crate::Identity;

/// Which stored grants to read (Keystone's driver-level `list_role_assignments`).
#[derive(Default)]
struct Raw<'a> {
    role_id: Option<&'a str>,
    user_id: Option<&'a str>,
    group_ids: Option<&'a [String]>,
    domain_id: Option<&'a str>,
    project_ids: Option<&'a [String]>,
    inherited: Option<bool>,
}

/// Projects of a domain, read once per listing.
#[derive(Default)]
struct Trees {
    by_domain: HashMap<String, Vec<Project>>,
}

impl Identity {
    /// Project and domain grants matching `r`; system grants never (they live apart in
    /// Keystone).
    async fn raw_assignments(&self, r: Raw<'_>) -> Result<Vec<AssignmentRef>> {
        let f = AssignmentFilter {
            user_ids: r.user_id.map(|u| vec![u.to_string()]),
            group_ids: r.group_ids.map(<[String]>::to_vec),
            project_ids: r.project_ids.map(<[String]>::to_vec),
            domain_ids: r.domain_id.map(|d| vec![d.to_string()]),
            system: None,
            role_ids: r.role_id.map(|x| vec![x.to_string()]),
            inherited: r.inherited,
        };
        Ok(self
            .store
            .assignment_list(&f)
            .await?
            .into_iter()
            .filter(|a| a.target != AssignmentTarget::System)
            .map(AssignmentRef::from)
            .collect())
    }

    async fn projects_in_domain<'t>(
        &self,
        trees: &'t mut Trees,
        domain_id: &str,
    ) -> Result<&'t [Project]> {
        if !trees.by_domain.contains_key(domain_id) {
            let f = ListFilter {
                domain_id: Some(domain_id.to_string()),
                is_domain: Some(false),
                ..Default::default()
            };
            let projects = self.store.project_list(&f).await?;
            trees.by_domain.insert(domain_id.to_string(), projects);
        }
        Ok(trees
            .by_domain
            .get(domain_id)
            .map(Vec::as_slice)
            .unwrap_or_default())
    }

    /// Ids of every project below `project_id` (not itself).
    async fn subtree_ids(&self, trees: &mut Trees, project_id: &str) -> Result<Vec<String>> {
        let Some(p) = self.store.project_get(project_id).await? else {
            return Ok(Vec::new());
        };
        let Some(domain_id) = p.domain_id else {
            return Ok(Vec::new());
        };
        let projects = self.projects_in_domain(trees, &domain_id).await?;
        let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
        for q in projects {
            if let Some(parent) = &q.parent_id {
                children
                    .entry(parent.as_str())
                    .or_default()
                    .push(q.id.as_str());
            }
        }
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut stack = vec![project_id];
        while let Some(id) = stack.pop() {
            for c in children.get(id).into_iter().flatten() {
                if seen.insert(*c) {
                    out.push((*c).to_string());
                    stack.push(c);
                }
            }
        }
        Ok(out)
    }

    pub(super) async fn assignments_direct(
        &self,
        q: &AssignmentQuery,
    ) -> Result<Vec<AssignmentRef>> {
        let mut trees = Trees::default();
        let mut project_ids = None;
        if let Some(p) = &q.project_id {
            let mut ids = vec![p.clone()];
            if q.include_subtree {
                ids.extend(self.subtree_ids(&mut trees, p).await?);
            }
            project_ids = Some(ids);
        }
        let group_ids = q.group_id.clone().map(|g| vec![g]);
        let mut out = Vec::new();
        if !q.system_all() {
            out = self
                .raw_assignments(Raw {
                    role_id: q.role_id.as_deref(),
                    user_id: q.user_id.as_deref(),
                    group_ids: group_ids.as_deref(),
                    domain_id: q.domain_id.as_deref(),
                    project_ids: project_ids.as_deref(),
                    inherited: q.inherited,
                })
                .await?;
        }
        if q.system_all() || (q.project_id.is_none() && q.domain_id.is_none()) {
            let f = AssignmentFilter {
                user_ids: q.user_id.clone().map(|u| vec![u]),
                group_ids: if q.user_id.is_none() { group_ids } else { None },
                system: Some(true),
                role_ids: q.role_id.clone().map(|r| vec![r]),
                ..Default::default()
            };
            let system = self.store.assignment_list(&f).await?;
            out.extend(
                system
                    .into_iter()
                    .filter(|a| a.target == AssignmentTarget::System)
                    .map(AssignmentRef::from),
            );
        }
        Ok(out)
    }

    pub(super) async fn assignments_effective(
        &self,
        q: &AssignmentQuery,
    ) -> Result<Vec<AssignmentRef>> {
        if q.group_id.is_some() || (q.domain_id.is_some() && q.inherited == Some(true)) {
            return Ok(Vec::new());
        }
        let inherited = if q.domain_id.is_some() {
            Some(false)
        } else {
            q.inherited
        };
        let mut trees = Trees::default();
        let subtree = match (&q.project_id, q.include_subtree) {
            (Some(p), true) => Some(self.subtree_ids(&mut trees, p).await?),
            _ => None,
        };
        let user = q.user_id.as_deref();
        let mut refs = self
            .for_actor(q, inherited, user, None, subtree.as_deref())
            .await?;
        if let Some(u) = user {
            let groups: Vec<String> = self
                .store
                .groups_for_user(u)
                .await?
                .into_iter()
                .map(|g| g.id)
                .collect();
            if !groups.is_empty() {
                refs.extend(
                    self.for_actor(q, inherited, None, Some(&groups), subtree.as_deref())
                        .await?,
                );
            }
        }
        let mut expanded = Vec::new();
        for r in refs {
            expanded.extend(
                self.expand_indirect(
                    &mut trees,
                    r,
                    user,
                    q.project_id.as_deref(),
                    subtree.as_deref(),
                )
                .await?,
            );
        }
        let mut out = self.add_implied_roles(expanded).await?;
        let mut ids: Vec<String> = out.iter().map(|r| r.role_id.clone()).collect();
        ids.sort();
        ids.dedup();
        let global: HashSet<String> = self
            .store
            .roles_by_ids(&ids)
            .await?
            .into_iter()
            .filter(|r| r.domain_id.is_none())
            .map(|r| r.id)
            .collect();
        out.retain(|r| global.contains(&r.role_id));
        if let Some(role) = &q.role_id {
            out.retain(|r| r.role_id == *role);
        }
        Ok(out)
    }

    /// The grants of an actor (or of every actor) that could affect the query's target.
    async fn for_actor(
        &self,
        q: &AssignmentQuery,
        inherited: Option<bool>,
        user_id: Option<&str>,
        group_ids: Option<&[String]>,
        subtree: Option<&[String]>,
    ) -> Result<Vec<AssignmentRef>> {
        let project_ids: Option<Vec<String>> = q.project_id.as_ref().map(|p| {
            let mut ids = subtree.map(<[String]>::to_vec).unwrap_or_default();
            ids.push(p.clone());
            ids
        });
        let mut out = Vec::new();
        if inherited != Some(true) {
            out = self
                .raw_assignments(Raw {
                    user_id,
                    group_ids,
                    domain_id: q.domain_id.as_deref(),
                    project_ids: project_ids.as_deref(),
                    inherited: Some(false),
                    ..Default::default()
                })
                .await?;
        }
        if inherited == Some(false) {
            return Ok(out);
        }
        match &q.project_id {
            Some(pid) => {
                let project = self.project_get(pid).await?;
                let domain_id = project.domain_id.clone().unwrap_or_default();
                out.extend(
                    self.raw_assignments(Raw {
                        user_id,
                        group_ids,
                        domain_id: Some(&domain_id),
                        inherited: Some(true),
                        ..Default::default()
                    })
                    .await?,
                );
                let mut sources: Vec<String> = self
                    .project_ancestors(&project)
                    .await?
                    .into_iter()
                    .map(|p| p.id)
                    .collect();
                if subtree.is_some_and(|s| !s.is_empty()) {
                    sources.extend(project_ids.unwrap_or_default());
                }
                if !sources.is_empty() {
                    out.extend(
                        self.raw_assignments(Raw {
                            user_id,
                            group_ids,
                            project_ids: Some(&sources),
                            inherited: Some(true),
                            ..Default::default()
                        })
                        .await?,
                    );
                }
            }
            None => {
                out.extend(
                    self.raw_assignments(Raw {
                        user_id,
                        group_ids,
                        inherited: Some(true),
                        ..Default::default()
                    })
                    .await?,
                );
            }
        }
        Ok(out)
    }

    /// Replaces a group grant by one per member (or only `user_id`'s) and an inherited grant
    /// by one per project it reaches.
    async fn expand_indirect(
        &self,
        trees: &mut Trees,
        r: AssignmentRef,
        user_id: Option<&str>,
        project_id: Option<&str>,
        subtree: Option<&[String]>,
    ) -> Result<Vec<AssignmentRef>> {
        if !r.inherited_to_projects {
            return match &r.actor {
                Actor::Group(g) => {
                    let members = self.members(g, user_id).await?;
                    Ok(members.into_iter().map(|u| from_group(&r, u)).collect())
                }
                Actor::User(_) => Ok(vec![r]),
            };
        }
        let projects: Vec<String> = match (project_id, &r.target) {
            (Some(p), target) => {
                let mut ids = vec![p.to_string()];
                if let Some(s) = subtree.filter(|s| !s.is_empty()) {
                    ids.extend(s.iter().cloned());
                    if let AssignmentTarget::Project(point) = target {
                        if ids.contains(point) {
                            ids = self.subtree_ids(trees, point).await?;
                        }
                    }
                }
                ids
            }
            (None, AssignmentTarget::Domain(d)) => self
                .projects_in_domain(trees, d)
                .await?
                .iter()
                .map(|p| p.id.clone())
                .collect(),
            (None, AssignmentTarget::Project(point)) => self.subtree_ids(trees, point).await?,
            (None, AssignmentTarget::System) => Vec::new(),
        };
        let bases = match &r.actor {
            Actor::Group(g) => self
                .members(g, user_id)
                .await?
                .into_iter()
                .map(|u| from_group(&r, u))
                .collect(),
            Actor::User(_) => vec![r],
        };
        let mut out = Vec::with_capacity(bases.len() * projects.len());
        for base in &bases {
            for p in &projects {
                out.push(inherited_onto(base, p));
            }
        }
        Ok(out)
    }

    async fn members(&self, group_id: &str, user_id: Option<&str>) -> Result<Vec<String>> {
        if let Some(u) = user_id {
            return Ok(vec![u.to_string()]);
        }
        Ok(self
            .store
            .users_in_group(group_id)
            .await?
            .into_iter()
            .map(|u| u.id)
            .collect())
    }

    /// Adds, for every assignment, one per role its role implies (transitively), recording
    /// the prior role, and stops on cycles the way Keystone does.
    async fn add_implied_roles(&self, refs: Vec<AssignmentRef>) -> Result<Vec<AssignmentRef>> {
        let mut graph: HashMap<String, Vec<String>> = HashMap::new();
        for (p, i) in self.store.implied_role_list().await? {
            graph.entry(p).or_default().push(i);
        }
        if graph.is_empty() {
            return Ok(refs);
        }
        let mut results = refs.clone();
        let mut to_check = refs;
        let mut checked: HashSet<AssignmentRef> = HashSet::new();
        while let Some(next) = to_check.pop() {
            checked.insert(next.clone());
            for implied in graph.get(&next.role_id).into_iter().flatten() {
                let mut copy = next.clone();
                copy.role_id = implied.clone();
                copy.indirect.role_id = Some(next.role_id.clone());
                if checked.contains(&copy) {
                    continue;
                }
                results.push(copy.clone());
                to_check.push(copy);
            }
            if results.len() > 1_000_000 {
                return Err(Error::internal(
                    "expand implied roles",
                    "too many assignments",
                ));
            }
        }
        Ok(results)
    }
}

fn from_group(r: &AssignmentRef, user_id: String) -> AssignmentRef {
    let mut out = r.clone();
    if let Actor::Group(g) = &r.actor {
        out.indirect.group_id = Some(g.clone());
    }
    out.actor = Actor::User(user_id);
    out
}

fn inherited_onto(base: &AssignmentRef, project_id: &str) -> AssignmentRef {
    let mut out = base.clone();
    match &base.target {
        AssignmentTarget::Project(p) => out.indirect.project_id = Some(p.clone()),
        AssignmentTarget::Domain(d) => out.indirect.domain_id = Some(d.clone()),
        AssignmentTarget::System => {}
    }
    out.target = AssignmentTarget::Project(project_id.to_string());
    out.inherited_to_projects = false;
    out
}

#[cfg(test)]
mod tests {
    use identity_model::{Assignment, Extra, Group, Role, User};

    use super::*;

    async fn identity() -> (Identity, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("ft-assign-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("db.sqlite").display());
        let db = common_db::Db::connect(&url, 2, std::time::Duration::from_secs(5))
            .await
            .unwrap();
        let store = identity_db::Store::new(db);
        store.migrate().await.unwrap();
        let keys = identity_token::KeyRepository::new(dir.join("keys"));
        let id = Identity::new(store, common_config::IdentityConfig::default(), keys).unwrap();
        id.project_create(Project {
            id: "d".into(),
            name: "D".into(),
            domain_id: None,
            parent_id: None,
            description: String::new(),
            enabled: true,
            is_domain: true,
            tags: vec![],
            extra: Extra::new(),
        })
        .await
        .unwrap();
        (id, dir)
    }

    fn role(id: &str) -> Role {
        Role {
            id: id.into(),
            name: id.into(),
            domain_id: None,
            description: None,
            options: Extra::new(),
        }
    }

    async fn project(id: &Identity, pid: &str, parent: Option<&str>) {
        id.project_create(Project {
            id: pid.into(),
            name: pid.into(),
            domain_id: Some("d".into()),
            parent_id: parent.map(str::to_string),
            description: String::new(),
            enabled: true,
            is_domain: false,
            tags: vec![],
            extra: Extra::new(),
        })
        .await
        .unwrap();
    }

    fn grant(actor: Actor, target: AssignmentTarget, role: &str, inherited: bool) -> Assignment {
        Assignment {
            actor,
            target,
            role_id: role.into(),
            inherited,
        }
    }

    #[tokio::test]
    async fn effective_mode_expands_and_survives_implication_cycles() {
        let (id, dir) = identity().await;
        for r in ["a", "b", "c"] {
            id.role_create(role(r)).await.unwrap();
        }
        // a -> b -> a is a cycle Keystone tolerates; c is unrelated.
        id.implied_role_create("a", "b").await.unwrap();
        id.implied_role_create("b", "a").await.unwrap();
        project(&id, "top", None).await;
        project(&id, "leaf", Some("top")).await;
        let user = User {
            id: "u".into(),
            name: "u".into(),
            domain_id: "d".into(),
            enabled: true,
            default_project_id: None,
            description: None,
            email: None,
            password_expires_at: None,
            extra: Extra::new(),
        };
        id.store.user_create(&user, None, 0).await.unwrap();
        let group = Group {
            id: "g".into(),
            name: "g".into(),
            domain_id: "d".into(),
            description: String::new(),
            extra: Extra::new(),
        };
        id.store.group_create(&group).await.unwrap();
        id.store.group_add_user("g", "u").await.unwrap();
        id.grant_create(&grant(
            Actor::Group("g".into()),
            AssignmentTarget::Project("top".into()),
            "a",
            false,
        ))
        .await
        .unwrap();
        id.grant_create(&grant(
            Actor::User("u".into()),
            AssignmentTarget::Domain("d".into()),
            "c",
            true,
        ))
        .await
        .unwrap();

        let q = AssignmentQuery {
            user_id: Some("u".into()),
            effective: true,
            ..Default::default()
        };
        let refs = id.role_assignment_list(&q).await.unwrap();
        let on = |p: &str, r: &str| {
            refs.iter()
                .filter(|x| x.target == AssignmentTarget::Project(p.into()) && x.role_id == r)
                .count()
        };
        assert!(on("top", "a") >= 1 && on("top", "b") >= 1, "{refs:#?}");
        assert!(refs.iter().all(|x| x.actor == Actor::User("u".into())));
        assert_eq!(on("top", "c"), 1, "domain-inherited onto every project");
        assert_eq!(on("leaf", "c"), 1);
        assert_eq!(on("leaf", "a"), 0, "a plain project grant is not inherited");
        let via_group = refs
            .iter()
            .find(|x| x.role_id == "a" && x.indirect.role_id.is_none())
            .unwrap();
        assert_eq!(via_group.indirect.group_id.as_deref(), Some("g"));

        // Filtering on the leaf keeps only what reaches it.
        let q = AssignmentQuery {
            user_id: Some("u".into()),
            project_id: Some("leaf".into()),
            effective: true,
            ..Default::default()
        };
        let refs = id.role_assignment_list(&q).await.unwrap();
        assert_eq!(refs.len(), 1, "{refs:#?}");
        assert_eq!(refs[0].indirect.domain_id.as_deref(), Some("d"));

        // The same assignments, direct: one group grant and one inherited domain grant.
        let q = AssignmentQuery {
            ..Default::default()
        };
        assert_eq!(id.role_assignment_list(&q).await.unwrap().len(), 2);
        let _ = std::fs::remove_dir_all(dir);
    }
}
