//! Network API (Neutron v2.0) for L2 and security groups: CRUD, list semantics, every bad
//! input of issue #5's acceptance 4 with Neutron's status and body and nothing created,
//! project isolation, and concurrent IP allocation.

use api_tests::{Resp, TestCloud};
use reqwest::Method;
use serde_json::{json, Value};

struct Net {
    cloud: TestCloud,
}

impl Net {
    fn url(&self, path: &str) -> String {
        format!("{}/network/v2.0{}", self.cloud.base, path)
    }
    async fn get(&self, t: &str, path: &str) -> Resp {
        self.cloud
            .req(Method::GET, &self.url(path), Some(t), None)
            .await
    }
    async fn post(&self, t: &str, path: &str, body: Value) -> Resp {
        self.cloud
            .req(Method::POST, &self.url(path), Some(t), Some(body))
            .await
    }
    async fn put(&self, t: &str, path: &str, body: Value) -> Resp {
        self.cloud
            .req(Method::PUT, &self.url(path), Some(t), Some(body))
            .await
    }
    async fn delete(&self, t: &str, path: &str) -> Resp {
        self.cloud
            .req(Method::DELETE, &self.url(path), Some(t), None)
            .await
    }
    async fn network(&self, t: &str, name: &str) -> String {
        let r = self
            .post(
                t,
                "/networks",
                json!({"network": {"name": name, "admin_state_up": true}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["network"]["id"].as_str().unwrap().to_string()
    }
    async fn subnet(&self, t: &str, net: &str, cidr: &str) -> Value {
        let r = self
            .post(
                t,
                "/subnets",
                json!({"subnet": {"name": "s", "network_id": net, "cidr": cidr, "ip_version": 4}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["subnet"].clone()
    }
    async fn count(&self, t: &str, path: &str, key: &str) -> usize {
        let r = self.get(t, path).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body[key].as_array().unwrap().len()
    }
}

async fn start() -> (Net, String) {
    let cloud = TestCloud::start().await.unwrap();
    let admin = cloud.admin_token().await;
    (Net { cloud }, admin)
}

fn assert_neutron(r: &Resp, status: u16, kind: &str, message: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body["NeutronError"]["type"], kind, "{}", r.text);
    assert_eq!(r.body["NeutronError"]["message"], message, "{}", r.text);
    assert_eq!(r.body["NeutronError"]["detail"], "", "{}", r.text);
}

#[tokio::test]
async fn versions_extensions_and_zones() {
    let (n, admin) = start().await;
    let r = n
        .cloud
        .req(
            Method::GET,
            &format!("{}/network/", n.cloud.base),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["versions"][0]["id"], "v2.0");
    assert_eq!(
        r.body["versions"][0]["links"][0]["href"],
        format!("{}/network/v2.0/", n.cloud.base)
    );
    let r = n.get(&admin, "/extensions").await;
    let aliases: Vec<&str> = r.body["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["alias"].as_str().unwrap())
        .collect();
    for a in [
        "security-group",
        "quotas",
        "provider",
        "external-net",
        "port-security",
        "binding",
        "pagination",
        "sorting",
    ] {
        assert!(aliases.contains(&a), "{a} missing");
    }
    assert_eq!(
        n.get(&admin, "/extensions/quotas").await.body["extension"]["alias"],
        "quotas"
    );
    assert_eq!(n.get(&admin, "/extensions/nope").await.status, 404);
    let r = n.get(&admin, "/availability_zones").await;
    assert_eq!(r.body["availability_zones"][0]["name"], "nova");
    assert_eq!(
        n.cloud
            .req(Method::GET, &n.url("/networks"), None, None)
            .await
            .status,
        401
    );
    n.cloud.stop().await.unwrap();
}

#[tokio::test]
async fn network_subnet_port_crud() {
    let (n, admin) = start().await;
    let (_, _, t) = n.cloud.user_with_role(&admin, "alice", "member").await;
    let r = n
        .post(
            &t,
            "/networks",
            json!({"network": {"name": "net1", "admin_state_up": true}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let net = &r.body["network"];
    let id = net["id"].as_str().unwrap().to_string();
    assert_eq!(net["status"], "ACTIVE");
    assert_eq!(net["subnets"], json!([]));
    assert_eq!(net["mtu"], 1450);
    assert!(
        net.get("provider:network_type").is_none(),
        "admin-only attribute hidden"
    );
    let r = n.get(&admin, &format!("/networks/{id}")).await;
    assert_eq!(r.body["network"]["provider:network_type"], "vxlan");
    assert!(r.body["network"]["provider:segmentation_id"].is_number());

    let sn = n.subnet(&t, &id, "10.0.0.0/24").await;
    for k in ["dns_nameservers", "host_routes", "service_types", "tags"] {
        assert_eq!(sn[k], json!([]), "{k}");
    }
    assert_eq!(
        sn["allocation_pools"],
        json!([{"start": "10.0.0.2", "end": "10.0.0.254"}])
    );
    assert_eq!(sn["gateway_ip"], "10.0.0.1");
    assert_eq!(sn["subnetpool_id"], Value::Null);
    let r = n
        .post(&t, "/subnets", json!({"subnet": {"network_id": id, "cidr": "10.9.0.0/24", "ip_version": 4, "gateway_ip": null, "enable_dhcp": false}}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["subnet"]["gateway_ip"], Value::Null);
    assert_eq!(r.body["subnet"]["allocation_pools"][0]["start"], "10.9.0.1");
    let r = n
        .post(
            &t,
            "/subnets",
            json!({"subnet": {"network_id": id, "cidr": "fd00::/64", "ip_version": 6}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["subnet"]["gateway_ip"], "fd00::1");

    let r = n.post(&t, "/ports", json!({"port": {"network_id": id, "name": "p1", "device_id": "vm1", "device_owner": "compute:nova"}})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let port = r.body["port"].clone();
    let pid = port["id"].as_str().unwrap().to_string();
    assert!(port["mac_address"]
        .as_str()
        .unwrap()
        .starts_with("fa:16:3e:"));
    assert_eq!(port["status"], "DOWN");
    assert_eq!(port["security_groups"].as_array().unwrap().len(), 1);
    assert!(port.get("binding:host_id").is_none());
    let ips: Vec<&str> = port["fixed_ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["ip_address"].as_str().unwrap())
        .collect();
    assert_eq!(ips.len(), 2, "one IPv4 and one IPv6 address: {ips:?}");
    assert!(
        ips.contains(&"10.0.0.3") || ips.contains(&"10.9.0.1"),
        "{ips:?}"
    );
    let r = n.get(&t, "/ports?device_id=vm1").await;
    assert_eq!(r.body["ports"].as_array().unwrap().len(), 1);
    let r = n.get(&t, "/ports?device_owner=network:dhcp").await;
    assert_eq!(
        r.body["ports"].as_array().unwrap().len(),
        1,
        "DHCP port on the DHCP subnets"
    );
    let r = n
        .put(
            &t,
            &format!("/ports/{pid}"),
            json!({"port": {"name": "renamed", "fixed_ips": [{"ip_address": "10.0.0.50"}]}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["port"]["fixed_ips"],
        json!([{"subnet_id": sn["id"], "ip_address": "10.0.0.50"}])
    );
    assert!(r.body["port"]["created_at"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    assert_eq!(r.body["port"]["created_at"].as_str().unwrap().len(), 20);
    assert_eq!(r.body["port"]["revision_number"], 2);
    let r = n
        .put(
            &t,
            &format!("/networks/{id}"),
            json!({"network": {"name": "net1b", "mtu": 1400}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["network"]["mtu"], 1400);
    let r = n
        .put(
            &t,
            &format!("/networks/{id}"),
            json!({"network": {"shared": true}}),
        )
        .await;
    assert_neutron(
        &r,
        403,
        "PolicyNotAuthorized",
        "rule:update_network:shared is disallowed by policy",
    );
    let r = n
        .put(
            &t,
            &format!("/networks/{id}"),
            json!({"network": {"bogus": 1}}),
        )
        .await;
    assert_neutron(
        &r,
        400,
        "HTTPBadRequest",
        "Unrecognized attribute(s) 'bogus'",
    );
    assert_eq!(n.delete(&t, &format!("/ports/{pid}")).await.status, 204);
    assert_eq!(n.delete(&t, &format!("/networks/{id}")).await.status, 204);
    assert_eq!(
        n.count(&admin, &format!("/ports?network_id={id}"), "ports")
            .await,
        0,
        "DHCP port removed with its network"
    );
    assert_eq!(
        n.count(&admin, &format!("/subnets?network_id={id}"), "subnets")
            .await,
        0
    );
    n.cloud.stop().await.unwrap();
}

#[tokio::test]
async fn filters_fields_sorting_and_pagination() {
    let (n, admin) = start().await;
    let (_, _, t) = n.cloud.user_with_role(&admin, "alice", "member").await;
    let mut ids = Vec::new();
    for name in ["a", "b", "c", "d", "e"] {
        ids.push(n.network(&t, name).await);
    }
    let r = n.get(&t, "/networks?name=a&name=c&sort_key=name").await;
    let names: Vec<&str> = r.body["networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "c"]);
    let r = n.get(&t, "/networks?name=b&fields=id&fields=name").await;
    assert_eq!(r.body["networks"][0].as_object().unwrap().len(), 2);
    let r = n
        .get(
            &t,
            "/networks?admin_state_up=true&shared=false&router:external=false",
        )
        .await;
    assert_eq!(r.body["networks"].as_array().unwrap().len(), 5);
    let r = n.get(&t, "/networks?nope=1").await;
    assert_neutron(
        &r,
        400,
        "HTTPBadRequest",
        "[nope] is invalid attribute for filtering",
    );
    let r = n
        .get(
            &t,
            "/networks?router:external=false&sort_key=name&sort_dir=desc&limit=2",
        )
        .await;
    let names: Vec<&str> = r.body["networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["e", "d"]);
    let next = r.body["networks_links"][0]["href"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(r.body["networks_links"][0]["rel"], "next");
    assert!(
        next.starts_with(&format!("{}/network/v2.0/networks?", n.cloud.base)),
        "{next}"
    );
    let r = n.cloud.req(Method::GET, &next, Some(&t), None).await;
    let names: Vec<&str> = r.body["networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["c", "b"]);
    let r = n
        .get(
            &t,
            &format!(
                "/networks?router:external=false&sort_key=name&limit=2&marker={}",
                ids[3]
            ),
        )
        .await;
    let names: Vec<&str> = r.body["networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["e"]);
    assert!(r.body["networks_links"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["rel"] != "next"));
    let r = n
        .get(&t, "/networks?marker=00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(r.status, 404);
    n.cloud.stop().await.unwrap();
}

#[tokio::test]
async fn bad_input_answers_like_neutron_and_creates_nothing() {
    let (n, admin) = start().await;
    let (_, _, a) = n.cloud.user_with_role(&admin, "alice", "member").await;
    let (_, _, b) = n.cloud.user_with_role(&admin, "bob", "member").await;
    let net = n.network(&a, "n").await;
    let sn = n.subnet(&a, &net, "10.0.0.0/24").await;
    let sid = sn["id"].as_str().unwrap();

    // Overlapping subnet on one network: 400 InvalidInput.
    let r = n
        .post(
            &a,
            "/subnets",
            json!({"subnet": {"network_id": net, "cidr": "10.0.0.0/25", "ip_version": 4}}),
        )
        .await;
    assert_neutron(&r, 400, "InvalidInput", &format!(
        "Invalid input for operation: Requested subnet with cidr: 10.0.0.0/25 for network: {net} overlaps with another subnet."));
    // Malformed CIDR: 400.
    let r = n
        .post(
            &a,
            "/subnets",
            json!({"subnet": {"network_id": net, "cidr": "10.0.0.0/33", "ip_version": 4}}),
        )
        .await;
    assert_neutron(
        &r,
        400,
        "HTTPBadRequest",
        "Invalid input for cidr. Reason: '10.0.0.0/33' is not a valid IP subnet.",
    );
    assert_eq!(n.count(&a, "/subnets", "subnets").await, 1);

    // IP outside the subnet: 400 InvalidIpForSubnet.
    let r = n.post(&a, "/ports", json!({"port": {"network_id": net, "fixed_ips": [{"subnet_id": sid, "ip_address": "192.168.1.5"}]}})).await;
    assert_neutron(
        &r,
        400,
        "InvalidIpForSubnet",
        "IP address 192.168.1.5 is not a valid IP for the specified subnet.",
    );
    // IP in use: 409 IpAddressAlreadyAllocated.
    let r = n.post(&a, "/ports", json!({"port": {"network_id": net, "device_owner": "compute:nova", "fixed_ips": [{"ip_address": "10.0.0.20"}]}})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = n
        .post(
            &a,
            "/ports",
            json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": "10.0.0.20"}]}}),
        )
        .await;
    assert_neutron(
        &r,
        409,
        "IpAddressAlreadyAllocated",
        &format!("IP address 10.0.0.20 already allocated in subnet {sid}"),
    );
    assert_eq!(
        n.count(&a, "/ports", "ports").await,
        2,
        "the DHCP port and one port"
    );

    // Deleting a network with ports: 409 NetworkInUse, nothing removed.
    let r = n.delete(&a, &format!("/networks/{net}")).await;
    assert_neutron(&r, 409, "NetworkInUse", &format!(
        "Unable to complete operation on network {net}. There are one or more ports still in use on the network."));
    assert_eq!(n.count(&a, "/subnets", "subnets").await, 1);
    assert_eq!(n.count(&a, "/ports", "ports").await, 2);

    // A port on another project's network: 404 NetworkNotFound.
    let r = n
        .post(&b, "/ports", json!({"port": {"network_id": net}}))
        .await;
    assert_neutron(
        &r,
        404,
        "NetworkNotFound",
        &format!("Network {net} could not be found."),
    );
    assert_eq!(n.count(&b, "/ports", "ports").await, 0);

    // Malformed bodies and values.
    let r = n
        .cloud
        .raw(Method::POST, &n.url("/networks"), Some(&a), b"{".to_vec())
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = n
        .post(
            &a,
            "/networks",
            json!({"network": {"admin_state_up": "maybe"}}),
        )
        .await;
    assert_neutron(
        &r,
        400,
        "HTTPBadRequest",
        "Invalid input for admin_state_up. Reason: 'maybe' cannot be converted to boolean.",
    );
    let r = n
        .post(
            &a,
            "/networks",
            json!({"network": {"provider:network_type": "flat"}}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = n
        .post(
            &a,
            "/ports",
            json!({"port": {"network_id": net, "mac_address": "zz"}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = n.post(&a, "/ports", json!({"port": {"network_id": net, "port_security_enabled": false, "security_groups": ["x"]}})).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        r.body["NeutronError"]["type"],
        "PortSecurityAndIPRequiredForSecurityGroups"
    );
    assert_eq!(n.count(&a, "/ports", "ports").await, 2);
    n.cloud.stop().await.unwrap();
}

#[tokio::test]
async fn projects_are_isolated_except_shared_networks() {
    let (n, admin) = start().await;
    let (_, _, a) = n.cloud.user_with_role(&admin, "alice", "member").await;
    let (_, _, b) = n.cloud.user_with_role(&admin, "bob", "member").await;
    let net = n.network(&a, "private").await;
    n.subnet(&a, &net, "10.0.0.0/24").await;
    // The same CIDR in another project is fine.
    let bnet = n.network(&b, "b").await;
    n.subnet(&b, &bnet, "10.0.0.0/24").await;
    let r = n
        .post(&a, "/ports", json!({"port": {"network_id": net}}))
        .await;
    let port = r.body["port"]["id"].as_str().unwrap().to_string();
    let sg = n.get(&a, "/security-groups").await.body["security_groups"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for path in [
        format!("/networks/{net}"),
        format!("/ports/{port}"),
        format!("/security-groups/{sg}"),
    ] {
        assert_eq!(n.get(&b, &path).await.status, 404, "{path}");
        assert_eq!(n.delete(&b, &path).await.status, 404, "{path}");
    }
    // The bootstrap's external network is visible to every project; a's network is not.
    assert_eq!(
        n.count(&b, "/networks?router:external=false", "networks")
            .await,
        1
    );
    assert_eq!(
        n.count(&b, "/ports", "ports").await,
        1,
        "only b's DHCP port"
    );
    // Shared by the admin: visible, usable, not writable.
    let r = n
        .put(
            &admin,
            &format!("/networks/{net}"),
            json!({"network": {"shared": true}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(n.get(&b, &format!("/networks/{net}")).await.status, 200);
    assert_eq!(n.delete(&b, &format!("/networks/{net}")).await.status, 403);
    let r = n
        .post(&b, "/ports", json!({"port": {"network_id": net}}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(n.get(&b, &format!("/ports/{port}")).await.status, 404);
    n.cloud.stop().await.unwrap();
}

#[tokio::test]
async fn security_groups_and_rules() {
    let (n, admin) = start().await;
    let (_, _, t) = n.cloud.user_with_role(&admin, "alice", "member").await;
    let r = n.get(&t, "/security-groups?name=default").await;
    let groups = r.body["security_groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    let default = groups[0]["id"].as_str().unwrap().to_string();
    let rules = groups[0]["security_group_rules"].as_array().unwrap();
    assert_eq!(rules.len(), 4);
    assert_eq!(
        rules
            .iter()
            .filter(|r| r["remote_group_id"] == default.as_str())
            .count(),
        2
    );
    let rule = json!({"security_group_rule": {"security_group_id": default, "direction": "ingress",
        "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}});
    let r = n.post(&t, "/security-group-rules", rule.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let rid = r.body["security_group_rule"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = n.post(&t, "/security-group-rules", rule).await;
    assert_neutron(
        &r,
        409,
        "SecurityGroupRuleExists",
        &format!("Security group rule already exists. Rule id is {rid}."),
    );
    let r = n
        .post(&t, "/security-group-rules", json!({"security_group_rule": {"security_group_id": default, "direction": "ingress", "protocol": "tcp", "port_range_min": 30, "port_range_max": 20}}))
        .await;
    assert_neutron(
        &r,
        400,
        "SecurityGroupInvalidPortRange",
        "For TCP/UDP protocols, port_range_min must be <= port_range_max",
    );
    let r = n
        .post(&t, "/security-group-rules", json!({"security_group_rule": {"security_group_id": default, "direction": "ingress", "remote_ip_prefix": "10.1.2.3/8"}}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.body["security_group_rule"]["remote_ip_prefix"],
        "10.0.0.0/8"
    );
    let r = n.delete(&t, &format!("/security-groups/{default}")).await;
    assert_neutron(
        &r,
        409,
        "SecurityGroupCannotRemoveDefault",
        "Insufficient rights for removing default security group.",
    );
    let r = n
        .post(
            &t,
            "/security-groups",
            json!({"security_group": {"name": "web"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let web = r.body["security_group"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        r.body["security_group"]["security_group_rules"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let net = n.network(&t, "n").await;
    n.subnet(&t, &net, "10.0.0.0/24").await;
    let r = n
        .post(
            &t,
            "/ports",
            json!({"port": {"network_id": net, "security_groups": [web]}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = n.delete(&t, &format!("/security-groups/{web}")).await;
    assert_neutron(
        &r,
        409,
        "SecurityGroupInUse",
        &format!("Security Group {web} in use."),
    );
    assert_eq!(
        n.delete(&t, &format!("/security-group-rules/{rid}"))
            .await
            .status,
        204
    );
    n.cloud.stop().await.unwrap();
}

#[tokio::test]
async fn quotas() {
    let (n, admin) = start().await;
    let (_, pid, t) = n.cloud.user_with_role(&admin, "alice", "member").await;
    let r = n.get(&t, &format!("/quotas/{pid}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["quota"]["network"], 100);
    assert_eq!(
        n.put(
            &t,
            &format!("/quotas/{pid}"),
            json!({"quota": {"network": 1}})
        )
        .await
        .status,
        403
    );
    let r = n
        .put(
            &admin,
            &format!("/quotas/{pid}"),
            json!({"quota": {"network": 1}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    n.network(&t, "one").await;
    let r = n
        .post(&t, "/networks", json!({"network": {"name": "two"}}))
        .await;
    assert_neutron(
        &r,
        409,
        "OverQuota",
        "Quota exceeded for resources: ['network'].",
    );
    let r = n.get(&t, &format!("/quotas/{pid}/details")).await;
    assert_eq!(
        r.body["quota"]["network"],
        json!({"limit": 1, "used": 1, "reserved": 0})
    );
    assert_eq!(
        n.get(&t, &format!("/quotas/{pid}/default")).await.body["quota"]["network"],
        100
    );
    assert_eq!(
        n.delete(&admin, &format!("/quotas/{pid}")).await.status,
        204
    );
    assert_eq!(
        n.get(&t, &format!("/quotas/{pid}")).await.body["quota"]["network"],
        100
    );
    n.cloud.stop().await.unwrap();
}

#[tokio::test]
async fn fifty_concurrent_ports_get_fifty_addresses() {
    let (n, admin) = start().await;
    let (_, _, t) = n.cloud.user_with_role(&admin, "alice", "member").await;
    let net = n.network(&t, "n").await;
    n.subnet(&t, &net, "10.0.0.0/24").await;
    let n = std::sync::Arc::new(n);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (n, t, net) = (n.clone(), t.clone(), net.clone());
        tasks.push(tokio::spawn(async move {
            n.post(&t, "/ports", json!({"port": {"network_id": net}}))
                .await
        }));
    }
    let mut ips = std::collections::HashSet::new();
    for task in tasks {
        let r = task.await.unwrap();
        assert_eq!(r.status, 201, "{}", r.text);
        ips.insert(
            r.body["port"]["fixed_ips"][0]["ip_address"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(ips.len(), 50);
    let n = std::sync::Arc::try_unwrap(n).ok().unwrap();
    n.cloud.stop().await.unwrap();
}
