//! The PostgreSQL store, [`Pg`]: one connection (tokio-postgres, on a small runtime of its own, so
//! that it is used from a plain thread), the schema of [`super::schema`] (migrated under an
//! advisory lock, so replicas starting together do not race), the statements of [`super::write`]
//! and [`super::read`] through [`Conn`]. (The writers' connections, which reconnect by
//! themselves, are [`super::pgsink`].) Statements deferred with [`Conn::defer`] are sent with
//! the next one that waits for an answer: a report costs one round trip, not one per statement.
//!
//! Several collectors may share one database: a batch takes a transaction-scoped advisory lock
//! per cluster (on a hash of its ID, in sorted order, so two batches never deadlock), so the
//! duplicate and rate limit checks that follow see every report another collector committed
//! for those clusters (READ COMMITTED reads what was committed before each statement).

use super::pgurl::{PgUrl, SslMode, redact};
use super::rollup::Known;
use super::schema::{self, Dialect};
use super::sql::{Cell, Conn, Row, Value};
use super::write::Writable;
use crate::exit::{Class, fail};
use anyhow::{Result, anyhow};
use bytes::BytesMut;
use sha2::Digest;
use std::collections::HashMap;
use std::error::Error as StdError;
use std::time::Duration;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, Statement};

/// Statements deferred at most before they are sent: 32 multi-row inserts of 64 rows, about
/// 2,000 nodes' rows (a round trip per 2,000 nodes, and their parameters held once).
const MAX_DEFERRED: usize = 32;

/// The advisory lock key that serializes migrations ("spartakus" in ASCII, as a number).
const MIGRATION_LOCK: i64 = 0x7370_6172_7461_6b75;

/// A connection to the PostgreSQL store.
pub struct Pg {
    client: Client,
    /// Drives the connection while a call waits for the server (`None` once dropped: see
    /// [`Pg`]'s `Drop`).
    runtime: Option<tokio::runtime::Runtime>,
    url: PgUrl,
    statements: HashMap<String, Statement>,
    /// Sent with the next statement that waits for an answer.
    deferred: Vec<Request>,
    known: Known,
}

/// A statement on its way to the server, its parameters owned (it may wait to be sent).
enum Request {
    Execute(Statement, Vec<Param>),
    Query(Statement, Vec<Param>),
    Simple(String),
}

/// What the server answered to a [`Request`].
enum Answer {
    Count(u64),
    Rows(Vec<tokio_postgres::Row>),
    Done,
}

/// An owned [`Value`].
#[derive(Debug)]
enum Param {
    Int(i64),
    Text(Option<String>),
}

impl Param {
    fn of(params: &[Value]) -> Vec<Param> {
        params
            .iter()
            .map(|v| match v {
                Value::Int(i) => Param::Int(*i),
                Value::Text(t) => Param::Text(t.map(String::from)),
            })
            .collect()
    }

    fn value(&self) -> Value<'_> {
        match self {
            Param::Int(i) => Value::Int(*i),
            Param::Text(t) => Value::Text(t.as_deref()),
        }
    }
}

impl ToSql for Param {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        self.value().to_sql(ty, out)
    }

    fn accepts(ty: &Type) -> bool {
        <Value as ToSql>::accepts(ty)
    }

    to_sql_checked!();
}

async fn send(client: &Client, request: &Request) -> Result<Answer, tokio_postgres::Error> {
    fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
        params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
    }
    match request {
        Request::Execute(s, p) => client.execute(s, &refs(p)).await.map(Answer::Count),
        Request::Query(s, p) => client.query(s, &refs(p)).await.map(Answer::Rows),
        Request::Simple(sql) => client.batch_execute(sql).await.map(|()| Answer::Done),
    }
}

/// A `Pg` may be dropped anywhere, an async context included (the dashboard's and the
/// collector's readers are dropped when their server stops): its runtime is shut down without
/// waiting, which dropping it there would refuse (with a panic).
impl Drop for Pg {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl std::fmt::Debug for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pg").field("url", &self.url).finish()
    }
}

type BoxError = Box<dyn StdError + Sync + Send>;

impl Pg {
    /// Connect, migrate (under the migration lock) and check that a write goes through.
    pub fn open(url: &PgUrl) -> Result<Pg> {
        let mut pg = Pg::connect(url)?;
        pg.migrate()
            .map_err(|e| pg.explain(e.context("migrating")))?;
        super::write::probe(&mut pg)
            .map_err(|e| pg.explain(e.context("it cannot take a write")))?;
        Ok(pg)
    }

    /// Connect to a store of this binary's schema version, to read it.
    pub(crate) fn open_existing(url: &PgUrl) -> Result<Pg> {
        let mut pg = Pg::connect(url)?;
        let version = pg.query_int(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        );
        let version = match version {
            Ok(v) => v,
            Err(e) if sqlstate(&e) == Some("42P01") => {
                return Err(crate::exit::usage(format_args!(
                    "no spartakus store in {url}: the database has no spartakus tables"
                )));
            }
            Err(e) => return Err(pg.explain(e.context("reading the schema version"))),
        };
        if version != schema::version() {
            return Err(crate::exit::usage(format_args!(
                "store {url} has schema version {version}, this binary reads {} \
                 (run this version's `spartakus collect` on it once to migrate)",
                schema::version()
            )));
        }
        Ok(pg)
    }

    /// Only the connection.
    pub fn connect(url: &PgUrl) -> Result<Pg> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let mut config = tokio_postgres::Config::new();
        config
            .user(&url.user)
            .dbname(&url.dbname)
            .host(&url.host)
            .port(url.port)
            .application_name(&url.application_name)
            .connect_timeout(url.connect_timeout)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .tcp_user_timeout(Duration::from_secs(30));
        if let Some(password) = url.password() {
            config.password(password);
        }
        let refused = |e: tokio_postgres::Error| {
            let class = if is_configuration(&e) {
                Class::Usage
            } else {
                Class::Internal
            };
            fail(
                class,
                anyhow!("connecting to {url}: {}", redact(&error_text(&e))),
            )
        };
        let client = match url.sslmode {
            SslMode::Disable => {
                let (client, connection) = runtime
                    .block_on(config.connect(tokio_postgres::NoTls))
                    .map_err(refused)?;
                runtime.spawn(connection);
                client
            }
            mode => {
                let tls = super::pgtls::connector(url)
                    .map_err(|e| fail(Class::Usage, e.context(format!("connecting to {url}"))))?;
                config.ssl_mode(if mode == SslMode::Prefer {
                    tokio_postgres::config::SslMode::Prefer
                } else {
                    tokio_postgres::config::SslMode::Require
                });
                let (client, connection) =
                    runtime.block_on(config.connect(tls)).map_err(refused)?;
                runtime.spawn(connection);
                client
            }
        };
        Ok(Pg {
            client,
            runtime: Some(runtime),
            url: url.clone(),
            statements: HashMap::new(),
            deferred: Vec::new(),
            known: Known::default(),
        })
    }

    pub fn url(&self) -> &PgUrl {
        &self.url
    }

    /// Whether the connection is gone (the server closed it, or the network broke).
    pub(crate) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    fn migrate(&mut self) -> Result<()> {
        self.batch("BEGIN")?;
        let done = (|| {
            self.query(
                "SELECT pg_advisory_xact_lock($1)",
                &[Value::Int(MIGRATION_LOCK)],
            )?;
            super::write::migrate(self, crate::time::now_secs())
        })();
        match done {
            Ok(()) => self.batch("COMMIT"),
            Err(e) => {
                let _ = self.batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// The error said with the URL (never its password) and the server's own words. A
    /// privilege the role lacks is the configuration's to fix (exit code 2), not a passing
    /// fault.
    fn explain(&self, e: anyhow::Error) -> anyhow::Error {
        let text = redact(&format!("{e:#}"));
        let class = match sqlstate(&e) {
            Some(INSUFFICIENT_PRIVILEGE) => Class::Usage,
            _ => crate::exit::class_of(&e),
        };
        fail(class, anyhow!("store {}: {text}", self.url))
    }

    /// `f` run to its end on this connection's runtime.
    fn block_on<F: std::future::Future>(&self, f: F) -> Result<F::Output> {
        match &self.runtime {
            Some(runtime) => Ok(runtime.block_on(f)),
            None => Err(anyhow!("the connection is closed")),
        }
    }

    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.block_on(self.client.prepare(sql))?.map_err(pg_error)?;
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    /// Send what is deferred and `requests` together, and wait for every answer: the answers to
    /// `requests`, or the first error of all.
    fn round_trip(&mut self, requests: Vec<Request>) -> Result<Vec<Answer>> {
        let mut all = std::mem::take(&mut self.deferred);
        let skip = all.len();
        all.extend(requests);
        let client = &self.client;
        let answers = self.block_on(futures_util::future::join_all(
            all.iter().map(|r| send(client, r)),
        ))?;
        let mut out = Vec::with_capacity(answers.len() - skip);
        for answer in answers {
            out.push(answer.map_err(pg_error)?);
        }
        Ok(out.split_off(skip))
    }

    fn one(&mut self, request: Request) -> Result<Answer> {
        self.round_trip(vec![request])?
            .pop()
            .ok_or_else(|| anyhow!("no answer from the server"))
    }
}

fn rows(answer: Answer) -> Result<Vec<Row>> {
    let Answer::Rows(rows) = answer else {
        return Ok(Vec::new());
    };
    rows.iter().map(cells).collect()
}

fn cells(row: &tokio_postgres::Row) -> Result<Row> {
    (0..row.len())
        .map(|i| {
            if *row.columns()[i].type_() == Type::VOID {
                return Ok(Cell::Null);
            }
            row.try_get::<_, Cell>(i).map_err(pg_error)
        })
        .collect()
}

/// SQLSTATE `insufficient_privilege`: the role may not do what was asked (create the tables,
/// read them).
const INSUFFICIENT_PRIVILEGE: &str = "42501";

/// The driver's error with the server's message, detail and hint when it has them.
fn error_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut text = format!("{}: {}", db.severity(), db.message());
            if let Some(detail) = db.detail() {
                text.push_str(&format!(" ({detail})"));
            }
            text
        }
        None => match e.source() {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

/// A database error said once, in the server's words ([`error_text`]); the driver's error is
/// kept for its SQLSTATE, not shown again after them.
#[derive(Debug)]
struct PgError {
    text: String,
    error: tokio_postgres::Error,
}

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl StdError for PgError {}

fn pg_error(error: tokio_postgres::Error) -> anyhow::Error {
    let text = error_text(&error);
    anyhow::Error::new(PgError { text, error })
}

/// The SQLSTATE of a database error in the chain.
pub(crate) fn sqlstate(e: &anyhow::Error) -> Option<&str> {
    e.chain()
        .find_map(|c| c.downcast_ref::<PgError>())
        .and_then(|e| e.error.code())
        .map(|c| c.code())
}

/// Refusals that retrying will not cure: authentication, an unknown database, a refused
/// certificate.
fn is_configuration(e: &tokio_postgres::Error) -> bool {
    if let Some(code) = e.code() {
        let code = code.code();
        return code.starts_with("28") || code == "3D000";
    }
    let text = error_text(e);
    text.contains("certificate") || text.contains("does not support TLS")
}

impl ToSql for Value<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match (self, ty) {
            (Value::Int(v), &Type::INT2) => i16::try_from(*v)?.to_sql(ty, out),
            (Value::Int(v), &Type::INT4) => i32::try_from(*v)?.to_sql(ty, out),
            (Value::Int(v), &Type::INT8) => v.to_sql(ty, out),
            (Value::Text(None), _) => Ok(IsNull::Yes),
            (Value::Text(Some(t)), ty) if !matches!(*ty, Type::INT2 | Type::INT4 | Type::INT8) => {
                t.to_sql(ty, out)
            }
            (value, ty) => Err(format!("cannot send {value:?} as {ty}").into()),
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::INT2 | Type::INT4 | Type::INT8 | Type::TEXT | Type::VARCHAR | Type::BPCHAR
        )
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Cell, BoxError> {
        Ok(match *ty {
            Type::INT2 => Cell::Int(i16::from_sql(ty, raw)?.into()),
            Type::INT4 => Cell::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT8 => Cell::Int(i64::from_sql(ty, raw)?),
            _ => Cell::Text(<&str>::from_sql(ty, raw)?.to_string()),
        })
    }

    fn from_sql_null(_: &Type) -> Result<Cell, BoxError> {
        Ok(Cell::Null)
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::INT2
                | Type::INT4
                | Type::INT8
                | Type::TEXT
                | Type::VARCHAR
                | Type::BPCHAR
                | Type::NAME
                | Type::VOID
        ) || <&str as FromSql>::accepts(ty)
    }
}

impl Conn for Pg {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let statement = self.statement(sql)?;
        match self.one(Request::Execute(statement, Param::of(params)))? {
            Answer::Count(n) => Ok(n),
            _ => Ok(0),
        }
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let statement = self.statement(sql)?;
        rows(self.one(Request::Query(statement, Param::of(params)))?)
    }

    /// The rows as the server sends them (the client reads them from the connection as they
    /// are asked for).
    fn query_each(
        &mut self,
        sql: &str,
        params: &[Value],
        f: &mut dyn FnMut(Row) -> Result<()>,
    ) -> Result<()> {
        use futures_util::StreamExt;
        self.sync()?;
        let statement = self.statement(sql)?;
        let params = Param::of(params);
        let client = &self.client;
        self.block_on(async {
            let refs = params.iter().map(|p| p as &(dyn ToSql + Sync));
            let stream = client.query_raw(&statement, refs).await.map_err(pg_error)?;
            futures_util::pin_mut!(stream);
            while let Some(row) = stream.next().await {
                f(cells(&row.map_err(pg_error)?)?)?;
            }
            Ok(())
        })?
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        self.one(Request::Simple(sql.to_string())).map(|_| ())
    }

    /// Sent at once when [`MAX_DEFERRED`] wait: a report of many nodes is not held again, as
    /// parameters, until its end.
    fn defer(&mut self, sql: &str, params: &[Value]) -> Result<()> {
        let statement = self.statement(sql)?;
        self.deferred
            .push(Request::Execute(statement, Param::of(params)));
        if self.deferred.len() >= MAX_DEFERRED {
            self.sync()?;
        }
        Ok(())
    }

    fn defer_batch(&mut self, sql: &str) -> Result<()> {
        self.deferred.push(Request::Simple(sql.to_string()));
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        if self.deferred.is_empty() {
            return Ok(());
        }
        self.round_trip(Vec::new()).map(|_| ())
    }

    fn query_all(&mut self, queries: &[(&str, &[Value])]) -> Result<Vec<Vec<Row>>> {
        let mut requests = Vec::with_capacity(queries.len());
        for (sql, params) in queries {
            requests.push(Request::Query(self.statement(sql)?, Param::of(params)));
        }
        self.round_trip(requests)?.into_iter().map(rows).collect()
    }
}

/// The advisory lock key of a cluster: the first 8 bytes of the SHA-256 of its ID.
pub(crate) fn cluster_lock(cluster: &str) -> i64 {
    let digest = sha2::Sha256::digest(cluster.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

impl Writable for Pg {
    /// `BEGIN` (READ COMMITTED), then the clusters' advisory locks, in ascending key order.
    fn begin(&mut self, clusters: &[&str]) -> Result<()> {
        self.defer_batch("BEGIN")?;
        if clusters.is_empty() {
            return Ok(());
        }
        let mut keys: Vec<i64> = clusters.iter().map(|c| cluster_lock(c)).collect();
        keys.sort_unstable();
        keys.dedup();
        let lock =
            self.statement("SELECT pg_advisory_xact_lock(k) FROM unnest($1::int8[]) AS k")?;
        let client = &self.client;
        let mut all = std::mem::take(&mut self.deferred);
        let locked = self.block_on(async {
            let begun = futures_util::future::join_all(all.iter().map(|r| send(client, r)));
            let params: [&(dyn ToSql + Sync); 1] = [&keys];
            let (begun, locked) = tokio::join!(begun, client.execute(&lock, &params));
            begun
                .into_iter()
                .find_map(Result::err)
                .map_or(locked.map(|_| ()), Err)
        })?;
        all.clear();
        if locked.is_err() {
            let _ = self.batch("ROLLBACK");
        }
        locked.map_err(pg_error)
    }

    fn known(&mut self) -> &mut Known {
        &mut self.known
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_locks_are_stable_and_spread() {
        assert_eq!(cluster_lock("a"), cluster_lock("a"));
        assert_ne!(cluster_lock("a"), cluster_lock("b"));
        // The first 8 bytes of SHA-256("a"): ca978112ca1bbdca.
        assert_eq!(cluster_lock("a"), 0xca97_8112_ca1b_bdca_u64 as i64);
    }
}
