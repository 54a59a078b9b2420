//! The image list: visibility for the caller, filters, multi-key sorting and keyset
//! pagination after a marker image, all in SQL.

use common_error::{Error, Result};
use image_model::{Image, ListQuery};

use crate::image::COLUMNS;
use crate::query::{Bind, Select};
use crate::Store;

/// Text columns usable in equality and `in:` filters.
const TEXT_COLUMNS: &[&str] = &[
    "id",
    "name",
    "status",
    "visibility",
    "owner",
    "disk_format",
    "container_format",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
];
/// Integer columns usable in equality and `_min`/`_max` filters.
const INT_COLUMNS: &[&str] = &["size", "virtual_size", "min_disk", "min_ram"];

/// The SQL expression a sort key orders by, with NULLs coalesced so both engines agree.
fn sort_expr(key: &str) -> Option<&'static str> {
    Some(match key {
        "name" => "COALESCE(i.name, '')",
        "status" => "i.status",
        "container_format" => "COALESCE(i.container_format, '')",
        "disk_format" => "COALESCE(i.disk_format, '')",
        "size" => "COALESCE(i.size, -1)",
        "id" => "i.id",
        "created_at" => "i.created_at",
        "updated_at" => "i.updated_at",
        _ => return None,
    })
}

/// The marker image's value for a sort key, coalesced as [`sort_expr`] does.
fn marker_value(m: &Image, key: &str) -> Bind {
    let t = |v: &Option<String>| Bind::Text(v.clone().unwrap_or_default());
    match key {
        "name" => t(&m.name),
        "status" => Bind::Text(m.status.as_str().into()),
        "container_format" => t(&m.container_format),
        "disk_format" => t(&m.disk_format),
        "size" => Bind::Int(m.size.unwrap_or(-1)),
        "created_at" => Bind::Text(m.created_at.clone()),
        "updated_at" => Bind::Text(m.updated_at.clone()),
        _ => Bind::Text(m.id.clone()),
    }
}

fn unknown(what: &str) -> Error {
    Error::internal("build image list", format!("unknown column {what}"))
}

impl Store {
    /// One page of images for `q`, after `marker` (already checked visible by the caller).
    pub async fn image_list(&self, q: &ListQuery, marker: Option<&Image>) -> Result<Vec<Image>> {
        let mut s = Select::new(COLUMNS);
        s.cond("i.deleted = 0", vec![]);
        if !q.is_admin {
            match &q.project_id {
                Some(p) => {
                    let members = match q.member_status {
                        Some(ms) => format!(
                            "i.id IN (SELECT image_id FROM image_member WHERE member = ? AND status = '{}')",
                            ms.as_str()
                        ),
                        None => "i.id IN (SELECT image_id FROM image_member WHERE member = ?)".to_string(),
                    };
                    s.cond(
                        &format!(
                            "(i.visibility IN ('public', 'community') OR i.owner = ? OR \
                             (i.visibility = 'shared' AND {members}))"
                        ),
                        vec![Bind::Text(p.clone()), Bind::Text(p.clone())],
                    );
                }
                None => {
                    s.cond("i.visibility IN ('public', 'community')", vec![]);
                }
            }
        }
        match (q.visibility, q.visibility_all) {
            (Some(v), _) => {
                s.cond("i.visibility = ?", vec![Bind::Text(v.as_str().into())]);
            }
            (None, true) => {}
            (None, false) => match &q.project_id {
                // Community images are listed only when asked for, or to their owner.
                Some(p) => {
                    s.cond(
                        "(i.owner = ? OR i.visibility <> 'community')",
                        vec![Bind::Text(p.clone())],
                    );
                }
                None => {
                    s.cond("i.visibility <> 'community'", vec![]);
                }
            },
        }
        for (column, values) in &q.columns_in {
            if !TEXT_COLUMNS.contains(&column.as_str()) {
                return Err(unknown(column));
            }
            s.in_text(&format!("i.{column}"), values);
        }
        for (column, v) in &q.int_eq {
            if !INT_COLUMNS.contains(&column.as_str()) {
                return Err(unknown(column));
            }
            s.cond(&format!("i.{column} = ?"), vec![Bind::Int(*v)]);
        }
        for (column, op, v) in &q.ranges {
            if !INT_COLUMNS.contains(&column.as_str()) {
                return Err(unknown(column));
            }
            s.cond(&format!("i.{column} {} ?", op.sql()), vec![Bind::Int(*v)]);
        }
        for (column, op, v) in &q.times {
            if column != "created_at" && column != "updated_at" {
                return Err(unknown(column));
            }
            s.cond(
                &format!("i.{column} {} ?", op.sql()),
                vec![Bind::Text(v.clone())],
            );
        }
        if let Some(p) = q.protected {
            s.cond("i.protected = ?", vec![Bind::Int(i64::from(p))]);
        }
        s.cond("i.os_hidden = ?", vec![Bind::Int(i64::from(q.os_hidden))]);
        for t in &q.tags {
            s.cond(
                "i.id IN (SELECT image_id FROM image_tag WHERE value = ?)",
                vec![Bind::Text(t.clone())],
            );
        }
        for (k, v) in &q.properties {
            s.cond(
                "i.id IN (SELECT image_id FROM image_property WHERE name = ? AND value = ?)",
                vec![Bind::Text(k.clone()), Bind::Text(v.clone())],
            );
        }
        let mut order = Vec::new();
        for (key, desc) in &q.sort {
            let e = sort_expr(key).ok_or_else(|| unknown(key))?;
            order.push(format!("{e} {}", if *desc { "DESC" } else { "ASC" }));
        }
        if let Some(m) = marker {
            // (k1 beyond m1) OR (k1 = m1 AND k2 beyond m2) OR ...
            let mut alts = Vec::new();
            for (i, (key, desc)) in q.sort.iter().enumerate() {
                let mut parts = Vec::new();
                for (prev, _) in &q.sort[..i] {
                    let e = sort_expr(prev).ok_or_else(|| unknown(prev))?;
                    parts.push(s.place(&format!("{e} = ?"), vec![marker_value(m, prev)]));
                }
                let e = sort_expr(key).ok_or_else(|| unknown(key))?;
                let op = if *desc { "<" } else { ">" };
                parts.push(s.place(&format!("{e} {op} ?"), vec![marker_value(m, key)]));
                alts.push(format!("({})", parts.join(" AND ")));
            }
            if !alts.is_empty() {
                s.cond_placed(format!("({})", alts.join(" OR ")));
            }
        }
        s.tail(format!("ORDER BY {} LIMIT {}", order.join(", "), q.limit));
        let rows = s.fetch_all(self.db().reader()).await?;
        self.with_children(rows).await
    }
}
