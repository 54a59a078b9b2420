//! Neutron's list semantics over rendered resources, for every collection: filters on any
//! attribute (a repeated parameter matches any of its values), `fields=` selection,
//! `sort_key`/`sort_dir`, `limit`/`marker`/`page_reverse` with `<collection>_links`.
//!
//! Handlers render the resources the caller may see, then call [`respond`].

use std::cmp::Ordering;

use axum::Json;
use common_error::Error;
use network_model::errors::bad_request;
use serde_json::{json, Map, Value};

/// Parameters that are not filters.
const CONTROL: &[&str] = &[
    "fields",
    "sort_key",
    "sort_dir",
    "limit",
    "marker",
    "page_reverse",
];

/// Tag filters (no resource has tags yet, so `tags`/`tags-any` match nothing and the
/// `not-` forms match everything).
const TAG_FILTERS: &[&str] = &["tags", "tags-any", "not-tags", "not-tags-any"];

/// A parsed list query.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub pairs: Vec<(String, String)>,
    pub filters: Vec<(String, Vec<String>)>,
    pub fields: Vec<String>,
    pub sort: Vec<(String, bool)>,
    pub limit: Option<usize>,
    pub marker: Option<String>,
    pub page_reverse: bool,
}

/// The query's pairs, in order.
pub fn pairs(q: Option<&str>) -> Vec<(String, String)> {
    q.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

impl ListQuery {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Result<ListQuery, Error> {
        let pairs = pairs(raw);
        let mut q = ListQuery {
            pairs: pairs.clone(),
            ..Default::default()
        };
        let mut keys = Vec::new();
        let mut dirs = Vec::new();
        for (k, v) in pairs {
            match k.as_str() {
                "fields" => q
                    .fields
                    .extend(v.split(',').filter(|s| !s.is_empty()).map(str::to_string)),
                "sort_key" => keys.push(v),
                "sort_dir" => match v.to_ascii_lowercase().as_str() {
                    "asc" => dirs.push(true),
                    "desc" => dirs.push(false),
                    _ => {
                        return Err(bad_request(format!(
                            "Sort direction '{v}' is not valid. Valid sort directions: asc, desc"
                        )))
                    }
                },
                "limit" => {
                    let n: i64 = v.parse().map_err(|_| {
                        bad_request(format!(
                            "Limit must be an integer 0 or greater and not '{v}'"
                        ))
                    })?;
                    if n < 0 {
                        return Err(bad_request(format!(
                            "Limit must be an integer 0 or greater and not '{v}'"
                        )));
                    }
                    q.limit = (n > 0).then_some(n as usize);
                }
                "marker" => q.marker = Some(v),
                "page_reverse" => {
                    q.page_reverse = crate::body::to_bool("page_reverse", &Value::String(v))?
                }
                _ => match q.filters.iter_mut().find(|(f, _)| *f == k) {
                    Some((_, vs)) => vs.push(v),
                    None => q.filters.push((k, vec![v])),
                },
            }
        }
        if !dirs.is_empty() && dirs.len() != keys.len() {
            return Err(bad_request(
                "The number of sort_keys and sort_dirs must be same",
            ));
        }
        q.sort = keys
            .into_iter()
            .enumerate()
            .map(|(i, k)| (k, dirs.get(i).copied().unwrap_or(true)))
            .collect();
        Ok(q)
    }

    /// The value of a filter given once (for handlers that push a filter to the domain).
    pub fn single(&self, key: &str) -> Option<&str> {
        self.filters
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| (v.len() == 1).then(|| v[0].as_str()))
    }
}

fn bool_of(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// Whether the attribute value `v` matches the filter value `q`.
fn matches(v: &Value, q: &str) -> bool {
    match v {
        Value::String(s) => s == q,
        Value::Bool(b) => bool_of(q) == Some(*b),
        Value::Number(n) => q.parse::<f64>().ok() == n.as_f64(),
        Value::Null => q.is_empty() || q == "None",
        Value::Array(items) => items.iter().any(|item| match item {
            // `fixed_ips=ip_address=10.0.0.5`, `fixed_ips=subnet_id=X`.
            Value::Object(o) => {
                q.split_once('=').is_some_and(|(k, want)| {
                    o.get(k).is_some_and(|v| match (k, v) {
                        ("ip_address_substr", _) => false,
                        (_, v) => matches(v, want),
                    })
                }) || q.strip_prefix("ip_address_substr=").is_some_and(|sub| {
                    o.get("ip_address")
                        .and_then(Value::as_str)
                        .is_some_and(|ip| ip.contains(sub))
                })
            }
            other => matches(other, q),
        }),
        Value::Object(_) => false,
    }
}

fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (x, y) => x.to_string().cmp(&y.to_string()),
    }
}

/// Applies filters, sorting and pagination to `items` (rendered resources, each with an
/// `id`) and answers `{"<collection>": [...], "<collection>_links": [...]}`. `path` is the
/// collection's path under `/network/v2.0` (`networks`); `not_found` is the error for an
/// unknown marker.
pub fn respond(
    base_v2: &str,
    collection: &str,
    path: &str,
    mut items: Vec<Value>,
    q: &ListQuery,
    not_found: impl Fn(&str) -> Error,
) -> Result<Json<Value>, Error> {
    // Filters: an unknown attribute is refused (filter-validation), as Neutron does.
    for (key, wanted) in &q.filters {
        if TAG_FILTERS.contains(&key.as_str()) {
            if key.starts_with("not-") {
                continue;
            }
            items.clear();
            continue;
        }
        if let Some(first) = items.first() {
            if first.get(key).is_none() {
                return Err(bad_request(format!(
                    "[{key}] is invalid attribute for filtering"
                )));
            }
        }
        items.retain(|it| {
            it.get(key)
                .is_some_and(|v| wanted.iter().any(|w| matches(v, w)))
        });
    }
    // Sorting, with the id as the last key so pages are stable.
    if !q.sort.is_empty() {
        if let Some(first) = items.first() {
            for (k, _) in &q.sort {
                if first.get(k).is_none() {
                    return Err(bad_request(format!(
                        "{k} is invalid attribute for sort_keys"
                    )));
                }
            }
        }
        items.sort_by(|a, b| {
            for (k, asc) in &q.sort {
                let o = compare(&a[k.as_str()], &b[k.as_str()]);
                let o = if *asc { o } else { o.reverse() };
                if o != Ordering::Equal {
                    return o;
                }
            }
            compare(&a["id"], &b["id"])
        });
    }
    if q.page_reverse {
        items.reverse();
    }
    if let Some(m) = &q.marker {
        let at = items
            .iter()
            .position(|it| it["id"].as_str() == Some(m.as_str()))
            .ok_or_else(|| not_found(m))?;
        items.drain(..=at);
    }
    let full = q.limit.is_some_and(|l| items.len() > l);
    if let Some(l) = q.limit {
        items.truncate(l);
    }
    if q.page_reverse {
        items.reverse();
    }
    let mut links = Vec::new();
    let rest: Vec<(String, String)> = q
        .pairs
        .iter()
        .filter(|(k, _)| k != "marker" && k != "page_reverse")
        .cloned()
        .collect();
    let href = |marker: &str, reverse: bool| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &rest {
            s.append_pair(k, v);
        }
        s.append_pair("marker", marker);
        if reverse {
            s.append_pair("page_reverse", "True");
        }
        format!("{base_v2}/{path}?{}", s.finish())
    };
    let (first_id, last_id) = (
        items
            .first()
            .and_then(|i| i["id"].as_str())
            .map(str::to_string),
        items
            .last()
            .and_then(|i| i["id"].as_str())
            .map(str::to_string),
    );
    let more_forward = if q.page_reverse {
        q.marker.is_some()
    } else {
        full
    };
    let more_back = if q.page_reverse {
        full
    } else {
        q.marker.is_some()
    };
    if let (true, Some(last)) = (more_forward && q.limit.is_some(), &last_id) {
        links.push(json!({"rel": "next", "href": href(last, false)}));
    }
    if let (true, Some(first)) = (more_back && q.limit.is_some(), &first_id) {
        links.push(json!({"rel": "previous", "href": href(first, true)}));
    }
    let items: Vec<Value> = items
        .into_iter()
        .map(|it| select_fields(it, &q.fields))
        .collect();
    let mut body = Map::new();
    body.insert(collection.to_string(), Value::Array(items));
    if !links.is_empty() {
        body.insert(format!("{collection}_links"), Value::Array(links));
    }
    Ok(Json(Value::Object(body)))
}

/// Keeps only `fields` of a rendered resource (all when empty).
pub fn select_fields(item: Value, fields: &[String]) -> Value {
    if fields.is_empty() {
        return item;
    }
    match item {
        Value::Object(mut o) => {
            o.retain(|k, _| fields.iter().any(|f| f == k));
            Value::Object(o)
        }
        other => other,
    }
}

/// `fields=` of a show request.
pub fn show_fields(raw: Option<&str>) -> Vec<String> {
    pairs(raw)
        .into_iter()
        .filter(|(k, _)| k == "fields")
        .flat_map(|(_, v)| v.split(',').map(str::to_string).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Whether a query parameter is a filter (not a control parameter).
pub fn is_filter(key: &str) -> bool {
    !CONTROL.contains(&key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets() -> Vec<Value> {
        (0..5)
            .map(|i| {
                json!({"id": format!("id{i}"), "name": format!("n{}", i % 2), "shared": i == 3,
                            "fixed_ips": [{"subnet_id": "s", "ip_address": format!("10.0.0.{i}")}]})
            })
            .collect()
    }

    fn ids(v: &Json<Value>) -> Vec<String> {
        v.0["networks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_str().unwrap().to_string())
            .collect()
    }

    fn run(q: &str) -> Result<Json<Value>, Error> {
        let q = ListQuery::parse(Some(q))?;
        respond(
            "http://h/network/v2.0",
            "networks",
            "networks",
            nets(),
            &q,
            |m| Error::not_found("network", m),
        )
    }

    #[test]
    fn filters_repeat_as_or_and_fields_select() {
        assert_eq!(ids(&run("name=n0").unwrap()), ["id0", "id2", "id4"]);
        assert_eq!(ids(&run("name=n0&name=n1&shared=true").unwrap()), ["id3"]);
        assert_eq!(
            ids(&run("fixed_ips=ip_address%3D10.0.0.2").unwrap()),
            ["id2"]
        );
        let r = run("fields=id&name=n1").unwrap();
        assert_eq!(r.0["networks"][0], json!({"id": "id1"}));
        assert_eq!(run("bogus=1").unwrap_err().status(), 400);
    }

    #[test]
    fn pages_link_forward_and_back() {
        let r = run("limit=2&sort_key=id&sort_dir=desc").unwrap();
        assert_eq!(ids(&r), ["id4", "id3"]);
        let next = r.0["networks_links"][0]["href"].as_str().unwrap();
        assert_eq!(
            next,
            "http://h/network/v2.0/networks?limit=2&sort_key=id&sort_dir=desc&marker=id3"
        );
        let r = run("limit=2&sort_key=id&sort_dir=desc&marker=id3").unwrap();
        assert_eq!(ids(&r), ["id2", "id1"]);
        assert_eq!(r.0["networks_links"].as_array().unwrap().len(), 2);
        let r = run("limit=2&sort_key=id&sort_dir=desc&marker=id1").unwrap();
        assert_eq!(ids(&r), ["id0"]);
        let r = run("limit=2&marker=id3&page_reverse=True").unwrap();
        assert_eq!(ids(&r), ["id1", "id2"]);
        assert_eq!(run("marker=nope").unwrap_err().status(), 404);
    }
}
