//! PostgreSQL: the connection pool, migrations (`migrations/` at the
//! repository root, embedded in the binary), and database lifecycle helpers
//! used by `missive migrate`, replay and the tests.

use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, QueueMode, RecyclingMethod, Runtime};
use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::NoTls;

mod embedded {
    refinery::embed_migrations!("../migrations");
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("invalid database URL: {0}")]
    Url(String),
    #[error("cannot build the connection pool: {0}")]
    Pool(String),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("migration failed: {0}")]
    Migration(String),
}

pub fn pg_config(url: &SecretString) -> Result<tokio_postgres::Config, DbError> {
    // The parse error never echoes the URL, which may carry a password.
    let mut config = tokio_postgres::Config::from_str(url.expose_secret())
        .map_err(|e| DbError::Url(e.to_string()))?;
    // Every statement is prepared once per connection (`prepare_cached`) and
    // written not to need the values to plan well (index probes, LATERAL
    // with LIMIT, no joins between a batch's rows). PostgreSQL's default
    // re-plans a statement for each execution while a custom plan looks
    // cheaper, which over partitioned tables cost a quarter of its CPU on
    // the hot path (issue #17). Options in the URL come first and win.
    let options = match config.get_options() {
        Some(given) => format!("-c plan_cache_mode=force_generic_plan {given}"),
        None => "-c plan_cache_mode=force_generic_plan".to_owned(),
    };
    config.options(&options);
    Ok(config)
}

/// How long a caller waits for a pooled connection, a new connection or a
/// health check before getting an error: with PostgreSQL down or saturated,
/// requests fail with a retryable error instead of piling up.
const POOL_TIMEOUT: Duration = Duration::from_secs(5);

/// A pool of `size` connections named `application` (PostgreSQL's
/// `application_name`, so `pg_stat_activity` and the server's logs say which
/// service a backend serves; a name in the URL wins); statements are
/// prepared once per connection
/// (`prepare_cached`). The connection used last is handed out first (LIFO):
/// at ordinary load a few warm backends serve every request, instead of each
/// request waking the next of `size` PostgreSQL processes in turn (FIFO, the
/// default), which cost PostgreSQL CPU in context switches and cold caches.
pub fn pool(url: &SecretString, size: usize, application: &str) -> Result<Pool, DbError> {
    let mut config = pg_config(url)?;
    config.connect_timeout(POOL_TIMEOUT);
    if config.get_application_name().is_none() {
        config.application_name(application);
    }
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .queue_mode(QueueMode::Lifo)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(POOL_TIMEOUT))
        .create_timeout(Some(POOL_TIMEOUT))
        .recycle_timeout(Some(POOL_TIMEOUT))
        .build()
        .map_err(|e| DbError::Pool(e.to_string()))
}

/// One dedicated connection, driven on its own task.
pub async fn connect(url: &SecretString) -> Result<tokio_postgres::Client, DbError> {
    let (client, connection) = pg_config(url)?.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "PostgreSQL connection closed");
        }
    });
    Ok(client)
}

/// Applies every migration not yet applied; returns the names applied now.
pub async fn migrate(url: &SecretString) -> Result<Vec<String>, DbError> {
    let mut client = connect(url).await?;
    let report = embedded::migrations::runner()
        .run_async(&mut client)
        .await
        .map_err(|e| DbError::Migration(e.to_string()))?;
    Ok(report
        .applied_migrations()
        .iter()
        .map(|m| m.to_string())
        .collect())
}

/// The same server as `url`, another database.
pub fn with_database(url: &SecretString, database: &str) -> Result<SecretString, DbError> {
    let config = pg_config(url)?;
    let mut out = String::from("postgres://");
    if let Some(user) = config.get_user() {
        out.push_str(user);
        if let Some(pw) = config.get_password() {
            out.push(':');
            out.push_str(&String::from_utf8_lossy(pw));
        }
        out.push('@');
    }
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            #[cfg(unix)]
            // A socket directory goes in the host part percent-encoded, as
            // libpq and tokio-postgres read it (`%2Frun%2Fpostgresql`).
            tokio_postgres::config::Host::Unix(p) => p.display().to_string().replace('/', "%2F"),
        })
        .unwrap_or_else(|| "127.0.0.1".into());
    out.push_str(&host);
    if let Some(port) = config.get_ports().first() {
        out.push_str(&format!(":{port}"));
    }
    out.push('/');
    out.push_str(database);
    Ok(SecretString::from(out))
}

/// Creates `database` on the server of `url` (which must allow CREATE DATABASE).
pub async fn create_database(url: &SecretString, database: &str) -> Result<(), DbError> {
    let client = connect(url).await?;
    client
        .batch_execute(&format!("CREATE DATABASE {}", quote_ident(database)))
        .await?;
    Ok(())
}

/// Drops `database`, disconnecting its sessions first.
pub async fn drop_database(url: &SecretString, database: &str) -> Result<(), DbError> {
    let client = connect(url).await?;
    client
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(database)
        ))
        .await?;
    Ok(())
}

/// Whether an error with this SQLSTATE comes from the values a statement
/// was given, so that they fail the same way however often it is retried:
/// data exceptions (class 22: U+0000 in text or jsonb, a number out of
/// range), integrity violations (class 23) and limits (class 54: an index
/// row past a third of a page, from an over-long id). Anything else (no
/// SQLSTATE: the connection; 40001, 40P01; 53xxx resources; 57xxx shutdown;
/// and our own bugs, 42xxx, which a fixed release must get to process) may
/// pass when retried. Every consumer that must not stop at one bad event
/// (the projector, the push worker) and the send probe decide by this.
pub fn refuses_values(sqlstate: Option<&str>) -> bool {
    sqlstate.is_some_and(|c| c.starts_with("22") || c.starts_with("23") || c.starts_with("54"))
}

/// [`refuses_values`] of an error.
pub fn refused_values(e: &tokio_postgres::Error) -> bool {
    refuses_values(e.code().map(|c| c.code()))
}

/// The server's words and SQLSTATE (tokio-postgres prints only "db error").
pub fn server_words(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn only_data_integrity_and_limit_errors_refuse_the_values() {
        for code in ["22P05", "22021", "22001", "23505", "23503", "54000"] {
            assert!(refuses_values(Some(code)), "{code}");
        }
        // Connection loss (no SQLSTATE), serialization failure, deadlock,
        // resources, shutdown, and our own SQL bugs are retried.
        for code in [
            None,
            Some("40001"),
            Some("40P01"),
            Some("53300"),
            Some("57P01"),
            Some("42P01"),
        ] {
            assert!(!refuses_values(code), "{code:?}");
        }
    }

    #[test]
    fn another_database_keeps_the_server_whether_tcp_or_a_unix_socket() {
        let tcp = SecretString::from("postgres://missive:pw@127.0.0.1:54329/missive");
        assert_eq!(
            with_database(&tcp, "other").unwrap().expose_secret(),
            "postgres://missive:pw@127.0.0.1:54329/other"
        );
        // A socket directory: the URL must parse again, to the same socket.
        let unix = SecretString::from("postgresql://missive@%2Frun%2Fpostgresql:5432/missive");
        let other = with_database(&unix, "other").unwrap();
        let config = pg_config(&other).unwrap();
        assert_eq!(config.get_dbname(), Some("other"));
        assert_eq!(
            config.get_hosts(),
            [tokio_postgres::config::Host::Unix("/run/postgresql".into())]
        );
        assert_eq!(config.get_ports(), [5432]);
    }
}
