//! Role assignments (grants) of users and groups on projects, domains and the system.

use common_db::{b2i, db_err, DbRow};
use common_error::Result;
use identity_model::{Actor, Assignment, AssignmentTarget};

use crate::query::{Bind, Select};
use crate::{col, flag, Store};

/// The target id stored for system assignments.
const SYSTEM_TARGET: &str = "system";

fn kind(a: &Actor, t: &AssignmentTarget) -> &'static str {
    match (a, t) {
        (Actor::User(_), AssignmentTarget::Project(_)) => "UserProject",
        (Actor::Group(_), AssignmentTarget::Project(_)) => "GroupProject",
        (Actor::User(_), AssignmentTarget::Domain(_)) => "UserDomain",
        (Actor::Group(_), AssignmentTarget::Domain(_)) => "GroupDomain",
        (Actor::User(_), AssignmentTarget::System) => "UserSystem",
        (Actor::Group(_), AssignmentTarget::System) => "GroupSystem",
    }
}

fn actor_id(a: &Actor) -> &str {
    match a {
        Actor::User(id) | Actor::Group(id) => id,
    }
}

fn target_id(t: &AssignmentTarget) -> &str {
    match t {
        AssignmentTarget::Project(id) | AssignmentTarget::Domain(id) => id,
        AssignmentTarget::System => SYSTEM_TARGET,
    }
}

fn from_row(row: &DbRow) -> Result<Assignment> {
    let kind: String = col(row, "kind")?;
    let actor: String = col(row, "actor_id")?;
    let target: String = col(row, "target_id")?;
    let actor = if kind.starts_with("User") {
        Actor::User(actor)
    } else {
        Actor::Group(actor)
    };
    let target = if kind.ends_with("Project") {
        AssignmentTarget::Project(target)
    } else if kind.ends_with("Domain") {
        AssignmentTarget::Domain(target)
    } else {
        AssignmentTarget::System
    };
    Ok(Assignment {
        actor,
        target,
        role_id: col(row, "role_id")?,
        inherited: flag(row, "inherited")?,
    })
}

/// Filters for listing assignments; unset fields match everything.
#[derive(Debug, Clone, Default)]
pub struct AssignmentFilter {
    pub user_ids: Option<Vec<String>>,
    pub group_ids: Option<Vec<String>>,
    pub project_ids: Option<Vec<String>>,
    pub domain_ids: Option<Vec<String>>,
    pub system: Option<bool>,
    pub role_ids: Option<Vec<String>>,
    pub inherited: Option<bool>,
}

impl Store {
    /// Grants a role (idempotent).
    pub async fn assignment_create(&self, a: &Assignment) -> Result<()> {
        let mut tx = self.db().begin().await?;
        sqlx::query(
            "INSERT INTO assignment (kind, actor_id, target_id, role_id, inherited) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(kind(&a.actor, &a.target))
        .bind(actor_id(&a.actor))
        .bind(target_id(&a.target))
        .bind(&a.role_id)
        .bind(b2i(a.inherited))
        .execute(&mut *tx)
        .await
        .map_err(db_err("insert assignment"))?;
        tx.commit().await.map_err(db_err("commit assignment"))
    }

    /// Revokes a role; returns whether the grant existed.
    pub async fn assignment_delete(&self, a: &Assignment) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        let n = sqlx::query(
            "DELETE FROM assignment WHERE kind = $1 AND actor_id = $2 AND target_id = $3 \
             AND role_id = $4 AND inherited = $5",
        )
        .bind(kind(&a.actor, &a.target))
        .bind(actor_id(&a.actor))
        .bind(target_id(&a.target))
        .bind(&a.role_id)
        .bind(b2i(a.inherited))
        .execute(&mut *tx)
        .await
        .map_err(db_err("delete assignment"))?
        .rows_affected();
        tx.commit().await.map_err(db_err("commit assignment"))?;
        Ok(n > 0)
    }

    /// Whether exactly this grant exists.
    pub async fn assignment_exists(&self, a: &Assignment) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM assignment WHERE kind = $1 AND actor_id = $2 AND target_id = $3 \
             AND role_id = $4 AND inherited = $5",
        )
        .bind(kind(&a.actor, &a.target))
        .bind(actor_id(&a.actor))
        .bind(target_id(&a.target))
        .bind(&a.role_id)
        .bind(b2i(a.inherited))
        .fetch_one(self.db().reader())
        .await
        .map_err(db_err("check assignment"))?;
        Ok(n > 0)
    }

    /// Direct (stored) assignments matching the filter. Actor and target filters combine as
    /// Keystone's do: users OR groups, projects OR domains OR system.
    pub async fn assignment_list(&self, f: &AssignmentFilter) -> Result<Vec<Assignment>> {
        let mut s =
            Select::new("SELECT kind, actor_id, target_id, role_id, inherited FROM assignment");
        let mut actor_conds = Vec::new();
        let mut binds = Vec::new();
        for (ids, prefix) in [(&f.user_ids, "User"), (&f.group_ids, "Group")] {
            if let Some(ids) = ids {
                if ids.is_empty() {
                    continue;
                }
                let marks = vec!["?"; ids.len()].join(", ");
                actor_conds.push(format!("(kind LIKE '{prefix}%' AND actor_id IN ({marks}))"));
                binds.extend(ids.iter().cloned().map(Bind::Text));
            }
        }
        if f.user_ids.is_some() || f.group_ids.is_some() {
            if actor_conds.is_empty() {
                s.cond("1 = 0", vec![]);
            } else {
                s.cond(&format!("({})", actor_conds.join(" OR ")), binds);
            }
        }
        let mut target_conds = Vec::new();
        let mut binds = Vec::new();
        for (ids, suffix) in [(&f.project_ids, "Project"), (&f.domain_ids, "Domain")] {
            if let Some(ids) = ids {
                if ids.is_empty() {
                    continue;
                }
                let marks = vec!["?"; ids.len()].join(", ");
                target_conds.push(format!(
                    "(kind LIKE '%{suffix}' AND target_id IN ({marks}))"
                ));
                binds.extend(ids.iter().cloned().map(Bind::Text));
            }
        }
        if f.system == Some(true) {
            target_conds.push("kind LIKE '%System'".into());
        }
        if f.project_ids.is_some() || f.domain_ids.is_some() || f.system == Some(true) {
            if target_conds.is_empty() {
                s.cond("1 = 0", vec![]);
            } else {
                s.cond(&format!("({})", target_conds.join(" OR ")), binds);
            }
        }
        if let Some(roles) = &f.role_ids {
            s.in_text("role_id", roles);
        }
        if let Some(i) = f.inherited {
            s.cond("inherited = ?", vec![Bind::Int(b2i(i))]);
        }
        s.tail("ORDER BY kind, actor_id, target_id, role_id");
        s.fetch_all(self.db().reader())
            .await?
            .iter()
            .map(from_row)
            .collect()
    }
}
