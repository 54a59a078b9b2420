//! Floating IPs (`net_floatingip`). A floating IP's address is held by its own port on the
//! external network (it goes with that port). The association is read as absent when the
//! internal port is gone (`fixed_port_id` set to NULL by the schema), so a deleted instance
//! port never leaves a floating IP pointing at it.

use common_db::{db_err, DbRow};
use common_error::Result;
use network_model::l3::FloatingIp;
use sqlx::AnyConnection;

use crate::{col, Store, WriteTx};

const COLUMNS: &str = "SELECT id, project_id, floating_network_id, floating_ip_address, \
     floating_port_id, fixed_port_id, fixed_ip_address, router_id, description, created_at, \
     updated_at, revision_number FROM net_floatingip";

fn from_row(row: &DbRow) -> Result<FloatingIp> {
    let port_id: Option<String> = col(row, "fixed_port_id")?;
    let associated = port_id.is_some();
    Ok(FloatingIp {
        id: col(row, "id")?,
        project_id: col(row, "project_id")?,
        floating_network_id: col(row, "floating_network_id")?,
        floating_ip_address: col(row, "floating_ip_address")?,
        floating_port_id: col(row, "floating_port_id")?,
        fixed_ip_address: if associated {
            col(row, "fixed_ip_address")?
        } else {
            None
        },
        router_id: if associated {
            col(row, "router_id")?
        } else {
            None
        },
        port_id,
        status: if associated { "ACTIVE" } else { "DOWN" }.into(),
        description: col(row, "description")?,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
        revision_number: col(row, "revision_number")?,
    })
}

async fn select(
    c: &mut AnyConnection,
    cond: &str,
    binds: &[&str],
    what: &'static str,
) -> Result<Vec<FloatingIp>> {
    let sql = if cond.is_empty() {
        format!("{COLUMNS} ORDER BY created_at, id")
    } else {
        format!("{COLUMNS} WHERE {cond} ORDER BY created_at, id")
    };
    let mut q = sqlx::query(&sql);
    for b in binds {
        q = q.bind(b.to_string());
    }
    let rows = q.fetch_all(&mut *c).await.map_err(db_err(what))?;
    rows.iter().map(from_row).collect()
}

impl Store {
    pub async fn floatingip_get(&self, id: &str) -> Result<Option<FloatingIp>> {
        let mut c = self.reader().await?;
        Ok(select(&mut c, "id = $1", &[id], "select floating ip")
            .await?
            .pop())
    }

    /// Floating IPs of `project`, or all when `None`.
    pub async fn floatingip_list(&self, project: Option<&str>) -> Result<Vec<FloatingIp>> {
        let mut c = self.reader().await?;
        match project {
            Some(p) => select(&mut c, "project_id = $1", &[p], "select floating ips").await,
            None => select(&mut c, "", &[], "select floating ips").await,
        }
    }

    /// Every associated floating IP (for the hosts' plans).
    pub async fn floatingips_associated(&self) -> Result<Vec<FloatingIp>> {
        let mut c = self.reader().await?;
        select(
            &mut c,
            "fixed_port_id IS NOT NULL",
            &[],
            "select floating ips",
        )
        .await
    }
}

impl WriteTx {
    pub async fn floatingip_get(&mut self, id: &str) -> Result<Option<FloatingIp>> {
        Ok(select(&mut self.tx, "id = $1", &[id], "select floating ip")
            .await?
            .pop())
    }

    /// Floating IPs associated through a router.
    pub async fn floatingips_of_router(&mut self, router_id: &str) -> Result<Vec<FloatingIp>> {
        select(
            &mut self.tx,
            "router_id = $1 AND fixed_port_id IS NOT NULL",
            &[router_id],
            "select floating ips",
        )
        .await
    }

    /// Floating IPs associated with an internal port.
    pub async fn floatingips_of_port(&mut self, port_id: &str) -> Result<Vec<FloatingIp>> {
        select(
            &mut self.tx,
            "fixed_port_id = $1",
            &[port_id],
            "select floating ips",
        )
        .await
    }

    /// The floating IP on `network_id` associated with this port and fixed address, if any.
    pub async fn floatingip_by_association(
        &mut self,
        network_id: &str,
        port_id: &str,
        fixed_ip_address: &str,
    ) -> Result<Option<FloatingIp>> {
        Ok(select(
            &mut self.tx,
            "floating_network_id = $1 AND fixed_port_id = $2 AND fixed_ip_address = $3",
            &[network_id, port_id, fixed_ip_address],
            "select floating ip",
        )
        .await?
        .pop())
    }

    /// Inserts a floating IP (its port must exist). A second association of the same fixed
    /// address on the same external network is a unique violation.
    pub async fn floatingip_insert(&mut self, f: &FloatingIp) -> Result<()> {
        sqlx::query(
            "INSERT INTO net_floatingip (id, project_id, floating_network_id, \
             floating_ip_address, floating_port_id, fixed_port_id, fixed_ip_address, router_id, \
             description, created_at, updated_at, revision_number) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&f.id)
        .bind(&f.project_id)
        .bind(&f.floating_network_id)
        .bind(&f.floating_ip_address)
        .bind(&f.floating_port_id)
        .bind(f.port_id.clone())
        .bind(f.fixed_ip_address.clone())
        .bind(f.router_id.clone())
        .bind(&f.description)
        .bind(&f.created_at)
        .bind(&f.updated_at)
        .bind(f.revision_number)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err("insert floating ip"))?;
        Ok(())
    }

    /// Writes a floating IP's association and description.
    pub async fn floatingip_update(&mut self, f: &FloatingIp) -> Result<()> {
        sqlx::query(
            "UPDATE net_floatingip SET fixed_port_id = $2, fixed_ip_address = $3, router_id = $4, \
             description = $5, updated_at = $6, revision_number = $7 WHERE id = $1",
        )
        .bind(&f.id)
        .bind(f.port_id.clone())
        .bind(f.fixed_ip_address.clone())
        .bind(f.router_id.clone())
        .bind(&f.description)
        .bind(&f.updated_at)
        .bind(f.revision_number)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err("update floating ip"))?;
        Ok(())
    }

    /// Disassociates every floating IP of an internal port (before the port goes), returning
    /// how many were.
    pub async fn floatingips_disassociate_port(&mut self, port_id: &str, now: &str) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE net_floatingip SET fixed_port_id = NULL, fixed_ip_address = NULL, \
             router_id = NULL, updated_at = $2, revision_number = revision_number + 1 \
             WHERE fixed_port_id = $1",
        )
        .bind(port_id)
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err("disassociate floating ips"))?;
        Ok(r.rows_affected())
    }

    /// Deletes a floating IP row (its port is deleted by the caller).
    pub async fn floatingip_delete(&mut self, id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM net_floatingip WHERE id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("delete floating ip"))?;
        Ok(r.rows_affected() > 0)
    }
}
