//! The process as an operator sees it: `ferrostack admin fernet rotate` against a running
//! server and across restarts, restarts keeping state, SIGTERM.

use std::time::Duration;

use e2e_tests::{rows_where, text, Cloud};

const PROJECTS: &str = "/identity/v3/projects";

/// The server logs this when it picks up a rotated key repository.
const RELOADED: &str = "keys reloaded";

#[test]
fn fernet_rotate_with_the_server_running() {
    let c = Cloud::start();
    let t1 = c.token();

    let out = c.ferrostack(&["admin", "fernet", "rotate"]);
    assert!(out.contains("fernet keys in"), "{out}");
    assert!(
        c.wait_for_log(RELOADED, 1, Duration::from_secs(20)),
        "the server should notice the rotated keys; output:\n{}",
        c.server().log_text()
    );
    assert_eq!(
        c.get_with_token(PROJECTS, &t1).status,
        200,
        "a token survives one rotation"
    );
    let t2 = c.token();

    c.ferrostack(&["admin", "fernet", "rotate"]);
    assert!(
        c.wait_for_log(RELOADED, 2, Duration::from_secs(20)),
        "{}",
        c.server().log_text()
    );
    let r = c.get_with_token(PROJECTS, &t1);
    assert_eq!(
        r.status, 401,
        "the key that signed t1 is gone after two rotations: {}",
        r.text
    );
    assert_eq!(
        c.get_with_token(PROJECTS, &t2).status,
        200,
        "t2 was signed with the new primary"
    );
    c.osc_json(&["token", "issue"]);
}

#[test]
fn fernet_rotate_across_restarts_and_state_survives() {
    let mut c = Cloud::start();
    let pid = text(
        &c.osc_json(&["project", "create", "--domain", "default", "kept"]),
        "id",
    );
    let t1 = c.token();
    let (status, _) = c.stop(Duration::from_secs(10));
    assert!(status.success(), "{status}");

    c.ferrostack(&["admin", "fernet", "rotate"]);
    c.start_again();
    assert_eq!(
        c.get_with_token(PROJECTS, &t1).status,
        200,
        "t1 survives one rotation"
    );
    let list = c.osc_json(&["project", "list"]);
    assert_eq!(
        rows_where(&list, "ID", &pid).len(),
        1,
        "the project survives a restart: {list:#}"
    );
    let t2 = c.token();
    c.stop(Duration::from_secs(10));

    c.ferrostack(&["admin", "fernet", "rotate"]);
    c.start_again();
    let r = c.get_with_token(PROJECTS, &t1);
    assert_eq!(r.status, 401, "t1's key left the repository: {}", r.text);
    assert_eq!(
        c.get_with_token(PROJECTS, &t2).status,
        200,
        "t2 survives its first rotation"
    );
    c.osc_json(&["token", "issue"]);
}

#[test]
fn sigterm_exits_zero_promptly() {
    let mut c = Cloud::start();
    c.osc_json(&["token", "issue"]);
    let (status, took) = c.stop(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "exit status {status}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let r = c.http("GET", "/healthz", &[], None);
    assert_eq!(r.status, 0, "nothing listens any more: {r:?}");
}

#[test]
fn admin_config_dump_and_db_migrate() {
    let c = Cloud::start();
    let dump = c.ferrostack(&["admin", "config", "dump"]);
    assert!(
        dump.contains("[identity]") && dump.contains("password_hash_rounds = 4"),
        "{dump}"
    );
    assert!(c
        .ferrostack(&["admin", "db", "migrate"])
        .contains("migrations applied"));
}
