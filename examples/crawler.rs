//! The crawler of "A Web Crawler With asyncio Coroutines" (*500 Lines or
//! Less*), on corio, against a site this program serves itself on loopback
//! — a site where some pages fail on purpose. The walkthrough is
//! `docs/09-crawler.md`.
//!
//! ```python
//! class Crawler:
//!     async def crawl(self):
//!         workers = [asyncio.create_task(self.work()) for _ in range(self.max_tasks)]
//!         await self.q.join()
//!         for w in workers:
//!             w.cancel()
//!
//!     async def work(self):
//!         while True:
//!             url, max_redirect = await self.q.get()
//!             try:
//!                 await self.fetch(url, max_redirect)
//!             finally:
//!                 self.q.task_done()
//!
//!     async def fetch(self, url, max_redirect):
//!         for tries in range(self.max_tries):     # retry what failed
//!             try:
//!                 response = await self.session.get(url, allow_redirects=False)
//!                 break
//!             except aiohttp.ClientError as error:
//!                 exception = error
//!         else:
//!             self.record_statistic(FetchStatistic(url=url, exception=exception, ...))
//!             return
//!         if is_redirect(response):               # queue the target, one redirect fewer
//!             ...
//!         else:                                   # parse links, queue the new ones
//!             ...
//! ```
//!
//! Every URL ends as one [`FetchStatistic`]: a page with its links, a
//! redirect, or an error after `max_tries` tries. `task_done()` runs on
//! every path (a guard, Rust's `finally`), so a failed fetch never stalls
//! `join()`. Connections are kept alive and pooled, at most three per host.
//!
//! With no argument it crawls its demo site; given a root URL, it crawls
//! that site (the root's host and port only), as the 500-lines `crawl.py`
//! does:
//!
//! ```text
//! cargo run --example crawler
//! cargo run --example crawler -- http://127.0.0.1:8000/ --max-tasks 10 --max-urls 500 --max-depth 4
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::{Queue, create_task, run};

#[path = "crawler/http.rs"]
pub mod http;
#[path = "crawler/pages.rs"]
mod pages;
#[path = "site/http11.rs"]
pub mod site;

pub use pages::demo_site;

use http::{Pool, Url};

/// The crawler's settings: the 500-lines crawler's constructor arguments.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Worker tasks (`max_tasks`).
    pub max_tasks: usize,
    /// Tries per URL before it is recorded as failed (`max_tries`).
    pub max_tries: usize,
    /// Redirects followed from one link (`max_redirect`).
    pub max_redirect: usize,
    /// Connections per host at once, also the most requests in flight.
    pub per_host: usize,
    /// How long one try may take once it has a connection.
    pub fetch_timeout: Duration,
    /// The most URLs queued in one crawl, the root included: links found
    /// past it are counted, not followed (`--max-urls`). What ends a
    /// crawl of a site that makes up new URLs for ever.
    pub max_urls: Option<usize>,
    /// The most links followed from the root: the root is at depth 0, the
    /// pages it links to at 1, and links on a page at the limit are not
    /// followed (`--max-depth`). A redirect keeps its URL's depth.
    pub max_depth: Option<usize>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_tasks: 10,
            max_tries: 3,
            max_redirect: 3,
            per_host: 3,
            fetch_timeout: Duration::from_secs(1),
            max_urls: Some(1000),
            max_depth: None,
        }
    }
}

/// What became of one URL: the 500-lines crawler's `FetchStatistic`
/// namedtuple, plus `tries` and a `note` for redirects not followed.
#[derive(Debug)]
pub struct FetchStatistic {
    /// The URL fetched.
    pub url: String,
    /// Where it redirects to, for a redirect.
    pub next_url: Option<String>,
    /// The last status received, if any response came.
    pub status: Option<u16>,
    /// Why the URL failed, when it did (after the last try).
    pub exception: Option<io::Error>,
    /// The body's size in bytes.
    pub size: usize,
    /// The media type (`text/html`).
    pub content_type: Option<String>,
    /// The charset (`utf-8`).
    pub encoding: Option<String>,
    /// Distinct links on the page to URLs the crawl may visit.
    pub num_urls: usize,
    /// How many of those were new (queued by this page).
    pub num_new_urls: usize,
    /// Tries made (1 unless something failed).
    pub tries: usize,
    /// Why a redirect was not followed (already seen, off-site).
    pub note: Option<&'static str>,
}

impl FetchStatistic {
    /// A statistic for `url` with nothing known yet.
    fn new(url: &Url, tries: usize) -> FetchStatistic {
        FetchStatistic {
            url: url.to_string(),
            next_url: None,
            status: None,
            exception: None,
            size: 0,
            content_type: None,
            encoding: None,
            num_urls: 0,
            num_new_urls: 0,
            tries,
            note: None,
        }
    }

    /// One line of the report, as the 500-lines `reporting.py` prints it.
    pub fn line(&self, root: &str) -> String {
        let url = self.url.strip_prefix(root).unwrap_or(&self.url);
        let tries = if self.tries > 1 {
            format!(" ({} tries)", self.tries)
        } else {
            String::new()
        };
        let status = self.status.map_or("---".to_string(), |s| s.to_string());
        if let Some(error) = &self.exception {
            return format!("{url} {status} error{tries}: {error}");
        }
        if let Some(next) = &self.next_url {
            let next = next.strip_prefix(root).unwrap_or(next);
            let note = self.note.map_or(String::new(), |n| format!(" ({n})"));
            return format!("{url} {status} redirect to {next}{note}");
        }
        format!(
            "{url} {status} {} bytes {} {}, {} links, {} new{tries}",
            self.size,
            self.content_type.as_deref().unwrap_or("?"),
            self.encoding.as_deref().unwrap_or("?"),
            self.num_urls,
            self.num_new_urls
        )
    }
}

/// Marks the item a worker took as done when dropped, whatever happened
/// to its fetch: returned, failed with `?`, panicked or was cancelled.
/// Python: the `finally: self.q.task_done()` of the worker loop.
pub struct TaskDone<'q, T>(pub &'q Queue<T>);

impl<T> Drop for TaskDone<'_, T> {
    fn drop(&mut self) {
        // Each guard stands for exactly one `get`, so there is always an
        // unfinished item to mark; a failure would be a bug in the count.
        if let Err(err) = self.0.task_done() {
            eprintln!("crawler: task_done failed: {err}");
        }
    }
}

/// Takes items from `queue` forever and runs `handle` on each, as a task
/// of its own; marks each item done however its handling ends (with a
/// [`TaskDone`] guard); and gives an item whose handling panicked to
/// `panicked` with the panic, instead of dying of it: the next item is
/// taken as if nothing happened. Cancelling the worker cancels the item's
/// task too (cancellation follows awaits), and the guard still marks the
/// item done. Python: a worker's `while True: item = await q.get(); try:
/// await handle(item) except Exception: ... finally: q.task_done()`.
pub async fn worker<T, F, Fut>(queue: &Queue<T>, handle: F, panicked: impl Fn(T, corio::TaskError))
where
    T: Clone,
    F: Fn(T) -> Fut,
    Fut: Future<Output = ()> + 'static,
{
    while let Ok(item) = queue.get().await {
        let _done = TaskDone(queue); // finally: queue.task_done()
        if let Err(error) = create_task(handle(item.clone())).await {
            panicked(item, error);
        }
    }
}

/// A crawl of one site: the 500-lines `Crawler` class.
pub struct Crawler {
    /// Where the crawl starts; links to other hosts are not followed
    /// (the 500-lines crawler's `root_domains`).
    root: Url,
    /// The settings.
    options: Options,
    /// URLs to fetch (`self.q`).
    queue: Queue<Item>,
    /// Every URL ever queued, so none is queued twice (`self.seen_urls`).
    seen: RefCell<HashSet<Url>>,
    /// One statistic per URL fetched, in the order they ended (`self.done`).
    done: RefCell<Vec<FetchStatistic>>,
    /// The kept-alive connections (`self.session`).
    pub pool: Pool,
    /// Links not queued because of `max_urls` or `max_depth`.
    pub not_followed: std::cell::Cell<usize>,
}

/// A URL in the queue, with what it may still do.
#[derive(Clone, Debug)]
struct Item {
    /// The URL to fetch.
    url: Url,
    /// Redirects it may still follow (the 500-lines `max_redirect`).
    redirects_left: usize,
    /// Links followed from the root to reach it.
    depth: usize,
}

impl Crawler {
    /// A crawler that starts at `root`. Python: `Crawler(roots, ...)`.
    pub fn new(root: Url, options: Options) -> Rc<Crawler> {
        Rc::new(Crawler {
            pool: Pool::new(options.per_host),
            root,
            options,
            queue: Queue::new(0),
            seen: RefCell::default(),
            done: RefCell::default(),
            not_followed: std::cell::Cell::new(0),
        })
    }

    /// Runs the crawl to its end: `max_tasks` workers on the queue,
    /// `queue.join()`, then the workers cancelled and the idle connections
    /// closed. Python: `await crawler.crawl()` then `crawler.close()`.
    ///
    /// # Errors
    /// Only a bug can fail it (a worker that panicked, a queue misused);
    /// every fetch error is recorded in the URL's statistic instead.
    pub async fn crawl(self: &Rc<Self>) -> corio::Result<()> {
        self.add_url(Item {
            url: self.root.clone(),
            redirects_left: self.options.max_redirect,
            depth: 0,
        })?;
        let workers: Vec<_> = (0..self.options.max_tasks)
            .map(|_| create_task(self.clone().work()))
            .collect();
        // Done when every URL queued was marked done: all fetched, and the
        // links of each queued before it was marked.
        self.queue.join().await;
        for worker in &workers {
            worker.cancel();
        }
        for worker in workers {
            match worker.await {
                Err(err) if !err.is_cancelled() => return Err(err.into()),
                _ => {}
            }
        }
        self.pool.close();
        Ok(())
    }

    /// A worker: takes a URL, fetches it, marks it done, forever (until
    /// cancelled); a fetch that panics is recorded as its URL's error.
    /// Python: `Crawler.work`.
    async fn work(self: Rc<Self>) {
        let crawler = self.clone();
        let fetch = move |item: Item| {
            let crawler = crawler.clone();
            async move { crawler.fetch(item).await }
        };
        let panicked = |item: Item, error: corio::TaskError| {
            let mut stat = FetchStatistic::new(&item.url, 1);
            stat.exception = Some(io::Error::other(format!("a bug in the crawler: {error}")));
            self.record(stat);
        };
        worker(&self.queue, fetch, panicked).await;
    }

    /// Queues `item` unless its URL was seen before, or the crawl's
    /// `max_urls` or `max_depth` forbids it (then it is counted in
    /// `not_followed`). Python: `Crawler.add_url`.
    fn add_url(&self, item: Item) -> corio::Result<bool> {
        if self.seen.borrow().contains(&item.url) {
            return Ok(false);
        }
        let too_many = self
            .options
            .max_urls
            .is_some_and(|max| self.seen.borrow().len() >= max);
        let too_deep = self.options.max_depth.is_some_and(|max| item.depth > max);
        if too_many || too_deep {
            self.not_followed.set(self.not_followed.get() + 1);
            return Ok(false);
        }
        self.seen.borrow_mut().insert(item.url.clone());
        self.queue.put_nowait(item)?;
        Ok(true)
    }

    /// Whether the crawl may visit `url`: same host and port as the root.
    /// Python: `Crawler.url_allowed`.
    fn url_allowed(&self, url: &Url) -> bool {
        url.origin() == self.root.origin()
    }

    /// Fetches `url` (up to `max_tries` tries), then records what came of
    /// it and queues what it leads to. Never fails: a failure is recorded.
    /// Python: `Crawler.fetch`.
    async fn fetch(&self, item: Item) {
        let url = &item.url;
        let mut tries = 0;
        let mut last = FetchStatistic::new(url, 0);
        let response = loop {
            if tries == self.options.max_tries {
                // Every try failed: the last failure is the URL's outcome.
                self.record(last);
                return;
            }
            tries += 1;
            last = FetchStatistic::new(url, tries);
            match self.pool.get(url, self.options.fetch_timeout).await {
                // A server error may be passing (overloaded, restarting):
                // worth another try, like a lost connection.
                Ok(response) if response.status >= 500 => {
                    last.status = Some(response.status);
                    last.exception = Some(io::Error::other(format!(
                        "server error {}",
                        response.status
                    )));
                }
                Ok(response) => break response,
                // An error that cannot fix itself (a malformed answer, a
                // body over the limit) would be the same the next time.
                Err(error) if !may_pass(&error) => {
                    last.exception = Some(error);
                    self.record(last);
                    return;
                }
                Err(error) => last.exception = Some(error),
            }
        };
        let mut stat = FetchStatistic::new(url, tries);
        stat.status = Some(response.status);
        if matches!(response.status, 301 | 302 | 303 | 307 | 308) {
            self.follow_redirect(&item, &response, stat);
            return;
        }
        stat.size = response.body.len();
        (stat.content_type, stat.encoding) = response.content_type();
        if response.status == 200 && stat.content_type.as_deref() == Some("text/html") {
            let html = String::from_utf8_lossy(&response.body);
            let links: HashSet<Url> = extract_urls(&html)
                .iter()
                .filter_map(|href| url.join(href))
                .filter(|link| self.url_allowed(link))
                .collect();
            stat.num_urls = links.len();
            for link in links {
                let link = Item {
                    url: link,
                    redirects_left: self.options.max_redirect,
                    depth: item.depth + 1,
                };
                // `put_nowait` cannot fail: the queue is unbounded and
                // never shut down.
                if matches!(self.add_url(link), Ok(true)) {
                    stat.num_new_urls += 1;
                }
            }
        }
        self.record(stat);
    }

    /// Records a redirect and queues its target with one redirect fewer
    /// left, unless it is off-site, already seen (which is what ends a
    /// redirect loop), or the redirects ran out.
    fn follow_redirect(&self, item: &Item, response: &http::Response, mut stat: FetchStatistic) {
        let Some(next) = response.header("location").and_then(|to| item.url.join(to)) else {
            stat.exception = Some(io::Error::new(
                io::ErrorKind::InvalidData,
                "redirect without a usable Location",
            ));
            self.record(stat);
            return;
        };
        stat.next_url = Some(next.to_string());
        if !self.url_allowed(&next) {
            stat.note = Some("off-site, not followed");
        } else if self.seen.borrow().contains(&next) {
            stat.note = Some("already seen");
        } else if item.redirects_left == 0 {
            stat.exception = Some(io::Error::other(format!(
                "redirect limit ({}) reached, not following {next}",
                self.options.max_redirect
            )));
        } else {
            let target = Item {
                url: next,
                redirects_left: item.redirects_left - 1,
                depth: item.depth,
            };
            match self.add_url(target) {
                Ok(true) => {}
                Ok(false) => stat.note = Some("max_urls reached, not followed"),
                Err(_) => stat.note = Some("queue closed"),
            }
        }
        self.record(stat);
    }

    /// Keeps a URL's outcome. Python: `Crawler.record_statistic`.
    fn record(&self, stat: FetchStatistic) {
        self.done.borrow_mut().push(stat);
    }

    /// The outcomes, one per URL, by URL (taken out of the crawler).
    /// Python: `crawler.done`, as `reporting.report` sorts it.
    pub fn statistics(&self) -> BTreeMap<String, FetchStatistic> {
        self.done
            .borrow_mut()
            .drain(..)
            .map(|stat| (stat.url.clone(), stat))
            .collect()
    }

    /// Every URL queued, as strings. Python: `crawler.seen_urls`.
    pub fn seen_urls(&self) -> HashSet<String> {
        self.seen.borrow().iter().map(Url::to_string).collect()
    }
}

/// Whether a failed try may pass by itself, so that another try is worth
/// making: a connection refused, reset, aborted or closed early (the
/// server restarting, or overloaded), or no answer in time. An answer the
/// crawler cannot read (a malformed status line or header, a body over
/// the limit, a bad chunk: `InvalidData`) or an address that does not
/// resolve would be the same the next time.
pub fn may_pass(error: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        error.kind(),
        ConnectionRefused
            | ConnectionReset
            | ConnectionAborted
            | NotConnected
            | BrokenPipe
            | UnexpectedEof
            | TimedOut
    )
}

/// The `href="..."` targets of a page. Python: the crawler's
/// `re.findall(r'''(?i)href=["']([^\s"'<>]+)''', text)`.
pub fn extract_urls(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

/// Crawls the demo site and prints one line per URL that was not a plain
/// page, then the totals: the 500-lines `crawl.py` main, which runs
/// `loop.run_until_complete(crawler.crawl())` and then `reporting.report`.
pub fn demo() -> corio::Result<()> {
    let start = Instant::now();
    let options = Options {
        fetch_timeout: Duration::from_millis(200),
        ..Options::default()
    };
    let (crawler, port) = run(async move {
        // The server closes each connection silently after 5 requests, so
        // the pool meets connections that died while idle.
        let site_options = site::Options {
            max_requests_per_connection: Some(5),
        };
        let server = site::serve(demo_site(), site_options).await?;
        let root = Url::parse(&format!("http://127.0.0.1:{}/0", server.port)).expect("a URL");
        let crawler = Crawler::new(root, options);
        crawler.crawl().await?;
        server.close();
        Ok::<_, corio::Error>((crawler, server.port))
    })??;
    report(&crawler, &format!("http://127.0.0.1:{port}"), start);
    Ok(())
}

/// Crawls the site at `root` with `options` on a loop of its own, and
/// returns the crawler with its statistics. Python: `crawl.py`'s
/// `loop.run_until_complete(crawler.crawl())`.
///
/// # Errors
/// Only a bug fails it (see [`Crawler::crawl`]); every fetch error is in
/// its URL's statistic.
pub fn crawl_site(root: Url, options: Options) -> corio::Result<Rc<Crawler>> {
    run(async move {
        let crawler = Crawler::new(root, options);
        crawler.crawl().await?;
        Ok::<_, corio::Error>(crawler)
    })?
}

/// Prints one line per URL that was not a plain page fetched at the first
/// try, then the totals. Python: the 500-lines `reporting.report`.
pub fn report(crawler: &Crawler, root: &str, start: Instant) {
    let secs = start.elapsed().as_secs_f64();
    let stats = crawler.statistics();
    let mut pages = 0;
    for stat in stats.values() {
        if stat.status == Some(200) && stat.tries == 1 {
            pages += 1;
        } else {
            println!("{}", stat.line(root));
        }
    }
    if crawler.not_followed.get() > 0 {
        println!(
            "{} links not followed (--max-urls, --max-depth)",
            crawler.not_followed.get()
        );
    }
    let failed = stats.values().filter(|s| s.exception.is_some()).count();
    let pool = &crawler.pool.stats;
    println!(
        "{} URLs queued, {} reported in {secs:.2} s: {pages} pages fetched at the first try, \
         {failed} failed; {} connections opened, {} reused, {} found closed by the server; \
         at most {} requests at once",
        crawler.seen_urls().len(),
        stats.len(),
        pool.opened.get(),
        pool.reused.get(),
        pool.stale.get(),
        pool.most_in_use.get()
    );
}

/// What the command line asks for: a root URL (none: the demo) and the
/// settings. Python: `crawl.py`'s `argparse` arguments.
#[derive(Debug)]
pub struct Cli {
    /// The site to crawl; `None` crawls the demo site.
    pub root: Option<Url>,
    /// The settings, the defaults changed by the flags.
    pub options: Options,
}

/// How to call the crawler.
pub const USAGE: &str = "usage: crawler [ROOT_URL] [--max-tasks N] [--max-urls N] [--max-depth N] \
     [--max-tries N] [--timeout-ms N]\n\
     With no ROOT_URL (an http:// URL), crawls the demo site it serves itself.";

/// Parses the command line (without the program's name).
///
/// # Errors
/// A message for an unknown flag, a flag without its number, a second
/// root, or a root that is not an `http://` URL.
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Cli, String> {
    let mut cli = Cli {
        root: None,
        options: Options::default(),
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if !arg.starts_with("--") {
            if cli.root.is_some() {
                return Err(format!("a second root URL: {arg}"));
            }
            cli.root = Some(Url::parse(&arg).ok_or_else(|| format!("not an http:// URL: {arg}"))?);
            continue;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
            None => (arg.clone(), None),
        };
        let value = inline
            .or_else(|| args.next())
            .ok_or_else(|| format!("{flag} needs a number"))?;
        let n: usize = value
            .parse()
            .map_err(|_| format!("{flag} needs a number, not {value:?}"))?;
        match flag.as_str() {
            "--max-tasks" if n > 0 => cli.options.max_tasks = n,
            "--max-urls" if n > 0 => cli.options.max_urls = Some(n),
            "--max-depth" => cli.options.max_depth = Some(n),
            "--max-tries" if n > 0 => cli.options.max_tries = n,
            "--timeout-ms" if n > 0 => cli.options.fetch_timeout = Duration::from_millis(n as u64),
            "--max-tasks" | "--max-urls" | "--max-tries" | "--timeout-ms" => {
                return Err(format!("{flag} must be at least 1"));
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(cli)
}

#[allow(dead_code)] // the tour and the tests include this file and call `demo`
fn main() -> corio::Result<()> {
    let cli = match parse_args(std::env::args().skip(1)) {
        Ok(cli) => cli,
        Err(message) => {
            eprintln!("crawler: {message}\n{USAGE}");
            return Err(io::Error::new(io::ErrorKind::InvalidInput, message).into());
        }
    };
    let Some(root) = cli.root else {
        return demo();
    };
    let start = Instant::now();
    let origin = format!("http://{}", root.origin());
    let crawler = crawl_site(root, cli.options)?;
    report(&crawler, &origin, start);
    Ok(())
}
