//! Security groups and rules: each project's `default` group (created on first need, with
//! Neutron's four default rules), protocol and port-range validation, remote prefixes
//! normalised, duplicates refused (`SecurityGroupRuleExists`), groups in use kept.

use common_error::{Error, Result};
use network_db::{now_text, WriteTx};
use network_model::errors::{invalid_attribute, invalid_input, neutron_error, Status};
use network_model::{SecurityGroup, SecurityGroupRule};

use crate::addr::{self, parse_cidr};
use crate::{Caller, Network};

/// Protocol names Neutron accepts, with their numbers.
pub const PROTOCOLS: &[(&str, u8)] = &[
    ("ah", 51),
    ("dccp", 33),
    ("egp", 8),
    ("esp", 50),
    ("gre", 47),
    ("hopopt", 0),
    ("icmp", 1),
    ("igmp", 2),
    ("ip", 0),
    ("ipip", 4),
    ("ipv6-encap", 41),
    ("ipv6-frag", 44),
    ("ipv6-icmp", 58),
    ("icmpv6", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("ipv6-route", 43),
    ("ospf", 89),
    ("pgm", 113),
    ("rsvp", 46),
    ("sctp", 132),
    ("tcp", 6),
    ("udp", 17),
    ("udplite", 136),
    ("vrrp", 112),
];

/// Protocols whose rules carry a port range.
const PORTED: &[u8] = &[6, 17, 33, 132, 136];

/// A new group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecurityGroupCreate {
    pub project_id: Option<String>,
    pub name: String,
    pub description: String,
    pub stateful: bool,
}

/// Changes to a group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecurityGroupUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub stateful: Option<bool>,
}

/// A new rule as the API parsed it (types checked).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleCreate {
    pub project_id: Option<String>,
    pub security_group_id: String,
    pub direction: String,
    pub ethertype: Option<String>,
    pub protocol: Option<String>,
    pub port_range_min: Option<i64>,
    pub port_range_max: Option<i64>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
    pub description: String,
}

pub fn not_found(id: &str) -> Error {
    Error::not_found("security_group", id)
}

pub fn rule_not_found(id: &str) -> Error {
    Error::not_found("security_group_rule", id)
}

/// A protocol as stored (a name lowercased, or a number as text), and its number.
fn protocol(p: &str) -> Result<Option<(String, u8)>> {
    let lower = p.to_ascii_lowercase();
    if lower.is_empty() || lower == "any" {
        return Ok(None);
    }
    if let Ok(n) = lower.parse::<i64>() {
        if (0..=255).contains(&n) {
            return Ok(Some((n.to_string(), n as u8)));
        }
    } else if let Some((name, n)) = PROTOCOLS.iter().find(|(name, _)| *name == lower) {
        return Ok(Some((name.to_string(), *n)));
    }
    let names: Vec<&str> = PROTOCOLS.iter().map(|p| p.0).collect();
    Err(neutron_error(
        Status::BadRequest,
        "SecurityGroupRuleInvalidProtocol",
        format!(
            "Security group rule protocol {p} not supported. Only protocol values [None, {}] and integer representations [0 to 255] are supported.",
            names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
        ),
    ))
}

fn new_rule(
    group: &SecurityGroup,
    direction: &str,
    ethertype: &str,
    remote_group: Option<String>,
) -> SecurityGroupRule {
    let now = now_text();
    SecurityGroupRule {
        id: crate::new_id(),
        project_id: group.project_id.clone(),
        security_group_id: group.id.clone(),
        direction: direction.into(),
        ethertype: ethertype.into(),
        protocol: None,
        port_range_min: None,
        port_range_max: None,
        remote_ip_prefix: None,
        remote_group_id: remote_group,
        description: String::new(),
        created_at: now.clone(),
        updated_at: now,
        revision_number: 0,
    }
}

/// What makes two rules the same rule: a `/0` prefix equals no prefix, a protocol name its
/// number.
fn fingerprint(r: &SecurityGroupRule) -> String {
    let proto = r
        .protocol
        .as_deref()
        .and_then(|p| protocol(p).ok().flatten())
        .map(|(_, n)| n.to_string())
        .unwrap_or_default();
    let prefix = r
        .remote_ip_prefix
        .as_deref()
        .filter(|p| !p.ends_with("/0"))
        .unwrap_or_default();
    let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    format!(
        "{}|{}|{}|{}|{}|{}|{}|{}",
        r.security_group_id,
        r.direction,
        r.ethertype,
        proto,
        opt(r.port_range_min),
        opt(r.port_range_max),
        prefix,
        r.remote_group_id.as_deref().unwrap_or_default()
    )
}

async fn insert_rule(tx: &mut WriteTx, r: &SecurityGroupRule) -> Result<()> {
    let fp = fingerprint(r);
    if let Some(id) = tx.security_group_rule_by_fingerprint(&fp).await? {
        return Err(neutron_error(
            Status::Conflict,
            "SecurityGroupRuleExists",
            format!("Security group rule already exists. Rule id is {id}."),
        ));
    }
    tx.security_group_rule_insert(r, &fp).await
}

impl Network {
    /// The id of `project`'s `default` group, creating it (with its four rules) on first
    /// need. Two concurrent first requests create one group.
    pub async fn security_group_default(&self, project: &str) -> Result<String> {
        if let Some(id) = self.store.default_security_group_id(project).await? {
            return Ok(id);
        }
        let mut tx = self.store.begin().await?;
        let now = now_text();
        let group = SecurityGroup {
            id: crate::new_id(),
            project_id: project.to_string(),
            name: "default".into(),
            description: "Default security group".into(),
            stateful: true,
            rules: Vec::new(),
            created_at: now.clone(),
            updated_at: now,
            revision_number: 0,
        };
        if !tx.default_security_group_claim(project, &group.id).await? {
            drop(tx);
            return self
                .store
                .default_security_group_id(project)
                .await?
                .ok_or_else(|| Error::internal("default security group", "claimed but missing"));
        }
        tx.security_group_insert(&group).await?;
        for ethertype in ["IPv4", "IPv6"] {
            insert_rule(&mut tx, &new_rule(&group, "egress", ethertype, None)).await?;
            insert_rule(
                &mut tx,
                &new_rule(&group, "ingress", ethertype, Some(group.id.clone())),
            )
            .await?;
        }
        tx.commit().await?;
        self.notify_changed();
        Ok(group.id)
    }

    /// Creates a group with Neutron's two egress rules.
    pub async fn security_group_create(
        &self,
        caller: &Caller,
        new: SecurityGroupCreate,
    ) -> Result<SecurityGroup> {
        if new.name.eq_ignore_ascii_case("default") {
            return Err(neutron_error(
                Status::Conflict,
                "SecurityGroupDefaultAlreadyExists",
                "Default security group already exists.",
            ));
        }
        let project = caller.project_for(new.project_id.as_deref());
        self.security_group_default(&project).await?;
        let now = now_text();
        let mut group = SecurityGroup {
            id: crate::new_id(),
            project_id: project,
            name: new.name,
            description: new.description,
            stateful: new.stateful,
            rules: Vec::new(),
            created_at: now.clone(),
            updated_at: now,
            revision_number: 1,
        };
        let mut tx = self.store.begin().await?;
        self.quota_check(&mut tx, &group.project_id, "security_group", 1)
            .await?;
        tx.security_group_insert(&group).await?;
        for ethertype in ["IPv4", "IPv6"] {
            let r = new_rule(&group, "egress", ethertype, None);
            insert_rule(&mut tx, &r).await?;
            group.rules.push(r);
        }
        tx.commit().await?;
        Ok(group)
    }

    /// A group the caller may see (its project's).
    pub async fn security_group_get(&self, caller: &Caller, id: &str) -> Result<SecurityGroup> {
        let g = self
            .store
            .security_group_get(id)
            .await?
            .ok_or_else(|| not_found(id))?;
        if caller.owns(&g.project_id) {
            Ok(g)
        } else {
            Err(not_found(id))
        }
    }

    /// The caller's groups (its `default` group is created first, as Neutron does).
    pub async fn security_group_list(&self, caller: &Caller) -> Result<Vec<SecurityGroup>> {
        if let Some(p) = caller.project_id.as_deref().filter(|p| !p.is_empty()) {
            self.security_group_default(p).await?;
        }
        self.store.security_group_list(caller.scope()).await
    }

    pub async fn security_group_update(
        &self,
        caller: &Caller,
        id: &str,
        up: SecurityGroupUpdate,
    ) -> Result<SecurityGroup> {
        let mut g = self.security_group_get(caller, id).await?;
        if let Some(name) = &up.name {
            if g.name == "default" && name != "default" {
                return Err(neutron_error(
                    Status::Conflict,
                    "SecurityGroupCannotUpdateDefault",
                    "Updating default security group not allowed.",
                ));
            }
            if g.name != "default" && name.eq_ignore_ascii_case("default") {
                return Err(neutron_error(
                    Status::Conflict,
                    "SecurityGroupDefaultAlreadyExists",
                    "Default security group already exists.",
                ));
            }
            g.name = name.clone();
        }
        if let Some(v) = up.description {
            g.description = v;
        }
        let mut tx = self.store.begin().await?;
        if let Some(v) = up.stateful {
            if v != g.stateful && tx.security_group_ports(id).await? > 0 {
                return Err(neutron_error(
                    Status::Conflict,
                    "SecurityGroupInUse",
                    format!("Security Group {id} in use."),
                ));
            }
            g.stateful = v;
        }
        g.updated_at = now_text();
        g.revision_number += 1;
        tx.security_group_update(&g).await?;
        tx.commit().await?;
        self.notify_changed();
        Ok(g)
    }

    /// Deletes a group: not the `default` one (unless admin), not one a port uses.
    pub async fn security_group_delete(&self, caller: &Caller, id: &str) -> Result<()> {
        let g = self.security_group_get(caller, id).await?;
        let is_default = self
            .store
            .default_security_group_id(&g.project_id)
            .await?
            .as_deref()
            == Some(id);
        if is_default && !caller.is_admin {
            return Err(neutron_error(
                Status::Conflict,
                "SecurityGroupCannotRemoveDefault",
                "Insufficient rights for removing default security group.",
            ));
        }
        let mut tx = self.store.begin().await?;
        if tx.security_group_ports(id).await? > 0 {
            return Err(neutron_error(
                Status::Conflict,
                "SecurityGroupInUse",
                format!("Security Group {id} in use."),
            ));
        }
        tx.security_group_delete(id).await?;
        tx.commit().await?;
        self.notify_changed();
        Ok(())
    }

    /// Creates a rule in a group of the caller's project.
    pub async fn security_group_rule_create(
        &self,
        caller: &Caller,
        new: RuleCreate,
    ) -> Result<SecurityGroupRule> {
        let group = self
            .security_group_get(caller, &new.security_group_id)
            .await?;
        let direction = new.direction.as_str();
        if direction != "ingress" && direction != "egress" {
            return Err(invalid_attribute(
                "direction",
                format!("'{direction}' is not in ['ingress', 'egress']"),
            ));
        }
        let ethertype = match new
            .ethertype
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("ipv4") => "IPv4",
            Some("ipv6") => "IPv6",
            Some(_) => {
                return Err(invalid_attribute(
                    "ethertype",
                    format!(
                        "'{}' is not in ['IPv4', 'IPv6']",
                        new.ethertype.as_deref().unwrap_or_default()
                    ),
                ))
            }
        };
        let proto = match new.protocol.as_deref() {
            Some(p) => protocol(p)?,
            None => None,
        };
        let (mut min, mut max) = (new.port_range_min, new.port_range_max);
        match proto.as_ref().map(|p| p.1) {
            _ if min.is_none() && max.is_none() => {}
            None => {
                return Err(neutron_error(
                    Status::BadRequest,
                    "SecurityGroupProtocolRequiredWithPorts",
                    "Must also specify protocol if port range is given.",
                ))
            }
            Some(n) if PORTED.contains(&n) => {
                for v in [min, max].into_iter().flatten() {
                    if !(0..=65535).contains(&v) {
                        return Err(neutron_error(
                            Status::BadRequest,
                            "SecurityGroupInvalidPortValue",
                            format!("Invalid value for port {v}"),
                        ));
                    }
                }
                match (min, max) {
                    (Some(a), Some(b)) if a <= b => {
                        if a == 1 && b == 65535 {
                            (min, max) = (None, None);
                        }
                    }
                    (Some(_), Some(_)) | (Some(_), None) | (None, Some(_)) => {
                        return Err(neutron_error(
                            Status::BadRequest,
                            "SecurityGroupInvalidPortRange",
                            "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                        ))
                    }
                    (None, None) => {}
                }
            }
            Some(1) | Some(58) => {
                for (field, attr, v) in [("type", "port_range_min", min), ("code", "port_range_max", max)] {
                    if let Some(v) = v {
                        if !(0..=255).contains(&v) {
                            return Err(neutron_error(
                                Status::BadRequest,
                                "SecurityGroupInvalidIcmpValue",
                                format!("Invalid value for ICMP {field} ({attr}) {v}. It must be 0 to 255."),
                            ));
                        }
                    }
                }
                if min.is_none() && max.is_some() {
                    return Err(neutron_error(
                        Status::BadRequest,
                        "SecurityGroupMissingIcmpType",
                        format!(
                            "ICMP code (port-range-max) {} is provided but ICMP type (port-range-min) is missing.",
                            max.unwrap_or_default()
                        ),
                    ));
                }
            }
            Some(_) => {
                return Err(invalid_input(format!(
                    "Invalid protocol {} for port range, only supported for TCP, UDP, UDPLITE, SCTP, DCCP and ICMP protocols",
                    new.protocol.as_deref().unwrap_or_default()
                )))
            }
        }
        if new.remote_ip_prefix.is_some() && new.remote_group_id.is_some() {
            return Err(neutron_error(
                Status::BadRequest,
                "SecurityGroupRemoteGroupAndRemoteIpPrefix",
                "Only remote_ip_prefix or remote_group_id may be provided.",
            ));
        }
        let prefix = match new.remote_ip_prefix.as_deref() {
            None => None,
            Some(p) => {
                let net = match (crate::addr::parse_ip(p), parse_cidr(p)) {
                    (Some(ip), _) => ipnet::IpNet::from(ip),
                    (None, Some(n)) => addr::normalize(n),
                    _ => {
                        return Err(invalid_attribute(
                            "remote_ip_prefix",
                            format!("'{p}' is not a valid IP subnet"),
                        ))
                    }
                };
                let v4 = net.addr().is_ipv4();
                if (ethertype == "IPv4") != v4 {
                    return Err(neutron_error(
                        Status::BadRequest,
                        "SecurityGroupRuleParameterConflict",
                        format!("Conflicting value ethertype {ethertype} for CIDR {p}"),
                    ));
                }
                Some(net.to_string())
            }
        };
        if let Some(rg) = &new.remote_group_id {
            let g = self
                .store
                .security_group_get(rg)
                .await?
                .ok_or_else(|| not_found(rg))?;
            if !caller.owns(&g.project_id) {
                return Err(not_found(rg));
            }
        }
        let mut rule = new_rule(&group, direction, ethertype, new.remote_group_id.clone());
        rule.project_id = new
            .project_id
            .clone()
            .unwrap_or_else(|| group.project_id.clone());
        rule.protocol = proto.map(|p| p.0);
        rule.port_range_min = min;
        rule.port_range_max = max;
        rule.remote_ip_prefix = prefix;
        rule.description = new.description;
        rule.revision_number = 1;
        let mut tx = self.store.begin().await?;
        self.quota_check(&mut tx, &rule.project_id, "security_group_rule", 1)
            .await?;
        match insert_rule(&mut tx, &rule).await {
            Err(e) if common_db::is_unique_violation(&e) => {
                drop(tx);
                let mut tx = self.store.begin().await?;
                let id = tx
                    .security_group_rule_by_fingerprint(&fingerprint(&rule))
                    .await?
                    .unwrap_or_default();
                return Err(neutron_error(
                    Status::Conflict,
                    "SecurityGroupRuleExists",
                    format!("Security group rule already exists. Rule id is {id}."),
                ));
            }
            r => r?,
        }
        tx.security_group_touch(&group.id, &rule.created_at).await?;
        tx.commit().await?;
        self.notify_changed();
        Ok(rule)
    }

    /// A rule the caller may see (its own, or in its group).
    pub async fn security_group_rule_get(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<SecurityGroupRule> {
        let r = self
            .store
            .security_group_rule_get(id)
            .await?
            .ok_or_else(|| rule_not_found(id))?;
        if caller.owns(&r.project_id) {
            return Ok(r);
        }
        match self.store.security_group_get(&r.security_group_id).await? {
            Some(g) if caller.owns(&g.project_id) => Ok(r),
            _ => Err(rule_not_found(id)),
        }
    }

    pub async fn security_group_rule_list(
        &self,
        caller: &Caller,
    ) -> Result<Vec<SecurityGroupRule>> {
        if let Some(p) = caller.project_id.as_deref().filter(|p| !p.is_empty()) {
            self.security_group_default(p).await?;
        }
        self.store.security_group_rule_list(caller.scope()).await
    }

    /// Changes a rule's description (the only attribute that may change).
    pub async fn security_group_rule_update(
        &self,
        caller: &Caller,
        id: &str,
        description: String,
    ) -> Result<SecurityGroupRule> {
        let mut r = self.security_group_rule_get(caller, id).await?;
        r.description = description;
        r.updated_at = now_text();
        r.revision_number += 1;
        let mut tx = self.store.begin().await?;
        tx.security_group_rule_update(&r).await?;
        tx.commit().await?;
        Ok(r)
    }

    pub async fn security_group_rule_delete(&self, caller: &Caller, id: &str) -> Result<()> {
        let r = self.security_group_rule_get(caller, id).await?;
        let mut tx = self.store.begin().await?;
        tx.security_group_rule_delete(id).await?;
        tx.security_group_touch(&r.security_group_id, &now_text())
            .await?;
        tx.commit().await?;
        self.notify_changed();
        Ok(())
    }
}
