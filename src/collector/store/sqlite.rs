//! The embedded store, [`Db`]: one SQLite file in WAL mode with `synchronous=FULL`, the schema of
//! [`super::schema`], the statements of [`super::write`] and [`super::read`] through [`Conn`],
//! and an online backup.

use super::forget::Forgot;
use super::rollup::Known;
use super::schema::{self, Dialect};
use super::sql::{Cell, Conn, Row, Value};
use super::write::{self, Writable};
use crate::exit::{Class, fail, usage};
use anyhow::{Context, Result, bail};
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

impl Db {
    /// Open (creating if needed) and migrate the store for writing: WAL journal and
    /// `synchronous=FULL`, so a committed report survives `kill -9` and power loss. A file that
    /// is not a spartakus store, a newer schema, or a store that cannot take a write (damaged,
    /// read-only) is refused as a configuration error, with one line that says which.
    pub(crate) fn open(path: &Path) -> Result<Db> {
        let shown = path.display().to_string();
        let opened = (|| {
            let conn =
                Connection::open(path).map_err(|e| explain(path, Access::Write, e.into()))?;
            let mut db = Db {
                conn,
                path: path.to_path_buf(),
                known: Known::default(),
            };
            db.found(Access::Write)?;
            db.configure()
                .map_err(|e| explain(path, Access::Write, e.context("configuring")))?;
            db.migrate()
                .map_err(|e| explain(path, Access::Write, e.context("migrating")))?;
            write::probe(&mut db)
                .map_err(|e| explain(path, Access::Write, e.context("it cannot take a write")))?;
            Ok(db)
        })();
        opened.map_err(|e: anyhow::Error| match crate::exit::class_of(&e) {
            Class::Usage => e,
            _ => fail(Class::Usage, e.context(format!("opening store {shown}"))),
        })
    }

    /// Open an existing store for reading only (the summary, backups). Never creates a file,
    /// and refuses anything but a spartakus store of this binary's schema version.
    pub(crate) fn open_existing(path: &Path) -> Result<Db> {
        let (db, version) = Self::open_any_version(path)?;
        let shown = path.display();
        if version != schema::version() {
            return Err(usage(format!(
                "store {shown} has schema version {version}, this binary reads {} \
                 (run this version's `spartakus collect` on it once to migrate)",
                schema::version()
            )));
        }
        Ok(db)
    }

    /// Open an existing spartakus store of any version up to this binary's, read only.
    ///
    /// Only SQLite opens the file (its header is checked by the first query): a descriptor of
    /// the store opened and closed beside SQLite's would drop every POSIX lock this process
    /// holds on it, and another process would then take the live WAL for its own (issue 17).
    /// A store whose directory this user cannot write is read as it is, through its existing
    /// `-wal` and `-shm` (a collector has it open); with neither, no collector has it open and it
    /// is read as an immutable file.
    fn open_any_version(path: &Path) -> Result<(Db, i64)> {
        let shown = path.display();
        if !path.exists() {
            return Err(usage(format!(
                "store {shown} does not exist (start `spartakus collect --store {shown}` first)"
            )));
        }
        if path.is_dir() {
            return Err(usage(format!("store {shown} is a directory, not a file")));
        }
        let conn = Self::connect_read_only(path)?;
        let db = Db {
            conn,
            path: path.to_path_buf(),
            known: Known::default(),
        };
        match db.found(Access::Read)? {
            Found::Empty => Err(usage(format!(
                "no spartakus store in {shown}: the database is empty (a copy of a running \
                 store's file misses what is still in its WAL; copy stores with `spartakus backup`)"
            ))),
            Found::Store(version) => Ok((db, version)),
        }
    }

    /// A connection to `path` that only reads (see [`Db::open_any_version`]). It is opened for
    /// writing where this user may write, like the `sqlite3` shell's, so that the last
    /// connection to close checkpoints the WAL and removes it, and made `query_only`.
    fn connect_read_only(path: &Path) -> Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let configure = |conn: Connection| -> rusqlite::Result<Connection> {
            conn.busy_timeout(Duration::from_secs(5))?;
            conn.pragma_update(None, "query_only", true)?;
            // The first read: the header is checked here, and the WAL index opened.
            conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |_| Ok(()))?;
            Ok(conn)
        };
        let first = Connection::open_with_flags(path, flags).and_then(configure);
        let cannot_open = |e: &rusqlite::Error| {
            matches!(
                e.sqlite_error_code(),
                Some(ErrorCode::CannotOpen | ErrorCode::ReadOnly)
            )
        };
        match first {
            Ok(conn) => Ok(conn),
            Err(e) if cannot_open(&e) && !with_suffix(path, "-wal").exists() => {
                // No WAL: no collector has the store open, and SQLite cannot create the WAL
                // index beside it. Nothing changes the file while it is read.
                let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI;
                Connection::open_with_flags(immutable_uri(path), flags)
                    .and_then(configure)
                    .map_err(|e| explain(path, Access::Read, e.into()))
            }
            Err(e) => Err(explain(path, Access::Read, e.into())),
        }
    }

    /// What the file holds: refuses another program's database and a newer schema.
    fn found(&self, access: Access) -> Result<Found> {
        let shown = self.path.display();
        let explain = |e: rusqlite::Error| explain(&self.path, access, e.into());
        let tables: Vec<String> = (|| {
            let mut stmt = self
                .conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?;
            let names = stmt.query_map([], |r| r.get(0))?;
            names.collect::<rusqlite::Result<Vec<String>>>()
        })()
        .map_err(explain)?;
        if tables.is_empty() {
            let pages: i64 = self
                .conn
                .query_row("PRAGMA page_count", [], |r| r.get(0))
                .map_err(explain)?;
            if pages == 0 && access == Access::Read {
                return Err(usage(format!(
                    "no spartakus store in {shown}: the file is empty"
                )));
            }
            return Ok(Found::Empty);
        }
        if !tables.iter().any(|t| t == "schema_migrations") {
            return Err(usage(format!(
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
            .map_err(explain)?;
        if version > schema::version() {
            return Err(usage(format!(
                "store {shown} has schema version {version}, newer than this binary's ({}); \
                 run a newer spartakus",
                schema::version()
            )));
        }
        Ok(Found::Store(version))
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
    pub(crate) fn forget(&mut self, cluster: &str, now_ms: u64) -> Result<Forgot> {
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
    pub(crate) fn backup(&self, to: &Path) -> Result<i64> {
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
            if e.sqlite_error_code() == Some(ErrorCode::CannotOpen) {
                return Err(usage(format!(
                    "cannot write the backup {shown}: {}",
                    directory_fault(to)
                )));
            }
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

/// Why a store is opened: the collector writes (and creates), the views only read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Write,
    Read,
}

/// `file:` URI of `path` with `immutable=1`: SQLite reads it without locks or a WAL index.
fn immutable_uri(path: &Path) -> String {
    use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
    // What a file: URI's path may not hold as it is.
    const PATH: &AsciiSet = &CONTROLS.add(b'%').add(b'?').add(b'#').add(b' ');
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let encoded = utf8_percent_encode(&absolute.to_string_lossy(), PATH).to_string();
    format!("file:{encoded}?immutable=1")
}

/// An error of the store at `path`, said as the operator needs it: a damaged file, a file that
/// is not a database, or one that cannot be opened or written is named as such, in words rather
/// than SQLite's codes.
fn explain(path: &Path, access: Access, e: anyhow::Error) -> anyhow::Error {
    let shown = path.display();
    let code = e
        .chain()
        .find_map(|c| c.downcast_ref::<rusqlite::Error>())
        .and_then(rusqlite::Error::sqlite_error_code);
    match (code, access) {
        (Some(ErrorCode::NotADatabase), _) => usage(format!(
            "{shown} is not a spartakus store (not a SQLite database)"
        )),
        (Some(ErrorCode::DatabaseCorrupt), _) => usage(format!(
            "store {shown} is damaged ({e:#}); restore it from a backup"
        )),
        (Some(ErrorCode::ReadOnly), Access::Write) => usage(format!(
            "store {shown} is read-only ({e:#}); the collector needs to write to it and its directory"
        )),
        (Some(ErrorCode::CannotOpen), Access::Write) => usage(format!(
            "cannot create or open store {shown}: {} (the store is the file and its -wal and \
                 -shm beside it)",
            directory_fault(path)
        )),
        (Some(ErrorCode::CannotOpen | ErrorCode::ReadOnly), Access::Read) => usage(format!(
            "cannot read store {shown}: this user may not write its directory, and SQLite needs \
             {wal} and {shm} beside it to read it while a collector has it open; run this as the \
             collector's user, or read a copy made with `spartakus backup`",
            wal = with_suffix(path, "-wal").display(),
            shm = with_suffix(path, "-shm").display(),
        )),
        _ => e,
    }
}

/// The files of the store at `store`: the database, its journals and the collector's lock.
pub(crate) const PARTS: [(&str, &str); 5] = [
    ("", "the file"),
    ("-wal", "the WAL"),
    ("-shm", "the WAL index"),
    ("-journal", "the rollback journal"),
    (".lock", "the collector's lock"),
];

/// Which part of the store at `store` the path `other` names, if any (as far as the file
/// system can tell without opening either: same directory after resolving links, same name).
pub(crate) fn part_of(store: &Path, other: &Path) -> Option<&'static str> {
    let resolve = |path: &Path| -> Option<PathBuf> {
        let dir = std::fs::canonicalize(directory_of(path)).ok()?;
        Some(dir.join(path.file_name()?))
    };
    let store = resolve(store)?;
    let other = resolve(other)?;
    let same = |a: &Path, b: &Path| {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => a == b,
        }
    };
    PARTS
        .iter()
        .find(|(suffix, _)| same(&with_suffix(&store, suffix), &other))
        .map(|(_, name)| *name)
}

/// The directory `path` is in (`.` for a bare file name).
pub(crate) fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Why a file cannot be created or opened at `path`, as far as its directory tells.
pub(crate) fn directory_fault(path: &Path) -> String {
    let dir = directory_of(path);
    let shown = dir.display();
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            format!("the directory {shown} does not exist")
        }
        Err(e) => format!("the directory {shown} cannot be read ({e})"),
        Ok(meta) if !meta.is_dir() => format!("{shown} is not a directory"),
        Ok(_) => format!("this user may not create or write files in the directory {shown}"),
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

    fn query_each(
        &mut self,
        sql: &str,
        params: &[Value],
        f: &mut dyn FnMut(Row) -> Result<()>,
    ) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(&numbered(sql))?;
        bind(&mut stmt, params)?;
        let width = stmt.column_count();
        let mut rows = stmt.raw_query();
        while let Some(row) = rows.next()? {
            f((0..width)
                .map(|i| row.get_ref(i).map(cell))
                .collect::<rusqlite::Result<Row>>()?)?;
        }
        Ok(())
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
