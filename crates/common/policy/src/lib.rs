//! The oslo.policy rule engine every Ferrostack API uses, plus Keystone's identity defaults.
//!
//! This crate owns the policy language (`role:admin and project_id:%(target.project.id)s`),
//! the [`Enforcer`] that evaluates a named rule against a caller's [`Credentials`] and a
//! flattened [`Target`], the loading of operator overrides from a `policy.yaml`, and the
//! default `identity:*` rules in [`keystone`]. Other services keep their defaults next to
//! their handlers (`compute-api/src/policy.rs`) and feed them to [`Enforcer::new`].
//!
//! It must not depend on HTTP, database or any service crate: only `common-error` and
//! serialisation crates.
//!
//! Semantics follow oslo.policy with `enforce_scope = True`:
//! - unknown actions (and `rule:` references to unknown rules) fall back to a rule named
//!   `default` when one is defined, and are denied otherwise;
//! - a rule with non-empty `scope_types` denies a token whose scope is not listed;
//! - `%(key)s` substitutions read the flat target map; a missing key makes the check false;
//! - Python's `None` is spelled [`NONE`] in both credentials and targets.

mod check;
pub mod cinder;
mod enforcer;
pub mod glance;
pub mod keystone;
pub mod neutron;
pub mod nova;
mod parser;
pub mod placement;

use std::collections::BTreeMap;

pub use enforcer::Enforcer;

/// How Python's `None` reads once substituted into a check (`str(None)`).
///
/// Keystone's rules compare against it (`not None:%(target.project.domain_id)s`,
/// `not domain_id:None`), so a target attribute that is present but null — a global role's
/// `target.role.domain_id`, say — must be inserted with this value rather than left out.
/// Credential attributes that are `None` already read as this value.
pub const NONE: &str = "None";

/// Who is asking, taken from a validated token.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Credentials {
    pub user_id: String,
    pub user_domain_id: String,
    pub project_id: Option<String>,
    pub project_domain_id: Option<String>,
    /// Set for a domain-scoped token.
    pub domain_id: Option<String>,
    /// `Some("all")` for a system-scoped token.
    pub system_scope: Option<String>,
    /// Role names, already expanded through implied roles (admin ⇒ member ⇒ reader).
    pub roles: Vec<String>,
    pub is_admin_project: bool,
    pub application_credential_id: Option<String>,
}

impl Credentials {
    /// The token scope as oslo.policy derives it for `scope_types`: `"system"` when
    /// `system_scope` is set, else `"domain"` when `domain_id` is set, else `"project"`
    /// (an unscoped token counts as project scope, as in oslo.policy).
    pub fn token_scope(&self) -> &'static str {
        let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
        if set(&self.system_scope) {
            "system"
        } else if set(&self.domain_id) {
            "domain"
        } else {
            "project"
        }
    }
}

/// What is acted on, flattened oslo-style: keys like `"target.project.id"`,
/// `"target.user.domain_id"`, and the request's path parameters (`"user_id"`).
pub type Target = BTreeMap<String, String>;

/// Builds a [`Target`] from key/value pairs.
pub fn target(pairs: &[(&str, &str)]) -> Target {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A rule shipped with the code: its name, its default check string and the token scopes
/// it accepts (empty: any scope).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleDefault {
    pub name: &'static str,
    pub check_str: &'static str,
    pub scope_types: &'static [&'static str],
}

impl RuleDefault {
    pub const fn new(
        name: &'static str,
        check_str: &'static str,
        scope_types: &'static [&'static str],
    ) -> Self {
        RuleDefault {
            name,
            check_str,
            scope_types,
        }
    }
}

/// Why a set of rules could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A check string does not parse.
    #[error("policy rule {rule:?} has an invalid check string {check_str:?}: {reason}")]
    Parse {
        rule: String,
        check_str: String,
        reason: String,
    },
    /// A rule's value in a policy file is neither a string nor a list of lists of strings.
    #[error("policy rule {rule:?} must be a check string, got {found}")]
    InvalidValue { rule: String, found: String },
    /// The policy file is not a YAML or JSON mapping of rule names to check strings.
    #[error("policy file is not a mapping of rule names to check strings: {0}")]
    Format(String),
    /// Two defaults share a name.
    #[error("policy rule {0:?} is defined twice in the defaults")]
    Duplicate(String),
    /// Rules reference each other in a loop.
    #[error("policy rule {rule:?} refers to itself through {}", chain.join(" -> "))]
    Cycle { rule: String, chain: Vec<String> },
}

impl From<PolicyError> for common_error::Error {
    fn from(e: PolicyError) -> Self {
        common_error::Error::internal("load policy", e)
    }
}
