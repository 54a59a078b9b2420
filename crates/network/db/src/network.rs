//! Networks: rows, the subnets they hold, segment (VNI) allocation.

use std::collections::BTreeMap;

use common_db::{b2i, db_err, DbRow};
use common_error::Result;
use network_model::Network;
use sqlx::AnyConnection;

use crate::{col, flag, json_col, json_text, Store, WriteTx};

const COLUMNS: &str =
    "SELECT id, project_id, name, description, admin_state_up, shared, external, \
     network_type, physical_network, segmentation_id, mtu, port_security_enabled, status, \
     availability_zone_hints, created_at, updated_at, revision_number FROM net_network";

fn from_row(row: &DbRow) -> Result<Network> {
    Ok(Network {
        id: col(row, "id")?,
        project_id: col(row, "project_id")?,
        name: col(row, "name")?,
        description: col(row, "description")?,
        admin_state_up: flag(row, "admin_state_up")?,
        shared: flag(row, "shared")?,
        external: flag(row, "external")?,
        network_type: col(row, "network_type")?,
        physical_network: col(row, "physical_network")?,
        segmentation_id: col(row, "segmentation_id")?,
        mtu: col(row, "mtu")?,
        port_security_enabled: flag(row, "port_security_enabled")?,
        status: col(row, "status")?,
        availability_zone_hints: json_col(row, "availability_zone_hints")?,
        subnets: Vec::new(),
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
        revision_number: col(row, "revision_number")?,
    })
}

/// The segment a network occupies exclusively, if any.
fn segment_key(n: &Network) -> Option<String> {
    match (
        n.network_type.as_str(),
        n.segmentation_id,
        &n.physical_network,
    ) {
        ("vxlan", Some(vni), _) => Some(format!("vxlan:{vni}")),
        ("flat", _, Some(p)) => Some(format!("flat:{p}")),
        _ => None,
    }
}

async fn fill_subnets(c: &mut AnyConnection, nets: &mut [Network]) -> Result<()> {
    if nets.is_empty() {
        return Ok(());
    }
    let rows = if nets.len() == 1 {
        sqlx::query(
            "SELECT id, network_id FROM net_subnet WHERE network_id = $1 ORDER BY created_at, id",
        )
        .bind(&nets[0].id)
        .fetch_all(&mut *c)
        .await
    } else {
        sqlx::query("SELECT id, network_id FROM net_subnet ORDER BY created_at, id")
            .fetch_all(&mut *c)
            .await
    }
    .map_err(db_err("select subnet ids"))?;
    let mut by_net: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &rows {
        by_net
            .entry(col(r, "network_id")?)
            .or_default()
            .push(col(r, "id")?);
    }
    for n in nets {
        n.subnets = by_net.remove(&n.id).unwrap_or_default();
    }
    Ok(())
}

pub(crate) async fn get(c: &mut AnyConnection, id: &str) -> Result<Option<Network>> {
    let row = sqlx::query(&format!("{COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err("select network"))?;
    let Some(row) = row else { return Ok(None) };
    let mut n = [from_row(&row)?];
    fill_subnets(c, &mut n).await?;
    let [n] = n;
    Ok(Some(n))
}

/// Networks `project` may see (its own, shared and external ones), or every network.
pub(crate) async fn list(c: &mut AnyConnection, project: Option<&str>) -> Result<Vec<Network>> {
    let rows = match project {
        Some(p) => {
            sqlx::query(&format!(
            "{COLUMNS} WHERE project_id = $1 OR shared = 1 OR external = 1 ORDER BY created_at, id"
        ))
            .bind(p)
            .fetch_all(&mut *c)
            .await
        }
        None => {
            sqlx::query(&format!("{COLUMNS} ORDER BY created_at, id"))
                .fetch_all(&mut *c)
                .await
        }
    }
    .map_err(db_err("select networks"))?;
    let mut nets = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    fill_subnets(c, &mut nets).await?;
    Ok(nets)
}

impl Store {
    /// A network by id, with its subnet ids.
    pub async fn network_get(&self, id: &str) -> Result<Option<Network>> {
        let mut c = self.reader().await?;
        get(&mut c, id).await
    }

    /// Networks `project` may see (own, shared, external), or all when `None`.
    pub async fn network_list(&self, project: Option<&str>) -> Result<Vec<Network>> {
        let mut c = self.reader().await?;
        list(&mut c, project).await
    }

    pub(crate) async fn reader(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        self.db()
            .reader()
            .acquire()
            .await
            .map_err(db_err("acquire connection"))
    }
}

impl WriteTx {
    pub async fn network_get(&mut self, id: &str) -> Result<Option<Network>> {
        get(&mut self.tx, id).await
    }

    /// Inserts a network. Its segment (VNI, flat physical network) must be free: a taken
    /// one is a unique violation.
    pub async fn network_insert(&mut self, n: &Network) -> Result<()> {
        sqlx::query(
            "INSERT INTO net_network (id, project_id, name, description, admin_state_up, shared, \
             external, network_type, physical_network, segmentation_id, segment_key, mtu, \
             port_security_enabled, status, availability_zone_hints, created_at, updated_at, \
             revision_number) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
             $14, $15, $16, $17, $18)",
        )
        .bind(&n.id)
        .bind(&n.project_id)
        .bind(&n.name)
        .bind(&n.description)
        .bind(b2i(n.admin_state_up))
        .bind(b2i(n.shared))
        .bind(b2i(n.external))
        .bind(&n.network_type)
        .bind(n.physical_network.clone())
        .bind(n.segmentation_id)
        .bind(segment_key(n))
        .bind(n.mtu)
        .bind(b2i(n.port_security_enabled))
        .bind(&n.status)
        .bind(json_text(&n.availability_zone_hints))
        .bind(&n.created_at)
        .bind(&n.updated_at)
        .bind(n.revision_number)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err("insert network"))?;
        Ok(())
    }

    /// Writes a network's mutable attributes (the caller bumped `revision_number`).
    pub async fn network_update(&mut self, n: &Network) -> Result<()> {
        sqlx::query(
            "UPDATE net_network SET name = $2, description = $3, admin_state_up = $4, \
             shared = $5, external = $6, mtu = $7, port_security_enabled = $8, status = $9, \
             updated_at = $10, revision_number = $11 WHERE id = $1",
        )
        .bind(&n.id)
        .bind(&n.name)
        .bind(&n.description)
        .bind(b2i(n.admin_state_up))
        .bind(b2i(n.shared))
        .bind(b2i(n.external))
        .bind(n.mtu)
        .bind(b2i(n.port_security_enabled))
        .bind(&n.status)
        .bind(&n.updated_at)
        .bind(n.revision_number)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err("update network"))?;
        Ok(())
    }

    /// Deletes a network row (its subnets and ports must be gone).
    pub async fn network_delete(&mut self, id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM net_network WHERE id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("delete network"))?;
        Ok(r.rows_affected() > 0)
    }

    /// VNIs in `[first, last]` that vxlan networks hold, ascending.
    pub async fn vnis_in_use(&mut self, first: i64, last: i64) -> Result<Vec<i64>> {
        sqlx::query_scalar::<_, i64>(
            "SELECT segmentation_id FROM net_network WHERE network_type = 'vxlan' \
             AND segmentation_id >= $1 AND segmentation_id <= $2 ORDER BY segmentation_id",
        )
        .bind(first)
        .bind(last)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err("select vnis"))
    }

    /// Whether a flat network already uses `physical_network`.
    pub async fn flat_in_use(&mut self, physical_network: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM net_network WHERE segment_key = $1")
            .bind(format!("flat:{physical_network}"))
            .fetch_one(&mut *self.tx)
            .await
            .map_err(db_err("select flat networks"))?;
        Ok(n > 0)
    }
}
