//! Placement's rules over the store: which names exist (standard plus custom), validation
//! of inventories, and the provider filters (`resources`, `required`, `member_of`,
//! `in_tree`) that listing providers and building allocation candidates share.

mod candidates;

use std::collections::BTreeMap;

pub use candidates::{Candidate, Group};
use common_error::{Error, Result};
pub use placement_db::{coded_conflict, generation_conflict, CustomTable, Store, CODE_SEP};
use placement_model::{Inventory, ResourceProvider, Snapshot, STANDARD_CLASSES, STANDARD_TRAITS};

/// The largest integer Placement accepts for amounts.
pub const MAX_INT: i64 = 2_147_483_647;

/// The placement service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Placement {
    pub store: Store,
}

/// A trait requirement: every `all` trait, at least one of each `any_of` set, none of `forbidden`.
#[derive(Debug, Clone, Default)]
pub struct TraitReq {
    pub all: Vec<String>,
    pub any_of: Vec<Vec<String>>,
    pub forbidden: Vec<String>,
}

impl TraitReq {
    pub fn is_empty(&self) -> bool {
        self.all.is_empty() && self.any_of.is_empty() && self.forbidden.is_empty()
    }

    /// Whether a set of traits satisfies this requirement.
    pub fn matches(&self, have: &[String]) -> bool {
        self.all.iter().all(|t| have.contains(t))
            && self
                .any_of
                .iter()
                .all(|set| set.iter().any(|t| have.contains(t)))
            && !self.forbidden.iter().any(|t| have.contains(t))
    }
}

/// An aggregate requirement: one of each `any_of` set, none of `forbidden`.
#[derive(Debug, Clone, Default)]
pub struct AggReq {
    pub any_of: Vec<Vec<String>>,
    pub forbidden: Vec<String>,
}

impl AggReq {
    pub fn matches(&self, have: &[String]) -> bool {
        self.any_of
            .iter()
            .all(|set| set.iter().any(|a| have.contains(a)))
            && !self.forbidden.iter().any(|a| have.contains(a))
    }
}

/// Filters of `GET /resource_providers`.
#[derive(Debug, Clone, Default)]
pub struct ProviderFilter {
    pub uuid: Option<String>,
    pub name: Option<String>,
    pub in_tree: Option<String>,
    pub member_of: AggReq,
    pub required: TraitReq,
    pub resources: BTreeMap<String, i64>,
}

impl Placement {
    pub fn new(store: Store) -> Self {
        Placement { store }
    }

    /// Whether a resource class exists (standard or custom).
    pub async fn class_exists(&self, name: &str) -> Result<bool> {
        Ok(STANDARD_CLASSES.contains(&name)
            || self
                .store
                .custom_names(CustomTable::Class)
                .await?
                .iter()
                .any(|c| c == name))
    }

    /// Every resource class: the standard ones then the custom ones.
    pub async fn classes(&self) -> Result<Vec<String>> {
        let mut out: Vec<String> = STANDARD_CLASSES.iter().map(|s| s.to_string()).collect();
        out.extend(self.store.custom_names(CustomTable::Class).await?);
        Ok(out)
    }

    /// Every trait, sorted.
    pub async fn traits(&self) -> Result<Vec<String>> {
        let mut out: Vec<String> = STANDARD_TRAITS.iter().map(|s| s.to_string()).collect();
        out.extend(self.store.custom_names(CustomTable::Trait).await?);
        out.sort();
        Ok(out)
    }

    pub async fn trait_exists(&self, name: &str) -> Result<bool> {
        Ok(STANDARD_TRAITS.contains(&name)
            || self
                .store
                .custom_names(CustomTable::Trait)
                .await?
                .iter()
                .any(|c| c == name))
    }

    /// Checks every name is a known trait (400 otherwise).
    pub async fn check_traits(&self, names: &[String]) -> Result<()> {
        let all = self.traits().await?;
        let missing: Vec<&String> = names.iter().filter(|t| !all.contains(t)).collect();
        if missing.is_empty() {
            Ok(())
        } else {
            let m: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
            Err(Error::bad_request(format!(
                "No such trait(s): {}",
                m.join(", ")
            )))
        }
    }

    /// A provider or 404.
    pub async fn provider(&self, uuid: &str) -> Result<ResourceProvider> {
        self.store
            .provider_get(uuid)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "resource provider",
                id: uuid.into(),
            })
    }

    /// Providers matching `f`, in creation order.
    pub async fn providers(&self, f: &ProviderFilter) -> Result<(Vec<ResourceProvider>, Snapshot)> {
        let snap = self.store.snapshot().await?;
        let root_of_tree = match &f.in_tree {
            Some(t) => match snap.providers.iter().find(|p| &p.uuid == t) {
                Some(p) => Some(p.root_provider_uuid.clone()),
                None => return Ok((Vec::new(), snap)),
            },
            None => None,
        };
        let empty = Vec::new();
        let out = snap
            .providers
            .iter()
            .filter(|p| f.uuid.as_ref().is_none_or(|u| &p.uuid == u))
            .filter(|p| f.name.as_ref().is_none_or(|n| &p.name == n))
            .filter(|p| {
                root_of_tree
                    .as_ref()
                    .is_none_or(|r| &p.root_provider_uuid == r)
            })
            .filter(|p| {
                f.member_of
                    .matches(snap.aggregates.get(&p.uuid).unwrap_or(&empty))
            })
            .filter(|p| {
                f.required
                    .matches(snap.traits.get(&p.uuid).unwrap_or(&empty))
            })
            .filter(|p| f.resources.iter().all(|(c, n)| fits(&snap, &p.uuid, c, *n)))
            .cloned()
            .collect();
        Ok((out, snap))
    }

    /// Validates an inventory record.
    pub async fn check_inventory(&self, i: &Inventory) -> Result<()> {
        if !self.class_exists(&i.resource_class).await? {
            return Err(Error::bad_request(format!(
                "Unknown resource class in inventory for resource provider: {}",
                i.resource_class
            )));
        }
        if i.reserved > i.total && i.total > 0 {
            return Err(Error::bad_request(format!(
                "Unable to update inventory for resource provider: Invalid inventory for '{}': reserved ({}) must be less than or equal to total ({}).",
                i.resource_class, i.reserved, i.total
            )));
        }
        if i.min_unit > i.max_unit {
            return Err(Error::bad_request(format!(
                "Unable to update inventory for resource provider: Invalid inventory for '{}': min_unit must be less than or equal to max_unit.",
                i.resource_class
            )));
        }
        Ok(())
    }
}

/// Whether `amount` of `class` fits on provider `p` now.
pub fn fits(snap: &Snapshot, p: &str, class: &str, amount: i64) -> bool {
    let Some(inv) = snap.inventories.get(p).and_then(|m| m.get(class)) else {
        return false;
    };
    let used = snap
        .usages
        .get(p)
        .and_then(|m| m.get(class))
        .copied()
        .unwrap_or(0);
    inv.unit_ok(amount) && used + amount <= inv.capacity()
}

/// A new provider uuid.
pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}
