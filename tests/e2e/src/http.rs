//! A tiny HTTP/1.1 client over `std::net` for the checks the CLI cannot show (status codes,
//! token validation). One request per connection.

use std::io::{Read as _, Write as _};
use std::time::Duration;

use serde_json::Value;

/// A response.
#[derive(Debug)]
pub struct HttpResp {
    /// 0 when the connection failed.
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub text: String,
    /// The body as JSON, or `Null`.
    pub body: Value,
}

impl HttpResp {
    /// The first header named `name` (case-insensitive), or "".
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    fn failed(why: String) -> HttpResp {
        HttpResp {
            status: 0,
            headers: Vec::new(),
            text: why,
            body: Value::Null,
        }
    }
}

/// Sends `METHOD path` to `base` (`http://host:port`).
pub fn request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> HttpResp {
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = match crate::netns::connect(host) {
        Ok(s) => s,
        Err(e) => return HttpResp::failed(format!("connect {host}: {e}")),
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAccept: application/json\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    if let Err(e) = stream.write_all(req.as_bytes()) {
        return HttpResp::failed(format!("write: {e}"));
    }
    let mut raw = Vec::new();
    if let Err(e) = stream.read_to_end(&mut raw) {
        return HttpResp::failed(format!("read: {e}"));
    }
    parse(&raw)
}

fn parse(raw: &[u8]) -> HttpResp {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return HttpResp::failed(format!(
            "no header end in {:?}",
            String::from_utf8_lossy(raw)
        ));
    };
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    HttpResp {
        status,
        headers,
        text,
        body: json,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&b[..eol]);
        let Ok(n) = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16) else {
            break;
        };
        let start = eol + 2;
        if n == 0 || start + n > b.len() {
            break;
        }
        out.extend_from_slice(&b[start..start + n]);
        b = b.get(start + n + 2..).unwrap_or(&[]);
    }
    out
}
