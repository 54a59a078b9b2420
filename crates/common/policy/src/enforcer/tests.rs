//! Loading, overriding and enforcing rules.

use super::*;
use crate::target;

const DEFAULTS: &[RuleDefault] = &[
    RuleDefault::new("admin_required", "role:admin", &[]),
    RuleDefault::new("owner", "user_id:%(target.user.id)s", &[]),
    RuleDefault::new(
        "svc:get_thing",
        "rule:admin_required or rule:owner",
        &["project"],
    ),
    RuleDefault::new("svc:system_only", "role:reader", &["system"]),
    RuleDefault::new("svc:anyone", "", &[]),
];

fn enforcer() -> Enforcer {
    Enforcer::new(DEFAULTS).unwrap()
}

fn project_user(roles: &[&str]) -> Credentials {
    Credentials {
        user_id: "u1".into(),
        user_domain_id: "default".into(),
        project_id: Some("p1".into()),
        project_domain_id: Some("default".into()),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        ..Default::default()
    }
}

fn system_reader() -> Credentials {
    Credentials {
        user_id: "s1".into(),
        system_scope: Some("all".into()),
        roles: vec!["reader".into()],
        ..Default::default()
    }
}

#[test]
fn shares_cheaply_across_threads() {
    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
    assert_send_sync_clone::<Enforcer>();
}

#[test]
fn evaluates_named_rules_through_references() {
    let e = enforcer();
    let own = target(&[("target.user.id", "u1")]);
    let other = target(&[("target.user.id", "u2")]);
    assert!(e.enforce("svc:get_thing", &own, &project_user(&["member"])));
    assert!(!e.enforce("svc:get_thing", &other, &project_user(&["member"])));
    assert!(e.enforce("svc:get_thing", &other, &project_user(&["admin"])));
    assert!(e.enforce("svc:anyone", &Target::new(), &project_user(&[])));
}

#[test]
fn unknown_actions_are_denied_unless_a_default_rule_exists() {
    let e = enforcer();
    assert!(!e.enforce("svc:nope", &Target::new(), &project_user(&["admin"])));
    let e = e.with_overrides("default: role:admin").unwrap();
    assert!(e.enforce("svc:nope", &Target::new(), &project_user(&["admin"])));
    assert!(!e.enforce("svc:nope", &Target::new(), &project_user(&["member"])));
    // `rule:` references to unknown rules fall back the same way.
    let e = e.with_overrides("svc:anyone: rule:missing").unwrap();
    assert!(e.enforce("svc:anyone", &Target::new(), &project_user(&["admin"])));
    assert!(!e.enforce("svc:anyone", &Target::new(), &project_user(&["member"])));
}

#[test]
fn scope_types_reject_tokens_of_other_scopes() {
    let e = enforcer();
    let empty = Target::new();
    assert!(e.enforce("svc:system_only", &empty, &system_reader()));
    assert!(!e.enforce("svc:system_only", &empty, &project_user(&["reader"])));
    let admin_everywhere = target(&[("target.user.id", "s1")]);
    let mut system_admin = system_reader();
    system_admin.roles.push("admin".into());
    assert!(!e.enforce("svc:get_thing", &admin_everywhere, &system_admin));
    // An unscoped token counts as project scope; a domain token as domain scope.
    let unscoped = Credentials {
        user_id: "u1".into(),
        ..Default::default()
    };
    assert_eq!(unscoped.token_scope(), "project");
    assert!(e.enforce(
        "svc:get_thing",
        &target(&[("target.user.id", "u1")]),
        &unscoped
    ));
    let domain = Credentials {
        domain_id: Some("d1".into()),
        ..Default::default()
    };
    assert_eq!(domain.token_scope(), "domain");
    assert!(!e.enforce("svc:system_only", &empty, &domain));
}

#[test]
fn authorize_renders_keystones_forbidden_message() {
    let e = enforcer();
    let err = e
        .authorize("svc:system_only", &Target::new(), &project_user(&[]))
        .unwrap_err();
    assert_eq!(
        err,
        common_error::Error::Forbidden(
            "You are not authorized to perform the requested action: svc:system_only.".into()
        )
    );
    assert_eq!(err.status(), 403);
    assert!(e
        .authorize("svc:anyone", &Target::new(), &project_user(&[]))
        .is_ok());
}

#[test]
fn yaml_overrides_replace_and_add_rules_and_keep_scope_types() {
    let yaml = r#"
# operators' policy.yaml
"svc:system_only": "role:member"
"svc:new_rule": "rule:admin_required or role:auditor"
"#;
    let e = enforcer().with_overrides(yaml).unwrap();
    assert_eq!(e.check_str("svc:system_only"), Some("role:member"));
    assert_eq!(e.scope_types("svc:system_only"), Some(&["system"][..]));
    assert_eq!(e.scope_types("svc:new_rule"), Some(&[][..]));
    let mut system_member = system_reader();
    system_member.roles = vec!["member".into()];
    assert!(e.enforce("svc:system_only", &Target::new(), &system_member));
    // Still system-only: the override did not drop the default's scope_types.
    assert!(!e.enforce(
        "svc:system_only",
        &Target::new(),
        &project_user(&["member"])
    ));
    assert!(e.enforce("svc:new_rule", &Target::new(), &project_user(&["auditor"])));
    assert!(!e.enforce("svc:new_rule", &Target::new(), &project_user(&["member"])));
    // Untouched rules survive.
    assert_eq!(e.check_str("owner"), Some("user_id:%(target.user.id)s"));
    assert_eq!(e.rules().len(), DEFAULTS.len() + 1);
}

#[test]
fn json_and_legacy_list_overrides() {
    let json = r#"{"svc:anyone": "!", "svc:listy": [["role:a", "role:b"], ["role:c"]]}"#;
    let e = enforcer().with_overrides(json).unwrap();
    assert!(!e.enforce("svc:anyone", &Target::new(), &project_user(&["admin"])));
    assert!(e.enforce("svc:listy", &Target::new(), &project_user(&["a", "b"])));
    assert!(e.enforce("svc:listy", &Target::new(), &project_user(&["c"])));
    assert!(!e.enforce("svc:listy", &Target::new(), &project_user(&["a"])));
}

#[test]
fn empty_documents_change_nothing() {
    for text in ["", "   \n", "# only a comment\n", "{}", "---\n"] {
        let e = enforcer().with_overrides(text).unwrap();
        assert_eq!(e.rules(), enforcer().rules(), "{text:?}");
    }
}

#[test]
fn bad_overrides_are_errors_naming_the_rule() {
    let err = enforcer()
        .with_overrides("\"svc:anyone\": \"role:a and\"")
        .unwrap_err();
    match &err {
        PolicyError::Parse {
            rule, check_str, ..
        } => {
            assert_eq!(rule, "svc:anyone");
            assert_eq!(check_str, "role:a and");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("svc:anyone"));
    for (text, rule) in [
        ("svc:x:\n", "svc:x"),
        ("svc:x: 3\n", "svc:x"),
        ("svc:x: true\n", "svc:x"),
        ("svc:x: {a: b}\n", "svc:x"),
        ("svc:x: [[1]]\n", "svc:x"),
    ] {
        match enforcer().with_overrides(text) {
            Err(PolicyError::InvalidValue { rule: r, .. }) => assert_eq!(r, rule, "{text:?}"),
            other => panic!("{text:?}: unexpected {other:?}"),
        }
    }
    for text in [
        "- a\n- b\n",
        "just a string",
        "{\"unclosed\": ",
        "a: '@'\na: '!'\n",
    ] {
        assert!(
            matches!(enforcer().with_overrides(text), Err(PolicyError::Format(_))),
            "{text:?}"
        );
    }
}

#[test]
fn bad_defaults_are_errors() {
    let bad = [RuleDefault::new("svc:bad", "role:a or or role:b", &[])];
    assert!(
        matches!(Enforcer::new(&bad), Err(PolicyError::Parse { rule, .. }) if rule == "svc:bad")
    );
    let twice = [
        RuleDefault::new("a", "@", &[]),
        RuleDefault::new("a", "!", &[]),
    ];
    assert_eq!(
        Enforcer::new(&twice).unwrap_err(),
        PolicyError::Duplicate("a".into())
    );
}

#[test]
fn reference_cycles_are_rejected_at_load_time() {
    let cyclic = [
        RuleDefault::new("a", "rule:b", &[]),
        RuleDefault::new("b", "role:x or rule:c", &[]),
        RuleDefault::new("c", "not rule:a", &[]),
    ];
    match Enforcer::new(&cyclic).unwrap_err() {
        PolicyError::Cycle { chain, .. } => assert_eq!(chain, ["a", "b", "c", "a"]),
        other => panic!("unexpected {other:?}"),
    }
    let selfish = [RuleDefault::new("a", "rule:a", &[])];
    assert!(matches!(
        Enforcer::new(&selfish),
        Err(PolicyError::Cycle { .. })
    ));
    // An override can close a loop too, including through the `default` fallback.
    assert!(matches!(
        enforcer().with_overrides("owner: rule:svc:get_thing"),
        Err(PolicyError::Cycle { .. })
    ));
    assert!(matches!(
        enforcer().with_overrides("default: rule:undefined"),
        Err(PolicyError::Cycle { .. })
    ));
    // Sharing a rule is not a cycle.
    let diamond = [
        RuleDefault::new("top", "rule:l or rule:r", &[]),
        RuleDefault::new("l", "rule:base", &[]),
        RuleDefault::new("r", "rule:base", &[]),
        RuleDefault::new("base", "@", &[]),
    ];
    assert!(Enforcer::new(&diamond).is_ok());
}

#[test]
fn a_long_reference_chain_does_not_overflow() {
    let mut yaml = String::new();
    for i in 0..50_000 {
        yaml.push_str(&format!("r{i}: rule:r{}\n", i + 1));
    }
    yaml.push_str("r50000: '@'\n");
    let e = enforcer().with_overrides(&yaml).unwrap();
    // Evaluation gives up past its depth bound and denies.
    assert!(!e.enforce("r0", &Target::new(), &project_user(&[])));
    assert!(e.enforce("r49999", &Target::new(), &project_user(&[])));
}

#[test]
fn undefined_references_are_reported() {
    let e = enforcer()
        .with_overrides("svc:anyone: rule:ghost or rule:owner")
        .unwrap();
    assert_eq!(
        e.undefined_references(),
        vec![("svc:anyone".to_owned(), "ghost".to_owned())]
    );
}
