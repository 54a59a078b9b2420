//! Nova's request schemas, rule by rule: each invalid body gets the message Nova's
//! `jsonschema` validation would give (keys of echoed objects are sorted here; Python keeps
//! the client's order).

use serde_json::{json, Value};

use crate::servers::schemas;
use crate::Mv;

const IMG: &str = "70a599e0-31e7-49b7-b260-868f441e862b";
const NET: &str = "3cb9bc59-5699-4588-a4b1-b87f96708bc6";

fn base(extra: Value) -> Value {
    let mut server = json!({"name": "vm", "imageRef": IMG, "flavorRef": "1", "networks": "none"});
    if let (Some(s), Some(e)) = (server.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            if v.is_null() && k.starts_with('-') {
                s.remove(&k[1..]);
            } else {
                s.insert(k.clone(), v.clone());
            }
        }
    }
    json!({"server": server})
}

fn create_error(mv: u32, body: &Value) -> String {
    match schemas::create(Mv(mv)).validate(body) {
        Ok(()) => panic!("valid at 2.{mv}: {body}"),
        Err(e) => e.body_message(),
    }
}

fn field(name: &str, value: &str, msg: &str) -> String {
    format!("Invalid input for field/attribute {name}. Value: {value}. {msg}")
}

#[test]
fn create_body_rules_give_novas_messages() {
    let long = "a".repeat(256);
    let cases: Vec<(u32, Value, String)> = vec![
        (79, json!(null), "None is not of type 'object'".into()),
        (79, json!({}), "'server' is a required property".into()),
        (79, json!({"server": "x"}), field("server", "x", "'x' is not of type 'object'")),
        (
            79,
            json!({"server": {"name": "vm", "imageRef": IMG, "flavorRef": "1", "networks": "none"}, "extra": 1}),
            "Additional properties are not allowed ('extra' was unexpected)".into(),
        ),
        (
            79,
            base(json!({"bogus": 1, "also": 2})),
            field(
                "server",
                &format!("{{'also': 2, 'bogus': 1, 'flavorRef': '1', 'imageRef': '{IMG}', 'name': 'vm', 'networks': 'none'}}"),
                "Additional properties are not allowed ('also', 'bogus' were unexpected)",
            ),
        ),
        (
            79,
            base(json!({"-name": null})),
            field(
                "server",
                &format!("{{'flavorRef': '1', 'imageRef': '{IMG}', 'networks': 'none'}}"),
                "'name' is a required property",
            ),
        ),
        (79, base(json!({"name": ""})), field("name", "", "'' should be non-empty")),
        (79, base(json!({"name": long})), field("name", &long, &format!("'{long}' is too long"))),
        (79, base(json!({"name": 7})), field("name", "7", "7 is not of type 'string'")),
        (
            79,
            base(json!({"name": " vm"})),
            "An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.".into(),
        ),
        (
            79,
            base(json!({"name": "v\u{7}m"})),
            "An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.".into(),
        ),
        (
            79,
            base(json!({"-flavorRef": null})),
            field(
                "server",
                &format!("{{'imageRef': '{IMG}', 'name': 'vm', 'networks': 'none'}}"),
                "'flavorRef' is a required property",
            ),
        ),
        (79, base(json!({"flavorRef": ""})), field("flavorRef", "", "'' should be non-empty")),
        (
            79,
            base(json!({"flavorRef": null})),
            field("flavorRef", "None", "None is not of type 'string', 'integer'"),
        ),
        (
            79,
            base(json!({"imageRef": "cirros"})),
            field("imageRef", "cirros", "'cirros' is not valid under any of the given schemas"),
        ),
        (
            79,
            base(json!({"-networks": null})),
            field(
                "server",
                &format!("{{'flavorRef': '1', 'imageRef': '{IMG}', 'name': 'vm'}}"),
                "'networks' is a required property",
            ),
        ),
        (
            79,
            base(json!({"networks": "some"})),
            field("networks", "some", "'some' is not valid under any of the given schemas"),
        ),
        (
            79,
            base(json!({"networks": [{"uuid": "not-a-uuid"}]})),
            field(
                "networks",
                "[{'uuid': 'not-a-uuid'}]",
                "[{'uuid': 'not-a-uuid'}] is not valid under any of the given schemas",
            ),
        ),
        (36, base(json!({})), field("networks", "none", "'none' is not of type 'array'")),
        (
            36,
            base(json!({"networks": [{"uuid": NET, "port": "x"}]})),
            field("port", "x", "'x' is not a 'uuid'"),
        ),
        (
            36,
            base(json!({"networks": [{"uuid": NET, "fixed_ip": "10.0.0.300"}]})),
            field("fixed_ip", "10.0.0.300", "'10.0.0.300' is not valid under any of the given schemas"),
        ),
        (
            31,
            base(json!({"networks": [{"uuid": NET, "tag": "t"}]})),
            field(
                "0",
                &format!("{{'tag': 't', 'uuid': '{NET}'}}"),
                "Additional properties are not allowed ('tag' was unexpected)",
            ),
        ),
        (79, base(json!({"min_count": 0})), field("min_count", "0", "0 is less than the minimum of 1")),
        (79, base(json!({"min_count": "0"})), field("min_count", "0", "0 is less than the minimum of 1")),
        (79, base(json!({"max_count": "two"})), field("max_count", "two", "'two' does not match '^[0-9]*$'")),
        (
            79,
            base(json!({"min_count": 1.5})),
            field("min_count", "1.5", "1.5 is not of type 'integer', 'string'"),
        ),
        (79, base(json!({"max_count": ""})), field("max_count", "", "'' should be non-empty")),
        (79, base(json!({"user_data": "***"})), field("user_data", "***", "'***' is not a 'base64'")),
        (79, base(json!({"user_data": "abc"})), field("user_data", "abc", "'abc' is not a 'base64'")),
        (
            79,
            base(json!({"user_data": "QUFB".repeat(16384)})),
            field("user_data", &"QUFB".repeat(16384), &format!("'{}' is too long", "QUFB".repeat(16384))),
        ),
        (
            79,
            base(json!({"metadata": {"a/b": "v"}})),
            field(
                "metadata",
                "{'a/b': 'v'}",
                "'a/b' does not match any of the regexes: '^[a-zA-Z0-9-_:. ]{1,255}$'",
            ),
        ),
        (
            79,
            base(json!({"metadata": {"k": long}})),
            field("k", &long, &format!("'{long}' is too long")),
        ),
        (79, base(json!({"metadata": {"k": 1}})), field("k", "1", "1 is not of type 'string'")),
        (79, base(json!({"metadata": []})), field("metadata", "[]", "[] is not of type 'object'")),
        (
            79,
            base(json!({"description": long})),
            field("description", &long, &format!("'{long}' is too long")),
        ),
        (
            18,
            base(json!({"description": "d", "networks": [{"uuid": NET}]})),
            field(
                "server",
                &format!("{{'description': 'd', 'flavorRef': '1', 'imageRef': '{IMG}', 'name': 'vm', 'networks': [{{'uuid': '{NET}'}}]}}"),
                "Additional properties are not allowed ('description' was unexpected)",
            ),
        ),
        (
            51,
            base(json!({"tags": ["a"]})),
            field(
                "server",
                &format!("{{'flavorRef': '1', 'imageRef': '{IMG}', 'name': 'vm', 'networks': 'none', 'tags': ['a']}}"),
                "Additional properties are not allowed ('tags' was unexpected)",
            ),
        ),
        (79, base(json!({"tags": ["a/b"]})), field("0", "a/b", "'a/b' does not match '^[^,/]*$'")),
        (79, base(json!({"tags": [""]})), field("0", "", "'' should be non-empty")),
        (79, base(json!({"config_drive": "maybe"})), {
            let allowed = "[True, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', False, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no']";
            field("config_drive", "maybe", &format!("'maybe' is not one of {allowed}"))
        }),
        (79, base(json!({"key_name": ""})), field("key_name", "", "'' should be non-empty")),
        (79, base(json!({"availability_zone": 3})), field("availability_zone", "3", "3 is not of type 'string'")),
        (79, base(json!({"accessIPv4": "::1"})), field("accessIPv4", "::1", "'::1' is not a 'ipv4'")),
        (79, base(json!({"accessIPv6": "1.2.3.4"})), field("accessIPv6", "1.2.3.4", "'1.2.3.4' is not a 'ipv6'")),
        (
            79,
            base(json!({"block_device_mapping_v2": [{"source_type": "disk", "uuid": IMG}]})),
            field(
                "source_type",
                "disk",
                "'disk' is not one of ['volume', 'image', 'snapshot', 'blank']",
            ),
        ),
        (
            79,
            base(json!({"block_device_mapping_v2": [{"boot_index": "first"}]})),
            field("boot_index", "first", "'first' does not match '^-?[0-9]+$'"),
        ),
        (
            79,
            base(json!({"block_device_mapping_v2": [{"volume_size": 0}]})),
            field("volume_size", "0", "0 is less than the minimum of 1"),
        ),
        (
            79,
            base(json!({"hostname": "vm"})),
            field(
                "server",
                &format!("{{'flavorRef': '1', 'hostname': 'vm', 'imageRef': '{IMG}', 'name': 'vm', 'networks': 'none'}}"),
                "Additional properties are not allowed ('hostname' was unexpected)",
            ),
        ),
        (
            79,
            json!({"server": {"name": "vm", "flavorRef": "1", "networks": "none"}, "os:scheduler_hints": {"group": "g"}}),
            field("group", "g", "'g' is not valid under any of the given schemas"),
        ),
    ];
    for (mv, body, want) in cases {
        assert_eq!(create_error(mv, &body), want, "at 2.{mv}: {body}");
    }
}

#[test]
fn valid_create_bodies_pass() {
    let ok = [
        (79, base(json!({}))),
        // What OSC sends: imageRef and the image BDM together.
        (
            79,
            base(
                json!({"min_count": 1, "max_count": 1, "block_device_mapping_v2": [{
                "uuid": IMG, "boot_index": 0, "source_type": "image",
                "destination_type": "local", "delete_on_termination": true}]}),
            ),
        ),
        (
            79,
            base(
                json!({"networks": "auto", "min_count": "2", "max_count": "3", "user_data": "IyEvYmluL3NoCmVjaG8gaGkK\n"}),
            ),
        ),
        (
            79,
            base(
                json!({"networks": [{"uuid": NET, "tag": "nic1"}, {"port": NET}], "tags": ["a", "b"]}),
            ),
        ),
        (
            79,
            base(
                json!({"imageRef": "", "block_device_mapping_v2": [{"uuid": IMG, "source_type": "volume", "destination_type": "volume", "boot_index": "0"}]}),
            ),
        ),
        (
            79,
            base(
                json!({"metadata": {"My Server Name": "Apache1"}, "description": null, "config_drive": "true", "key_name": "kp"}),
            ),
        ),
        (
            79,
            json!({"server": {"name": "vm", "flavorRef": 1, "imageRef": IMG, "networks": "none"}, "os:scheduler_hints": {"group": NET, "custom": "kept"}}),
        ),
        (
            1,
            json!({"server": {"name": "vm\n", "flavorRef": "http://h/compute/flavors/1", "imageRef": IMG}}),
        ),
        (
            36,
            base(json!({"networks": [{"uuid": "any-string-before-2.37"}]})),
        ),
    ];
    for (mv, body) in ok {
        if let Err(e) = schemas::create(Mv(mv)).validate(&body) {
            panic!("2.{mv} rejected {body}: {}", e.body_message());
        }
    }
}

#[test]
fn update_and_action_rules() {
    let update_err = |mv: u32, body: Value| match schemas::update(Mv(mv)).validate(&body) {
        Ok(()) => panic!("valid: {body}"),
        Err(e) => e.body_message(),
    };
    assert_eq!(
        update_err(79, json!({"server": {"name": ""}})),
        field("name", "", "'' should be non-empty")
    );
    assert_eq!(
        update_err(18, json!({"server": {"description": "d"}})),
        field(
            "server",
            "{'description': 'd'}",
            "Additional properties are not allowed ('description' was unexpected)"
        )
    );
    assert!(schemas::update(Mv(19))
        .validate(&json!({"server": {"description": null}}))
        .is_ok());

    let reboot = schemas::reboot()
        .validate(&json!({"reboot": {"type": "warm"}}))
        .unwrap_err();
    assert_eq!(
        reboot.body_message(),
        field(
            "type",
            "warm",
            "'warm' is not one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']"
        )
    );
    let reboot = schemas::reboot()
        .validate(&json!({"reboot": {}}))
        .unwrap_err();
    assert_eq!(
        reboot.body_message(),
        field("reboot", "{}", "'type' is a required property")
    );

    let rebuild = schemas::rebuild(Mv(79))
        .validate(&json!({"rebuild": {"name": "x"}}))
        .unwrap_err();
    assert_eq!(
        rebuild.body_message(),
        field(
            "rebuild",
            "{'name': 'x'}",
            "'imageRef' is a required property"
        )
    );
    assert!(schemas::rebuild(Mv(53))
        .validate(&json!({"rebuild": {"imageRef": IMG, "key_name": "k"}}))
        .is_err());
    assert!(schemas::rebuild(Mv(57))
        .validate(&json!({"rebuild": {"imageRef": IMG, "key_name": null, "user_data": null}}))
        .is_ok());

    let lock = schemas::lock(Mv(73))
        .validate(&json!({"lock": {"locked_reason": ""}}))
        .unwrap_err();
    assert_eq!(
        lock.body_message(),
        field("locked_reason", "", "'' should be non-empty")
    );
    assert!(schemas::lock(Mv(72))
        .validate(&json!({"lock": {"locked_reason": ""}}))
        .is_ok());
    assert!(schemas::lock(Mv(73))
        .validate(&json!({"lock": null}))
        .is_ok());

    let console = schemas::console_output()
        .validate(&json!({"os-getConsoleOutput": {"length": -2}}))
        .unwrap_err();
    assert_eq!(
        console.body_message(),
        field("length", "-2", "-2 is less than the minimum of -1")
    );
    assert!(schemas::console_output()
        .validate(&json!({"os-getConsoleOutput": {"length": null}}))
        .is_ok());
    assert!(schemas::console_output()
        .validate(&json!({"os-getConsoleOutput": {"length": "50"}}))
        .is_ok());

    let image = schemas::create_image()
        .validate(&json!({"createImage": {}}))
        .unwrap_err();
    assert_eq!(
        image.body_message(),
        field("createImage", "{}", "'name' is a required property")
    );
    let resize = schemas::resize()
        .validate(&json!({"resize": {"flavorRef": ""}}))
        .unwrap_err();
    assert_eq!(
        resize.body_message(),
        field("flavorRef", "", "'' should be non-empty")
    );

    let unshelve = schemas::unshelve(Mv(77))
        .validate(&json!({"unshelve": {}}))
        .unwrap_err();
    assert_eq!(
        unshelve.body_message(),
        field(
            "unshelve",
            "{}",
            "'availability_zone' is a required property"
        )
    );
    assert!(schemas::unshelve(Mv(76))
        .validate(&json!({"unshelve": {}}))
        .is_ok());
}

#[test]
fn metadata_and_tag_rules() {
    let item = schemas::metadata_item()
        .validate(&json!({"meta": {"a": "1", "b": "2"}}))
        .unwrap_err();
    assert_eq!(
        item.body_message(),
        field(
            "meta",
            "{'a': '1', 'b': '2'}",
            "{'a': '1', 'b': '2'} has too many properties"
        )
    );
    let item = schemas::metadata_item()
        .validate(&json!({"meta": {}}))
        .unwrap_err();
    assert_eq!(
        item.body_message(),
        field("meta", "{}", "{} should be non-empty")
    );
    let set = schemas::metadata_set()
        .validate(&json!({"meta": {}}))
        .unwrap_err();
    assert_eq!(set.body_message(), "'metadata' is a required property");
    let tags: Vec<String> = (0..51).map(|i| format!("t{i}")).collect();
    let many = schemas::tags_set()
        .validate(&json!({"tags": tags}))
        .unwrap_err();
    assert!(
        many.body_message().ends_with("is too long"),
        "{}",
        many.body_message()
    );
    let long = "x".repeat(61);
    let e = schemas::tags_set()
        .validate(&json!({"tags": [long]}))
        .unwrap_err();
    assert_eq!(
        e.body_message(),
        field("0", &long, &format!("'{long}' is too long"))
    );
}
