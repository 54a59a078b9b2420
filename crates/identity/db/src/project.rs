//! Projects and domains (a domain is a project row with `is_domain`), and project tags.

use common_db::{b2i, db_err, DbRow, Tx};
use common_error::Result;
use identity_model::{ListFilter, Project, ROOT_DOMAIN_SENTINEL};

use crate::query::{Bind, Select};
use crate::{col, extra_from_text, extra_to_text, flag, now_text, Store};

const COLUMNS: &str =
    "SELECT id, name, domain_id, parent_id, description, enabled, is_domain, extra FROM project";

fn from_row(row: &DbRow) -> Result<Project> {
    let is_domain = flag(row, "is_domain")?;
    let domain_id: String = col(row, "domain_id")?;
    Ok(Project {
        id: col(row, "id")?,
        name: col(row, "name")?,
        domain_id: if is_domain { None } else { Some(domain_id) },
        parent_id: col(row, "parent_id")?,
        description: col(row, "description")?,
        enabled: flag(row, "enabled")?,
        is_domain,
        tags: Vec::new(),
        extra: extra_from_text(&col::<String>(row, "extra")?),
    })
}

impl Store {
    /// Inserts a project or domain with its tags. A duplicate name in the domain is a
    /// `Conflict`.
    pub async fn project_create(&self, p: &Project) -> Result<()> {
        let mut tx = self.db().begin().await?;
        let domain_id = p
            .domain_id
            .clone()
            .unwrap_or_else(|| ROOT_DOMAIN_SENTINEL.to_string());
        sqlx::query(
            "INSERT INTO project (id, name, domain_id, parent_id, description, enabled, \
             is_domain, extra, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&p.id)
        .bind(&p.name)
        .bind(domain_id)
        .bind(p.parent_id.clone())
        .bind(&p.description)
        .bind(b2i(p.enabled))
        .bind(b2i(p.is_domain))
        .bind(extra_to_text(&p.extra))
        .bind(now_text())
        .execute(&mut *tx)
        .await
        .map_err(db_err("insert project"))?;
        write_tags(&mut tx, &p.id, &p.tags).await?;
        tx.commit().await.map_err(db_err("commit project"))
    }

    /// A project or domain by id.
    pub async fn project_get(&self, id: &str) -> Result<Option<Project>> {
        let mut s = Select::new(COLUMNS);
        s.eq_text("id", id);
        let rows = s.fetch_all(self.db().reader()).await?;
        let mut out = self.with_tags(rows).await?;
        Ok(out.pop())
    }

    /// A domain by name.
    pub async fn domain_get_by_name(&self, name: &str) -> Result<Option<Project>> {
        let mut s = Select::new(COLUMNS);
        s.eq_text("name", name)
            .eq_text("domain_id", ROOT_DOMAIN_SENTINEL);
        Ok(self
            .with_tags(s.fetch_all(self.db().reader()).await?)
            .await?
            .pop())
    }

    /// A project by name within a domain.
    pub async fn project_get_by_name(
        &self,
        domain_id: &str,
        name: &str,
    ) -> Result<Option<Project>> {
        let mut s = Select::new(COLUMNS);
        s.eq_text("name", name)
            .eq_text("domain_id", domain_id)
            .cond("is_domain = 0", vec![]);
        Ok(self
            .with_tags(s.fetch_all(self.db().reader()).await?)
            .await?
            .pop())
    }

    /// Projects (or, with `f.is_domain == Some(true)`, domains) matching the filter, by name.
    pub async fn project_list(&self, f: &ListFilter) -> Result<Vec<Project>> {
        let mut s = Select::new(COLUMNS);
        match f.is_domain {
            Some(true) => {
                s.cond("is_domain = 1", vec![]);
            }
            Some(false) => {
                s.cond("is_domain = 0", vec![]);
            }
            None => {}
        }
        if let Some(n) = &f.name {
            s.eq_text("name", n);
        }
        if let Some(d) = &f.domain_id {
            s.eq_text("domain_id", d);
        }
        if let Some(p) = &f.parent_id {
            s.eq_text("parent_id", p);
        }
        if let Some(e) = f.enabled {
            s.cond("enabled = ?", vec![Bind::Int(b2i(e))]);
        }
        for t in &f.tags {
            s.cond(
                "id IN (SELECT project_id FROM project_tag WHERE name = ?)",
                vec![Bind::Text(t.clone())],
            );
        }
        if !f.tags_any.is_empty() {
            let marks = vec!["?"; f.tags_any.len()].join(", ");
            s.cond(
                &format!("id IN (SELECT project_id FROM project_tag WHERE name IN ({marks}))"),
                f.tags_any.iter().cloned().map(Bind::Text).collect(),
            );
        }
        if !f.not_tags.is_empty() {
            // Excluded when the project has all of these tags.
            let n = f.not_tags.len() as i64;
            let marks = vec!["?"; f.not_tags.len()].join(", ");
            let mut binds: Vec<Bind> = f.not_tags.iter().cloned().map(Bind::Text).collect();
            binds.push(Bind::Int(n));
            s.cond(
                &format!(
                    "id NOT IN (SELECT project_id FROM project_tag WHERE name IN ({marks}) \
                     GROUP BY project_id HAVING COUNT(*) = ?)"
                ),
                binds,
            );
        }
        if !f.not_tags_any.is_empty() {
            let marks = vec!["?"; f.not_tags_any.len()].join(", ");
            s.cond(
                &format!("id NOT IN (SELECT project_id FROM project_tag WHERE name IN ({marks}))"),
                f.not_tags_any.iter().cloned().map(Bind::Text).collect(),
            );
        }
        s.tail("ORDER BY name, id");
        let rows = s.fetch_all(self.db().reader()).await?;
        self.with_tags(rows).await
    }

    /// Rewrites a project's mutable fields and tags.
    pub async fn project_update(&self, p: &Project) -> Result<()> {
        let mut tx = self.db().begin().await?;
        sqlx::query(
            "UPDATE project SET name = $1, description = $2, enabled = $3, extra = $4 WHERE id = $5",
        )
        .bind(&p.name)
        .bind(&p.description)
        .bind(b2i(p.enabled))
        .bind(extra_to_text(&p.extra))
        .bind(&p.id)
        .execute(&mut *tx)
        .await
        .map_err(db_err("update project"))?;
        sqlx::query("DELETE FROM project_tag WHERE project_id = $1")
            .bind(&p.id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("clear project tags"))?;
        write_tags(&mut tx, &p.id, &p.tags).await?;
        tx.commit().await.map_err(db_err("commit project"))
    }

    /// Deletes a project or domain and every assignment on it. Returns whether it existed.
    pub async fn project_delete(&self, id: &str) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        sqlx::query("DELETE FROM assignment WHERE target_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("delete project assignments"))?;
        sqlx::query(
            "UPDATE identity_user SET default_project_id = NULL WHERE default_project_id = $1",
        )
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err("clear default projects"))?;
        let n = sqlx::query("DELETE FROM project WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("delete project"))?
            .rows_affected();
        tx.commit().await.map_err(db_err("commit project delete"))?;
        Ok(n > 0)
    }

    /// Number of projects whose parent is `id`, or (for a domain) that live in it.
    pub async fn project_children_count(&self, id: &str) -> Result<i64> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM project WHERE (parent_id = $1 OR domain_id = $1) AND id <> $1",
        )
        .bind(id)
        .fetch_one(self.db().reader())
        .await
        .map_err(db_err("count project children"))
    }

    async fn with_tags(&self, rows: Vec<DbRow>) -> Result<Vec<Project>> {
        let mut projects = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        if projects.is_empty() {
            return Ok(projects);
        }
        let ids: Vec<String> = projects.iter().map(|p| p.id.clone()).collect();
        let mut s = Select::new("SELECT project_id, name FROM project_tag");
        if ids.len() <= 500 {
            s.in_text("project_id", &ids);
        }
        s.tail("ORDER BY name");
        let tags = s.fetch_all(self.db().reader()).await?;
        let mut by_id: std::collections::HashMap<String, Vec<String>> = Default::default();
        for t in &tags {
            by_id
                .entry(col(t, "project_id")?)
                .or_default()
                .push(col(t, "name")?);
        }
        for p in &mut projects {
            p.tags = by_id.remove(&p.id).unwrap_or_default();
        }
        Ok(projects)
    }
}

async fn write_tags(tx: &mut Tx<'static>, project_id: &str, tags: &[String]) -> Result<()> {
    for t in tags {
        sqlx::query(
            "INSERT INTO project_tag (project_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(project_id)
        .bind(t)
        .execute(&mut **tx)
        .await
        .map_err(db_err("insert project tag"))?;
    }
    Ok(())
}
