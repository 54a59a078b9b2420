//! The metadata service's content (Nova's `api/metadata/base.py`): what an instance reads
//! at 169.254.169.254, in the OpenStack format (`/openstack/<version>/meta_data.json`,
//! `user_data`, `network_data.json`, `vendor_data.json`) and the EC2 one
//! (`/<version>/meta-data/...`, `/<version>/user-data`). The same `meta_data.json` and
//! `network_data.json` go on the config drive.
//!
//! Who is asking is the binary's business ([`MetadataLookup`]: the network a listener
//! serves and the caller's address name a port, whose device is the instance); this module
//! only answers paths for a known instance.

use std::net::IpAddr;

use base64::Engine as _;
use common_error::Result;
use compute_model::{Instance, Vif, VmState};
use serde_json::{json, Value};

use crate::network::network_data;
use crate::ports::InstanceNetworking;
use crate::Compute;

/// Finds the instance behind a metadata request (implemented by the binary over the
/// network service: the port of `network_id` holding `remote_ip`, and its device).
#[async_trait::async_trait]
pub trait MetadataLookup: Send + Sync + 'static {
    /// The uuid of the instance whose port on `network_id` has `remote_ip`; `None` when no
    /// instance port has it.
    async fn instance_for(&self, network_id: &str, remote_ip: IpAddr) -> Result<Option<String>>;
}

/// OpenStack metadata versions (Nova's), oldest first; `latest` is the newest.
pub const OPENSTACK_VERSIONS: &[&str] = &[
    "2012-08-10",
    "2013-04-04",
    "2013-10-17",
    "2015-10-15",
    "2016-06-30",
    "2016-10-06",
    "2017-02-22",
    "2018-08-27",
    "2020-10-14",
];

/// EC2 metadata versions (Nova's), oldest first.
pub const EC2_VERSIONS: &[&str] = &[
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
];

/// What a metadata path answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `text/plain`: a listing (one entry a line) or a value.
    Text(String),
    /// `application/json`.
    Json(Value),
    /// `application/octet-stream` (user data as the user gave it).
    Bytes(Vec<u8>),
    NotFound,
}

/// `meta_data.json` as Nova's metadata service writes it.
pub fn meta_data(i: &Instance) -> Value {
    let mut seed = [0u8; 512];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut seed);
    let mut public_keys = serde_json::Map::new();
    let mut keys = Vec::new();
    if let (Some(name), Some(data)) = (&i.key_name, &i.key_data) {
        public_keys.insert(name.clone(), Value::String(data.clone()));
        keys.push(json!({"name": name, "type": "ssh", "data": data}));
    }
    json!({
        "uuid": i.uuid,
        "name": i.name,
        "hostname": i.hostname,
        "launch_index": i.launch_index,
        "availability_zone": i.availability_zone,
        "project_id": i.project_id,
        "public_keys": public_keys,
        "keys": keys,
        "meta": i.metadata,
        "devices": [],
        "random_seed": base64::engine::general_purpose::STANDARD.encode(seed),
    })
}

/// An EC2 metadata tree node.
enum Node {
    Leaf(String),
    /// Children: (path name, listing label, node).
    Dir(Vec<(String, String, Node)>),
}

fn dir(children: Vec<(&str, Node)>) -> Node {
    Node::Dir(
        children
            .into_iter()
            .map(|(name, n)| {
                let label = match n {
                    Node::Dir(_) => format!("{name}/"),
                    Node::Leaf(_) => name.to_string(),
                };
                (name.to_string(), label, n)
            })
            .collect(),
    )
}

fn leaf(s: impl Into<String>) -> Node {
    Node::Leaf(s.into())
}

/// Everything the metadata service serves for one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceMetadata {
    pub instance: Instance,
    pub vifs: Vec<Vif>,
    /// Live addresses (floating IPs for `public-ipv4`) and security groups.
    pub networking: InstanceNetworking,
}

impl InstanceMetadata {
    fn user_data(&self) -> Option<Vec<u8>> {
        let text = self.instance.user_data.as_deref()?;
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .ok()
    }

    fn address(&self, kind: &str) -> String {
        self.networking
            .addresses
            .values()
            .flatten()
            .find(|a| a.kind == kind && a.version == 4)
            .map(|a| a.addr.clone())
            .or_else(|| {
                (kind == "fixed")
                    .then(|| {
                        self.vifs
                            .iter()
                            .flat_map(|v| &v.fixed_ips)
                            .find(|ip| !ip.ip_address.contains(':'))
                            .map(|ip| ip.ip_address.clone())
                    })
                    .flatten()
            })
            .unwrap_or_default()
    }

    /// The EC2 `meta-data` tree (Nova's `get_ec2_metadata`).
    fn ec2(&self) -> Node {
        let i = &self.instance;
        let short: String = i.uuid.chars().filter(|c| *c != '-').take(8).collect();
        let mut keys = Vec::new();
        if let (Some(name), Some(data)) = (&i.key_name, &i.key_data) {
            keys.push((
                "0".to_string(),
                format!("0={name}"),
                dir(vec![("openssh-key", leaf(data.clone()))]),
            ));
        }
        let groups = if self.networking.security_groups.is_empty() {
            "default".to_string()
        } else {
            self.networking.security_groups.join("\n")
        };
        dir(vec![
            ("ami-id", leaf(format!("ami-{}", &short))),
            ("ami-launch-index", leaf(i.launch_index.to_string())),
            ("ami-manifest-path", leaf("FIXME")),
            (
                "block-device-mapping",
                dir(vec![("ami", leaf("vda")), ("root", leaf("/dev/vda"))]),
            ),
            ("hostname", leaf(i.hostname.clone())),
            ("instance-action", leaf("none")),
            ("instance-id", leaf(format!("i-{short}"))),
            ("instance-type", leaf(i.flavor.name.clone())),
            ("local-hostname", leaf(i.hostname.clone())),
            ("local-ipv4", leaf(self.address("fixed"))),
            (
                "placement",
                dir(vec![(
                    "availability-zone",
                    leaf(i.availability_zone.clone().unwrap_or_default()),
                )]),
            ),
            ("public-hostname", leaf(i.hostname.clone())),
            ("public-ipv4", leaf(self.address("floating"))),
            ("public-keys", Node::Dir(keys)),
            ("reservation-id", leaf(i.reservation_id.clone())),
            ("security-groups", leaf(groups)),
        ])
    }

    /// The answer to `path` (the request path, query removed).
    pub fn answer(&self, path: &str) -> Answer {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        match parts.as_slice() {
            [] => Answer::Text(listing(EC2_VERSIONS)),
            ["openstack"] => Answer::Text(listing(OPENSTACK_VERSIONS)),
            ["openstack", v, rest @ ..] if known(OPENSTACK_VERSIONS, v) => self.openstack(rest),
            [v, rest @ ..] if known(EC2_VERSIONS, v) => self.ec2_answer(rest),
            _ => Answer::NotFound,
        }
    }

    fn openstack(&self, rest: &[&str]) -> Answer {
        let user_data = self.user_data();
        match rest {
            [] => {
                let mut files = vec![
                    "meta_data.json",
                    "password",
                    "vendor_data.json",
                    "network_data.json",
                    "vendor_data2.json",
                ];
                if user_data.is_some() {
                    files.insert(0, "user_data");
                }
                Answer::Text(files.join("\n"))
            }
            ["meta_data.json"] => Answer::Json(meta_data(&self.instance)),
            ["user_data"] => user_data.map_or(Answer::NotFound, Answer::Bytes),
            ["network_data.json"] => match network_data(&self.vifs) {
                Value::Null => Answer::Json(json!({"links": [], "networks": [], "services": []})),
                v => Answer::Json(v),
            },
            ["vendor_data.json"] | ["vendor_data2.json"] => Answer::Json(json!({})),
            ["password"] => Answer::Text(String::new()),
            _ => Answer::NotFound,
        }
    }

    fn ec2_answer(&self, rest: &[&str]) -> Answer {
        match rest {
            [] => {
                let mut entries = vec!["meta-data/"];
                if self.instance.user_data.is_some() {
                    entries.push("user-data");
                }
                Answer::Text(entries.join("\n"))
            }
            ["user-data"] => self.user_data().map_or(Answer::NotFound, Answer::Bytes),
            ["meta-data", path @ ..] => {
                let tree = self.ec2();
                let mut node = &tree;
                for p in path {
                    let Node::Dir(children) = node else {
                        return Answer::NotFound;
                    };
                    match children.iter().find(|(name, _, _)| name == p) {
                        Some((_, _, n)) => node = n,
                        None => return Answer::NotFound,
                    }
                }
                match node {
                    Node::Leaf(s) => Answer::Text(s.clone()),
                    Node::Dir(children) => Answer::Text(
                        children
                            .iter()
                            .map(|(_, label, _)| label.as_str())
                            .collect::<Vec<_>>()
                            .join("\n"),
                    ),
                }
            }
            _ => Answer::NotFound,
        }
    }
}

fn known(versions: &[&str], v: &str) -> bool {
    v == "latest" || versions.contains(&v)
}

fn listing(versions: &[&str]) -> String {
    let mut all: Vec<&str> = versions.to_vec();
    all.push("latest");
    all.join("\n")
}

impl Compute {
    /// What the metadata service serves for instance `uuid`; `None` when it is gone.
    pub async fn metadata_for(&self, uuid: &str) -> Result<Option<InstanceMetadata>> {
        let Some(instance) = self.store.instance_get(uuid, false).await? else {
            return Ok(None);
        };
        if instance.vm_state == VmState::Deleted {
            return Ok(None);
        }
        let vifs = self.store.instance_vifs(uuid).await?;
        let mut networking = self.server_networking(&[uuid.to_string()][..]).await?;
        Ok(Some(InstanceMetadata {
            networking: networking.remove(uuid).unwrap_or_default(),
            instance,
            vifs,
        }))
    }

    /// What the metadata service answers on `path` to a caller at `remote_ip` on network
    /// `network_id`: `NotFound` for an address no instance holds.
    pub async fn metadata_answer(
        &self,
        lookup: &dyn MetadataLookup,
        network_id: &str,
        remote_ip: IpAddr,
        path: &str,
    ) -> Result<Answer> {
        let Some(uuid) = lookup.instance_for(network_id, remote_ip).await? else {
            return Ok(Answer::NotFound);
        };
        Ok(match self.metadata_for(&uuid).await? {
            Some(md) => md.answer(path),
            None => Answer::NotFound,
        })
    }
}

#[cfg(test)]
mod tests {
    use compute_model::FixedIp;

    use super::*;
    use crate::ports::ServerAddress;
    use crate::workflows::testkit::{create_req, ctx, Env};

    async fn md() -> InstanceMetadata {
        let env = Env::new(1).await;
        let req = crate::server::ServerCreate {
            key_name: Some("k1".into()),
            user_data: Some("IyEvYmluL3NoCmVjaG8gaGk=".into()),
            ..create_req("web-1")
        };
        let made = env.compute.server_create(&ctx("p1"), req).await.unwrap();
        env.settle(&made[0].uuid).await;
        let mut m = env
            .compute
            .metadata_for(&made[0].uuid)
            .await
            .unwrap()
            .unwrap();
        m.vifs = vec![Vif {
            port_id: "p1".into(),
            mac: "fa:16:3e:00:00:01".into(),
            fixed_ips: vec![FixedIp {
                subnet_id: "s".into(),
                ip_address: "10.0.0.5".into(),
            }],
            ..Vif::default()
        }];
        m.networking.addresses.insert(
            "private".into(),
            vec![ServerAddress {
                version: 4,
                addr: "172.24.4.9".into(),
                kind: "floating".into(),
                mac: "fa:16:3e:00:00:01".into(),
            }],
        );
        m
    }

    fn text(a: Answer) -> String {
        match a {
            Answer::Text(t) => t,
            other => panic!("not text: {other:?}"),
        }
    }

    #[tokio::test]
    async fn openstack_paths_serve_the_guest_init_fetches() {
        let m = md().await;
        let Answer::Json(j) = m.answer("/openstack/latest/meta_data.json") else {
            panic!()
        };
        assert_eq!(j["uuid"], m.instance.uuid.as_str());
        assert_eq!(j["hostname"], "web-1");
        assert_eq!(
            j["public_keys"]["k1"],
            m.instance.key_data.clone().unwrap().as_str()
        );
        assert_eq!(j["keys"][0]["type"], "ssh");
        assert_eq!(j["devices"], json!([]));
        assert_eq!(j["project_id"], "p1");
        assert_eq!(
            m.answer("/openstack/latest/user_data"),
            Answer::Bytes(b"#!/bin/sh\necho hi".to_vec())
        );
        assert!(
            matches!(m.answer("/openstack/2012-08-10/meta_data.json/"), Answer::Json(v) if v["uuid"] == j["uuid"])
        );
        assert!(
            matches!(m.answer("/openstack/2013-10-17/vendor_data.json"), Answer::Json(v) if v == json!({}))
        );
        let Answer::Json(nd) = m.answer("/openstack/latest/network_data.json") else {
            panic!()
        };
        assert_eq!(nd["links"][0]["ethernet_mac_address"], "fa:16:3e:00:00:01");
        let versions = text(m.answer("/openstack"));
        assert!(versions.starts_with("2012-08-10\n") && versions.ends_with("\nlatest"));
        assert!(text(m.answer("/openstack/latest/")).contains("network_data.json"));
        assert_eq!(
            m.answer("/openstack/1999-01-01/meta_data.json"),
            Answer::NotFound
        );
        assert_eq!(m.answer("/openstack/latest/nope"), Answer::NotFound);
    }

    #[tokio::test]
    async fn ec2_paths_list_and_answer() {
        let m = md().await;
        assert!(text(m.answer("/")).ends_with("2009-04-04\nlatest"));
        assert_eq!(text(m.answer("/latest")), "meta-data/\nuser-data");
        let index = text(m.answer("/latest/meta-data/"));
        for entry in [
            "hostname",
            "instance-id",
            "local-ipv4",
            "public-keys/",
            "placement/",
        ] {
            assert!(index.lines().any(|l| l == entry), "{entry} in {index}");
        }
        assert_eq!(text(m.answer("/latest/meta-data/hostname")), "web-1");
        let short: String = m.instance.uuid.replace('-', "")[..8].to_string();
        assert_eq!(
            text(m.answer("/2009-04-04/meta-data/instance-id")),
            format!("i-{short}")
        );
        assert_eq!(text(m.answer("/latest/meta-data/local-ipv4")), "10.0.0.5");
        assert_eq!(
            text(m.answer("/latest/meta-data/public-ipv4")),
            "172.24.4.9"
        );
        assert_eq!(text(m.answer("/latest/meta-data/public-keys/")), "0=k1");
        assert_eq!(
            text(m.answer("/latest/meta-data/public-keys/0")),
            "openssh-key"
        );
        assert_eq!(
            text(m.answer("/latest/meta-data/public-keys/0/openssh-key")),
            m.instance.key_data.clone().unwrap()
        );
        assert_eq!(
            text(m.answer("/latest/meta-data/placement/availability-zone")),
            "nova"
        );
        assert_eq!(
            m.answer("/latest/user-data"),
            Answer::Bytes(b"#!/bin/sh\necho hi".to_vec())
        );
        assert_eq!(m.answer("/latest/meta-data/hostname/x"), Answer::NotFound);
        assert_eq!(m.answer("/latest/meta-data/nope"), Answer::NotFound);
    }

    struct Lookup;

    #[async_trait::async_trait]
    impl MetadataLookup for Lookup {
        async fn instance_for(&self, net: &str, ip: IpAddr) -> Result<Option<String>> {
            Ok((net == "n1" && ip.to_string() == "10.0.0.5").then(|| "gone".to_string()))
        }
    }

    #[tokio::test]
    async fn unknown_callers_and_instances_get_not_found() {
        let env = Env::new(0).await;
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        let a = env
            .compute
            .metadata_answer(&Lookup, "n1", ip, "/openstack")
            .await;
        assert_eq!(a.unwrap(), Answer::NotFound);
        let ip: IpAddr = "10.0.0.5".parse().unwrap();
        let a = env
            .compute
            .metadata_answer(&Lookup, "n1", ip, "/openstack")
            .await;
        assert_eq!(a.unwrap(), Answer::NotFound, "no such instance");
    }
}
