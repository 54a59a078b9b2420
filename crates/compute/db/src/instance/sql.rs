//! A small statement builder for the instance queries: `?` marks become `$n`, values are
//! bound in order (both engines accept `$n`).

use common_db::{db_err, DbRow, Tx};
use common_error::Result;

/// A bound value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bind {
    Text(String),
    OptText(Option<String>),
    Int(i64),
}

impl From<&str> for Bind {
    fn from(s: &str) -> Self {
        Bind::Text(s.to_string())
    }
}

impl From<String> for Bind {
    fn from(s: String) -> Self {
        Bind::Text(s)
    }
}

impl From<Option<String>> for Bind {
    fn from(s: Option<String>) -> Self {
        Bind::OptText(s)
    }
}

impl From<i64> for Bind {
    fn from(i: i64) -> Self {
        Bind::Int(i)
    }
}

/// SQL text with its values.
#[derive(Debug, Default, Clone)]
pub(crate) struct Stmt {
    pub(crate) text: String,
    pub(crate) binds: Vec<Bind>,
}

impl Stmt {
    pub(crate) fn new(text: &str) -> Self {
        Stmt {
            text: text.to_string(),
            binds: Vec::new(),
        }
    }

    /// Appends `text`, turning each `?` into the next `$n` bound to the next of `binds`.
    pub(crate) fn push(&mut self, text: &str, binds: Vec<Bind>) -> &mut Self {
        let mut it = binds.into_iter();
        for ch in text.chars() {
            if ch == '?' {
                if let Some(b) = it.next() {
                    self.binds.push(b);
                    self.text.push_str(&format!("${}", self.binds.len()));
                }
            } else {
                self.text.push(ch);
            }
        }
        self
    }

    /// Appends `(?, ?, ...)` for `values`.
    pub(crate) fn push_list(&mut self, values: Vec<Bind>) -> &mut Self {
        let marks = vec!["?"; values.len()].join(", ");
        self.push(&format!("({marks})"), values)
    }

    fn query(&self) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for b in &self.binds {
            q = match b {
                Bind::Text(t) => q.bind(t.clone()),
                Bind::OptText(t) => q.bind(t.clone()),
                Bind::Int(i) => q.bind(*i),
            };
        }
        q
    }

    pub(crate) async fn fetch_all<'e, E>(&self, exec: E, what: &'static str) -> Result<Vec<DbRow>>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        self.query().fetch_all(exec).await.map_err(db_err(what))
    }

    /// Runs the statement in `tx`; returns the rows affected.
    pub(crate) async fn execute(&self, tx: &mut Tx<'static>, what: &'static str) -> Result<u64> {
        Ok(self
            .query()
            .execute(&mut **tx)
            .await
            .map_err(db_err(what))?
            .rows_affected())
    }
}

/// `values` split in chunks small enough for one statement's placeholders.
pub(crate) fn chunks(values: &[String]) -> impl Iterator<Item = &[String]> {
    values.chunks(500)
}
