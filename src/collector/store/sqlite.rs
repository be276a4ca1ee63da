//! The embedded store, [`Db`]: one SQLite file in WAL mode with `synchronous=FULL`, the schema of
//! [`super::schema`], the statements of [`super::write`] and [`super::read`] through [`Conn`],
//! and an online backup.

use super::forget::Forgot;
use super::rollup::Known;
use super::schema::{self, Dialect};
use super::sql::{Cell, Conn, Row, Value};
use super::write::{self, Writable};
use crate::exit::{Class, fail};
use anyhow::{Context, Result, anyhow, bail};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, ToSql};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The embedded store.
pub struct Db {
    conn: Connection,
    path: PathBuf,
    known: Known,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.path).finish()
    }
}

/// What a store file holds, as far as opening it can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// No tables at all (a new file, or a copy of a running store's file without its WAL).
    Empty,
    /// A spartakus store of this schema version.
    Store(i64),
}

/// A usage-class error about the store at `path`.
fn refuse(message: String) -> anyhow::Error {
    fail(Class::Usage, anyhow!("{message}"))
}

impl Db {
    /// Open (creating if needed) and migrate the store for writing: WAL journal and
    /// `synchronous=FULL`, so a committed report survives `kill -9` and power loss. A file that
    /// is not a spartakus store, a newer schema, or a store that cannot take a write (damaged,
    /// read-only) is refused as a configuration error, with one line that says which.
    pub fn open(path: &Path) -> Result<Db> {
        let shown = path.display().to_string();
        let opened = (|| {
            Self::refuse_other_files(path, true)?;
            let conn = Connection::open(path).map_err(|e| explain(&shown, e.into()))?;
            let mut db = Db {
                conn,
                path: path.to_path_buf(),
                known: Known::default(),
            };
            db.found()?;
            db.configure()
                .map_err(|e| explain(&shown, e.context("configuring")))?;
            db.migrate()
                .map_err(|e| explain(&shown, e.context("migrating")))?;
            write::probe(&mut db)
                .map_err(|e| explain(&shown, e.context("it cannot take a write")))?;
            Ok(db)
        })();
        opened.map_err(|e: anyhow::Error| match crate::exit::class_of(&e) {
            Class::Usage => e,
            _ => fail(Class::Usage, e.context(format!("opening store {shown}"))),
        })
    }

    /// Open an existing store for reading only (the summary, backups). Never creates a file,
    /// and refuses anything but a spartakus store of this binary's schema version.
    pub fn open_existing(path: &Path) -> Result<Db> {
        let (db, version) = Self::open_any_version(path)?;
        let shown = path.display();
        if version != schema::version() {
            return Err(refuse(format!(
                "store {shown} has schema version {version}, this binary reads {} \
                 (run this version's `spartakus collect` on it once to migrate)",
                schema::version()
            )));
        }
        Ok(db)
    }

    /// Open an existing spartakus store of any version up to this binary's, read only.
    fn open_any_version(path: &Path) -> Result<(Db, i64)> {
        let shown = path.display();
        if !path.exists() {
            return Err(refuse(format!(
                "store {shown} does not exist (start `spartakus collect --store {shown}` first)"
            )));
        }
        Self::refuse_other_files(path, false)?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("opening store {shown}"))?;
        let db = Db {
            conn,
            path: path.to_path_buf(),
            known: Known::default(),
        };
        db.conn
            .busy_timeout(Duration::from_secs(5))
            .and_then(|()| db.conn.pragma_update(None, "query_only", true))
            .with_context(|| format!("configuring store {shown}"))?;
        match db.found()? {
            Found::Empty => Err(refuse(format!(
                "no spartakus store in {shown}: the database is empty (a copy of a running \
                 store's file misses what is still in its WAL; copy stores with `spartakus backup`)"
            ))),
            Found::Store(version) => Ok((db, version)),
        }
    }

    /// A file that is not SQLite (or, unless `empty_ok`, an empty one) refused with a message
    /// that says so.
    fn refuse_other_files(path: &Path, empty_ok: bool) -> Result<()> {
        use std::io::Read;
        let shown = path.display();
        let Ok(mut file) = std::fs::File::open(path) else {
            return Ok(()); // missing (created by `open`), or unreadable (SQLite says why)
        };
        let mut head = [0u8; 16];
        let n = file.read(&mut head).unwrap_or(0);
        if n == 0 {
            if empty_ok {
                return Ok(());
            }
            return Err(refuse(format!(
                "no spartakus store in {shown}: the file is empty"
            )));
        }
        if n < 16 || &head != b"SQLite format 3\0" {
            return Err(refuse(format!(
                "{shown} is not a spartakus store (not a SQLite database)"
            )));
        }
        Ok(())
    }

    /// What the file holds: refuses another program's database and a newer schema.
    fn found(&self) -> Result<Found> {
        let shown = self.path.display();
        let tables: Vec<String> = (|| {
            let mut stmt = self
                .conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?;
            let names = stmt.query_map([], |r| r.get(0))?;
            names.collect::<rusqlite::Result<Vec<String>>>()
        })()
        .map_err(|e| explain(&shown.to_string(), e.into()))?;
        if tables.is_empty() {
            return Ok(Found::Empty);
        }
        if !tables.iter().any(|t| t == "schema_migrations") {
            return Err(refuse(format!(
                "{shown} is not a spartakus store (a SQLite database without its tables)"
            )));
        }
        let version: i64 = self
            .conn
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                [],
                |r| r.get(0),
            )
            .map_err(|e| explain(&shown.to_string(), e.into()))?;
        if version > schema::version() {
            return Err(refuse(format!(
                "store {shown} has schema version {version}, newer than this binary's ({}); \
                 run a newer spartakus",
                schema::version()
            )));
        }
        Ok(Found::Store(version))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn configure(&mut self) -> Result<()> {
        self.conn.busy_timeout(Duration::from_secs(5))?;
        self.conn.set_prepared_statement_cache_capacity(128);
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            bail!("the file system does not support the WAL journal (got {mode})");
        }
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        // 8 MiB of pages (the default is 2): the indexes' hot pages stay in memory.
        self.conn.pragma_update(None, "cache_size", -8192)?;
        self.conn.pragma_update(None, "foreign_keys", true)?;
        Ok(())
    }

    fn migrate(&mut self) -> Result<()> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        let done = write::migrate(self, crate::time::now_secs());
        match done {
            Ok(()) => Ok(self.conn.execute_batch("COMMIT")?),
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// [`super::forget::forget`], with what it deletes overwritten by zeros (`secure_delete`) and
    /// the WAL emptied afterwards, so that nothing of the cluster stays in the file (unless a
    /// reader holds an older snapshot of it at that moment: its frames go at a later checkpoint).
    pub fn forget(&mut self, cluster: &str, now_ms: u64) -> Result<Forgot> {
        self.conn.pragma_update(None, "secure_delete", true)?;
        let forgot = super::forget::forget(self, cluster, now_ms);
        let _ = self.conn.pragma_update(None, "secure_delete", false);
        if matches!(forgot, Ok(Forgot::Done)) {
            let _ = self
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        }
        forgot
    }

    /// A consistent copy of the store, taken while collectors keep writing to it, through
    /// SQLite's online backup API. `to` must not exist; it is written beside itself first and
    /// renamed into place when complete. Returns how many reports the copy holds.
    pub fn backup(&self, to: &Path) -> Result<i64> {
        let shown = to.display();
        let partial = with_suffix(to, ".partial");
        let _ = std::fs::remove_file(&partial);
        let copied = (|| {
            let mut target = Connection::open(&partial)?;
            let backup = rusqlite::backup::Backup::new(&self.conn, &mut target)?;
            backup.run_to_completion(1024, Duration::from_millis(5), None)?;
            drop(backup);
            target.execute_batch("PRAGMA journal_mode=DELETE")?;
            Ok::<_, rusqlite::Error>(())
        })();
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&partial);
            return Err(anyhow::Error::from(e).context(format!("writing {}", partial.display())));
        }
        std::fs::rename(&partial, to)
            .with_context(|| format!("renaming {} to {shown}", partial.display()))?;
        let (copy, _) =
            Db::open_any_version(to).with_context(|| format!("checking the backup {shown}"))?;
        copy.conn
            .query_row("SELECT COUNT(*) FROM reports", [], |r| r.get(0))
            .with_context(|| format!("checking the backup {shown}"))
    }
}

/// `path` with `suffix` appended to its file name.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// An error of the store at `shown`, said as the operator needs it: a damaged file, or a file
/// that is not a database, is named as such.
fn explain(shown: &str, e: anyhow::Error) -> anyhow::Error {
    let code = e
        .chain()
        .find_map(|c| c.downcast_ref::<rusqlite::Error>())
        .and_then(rusqlite::Error::sqlite_error_code);
    match code {
        Some(ErrorCode::NotADatabase) => refuse(format!(
            "{shown} is not a spartakus store (not a SQLite database)"
        )),
        Some(ErrorCode::DatabaseCorrupt) => refuse(format!(
            "store {shown} is damaged ({e:#}); restore it from a backup"
        )),
        Some(ErrorCode::ReadOnly) => refuse(format!(
            "store {shown} is read-only ({e:#}); the collector needs to write to it and its directory"
        )),
        _ => e,
    }
}

/// A statement as SQLite runs it: `$1`, `$2`... (named parameters to SQLite) become `?1`, `?2`...
/// (numbered), so that each value binds by its number without a lookup by name.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

impl ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Int(v) => ToSqlOutput::from(*v),
            Value::Text(Some(t)) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            Value::Text(None) => ToSqlOutput::Borrowed(ValueRef::Null),
        })
    }
}

fn bind(stmt: &mut rusqlite::CachedStatement<'_>, params: &[Value]) -> Result<()> {
    for (i, value) in params.iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, value)?;
    }
    Ok(())
}

fn cell(value: ValueRef<'_>) -> Cell {
    match value {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(v) => Cell::Int(v),
        ValueRef::Real(v) => Cell::Int(v as i64),
        ValueRef::Text(t) | ValueRef::Blob(t) => Cell::Text(String::from_utf8_lossy(t).into()),
    }
}

impl Conn for Db {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let mut stmt = self.conn.prepare_cached(&numbered(sql))?;
        bind(&mut stmt, params)?;
        Ok(stmt.raw_execute()? as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let mut stmt = self.conn.prepare_cached(&numbered(sql))?;
        bind(&mut stmt, params)?;
        let width = stmt.column_count();
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(
                (0..width)
                    .map(|i| row.get_ref(i).map(cell))
                    .collect::<rusqlite::Result<Row>>()?,
            );
        }
        Ok(out)
    }

    /// One statement (`SAVEPOINT report`) is prepared once and kept; several are run as text.
    fn batch(&mut self, sql: &str) -> Result<()> {
        if sql.contains(';') {
            return Ok(self.conn.execute_batch(sql)?);
        }
        self.conn.prepare_cached(sql)?.raw_execute()?;
        Ok(())
    }
}

impl Writable for Db {
    /// `BEGIN IMMEDIATE` takes the file's write lock: other processes on the same file wait.
    fn begin(&mut self, _clusters: &[&str]) -> Result<()> {
        Ok(self.conn.execute_batch("BEGIN IMMEDIATE")?)
    }

    fn known(&mut self) -> &mut Known {
        &mut self.known
    }
}

#[cfg(test)]
#[path = "sqlite_tests.rs"]
pub(crate) mod tests;
