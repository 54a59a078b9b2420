//! Instance lists: by the columns the API filters on (the domain applies the rest, sorts
//! and pages), and the host map the scheduler needs.

use std::collections::BTreeMap;

use common_db::{b2i, db_err};
use common_error::Result;
use compute_model::Instance;

use super::sql::{Bind, Stmt};
use super::{instance_row, INSTANCE_COLUMNS};
use crate::{col, Store};

/// Which rows a list reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReadDeleted {
    /// Only live rows.
    #[default]
    No,
    /// Only deleted rows.
    Only,
    /// Both.
    Yes,
}

/// Column filters of an instance list; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceQuery {
    pub project_id: Option<String>,
    pub user_id: Option<String>,
    pub host: Option<String>,
    pub node: Option<String>,
    pub image_ref: Option<String>,
    pub availability_zone: Option<String>,
    pub locked: Option<bool>,
    pub uuids: Option<Vec<String>>,
    pub deleted: ReadDeleted,
    /// `updated_at >=` this (stored format).
    pub changed_since: Option<String>,
    /// `updated_at <=` this (stored format).
    pub changed_before: Option<String>,
    /// Only instances with a task state or still building.
    pub busy: bool,
}

impl Store {
    /// Instances matching `q` with metadata, tags and latest fault, oldest first.
    pub async fn instance_list(&self, q: &InstanceQuery) -> Result<Vec<Instance>> {
        let mut s = Stmt::new(&format!(
            "SELECT {INSTANCE_COLUMNS} FROM compute_instance WHERE 1 = 1"
        ));
        for (column, v) in [
            ("project_id", &q.project_id),
            ("user_id", &q.user_id),
            ("host", &q.host),
            ("node", &q.node),
            ("image_ref", &q.image_ref),
            ("availability_zone", &q.availability_zone),
        ] {
            if let Some(v) = v {
                s.push(&format!(" AND {column} = ?"), vec![v.clone().into()]);
            }
        }
        if let Some(l) = q.locked {
            s.push(" AND locked = ?", vec![b2i(l).into()]);
        }
        if let Some(u) = &q.uuids {
            if u.is_empty() {
                return Ok(Vec::new());
            }
            s.push(" AND uuid IN ", vec![]);
            s.push_list(u.iter().cloned().map(Bind::Text).collect());
        }
        match q.deleted {
            ReadDeleted::No => s.push(" AND deleted = 0", vec![]),
            ReadDeleted::Only => s.push(" AND deleted <> 0", vec![]),
            ReadDeleted::Yes => &mut s,
        };
        if let Some(t) = &q.changed_since {
            s.push(" AND updated_at >= ?", vec![t.clone().into()]);
        }
        if let Some(t) = &q.changed_before {
            s.push(" AND updated_at <= ?", vec![t.clone().into()]);
        }
        if q.busy {
            s.push(
                " AND (task_state IS NOT NULL OR vm_state = 'building')",
                vec![],
            );
        }
        s.push(" ORDER BY created_at, uuid", vec![]);
        let rows = s.fetch_all(self.db().reader(), "list instances").await?;
        let mut out = rows.iter().map(instance_row).collect::<Result<Vec<_>>>()?;
        self.fill(&mut out).await?;
        Ok(out)
    }

    /// host → uuids of the live instances placed on it.
    pub async fn instance_hosts(&self) -> Result<BTreeMap<String, Vec<String>>> {
        let rows = sqlx::query(
            "SELECT uuid, host FROM compute_instance WHERE deleted = 0 AND host IS NOT NULL ORDER BY uuid",
        )
        .fetch_all(self.db().reader())
        .await
        .map_err(db_err("read instance hosts"))?;
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in &rows {
            out.entry(col(r, "host")?)
                .or_default()
                .push(col(r, "uuid")?);
        }
        Ok(out)
    }
}
