//! An instance's NICs (Nova's network info cache): the list of [`Vif`]s in the guest's
//! order, written when the network service allocates or frees ports for the instance.

use std::collections::BTreeMap;

use common_db::db_err;
use common_error::{Error, Result};
use compute_model::Vif;

use super::sql::chunks;
use crate::{col, now_text, Store};

fn decode(text: &str) -> Result<Vec<Vif>> {
    serde_json::from_str(text).map_err(|e| Error::internal("decode instance network info", e))
}

impl Store {
    /// The NICs of `uuid` (empty when it has none).
    pub async fn instance_vifs(&self, uuid: &str) -> Result<Vec<Vif>> {
        let row = sqlx::query(
            "SELECT network_info FROM compute_instance_network WHERE instance_uuid = $1",
        )
        .bind(uuid)
        .fetch_optional(self.db().reader())
        .await
        .map_err(db_err("read instance network info"))?;
        match row {
            Some(r) => decode(&col::<String>(&r, "network_info")?),
            None => Ok(Vec::new()),
        }
    }

    /// The NICs of each of `uuids` that has some.
    pub async fn instance_vifs_of(&self, uuids: &[String]) -> Result<BTreeMap<String, Vec<Vif>>> {
        let mut out = BTreeMap::new();
        for part in chunks(uuids) {
            let marks: Vec<String> = (1..=part.len()).map(|n| format!("${n}")).collect();
            let sql = format!(
                "SELECT instance_uuid, network_info FROM compute_instance_network \
                 WHERE instance_uuid IN ({})",
                marks.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for u in part {
                q = q.bind(u);
            }
            let rows = q
                .fetch_all(self.db().reader())
                .await
                .map_err(db_err("read instance network info"))?;
            for r in rows {
                let vifs = decode(&col::<String>(&r, "network_info")?)?;
                if !vifs.is_empty() {
                    out.insert(col(&r, "instance_uuid")?, vifs);
                }
            }
        }
        Ok(out)
    }

    /// Replaces the NICs of `uuid` (an empty list removes the record).
    pub async fn instance_vifs_set(&self, uuid: &str, vifs: &[Vif]) -> Result<()> {
        let mut tx = self.db().begin().await?;
        if vifs.is_empty() {
            sqlx::query("DELETE FROM compute_instance_network WHERE instance_uuid = $1")
                .bind(uuid)
                .execute(&mut *tx)
                .await
                .map_err(db_err("clear instance network info"))?;
            return tx
                .commit()
                .await
                .map_err(db_err("commit instance network info"));
        }
        let text = serde_json::to_string(vifs)
            .map_err(|e| Error::internal("encode instance network info", e))?;
        sqlx::query(
            "INSERT INTO compute_instance_network (instance_uuid, network_info, updated_at) \
             VALUES ($1, $2, $3) ON CONFLICT (instance_uuid) \
             DO UPDATE SET network_info = $2, updated_at = $3",
        )
        .bind(uuid)
        .bind(text)
        .bind(now_text())
        .execute(&mut *tx)
        .await
        .map_err(db_err("write instance network info"))?;
        tx.commit()
            .await
            .map_err(db_err("commit instance network info"))
    }
}

#[cfg(test)]
mod tests {
    use compute_model::FixedIp;

    use super::*;

    #[tokio::test]
    async fn vifs_are_kept_in_order_and_cleared() {
        let (s, _dir) = crate::test_store().await;
        assert!(s.instance_vifs("i1").await.unwrap().is_empty());
        let vif = |p: &str| Vif {
            port_id: p.into(),
            network_id: "n1".into(),
            network_name: "private".into(),
            mac: "fa:16:3e:00:00:01".into(),
            tap: format!("tap{p}"),
            fixed_ips: vec![FixedIp {
                subnet_id: "s1".into(),
                ip_address: "10.0.0.5".into(),
            }],
            ..Vif::default()
        };
        s.instance_vifs_set("i1", &[vif("b"), vif("a")])
            .await
            .unwrap();
        let got = s.instance_vifs("i1").await.unwrap();
        assert_eq!(got, vec![vif("b"), vif("a")]);
        s.instance_vifs_set("i1", &[vif("a")]).await.unwrap();
        assert_eq!(s.instance_vifs("i1").await.unwrap(), vec![vif("a")]);
        s.instance_vifs_set("i2", &[vif("c")]).await.unwrap();
        let many = s
            .instance_vifs_of(&["i1".into(), "i2".into(), "i3".into()])
            .await
            .unwrap();
        assert_eq!(many.len(), 2);
        assert_eq!(many["i2"], vec![vif("c")]);
        s.instance_vifs_set("i1", &[]).await.unwrap();
        assert!(s.instance_vifs("i1").await.unwrap().is_empty());
    }
}
