//! Quota usage of instances, cores and ram (`compute_quota_usage`), changed only inside the
//! transactions that change instance rows. Each row is created at 0 when missing, locked by
//! a no-op UPDATE (PostgreSQL row lock; SQLite has one writer), and changed by a conditional
//! UPDATE that never lets `in_use` pass the limit.

use std::collections::BTreeMap;

use common_db::{db_err, Tx};
use common_error::{Error, Result};

use crate::col;

/// The resources whose usage the instance store keeps.
pub const INSTANCE_QUOTA_RESOURCES: [&str; 3] = ["cores", "instances", "ram"];

/// A change of usage checked against limits (absent or negative limit: unlimited).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuotaChange {
    /// resource → amount to add (negative gives back).
    pub deltas: BTreeMap<String, i64>,
    pub limits: BTreeMap<String, i64>,
}

/// Creates the project's usage rows if missing, locks them and returns what is in use.
pub(crate) async fn lock(tx: &mut Tx<'static>, project: &str) -> Result<BTreeMap<String, i64>> {
    let mut used = BTreeMap::new();
    for r in INSTANCE_QUOTA_RESOURCES {
        sqlx::query(
            "INSERT INTO compute_quota_usage (project_id, resource, in_use) VALUES ($1, $2, 0) \
             ON CONFLICT (project_id, resource) DO NOTHING",
        )
        .bind(project)
        .bind(r)
        .execute(&mut **tx)
        .await
        .map_err(db_err("create quota usage"))?;
        sqlx::query(
            "UPDATE compute_quota_usage SET in_use = in_use WHERE project_id = $1 AND resource = $2",
        )
        .bind(project)
        .bind(r)
        .execute(&mut **tx)
        .await
        .map_err(db_err("lock quota usage"))?;
        let row = sqlx::query(
            "SELECT in_use FROM compute_quota_usage WHERE project_id = $1 AND resource = $2",
        )
        .bind(project)
        .bind(r)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err("read quota usage"))?;
        used.insert(r.to_string(), col::<i64>(&row, "in_use")?);
    }
    Ok(used)
}

/// Adds `n` to `resource` unless that would pass `limit`; false when it would.
async fn add(
    tx: &mut Tx<'static>,
    project: &str,
    resource: &str,
    n: i64,
    limit: Option<i64>,
) -> Result<bool> {
    let res = match limit {
        Some(l) if l >= 0 && n > 0 => {
            sqlx::query(
                "UPDATE compute_quota_usage SET in_use = in_use + $1 \
             WHERE project_id = $2 AND resource = $3 AND in_use + $1 <= $4",
            )
            .bind(n)
            .bind(project)
            .bind(resource)
            .bind(l)
            .execute(&mut **tx)
            .await
        }
        _ => {
            sqlx::query(
                "UPDATE compute_quota_usage SET in_use = CASE WHEN in_use + $1 < 0 THEN 0 \
             ELSE in_use + $1 END WHERE project_id = $2 AND resource = $3",
            )
            .bind(n)
            .bind(project)
            .bind(resource)
            .execute(&mut **tx)
            .await
        }
    };
    Ok(res.map_err(db_err("change quota usage"))?.rows_affected() == 1)
}

/// Nova's quota message for the resources that would go over.
pub(crate) fn exceeded(
    overs: &[String],
    requested: &BTreeMap<String, i64>,
    used: &BTreeMap<String, i64>,
    limits: &BTreeMap<String, i64>,
) -> Error {
    let pick = |m: &BTreeMap<String, i64>| {
        overs
            .iter()
            .map(|o| m.get(o).copied().unwrap_or(0).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let names = overs.join(", ");
    Error::Forbidden(format!(
        "Quota exceeded for {names}: Requested {}, but already used {} of {} {names}",
        pick(requested),
        pick(used),
        pick(limits)
    ))
}

/// Applies `change` to `project`'s usage; `Forbidden` (Nova's message) when a positive
/// delta would pass its limit. The caller rolls the transaction back on error.
pub(crate) async fn apply(tx: &mut Tx<'static>, project: &str, change: &QuotaChange) -> Result<()> {
    let used = lock(tx, project).await?;
    let mut overs = Vec::new();
    for (r, d) in &change.deltas {
        if *d > 0 {
            if let Some(l) = change.limits.get(r).copied().filter(|l| *l >= 0) {
                if used.get(r).copied().unwrap_or(0) + d > l {
                    overs.push(r.clone());
                }
            }
        }
    }
    if !overs.is_empty() {
        return Err(exceeded(&overs, &change.deltas, &used, &change.limits));
    }
    for (r, d) in &change.deltas {
        if *d != 0 && !add(tx, project, r, *d, change.limits.get(r).copied()).await? {
            return Err(exceeded(
                std::slice::from_ref(r),
                &change.deltas,
                &used,
                &change.limits,
            ));
        }
    }
    Ok(())
}

/// How many of `max` instances taking `per` (resource → amount each) fit under `limits`,
/// given `used`; the resources that would go over with `min` of them.
pub(crate) fn fit(
    min: i64,
    max: i64,
    per: &BTreeMap<String, i64>,
    used: &BTreeMap<String, i64>,
    limits: &BTreeMap<String, i64>,
) -> (i64, Vec<String>) {
    let mut n = max;
    let mut overs = Vec::new();
    for (r, each) in per {
        let Some(l) = limits.get(r).copied().filter(|l| *l >= 0) else {
            continue;
        };
        if *each <= 0 {
            continue;
        }
        let u = used.get(r).copied().unwrap_or(0);
        let room = ((l - u) / each).max(0);
        n = n.min(room);
        if u + each * min > l {
            overs.push(r.clone());
        }
    }
    (n, overs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(kv: &[(&str, i64)]) -> BTreeMap<String, i64> {
        kv.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn fit_reduces_to_headroom_and_names_overs() {
        let per = m(&[("instances", 1), ("cores", 2), ("ram", 512)]);
        let limits = m(&[("instances", 10), ("cores", 20), ("ram", -1)]);
        assert_eq!(
            fit(1, 5, &per, &m(&[("instances", 0), ("cores", 0)]), &limits),
            (5, vec![])
        );
        assert_eq!(
            fit(1, 5, &per, &m(&[("instances", 2), ("cores", 16)]), &limits),
            (2, vec![])
        );
        let (n, overs) = fit(1, 1, &per, &m(&[("instances", 10), ("cores", 20)]), &limits);
        assert_eq!(n, 0);
        assert_eq!(overs, vec!["cores".to_string(), "instances".to_string()]);
    }

    #[test]
    fn message_reads_like_nova() {
        let e = exceeded(
            &["instances".to_string()],
            &m(&[("instances", 1)]),
            &m(&[("instances", 10)]),
            &m(&[("instances", 10)]),
        );
        assert_eq!(
            e,
            Error::Forbidden(
                "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances"
                    .into()
            )
        );
    }
}
