//! A tiny builder for filtered SELECTs with `$n` placeholders (both engines accept them).

use common_db::{db_err, DbRow};
use common_error::Result;

/// A bound value.
#[derive(Debug, Clone)]
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

/// `SELECT ... WHERE a AND b ... ORDER BY ...` assembled piece by piece.
pub(crate) struct Select {
    sql: String,
    conds: Vec<String>,
    binds: Vec<Bind>,
    tail: String,
}

impl Select {
    pub(crate) fn new(base: &str) -> Self {
        Select {
            sql: base.to_string(),
            conds: Vec::new(),
            binds: Vec::new(),
            tail: String::new(),
        }
    }

    /// Adds a condition; each `?` in `cond` becomes the next `$n`.
    pub(crate) fn cond(&mut self, cond: &str, binds: Vec<Bind>) -> &mut Self {
        let mut out = String::new();
        let mut it = binds.into_iter();
        for ch in cond.chars() {
            if ch == '?' {
                if let Some(b) = it.next() {
                    self.binds.push(b);
                    out.push_str(&format!("${}", self.binds.len()));
                }
            } else {
                out.push(ch);
            }
        }
        self.conds.push(out);
        self
    }

    pub(crate) fn eq_text(&mut self, column: &str, v: &str) -> &mut Self {
        self.cond(&format!("{column} = ?"), vec![Bind::Text(v.to_string())])
    }

    /// `column IN (...)`; an empty list matches nothing.
    pub(crate) fn in_text(&mut self, column: &str, vs: &[String]) -> &mut Self {
        if vs.is_empty() {
            return self.cond("1 = 0", vec![]);
        }
        let marks = vec!["?"; vs.len()].join(", ");
        self.cond(
            &format!("{column} IN ({marks})"),
            vs.iter().cloned().map(Bind::Text).collect(),
        )
    }

    pub(crate) fn tail(&mut self, tail: &str) -> &mut Self {
        self.tail = tail.to_string();
        self
    }

    pub(crate) fn text(&self) -> String {
        let mut s = self.sql.clone();
        if !self.conds.is_empty() {
            s.push_str(" WHERE ");
            s.push_str(&self.conds.join(" AND "));
        }
        if !self.tail.is_empty() {
            s.push(' ');
            s.push_str(&self.tail);
        }
        s
    }

    pub(crate) async fn fetch_all<'e, E>(&self, exec: E) -> Result<Vec<DbRow>>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        let text = self.text();
        let mut q = sqlx::query(&text);
        for b in &self.binds {
            q = match b {
                Bind::Text(t) => q.bind(t.clone()),
                Bind::Int(i) => q.bind(*i),
            };
        }
        q.fetch_all(exec).await.map_err(db_err("select"))
    }
}
