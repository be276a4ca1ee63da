//! What the store's statements need of a database connection, so that each statement is written
//! once for both databases: [`Conn`], with parameters as [`Value`]s and results as [`Cell`]s.
//! [`super::sqlite`] and [`super::postgres`] implement it.

use super::schema::Dialect;
use anyhow::{Result, anyhow};

/// A statement parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Int(i64),
    Text(Option<&'a str>),
}

impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Text(Some(v))
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Text(Some(v))
    }
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Value::Text(v)
    }
}

impl<'a> From<&'a Option<String>> for Value<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Value::Text(v.as_deref())
    }
}

/// One value of a result row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
}

impl Cell {
    pub fn int(&self) -> Result<i64> {
        match self {
            Cell::Int(v) => Ok(*v),
            other => Err(anyhow!("expected a number from the store, got {other:?}")),
        }
    }

    pub fn text(self) -> Result<Option<String>> {
        match self {
            Cell::Null => Ok(None),
            Cell::Text(v) => Ok(Some(v)),
            Cell::Int(v) => Err(anyhow!("expected text from the store, got {v}")),
        }
    }

    /// Text that may not be NULL.
    pub fn string(self) -> Result<String> {
        self.text()?
            .ok_or_else(|| anyhow!("expected text from the store, got NULL"))
    }
}

pub(crate) type Row = Vec<Cell>;

/// A connection (or a transaction on one) that runs the store's statements.
pub trait Conn {
    fn dialect(&self) -> Dialect;
    /// Run a statement; the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64>;
    /// Run a query; every row.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let mut rows = Vec::new();
        self.query_each(sql, params, &mut |row| {
            rows.push(row);
            Ok(())
        })?;
        Ok(rows)
    }

    /// Run a query; each row to `f` as it comes, so that memory holds one row at a time however
    /// many there are. Stops at `f`'s first error.
    fn query_each(
        &mut self,
        sql: &str,
        params: &[Value],
        f: &mut dyn FnMut(Row) -> Result<()>,
    ) -> Result<()>;
    /// Run a statement without parameters or results (`SAVEPOINT a`), as text.
    fn batch(&mut self, sql: &str) -> Result<()>;

    /// Run a statement whose answer is not needed now. A client-server database sends it with
    /// the next statement that waits for an answer (one round trip for all), and that call
    /// returns the first error of them; SQLite runs it at once.
    fn defer(&mut self, sql: &str, params: &[Value]) -> Result<()> {
        self.execute(sql, params).map(|_| ())
    }

    /// Wait for every deferred statement; the first error of them.
    fn sync(&mut self) -> Result<()> {
        Ok(())
    }

    /// [`Conn::batch`], deferred as [`Conn::defer`] is.
    fn defer_batch(&mut self, sql: &str) -> Result<()> {
        self.batch(sql)
    }

    /// Several queries, sent together: the rows of each.
    fn query_all(&mut self, queries: &[(&str, &[Value])]) -> Result<Vec<Vec<Row>>> {
        queries
            .iter()
            .map(|(sql, params)| self.query(sql, params))
            .collect()
    }

    /// The first row, if any.
    fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The first column of the one row a query returns.
    fn query_int(&mut self, sql: &str, params: &[Value]) -> Result<i64> {
        let row = self
            .query_opt(sql, params)?
            .ok_or_else(|| anyhow!("the store returned no row"))?;
        row.first()
            .ok_or_else(|| anyhow!("the store returned no column"))?
            .int()
    }
}

/// `INSERT INTO table (columns) VALUES ($1, $2...), (...)` for `rows` rows: one statement for
/// many rows, in both dialects.
pub(crate) fn insert_rows(table: &str, columns: &[&str], rows: usize) -> String {
    let width = columns.len();
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for col in 0..width {
            if col > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", row * width + col + 1));
        }
        sql.push(')');
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_row_inserts_number_their_parameters() {
        assert_eq!(
            insert_rows("t", &["a", "b"], 2),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
        );
        assert_eq!(insert_rows("t", &["a"], 1), "INSERT INTO t (a) VALUES ($1)");
    }

    #[test]
    fn cells_convert_or_say_what_they_are() {
        assert_eq!(Cell::Int(3).int().unwrap(), 3);
        assert_eq!(Cell::Null.text().unwrap(), None);
        assert_eq!(Cell::Text("x".into()).string().unwrap(), "x");
        assert!(Cell::Null.string().is_err());
        assert!(Cell::Text("x".into()).int().is_err());
        assert_eq!(Value::from(&Some("a".to_string())), Value::Text(Some("a")));
    }
}
