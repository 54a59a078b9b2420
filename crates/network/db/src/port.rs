//! Ports, their fixed IPs (`net_ip_allocation`) and security groups.

use std::collections::HashMap;

use common_db::{b2i, db_err, DbRow};
use common_error::Result;
use network_model::{FixedIp, Port};
use sqlx::AnyConnection;

use crate::{col, flag, json_col, json_text, Store, WriteTx};

const COLUMNS: &str = "SELECT p.id, p.project_id, p.network_id, p.name, p.description, \
     p.admin_state_up, p.mac_address, p.device_owner, p.device_id, p.status, \
     p.port_security_enabled, p.allowed_address_pairs, p.binding_host_id, p.binding_vnic_type, \
     p.binding_vif_type, p.binding_profile, p.binding_vif_details, p.dns_name, p.created_at, \
     p.updated_at, p.revision_number FROM net_port p";

/// Which ports a list returns; every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortFilter {
    /// Only ports this project may see: its own and those on its networks.
    pub visible_to: Option<String>,
    pub network_id: Option<String>,
    pub device_id: Option<String>,
    pub binding_host_id: Option<String>,
}

fn from_row(row: &DbRow) -> Result<Port> {
    Ok(Port {
        id: col(row, "id")?,
        project_id: col(row, "project_id")?,
        network_id: col(row, "network_id")?,
        name: col(row, "name")?,
        description: col(row, "description")?,
        admin_state_up: flag(row, "admin_state_up")?,
        mac_address: col(row, "mac_address")?,
        fixed_ips: Vec::new(),
        device_owner: col(row, "device_owner")?,
        device_id: col(row, "device_id")?,
        status: col(row, "status")?,
        port_security_enabled: flag(row, "port_security_enabled")?,
        security_groups: Vec::new(),
        allowed_address_pairs: json_col(row, "allowed_address_pairs")?,
        binding_host_id: col(row, "binding_host_id")?,
        binding_vnic_type: col(row, "binding_vnic_type")?,
        binding_vif_type: col(row, "binding_vif_type")?,
        binding_profile: json_col(row, "binding_profile")?,
        binding_vif_details: json_col(row, "binding_vif_details")?,
        dns_name: col(row, "dns_name")?,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
        revision_number: col(row, "revision_number")?,
    })
}

async fn fill(c: &mut AnyConnection, ports: &mut [Port]) -> Result<()> {
    if ports.is_empty() {
        return Ok(());
    }
    let (alloc, groups) = if ports.len() == 1 {
        let id = &ports[0].id;
        let a = sqlx::query(
            "SELECT port_id, subnet_id, ip_address FROM net_ip_allocation WHERE port_id = $1",
        )
        .bind(id)
        .fetch_all(&mut *c)
        .await;
        let g = sqlx::query(
            "SELECT port_id, security_group_id FROM net_port_security_group WHERE port_id = $1",
        )
        .bind(id)
        .fetch_all(&mut *c)
        .await;
        (a, g)
    } else {
        let a = sqlx::query("SELECT port_id, subnet_id, ip_address FROM net_ip_allocation")
            .fetch_all(&mut *c)
            .await;
        let g = sqlx::query("SELECT port_id, security_group_id FROM net_port_security_group")
            .fetch_all(&mut *c)
            .await;
        (a, g)
    };
    let mut ips: HashMap<String, Vec<FixedIp>> = HashMap::new();
    for r in alloc.map_err(db_err("select ip allocations"))? {
        ips.entry(col(&r, "port_id")?).or_default().push(FixedIp {
            subnet_id: col(&r, "subnet_id")?,
            ip_address: col(&r, "ip_address")?,
        });
    }
    let mut sgs: HashMap<String, Vec<String>> = HashMap::new();
    for r in groups.map_err(db_err("select port security groups"))? {
        sgs.entry(col(&r, "port_id")?)
            .or_default()
            .push(col(&r, "security_group_id")?);
    }
    for p in ports {
        p.fixed_ips = ips.remove(&p.id).unwrap_or_default();
        p.fixed_ips.sort();
        p.security_groups = sgs.remove(&p.id).unwrap_or_default();
        p.security_groups.sort();
    }
    Ok(())
}

pub(crate) async fn get(c: &mut AnyConnection, id: &str) -> Result<Option<Port>> {
    let row = sqlx::query(&format!("{COLUMNS} WHERE p.id = $1"))
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err("select port"))?;
    let Some(row) = row else { return Ok(None) };
    let mut p = [from_row(&row)?];
    fill(c, &mut p).await?;
    let [p] = p;
    Ok(Some(p))
}

pub(crate) async fn list(c: &mut AnyConnection, f: &PortFilter) -> Result<Vec<Port>> {
    let mut conds = Vec::new();
    let mut binds = Vec::new();
    if let Some(p) = &f.visible_to {
        binds.push(p.clone());
        let n = binds.len();
        conds.push(format!(
            "(p.project_id = ${n} OR p.network_id IN (SELECT id FROM net_network WHERE project_id = ${n}))"
        ));
    }
    for (column, v) in [
        ("p.network_id", &f.network_id),
        ("p.device_id", &f.device_id),
        ("p.binding_host_id", &f.binding_host_id),
    ] {
        if let Some(v) = v {
            binds.push(v.clone());
            conds.push(format!("{column} = ${}", binds.len()));
        }
    }
    let mut sql = COLUMNS.to_string();
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    sql.push_str(" ORDER BY p.created_at, p.id");
    let mut q = sqlx::query(&sql);
    for b in binds {
        q = q.bind(b);
    }
    let rows = q.fetch_all(&mut *c).await.map_err(db_err("select ports"))?;
    let mut ports = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    fill(c, &mut ports).await?;
    Ok(ports)
}

impl Store {
    pub async fn port_get(&self, id: &str) -> Result<Option<Port>> {
        get(&mut *self.reader().await?, id).await
    }

    pub async fn port_list(&self, f: &PortFilter) -> Result<Vec<Port>> {
        list(&mut *self.reader().await?, f).await
    }

    /// The port holding `ip_address` on `network_id`, if any.
    pub async fn port_by_address(
        &self,
        network_id: &str,
        ip_address: &str,
    ) -> Result<Option<Port>> {
        let mut c = self.reader().await?;
        let id: Option<String> = sqlx::query_scalar(
            "SELECT port_id FROM net_ip_allocation WHERE network_id = $1 AND ip_address = $2",
        )
        .bind(network_id)
        .bind(ip_address)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err("select ip allocation"))?;
        match id {
            Some(id) => get(&mut c, &id).await,
            None => Ok(None),
        }
    }

    /// Sets `status` on ports, returning how many changed.
    pub async fn ports_set_status(&self, ids: &[String], status: &str) -> Result<u64> {
        let mut tx = self.begin().await?;
        let mut n = 0;
        for id in ids {
            let r = sqlx::query("UPDATE net_port SET status = $2 WHERE id = $1 AND status <> $2")
                .bind(id)
                .bind(status)
                .execute(&mut *tx.tx)
                .await
                .map_err(db_err("update port status"))?;
            n += r.rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }
}

impl WriteTx {
    pub async fn port_get(&mut self, id: &str) -> Result<Option<Port>> {
        get(&mut self.tx, id).await
    }

    pub async fn port_list(&mut self, f: &PortFilter) -> Result<Vec<Port>> {
        list(&mut self.tx, f).await
    }

    /// Addresses allocated from a subnet.
    pub async fn subnet_allocations(&mut self, subnet_id: &str) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT ip_address FROM net_ip_allocation WHERE subnet_id = $1")
            .bind(subnet_id)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db_err("select ip allocations"))
    }

    /// The port holding `ip_address` in a subnet, if any.
    pub async fn address_holder(
        &mut self,
        subnet_id: &str,
        ip_address: &str,
    ) -> Result<Option<String>> {
        sqlx::query_scalar(
            "SELECT port_id FROM net_ip_allocation WHERE subnet_id = $1 AND ip_address = $2",
        )
        .bind(subnet_id)
        .bind(ip_address)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db_err("select ip allocation"))
    }

    /// Whether a port of `network_id` has `mac_address`.
    pub async fn mac_in_use(&mut self, network_id: &str, mac_address: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM net_port WHERE network_id = $1 AND mac_address = $2",
        )
        .bind(network_id)
        .bind(mac_address)
        .fetch_one(&mut *self.tx)
        .await
        .map_err(db_err("select mac"))?;
        Ok(n > 0)
    }

    /// Inserts a port with its fixed IPs and security groups. A taken address or MAC is a
    /// unique violation.
    pub async fn port_insert(&mut self, p: &Port) -> Result<()> {
        sqlx::query(
            "INSERT INTO net_port (id, project_id, network_id, name, description, admin_state_up, \
             mac_address, device_owner, device_id, status, port_security_enabled, \
             allowed_address_pairs, binding_host_id, binding_vnic_type, binding_vif_type, \
             binding_profile, binding_vif_details, dns_name, created_at, updated_at, \
             revision_number) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
             $14, $15, $16, $17, $18, $19, $20, $21)",
        )
        .bind(&p.id)
        .bind(&p.project_id)
        .bind(&p.network_id)
        .bind(&p.name)
        .bind(&p.description)
        .bind(b2i(p.admin_state_up))
        .bind(&p.mac_address)
        .bind(&p.device_owner)
        .bind(&p.device_id)
        .bind(&p.status)
        .bind(b2i(p.port_security_enabled))
        .bind(json_text(&p.allowed_address_pairs))
        .bind(&p.binding_host_id)
        .bind(&p.binding_vnic_type)
        .bind(&p.binding_vif_type)
        .bind(json_text(&p.binding_profile))
        .bind(json_text(&p.binding_vif_details))
        .bind(&p.dns_name)
        .bind(&p.created_at)
        .bind(&p.updated_at)
        .bind(p.revision_number)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err("insert port"))?;
        self.port_set_fixed_ips(p).await?;
        self.port_set_security_groups(p).await
    }

    /// Writes a port's own columns (not its fixed IPs or groups).
    pub async fn port_update(&mut self, p: &Port) -> Result<()> {
        sqlx::query(
            "UPDATE net_port SET name = $2, description = $3, admin_state_up = $4, \
             mac_address = $5, device_owner = $6, device_id = $7, status = $8, \
             port_security_enabled = $9, allowed_address_pairs = $10, binding_host_id = $11, \
             binding_vnic_type = $12, binding_vif_type = $13, binding_profile = $14, \
             binding_vif_details = $15, dns_name = $16, updated_at = $17, revision_number = $18 \
             WHERE id = $1",
        )
        .bind(&p.id)
        .bind(&p.name)
        .bind(&p.description)
        .bind(b2i(p.admin_state_up))
        .bind(&p.mac_address)
        .bind(&p.device_owner)
        .bind(&p.device_id)
        .bind(&p.status)
        .bind(b2i(p.port_security_enabled))
        .bind(json_text(&p.allowed_address_pairs))
        .bind(&p.binding_host_id)
        .bind(&p.binding_vnic_type)
        .bind(&p.binding_vif_type)
        .bind(json_text(&p.binding_profile))
        .bind(json_text(&p.binding_vif_details))
        .bind(&p.dns_name)
        .bind(&p.updated_at)
        .bind(p.revision_number)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err("update port"))?;
        Ok(())
    }

    /// Replaces a port's fixed IPs with `p.fixed_ips`.
    pub async fn port_set_fixed_ips(&mut self, p: &Port) -> Result<()> {
        sqlx::query("DELETE FROM net_ip_allocation WHERE port_id = $1")
            .bind(&p.id)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("clear ip allocations"))?;
        for ip in &p.fixed_ips {
            sqlx::query(
                "INSERT INTO net_ip_allocation (subnet_id, ip_address, port_id, network_id) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&ip.subnet_id)
            .bind(&ip.ip_address)
            .bind(&p.id)
            .bind(&p.network_id)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("insert ip allocation"))?;
        }
        Ok(())
    }

    /// Replaces a port's security groups with `p.security_groups`.
    pub async fn port_set_security_groups(&mut self, p: &Port) -> Result<()> {
        sqlx::query("DELETE FROM net_port_security_group WHERE port_id = $1")
            .bind(&p.id)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("clear port security groups"))?;
        for g in &p.security_groups {
            sqlx::query(
                "INSERT INTO net_port_security_group (port_id, security_group_id) VALUES ($1, $2)",
            )
            .bind(&p.id)
            .bind(g)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("insert port security group"))?;
        }
        Ok(())
    }

    /// Deletes a port with its allocations and group memberships.
    pub async fn port_delete(&mut self, id: &str) -> Result<bool> {
        for sql in [
            "DELETE FROM net_ip_allocation WHERE port_id = $1",
            "DELETE FROM net_port_security_group WHERE port_id = $1",
        ] {
            sqlx::query(sql)
                .bind(id)
                .execute(&mut *self.tx)
                .await
                .map_err(db_err("delete port children"))?;
        }
        let r = sqlx::query("DELETE FROM net_port WHERE id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("delete port"))?;
        Ok(r.rows_affected() > 0)
    }
}
