//! Users: creation rules, partial updates, passwords (an admin's reset and the user's own
//! change), deletion, and the projects a user holds roles on.
//!
//! Keystone keeps a user's resource options (`lock_password`, …) apart from the user row; we
//! keep them in `User::extra` under [`OPTIONS_KEY`], which the API never lets a request write
//! as a plain extra attribute.

use std::collections::{BTreeSet, HashMap};

use common_error::{Error, Result};
use identity_db::AssignmentFilter;
use identity_model::{AssignmentTarget, Extra, ListFilter, Project, RevocationEvent, User};
use serde_json::Value;

use crate::{now, password, Identity};

/// Longest user or group name (Keystone's schema limit).
pub const MAX_NAME_LEN: usize = 255;

/// Key of `User::extra` holding the user's resource options.
pub const OPTIONS_KEY: &str = "options";

/// Keystone's user options; all boolean except `multi_factor_auth_rules`.
const BOOL_OPTIONS: &[&str] = &[
    "ignore_change_password_upon_first_use",
    "ignore_password_expiry",
    "ignore_lockout_failure_attempts",
    "lock_password",
    "ignore_user_inactivity",
    "multi_factor_auth_enabled",
];
const MFA_RULES: &str = "multi_factor_auth_rules";

/// Checks a user or group name as Keystone's schema does (1 to 255 characters, not only
/// whitespace) and returns it stripped of surrounding whitespace, as Keystone stores it.
pub fn check_name(name: &str) -> Result<String> {
    if name.chars().count() > MAX_NAME_LEN {
        let head: String = name.chars().take(40).collect();
        return Err(Error::bad_request(format!(
            "Invalid input for field 'name': '{head}...' is too long (maximum {MAX_NAME_LEN} characters)."
        )));
    }
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(Error::bad_request(format!(
            "Invalid input for field 'name': '{name}' does not match '[\\S]+'"
        )));
    }
    Ok(trimmed.to_string())
}

/// Rejects passwords longer than Keystone's `max_password_length`.
pub fn check_password(field: &str, pw: &str) -> Result<()> {
    if pw.chars().count() > password::MAX_PASSWORD_LEN {
        return Err(Error::bad_request(format!(
            "Invalid input for field '{field}': the password is too long (maximum {} characters).",
            password::MAX_PASSWORD_LEN
        )));
    }
    Ok(())
}

/// The user's resource options (`{}` when none are set).
pub fn options_of(u: &User) -> Extra {
    match u.extra.get(OPTIONS_KEY) {
        Some(Value::Object(m)) => m.clone(),
        _ => Extra::new(),
    }
}

fn option_is_true(u: &User, name: &str) -> bool {
    options_of(u)
        .get(name)
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// Applies an `options` request object to `current`: every value must suit its option, and
/// `null` removes the option, as in Keystone.
pub fn merge_options(current: &mut Extra, patch: &Extra) -> Result<()> {
    for (k, v) in patch {
        let ok = if BOOL_OPTIONS.contains(&k.as_str()) {
            v.is_boolean() || v.is_null()
        } else if k == MFA_RULES {
            v.is_null() || valid_mfa_rules(v)
        } else {
            return Err(Error::bad_request(format!(
                "Invalid input for field 'options': Additional properties are not allowed ('{k}' was unexpected)"
            )));
        };
        if !ok {
            return Err(Error::bad_request(format!(
                "Invalid input for field 'options/{k}': {v} is not valid for this option."
            )));
        }
        if v.is_null() {
            current.remove(k);
        } else {
            current.insert(k.clone(), v.clone());
        }
    }
    Ok(())
}

/// A list of distinct, non-empty lists of distinct strings.
fn valid_mfa_rules(v: &Value) -> bool {
    let Some(rules) = v.as_array() else {
        return false;
    };
    let mut seen = Vec::new();
    for rule in rules {
        let Some(items) = rule.as_array() else {
            return false;
        };
        if items.is_empty() || seen.contains(&rule) {
            return false;
        }
        seen.push(rule);
        let mut names = BTreeSet::new();
        for i in items {
            match i.as_str() {
                Some(s) if names.insert(s) => {}
                _ => return false,
            }
        }
    }
    true
}

/// Sets a nullable attribute Keystone keeps among the extras (`description`, `email`): a
/// string goes to the column; `null` or any other JSON value is kept in `extra` so it is
/// rendered back exactly as sent.
pub fn set_loose_attr(column: &mut Option<String>, extra: &mut Extra, key: &str, v: Value) {
    match v {
        Value::String(s) => {
            *column = Some(s);
            extra.remove(key);
        }
        other => {
            *column = None;
            extra.insert(key.to_string(), other);
        }
    }
}

/// A partial update of a user (`PATCH /v3/users/{user_id}`). Holds a password, so it has no
/// `Debug`.
#[derive(Default, Clone)]
pub struct UserPatch {
    pub name: Option<String>,
    /// Allowed only when equal to the user's domain.
    pub domain_id: Option<String>,
    pub enabled: Option<bool>,
    /// `Some(None)` clears the default project.
    pub default_project_id: Option<Option<String>>,
    pub description: Option<Value>,
    pub email: Option<Value>,
    /// Merged into the current options; a `null` value removes an option.
    pub options: Option<Extra>,
    /// A new password (an administrator's reset).
    pub password: Option<String>,
    /// Extra attributes, merged into the current ones.
    pub extra: Extra,
}

/// The `password_expires_at` list filter: `[lt|lte|gt|gte|eq|neq:]<timestamp>`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExpiryFilter {
    op: ExpiryOp,
    at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ExpiryOp {
    Lt,
    Lte,
    Gt,
    Gte,
    Eq,
    Neq,
}

impl ExpiryFilter {
    /// Parses the filter as Keystone does: an operator of 2 or 3 letters and a colon, or a bare
    /// timestamp meaning `eq`.
    pub fn parse(v: &str) -> Result<ExpiryFilter> {
        let has_op = v.get(2..4).is_some_and(|s| s.contains(':'));
        let (op, ts) = if has_op {
            v.split_once(':').unwrap_or(("eq", v))
        } else {
            ("eq", v)
        };
        let op = match op {
            "lt" => ExpiryOp::Lt,
            "lte" => ExpiryOp::Lte,
            "gt" => ExpiryOp::Gt,
            "gte" => ExpiryOp::Gte,
            "eq" => ExpiryOp::Eq,
            "neq" => ExpiryOp::Neq,
            other => {
                return Err(Error::bad_request(format!(
                    "The given operator {other} is not valid. It must be one of the following: 'eq', 'neq', 'lt', 'lte', 'gt', or 'gte'."
                )))
            }
        };
        let at = parse_time(ts).ok_or_else(|| {
            Error::bad_request(
                "Timestamp not in expected format. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.",
            )
        })?;
        Ok(ExpiryFilter { op, at })
    }

    /// Whether a password expiring at `exp` matches; a password that never expires matches
    /// nothing (SQL's NULL comparison, as in Keystone).
    pub fn matches(&self, exp: Option<i64>) -> bool {
        let Some(e) = exp else { return false };
        match self.op {
            ExpiryOp::Lt => e < self.at,
            ExpiryOp::Lte => e <= self.at,
            ExpiryOp::Gt => e > self.at,
            ExpiryOp::Gte => e >= self.at,
            ExpiryOp::Eq => e == self.at,
            ExpiryOp::Neq => e != self.at,
        }
    }
}

/// ISO 8601 in UTC, with or without a zone suffix.
fn parse_time(s: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp());
    }
    let s = s.strip_suffix('Z').unwrap_or(s);
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
    .map(|t| t.and_utc().timestamp())
}

pub(crate) fn duplicate(kind: &str, name: &str, domain: Option<&str>) -> Error {
    match domain {
        Some(d) => Error::conflict(format!(
            "Conflict occurred attempting to store {kind} - Duplicate entry found with name {name} at domain ID {d}."
        )),
        None => Error::conflict(format!(
            "Conflict occurred attempting to store {kind} - Duplicate entry found with name {name}."
        )),
    }
}

impl Identity {
    /// Creates a user in `u.domain_id` (which must exist) with a fresh id, hashing `password`
    /// if given. Options are read from `u.extra[OPTIONS_KEY]`.
    pub async fn user_create(&self, mut u: User, password: Option<&str>) -> Result<User> {
        u.name = check_name(&u.name)?;
        if let Some(pw) = password {
            check_password("password", pw)?;
        }
        let mut options = Extra::new();
        if let Some(v) = u.extra.remove(OPTIONS_KEY) {
            match v {
                Value::Object(o) => merge_options(&mut options, &o)?,
                Value::Null => {}
                other => {
                    return Err(Error::bad_request(format!(
                        "Invalid input for field 'options': {other} is not of type 'object'"
                    )))
                }
            }
        }
        if !options.is_empty() {
            u.extra.insert(OPTIONS_KEY.into(), Value::Object(options));
        }
        self.domain_get(&u.domain_id).await?;
        self.check_default_project(u.default_project_id.as_deref())
            .await?;
        if self
            .store
            .user_auth_row_by_name(&u.domain_id, &u.name)
            .await?
            .is_some()
        {
            return Err(duplicate("user", &u.name, Some(&u.domain_id)));
        }
        u.id = crate::new_id();
        let hash = match password {
            Some(pw) => Some(password::hash(pw, self.cfg.password_hash_rounds).await?),
            None => None,
        };
        self.store
            .user_create(&u, hash.as_deref(), now())
            .await
            .map_err(|e| match e {
                Error::Conflict(_) => duplicate("user", &u.name, Some(&u.domain_id)),
                other => other,
            })?;
        Ok(u)
    }

    /// Keystone accepts a default project that does not exist, but never a domain.
    async fn check_default_project(&self, id: Option<&str>) -> Result<()> {
        if let Some(id) = id {
            if self
                .store
                .project_get(id)
                .await?
                .is_some_and(|p| p.is_domain)
            {
                return Err(Error::bad_request(format!(
                    "User's default project ID cannot be a domain ID: {id}"
                )));
            }
        }
        Ok(())
    }

    /// A user by id.
    pub async fn user_get(&self, id: &str) -> Result<User> {
        self.store
            .user_get(id)
            .await?
            .ok_or_else(|| Error::not_found("user", id))
    }

    /// Users matching the filter (name, domain, enabled) and, if given, a password expiry filter.
    pub async fn user_list(
        &self,
        f: &ListFilter,
        expires: Option<&ExpiryFilter>,
    ) -> Result<Vec<User>> {
        let mut users = self.store.user_list(f).await?;
        if let Some(x) = expires {
            users.retain(|u| x.matches(u.password_expires_at));
        }
        Ok(users)
    }

    /// Applies a partial update. A new password or disabling the user revokes their tokens.
    pub async fn user_update(&self, id: &str, patch: UserPatch) -> Result<User> {
        let mut u = self.user_get(id).await?;
        if patch.domain_id.as_ref().is_some_and(|d| *d != u.domain_id) {
            return Err(Error::bad_request("Cannot change Domain ID"));
        }
        let old_name = u.name.clone();
        let was_enabled = u.enabled;
        if let Some(n) = &patch.name {
            u.name = check_name(n)?;
        }
        if let Some(pw) = &patch.password {
            check_password("password", pw)?;
        }
        if let Some(e) = patch.enabled {
            u.enabled = e;
        }
        if let Some(dp) = patch.default_project_id {
            self.check_default_project(dp.as_deref()).await?;
            u.default_project_id = dp;
        }
        if let Some(v) = patch.description {
            set_loose_attr(&mut u.description, &mut u.extra, "description", v);
        }
        if let Some(v) = patch.email {
            set_loose_attr(&mut u.email, &mut u.extra, "email", v);
        }
        if let Some(o) = &patch.options {
            let mut current = options_of(&u);
            merge_options(&mut current, o)?;
            u.extra.insert(OPTIONS_KEY.into(), Value::Object(current));
        }
        u.extra.extend(patch.extra);
        let renamed = u.name != old_name;
        if renamed
            && self
                .store
                .user_auth_row_by_name(&u.domain_id, &u.name)
                .await?
                .is_some_and(|r| r.user.id != u.id)
        {
            return Err(duplicate("user", &u.name, None));
        }
        let hash = match &patch.password {
            Some(pw) => Some(password::hash(pw, self.cfg.password_hash_rounds).await?),
            None => None,
        };
        self.store
            .user_update(&u, hash.as_deref(), now())
            .await
            .map_err(|e| match e {
                Error::Conflict(_) => duplicate("user", &u.name, None),
                other => other,
            })?;
        if hash.is_some() || (was_enabled && !u.enabled) {
            self.revoke(RevocationEvent {
                user_id: Some(u.id.clone()),
                ..Default::default()
            })
            .await?;
        } else {
            self.invalidate();
        }
        Ok(u)
    }

    /// Deletes a user with their memberships, grants and credentials, and revokes their tokens.
    pub async fn user_delete(&self, id: &str) -> Result<()> {
        let u = self.user_get(id).await?;
        if !self.store.user_delete(&u.id).await? {
            return Err(Error::not_found("user", id));
        }
        self.revoke(RevocationEvent {
            user_id: Some(u.id),
            ..Default::default()
        })
        .await
    }

    /// A user's own password change: the original password is the proof (every failure is
    /// the same 401), then the new one replaces it and the user's tokens are revoked.
    pub async fn user_change_password(&self, id: &str, original: &str, new: &str) -> Result<()> {
        check_password("password", new)?;
        let row = self.store.user_auth_row(id).await?;
        let hash = row
            .as_ref()
            .and_then(|r| r.password_hash.as_deref())
            .unwrap_or(password::dummy_hash());
        let ok = password::verify(original, hash).await?;
        let row = match row {
            Some(r) if ok && r.password_hash.is_some() => r,
            _ => return Err(Error::unauthenticated()),
        };
        if !row.user.enabled {
            return Err(Error::Unauthenticated(format!(
                "The account is disabled for user: {id}."
            )));
        }
        if option_is_true(&row.user, "lock_password") {
            return Err(Error::bad_request(
                "You cannot change your password at this time due to password policy disallowing password changes. Please contact your administrator to reset your password.",
            ));
        }
        let h = password::hash(new, self.cfg.password_hash_rounds).await?;
        self.store.user_set_password(id, &h, now()).await?;
        self.revoke(RevocationEvent {
            user_id: Some(id.to_string()),
            ..Default::default()
        })
        .await
    }

    /// Projects the user holds a role on, directly or through a group, including those
    /// reached by inheritance (from a domain or a parent project), filtered by `f`'s name,
    /// domain and enabled.
    pub async fn user_list_projects(&self, user_id: &str, f: &ListFilter) -> Result<Vec<Project>> {
        self.user_get(user_id).await?;
        let groups: Vec<String> = self
            .store
            .groups_for_user(user_id)
            .await?
            .into_iter()
            .map(|g| g.id)
            .collect();
        let af = AssignmentFilter {
            user_ids: Some(vec![user_id.to_string()]),
            group_ids: Some(groups),
            ..Default::default()
        };
        let assignments = self.store.assignment_list(&af).await?;
        if assignments.is_empty() {
            return Ok(Vec::new());
        }
        let all = self
            .store
            .project_list(&ListFilter {
                is_domain: Some(false),
                ..Default::default()
            })
            .await?;
        let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
        for p in &all {
            if let Some(parent) = &p.parent_id {
                children
                    .entry(parent.as_str())
                    .or_default()
                    .push(p.id.as_str());
            }
        }
        let mut ids: BTreeSet<&str> = BTreeSet::new();
        for a in &assignments {
            match (&a.target, a.inherited) {
                (AssignmentTarget::Project(p), false) => {
                    ids.insert(p.as_str());
                }
                (AssignmentTarget::Project(p), true) => {
                    let mut stack: Vec<&str> =
                        children.get(p.as_str()).cloned().unwrap_or_default();
                    while let Some(c) = stack.pop() {
                        if ids.insert(c) {
                            stack.extend(children.get(c).cloned().unwrap_or_default());
                        }
                    }
                }
                (AssignmentTarget::Domain(d), true) => {
                    ids.extend(
                        all.iter()
                            .filter(|p| p.domain_id.as_deref() == Some(d.as_str()))
                            .map(|p| p.id.as_str()),
                    );
                }
                _ => {}
            }
        }
        let ids: BTreeSet<String> = ids.into_iter().map(str::to_string).collect();
        Ok(all
            .into_iter()
            .filter(|p| ids.contains(&p.id))
            .filter(|p| f.name.as_ref().is_none_or(|n| *n == p.name))
            .filter(|p| f.domain_id.is_none() || f.domain_id == p.domain_id)
            .filter(|p| f.enabled.is_none_or(|e| e == p.enabled))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_are_checked_and_stripped() {
        assert_eq!(check_name("  bob ").unwrap(), "bob");
        assert_eq!(check_name("   ").unwrap_err().status(), 400);
        assert_eq!(check_name(&"x".repeat(256)).unwrap_err().status(), 400);
        assert!(check_name(&"x".repeat(255)).is_ok());
    }

    #[test]
    fn options_are_validated_and_null_removes() {
        let mut cur = Extra::new();
        let patch =
            json!({"lock_password": true, "multi_factor_auth_rules": [["password", "totp"]]});
        merge_options(&mut cur, patch.as_object().unwrap()).unwrap();
        assert_eq!(cur.len(), 2);
        merge_options(
            &mut cur,
            json!({"lock_password": null}).as_object().unwrap(),
        )
        .unwrap();
        assert_eq!(cur.len(), 1);
        for bad in [
            json!({"nope": true}),
            json!({"lock_password": "yes"}),
            json!({"multi_factor_auth_rules": [["a", "a"]]}),
            json!({"multi_factor_auth_rules": [[]]}),
            json!({"multi_factor_auth_rules": [["a"], ["a"]]}),
        ] {
            assert_eq!(
                merge_options(&mut cur, bad.as_object().unwrap())
                    .unwrap_err()
                    .status(),
                400,
                "{bad}"
            );
        }
    }

    #[test]
    fn expiry_filter() {
        let f = ExpiryFilter::parse("lt:2016-12-08T22:02:00Z").unwrap();
        let at = parse_time("2016-12-08T22:02:00Z").unwrap();
        assert!(f.matches(Some(at - 1)));
        assert!(!f.matches(Some(at)));
        assert!(!f.matches(None));
        assert!(ExpiryFilter::parse("2016-12-08T22:02:00")
            .unwrap()
            .matches(Some(at)));
        assert!(ExpiryFilter::parse("neq:2016-12-08T22:02:00Z")
            .unwrap()
            .matches(Some(at + 5)));
        assert_eq!(
            ExpiryFilter::parse("xx:2016-12-08T22:02:00Z")
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            ExpiryFilter::parse("lt:yesterday").unwrap_err().status(),
            400
        );
    }
}
