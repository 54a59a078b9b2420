//! The [`Enforcer`]: a set of named rules, operator overrides, and the decision itself.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;

use crate::check::{evaluate, RuleLookup};
use crate::parser::{self, Check};
use crate::{Credentials, PolicyError, RuleDefault, Target};

/// The rule an unknown action or `rule:` reference falls back to, when defined.
const DEFAULT_RULE: &str = "default";

/// Evaluates named policy rules. Cheap to clone: the rules sit behind an `Arc`.
#[derive(Debug, Clone)]
pub struct Enforcer {
    rules: Arc<HashMap<String, Rule>>,
}

#[derive(Debug, Clone)]
struct Rule {
    check_str: String,
    check: Check,
    /// From the registered default; an override keeps it, a rule new in a policy file has none.
    scope_types: &'static [&'static str],
}

impl RuleLookup for HashMap<String, Rule> {
    fn lookup(&self, name: &str) -> Option<&Check> {
        self.get(name)
            .or_else(|| self.get(DEFAULT_RULE))
            .map(|r| &r.check)
    }
}

impl Enforcer {
    /// Registers the defaults. Fails on a check string that does not parse, a name defined
    /// twice, or rules that reference each other in a loop.
    pub fn new(defaults: &[RuleDefault]) -> Result<Enforcer, PolicyError> {
        let mut rules = HashMap::with_capacity(defaults.len());
        for d in defaults {
            let check = parse_text(d.name, d.check_str)?;
            let rule = Rule {
                check_str: d.check_str.to_owned(),
                check,
                scope_types: d.scope_types,
            };
            if rules.insert(d.name.to_owned(), rule).is_some() {
                return Err(PolicyError::Duplicate(d.name.to_owned()));
            }
        }
        check_cycles(&rules)?;
        warn_undefined(&rules);
        Ok(Enforcer {
            rules: Arc::new(rules),
        })
    }

    /// Applies a policy.yaml (or JSON) text: `"rule_name": "check string"` pairs override or
    /// add rules. An overridden rule keeps its default's `scope_types`. Values may also use
    /// the legacy list-of-lists form (`[["role:a", "role:b"], ["role:c"]]` = `(a and b) or c`).
    /// An empty document changes nothing.
    pub fn with_overrides(self, text: &str) -> Result<Enforcer, PolicyError> {
        let entries = parse_document(text)?;
        if entries.is_empty() {
            return Ok(self);
        }
        let mut rules = Arc::unwrap_or_clone(self.rules);
        for (name, value) in entries {
            let (check_str, check) = parse_value(&name, &value)?;
            let scope_types = rules.get(&name).map_or(&[][..], |r| r.scope_types);
            tracing::debug!(rule = %name, check = %check_str, "policy override");
            rules.insert(
                name,
                Rule {
                    check_str,
                    check,
                    scope_types,
                },
            );
        }
        check_cycles(&rules)?;
        warn_undefined(&rules);
        Ok(Enforcer {
            rules: Arc::new(rules),
        })
    }

    /// Whether `creds` may perform `action` on `target`.
    ///
    /// The rule's `scope_types` are checked first (the token's scope must be listed, when any
    /// are). An unknown action is judged by the `default` rule if there is one, else denied.
    pub fn enforce(&self, action: &str, target: &Target, creds: &Credentials) -> bool {
        let (check, scope_types) = match self.rules.get(action) {
            Some(rule) => (&rule.check, rule.scope_types),
            None => match self.rules.get(DEFAULT_RULE) {
                Some(fallback) => (&fallback.check, &[][..]),
                None => {
                    tracing::debug!(action, "policy rule does not exist; denying");
                    return false;
                }
            },
        };
        let scope = creds.token_scope();
        if !scope_types.is_empty() && !scope_types.contains(&scope) {
            tracing::debug!(
                action,
                scope,
                ?scope_types,
                "token scope not allowed by policy"
            );
            return false;
        }
        let allowed = evaluate(check, target, creds, self.rules.as_ref());
        if !allowed {
            tracing::debug!(action, user_id = %creds.user_id, "policy denied");
        }
        allowed
    }

    /// `Ok(())`, or Keystone's 403 `You are not authorized to perform the requested action:
    /// <action>.`
    pub fn authorize(
        &self,
        action: &str,
        target: &Target,
        creds: &Credentials,
    ) -> Result<(), common_error::Error> {
        if self.enforce(action, target, creds) {
            Ok(())
        } else {
            Err(common_error::Error::Forbidden(format!(
                "You are not authorized to perform the requested action: {action}."
            )))
        }
    }

    /// The effective check string of a rule, after overrides.
    pub fn check_str(&self, name: &str) -> Option<&str> {
        self.rules.get(name).map(|r| r.check_str.as_str())
    }

    /// The scope types a rule accepts (empty: any).
    pub fn scope_types(&self, name: &str) -> Option<&'static [&'static str]> {
        self.rules.get(name).map(|r| r.scope_types)
    }

    /// Every rule name with its effective check string, sorted by name (for a policy dump).
    pub fn rules(&self) -> BTreeMap<&str, &str> {
        self.rules
            .iter()
            .map(|(k, r)| (k.as_str(), r.check_str.as_str()))
            .collect()
    }

    /// `(rule, missing)` pairs for each `rule:missing` reference to an undefined rule. Such
    /// references are false at run time (or judged by `default`, when it exists).
    pub fn undefined_references(&self) -> Vec<(String, String)> {
        undefined(&self.rules)
    }
}

fn parse_text(rule: &str, check_str: &str) -> Result<Check, PolicyError> {
    parser::parse(check_str).map_err(|reason| PolicyError::Parse {
        rule: rule.to_owned(),
        check_str: check_str.to_owned(),
        reason,
    })
}

/// Reads a policy file into rule name → raw value. JSON is tried first for text that looks
/// like a JSON object, for sharper error messages; everything else goes through YAML. A rule
/// named twice is an error: which one wins would be a guess.
fn parse_document(text: &str) -> Result<Vec<(String, Value)>, PolicyError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    let parsed: Option<Entries> = if trimmed.starts_with('{') {
        serde_json::from_str(trimmed).map_err(|e| PolicyError::Format(e.to_string()))?
    } else {
        serde_yaml::from_str(text).map_err(|e| PolicyError::Format(e.to_string()))?
    };
    Ok(parsed.map(|e| e.0).unwrap_or_default())
}

/// A mapping's entries in file order, refusing duplicate keys.
struct Entries(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping of rule names to check strings")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Entries, A::Error> {
                let mut seen = std::collections::HashSet::new();
                let mut entries = Vec::new();
                while let Some((name, value)) = map.next_entry::<String, Value>()? {
                    if !seen.insert(name.clone()) {
                        return Err(serde::de::Error::custom(format!(
                            "rule {name:?} appears twice"
                        )));
                    }
                    entries.push((name, value));
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// Turns one policy-file value into its check string and parsed check.
fn parse_value(rule: &str, value: &Value) -> Result<(String, Check), PolicyError> {
    let invalid = |found: &str| PolicyError::InvalidValue {
        rule: rule.to_owned(),
        found: found.to_owned(),
    };
    match value {
        Value::String(s) => Ok((s.clone(), parse_text(rule, s)?)),
        Value::Array(outer) => {
            let mut lists = Vec::with_capacity(outer.len());
            for item in outer {
                lists.push(match item {
                    Value::String(s) => vec![s.clone()],
                    Value::Array(inner) => inner
                        .iter()
                        .map(|v| {
                            v.as_str()
                                .map(str::to_owned)
                                .ok_or_else(|| invalid("a list"))
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                    _ => return Err(invalid("a list")),
                });
            }
            let check = parser::parse_list(&lists).map_err(|reason| PolicyError::Parse {
                rule: rule.to_owned(),
                check_str: value.to_string(),
                reason,
            })?;
            Ok((value.to_string(), check))
        }
        Value::Null => Err(invalid("nothing (null)")),
        Value::Bool(_) => Err(invalid("a boolean")),
        Value::Number(_) => Err(invalid("a number")),
        Value::Object(_) => Err(invalid("a mapping")),
    }
}

/// The rules a check refers to, resolved the way evaluation resolves them.
fn references<'a>(check: &'a Check, out: &mut Vec<&'a str>) {
    match check {
        Check::Rule(name) => out.push(name),
        Check::Not(inner) => references(inner, out),
        Check::And(all) | Check::Or(all) => all.iter().for_each(|c| references(c, out)),
        Check::Always | Check::Never | Check::Role(_) | Check::Generic { .. } => {}
    }
}

/// Rejects rule sets where following `rule:` references (including the fallback of an
/// unknown name to `default`) can come back to a rule already being evaluated. Iterative,
/// so a long chain in a hostile policy file cannot exhaust the stack.
fn check_cycles(rules: &HashMap<String, Rule>) -> Result<(), PolicyError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    let edges = |name: &str| -> Vec<&str> {
        let mut refs = Vec::new();
        if let Some(rule) = rules.get(name) {
            references(&rule.check, &mut refs);
        }
        refs.into_iter()
            .filter_map(|r| {
                if rules.contains_key(r) {
                    Some(r)
                } else {
                    rules.contains_key(DEFAULT_RULE).then_some(DEFAULT_RULE)
                }
            })
            .collect()
    };

    let mut roots: Vec<&str> = rules.keys().map(String::as_str).collect();
    roots.sort_unstable();
    let mut marks: HashMap<&str, Mark> = HashMap::new();
    for root in roots {
        if marks.contains_key(root) {
            continue;
        }
        marks.insert(root, Mark::Visiting);
        // Each frame: a rule being visited, its references, and the next one to follow.
        let mut stack: Vec<(&str, Vec<&str>, usize)> = vec![(root, edges(root), 0)];
        while let Some(frame) = stack.last_mut() {
            let Some(&next) = frame.1.get(frame.2) else {
                marks.insert(frame.0, Mark::Done);
                stack.pop();
                continue;
            };
            frame.2 += 1;
            match marks.get(next) {
                Some(Mark::Done) => {}
                Some(Mark::Visiting) => {
                    let start = stack.iter().position(|f| f.0 == next).unwrap_or(0);
                    let mut chain: Vec<String> =
                        stack[start..].iter().map(|f| f.0.to_owned()).collect();
                    chain.push(next.to_owned());
                    return Err(PolicyError::Cycle {
                        rule: next.to_owned(),
                        chain,
                    });
                }
                None => {
                    marks.insert(next, Mark::Visiting);
                    stack.push((next, edges(next), 0));
                }
            }
        }
    }
    Ok(())
}

fn undefined(rules: &HashMap<String, Rule>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, rule) in rules {
        let mut refs = Vec::new();
        references(&rule.check, &mut refs);
        for r in refs.into_iter().filter(|r| !rules.contains_key(*r)) {
            out.push((name.clone(), r.to_owned()));
        }
    }
    out.sort();
    out.dedup();
    out
}

fn warn_undefined(rules: &HashMap<String, Rule>) {
    for (rule, missing) in undefined(rules) {
        tracing::warn!(rule = %rule, missing = %missing, "policy rule refers to an undefined rule");
    }
}

#[cfg(test)]
mod tests;
