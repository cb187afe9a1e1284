//! The notes' asynchronous context manager (`__aenter__` / `__aexit__`),
//! in Rust's shape: entering is an async call that returns a guard, and
//! leaving is the guard going out of scope.
//!
//! ```python
//! class Connection:
//!     async def __aenter__(self):
//!         await log("open")                  # may await
//!         return self
//!     async def __aexit__(self, exc_type, exc, tb):
//!         await log("close")
//!
//! async with Connection() as conn:
//!     await conn.query("select 1")
//! ```
//!
//! A `Drop` cannot await, so a guard whose exit must await offers an async
//! `close()` to call at the end, and its `Drop` does the part that needs no
//! await, so that leaving early (an error, a cancellation) still cleans up.
//! corio's own guards work this way: `lock.acquire().await` is
//! `async with lock:`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use corio::{Lock, run};

/// A "connection" to a pretend server: its log says what happened.
struct Connection {
    log: Rc<RefCell<Vec<String>>>,
    open: bool,
}

impl Connection {
    /// `__aenter__`.
    async fn open(log: Rc<RefCell<Vec<String>>>) -> Connection {
        corio::sleep(Duration::from_millis(10)).await; // the handshake
        say(&log, "open");
        Connection { log, open: true }
    }

    async fn query(&self, sql: &str) -> usize {
        corio::sleep(Duration::from_millis(10)).await;
        say(&self.log, &format!("query {sql:?}"));
        1
    }

    /// `__aexit__` on the normal path: may await (a goodbye to the server).
    async fn close(mut self) {
        corio::sleep(Duration::from_millis(10)).await;
        say(&self.log, "close (goodbye sent)");
        self.open = false;
    }
}

impl Drop for Connection {
    /// `__aexit__` on every other path: no await here, just let go.
    fn drop(&mut self) {
        if self.open {
            say(&self.log, "close (dropped: no goodbye)");
        }
    }
}

fn say(log: &RefCell<Vec<String>>, line: &str) {
    println!("{line}");
    log.borrow_mut().push(line.to_string());
}

pub fn demo() -> corio::Result<()> {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    run(async move {
        // async with Connection() as conn: ...
        let conn = Connection::open(l.clone()).await;
        conn.query("select 1").await;
        conn.close().await;

        // Leaving early, by `?` or by a timeout that cancels the body:
        let cut_short = corio::timeout(Duration::from_millis(15), async {
            let conn = Connection::open(l.clone()).await;
            conn.query("select pg_sleep(10)").await; // cancelled here
            conn.close().await;
        })
        .await;
        println!(
            "second block: {}",
            if cut_short.is_err() {
                "timed out"
            } else {
                "finished"
            }
        );

        // corio's own guards: `async with lock:`
        let lock = Lock::new();
        {
            let _guard = lock.acquire().await;
            println!("lock held: {}", lock.locked());
        }
        println!("lock held after the block: {}", lock.locked());
    })?;
    assert_eq!(log.borrow().len(), 5, "{:?}", log.borrow());
    Ok(())
}

#[allow(dead_code)] // the tour includes this file and calls `demo`
fn main() -> corio::Result<()> {
    demo()
}
