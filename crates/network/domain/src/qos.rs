//! QoS policies and their bandwidth limit rules (Neutron's `qos` plugin with
//! `qos-bw-limit-direction` and `qos-default`), and the `qos_policy_id` of ports and
//! networks. A project sees its own policies and shared ones; a policy in use by a port or a
//! network cannot be deleted.

use common_error::Result;
use network_db::{now_text, WriteTx};
use network_model::dataplane::Direction;
use network_model::errors::invalid_attribute;
use network_model::l3::{
    conflict, qos_policy_not_found, qos_rule_not_found, BandwidthLimitChange, BandwidthLimitRule,
    NewQosPolicy, QosPolicy, QosPolicyUpdate, MAX_KBPS, RULE_TYPE_BANDWIDTH_LIMIT,
};

use crate::{Caller, Network};

fn visible(caller: &Caller, p: &QosPolicy) -> bool {
    caller.owns(&p.project_id) || p.shared
}

fn check_kbps(attr: &str, v: i64) -> Result<()> {
    if !(0..=MAX_KBPS).contains(&v) {
        return Err(invalid_attribute(
            attr,
            format!("'{v}' is not in range 0 through {MAX_KBPS}"),
        ));
    }
    Ok(())
}

fn default_exists(project_id: &str) -> common_error::Error {
    conflict(
        "QoSPolicyDefaultAlreadyExists",
        format!("A default QoS policy exists for project {project_id}."),
    )
}

impl Network {
    /// A policy the caller may see (its own, a shared one, or any for an admin).
    pub async fn qos_policy_get(&self, caller: &Caller, id: &str) -> Result<QosPolicy> {
        let p = self
            .store
            .qos_policy_get(id)
            .await?
            .ok_or_else(|| qos_policy_not_found(id))?;
        if !visible(caller, &p) {
            return Err(qos_policy_not_found(id));
        }
        Ok(p)
    }

    /// Policies the caller may see.
    pub async fn qos_policy_list(&self, caller: &Caller) -> Result<Vec<QosPolicy>> {
        self.store.qos_policy_list(caller.scope()).await
    }

    /// A policy the caller may change: its own (a shared policy of another project is
    /// visible but not the caller's: 404, as Neutron answers a non-owner).
    async fn qos_policy_owned(
        &self,
        tx: &mut WriteTx,
        caller: &Caller,
        id: &str,
    ) -> Result<QosPolicy> {
        let p = tx
            .qos_policy_get(id)
            .await?
            .ok_or_else(|| qos_policy_not_found(id))?;
        if !caller.owns(&p.project_id) {
            return Err(qos_policy_not_found(id));
        }
        Ok(p)
    }

    pub async fn qos_policy_create(&self, new: NewQosPolicy) -> Result<QosPolicy> {
        let mut tx = self.store.begin().await?;
        let now = now_text();
        let mut p = QosPolicy {
            id: network_db::new_id(),
            project_id: new.project_id,
            name: new.name,
            description: new.description,
            shared: new.shared,
            is_default: false,
            rules: Vec::new(),
            created_at: now.clone(),
            updated_at: now,
            revision_number: 1,
        };
        tx.qos_policy_insert(&p).await?;
        if new.is_default {
            self.qos_mark_default(&mut tx, &p).await?;
            p.is_default = true;
        }
        tx.commit().await?;
        Ok(p)
    }

    async fn qos_mark_default(&self, tx: &mut WriteTx, p: &QosPolicy) -> Result<()> {
        match tx.qos_default_of(&p.project_id).await? {
            Some(id) if id == p.id => Ok(()),
            Some(_) => Err(default_exists(&p.project_id)),
            None => tx.qos_set_default(p, true).await.map_err(|e| {
                if common_db::is_unique_violation(&e) {
                    default_exists(&p.project_id)
                } else {
                    e
                }
            }),
        }
    }

    pub async fn qos_policy_update(
        &self,
        caller: &Caller,
        id: &str,
        up: QosPolicyUpdate,
    ) -> Result<QosPolicy> {
        let mut tx = self.store.begin().await?;
        let mut p = self.qos_policy_owned(&mut tx, caller, id).await?;
        if let Some(v) = up.name {
            p.name = v;
        }
        if let Some(v) = up.description {
            p.description = v;
        }
        if let Some(v) = up.shared {
            p.shared = v;
        }
        match up.is_default {
            Some(true) => self.qos_mark_default(&mut tx, &p).await?,
            Some(false) => tx.qos_set_default(&p, false).await?,
            None => {}
        }
        p.updated_at = now_text();
        p.revision_number += 1;
        tx.qos_policy_update(&p).await?;
        let out = tx
            .qos_policy_get(id)
            .await?
            .ok_or_else(|| qos_policy_not_found(id))?;
        tx.commit().await?;
        self.notify_changed();
        Ok(out)
    }

    /// Deletes a policy no port or network uses (`QosPolicyInUse`, 409).
    pub async fn qos_policy_delete(&self, caller: &Caller, id: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        self.qos_policy_owned(&mut tx, caller, id).await?;
        if let Some((kind, object)) = tx.qos_policy_user(id).await? {
            return Err(conflict(
                "QosPolicyInUse",
                format!("QoS Policy {id} is used by {kind} {object}."),
            ));
        }
        tx.qos_policy_delete(id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A rule of a policy the caller may see.
    pub async fn qos_rule_get(
        &self,
        caller: &Caller,
        policy_id: &str,
        rule_id: &str,
    ) -> Result<BandwidthLimitRule> {
        let p = self.qos_policy_get(caller, policy_id).await?;
        p.rules
            .into_iter()
            .find(|r| r.id == rule_id)
            .ok_or_else(|| qos_rule_not_found(rule_id, policy_id))
    }

    /// Adds a bandwidth limit rule (one per direction: `QoSRulesConflict`, 409).
    pub async fn qos_rule_create(
        &self,
        caller: &Caller,
        policy_id: &str,
        change: BandwidthLimitChange,
    ) -> Result<BandwidthLimitRule> {
        let Some(max_kbps) = change.max_kbps else {
            return Err(network_model::errors::bad_request(
                "Failed to parse request. Required attribute 'max_kbps' not specified",
            ));
        };
        check_kbps("max_kbps", max_kbps)?;
        let burst = change.max_burst_kbps.unwrap_or(0);
        check_kbps("max_burst_kbps", burst)?;
        let mut tx = self.store.begin().await?;
        let p = self.qos_policy_owned(&mut tx, caller, policy_id).await?;
        let rule = BandwidthLimitRule {
            id: network_db::new_id(),
            qos_policy_id: p.id.clone(),
            max_kbps,
            max_burst_kbps: burst,
            direction: change.direction.unwrap_or(Direction::Egress),
        };
        check_rule_conflict(&p, &rule)?;
        tx.qos_rule_insert(&rule).await.map_err(|e| {
            if common_db::is_unique_violation(&e) {
                rules_conflict(&p, &rule)
            } else {
                e
            }
        })?;
        self.qos_policy_touch(&mut tx, p).await?;
        tx.commit().await?;
        self.notify_changed();
        Ok(rule)
    }

    pub async fn qos_rule_update(
        &self,
        caller: &Caller,
        policy_id: &str,
        rule_id: &str,
        change: BandwidthLimitChange,
    ) -> Result<BandwidthLimitRule> {
        let mut tx = self.store.begin().await?;
        let p = self.qos_policy_owned(&mut tx, caller, policy_id).await?;
        let mut rule = p
            .rules
            .iter()
            .find(|r| r.id == rule_id)
            .cloned()
            .ok_or_else(|| qos_rule_not_found(rule_id, policy_id))?;
        if let Some(v) = change.max_kbps {
            check_kbps("max_kbps", v)?;
            rule.max_kbps = v;
        }
        if let Some(v) = change.max_burst_kbps {
            check_kbps("max_burst_kbps", v)?;
            rule.max_burst_kbps = v;
        }
        if let Some(d) = change.direction {
            rule.direction = d;
        }
        check_rule_conflict(&p, &rule)?;
        tx.qos_rule_update(&rule).await?;
        self.qos_policy_touch(&mut tx, p).await?;
        tx.commit().await?;
        self.notify_changed();
        Ok(rule)
    }

    pub async fn qos_rule_delete(
        &self,
        caller: &Caller,
        policy_id: &str,
        rule_id: &str,
    ) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let p = self.qos_policy_owned(&mut tx, caller, policy_id).await?;
        if !p.rules.iter().any(|r| r.id == rule_id) {
            return Err(qos_rule_not_found(rule_id, policy_id));
        }
        tx.qos_rule_delete(rule_id).await?;
        self.qos_policy_touch(&mut tx, p).await?;
        tx.commit().await?;
        self.notify_changed();
        Ok(())
    }

    async fn qos_policy_touch(&self, tx: &mut WriteTx, mut p: QosPolicy) -> Result<()> {
        p.updated_at = now_text();
        p.revision_number += 1;
        tx.qos_policy_update(&p).await
    }

    /// The rule types this cloud implements.
    pub fn qos_rule_types(&self) -> Vec<&'static str> {
        vec![RULE_TYPE_BANDWIDTH_LIMIT]
    }

    /// Checks `policy_id` for a port's or network's `qos_policy_id` (the caller must see
    /// it: `QosPolicyNotFound` otherwise) and binds it (`None` clears). The port and network
    /// code calls this in its own write transaction.
    pub async fn qos_bind(
        &self,
        tx: &mut WriteTx,
        caller: &Caller,
        target: QosTarget<'_>,
        policy_id: Option<&str>,
    ) -> Result<()> {
        if let Some(id) = policy_id {
            let p = tx
                .qos_policy_get(id)
                .await?
                .ok_or_else(|| qos_policy_not_found(id))?;
            if !visible(caller, &p) {
                return Err(qos_policy_not_found(id));
            }
        }
        match target {
            QosTarget::Port(id) => tx.qos_bind_port(id, policy_id).await,
            QosTarget::Network(id) => tx.qos_bind_network(id, policy_id).await,
        }
    }

    /// The project's default policy (`qos-default`), for a new network created without a
    /// `qos_policy_id`.
    pub async fn qos_default_policy(
        &self,
        tx: &mut WriteTx,
        project_id: &str,
    ) -> Result<Option<String>> {
        tx.qos_default_of(project_id).await
    }

    /// `qos_policy_id` of every port that has one (port id → policy id).
    pub async fn qos_port_bindings(&self) -> Result<std::collections::BTreeMap<String, String>> {
        self.store.qos_port_bindings().await
    }

    /// `qos_policy_id` of every network that has one (network id → policy id).
    pub async fn qos_network_bindings(&self) -> Result<std::collections::BTreeMap<String, String>> {
        self.store.qos_network_bindings().await
    }

    /// Binds a new network's policy in its creating transaction: the one asked for (which
    /// `caller` must see), else the project's default policy (`qos-default`).
    pub async fn qos_bind_new_network(
        &self,
        tx: &mut WriteTx,
        caller: &Caller,
        network_id: &str,
        project_id: &str,
        requested: Option<&str>,
    ) -> Result<()> {
        match requested {
            Some(id) => {
                self.qos_bind(tx, caller, QosTarget::Network(network_id), Some(id))
                    .await
            }
            None => match tx.qos_default_of(project_id).await? {
                Some(id) => tx.qos_bind_network(network_id, Some(&id)).await,
                None => Ok(()),
            },
        }
    }

    /// A port's `qos_policy_id`.
    pub async fn qos_policy_of_port(&self, port_id: &str) -> Result<Option<String>> {
        self.store.qos_policy_of_port(port_id).await
    }

    /// A network's `qos_policy_id`.
    pub async fn qos_policy_of_network(&self, network_id: &str) -> Result<Option<String>> {
        self.store.qos_policy_of_network(network_id).await
    }
}

/// What a `qos_policy_id` is set on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QosTarget<'a> {
    Port(&'a str),
    Network(&'a str),
}

fn rules_conflict(p: &QosPolicy, rule: &BandwidthLimitRule) -> common_error::Error {
    let existing = p
        .rules
        .iter()
        .find(|r| r.direction == rule.direction && r.id != rule.id)
        .map(|r| r.id.clone())
        .unwrap_or_default();
    conflict(
        "QoSRulesConflict",
        format!(
            "Rule {RULE_TYPE_BANDWIDTH_LIMIT} conflicts with rule {existing} which already exists in QoS Policy {}.",
            p.id
        ),
    )
}

/// One bandwidth limit per direction (Neutron's `duplicates` on `direction`).
fn check_rule_conflict(p: &QosPolicy, rule: &BandwidthLimitRule) -> Result<()> {
    if p.rules
        .iter()
        .any(|r| r.id != rule.id && r.direction == rule.direction)
    {
        return Err(rules_conflict(p, rule));
    }
    Ok(())
}
