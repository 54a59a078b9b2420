//! The image list query (`GET /v2/images?...`) as Glance parses it: filters with their
//! operators, sorting in both syntaxes, limit and marker.

use std::collections::BTreeMap;

use common_error::{Error, Result};
use image_model::{CmpOp, ListQuery, MemberStatus, Visibility, SORT_KEYS};

/// Largest image list page (`api_limit_max`) and the default one (`limit_param_default`).
pub const LIMIT_MAX: usize = 1000;
pub const LIMIT_DEFAULT: usize = 25;

/// Splits Glance's `op:value` filter syntax; an ISO 8601 time alone means `eq`.
fn split_op(expr: &str) -> (String, String) {
    match expr.split_once(':') {
        Some(_) if parse_time(expr).is_some() => ("eq".into(), expr.into()),
        Some((op, v)) => (op.into(), v.into()),
        None => ("eq".into(), expr.into()),
    }
}

/// The values of an `in:` list: comma-separated, double quotes protect commas.
pub fn split_in(v: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = v.chars().peekable();
    while chars.peek().is_some() {
        let mut cur = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            cur.push(n);
                        }
                    }
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => cur.push(c),
                }
            }
            if !closed {
                return Err(Error::bad_request(
                    "Invalid filter value . The quote is not closed.",
                ));
            }
            if let Some(c) = chars.next() {
                if c != ',' {
                    return Err(Error::bad_request(format!(
                        "Invalid filter value {v}. There is no comma after closing quotation mark."
                    )));
                }
            }
        } else {
            for c in chars.by_ref() {
                if c == ',' {
                    break;
                }
                cur.push(c);
            }
        }
        out.push(cur);
    }
    Ok(out)
}

/// Parses an ISO 8601 time into storage format (`YYYY-MM-DDTHH:MM:SS.ffffff`, UTC).
pub fn parse_time(s: &str) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&chrono::Utc).naive_utc())
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f"))
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(|d| d.and_time(chrono::NaiveTime::MIN))
        })
        .ok()?;
    Some(t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string())
}

fn bool_filter(name: &str, v: &str) -> Result<bool> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Error::bad_request(format!(
            "Invalid value '{v}' for '{name}' filter. Valid values are 'true' or 'false'."
        ))),
    }
}

fn sort_key(k: &str) -> Result<String> {
    if SORT_KEYS.contains(&k) {
        Ok(k.to_string())
    } else {
        Err(Error::bad_request(format!(
            "Invalid sort key: {k}. It must be one of the following: {}.",
            SORT_KEYS.join(", ")
        )))
    }
}

fn sort_dir(d: &str) -> Result<bool> {
    match d {
        "asc" => Ok(false),
        "desc" => Ok(true),
        _ => Err(Error::bad_request(format!("Invalid sort direction: {d}"))),
    }
}

/// Parses `GET /v2/images` query pairs (in order, repeated keys kept).
pub fn parse_list(pairs: &[(String, String)]) -> Result<ListQuery> {
    let mut q = ListQuery {
        limit: LIMIT_DEFAULT,
        ..Default::default()
    };
    let mut keys: Vec<String> = Vec::new();
    let mut dirs: Vec<bool> = Vec::new();
    let mut new_sort: Option<&str> = None;
    let mut props: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in pairs {
        match k.as_str() {
            "limit" => {
                let n: i64 = v
                    .parse()
                    .map_err(|_| Error::bad_request("limit param must be an integer"))?;
                if n < 0 {
                    return Err(Error::bad_request("limit param must be positive"));
                }
                q.limit = usize::try_from(n).unwrap_or(LIMIT_MAX).min(LIMIT_MAX);
            }
            "marker" => q.marker = Some(v.clone()),
            "member_status" => {
                q.member_status = match v.as_str() {
                    "all" => None,
                    s => Some(
                        MemberStatus::parse(s)
                            .ok_or_else(|| Error::bad_request(format!("Invalid status: {s}")))?,
                    ),
                }
            }
            "tag" => q.tags.push(v.trim().to_string()),
            "sort" => new_sort = Some(v.as_str()),
            "sort_key" => keys.push(sort_key(v.trim())?),
            "sort_dir" => dirs.push(sort_dir(v.trim())?),
            "visibility" => match v.as_str() {
                "all" => q.visibility_all = true,
                s => {
                    q.visibility = Some(Visibility::parse(s).ok_or_else(|| {
                        Error::bad_request(format!("Invalid visibility value: {s}"))
                    })?)
                }
            },
            "changes-since" => {
                return Err(Error::bad_request(
                    "The \"changes-since\" filter is no longer available on v2.",
                ));
            }
            "os_hidden" => q.os_hidden = bool_filter("os_hidden", &v.to_lowercase())?,
            "protected" => q.protected = Some(bool_filter("protected", v)?),
            "created_at" | "updated_at" => {
                let (op, t) = split_op(v);
                let op = CmpOp::parse(&op).ok_or_else(|| {
                    Error::bad_request(format!("Unable to filter by unknown operator '{op}'."))
                })?;
                let t = parse_time(&t).ok_or_else(|| {
                    Error::bad_request(format!(
                        "Bad \"{k}\" query filter format. Use ISO 8601 DateTime notation."
                    ))
                })?;
                q.times.push((k.clone(), op, t));
            }
            "name" | "id" | "status" | "container_format" | "disk_format" => {
                let (op, val) = split_op(v);
                let vals = match op.as_str() {
                    "in" => split_in(&val)?,
                    "eq" => vec![val],
                    _ => {
                        return Err(Error::bad_request(format!(
                            "Unable to filter by unknown operator '{op}'."
                        )))
                    }
                };
                q.columns_in.push((k.clone(), vals));
            }
            "owner" | "checksum" | "os_hash_value" | "os_hash_algo" => {
                q.columns_in.push((k.clone(), vec![v.clone()]))
            }
            "size_min" | "size_max" | "virtual_size_min" | "virtual_size_max" | "min_ram_min"
            | "min_ram_max" | "min_disk_min" | "min_disk_max" => {
                let n: i64 = v.parse().map_err(|_| {
                    Error::bad_request("Unable to filter on a range with a non-numeric value.")
                })?;
                let (col, op) = if let Some(c) = k.strip_suffix("_min") {
                    (c, CmpOp::Gte)
                } else {
                    (&k[..k.len() - 4], CmpOp::Lte)
                };
                q.ranges.push((col.to_string(), op, n));
            }
            "size" | "virtual_size" | "min_ram" | "min_disk" => {
                let n: i64 = v
                    .parse()
                    .map_err(|_| Error::bad_request(format!("Invalid value for {k}: {v}")))?;
                q.int_eq.push((k.clone(), n));
            }
            _ => {
                props.insert(k.clone(), v.clone());
            }
        }
    }
    q.properties = props.into_iter().collect();
    let mut sort: Vec<(String, bool)> = Vec::new();
    if let Some(s) = new_sort {
        if !keys.is_empty() || !dirs.is_empty() {
            return Err(Error::bad_request(
                "Old and new sorting syntax cannot be combined",
            ));
        }
        for part in s.trim().split(',') {
            let (k, d) = part.split_once(':').unwrap_or((part, ""));
            let d = if d.trim().is_empty() {
                true
            } else {
                sort_dir(d.trim())?
            };
            sort.push((sort_key(k.trim())?, d));
        }
    } else {
        if dirs.len() > 1 && dirs.len() != keys.len() {
            return Err(Error::bad_request(
                "Number of sort dirs does not match the number of sort keys",
            ));
        }
        if keys.is_empty() {
            keys.push("created_at".into());
        }
        for (i, k) in keys.into_iter().enumerate() {
            let d = dirs.get(i).or(dirs.first()).copied().unwrap_or(true);
            sort.push((k, d));
        }
    }
    let default_desc = sort.first().map(|s| s.1).unwrap_or(true);
    let default_desc = if sort.iter().all(|s| s.1 == default_desc) {
        default_desc
    } else {
        true
    };
    for k in ["created_at", "id"] {
        if !sort.iter().any(|s| s.0 == k) {
            sort.push((k.to_string(), default_desc));
        }
    }
    q.sort = sort;
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(s: &[(&str, &str)]) -> Vec<(String, String)> {
        s.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn list_queries() {
        let q = parse_list(&pairs(&[
            ("id", "in:a,\"b,c\""),
            ("tag", "x"),
            ("tag", "y"),
            ("sort", "name:asc,size"),
            ("hw_arch", "x86"),
        ]))
        .unwrap();
        assert_eq!(
            q.columns_in,
            vec![("id".to_string(), vec!["a".to_string(), "b,c".to_string()])]
        );
        assert_eq!(q.tags, vec!["x", "y"]);
        assert_eq!(
            q.properties,
            vec![("hw_arch".to_string(), "x86".to_string())]
        );
        assert_eq!(q.sort[0], ("name".to_string(), false));
        assert_eq!(q.sort[1], ("size".to_string(), true));
        assert_eq!(q.sort.len(), 4);
        let q = parse_list(&pairs(&[
            ("created_at", "gte:2026-01-01T00:00:00Z"),
            ("limit", "5000"),
        ]))
        .unwrap();
        assert_eq!(q.times[0].2, "2026-01-01T00:00:00.000000");
        assert_eq!(q.limit, LIMIT_MAX);
        for bad in [
            ("limit", "x"),
            ("limit", "-1"),
            ("sort_key", "owner"),
            ("sort_dir", "up"),
            ("visibility", "x"),
            ("member_status", "x"),
            ("name", "like:x"),
            ("created_at", "gte:yesterday"),
            ("size_min", "big"),
            ("protected", "yes"),
        ] {
            assert_eq!(
                parse_list(&pairs(&[bad])).unwrap_err().status(),
                400,
                "{bad:?}"
            );
        }
        assert!(parse_list(&pairs(&[("sort", "name"), ("sort_key", "size")])).is_err());
    }
}
