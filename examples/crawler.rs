//! The notes' high-concurrency crawler, on a site this program serves
//! itself on loopback: a `Queue` of URLs, a set of URLs already seen, a
//! `Semaphore(3)` so that at most three requests are in flight, links
//! extracted from each page, a progress line, and the pages per second at
//! the end.
//!
//! ```python
//! sem = asyncio.Semaphore(3)
//! seen_urls = set()
//!
//! async def fetch(url):
//!     async with sem:
//!         async with session.get(url) as resp:
//!             return await resp.text()
//!
//! async def worker(queue):
//!     while True:
//!         url = await queue.get()
//!         html = await fetch(url)
//!         for link in extract_urls(html):
//!             if link not in seen_urls:
//!                 seen_urls.add(link)
//!                 queue.put_nowait(link)
//!         queue.task_done()
//!
//! queue = asyncio.Queue()
//! queue.put_nowait(start_url); seen_urls.add(start_url)
//! workers = [asyncio.create_task(worker(queue)) for _ in range(10)]
//! await queue.join()
//! for w in workers: w.cancel()
//! ```
//!
//! This is where the walkthroughs end (`docs/README.md`): every piece of
//! corio is in it, from the selector under the sockets to the queue that
//! keeps ten workers busy.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::{Queue, Semaphore, create_task, run};

#[path = "site/mod.rs"]
mod site;

/// How many pages the site has (`/0` … `/N-1`); each links to three
/// others and to one page that does not exist.
const PAGES: usize = 60;

fn page(path: &str) -> Option<String> {
    let n: usize = path.strip_prefix('/')?.parse().ok()?;
    if n >= PAGES {
        return None;
    }
    let links: String = [n * 2 + 1, n * 3 + 2, n + 7, PAGES + n]
        .iter()
        .map(|to| format!("<a href=\"/{}\">page {to}</a>\n", to % (PAGES + 5)))
        .collect();
    Some(format!("<html><h1>page {n}</h1>\n{links}</html>\n"))
}

/// The `href="..."` targets of a page.
fn extract_urls(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

/// What the workers share.
struct Crawl {
    port: u16,
    queue: Queue<String>,
    seen: RefCell<HashSet<String>>,
    sem: Semaphore,
    crawled: Cell<usize>,
    missing: Cell<usize>,
    in_flight: Cell<usize>,
    most_in_flight: Cell<usize>,
}

impl Crawl {
    /// One GET, at most three at once.
    async fn fetch(&self, url: &str) -> std::io::Result<(String, String)> {
        let _permit = self.sem.acquire().await; // async with sem:
        self.in_flight.set(self.in_flight.get() + 1);
        self.most_in_flight
            .set(self.most_in_flight.get().max(self.in_flight.get()));
        let got = site::get(self.port, url).await;
        self.in_flight.set(self.in_flight.get() - 1);
        got
    }

    async fn worker(self: Rc<Self>) -> corio::Result<()> {
        loop {
            let url = self.queue.get().await?;
            let (status, html) = self.fetch(&url).await?;
            if status.contains(" 200 ") {
                self.crawled.set(self.crawled.get() + 1);
                for link in extract_urls(&html) {
                    if self.seen.borrow_mut().insert(link.clone()) {
                        self.queue.put_nowait(link)?;
                    }
                }
            } else {
                self.missing.set(self.missing.get() + 1);
            }
            if self.crawled.get() % 20 == 0 && status.contains(" 200 ") {
                println!(
                    "progress: {} pages crawled, {} queued, {} seen",
                    self.crawled.get(),
                    self.queue.qsize(),
                    self.seen.borrow().len()
                );
            }
            self.queue.task_done()?;
        }
    }
}

pub fn demo() -> corio::Result<()> {
    let start = Instant::now();
    let crawl = run(async {
        let (server, port) = site::serve(Rc::new(page)).await?;
        let crawl = Rc::new(Crawl {
            port,
            queue: Queue::new(0),
            seen: RefCell::new(HashSet::new()),
            sem: Semaphore::new(3),
            crawled: Cell::new(0),
            missing: Cell::new(0),
            in_flight: Cell::new(0),
            most_in_flight: Cell::new(0),
        });
        crawl.seen.borrow_mut().insert("/0".to_string());
        crawl.queue.put_nowait("/0".to_string())?;
        let workers: Vec<_> = (0..10)
            .map(|_| create_task(crawl.clone().worker()))
            .collect();
        // Done when every queued URL was marked done.
        let joined = corio::timeout(Duration::from_secs(30), crawl.queue.join()).await;
        for worker in &workers {
            worker.cancel();
        }
        for worker in workers {
            // Cancelled, as they should be; a worker that failed says why.
            if let Ok(Err(err)) = worker.await {
                return Err(err);
            }
        }
        server.close();
        server.wait_closed().await;
        joined?;
        Ok::<_, corio::Error>(crawl)
    })??;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "crawled {} pages ({} links to missing pages) in {secs:.2} s: {:.0} pages/s, at most {} requests at once",
        crawl.crawled.get(),
        crawl.missing.get(),
        (crawl.crawled.get() + crawl.missing.get()) as f64 / secs,
        crawl.most_in_flight.get()
    );
    Ok(())
}

#[allow(dead_code)] // the tour includes this file and calls `demo`
fn main() -> corio::Result<()> {
    demo()
}
