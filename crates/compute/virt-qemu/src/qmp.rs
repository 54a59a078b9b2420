//! A small asynchronous QMP client: one JSON object per line over a unix socket.
//!
//! [`Qmp::connect`] reads the greeting and negotiates capabilities (`qmp_capabilities`);
//! [`Qmp::execute`] sends a command with an `id` and waits for the reply carrying that id,
//! collecting the asynchronous events that arrive in between. Every read has a timeout.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

/// The longest line read from QEMU (a `query-*` reply is a few KiB).
const MAX_LINE: usize = 4 * 1024 * 1024;

/// What went wrong talking to QEMU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QmpError {
    #[error("connect to QMP socket {path}: {why}")]
    Connect { path: String, why: String },
    #[error("QMP {what}: no answer within {timeout:?}")]
    Timeout { what: String, timeout: Duration },
    #[error("QMP {what}: connection closed")]
    Closed { what: String },
    #[error("QMP {what}: {why}")]
    Io { what: String, why: String },
    #[error("QMP: malformed message: {0}")]
    Malformed(String),
    /// QEMU answered the command with an error.
    #[error("QMP {command} failed: {class}: {desc}")]
    Command {
        command: String,
        class: String,
        desc: String,
    },
}

/// One message from QEMU.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// The greeting sent on connect (`{"QMP": {...}}`).
    Greeting(Value),
    /// A successful reply.
    Return { id: Option<Value>, value: Value },
    /// A failed reply.
    Error {
        id: Option<Value>,
        class: String,
        desc: String,
    },
    /// An asynchronous event (`SHUTDOWN`, `STOP`, `RESET`, ...).
    Event { name: String, data: Value },
}

/// Parses one line of QMP output.
pub fn parse_message(line: &str) -> Result<Message, QmpError> {
    let value: Value = serde_json::from_str(line.trim())
        .map_err(|e| QmpError::Malformed(format!("{e}: {}", abbreviate(line))))?;
    let Value::Object(mut obj) = value else {
        return Err(QmpError::Malformed(format!(
            "not an object: {}",
            abbreviate(line)
        )));
    };
    let id = obj.remove("id");
    if let Some(greeting) = obj.remove("QMP") {
        return Ok(Message::Greeting(greeting));
    }
    if let Some(value) = obj.remove("return") {
        return Ok(Message::Return { id, value });
    }
    if let Some(err) = obj.remove("error") {
        let field = |k: &str| err.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        return Ok(Message::Error {
            id,
            class: field("class"),
            desc: field("desc"),
        });
    }
    if let Some(Value::String(name)) = obj.remove("event") {
        let data = obj.remove("data").unwrap_or(Value::Null);
        return Ok(Message::Event { name, data });
    }
    Err(QmpError::Malformed(format!(
        "unknown message: {}",
        abbreviate(line)
    )))
}

/// The JSON line for a command.
pub fn command_line(command: &str, arguments: Option<&Value>, id: u64) -> String {
    let mut obj = Map::new();
    obj.insert("execute".into(), Value::String(command.into()));
    if let Some(args) = arguments {
        obj.insert("arguments".into(), args.clone());
    }
    obj.insert("id".into(), json!(id));
    let mut line = Value::Object(obj).to_string();
    line.push('\n');
    line
}

fn abbreviate(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// An open, negotiated QMP connection.
pub struct Qmp {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    timeout: Duration,
    next_id: u64,
    events: Vec<(String, Value)>,
}

impl Qmp {
    /// Connects to `path`, reads the greeting and enters command mode. A socket that does not
    /// exist yet or refuses is retried until `timeout` passes (QEMU may still be starting).
    pub async fn connect(path: &Path, timeout: Duration) -> Result<Qmp, QmpError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(path).await {
                Ok(s) => break s,
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    return Err(QmpError::Connect {
                        path: path.display().to_string(),
                        why: e.to_string(),
                    })
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        let (read, writer) = stream.into_split();
        let mut qmp = Qmp {
            reader: BufReader::new(read),
            writer,
            timeout,
            next_id: 1,
            events: Vec::new(),
        };
        match qmp.read_message("greeting").await? {
            Message::Greeting(_) => {}
            other => {
                return Err(QmpError::Malformed(format!(
                    "expected the greeting, got {other:?}"
                )))
            }
        }
        qmp.execute("qmp_capabilities", None).await?;
        Ok(qmp)
    }

    /// Runs `command` and returns its `return` value.
    pub async fn execute(
        &mut self,
        command: &str,
        arguments: Option<Value>,
    ) -> Result<Value, QmpError> {
        let id = self.next_id;
        self.next_id += 1;
        let line = command_line(command, arguments.as_ref(), id);
        let io = |e: std::io::Error| QmpError::Io {
            what: command.to_string(),
            why: e.to_string(),
        };
        self.writer.write_all(line.as_bytes()).await.map_err(io)?;
        self.writer.flush().await.map_err(io)?;
        loop {
            match self.read_message(command).await? {
                Message::Return {
                    id: Some(got),
                    value,
                } if got == json!(id) => return Ok(value),
                Message::Error {
                    id: Some(got),
                    class,
                    desc,
                } if got == json!(id) => {
                    return Err(QmpError::Command {
                        command: command.to_string(),
                        class,
                        desc,
                    })
                }
                Message::Event { name, data } => self.events.push((name, data)),
                // Replies to other ids or a stray greeting: not ours.
                _ => {}
            }
        }
    }

    /// Sends `quit`; QEMU may close the socket before or after answering, both are success.
    pub async fn quit(&mut self) -> Result<(), QmpError> {
        match self.execute("quit", None).await {
            Ok(_) | Err(QmpError::Closed { .. }) => Ok(()),
            Err(QmpError::Io { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Waits up to `timeout` for the event `name` whose data satisfies `wanted` (events
    /// collected earlier count too); false when it did not come. Other events are kept.
    /// After `false` the connection may have lost part of a line: drop it.
    pub async fn wait_event(
        &mut self,
        name: &str,
        timeout: Duration,
        wanted: impl Fn(&Value) -> bool,
    ) -> Result<bool, QmpError> {
        if let Some(i) = self.events.iter().position(|(n, d)| n == name && wanted(d)) {
            self.events.remove(i);
            return Ok(true);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            match tokio::time::timeout(left, self.read_message(name)).await {
                Err(_) | Ok(Err(QmpError::Timeout { .. })) => return Ok(false),
                Ok(Err(e)) => return Err(e),
                Ok(Ok(Message::Event { name: n, data })) => {
                    if n == name && wanted(&data) {
                        return Ok(true);
                    }
                    self.events.push((n, data));
                }
                Ok(Ok(_)) => {}
            }
        }
    }

    /// The asynchronous events seen so far (name, data), oldest first; clears the list.
    pub fn take_events(&mut self) -> Vec<(String, Value)> {
        std::mem::take(&mut self.events)
    }

    async fn read_message(&mut self, what: &str) -> Result<Message, QmpError> {
        let mut buf = Vec::new();
        let read = async {
            loop {
                let chunk = self.reader.fill_buf().await?;
                if chunk.is_empty() {
                    return Ok::<bool, std::io::Error>(false);
                }
                if let Some(pos) = chunk.iter().position(|&b| b == b'\n') {
                    buf.extend_from_slice(&chunk[..=pos]);
                    self.reader.consume(pos + 1);
                    return Ok(true);
                }
                let n = chunk.len();
                buf.extend_from_slice(chunk);
                self.reader.consume(n);
                if buf.len() > MAX_LINE {
                    return Err(std::io::Error::other("line too long"));
                }
            }
        };
        match tokio::time::timeout(self.timeout, read).await {
            Err(_) => Err(QmpError::Timeout {
                what: what.to_string(),
                timeout: self.timeout,
            }),
            Ok(Err(e)) => Err(QmpError::Io {
                what: what.to_string(),
                why: e.to_string(),
            }),
            Ok(Ok(false)) => Err(QmpError::Closed {
                what: what.to_string(),
            }),
            Ok(Ok(true)) => parse_message(&String::from_utf8_lossy(&buf)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_greeting_returns_errors_and_events() {
        let g = parse_message(
            r#"{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}}, "capabilities": ["oob"]}}"#,
        )
        .unwrap();
        assert!(matches!(g, Message::Greeting(v) if v["version"]["qemu"]["major"] == 7));

        let r = parse_message(r#"{"return": {"status": "running", "running": true}, "id": 3}"#)
            .unwrap();
        assert_eq!(
            r,
            Message::Return {
                id: Some(json!(3)),
                value: json!({"status": "running", "running": true})
            }
        );

        let e = parse_message(
            r#"{"id": 4, "error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}}"#,
        )
        .unwrap();
        assert_eq!(
            e,
            Message::Error {
                id: Some(json!(4)),
                class: "CommandNotFound".into(),
                desc: "The command nope has not been found".into()
            }
        );

        let ev = parse_message(
            r#"{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-shutdown"}}"#,
        )
        .unwrap();
        assert!(matches!(ev, Message::Event { ref name, ref data }
            if name == "SHUTDOWN" && data["reason"] == "guest-shutdown"));

        let stop =
            parse_message(r#"{"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}}"#)
                .unwrap();
        assert_eq!(
            stop,
            Message::Event {
                name: "STOP".into(),
                data: Value::Null
            }
        );
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for bad in [
            "",
            "not json",
            "[1,2]",
            "{\"foo\": 1}",
            "{\"event\": 5}",
            "\u{0}\u{1}",
        ] {
            assert!(
                matches!(parse_message(bad), Err(QmpError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn builds_command_lines() {
        assert_eq!(
            command_line("query-status", None, 1),
            "{\"execute\":\"query-status\",\"id\":1}\n"
        );
        let line = command_line("migrate", Some(&json!({"uri": "exec:cat > 'f'"})), 7);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["execute"], "migrate");
        assert_eq!(v["arguments"]["uri"], "exec:cat > 'f'");
        assert_eq!(v["id"], 7);
        assert!(line.ends_with('\n') && !line.trim_end().contains('\n'));
    }

    /// A fake QMP server on a socket pair: greeting, capabilities, an event before the reply,
    /// and an error reply.
    #[tokio::test]
    async fn talks_to_a_scripted_server() {
        use tokio::io::AsyncBufReadExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qmp.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (r, mut w) = stream.into_split();
            let mut lines = BufReader::new(r).lines();
            w.write_all(b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n")
                .await
                .unwrap();
            let caps: Value =
                serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
            assert_eq!(caps["execute"], "qmp_capabilities");
            w.write_all(format!("{{\"return\": {{}}, \"id\": {}}}\n", caps["id"]).as_bytes())
                .await
                .unwrap();
            let q: Value =
                serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
            assert_eq!(q["execute"], "query-status");
            w.write_all(b"{\"event\": \"RESUME\", \"timestamp\": {}}\n")
                .await
                .unwrap();
            w.write_all(
                format!(
                    "{{\"return\": {{\"status\": \"running\"}}, \"id\": {}}}\n",
                    q["id"]
                )
                .as_bytes(),
            )
            .await
            .unwrap();
            let bad: Value =
                serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
            w.write_all(
                format!(
                    "{{\"error\": {{\"class\": \"GenericError\", \"desc\": \"no\"}}, \"id\": {}}}\n",
                    bad["id"]
                )
                .as_bytes(),
            )
            .await
            .unwrap();
            // Then silence until the client hangs up: the next command must time out.
            while let Ok(Some(_)) = lines.next_line().await {}
        });
        let mut qmp = Qmp::connect(&path, Duration::from_secs(5)).await.unwrap();
        let status = qmp.execute("query-status", None).await.unwrap();
        assert_eq!(status["status"], "running");
        assert_eq!(qmp.take_events(), vec![("RESUME".to_string(), Value::Null)]);
        let err = qmp.execute("nope", None).await.unwrap_err();
        assert!(matches!(err, QmpError::Command { ref class, .. } if class == "GenericError"));
        qmp.timeout = Duration::from_millis(200);
        let err = qmp.execute("query-status", None).await.unwrap_err();
        assert!(matches!(err, QmpError::Timeout { .. }), "{err:?}");
        drop(qmp);
        server.await.unwrap();
    }
}
