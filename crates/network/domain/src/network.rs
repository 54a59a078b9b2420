//! Networks: create (with a segment: a VNI allocated from `vni_range` for tenant vxlan
//! networks, a flat physical network, or local), read with visibility, update, delete (with
//! its DHCP port and subnets, refused while other ports remain).

use common_error::{Error, Result};
use network_db::{now_text, WriteTx};
use network_model::errors::{invalid_input, neutron_error, Status};
use network_model::{Network as Net, AVAILABILITY_ZONE};

use crate::{retry_on_race, Caller, Network};

/// A new network as the API parsed it (types checked, policy on admin-only attributes
/// already enforced).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkCreate {
    pub project_id: Option<String>,
    pub name: String,
    pub description: String,
    pub admin_state_up: bool,
    pub shared: bool,
    pub external: bool,
    pub network_type: Option<String>,
    pub physical_network: Option<String>,
    pub segmentation_id: Option<i64>,
    pub mtu: Option<i64>,
    pub port_security_enabled: bool,
    pub availability_zone_hints: Vec<String>,
    /// `qos_policy_id` (a policy the caller sees); `None`: the project's default policy.
    pub qos_policy_id: Option<String>,
}

/// Changes to a network; `None` leaves an attribute alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub admin_state_up: Option<bool>,
    pub shared: Option<bool>,
    pub external: Option<bool>,
    pub mtu: Option<i64>,
    pub port_security_enabled: Option<bool>,
    /// `qos_policy_id`: `Some(None)` clears it.
    pub qos_policy_id: Option<Option<String>>,
}

/// Neutron's "not found" for networks.
pub fn not_found(id: &str) -> Error {
    Error::not_found("network", id)
}

fn status_of(admin_state_up: bool) -> String {
    if admin_state_up { "ACTIVE" } else { "DOWN" }.into()
}

impl Network {
    /// The `[network] vni_range` bounds.
    fn vni_range(&self) -> (i64, i64) {
        let parse = |s: &str| s.trim().parse::<i64>().ok();
        match self.cfg.vni_range.split_once(':') {
            Some((a, b)) => match (parse(a), parse(b)) {
                (Some(a), Some(b)) if a >= 1 && a <= b && b <= 16_777_215 => (a, b),
                _ => (1, 65_535),
            },
            None => (1, 65_535),
        }
    }

    /// The largest MTU a network of this type may have.
    fn max_mtu(&self, network_type: &str) -> i64 {
        match network_type {
            "flat" => i64::from(self.cfg.physical_mtu),
            _ => i64::from(self.cfg.tenant_mtu),
        }
    }

    fn check_segment(&self, new: &NetworkCreate, network_type: &str) -> Result<()> {
        match network_type {
            "vxlan" => {
                if new.physical_network.is_some() {
                    return Err(invalid_input(
                        "provider:physical_network specified for VXLAN network",
                    ));
                }
                if let Some(id) = new.segmentation_id {
                    let (lo, hi) = (1, 16_777_215);
                    if id < lo || id > hi {
                        return Err(invalid_input(format!(
                            "VXLAN network segmentation_id {id} is out of range {lo} to {hi}"
                        )));
                    }
                }
            }
            "flat" => {
                if new.segmentation_id.is_some() {
                    return Err(invalid_input(
                        "segmentation_id specified for flat provider network",
                    ));
                }
                if new.physical_network.as_deref().is_none_or(str::is_empty) {
                    return Err(invalid_input(
                        "physical_network required for flat provider network",
                    ));
                }
            }
            "local" => {
                if new.segmentation_id.is_some() || new.physical_network.is_some() {
                    return Err(invalid_input(
                        "provider:physical_network and provider:segmentation_id are not allowed for local network",
                    ));
                }
            }
            other => {
                return Err(invalid_input(format!(
                    "network_type value '{other}' not supported"
                )));
            }
        }
        Ok(())
    }

    /// Creates a network owned by the caller's project (or the requested one).
    pub async fn network_create(&self, caller: &Caller, new: NetworkCreate) -> Result<Net> {
        let network_type = new
            .network_type
            .clone()
            .unwrap_or_else(|| self.cfg.tenant_network_type.clone());
        self.check_segment(&new, &network_type)?;
        for az in &new.availability_zone_hints {
            if az != AVAILABILITY_ZONE {
                return Err(Error::not_found("availability_zone", az.clone()));
            }
        }
        let max = self.max_mtu(&network_type);
        let mtu = match new.mtu {
            Some(m) if m > max => {
                return Err(invalid_input(format!(
                    "Requested MTU is too big, maximum is {max}"
                )))
            }
            Some(m) if m < 68 => {
                return Err(invalid_input(format!(
                    "Requested MTU {m} is too small, minimum is 68"
                )))
            }
            Some(m) => m,
            None => max,
        };
        let now = now_text();
        let mut net = Net {
            id: crate::new_id(),
            project_id: caller.project_for(new.project_id.as_deref()),
            name: new.name.clone(),
            description: new.description.clone(),
            admin_state_up: new.admin_state_up,
            shared: new.shared,
            external: new.external,
            network_type: network_type.clone(),
            physical_network: new.physical_network.clone(),
            segmentation_id: new.segmentation_id,
            mtu,
            port_security_enabled: new.port_security_enabled,
            status: status_of(new.admin_state_up),
            availability_zone_hints: new.availability_zone_hints.clone(),
            subnets: Vec::new(),
            created_at: now.clone(),
            updated_at: now,
            revision_number: 1,
        };
        let explicit_vni = new.segmentation_id.is_some();
        let qos = (caller, new.qos_policy_id.as_deref());
        retry_on_race!(attempt => self.network_insert(&mut net, explicit_vni, qos, attempt).await)?;
        self.notify_changed();
        Ok(net)
    }

    async fn network_insert(
        &self,
        net: &mut Net,
        explicit_vni: bool,
        qos: (&Caller, Option<&str>),
        attempt: u32,
    ) -> Result<()> {
        let mut tx = self.store.begin().await?;
        self.quota_check(&mut tx, &net.project_id, "network", 1)
            .await?;
        match net.network_type.as_str() {
            "vxlan" if explicit_vni => {
                let vni = net.segmentation_id.unwrap_or_default();
                if !tx.vnis_in_use(vni, vni).await?.is_empty() {
                    return Err(neutron_error(
                        Status::Conflict,
                        "TunnelIdInUse",
                        format!("Unable to create the network. The tunnel ID {vni} is in use."),
                    ));
                }
            }
            "vxlan" => net.segmentation_id = Some(self.free_vni(&mut tx, attempt).await?),
            "flat" => {
                let p = net.physical_network.clone().unwrap_or_default();
                if tx.flat_in_use(&p).await? {
                    return Err(neutron_error(
                        Status::Conflict,
                        "FlatNetworkInUse",
                        format!(
                            "Unable to create the flat network. Physical network {p} is in use."
                        ),
                    ));
                }
            }
            _ => {}
        }
        tx.network_insert(net).await?;
        self.qos_bind_new_network(&mut tx, qos.0, &net.id, &net.project_id, qos.1)
            .await?;
        tx.commit().await
    }

    /// The lowest free VNI of the range (a later one on a retry, to step past a racing
    /// writer).
    async fn free_vni(&self, tx: &mut WriteTx, attempt: u32) -> Result<i64> {
        let (lo, hi) = self.vni_range();
        let used: std::collections::HashSet<i64> =
            tx.vnis_in_use(lo, hi).await?.into_iter().collect();
        let mut skip = attempt;
        let mut vni = lo;
        while vni <= hi {
            if !used.contains(&vni) {
                if skip == 0 {
                    return Ok(vni);
                }
                skip -= 1;
            }
            vni += 1;
        }
        Err(neutron_error(
            Status::Unavailable,
            "NoNetworkAvailable",
            "Unable to create the network. No tenant network is available for allocation.",
        ))
    }

    /// A network the caller may see (its own, shared or external), else `NetworkNotFound`.
    pub async fn network_get(&self, caller: &Caller, id: &str) -> Result<Net> {
        let net = self
            .store
            .network_get(id)
            .await?
            .ok_or_else(|| not_found(id))?;
        if caller.owns(&net.project_id) || net.shared || net.external {
            Ok(net)
        } else {
            Err(not_found(id))
        }
    }

    /// Networks the caller may see.
    pub async fn network_list(&self, caller: &Caller) -> Result<Vec<Net>> {
        self.store.network_list(caller.scope()).await
    }

    /// Updates a network the caller owns (a shared or external network of another project
    /// is visible but not the caller's: 404 as Neutron's policy answers a non-owner).
    pub async fn network_update(
        &self,
        caller: &Caller,
        id: &str,
        up: NetworkUpdate,
    ) -> Result<Net> {
        let mut tx = self.store.begin().await?;
        let mut net = tx.network_get(id).await?.ok_or_else(|| not_found(id))?;
        if !caller.owns(&net.project_id) {
            return Err(not_found(id));
        }
        if let Some(m) = up.mtu {
            let max = self.max_mtu(&net.network_type);
            if m > max {
                return Err(invalid_input(format!(
                    "Requested MTU is too big, maximum is {max}"
                )));
            }
            if m < 68 {
                return Err(invalid_input(format!(
                    "Requested MTU {m} is too small, minimum is 68"
                )));
            }
            net.mtu = m;
        }
        if up.shared == Some(false) && net.shared {
            let others = tx
                .port_list(&network_db::PortFilter {
                    network_id: Some(id.to_string()),
                    ..Default::default()
                })
                .await?
                .into_iter()
                .any(|p| p.project_id != net.project_id && !p.is_network_owned());
            if others {
                return Err(neutron_error(
                    Status::Conflict,
                    "InvalidSharedSetting",
                    format!("Unable to reconfigure sharing settings for network {id}. Multiple tenants are using it."),
                ));
            }
        }
        if let Some(v) = up.name {
            net.name = v;
        }
        if let Some(v) = up.description {
            net.description = v;
        }
        if let Some(v) = up.admin_state_up {
            net.admin_state_up = v;
            net.status = status_of(v);
        }
        if let Some(v) = up.shared {
            net.shared = v;
        }
        if let Some(v) = up.external {
            net.external = v;
        }
        if let Some(v) = up.port_security_enabled {
            net.port_security_enabled = v;
        }
        net.updated_at = now_text();
        net.revision_number += 1;
        tx.network_update(&net).await?;
        if let Some(policy) = &up.qos_policy_id {
            self.qos_bind(
                &mut tx,
                caller,
                crate::qos::QosTarget::Network(id),
                policy.as_deref(),
            )
            .await?;
        }
        tx.commit().await?;
        self.notify_changed();
        Ok(net)
    }

    /// Deletes a network with its subnets and DHCP port; refused (`NetworkInUse`) while any
    /// other port is on it.
    pub async fn network_delete(&self, caller: &Caller, id: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let net = tx.network_get(id).await?.ok_or_else(|| not_found(id))?;
        if !caller.owns(&net.project_id) {
            return Err(not_found(id));
        }
        let ports = tx
            .port_list(&network_db::PortFilter {
                network_id: Some(id.to_string()),
                ..Default::default()
            })
            .await?;
        if ports
            .iter()
            .any(|p| p.device_owner != network_model::DEVICE_OWNER_DHCP)
        {
            return Err(neutron_error(
                Status::Conflict,
                "NetworkInUse",
                format!("Unable to complete operation on network {id}. There are one or more ports still in use on the network."),
            ));
        }
        for p in &ports {
            tx.port_delete(&p.id).await?;
        }
        for s in tx.subnets_of_network(id).await? {
            tx.subnet_delete(&s.id).await?;
        }
        tx.network_delete(id).await?;
        tx.commit().await?;
        self.notify_changed();
        Ok(())
    }
}
