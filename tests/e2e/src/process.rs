//! The server process guard: starts `ferrostack up`, collects its output, kills it on drop.

use std::io::{BufRead as _, BufReader, Read};
use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{ferrostack_cmd_in, Netns};

const UP_LINE: &str = "ferrostack is up at ";

/// A running `ferrostack up`. Dropping it kills the process (by its PID) and reaps it.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`, read from the "ferrostack is up at" line.
    pub base: String,
    log: Arc<Mutex<Vec<String>>>,
}

fn collect(
    stream: impl Read + Send + 'static,
    log: Arc<Mutex<Vec<String>>>,
    up: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Some(tx) = &up {
                if let Some(rest) = line.strip_prefix(UP_LINE) {
                    let url = rest.split_whitespace().next().unwrap_or("").to_string();
                    let _ = tx.send(url);
                }
            }
            if let Ok(mut l) = log.lock() {
                l.push(line);
            }
        }
    });
}

impl Server {
    /// Runs `ferrostack --data-dir DIR up --listen LISTEN --no-user-clouds-yaml` and waits for
    /// the "is up" line and a 200 from `/healthz`.
    pub fn start(dir: &Path, listen: &str, timeout: Duration) -> Server {
        Self::start_up(dir, None, listen, &[], timeout)
    }

    /// [`Server::start`] with `extra` arguments after `up`'s own.
    /// Inside `netns` when given.
    pub fn start_up(
        dir: &Path,
        netns: Option<&Netns>,
        listen: &str,
        extra: &[String],
        timeout: Duration,
    ) -> Server {
        let mut args = vec!["up", "--listen", listen, "--no-user-clouds-yaml"];
        args.extend(extra.iter().map(String::as_str));
        Self::start_with(dir, netns, &args, timeout)
    }

    /// Runs `ferrostack --data-dir DIR ARGS` (any shape that prints the "is up" line, e.g.
    /// `serve --role api ...`) and waits for the line and a 200 from `/healthz`.
    pub fn start_with(
        dir: &Path,
        netns: Option<&Netns>,
        args: &[&str],
        timeout: Duration,
    ) -> Server {
        let mut cmd = ferrostack_cmd_in(dir, netns);
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            collect(out, log.clone(), Some(tx));
        }
        if let Some(err) = child.stderr.take() {
            collect(err, log.clone(), None);
        }
        let mut server = Server {
            child,
            base: String::new(),
            log,
        };
        let started = Instant::now();
        match rx.recv_timeout(timeout) {
            Ok(url) if url.starts_with("http://") => {
                if let Some(ns) = netns {
                    ns.route(&url);
                }
                server.base = url
            }
            Ok(other) => server.fail(&format!("unexpected address {other:?} in the up line")),
            Err(_) => server.fail(&format!("no \"{UP_LINE}...\" line within {timeout:?}")),
        }
        loop {
            let r = crate::http::request(&server.base, "GET", "/healthz", &[], None);
            if r.status == 200 {
                break;
            }
            if started.elapsed() > timeout {
                server.fail(&format!("/healthz answered {} {}", r.status, r.text));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn fail(&mut self, why: &str) -> ! {
        let status = match self.child.try_wait() {
            Ok(Some(s)) => format!("exited: {s}"),
            _ => "still running".to_string(),
        };
        panic!(
            "ferrostack did not start: {why} ({status}); its output:\n{}",
            self.log_text()
        );
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server printed so far.
    pub fn log_text(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// How many output lines contain `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log
            .lock()
            .map(|l| l.iter().filter(|x| x.contains(needle)).count())
            .unwrap_or(0)
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit (then SIGKILL and panic).
    pub fn terminate(&mut self, timeout: Duration) -> (ExitStatus, Duration) {
        let started = Instant::now();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !sent {
            panic!("could not send SIGTERM to {}", self.pid());
        }
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return (status, started.elapsed()),
                Ok(None) if started.elapsed() < timeout => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!(
                        "ferrostack did not exit within {timeout:?} of SIGTERM; output:\n{}",
                        self.log_text()
                    );
                }
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "---- ferrostack output (pid {}) ----\n{}\n----",
                self.pid(),
                self.log_text()
            );
        }
    }
}
