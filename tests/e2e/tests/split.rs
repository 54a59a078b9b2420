//! The split shape: `ferrostack serve --role api --services identity --database postgres://…`
//! `--bus amqp://…` after `ferrostack admin bootstrap`, driven by the real CLI, with the state
//! in PostgreSQL and the bus on RabbitMQ.

use std::process::Command;

use e2e_tests::{text, Cloud};

/// PostgreSQL on this kind of machine (trust auth); overridable for other hosts.
fn pg_server() -> String {
    std::env::var("FERROSTACK_E2E_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn psql(db: &str, sql: &str) -> String {
    let url = format!("{}/{db}", pg_server());
    let out = Command::new("psql")
        .args([url.as_str(), "-At", "-c", sql])
        .output()
        .unwrap_or_else(|e| panic!("run psql: {e}"));
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

struct Database(String);

impl Drop for Database {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                format!("{}/postgres", pg_server()).as_str(),
                "-c",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0),
            ])
            .output();
    }
}

#[test]
fn api_role_on_postgres_serves_the_cli() {
    let name = format!("ft_e2e_{}", std::process::id());
    psql(
        "postgres",
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    );
    psql("postgres", &format!("CREATE DATABASE {name}"));
    let db = Database(name);
    let url = format!("{}/{}", pg_server(), db.0);

    let mut c = Cloud::start_split(&url);
    assert!(
        c.server().log_text().contains("kind=\"amqp\""),
        "{}",
        c.server().log_text()
    );
    let tok = c.osc_json(&["token", "issue"]);
    assert!(text(&tok, "id").starts_with("gAAAAA"));
    let p = c.osc_json(&["project", "create", "--domain", "default", "split-proj"]);
    let pid = text(&p, "id");
    // The state is in PostgreSQL, where any other api node would find it.
    assert_eq!(
        psql(
            &db.0,
            &format!("SELECT name FROM project WHERE id = '{pid}'")
        ),
        "split-proj"
    );
    assert_eq!(
        psql(
            &db.0,
            "SELECT COUNT(*) FROM schema_migrations WHERE service = 'identity'"
        ),
        "1"
    );
    let (status, _) = c.stop(std::time::Duration::from_secs(10));
    assert!(status.success(), "{status}");
}
