//! Evaluating a parsed [`Check`] against credentials and a target.
//!
//! Credential attributes are the keys oslo.context's `to_policy_values()` produces, plus the
//! `token.*` paths of the rendered token Keystone adds to them. A `None` attribute reads as
//! `"None"` (so `domain_id:None` holds on a project-scoped token), except under `token.*`
//! and `system`, where an absent value is missing and the check is false, as in Python.

use crate::parser::{Check, Left};
use crate::{Credentials, Target, NONE};

/// How many `rule:` references deep an evaluation may go. Cycles are rejected at load time;
/// this only guards against a bug there.
const MAX_RULE_DEPTH: usize = 64;

/// Looks up a rule by name, applying the `default` fallback.
pub(crate) trait RuleLookup {
    fn lookup(&self, name: &str) -> Option<&Check>;
}

/// Evaluates `check`.
pub(crate) fn evaluate(
    check: &Check,
    target: &Target,
    creds: &Credentials,
    rules: &dyn RuleLookup,
) -> bool {
    eval(check, target, creds, rules, 0)
}

fn eval(
    check: &Check,
    target: &Target,
    creds: &Credentials,
    rules: &dyn RuleLookup,
    depth: usize,
) -> bool {
    match check {
        Check::Always => true,
        Check::Never => false,
        Check::Rule(name) => {
            if depth >= MAX_RULE_DEPTH {
                tracing::warn!(rule = %name, "policy rule references nest too deep; denying");
                return false;
            }
            rules
                .lookup(name)
                .is_some_and(|c| eval(c, target, creds, rules, depth + 1))
        }
        Check::Role(template) => template.render(target).is_some_and(|wanted| {
            let wanted = wanted.to_lowercase();
            creds.roles.iter().any(|r| r.to_lowercase() == wanted)
        }),
        Check::Generic { left, right } => {
            let Some(wanted) = right.render(target) else {
                return false;
            };
            match left {
                Left::Literal(value) => *value == wanted,
                Left::Credential(path) => credential_matches(creds, path, &wanted),
            }
        }
        Check::Not(inner) => !eval(inner, target, creds, rules, depth),
        Check::And(all) => all.iter().all(|c| eval(c, target, creds, rules, depth)),
        Check::Or(any) => any.iter().any(|c| eval(c, target, creds, rules, depth)),
    }
}

fn python_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// Whether the credential attribute at `path` equals `wanted` (any element, for lists).
/// Unknown paths are missing attributes: the check is false.
fn credential_matches(creds: &Credentials, path: &str, wanted: &str) -> bool {
    let or_none = |v: &Option<String>| v.as_deref().unwrap_or(NONE) == wanted;
    let present = |v: &Option<String>| v.as_deref() == Some(wanted);
    let project_scoped = creds.project_id.is_some();
    match path {
        // oslo.context policy values.
        "user_id" | "token.user.id" => creds.user_id == wanted,
        "user_domain_id" | "token.user.domain.id" => creds.user_domain_id == wanted,
        "project_id" => or_none(&creds.project_id),
        "project_domain_id" => or_none(&creds.project_domain_id),
        "domain_id" => or_none(&creds.domain_id),
        "system_scope" => or_none(&creds.system_scope),
        "is_admin_project" => python_bool(creds.is_admin_project) == wanted,
        "application_credential_id" => or_none(&creds.application_credential_id),
        "roles" | "token.roles.name" => creds.roles.iter().any(|r| r == wanted),
        // oslo.policy copies a truthy system_scope to `system`.
        "system" => creds
            .system_scope
            .as_deref()
            .is_some_and(|s| !s.is_empty() && s == wanted),
        // Keystone's rendered token: sections exist only for the token's own scope.
        "token.project.id" => present(&creds.project_id),
        "token.project.domain.id" => present(&creds.project_domain_id),
        "token.domain.id" => present(&creds.domain_id),
        "token.system.all" => creds.system_scope.as_deref() == Some("all") && wanted == "True",
        "token.is_admin_project" => project_scoped && python_bool(creds.is_admin_project) == wanted,
        "token.application_credential.id" => present(&creds.application_credential_id),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;
    use crate::target;
    use std::collections::HashMap;

    struct Rules(HashMap<String, Check>);

    impl RuleLookup for Rules {
        fn lookup(&self, name: &str) -> Option<&Check> {
            self.0.get(name)
        }
    }

    fn no_rules() -> Rules {
        Rules(HashMap::new())
    }

    fn project_member() -> Credentials {
        Credentials {
            user_id: "u1".into(),
            user_domain_id: "default".into(),
            project_id: Some("p1".into()),
            project_domain_id: Some("default".into()),
            roles: vec!["Member".into(), "reader".into()],
            ..Default::default()
        }
    }

    fn check(text: &str, target: &Target, creds: &Credentials) -> bool {
        evaluate(&parse(text).unwrap(), target, creds, &no_rules())
    }

    #[test]
    fn roles_compare_case_insensitively() {
        let creds = project_member();
        let empty = Target::new();
        assert!(check("role:member", &empty, &creds));
        assert!(check("role:READER", &empty, &creds));
        assert!(!check("role:admin", &empty, &creds));
        // The `roles` attribute is an exact match, as oslo's generic check is.
        assert!(!check("roles:member", &empty, &creds));
        assert!(check("roles:Member", &empty, &creds));
        // Roles may come from the target too.
        assert!(check(
            "role:%(wanted)s",
            &target(&[("wanted", "MEMBER")]),
            &creds
        ));
        assert!(!check("role:%(missing)s", &empty, &creds));
    }

    #[test]
    fn substitutions_read_the_target_and_missing_keys_fail() {
        let creds = project_member();
        let t = target(&[("target.project.id", "p1"), ("other", "p2")]);
        assert!(check("project_id:%(target.project.id)s", &t, &creds));
        assert!(!check("project_id:%(other)s", &t, &creds));
        assert!(!check("project_id:%(target.nothing)s", &t, &creds));
        // `not` over a missing key is true, exactly as in oslo.policy.
        assert!(check("not project_id:%(target.nothing)s", &t, &creds));
    }

    #[test]
    fn literal_values_and_python_none() {
        let creds = project_member();
        let empty = Target::new();
        assert!(check("domain_id:None", &empty, &creds));
        assert!(check("system_scope:None", &empty, &creds));
        assert!(!check("system:None", &empty, &creds));
        assert!(check("is_admin_project:False", &empty, &creds));
        assert!(!check("is_admin_project:True", &empty, &creds));
        assert!(!check("token.domain.id:None", &empty, &creds));
        let system = Credentials {
            system_scope: Some("all".into()),
            ..Default::default()
        };
        assert!(check("system_scope:all", &empty, &system));
        assert!(check("system:all", &empty, &system));
        assert!(check("token.system.all:True", &empty, &system));
    }

    #[test]
    fn quoted_literal_compares_with_target() {
        let creds = project_member();
        let t = target(&[("role.name", "member"), ("null", NONE)]);
        assert!(check("'member':%(role.name)s", &t, &creds));
        assert!(!check("'admin':%(role.name)s", &t, &creds));
        assert!(check("None:%(null)s", &t, &creds));
        assert!(!check("None:%(role.name)s", &t, &creds));
        assert!(!check("'member':%(missing)s", &t, &creds));
    }

    #[test]
    fn token_paths_alias_the_scope() {
        let creds = project_member();
        let t = target(&[("d", "default"), ("u", "u1"), ("p", "p1")]);
        assert!(check("token.project.domain.id:%(d)s", &t, &creds));
        assert!(check("token.project.id:%(p)s", &t, &creds));
        assert!(check("token.user.id:%(u)s", &t, &creds));
        assert!(check("token.user.domain.id:%(d)s", &t, &creds));
        assert!(!check("token.domain.id:%(d)s", &t, &creds));
        assert!(!check("unknown.attribute:%(d)s", &t, &creds));
    }

    #[test]
    fn boolean_operators() {
        let creds = project_member();
        let empty = Target::new();
        assert!(check("role:admin or role:member", &empty, &creds));
        assert!(!check("role:admin and role:member", &empty, &creds));
        assert!(check("not role:admin and role:member", &empty, &creds));
        assert!(!check("not (role:admin or role:member)", &empty, &creds));
        assert!(check("@", &empty, &creds));
        assert!(!check("!", &empty, &creds));
        assert!(check("", &empty, &creds));
    }

    #[test]
    fn rule_references_and_depth_bound() {
        let creds = project_member();
        let mut map = HashMap::new();
        map.insert("is_member".to_owned(), parse("role:member").unwrap());
        map.insert("loop".to_owned(), parse("rule:loop").unwrap());
        let rules = Rules(map);
        let empty = Target::new();
        assert!(evaluate(
            &parse("rule:is_member").unwrap(),
            &empty,
            &creds,
            &rules
        ));
        assert!(!evaluate(
            &parse("rule:missing").unwrap(),
            &empty,
            &creds,
            &rules
        ));
        assert!(!evaluate(
            &parse("rule:loop").unwrap(),
            &empty,
            &creds,
            &rules
        ));
    }
}
