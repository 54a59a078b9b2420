//! Nova's request schemas for servers (`nova/api/openstack/compute/schemas/servers.py` and
//! friends, `parameter_types.py`), per microversion, in the keyword order Nova writes them so
//! that the first error is the one Nova reports.

use serde_json::{json, Value};

use super::schema::{Format, Kw, Pattern, Schema};
use crate::Mv;

/// Nova's `instance.MAX_TAG_COUNT` and `tag.MAX_TAG_LENGTH`.
pub(crate) const MAX_TAG_COUNT: usize = 50;
const MAX_TAG_LENGTH: usize = 60;

fn s() -> Schema {
    Schema::any()
}

fn obj(
    props: Vec<(&'static str, Schema)>,
    required: Vec<&'static str>,
    additional: bool,
) -> Schema {
    let mut sc = s().with(Kw::Type(&["object"])).with(Kw::Properties(props));
    if !required.is_empty() {
        sc = sc.with(Kw::Required(required));
    }
    sc.with(Kw::AdditionalProperties(additional))
}

fn string() -> Schema {
    s().with(Kw::Type(&["string"]))
}

pub(crate) fn name() -> Schema {
    string()
        .with(Kw::Format(Format::Name))
        .with(Kw::MinLength(1))
        .with(Kw::MaxLength(255))
}

fn name_or_none() -> Schema {
    s().with(Kw::OneOf(vec![
        string().with(Kw::MinLength(1)).with(Kw::MaxLength(255)),
        s().with(Kw::Type(&["null"])),
    ]))
}

fn boolean() -> Schema {
    let values = json!([
        true, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes", false, "False",
        "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no"
    ]);
    let values = match values {
        Value::Array(a) => a,
        _ => Vec::new(),
    };
    s().with(Kw::Type(&["boolean", "string"]))
        .with(Kw::Enum(values))
}

const DIGITS: Pattern = Pattern {
    text: "^[0-9]*$",
    test: |v| v.chars().all(|c| c.is_ascii_digit()),
};

pub(crate) fn positive_integer() -> Schema {
    s().with(Kw::Type(&["integer", "string"]))
        .with(Kw::Pattern(DIGITS))
        .with(Kw::Minimum(1))
        .with(Kw::MinLength(1))
}

pub(crate) fn non_negative_integer() -> Schema {
    s().with(Kw::Type(&["integer", "string"]))
        .with(Kw::Pattern(DIGITS))
        .with(Kw::Minimum(0))
        .with(Kw::MinLength(1))
}

fn description() -> Schema {
    let printable = Pattern {
        text: "^[printable characters]*$",
        test: |v| v.chars().all(super::schema::is_printable),
    };
    s().with(Kw::Type(&["string", "null"]))
        .with(Kw::Pattern(printable))
        .with(Kw::MinLength(0))
        .with(Kw::MaxLength(255))
}

fn uuid() -> Schema {
    string().with(Kw::Format(Format::Uuid))
}

fn image_id_or_empty_string() -> Schema {
    s().with(Kw::OneOf(vec![uuid(), string().with(Kw::MaxLength(0))]))
}

fn flavor_ref() -> Schema {
    s().with(Kw::Type(&["string", "integer"]))
        .with(Kw::MinLength(1))
}

const META_KEY: Pattern = Pattern {
    text: "^[a-zA-Z0-9-_:. ]{1,255}$",
    test: |k| {
        let k = k.strip_suffix('\n').unwrap_or(k);
        let n = k.chars().count();
        (1..=255).contains(&n)
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_:. ".contains(c))
    },
};

pub(crate) fn metadata() -> Schema {
    s().with(Kw::Type(&["object"]))
        .with(Kw::PatternProperties(
            META_KEY,
            Box::new(string().with(Kw::MaxLength(255))),
        ))
        .with(Kw::AdditionalProperties(false))
}

fn ip_address() -> Schema {
    string().with(Kw::OneOf(vec![
        s().with(Kw::Format(Format::Ipv4)),
        s().with(Kw::Format(Format::Ipv6)),
    ]))
}

fn disk_config() -> Schema {
    string().with(Kw::Enum(vec![json!("AUTO"), json!("MANUAL")]))
}

fn personality() -> Schema {
    s().with(Kw::Type(&["array"])).with(Kw::Items(Box::new(obj(
        vec![
            ("path", string()),
            ("contents", string().with(Kw::Format(Format::Base64))),
        ],
        vec![],
        false,
    ))))
}

pub(crate) fn tag() -> Schema {
    let no_comma_slash = Pattern {
        text: "^[^,/]*$",
        test: |t| !t.contains([',', '/']),
    };
    string()
        .with(Kw::Pattern(no_comma_slash))
        .with(Kw::MinLength(1))
        .with(Kw::MaxLength(MAX_TAG_LENGTH))
}

fn tags() -> Schema {
    s().with(Kw::Type(&["array"]))
        .with(Kw::Items(Box::new(tag())))
        .with(Kw::MaxItems(MAX_TAG_COUNT))
}

fn trusted_certs() -> Schema {
    s().with(Kw::Type(&["array", "null"]))
        .with(Kw::MinItems(1))
        .with(Kw::MaxItems(50))
        .with(Kw::Items(Box::new(string().with(Kw::MinLength(1)))))
}

fn user_data(nullable: bool) -> Schema {
    let t: &'static [&'static str] = if nullable {
        &["string", "null"]
    } else {
        &["string"]
    };
    s().with(Kw::Type(t))
        .with(Kw::Format(Format::Base64))
        .with(Kw::MaxLength(65535))
}

fn fqdn() -> Schema {
    let p = Pattern {
        text: "^[a-zA-Z0-9-._]*$",
        test: |h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
        },
    };
    string()
        .with(Kw::Pattern(p))
        .with(Kw::MinLength(1))
        .with(Kw::MaxLength(255))
}

fn volume_size() -> Schema {
    let p = Pattern {
        text: "^[0-9]+$",
        test: |v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()),
    };
    s().with(Kw::Type(&["integer", "string"]))
        .with(Kw::Pattern(p))
        .with(Kw::Minimum(1))
        .with(Kw::Maximum(0x7FFF_FFFF))
}

fn legacy_bdm_props() -> Vec<(&'static str, Schema)> {
    let device_name = Pattern {
        text: "^[a-zA-Z0-9._/-]*$",
        test: |v| {
            v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c))
        },
    };
    vec![
        ("virtual_name", string().with(Kw::MaxLength(255))),
        ("volume_id", uuid()),
        ("snapshot_id", uuid()),
        ("volume_size", volume_size()),
        (
            "device_name",
            string()
                .with(Kw::MinLength(1))
                .with(Kw::MaxLength(255))
                .with(Kw::Pattern(device_name)),
        ),
        ("delete_on_termination", boolean()),
        ("no_device", s()),
        ("connection_info", string().with(Kw::MaxLength(16_777_215))),
    ]
}

fn bdm_v2(mv: Mv) -> Schema {
    let bdm_uuid = Pattern {
        text: "^[a-zA-Z0-9._-]*$",
        test: |v| {
            v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        },
    };
    let boot_index = Pattern {
        text: "^-?[0-9]+$",
        test: |v| {
            let d = v.strip_prefix('-').unwrap_or(v);
            !d.is_empty() && d.chars().all(|c| c.is_ascii_digit())
        },
    };
    let mut props = legacy_bdm_props();
    props.extend([
        (
            "source_type",
            string().with(Kw::Enum(vec![
                json!("volume"),
                json!("image"),
                json!("snapshot"),
                json!("blank"),
            ])),
        ),
        (
            "uuid",
            string()
                .with(Kw::MinLength(1))
                .with(Kw::MaxLength(255))
                .with(Kw::Pattern(bdm_uuid)),
        ),
        ("image_id", uuid()),
        (
            "destination_type",
            string().with(Kw::Enum(vec![json!("local"), json!("volume")])),
        ),
        ("guest_format", string().with(Kw::MaxLength(255))),
        ("device_type", string().with(Kw::MaxLength(255))),
        ("disk_bus", string().with(Kw::MaxLength(255))),
        (
            "boot_index",
            s().with(Kw::Type(&["integer", "string", "null"]))
                .with(Kw::Pattern(boot_index)),
        ),
    ]);
    if mv.0 == 32 || mv.at_least(42) {
        props.push(("tag", tag()));
    }
    if mv.at_least(67) {
        props.push((
            "volume_type",
            s().with(Kw::Type(&["string", "null"]))
                .with(Kw::MinLength(0))
                .with(Kw::MaxLength(255)),
        ));
    }
    obj(props, vec![], false)
}

fn networks(mv: Mv) -> Schema {
    let port = s()
        .with(Kw::Type(&["string", "null"]))
        .with(Kw::Format(Format::Uuid));
    let with_tag = (32..=36).contains(&mv.0) || mv.at_least(42);
    let net_uuid = if mv.at_least(37) { uuid() } else { string() };
    let mut props = vec![
        ("fixed_ip", ip_address()),
        ("port", port),
        ("uuid", net_uuid),
    ];
    if with_tag {
        props.push(("tag", tag()));
    }
    let list = s()
        .with(Kw::Type(&["array"]))
        .with(Kw::Items(Box::new(obj(props, vec![], false))));
    if mv.at_least(37) {
        s().with(Kw::OneOf(vec![
            list,
            string().with(Kw::Enum(vec![json!("none"), json!("auto")])),
        ]))
    } else {
        list
    }
}

fn scheduler_hints() -> Schema {
    let uuid_or_list = s().with(Kw::OneOf(vec![
        s().with(Kw::Type(&["array"]))
            .with(Kw::Items(Box::new(uuid()))),
        uuid(),
    ]));
    let different_host = s().with(Kw::OneOf(vec![
        uuid(),
        s().with(Kw::Type(&["array"]))
            .with(Kw::Items(Box::new(uuid()))),
    ]));
    obj(
        vec![
            ("group", uuid_or_list),
            ("different_host", different_host),
            (
                "same_host",
                s().with(Kw::Type(&["string", "array"]))
                    .with(Kw::Items(Box::new(uuid()))),
            ),
            ("query", s().with(Kw::Type(&["string", "object"]))),
        ],
        vec![],
        true,
    )
}

/// `POST /servers` for the microversion.
pub(crate) fn create(mv: Mv) -> Schema {
    let security_groups = s().with(Kw::Type(&["array"])).with(Kw::Items(Box::new(obj(
        vec![("name", name())],
        vec![],
        false,
    ))));
    let mut props = vec![
        ("name", name()),
        ("imageRef", image_id_or_empty_string()),
        ("flavorRef", flavor_ref()),
        ("adminPass", string()),
        ("metadata", metadata()),
        ("networks", networks(mv)),
        ("OS-DCF:diskConfig", disk_config()),
        ("accessIPv4", string().with(Kw::Format(Format::Ipv4))),
        ("accessIPv6", string().with(Kw::Format(Format::Ipv6))),
    ];
    if !mv.at_least(57) {
        props.push(("personality", personality()));
    }
    props.extend([
        ("availability_zone", name()),
        (
            "block_device_mapping",
            s().with(Kw::Type(&["array"])).with(Kw::Items(Box::new(obj(
                legacy_bdm_props(),
                vec![],
                false,
            )))),
        ),
        (
            "block_device_mapping_v2",
            s().with(Kw::Type(&["array"]))
                .with(Kw::Items(Box::new(bdm_v2(mv)))),
        ),
        ("config_drive", boolean()),
        ("key_name", name()),
        ("min_count", positive_integer()),
        ("max_count", positive_integer()),
        ("return_reservation_id", boolean()),
        ("security_groups", security_groups),
        ("user_data", user_data(false)),
    ]);
    if mv.at_least(19) {
        props.push(("description", description()));
    }
    if mv.at_least(52) {
        props.push(("tags", tags()));
    }
    if mv.at_least(63) {
        props.push(("trusted_image_certificates", trusted_certs()));
    }
    if mv.at_least(74) {
        props.push(("host", fqdn()));
        props.push(("hypervisor_hostname", fqdn()));
    }
    let mut required = vec!["name", "flavorRef"];
    if mv.at_least(37) {
        required.push("networks");
    }
    obj(
        vec![
            ("server", obj(props, required, false)),
            ("os:scheduler_hints", scheduler_hints()),
            ("OS-SCH-HNT:scheduler_hints", scheduler_hints()),
        ],
        vec!["server"],
        false,
    )
}

/// `PUT /servers/{id}`.
pub(crate) fn update(mv: Mv) -> Schema {
    let mut props = vec![
        ("name", name()),
        ("OS-DCF:diskConfig", disk_config()),
        ("accessIPv4", string().with(Kw::Format(Format::Ipv4))),
        ("accessIPv6", string().with(Kw::Format(Format::Ipv6))),
    ];
    if mv.at_least(19) {
        props.push(("description", description()));
    }
    obj(
        vec![("server", obj(props, vec![], false))],
        vec!["server"],
        false,
    )
}

/// An action body `{"<action>": <inner>}`.
pub(crate) fn action(name: &'static str, inner: Schema) -> Schema {
    obj(vec![(name, inner)], vec![name], false)
}

pub(crate) fn rebuild(mv: Mv) -> Schema {
    let mut props = vec![
        ("name", name()),
        ("imageRef", uuid()),
        ("adminPass", string()),
        ("metadata", metadata()),
        ("preserve_ephemeral", boolean()),
        ("OS-DCF:diskConfig", disk_config()),
        ("accessIPv4", string().with(Kw::Format(Format::Ipv4))),
        ("accessIPv6", string().with(Kw::Format(Format::Ipv6))),
    ];
    if !mv.at_least(57) {
        props.push(("personality", personality()));
    }
    if mv.at_least(19) {
        props.push(("description", description()));
    }
    if mv.at_least(54) {
        props.push(("key_name", name_or_none()));
    }
    if mv.at_least(57) {
        props.push(("user_data", user_data(true)));
    }
    if mv.at_least(63) {
        props.push(("trusted_image_certificates", trusted_certs()));
    }
    action("rebuild", obj(props, vec!["imageRef"], false))
}

pub(crate) fn resize() -> Schema {
    action(
        "resize",
        obj(
            vec![
                ("flavorRef", flavor_ref()),
                ("OS-DCF:diskConfig", disk_config()),
            ],
            vec!["flavorRef"],
            false,
        ),
    )
}

pub(crate) fn create_image() -> Schema {
    action(
        "createImage",
        obj(
            vec![("name", name()), ("metadata", metadata())],
            vec!["name"],
            false,
        ),
    )
}

pub(crate) fn reboot() -> Schema {
    let kinds = ["HARD", "Hard", "hard", "SOFT", "Soft", "soft"].map(|k| json!(k));
    action(
        "reboot",
        obj(
            vec![("type", string().with(Kw::Enum(kinds.to_vec())))],
            vec!["type"],
            false,
        ),
    )
}

pub(crate) fn lock(mv: Mv) -> Schema {
    if !mv.at_least(73) {
        return action("lock", s());
    }
    let reason = string().with(Kw::MinLength(1)).with(Kw::MaxLength(255));
    action(
        "lock",
        s().with(Kw::Type(&["object", "null"]))
            .with(Kw::Properties(vec![("locked_reason", reason)]))
            .with(Kw::AdditionalProperties(false)),
    )
}

pub(crate) fn console_output() -> Schema {
    let int_like = Pattern {
        text: "^-?[0-9]+$",
        test: |v| {
            let d = v.strip_prefix('-').unwrap_or(v);
            !d.is_empty() && d.chars().all(|c| c.is_ascii_digit())
        },
    };
    let length = s()
        .with(Kw::Type(&["integer", "string", "null"]))
        .with(Kw::Pattern(int_like))
        .with(Kw::Minimum(-1));
    action(
        "os-getConsoleOutput",
        s().with(Kw::Type(&["object"]))
            .with(Kw::Properties(vec![("length", length)]))
            .with(Kw::AdditionalProperties(false)),
    )
}

pub(crate) fn unshelve(mv: Mv) -> Schema {
    if !mv.at_least(77) {
        return action("unshelve", s());
    }
    action(
        "unshelve",
        s().with(Kw::Type(&["object", "null"]))
            .with(Kw::Properties(vec![("availability_zone", name())]))
            .with(Kw::Required(vec!["availability_zone"]))
            .with(Kw::AdditionalProperties(false)),
    )
}

/// `rescue` (`schemas/rescue.py`): null, or an optional password and rescue image.
pub(crate) fn rescue() -> Schema {
    action(
        "rescue",
        s().with(Kw::Type(&["object", "null"]))
            .with(Kw::Properties(vec![
                ("adminPass", string()),
                ("rescue_image_ref", uuid()),
            ]))
            .with(Kw::AdditionalProperties(false)),
    )
}

/// `PUT /servers/{id}/metadata` and `POST` (`{"metadata": {...}}`).
pub(crate) fn metadata_set() -> Schema {
    obj(vec![("metadata", metadata())], vec!["metadata"], false)
}

/// `PUT /servers/{id}/metadata/{key}` (`{"meta": {key: value}}`, exactly one item).
pub(crate) fn metadata_item() -> Schema {
    let meta = metadata()
        .with(Kw::MinProperties(1))
        .with(Kw::MaxProperties(1));
    obj(vec![("meta", meta)], vec!["meta"], false)
}

/// `PUT /servers/{id}/tags`.
pub(crate) fn tags_set() -> Schema {
    obj(vec![("tags", tags())], vec!["tags"], false)
}
