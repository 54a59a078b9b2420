//! Flavors (Nova's `compute/flavors.py` and the flavor parts of `objects/flavor.py`):
//! visibility (a project sees public flavors and the private ones it was given; admins see
//! all), create with a generated id when none is given, the description (2.55), extra specs,
//! project access, and the bootstrap set devstack creates.
//!
//! What a caller may not see is `NotFound` (kind `flavor`); the API words the message.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use common_error::{Error, Result};
use compute_db::FlavorQuery;
use compute_model::Flavor;

use crate::{Compute, Context};

/// A validated `POST /flavors` body.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FlavorCreate {
    pub name: String,
    /// `None`: a generated UUID.
    pub id: Option<String>,
    pub ram: i64,
    pub vcpus: i64,
    pub disk: i64,
    pub ephemeral: i64,
    pub swap: i64,
    pub rxtx_factor: f64,
    pub is_public: bool,
    pub description: Option<String>,
}

/// Filters, order and page of `GET /flavors[/detail]` (checked by the API).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FlavorFilter {
    /// For admins: `Some(true)` public (the default), `Some(false)` private, `None` all.
    /// Ignored for other callers, who see public and granted flavors.
    pub is_public: Option<bool>,
    pub min_ram: Option<i64>,
    pub min_disk: Option<i64>,
    /// One of Nova's `VALID_SORT_KEYS`; `flavorid` by default.
    pub sort_key: Option<String>,
    /// `asc` (default) or `desc`.
    pub sort_dir: Option<String>,
    pub limit: Option<usize>,
    /// A flavor id: the page starts after it.
    pub marker: Option<String>,
}

/// Nova's sort keys for flavors.
pub const FLAVOR_SORT_KEYS: [&str; 15] = [
    "created_at",
    "description",
    "disabled",
    "ephemeral_gb",
    "flavorid",
    "id",
    "is_public",
    "memory_mb",
    "name",
    "root_gb",
    "rxtx_factor",
    "swap",
    "updated_at",
    "vcpu_weight",
    "vcpus",
];

/// The flavors devstack creates: (id, name, vcpus, ram MiB, disk GiB).
pub const DEFAULT_FLAVORS: [(&str, &str, i64, i64, i64); 7] = [
    ("1", "m1.tiny", 1, 512, 1),
    ("2", "m1.small", 1, 2048, 20),
    ("3", "m1.medium", 2, 4096, 40),
    ("4", "m1.large", 4, 8192, 80),
    ("5", "m1.xlarge", 8, 16384, 160),
    ("42", "m1.nano", 1, 128, 1),
    ("84", "m1.micro", 1, 192, 1),
];

fn compare(a: &Flavor, b: &Flavor, key: &str) -> Ordering {
    let by = match key {
        "name" => a.name.cmp(&b.name),
        "memory_mb" => a.ram.cmp(&b.ram),
        "root_gb" => a.disk.cmp(&b.disk),
        "ephemeral_gb" => a.ephemeral.cmp(&b.ephemeral),
        "swap" => a.swap.cmp(&b.swap),
        "vcpus" => a.vcpus.cmp(&b.vcpus),
        "rxtx_factor" => a.rxtx_factor.total_cmp(&b.rxtx_factor),
        "is_public" => a.is_public.cmp(&b.is_public),
        "disabled" => a.disabled.cmp(&b.disabled),
        "description" => a.description.cmp(&b.description),
        _ => Ordering::Equal,
    };
    by.then_with(|| a.id.cmp(&b.id))
}

impl Compute {
    /// Creates devstack's flavors that are missing (by id); existing ones are left alone.
    pub async fn flavors_seed_defaults(&self) -> Result<()> {
        for (id, name, vcpus, ram, disk) in DEFAULT_FLAVORS {
            if self.store.flavor_get(id).await?.is_some() {
                continue;
            }
            let f = Flavor {
                id: id.into(),
                name: name.into(),
                vcpus,
                ram,
                disk,
                ephemeral: 0,
                swap: 0,
                rxtx_factor: 1.0,
                is_public: true,
                disabled: false,
                description: None,
                extra_specs: BTreeMap::new(),
            };
            match self.store.flavor_create(&f).await {
                Ok(_) | Err(Error::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Whether `ctx` may see `f`: public, granted to its project, or an admin.
    async fn flavor_visible(&self, ctx: &Context, f: &Flavor) -> Result<bool> {
        if ctx.is_admin || f.is_public {
            return Ok(true);
        }
        Ok(self
            .store
            .flavor_access_list(&f.id)
            .await?
            .contains(&ctx.project_id))
    }

    /// The flavor if `ctx` may see it, else `NotFound`.
    pub async fn flavor_get(&self, ctx: &Context, id: &str) -> Result<Flavor> {
        match self.store.flavor_get(id).await? {
            Some(f) if self.flavor_visible(ctx, &f).await? => Ok(f),
            _ => Err(Error::not_found("flavor", id)),
        }
    }

    /// The flavors `ctx` may see matching `f`, sorted and paged. An unknown marker is
    /// `BadRequest` "marker [<m>] not found".
    pub async fn flavor_list(&self, ctx: &Context, f: &FlavorFilter) -> Result<Vec<Flavor>> {
        let q = if ctx.is_admin {
            FlavorQuery {
                is_public: f.is_public,
                project: Some(ctx.project_id.clone()),
                hide_disabled: false,
                min_ram: f.min_ram,
                min_disk: f.min_disk,
            }
        } else {
            FlavorQuery {
                is_public: Some(true),
                project: Some(ctx.project_id.clone()),
                hide_disabled: true,
                min_ram: f.min_ram,
                min_disk: f.min_disk,
            }
        };
        let mut all = self.store.flavor_list(&q).await?;
        let key = f.sort_key.as_deref().unwrap_or("flavorid");
        let desc = f.sort_dir.as_deref() == Some("desc");
        all.sort_by(|a, b| {
            let o = compare(a, b, key);
            if desc {
                o.reverse()
            } else {
                o
            }
        });
        if let Some(m) = &f.marker {
            let Some(pos) = all.iter().position(|x| &x.id == m) else {
                return Err(Error::bad_request(format!("marker [{m}] not found")));
            };
            all.drain(..=pos);
        }
        if let Some(l) = f.limit {
            all.truncate(l);
        }
        Ok(all)
    }

    /// Creates a flavor (admins; the API checks policy). `Conflict` with Nova's message for
    /// a taken name or id.
    pub async fn flavor_create(&self, _ctx: &Context, req: FlavorCreate) -> Result<Flavor> {
        let f = Flavor {
            id: req.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            name: req.name,
            vcpus: req.vcpus,
            ram: req.ram,
            disk: req.disk,
            ephemeral: req.ephemeral,
            swap: req.swap,
            rxtx_factor: req.rxtx_factor,
            is_public: req.is_public,
            disabled: false,
            description: req.description,
            extra_specs: BTreeMap::new(),
        };
        self.store.flavor_create(&f).await
    }

    /// Sets the description (2.55).
    pub async fn flavor_update(
        &self,
        ctx: &Context,
        id: &str,
        description: Option<String>,
    ) -> Result<Flavor> {
        if !self
            .store
            .flavor_update_description(id, description.as_deref())
            .await?
        {
            return Err(Error::not_found("flavor", id));
        }
        self.flavor_get(ctx, id).await
    }

    pub async fn flavor_delete(&self, _ctx: &Context, id: &str) -> Result<()> {
        if self.store.flavor_delete(id).await? {
            Ok(())
        } else {
            Err(Error::not_found("flavor", id))
        }
    }

    /// Adds or replaces extra specs; returns the ones given.
    pub async fn flavor_extra_specs_update(
        &self,
        ctx: &Context,
        id: &str,
        specs: BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>> {
        self.flavor_get(ctx, id).await?;
        if !self.store.flavor_extra_specs_set(id, &specs).await? {
            return Err(Error::not_found("flavor", id));
        }
        Ok(specs)
    }

    /// Removes one extra spec: `NotFound` kind `flavor extra spec` when it is not set.
    pub async fn flavor_extra_spec_delete(&self, ctx: &Context, id: &str, key: &str) -> Result<()> {
        self.flavor_get(ctx, id).await?;
        if self.store.flavor_extra_spec_delete(id, key).await? {
            Ok(())
        } else {
            Err(Error::not_found("flavor extra spec", key))
        }
    }

    /// Projects with access to a private flavor. A public flavor has no list:
    /// `NotFound` kind `flavor access`.
    pub async fn flavor_access_list(&self, ctx: &Context, id: &str) -> Result<Vec<String>> {
        let f = self.flavor_get(ctx, id).await?;
        if f.is_public {
            return Err(Error::not_found("flavor access", id));
        }
        self.store.flavor_access_list(id).await
    }

    /// Grants `project` a private flavor. `Conflict` with Nova's message when it has it
    /// already; a public flavor is `Conflict` "Can not add access to a public flavor.".
    pub async fn flavor_access_add(
        &self,
        ctx: &Context,
        id: &str,
        project: &str,
    ) -> Result<Vec<String>> {
        let f = self.flavor_get(ctx, id).await?;
        if f.is_public {
            return Err(Error::conflict("Can not add access to a public flavor."));
        }
        if !self.store.flavor_access_add(id, project).await? {
            return Err(Error::conflict(format!(
                "Flavor access already exists for flavor {id} and project {project} combination."
            )));
        }
        self.store.flavor_access_list(id).await
    }

    /// Revokes `project`'s access: `NotFound` kind `flavor access` when it had none.
    pub async fn flavor_access_remove(
        &self,
        ctx: &Context,
        id: &str,
        project: &str,
    ) -> Result<Vec<String>> {
        self.flavor_get(ctx, id).await?;
        if !self.store.flavor_access_remove(id, project).await? {
            return Err(Error::not_found("flavor access", project));
        }
        self.store.flavor_access_list(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::{admin, compute, member};

    #[tokio::test]
    async fn seed_creates_devstacks_flavors_once() {
        let (c, _d) = compute().await;
        c.flavors_seed_defaults().await.unwrap();
        c.flavors_seed_defaults().await.unwrap();
        let all = c
            .flavor_list(&member("p1"), &FlavorFilter::default())
            .await
            .unwrap();
        let names: Vec<&str> = all.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "m1.tiny",
                "m1.small",
                "m1.medium",
                "m1.large",
                "m1.nano",
                "m1.xlarge",
                "m1.micro"
            ]
        );
        let tiny = c.flavor_get(&member("p1"), "1").await.unwrap();
        assert_eq!((tiny.vcpus, tiny.ram, tiny.disk), (1, 512, 1));
    }

    #[tokio::test]
    async fn private_flavors_are_seen_only_with_access() {
        let (c, _d) = compute().await;
        let req = FlavorCreate {
            name: "secret".into(),
            id: Some("s1".into()),
            ram: 256,
            vcpus: 1,
            disk: 1,
            rxtx_factor: 1.0,
            is_public: false,
            ..FlavorCreate::default()
        };
        c.flavor_create(&admin(), req).await.unwrap();
        assert_eq!(
            c.flavor_get(&member("p1"), "s1").await,
            Err(Error::not_found("flavor", "s1"))
        );
        c.flavor_access_add(&admin(), "s1", "p1").await.unwrap();
        assert_eq!(
            c.flavor_access_add(&admin(), "s1", "p1").await,
            Err(Error::conflict(
                "Flavor access already exists for flavor s1 and project p1 combination."
            ))
        );
        assert_eq!(
            c.flavor_get(&member("p1"), "s1").await.unwrap().name,
            "secret"
        );
        let listed = c
            .flavor_list(&member("p1"), &FlavorFilter::default())
            .await
            .unwrap();
        assert_eq!(listed.len(), 1);
        assert!(c
            .flavor_list(&member("p2"), &FlavorFilter::default())
            .await
            .unwrap()
            .is_empty());
        c.flavor_access_remove(&admin(), "s1", "p1").await.unwrap();
        assert!(c.flavor_get(&member("p1"), "s1").await.is_err());
    }

    #[tokio::test]
    async fn list_sorts_and_pages_like_nova() {
        let (c, _d) = compute().await;
        c.flavors_seed_defaults().await.unwrap();
        let f = FlavorFilter {
            sort_key: Some("memory_mb".into()),
            sort_dir: Some("desc".into()),
            limit: Some(2),
            ..FlavorFilter::default()
        };
        let page: Vec<String> = c
            .flavor_list(&admin(), &f)
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.id)
            .collect();
        assert_eq!(page, vec!["5", "4"]);
        let next = FlavorFilter {
            marker: Some("4".into()),
            ..f.clone()
        };
        let page: Vec<String> = c
            .flavor_list(&admin(), &next)
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.id)
            .collect();
        assert_eq!(page, vec!["3", "2"]);
        let bad = FlavorFilter {
            marker: Some("nope".into()),
            ..f
        };
        assert_eq!(
            c.flavor_list(&admin(), &bad).await,
            Err(Error::bad_request("marker [nope] not found"))
        );
        let big = FlavorFilter {
            min_ram: Some(8192),
            ..FlavorFilter::default()
        };
        assert_eq!(c.flavor_list(&member("p"), &big).await.unwrap().len(), 2);
    }
}
