//! Subnets.

use common_db::{b2i, db_err, DbRow};
use common_error::Result;
use network_model::Subnet;
use sqlx::AnyConnection;

use crate::{col, flag, json_col, json_text, Store, WriteTx};

const COLUMNS: &str = "SELECT s.id, s.project_id, s.network_id, s.name, s.description, \
     s.ip_version, s.cidr, s.gateway_ip, s.enable_dhcp, s.ipv6_address_mode, s.ipv6_ra_mode, \
     s.allocation_pools, s.dns_nameservers, s.host_routes, s.created_at, s.updated_at, \
     s.revision_number FROM net_subnet s";

fn from_row(row: &DbRow) -> Result<Subnet> {
    Ok(Subnet {
        id: col(row, "id")?,
        project_id: col(row, "project_id")?,
        network_id: col(row, "network_id")?,
        name: col(row, "name")?,
        description: col(row, "description")?,
        ip_version: col(row, "ip_version")?,
        cidr: col(row, "cidr")?,
        gateway_ip: col(row, "gateway_ip")?,
        enable_dhcp: flag(row, "enable_dhcp")?,
        ipv6_address_mode: col(row, "ipv6_address_mode")?,
        ipv6_ra_mode: col(row, "ipv6_ra_mode")?,
        allocation_pools: json_col(row, "allocation_pools")?,
        dns_nameservers: json_col(row, "dns_nameservers")?,
        host_routes: json_col(row, "host_routes")?,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
        revision_number: col(row, "revision_number")?,
    })
}

pub(crate) async fn get(c: &mut AnyConnection, id: &str) -> Result<Option<Subnet>> {
    let row = sqlx::query(&format!("{COLUMNS} WHERE s.id = $1"))
        .bind(id)
        .fetch_optional(c)
        .await
        .map_err(db_err("select subnet"))?;
    row.as_ref().map(from_row).transpose()
}

pub(crate) async fn by_network(c: &mut AnyConnection, network_id: &str) -> Result<Vec<Subnet>> {
    let rows = sqlx::query(&format!(
        "{COLUMNS} WHERE s.network_id = $1 ORDER BY s.created_at, s.id"
    ))
    .bind(network_id)
    .fetch_all(c)
    .await
    .map_err(db_err("select subnets"))?;
    rows.iter().map(from_row).collect()
}

/// Subnets `project` may see (its own and those of shared networks), or all.
pub(crate) async fn list(c: &mut AnyConnection, project: Option<&str>) -> Result<Vec<Subnet>> {
    let rows = match project {
        Some(p) => {
            sqlx::query(&format!(
                "{COLUMNS} JOIN net_network n ON n.id = s.network_id \
             WHERE s.project_id = $1 OR n.shared = 1 ORDER BY s.created_at, s.id"
            ))
            .bind(p)
            .fetch_all(c)
            .await
        }
        None => {
            sqlx::query(&format!("{COLUMNS} ORDER BY s.created_at, s.id"))
                .fetch_all(c)
                .await
        }
    }
    .map_err(db_err("select subnets"))?;
    rows.iter().map(from_row).collect()
}

impl Store {
    pub async fn subnet_get(&self, id: &str) -> Result<Option<Subnet>> {
        get(&mut *self.reader().await?, id).await
    }

    /// The subnets of a network, oldest first.
    pub async fn subnets_of_network(&self, network_id: &str) -> Result<Vec<Subnet>> {
        by_network(&mut *self.reader().await?, network_id).await
    }

    /// Subnets `project` may see (own, and on shared networks), or all when `None`.
    pub async fn subnet_list(&self, project: Option<&str>) -> Result<Vec<Subnet>> {
        list(&mut *self.reader().await?, project).await
    }
}

impl WriteTx {
    pub async fn subnet_get(&mut self, id: &str) -> Result<Option<Subnet>> {
        get(&mut self.tx, id).await
    }

    pub async fn subnets_of_network(&mut self, network_id: &str) -> Result<Vec<Subnet>> {
        by_network(&mut self.tx, network_id).await
    }

    pub async fn subnet_insert(&mut self, s: &Subnet) -> Result<()> {
        sqlx::query(
            "INSERT INTO net_subnet (id, project_id, network_id, name, description, ip_version, \
             cidr, gateway_ip, enable_dhcp, ipv6_address_mode, ipv6_ra_mode, allocation_pools, \
             dns_nameservers, host_routes, created_at, updated_at, revision_number) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .bind(&s.id)
        .bind(&s.project_id)
        .bind(&s.network_id)
        .bind(&s.name)
        .bind(&s.description)
        .bind(s.ip_version)
        .bind(&s.cidr)
        .bind(s.gateway_ip.clone())
        .bind(b2i(s.enable_dhcp))
        .bind(s.ipv6_address_mode.clone())
        .bind(s.ipv6_ra_mode.clone())
        .bind(json_text(&s.allocation_pools))
        .bind(json_text(&s.dns_nameservers))
        .bind(json_text(&s.host_routes))
        .bind(&s.created_at)
        .bind(&s.updated_at)
        .bind(s.revision_number)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err("insert subnet"))?;
        Ok(())
    }

    /// Writes a subnet's mutable attributes.
    pub async fn subnet_update(&mut self, s: &Subnet) -> Result<()> {
        sqlx::query(
            "UPDATE net_subnet SET name = $2, description = $3, gateway_ip = $4, \
             enable_dhcp = $5, allocation_pools = $6, dns_nameservers = $7, host_routes = $8, \
             updated_at = $9, revision_number = $10 WHERE id = $1",
        )
        .bind(&s.id)
        .bind(&s.name)
        .bind(&s.description)
        .bind(s.gateway_ip.clone())
        .bind(b2i(s.enable_dhcp))
        .bind(json_text(&s.allocation_pools))
        .bind(json_text(&s.dns_nameservers))
        .bind(json_text(&s.host_routes))
        .bind(&s.updated_at)
        .bind(s.revision_number)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err("update subnet"))?;
        Ok(())
    }

    /// Deletes a subnet row (no address may be allocated from it any more).
    pub async fn subnet_delete(&mut self, id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM net_subnet WHERE id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("delete subnet"))?;
        Ok(r.rows_affected() > 0)
    }
}
