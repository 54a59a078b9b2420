//! Regions, services and endpoints.

use common_db::{b2i, db_err, DbRow};
use common_error::Result;
use identity_model::{Endpoint, Region, Service};

use crate::query::{Bind, Select};
use crate::{col, extra_from_text, extra_to_text, flag, Store};

fn region_from_row(row: &DbRow) -> Result<Region> {
    Ok(Region {
        id: col(row, "id")?,
        description: col(row, "description")?,
        parent_region_id: col(row, "parent_region_id")?,
        extra: extra_from_text(&col::<String>(row, "extra")?),
    })
}

fn service_from_row(row: &DbRow) -> Result<Service> {
    Ok(Service {
        id: col(row, "id")?,
        service_type: col(row, "service_type")?,
        name: col(row, "name")?,
        description: col(row, "description")?,
        enabled: flag(row, "enabled")?,
        extra: extra_from_text(&col::<String>(row, "extra")?),
    })
}

fn endpoint_from_row(row: &DbRow) -> Result<Endpoint> {
    Ok(Endpoint {
        id: col(row, "id")?,
        service_id: col(row, "service_id")?,
        region_id: col(row, "region_id")?,
        interface: col(row, "interface")?,
        url: col(row, "url")?,
        enabled: flag(row, "enabled")?,
        extra: extra_from_text(&col::<String>(row, "extra")?),
    })
}

const REGION: &str = "SELECT id, description, parent_region_id, extra FROM region";
const SERVICE: &str = "SELECT id, service_type, name, description, enabled, extra FROM service";
const ENDPOINT: &str =
    "SELECT id, service_id, region_id, interface, url, enabled, extra FROM endpoint";

/// Filters for listing endpoints.
#[derive(Debug, Clone, Default)]
pub struct EndpointFilter {
    pub service_id: Option<String>,
    pub region_id: Option<String>,
    pub interface: Option<String>,
}

impl Store {
    pub async fn region_create(&self, r: &Region) -> Result<()> {
        let mut tx = self.db().begin().await?;
        sqlx::query(
            "INSERT INTO region (id, description, parent_region_id, extra) VALUES ($1, $2, $3, $4)",
        )
        .bind(&r.id)
        .bind(&r.description)
        .bind(r.parent_region_id.clone())
        .bind(extra_to_text(&r.extra))
        .execute(&mut *tx)
        .await
        .map_err(db_err("insert region"))?;
        tx.commit().await.map_err(db_err("commit region"))
    }

    pub async fn region_get(&self, id: &str) -> Result<Option<Region>> {
        let mut s = Select::new(REGION);
        s.eq_text("id", id);
        s.fetch_all(self.db().reader())
            .await?
            .first()
            .map(region_from_row)
            .transpose()
    }

    pub async fn region_list(&self, parent_region_id: Option<&str>) -> Result<Vec<Region>> {
        let mut s = Select::new(REGION);
        if let Some(p) = parent_region_id {
            s.eq_text("parent_region_id", p);
        }
        s.tail("ORDER BY id");
        s.fetch_all(self.db().reader())
            .await?
            .iter()
            .map(region_from_row)
            .collect()
    }

    pub async fn region_update(&self, r: &Region) -> Result<()> {
        let mut tx = self.db().begin().await?;
        sqlx::query(
            "UPDATE region SET description = $1, parent_region_id = $2, extra = $3 WHERE id = $4",
        )
        .bind(&r.description)
        .bind(r.parent_region_id.clone())
        .bind(extra_to_text(&r.extra))
        .bind(&r.id)
        .execute(&mut *tx)
        .await
        .map_err(db_err("update region"))?;
        tx.commit().await.map_err(db_err("commit region"))
    }

    pub async fn region_delete(&self, id: &str) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        let n = sqlx::query("DELETE FROM region WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("delete region"))?
            .rows_affected();
        tx.commit().await.map_err(db_err("commit region"))?;
        Ok(n > 0)
    }

    pub async fn service_create(&self, s: &Service) -> Result<()> {
        let mut tx = self.db().begin().await?;
        sqlx::query(
            "INSERT INTO service (id, service_type, name, description, enabled, extra) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&s.id)
        .bind(&s.service_type)
        .bind(&s.name)
        .bind(s.description.clone())
        .bind(b2i(s.enabled))
        .bind(extra_to_text(&s.extra))
        .execute(&mut *tx)
        .await
        .map_err(db_err("insert service"))?;
        tx.commit().await.map_err(db_err("commit service"))
    }

    pub async fn service_get(&self, id: &str) -> Result<Option<Service>> {
        let mut s = Select::new(SERVICE);
        s.eq_text("id", id);
        s.fetch_all(self.db().reader())
            .await?
            .first()
            .map(service_from_row)
            .transpose()
    }

    pub async fn service_list(
        &self,
        service_type: Option<&str>,
        name: Option<&str>,
    ) -> Result<Vec<Service>> {
        let mut s = Select::new(SERVICE);
        if let Some(t) = service_type {
            s.eq_text("service_type", t);
        }
        if let Some(n) = name {
            s.eq_text("name", n);
        }
        s.tail("ORDER BY service_type, name, id");
        s.fetch_all(self.db().reader())
            .await?
            .iter()
            .map(service_from_row)
            .collect()
    }

    pub async fn service_update(&self, s: &Service) -> Result<()> {
        let mut tx = self.db().begin().await?;
        sqlx::query(
            "UPDATE service SET service_type = $1, name = $2, description = $3, enabled = $4, \
             extra = $5 WHERE id = $6",
        )
        .bind(&s.service_type)
        .bind(&s.name)
        .bind(s.description.clone())
        .bind(b2i(s.enabled))
        .bind(extra_to_text(&s.extra))
        .bind(&s.id)
        .execute(&mut *tx)
        .await
        .map_err(db_err("update service"))?;
        tx.commit().await.map_err(db_err("commit service"))
    }

    /// Deletes a service and its endpoints.
    pub async fn service_delete(&self, id: &str) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        sqlx::query("DELETE FROM endpoint WHERE service_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("delete service endpoints"))?;
        let n = sqlx::query("DELETE FROM service WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("delete service"))?
            .rows_affected();
        tx.commit().await.map_err(db_err("commit service"))?;
        Ok(n > 0)
    }

    pub async fn endpoint_create(&self, e: &Endpoint) -> Result<()> {
        let mut tx = self.db().begin().await?;
        sqlx::query(
            "INSERT INTO endpoint (id, service_id, region_id, interface, url, enabled, extra) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&e.id)
        .bind(&e.service_id)
        .bind(e.region_id.clone())
        .bind(&e.interface)
        .bind(&e.url)
        .bind(b2i(e.enabled))
        .bind(extra_to_text(&e.extra))
        .execute(&mut *tx)
        .await
        .map_err(db_err("insert endpoint"))?;
        tx.commit().await.map_err(db_err("commit endpoint"))
    }

    pub async fn endpoint_get(&self, id: &str) -> Result<Option<Endpoint>> {
        let mut s = Select::new(ENDPOINT);
        s.eq_text("id", id);
        s.fetch_all(self.db().reader())
            .await?
            .first()
            .map(endpoint_from_row)
            .transpose()
    }

    pub async fn endpoint_list(&self, f: &EndpointFilter) -> Result<Vec<Endpoint>> {
        let mut s = Select::new(ENDPOINT);
        if let Some(v) = &f.service_id {
            s.eq_text("service_id", v);
        }
        if let Some(v) = &f.region_id {
            s.eq_text("region_id", v);
        }
        if let Some(v) = &f.interface {
            s.cond("interface = ?", vec![Bind::Text(v.clone())]);
        }
        s.tail("ORDER BY service_id, interface, id");
        s.fetch_all(self.db().reader())
            .await?
            .iter()
            .map(endpoint_from_row)
            .collect()
    }

    pub async fn endpoint_update(&self, e: &Endpoint) -> Result<()> {
        let mut tx = self.db().begin().await?;
        sqlx::query(
            "UPDATE endpoint SET service_id = $1, region_id = $2, interface = $3, url = $4, \
             enabled = $5, extra = $6 WHERE id = $7",
        )
        .bind(&e.service_id)
        .bind(e.region_id.clone())
        .bind(&e.interface)
        .bind(&e.url)
        .bind(b2i(e.enabled))
        .bind(extra_to_text(&e.extra))
        .bind(&e.id)
        .execute(&mut *tx)
        .await
        .map_err(db_err("update endpoint"))?;
        tx.commit().await.map_err(db_err("commit endpoint"))
    }

    pub async fn endpoint_delete(&self, id: &str) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        let n = sqlx::query("DELETE FROM endpoint WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("delete endpoint"))?
            .rows_affected();
        tx.commit().await.map_err(db_err("commit endpoint"))?;
        Ok(n > 0)
    }
}
