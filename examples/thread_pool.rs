//! The notes' thread pool: a blocking HTTP GET (a plain socket, no
//! asyncio) run twenty times on a `ThreadPoolExecutor` through
//! `run_in_executor`, while the loop itself serves the pages.
//!
//! ```python
//! def get_url(url):                      # blocking: socket.connect, send, recv
//!     client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
//!     client.connect((host, 80))
//!     ...
//!
//! loop = asyncio.get_event_loop()
//! executor = ThreadPoolExecutor(3)
//! tasks = [loop.run_in_executor(executor, get_url, f"http://shop.projectsedu.com/goods/{i}/")
//!          for i in range(20)]
//! loop.run_until_complete(asyncio.wait(tasks))
//! ```
//!
//! The site is served by this program's own loop on 127.0.0.1: the worker
//! threads block in `connect`/`read` while the loop answers them, which is
//! the point: blocking code on threads, the loop free.

use std::rc::Rc;
use std::time::Instant;

use corio::offload::ThreadPoolExecutor;
use corio::{gather, run, run_in_executor};

#[path = "site/mod.rs"]
mod site;

pub fn demo() -> corio::Result<()> {
    let start = Instant::now();
    let executor = ThreadPoolExecutor::new(3)?;
    run(async move {
        let pages: site::Pages = Rc::new(|path| Some(format!("goods {path}")));
        let (server, port) = site::serve(pages).await?;
        let jobs = (0..20).map(|i| {
            let path = format!("/goods/{i}/");
            // The blocking GET runs on one of the three workers.
            run_in_executor(Some(&executor), move || site::blocking_get(port, &path))
        });
        for body in gather(jobs).await? {
            println!("get_url: {}", body??);
        }
        server.close();
        server.wait_closed().await;
        executor.shutdown(true, false);
        Ok::<(), corio::Error>(())
    })??;
    println!(
        "20 blocking GETs on 3 threads took {:.2} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

#[allow(dead_code)] // the tour includes this file and calls `demo`
fn main() -> corio::Result<()> {
    demo()
}
