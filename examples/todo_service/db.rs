//! The todo table and its queries, on a pool of tokio-postgres
//! connections; every change is announced with `pg_notify` in its own
//! transaction, so the feed sees exactly what was committed.

use corio::compat::postgres::{Error, Pool};
use corio::compat::tokio_postgres::Row;
use serde::Serialize;

/// The channel the changes are announced on.
pub const CHANNEL: &str = "todo_changes";

/// A row of `todos`.
#[derive(Debug, Clone, Serialize)]
pub struct Todo {
    pub id: i64,
    pub title: String,
    pub done: bool,
}

impl Todo {
    fn from_row(row: &Row) -> Todo {
        Todo {
            id: row.get("id"),
            title: row.get("title"),
            done: row.get("done"),
        }
    }
}

/// A change, as the feed sends it.
#[derive(Serialize)]
struct Change<'a> {
    op: &'a str,
    todo: &'a Todo,
}

/// Creates the table if it is not there.
pub async fn migrate(pool: &Pool) -> Result<(), Error> {
    let conn = pool.get().await?;
    conn.batch_execute(
        "CREATE TABLE IF NOT EXISTS todos (
             id bigserial PRIMARY KEY,
             title text NOT NULL CHECK (title <> ''),
             done boolean NOT NULL DEFAULT false
         )",
    )
    .await?;
    Ok(())
}

pub async fn list(pool: &Pool, limit: i64, offset: i64) -> Result<Vec<Todo>, Error> {
    let conn = pool.get().await?;
    let sql = "SELECT id, title, done FROM todos ORDER BY id LIMIT $1 OFFSET $2";
    let rows = conn.query(sql, &[&limit, &offset]).await?;
    Ok(rows.iter().map(Todo::from_row).collect())
}

pub async fn get(pool: &Pool, id: i64) -> Result<Option<Todo>, Error> {
    let conn = pool.get().await?;
    let sql = "SELECT id, title, done FROM todos WHERE id = $1";
    Ok(conn
        .query_opt(sql, &[&id])
        .await?
        .as_ref()
        .map(Todo::from_row))
}

/// Runs `sql` (which returns the changed row, if any) and announces the
/// change, in one transaction.
async fn change(
    pool: &Pool,
    op: &str,
    sql: &str,
    params: &[&(dyn corio::compat::tokio_postgres::types::ToSql + Sync)],
) -> Result<Option<Todo>, Error> {
    let mut conn = pool.get().await?;
    let tx = conn.transaction().await?;
    let Some(row) = tx.query_opt(sql, params).await? else {
        return Ok(None); // nothing changed: the transaction rolls back
    };
    let todo = Todo::from_row(&row);
    let event = serde_json::to_string(&Change { op, todo: &todo }).unwrap_or_default();
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &event])
        .await?;
    tx.commit().await?;
    Ok(Some(todo))
}

/// `None` only if the INSERT returned no row, which it always does.
pub async fn create(pool: &Pool, title: &str) -> Result<Option<Todo>, Error> {
    let sql = "INSERT INTO todos (title) VALUES ($1) RETURNING id, title, done";
    change(pool, "created", sql, &[&title]).await
}

pub async fn update(
    pool: &Pool,
    id: i64,
    title: Option<&str>,
    done: Option<bool>,
) -> Result<Option<Todo>, Error> {
    let sql = "UPDATE todos SET title = coalesce($2, title), done = coalesce($3, done)
               WHERE id = $1 RETURNING id, title, done";
    change(pool, "updated", sql, &[&id, &title, &done]).await
}

pub async fn delete(pool: &Pool, id: i64) -> Result<Option<Todo>, Error> {
    let sql = "DELETE FROM todos WHERE id = $1 RETURNING id, title, done";
    change(pool, "deleted", sql, &[&id]).await
}
