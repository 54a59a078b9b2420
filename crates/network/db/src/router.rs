//! Routers: rows, their legs (`net_router_port`, Neutron's routerports) and static routes
//! (`net_router_route`). The gateway's network and addresses are read from its port.

use std::collections::BTreeMap;

use common_db::{b2i, db_err, DbRow};
use common_error::Result;
use network_model::dataplane::Route;
use network_model::l3::{ExternalGateway, Router};
use network_model::FixedIp;
use sqlx::AnyConnection;

use crate::{col, flag, json_col, json_text, Store, WriteTx};

const COLUMNS: &str = "SELECT id, project_id, name, description, admin_state_up, status, \
     gw_port_id, enable_snat, availability_zone_hints, created_at, updated_at, \
     revision_number FROM net_router";

/// A router row with the gateway columns its `Router` is completed from.
struct Row {
    router: Router,
    gw_port_id: Option<String>,
    enable_snat: bool,
}

fn from_row(row: &DbRow) -> Result<Row> {
    Ok(Row {
        router: Router {
            id: col(row, "id")?,
            project_id: col(row, "project_id")?,
            name: col(row, "name")?,
            description: col(row, "description")?,
            admin_state_up: flag(row, "admin_state_up")?,
            status: col(row, "status")?,
            gateway: None,
            routes: Vec::new(),
            availability_zone_hints: json_col(row, "availability_zone_hints")?,
            created_at: col(row, "created_at")?,
            updated_at: col(row, "updated_at")?,
            revision_number: col(row, "revision_number")?,
        },
        gw_port_id: col(row, "gw_port_id")?,
        enable_snat: flag(row, "enable_snat")?,
    })
}

/// Fills routes and gateways. One router: queries by id; more: one query per table.
async fn complete(c: &mut AnyConnection, rows: Vec<Row>) -> Result<Vec<Router>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let single = rows.len() == 1;
    let route_rows = if single {
        sqlx::query(
            "SELECT router_id, destination, nexthop FROM net_router_route WHERE router_id = $1",
        )
        .bind(&rows[0].router.id)
        .fetch_all(&mut *c)
        .await
    } else {
        sqlx::query("SELECT router_id, destination, nexthop FROM net_router_route")
            .fetch_all(&mut *c)
            .await
    }
    .map_err(db_err("select router routes"))?;
    let mut routes: BTreeMap<String, Vec<Route>> = BTreeMap::new();
    for r in &route_rows {
        routes.entry(col(r, "router_id")?).or_default().push(Route {
            destination: col(r, "destination")?,
            nexthop: col(r, "nexthop")?,
        });
    }
    let gw_sql = "SELECT p.id, p.network_id, a.subnet_id, a.ip_address FROM net_port p \
                  LEFT JOIN net_ip_allocation a ON a.port_id = p.id";
    let gw_rows = match (single, &rows[0].gw_port_id) {
        (true, None) => Vec::new(),
        (true, Some(id)) => sqlx::query(&format!("{gw_sql} WHERE p.id = $1"))
            .bind(id)
            .fetch_all(&mut *c)
            .await
            .map_err(db_err("select gateway port"))?,
        (false, _) => sqlx::query(&format!(
            "{gw_sql} WHERE p.id IN (SELECT gw_port_id FROM net_router)"
        ))
        .fetch_all(&mut *c)
        .await
        .map_err(db_err("select gateway ports"))?,
    };
    let mut gw: BTreeMap<String, (String, Vec<FixedIp>)> = BTreeMap::new();
    for r in &gw_rows {
        let e = gw
            .entry(col(r, "id")?)
            .or_insert_with(|| (String::new(), Vec::new()));
        e.0 = col(r, "network_id")?;
        let subnet: Option<String> = col(r, "subnet_id")?;
        let ip: Option<String> = col(r, "ip_address")?;
        if let (Some(subnet_id), Some(ip_address)) = (subnet, ip) {
            e.1.push(FixedIp {
                subnet_id,
                ip_address,
            });
        }
    }
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut r = row.router;
        r.routes = routes.remove(&r.id).unwrap_or_default();
        r.routes.sort();
        if let Some(port_id) = row.gw_port_id {
            if let Some((network_id, mut ips)) = gw.remove(&port_id) {
                ips.sort();
                r.gateway = Some(ExternalGateway {
                    network_id,
                    port_id,
                    enable_snat: row.enable_snat,
                    external_fixed_ips: ips,
                });
            }
        }
        out.push(r);
    }
    Ok(out)
}

pub(crate) async fn get(c: &mut AnyConnection, id: &str) -> Result<Option<Router>> {
    let row = sqlx::query(&format!("{COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err("select router"))?;
    let Some(row) = row else { return Ok(None) };
    Ok(complete(c, vec![from_row(&row)?]).await?.pop())
}

/// Routers of `project`, or every router.
pub(crate) async fn list(c: &mut AnyConnection, project: Option<&str>) -> Result<Vec<Router>> {
    let rows = match project {
        Some(p) => {
            sqlx::query(&format!(
                "{COLUMNS} WHERE project_id = $1 ORDER BY created_at, id"
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
    .map_err(db_err("select routers"))?;
    let rows = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    complete(c, rows).await
}

/// A router's legs: `(port_id, port_type)`, by port id.
async fn ports_of(c: &mut AnyConnection, router_id: &str) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT port_id, port_type FROM net_router_port WHERE router_id = $1 ORDER BY port_id",
    )
    .bind(router_id)
    .fetch_all(&mut *c)
    .await
    .map_err(db_err("select router ports"))?;
    rows.iter()
        .map(|r| Ok((col(r, "port_id")?, col(r, "port_type")?)))
        .collect()
}

impl Store {
    pub async fn router_get(&self, id: &str) -> Result<Option<Router>> {
        get(&mut *self.reader().await?, id).await
    }

    /// Routers of `project`, or all when `None`.
    pub async fn router_list(&self, project: Option<&str>) -> Result<Vec<Router>> {
        list(&mut *self.reader().await?, project).await
    }

    /// Every leg of every router: `(router_id, port_id, port_type)`.
    pub async fn router_ports_all(&self) -> Result<Vec<(String, String, String)>> {
        let rows = sqlx::query("SELECT router_id, port_id, port_type FROM net_router_port")
            .fetch_all(&mut *self.reader().await?)
            .await
            .map_err(db_err("select router ports"))?;
        rows.iter()
            .map(|r| {
                Ok((
                    col(r, "router_id")?,
                    col(r, "port_id")?,
                    col(r, "port_type")?,
                ))
            })
            .collect()
    }
}

impl WriteTx {
    pub async fn router_get(&mut self, id: &str) -> Result<Option<Router>> {
        get(&mut self.tx, id).await
    }

    /// Inserts a router without gateway and routes (set them with
    /// [`router_set_gateway`](Self::router_set_gateway) and
    /// [`router_set_routes`](Self::router_set_routes)).
    pub async fn router_insert(&mut self, r: &Router) -> Result<()> {
        sqlx::query(
            "INSERT INTO net_router (id, project_id, name, description, admin_state_up, status, \
             gw_port_id, enable_snat, availability_zone_hints, created_at, updated_at, \
             revision_number) VALUES ($1, $2, $3, $4, $5, $6, NULL, 1, $7, $8, $9, $10)",
        )
        .bind(&r.id)
        .bind(&r.project_id)
        .bind(&r.name)
        .bind(&r.description)
        .bind(b2i(r.admin_state_up))
        .bind(&r.status)
        .bind(json_text(&r.availability_zone_hints))
        .bind(&r.created_at)
        .bind(&r.updated_at)
        .bind(r.revision_number)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err("insert router"))?;
        Ok(())
    }

    /// Writes a router's own columns (not its gateway or routes).
    pub async fn router_update(&mut self, r: &Router) -> Result<()> {
        sqlx::query(
            "UPDATE net_router SET name = $2, description = $3, admin_state_up = $4, \
             updated_at = $5, revision_number = $6 WHERE id = $1",
        )
        .bind(&r.id)
        .bind(&r.name)
        .bind(&r.description)
        .bind(b2i(r.admin_state_up))
        .bind(&r.updated_at)
        .bind(r.revision_number)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err("update router"))?;
        Ok(())
    }

    /// Sets (or clears, with `None`) the gateway port and the SNAT flag.
    pub async fn router_set_gateway(
        &mut self,
        id: &str,
        gw_port_id: Option<&str>,
        enable_snat: bool,
    ) -> Result<()> {
        sqlx::query("UPDATE net_router SET gw_port_id = $2, enable_snat = $3 WHERE id = $1")
            .bind(id)
            .bind(gw_port_id.map(str::to_string))
            .bind(b2i(enable_snat))
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("update router gateway"))?;
        Ok(())
    }

    /// Replaces a router's static routes.
    pub async fn router_set_routes(&mut self, id: &str, routes: &[Route]) -> Result<()> {
        sqlx::query("DELETE FROM net_router_route WHERE router_id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("clear router routes"))?;
        for r in routes {
            sqlx::query(
                "INSERT INTO net_router_route (router_id, destination, nexthop) VALUES ($1, $2, $3)",
            )
            .bind(id)
            .bind(&r.destination)
            .bind(&r.nexthop)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("insert router route"))?;
        }
        Ok(())
    }

    /// Deletes a router row with its routes and leg records (not the legs' ports).
    pub async fn router_delete(&mut self, id: &str) -> Result<bool> {
        for sql in [
            "DELETE FROM net_router_route WHERE router_id = $1",
            "DELETE FROM net_router_port WHERE router_id = $1",
        ] {
            sqlx::query(sql)
                .bind(id)
                .execute(&mut *self.tx)
                .await
                .map_err(db_err("delete router children"))?;
        }
        let r = sqlx::query("DELETE FROM net_router WHERE id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await
            .map_err(db_err("delete router"))?;
        Ok(r.rows_affected() > 0)
    }

    /// Records `port_id` as a leg of a router. A port already some router's leg is a
    /// unique violation.
    pub async fn router_port_insert(
        &mut self,
        router_id: &str,
        port_id: &str,
        port_type: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO net_router_port (port_id, router_id, port_type) VALUES ($1, $2, $3)",
        )
        .bind(port_id)
        .bind(router_id)
        .bind(port_type)
        .execute(&mut *self.tx)
        .await
        .map_err(db_err("insert router port"))?;
        Ok(())
    }

    /// A router's legs: `(port_id, port_type)`.
    pub async fn router_ports(&mut self, router_id: &str) -> Result<Vec<(String, String)>> {
        ports_of(&mut self.tx, router_id).await
    }

    /// The router (and leg type) a port is a leg of.
    pub async fn router_of_port(&mut self, port_id: &str) -> Result<Option<(String, String)>> {
        let row =
            sqlx::query("SELECT router_id, port_type FROM net_router_port WHERE port_id = $1")
                .bind(port_id)
                .fetch_optional(&mut *self.tx)
                .await
                .map_err(db_err("select router port"))?;
        row.map(|r| Ok((col(&r, "router_id")?, col(&r, "port_type")?)))
            .transpose()
    }

    /// Whether a router exists (for the port-deletion check).
    pub async fn router_exists(&mut self, id: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM net_router WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *self.tx)
            .await
            .map_err(db_err("select router"))?;
        Ok(n > 0)
    }

    /// Routers whose gateway is on `network_id` with a leg on `subnet_id`
    /// (`get_router_for_floatingip`): `(router_id, leg address on the subnet)`.
    pub async fn routers_between(
        &mut self,
        subnet_id: &str,
        external_network_id: &str,
    ) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT DISTINCT rp.router_id, a.ip_address FROM net_router_port rp \
             JOIN net_ip_allocation a ON a.port_id = rp.port_id \
             JOIN net_router r ON r.id = rp.router_id \
             JOIN net_port gw ON gw.id = r.gw_port_id \
             WHERE rp.port_type = 'network:router_interface' AND a.subnet_id = $1 \
             AND gw.network_id = $2 ORDER BY rp.router_id",
        )
        .bind(subnet_id)
        .bind(external_network_id)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db_err("select routers for floating ip"))?;
        rows.iter()
            .map(|r| Ok((col(r, "router_id")?, col(r, "ip_address")?)))
            .collect()
    }
}
