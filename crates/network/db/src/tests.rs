//! Store tests on a real SQLite file.

use super::*;

pub(crate) async fn store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("n.db").display());
    let db = Db::connect(&url, 4, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    let s = Store::new(db);
    s.migrate().await.unwrap();
    (s, dir)
}

#[tokio::test]
async fn migrations_apply_once() {
    let (s, _d) = store().await;
    assert_eq!(s.migrate().await.unwrap(), 0);
}
