//! tokio-postgres on corio (corio-compat's `postgres` feature) against a
//! real PostgreSQL server: a throwaway cluster per test
//! (`testkit::postgres`), reached over TCP and its Unix socket. Queries,
//! prepared statements, transactions, LISTEN/NOTIFY from another client
//! (psql) as a stream, a query cancelled by dropping its task, a server
//! that goes away mid-query, typed errors, and the pool. A test that
//! cannot start PostgreSQL fails, saying why, unless CORIO_SKIP_POSTGRES
//! is set.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio_compat::futures_util::StreamExt;
use corio_compat::postgres::{Error, Pool, connect};
use corio_compat::tokio_postgres::Config;
use corio_compat::tokio_postgres::error::SqlState;
use testkit::postgres::PgCluster;

/// The tests run one at a time: they count this process's open fds,
/// which another test's sockets would change meanwhile.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn tcp_config(pg: &PgCluster) -> Config {
    pg.tcp_url().parse().unwrap()
}

fn unix_config(pg: &PgCluster) -> Config {
    let mut config = Config::new();
    config
        .host_path(pg.socket_dir())
        .port(pg.port())
        .user("postgres")
        .dbname("postgres");
    config
}

#[test]
fn queries_prepared_statements_and_transactions_over_tcp_and_unix() {
    let _serial = serial();
    let Some(pg) = PgCluster::start_or_skip() else {
        return;
    };
    let fds = testkit::open_fds();
    corio::run(async move {
        for (transport, config) in [("tcp", tcp_config(&pg)), ("unix", unix_config(&pg))] {
            let (mut client, connection) = connect(&config).await.unwrap();
            let table = format!("items_{transport}");
            client
                .batch_execute(&format!(
                    "CREATE TABLE {table} (id serial PRIMARY KEY, name text NOT NULL, price int)"
                ))
                .await
                .unwrap();
            let insert = client
                .prepare(&format!(
                    "INSERT INTO {table} (name, price) VALUES ($1, $2) RETURNING id"
                ))
                .await
                .unwrap();
            for (name, price) in [("pear", 3), ("fig", 5), ("plum", 7)] {
                let row = client.query_one(&insert, &[&name, &price]).await.unwrap();
                assert!(row.get::<_, i32>(0) > 0);
            }
            // A transaction committed, one rolled back (by drop).
            let tx = client.transaction().await.unwrap();
            tx.execute(&format!("UPDATE {table} SET price = price * 10"), &[])
                .await
                .unwrap();
            tx.commit().await.unwrap();
            {
                let tx = client.transaction().await.unwrap();
                tx.execute(&format!("DELETE FROM {table}"), &[])
                    .await
                    .unwrap();
                // Dropped without commit: rolled back.
            }
            let rows = client
                .query(&format!("SELECT name, price FROM {table} ORDER BY id"), &[])
                .await
                .unwrap();
            let got: Vec<(String, i32)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
            assert_eq!(
                got,
                [("pear".into(), 30), ("fig".into(), 50), ("plum".into(), 70)],
                "{transport}"
            );
            // Another client (psql) sees the committed rows.
            assert_eq!(
                pg.psql(&format!("SELECT sum(price) FROM {table}")).unwrap(),
                "150"
            );
            drop(client);
            connection.wait_closed().await.unwrap();
        }
    })
    .unwrap();
    assert_eq!(testkit::open_fds(), fds, "a socket left open");
}

#[test]
fn listen_notify_arrives_as_a_stream() {
    let _serial = serial();
    let Some(pg) = PgCluster::start_or_skip() else {
        return;
    };
    corio::run(async move {
        let (client, connection) = connect(&tcp_config(&pg)).await.unwrap();
        let mut notifications = Box::pin(connection.notifications());
        client.batch_execute("LISTEN jobs").await.unwrap();
        // From another process (psql), then from a second client here.
        pg.psql("NOTIFY jobs, 'from psql'").unwrap();
        let (other, _other_conn) = connect(&tcp_config(&pg)).await.unwrap();
        other
            .batch_execute("NOTIFY jobs, 'one'; NOTIFY jobs, 'two'; NOTIFY elsewhere, 'no'")
            .await
            .unwrap();
        let mut got = Vec::new();
        for _ in 0..3 {
            let n = corio::timeout(Duration::from_secs(10), notifications.next())
                .await
                .expect("a notification in time")
                .expect("the stream goes on");
            assert_eq!(n.channel(), "jobs");
            got.push(n.payload().to_string());
        }
        assert_eq!(got, ["from psql", "one", "two"]);
        // The stream ends with the connection.
        drop(client);
        let end = corio::timeout(Duration::from_secs(10), notifications.next()).await;
        assert!(matches!(end, Ok(None)), "the stream did not end");
    })
    .unwrap();
}

#[test]
fn a_query_whose_task_is_cancelled_is_cancelled_on_the_server() {
    let _serial = serial();
    let Some(pg) = PgCluster::start_or_skip() else {
        return;
    };
    corio::run(async move {
        let (client, connection) = connect(&tcp_config(&pg)).await.unwrap();
        let client = Rc::new(client);
        let canceller = connection.canceller();
        let sleeper = corio::create_task({
            let client = client.clone();
            async move {
                canceller
                    .cancel_on_drop(client.query("SELECT pg_sleep(30)", &[]))
                    .await
            }
        });
        // The query is running on the server.
        let deadline = Instant::now() + Duration::from_secs(10);
        while pg
            .psql("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'")
            .unwrap()
            != "1"
        {
            assert!(Instant::now() < deadline, "the query never started");
            corio::sleep(Duration::from_millis(20)).await;
        }
        sleeper.cancel();
        assert!(sleeper.await.is_err(), "the task was cancelled");
        // The connection is free at once, not in 30 s.
        let started = Instant::now();
        let row = corio::timeout(Duration::from_secs(10), client.query_one("SELECT 42", &[]))
            .await
            .expect("the connection is free again")
            .unwrap();
        assert_eq!(row.get::<_, i32>(0), 42);
        assert!(started.elapsed() < Duration::from_secs(5));

        // Cancelled by hand: the query fails with query_canceled.
        let canceller = connection.canceller();
        let query = corio::create_task({
            let client = client.clone();
            async move { client.query("SELECT pg_sleep(30)", &[]).await.map(drop) }
        });
        corio::sleep(Duration::from_millis(300)).await;
        canceller.cancel_query().await.unwrap();
        let err = corio::timeout(Duration::from_secs(10), query)
            .await
            .expect("cancelled in time")
            .unwrap()
            .unwrap_err();
        assert_eq!(err.code(), Some(&SqlState::QUERY_CANCELED), "{err}");
    })
    .unwrap();
}

#[test]
fn a_server_that_goes_away_mid_query_fails_it_with_a_typed_error() {
    let _serial = serial();
    let Some(pg) = PgCluster::start_or_skip() else {
        return;
    };
    let fds = testkit::open_fds();
    corio::run(async move {
        let (client, connection) = connect(&tcp_config(&pg)).await.unwrap();
        let pg = Rc::new(pg);
        let killer = corio::create_task({
            let pg = pg.clone();
            async move {
                corio::sleep(Duration::from_millis(300)).await;
                // pg_ctl -m immediate: every backend ends at once.
                pg.kill().unwrap();
            }
        });
        let err = corio::timeout(
            Duration::from_secs(20),
            client.query("SELECT pg_sleep(30)", &[]),
        )
        .await
        .expect("nothing hangs")
        .unwrap_err();
        killer.await.unwrap();
        // The server's last word (57P01 admin_shutdown) if it had time
        // to say it, else the socket closing under the query.
        assert!(
            err.is_closed() || err.code() == Some(&SqlState::ADMIN_SHUTDOWN),
            "{err}"
        );
        let ended = corio::timeout(Duration::from_secs(10), connection.wait_closed())
            .await
            .expect("the connection task ends");
        drop(ended);
        let again = client.query("SELECT 1", &[]).await.unwrap_err();
        assert!(again.is_closed(), "{again}");
        // A new connection: refused, as a typed connect error.
        match connect(&tcp_config(&pg)).await {
            Err(Error::Connect(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused),
            other => panic!("{other:?}"),
        }
    })
    .unwrap();
    assert_eq!(testkit::open_fds(), fds, "a socket left open");
}

#[test]
fn bad_input_gets_typed_errors() {
    let _serial = serial();
    let Some(pg) = PgCluster::start_or_skip() else {
        return;
    };
    corio::run(async move {
        let (client, _connection) = connect(&tcp_config(&pg)).await.unwrap();
        let err = client.query("SELEC 1", &[]).await.unwrap_err();
        assert_eq!(err.code(), Some(&SqlState::SYNTAX_ERROR));
        let err = client
            .query_one("SELECT $1::int", &[&"not an int"])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("serializing parameter"), "{err}");
        // The connection is still good.
        assert_eq!(
            client
                .query_one("SELECT 1", &[])
                .await
                .unwrap()
                .get::<_, i32>(0),
            1
        );

        let mut config = tcp_config(&pg);
        config.dbname("no_such_db");
        match connect(&config).await {
            Err(Error::Postgres(e)) => assert_eq!(e.code(), Some(&SqlState::INVALID_CATALOG_NAME)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(connect(&Config::new()).await, Err(Error::NoHost)));
    })
    .unwrap();
}

#[test]
fn the_pool_lends_at_most_max_size_and_closes() {
    let _serial = serial();
    let Some(pg) = PgCluster::start_or_skip() else {
        return;
    };
    let fds = testkit::open_fds();
    corio::run(async move {
        let pool = Pool::new(tcp_config(&pg), 3);
        let busy = Rc::new(Cell::new(0));
        let peak = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..12)
            .map(|i| {
                let (pool, busy, peak) = (pool.clone(), busy.clone(), peak.clone());
                corio::create_task(async move {
                    let conn = pool.get().await.unwrap();
                    busy.set(busy.get() + 1);
                    peak.set(peak.get().max(busy.get()));
                    let row = conn
                        .query_one("SELECT $1::int, pg_sleep(0.05)::text", &[&i])
                        .await
                        .unwrap();
                    busy.set(busy.get() - 1);
                    row.get::<_, i32>(0)
                })
            })
            .collect();
        let mut sum = 0;
        for task in tasks {
            sum += task.await.unwrap();
        }
        assert_eq!(sum, (0..12).sum::<i32>());
        assert_eq!(peak.get(), 3, "at most max_size lent at once, and all used");
        assert_eq!(pool.size(), 3, "connections are reused, not reopened");
        let backends = || {
            pg.psql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
                .unwrap()
                .parse::<i32>()
                .unwrap()
        };
        assert_eq!(backends(), 3 + 1, "three pooled and psql's own");

        // A lent connection whose backend is killed is not given back.
        let conn = pool.get().await.unwrap();
        let pid: i32 = conn
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0);
        // With a timeout, pg_terminate_backend waits until it is gone.
        pg.psql(&format!("SELECT pg_terminate_backend({pid}, 5000)"))
            .unwrap();
        assert!(conn.query("SELECT 1", &[]).await.is_err());
        drop(conn);
        // The pool goes on with the others (or a new one).
        let conn = pool.get().await.unwrap();
        assert_eq!(
            conn.query_one("SELECT 7", &[])
                .await
                .unwrap()
                .get::<_, i32>(0),
            7
        );

        // Close: idle ones now, the lent one when it comes back.
        pool.close();
        assert!(matches!(pool.get().await, Err(Error::PoolClosed)));
        let waiting = corio::create_task({
            let pool = pool.clone();
            async move { pool.wait_closed().await }
        });
        corio::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.done(), "wait_closed waits for the lent connection");
        drop(conn);
        corio::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(pool.size(), 0);
        let deadline = Instant::now() + Duration::from_secs(10);
        while backends() != 1 {
            assert!(Instant::now() < deadline, "pooled backends still open");
            corio::sleep(Duration::from_millis(20)).await;
        }
    })
    .unwrap();
    assert_eq!(testkit::open_fds(), fds, "a socket left open");
}
