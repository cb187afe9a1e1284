//! The crawler of `examples/crawler.rs`, run in-process against its
//! loopback site (real sockets on 127.0.0.1): pages that answer 500, reset
//! the connection, stall, hang up mid-body, redirect, redirect in a loop
//! and redirect forever; a server that closes kept-alive connections
//! behind the client's back; a host that is down; and the `task_done`
//! guard on every path.
//! Each crawl must end within a generous bound and report every URL.

#[allow(dead_code)] // the example's `demo` and `main` are not called here
#[path = "../examples/crawler.rs"]
mod crawler;

/// The HTTP/1.0 site the other examples use (`start_server`, one request
/// per connection).
#[path = "../examples/site/mod.rs"]
mod site10;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::io::ErrorKind;
use std::rc::Rc;
use std::time::Duration;

use corio::{Queue, create_task, run, sleep};
use crawler::http::Url;
use crawler::{Crawler, FetchStatistic, Options, TaskDone, site};

/// Far beyond what any crawl here needs (a few seconds): reaching it means
/// the crawl stalled.
const NEVER_STALLS: Duration = Duration::from_secs(60);

/// What one crawl left behind.
struct Outcome {
    /// The crawler's statistics, by URL path.
    stats: BTreeMap<String, FetchStatistic>,
    /// Every URL path the crawler queued.
    seen: Vec<String>,
    /// Requests the server read, by path.
    hits: HashMap<String, usize>,
    /// The server's and the pool's counts.
    connections_accepted: usize,
    requests_served: usize,
    opened: usize,
    reused: usize,
    stale: usize,
    most_in_use: usize,
}

/// Crawls the example's demo site (counting the requests for each path)
/// from `/0`, with `options`, the server closing each connection silently
/// after `max_requests` requests.
fn crawl_demo_site(options: Options, max_requests: Option<usize>) -> Outcome {
    let hits: Rc<RefCell<HashMap<String, usize>>> = Rc::default();
    let counting: site::Site = {
        let (hits, inner) = (hits.clone(), crawler::demo_site());
        Rc::new(move |path: &str| {
            *hits.borrow_mut().entry(path.to_string()).or_default() += 1;
            inner(path)
        })
    };
    let site_options = site::Options {
        max_requests_per_connection: max_requests,
    };
    let (crawler, port, server_counts) = run(async move {
        let server = site::serve(counting, site_options).await?;
        let root = Url::parse(&format!("http://127.0.0.1:{}/0", server.port)).unwrap();
        let crawler = Crawler::new(root, options);
        let finished = corio::timeout(NEVER_STALLS, crawler.crawl()).await;
        server.close();
        assert!(finished.is_ok(), "the crawl stalled");
        finished.unwrap()?;
        let counts = (
            server.counters.connections.get(),
            server.counters.requests.get(),
        );
        Ok::<_, corio::Error>((crawler, server.port, counts))
    })
    .expect("the loop ran")
    .expect("the crawl ended without a bug");
    let root = format!("http://127.0.0.1:{port}");
    let path = |url: &str| url.strip_prefix(&root).unwrap_or(url).to_string();
    let stats = crawler
        .statistics()
        .into_values()
        .map(|s| (path(&s.url), s))
        .collect();
    let mut seen: Vec<String> = crawler.seen_urls().iter().map(|u| path(u)).collect();
    seen.sort();
    let pool = &crawler.pool.stats;
    let hits = hits.borrow().clone();
    Outcome {
        stats,
        seen,
        hits,
        connections_accepted: server_counts.0,
        requests_served: server_counts.1,
        opened: pool.opened.get(),
        reused: pool.reused.get(),
        stale: pool.stale.get(),
        most_in_use: pool.most_in_use.get(),
    }
}

fn kind(stat: &FetchStatistic) -> Option<ErrorKind> {
    stat.exception.as_ref().map(|e| e.kind())
}

#[test]
fn a_crawl_of_a_failing_site_ends_and_reports_every_url() {
    let options = Options {
        max_tries: 3,
        max_redirect: 3,
        // Long enough that no healthy page times out on a loaded machine;
        // only /stall waits it out (three times).
        fetch_timeout: Duration::from_secs(1),
        ..Options::default()
    };
    let out = crawl_demo_site(options, None);
    let stats = &out.stats;
    let report: Vec<String> = stats.values().map(|s| s.line("")).collect();
    let report = report.join("\n");

    // Every URL queued has exactly one outcome, and nothing else has one.
    let reported: Vec<&String> = stats.keys().collect();
    assert_eq!(reported, out.seen.iter().collect::<Vec<_>>(), "{report}");
    // The off-site link on /0 was neither queued nor fetched.
    assert!(!out.seen.iter().any(|u| u.contains("example.invalid")));

    // The 60 pages, and the 5 missing ones they link to.
    for n in 0..60 {
        let stat = &stats[&format!("/{n}")];
        assert_eq!(stat.status, Some(200), "/{n}: {report}");
        assert!(stat.exception.is_none(), "/{n}: {report}");
        assert_eq!(stat.content_type.as_deref(), Some("text/html"));
        assert_eq!(stat.encoding.as_deref(), Some("utf-8"));
        assert!(stat.size > 0 && stat.num_urls > 0, "/{n}: {report}");
    }
    for n in 60..65 {
        let stat = &stats[&format!("/{n}")];
        assert_eq!(stat.status, Some(404), "{report}");
        assert_eq!(stat.tries, 1, "a 404 is final, not retried: {report}");
        assert_eq!(out.hits[&format!("/{n}")], 1);
    }
    // Each URL but the root was queued once, by a page (a new link) or by
    // a redirect followed (a redirect with no note and no error).
    let new: usize = stats.values().map(|s| s.num_new_urls).sum();
    let followed = stats
        .values()
        .filter(|s| s.next_url.is_some() && s.note.is_none() && s.exception.is_none())
        .count();
    assert_eq!(new + followed, stats.len() - 1, "{report}");

    // A 500 is retried up to max_tries, then recorded with its status.
    let boom = &stats["/boom"];
    assert_eq!((boom.status, boom.tries), (Some(500), 3), "{report}");
    assert!(boom.exception.is_some());
    assert_eq!(out.hits["/boom"], 3);
    // A 503 the first time, a page the second.
    let flaky = &stats["/flaky"];
    assert_eq!((flaky.status, flaky.tries), (Some(200), 2), "{report}");
    assert!(flaky.exception.is_none());
    assert_eq!(out.hits["/flaky"], 2);
    // A reset, a stall and a truncated body fail each try, then the URL.
    let reset = &stats["/reset"];
    assert_eq!(kind(reset), Some(ErrorKind::ConnectionReset), "{report}");
    assert_eq!((reset.status, reset.tries), (None, 3));
    let stall = &stats["/stall"];
    assert_eq!(kind(stall), Some(ErrorKind::TimedOut), "{report}");
    assert_eq!((stall.status, stall.tries), (None, 3));
    let cut = &stats["/cut"];
    assert_eq!(kind(cut), Some(ErrorKind::UnexpectedEof), "{report}");
    assert_eq!((cut.status, cut.tries), (None, 3));
    // (A reset on a reused connection looks like a stale connection and is
    // sent again on a fresh one, so the server may see more than 3.)
    for path in ["/reset", "/stall", "/cut"] {
        assert!(out.hits[path] >= 3, "{path}: {:?}", out.hits);
    }

    // A redirect to a page already seen is recorded, not followed again.
    let old = &stats["/old"];
    assert_eq!(old.status, Some(301));
    assert_eq!(
        old.next_url.as_deref().map(|u| u.ends_with("/1")),
        Some(true)
    );
    assert_eq!(out.hits["/1"], 1, "/1 fetched once");
    // A loop ends at the URL seen before: each side fetched once.
    assert!(
        stats["/loop/a"]
            .next_url
            .as_ref()
            .unwrap()
            .ends_with("/loop/b")
    );
    let back = &stats["/loop/b"];
    assert!(back.next_url.as_ref().unwrap().ends_with("/loop/a"));
    assert_eq!(back.note, Some("already seen"), "{report}");
    assert_eq!((out.hits["/loop/a"], out.hits["/loop/b"]), (1, 1));
    // An endless chain of new URLs stops after max_redirect redirects.
    for n in 0..3 {
        let stat = &stats[&format!("/chain/{n}")];
        assert!(stat.exception.is_none(), "{report}");
        assert!(
            stat.next_url
                .as_ref()
                .unwrap()
                .ends_with(&format!("/chain/{}", n + 1))
        );
    }
    assert!(
        stats["/chain/3"]
            .exception
            .as_ref()
            .is_some_and(|e| e.to_string().contains("redirect limit")),
        "{report}"
    );
    assert!(!out.hits.contains_key("/chain/4"), "{:?}", out.hits);

    // Never more requests at once than connections per host.
    assert!(out.most_in_use <= 3, "{}", out.most_in_use);
}

#[test]
fn the_pool_reuses_connections_and_replaces_those_the_server_closed() {
    // Two tries of 1 s: /stall costs 2 s, and a healthy page would have to
    // be late twice to fail.
    let options = Options {
        max_tries: 2,
        fetch_timeout: Duration::from_secs(1),
        ..Options::default()
    };
    // The server hangs up silently after 4 requests on a connection.
    let out = crawl_demo_site(options, Some(4));
    let report: Vec<String> = out.stats.values().map(|s| s.line("")).collect();
    let report = report.join("\n");
    for n in 0..60 {
        assert_eq!(out.stats[&format!("/{n}")].status, Some(200), "{report}");
    }
    // Keep-alive: far fewer connections than requests, and each one the
    // pool opened is one the server accepted.
    assert_eq!(out.opened, out.connections_accepted);
    assert!(out.reused > 0, "no connection was reused");
    assert!(
        out.opened < out.requests_served / 2,
        "{} connections for {} requests",
        out.opened,
        out.requests_served
    );
    // No connection carried more than 4 requests, and more than 4 per
    // connection were needed (3 at once for ~80 requests): the pool met
    // connections the server had closed, and replaced them.
    assert!(out.stale > 0, "the pool never met a closed connection");
    // Every request the crawler made (tries plus stale retries that reached
    // the server) was answered or failed on purpose, and the crawl ended.
    assert_eq!(out.seen.len(), out.stats.len(), "{report}");
}

#[test]
fn without_keep_alive_every_request_gets_its_own_connection() {
    // A server that closes after each answer (as HTTP/1.0 servers do).
    let out = crawl_demo_site(
        Options {
            max_tries: 2,
            fetch_timeout: Duration::from_secs(1),
            ..Options::default()
        },
        Some(1),
    );
    for n in 0..60 {
        assert_eq!(out.stats[&format!("/{n}")].status, Some(200));
    }
    assert_eq!(out.opened, out.connections_accepted);
    // Each connection the server accepted carried one request; a
    // connection whose close the loop had not seen yet when it was reused
    // reached no server handler, and was retried on a new one.
    assert_eq!(out.requests_served, out.connections_accepted);
    assert_eq!(out.reused, 0, "a closed connection carried a request");
}

#[test]
fn task_done_runs_on_every_path_so_join_returns() {
    // Four items; the workers' handling of them returns, fails with `?`,
    // panics, and is cancelled. With the guard, `join()` returns for all.
    let outcome = run(async {
        let queue: Rc<Queue<u32>> = Rc::new(Queue::new(0));
        for item in 0..4 {
            queue.put_nowait(item)?;
        }
        let handled: Rc<RefCell<Vec<u32>>> = Rc::default();
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let (queue, handled) = (queue.clone(), handled.clone());
            tasks.push(create_task(async move {
                let item = queue.get().await?;
                let _done = TaskDone(&queue);
                handled.borrow_mut().push(item);
                match item {
                    0 => Ok(()),
                    1 => Err(corio::Error::from(std::io::Error::other("fetch failed"))),
                    2 => panic!("a bug in the fetch of item 2"),
                    _ => {
                        sleep(Duration::from_secs(3600)).await; // until cancelled
                        Ok(())
                    }
                }
            }));
        }
        // Let all four take their item, then cancel the one that sleeps.
        while handled.borrow().len() < 4 {
            sleep(Duration::from_millis(1)).await;
        }
        tasks[3].cancel();
        let joined = corio::timeout(NEVER_STALLS, queue.join()).await;
        let mut results = Vec::new();
        for task in tasks {
            results.push(match task.await {
                Ok(Ok(())) => "returned",
                Ok(Err(_)) => "failed",
                Err(e) if e.is_cancelled() => "cancelled",
                Err(_) => "panicked",
            });
        }
        Ok::<_, corio::Error>((joined.is_ok(), results))
    })
    .expect("the loop ran")
    .expect("no queue error");
    assert_eq!(
        outcome,
        (true, vec!["returned", "failed", "panicked", "cancelled"])
    );
}

#[test]
fn a_host_that_is_down_is_one_failed_url_not_a_stalled_crawl() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let options = Options {
        max_tries: 2,
        ..Options::default()
    };
    let stats = run(async move {
        let root = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let crawler = Crawler::new(root, options);
        corio::timeout(NEVER_STALLS, crawler.crawl())
            .await
            .expect("the crawl stalled")?;
        Ok::<_, corio::Error>(crawler.statistics())
    })
    .expect("the loop ran")
    .expect("the crawl ended without a bug");
    assert_eq!(stats.len(), 1, "{stats:?}");
    let root = stats.values().next().unwrap();
    assert_eq!(kind(root), Some(ErrorKind::ConnectionRefused), "{root:?}");
    assert_eq!((root.status, root.tries), (None, 2));
}

#[test]
fn an_http_1_0_server_gets_a_connection_per_request() {
    // Ten pages, each linking to the next two; the server answers
    // HTTP/1.0 and closes: nothing may be pooled.
    let pages: site10::Pages = Rc::new(|path| {
        let n: u32 = path.strip_prefix('/')?.parse().ok()?;
        (n < 10).then(|| format!("<a href=\"/{}\">a</a> <a href=\"/{}\">b</a>", n + 1, n + 2))
    });
    let (stats, opened, reused) = run(async move {
        let (server, port) = site10::serve(pages).await?;
        let root = Url::parse(&format!("http://127.0.0.1:{port}/0")).unwrap();
        let crawler = Crawler::new(root, Options::default());
        corio::timeout(NEVER_STALLS, crawler.crawl())
            .await
            .expect("the crawl stalled")?;
        server.close();
        let pool = &crawler.pool.stats;
        Ok::<_, corio::Error>((crawler.statistics(), pool.opened.get(), pool.reused.get()))
    })
    .expect("the loop ran")
    .expect("the crawl ended without a bug");
    let statuses: Vec<Option<u16>> = stats.values().map(|s| s.status).collect();
    // /0 ... /9, and the two missing pages /10 and /11 they link to.
    assert_eq!(stats.len(), 12, "{stats:?}");
    assert_eq!(statuses.iter().filter(|s| **s == Some(200)).count(), 10);
    assert_eq!(statuses.iter().filter(|s| **s == Some(404)).count(), 2);
    assert_eq!((opened, reused), (12, 0));
}

#[test]
fn the_worker_marks_every_item_done_and_outlives_a_panic() {
    // The crawler's own worker loop, one worker: item 1's handling panics,
    // item 3's is cancelled with the worker.
    let (log, joined_after_cancel, worker_cancelled) = run(async {
        let queue: Rc<Queue<u32>> = Rc::new(Queue::new(0));
        for item in 0..3 {
            queue.put_nowait(item)?;
        }
        let log: Rc<RefCell<Vec<String>>> = Rc::default();
        let task = create_task({
            let (queue, log) = (queue.clone(), log.clone());
            async move {
                let handled = log.clone();
                let handle = move |item: u32| {
                    let log = handled.clone();
                    async move {
                        match item {
                            1 => panic!("a bug in the handling of item 1"),
                            3 => {
                                log.borrow_mut().push("3 started".to_string());
                                sleep(Duration::from_secs(3600)).await;
                            }
                            _ => log.borrow_mut().push(format!("{item} handled")),
                        }
                    }
                };
                let panicked = |item: u32, error: corio::TaskError| {
                    log.borrow_mut().push(format!("{item} panicked: {error}"));
                };
                crawler::worker(&queue, handle, panicked).await;
            }
        });
        // 0, 1 and 2 all done: the worker lived through the panic.
        corio::timeout(NEVER_STALLS, queue.join())
            .await
            .expect("join after a panic");
        queue.put_nowait(3)?;
        while !log.borrow().iter().any(|l| l == "3 started") {
            sleep(Duration::from_millis(1)).await;
        }
        task.cancel();
        let joined = corio::timeout(NEVER_STALLS, queue.join()).await.is_ok();
        let cancelled = matches!(task.await, Err(e) if e.is_cancelled());
        let log = log.borrow().clone();
        Ok::<_, corio::Error>((log, joined, cancelled))
    })
    .expect("the loop ran")
    .expect("no queue error");
    assert_eq!(
        log,
        [
            "0 handled",
            "1 panicked: task panicked: a bug in the handling of item 1",
            "2 handled",
            "3 started"
        ]
    );
    assert!(joined_after_cancel, "the cancelled item was marked done");
    assert!(worker_cancelled);
}

/// Crawls `site` (served by `examples/site/http11.rs`) from `/0`, with
/// `options`; returns the statistics by path, the requests per path, the
/// crawler's count of links not followed, and the requests the pool sent
/// on a reused connection.
fn crawl_site_of(
    site_fn: site::Site,
    options: Options,
) -> (
    BTreeMap<String, FetchStatistic>,
    HashMap<String, usize>,
    usize,
    usize,
) {
    let hits: Rc<RefCell<HashMap<String, usize>>> = Rc::default();
    let counting: site::Site = {
        let hits = hits.clone();
        Rc::new(move |path: &str| {
            *hits.borrow_mut().entry(path.to_string()).or_default() += 1;
            site_fn(path)
        })
    };
    let (stats, port, not_followed, reused) = run(async move {
        let server = site::serve(counting, site::Options::default()).await?;
        let root = Url::parse(&format!("http://127.0.0.1:{}/0", server.port)).unwrap();
        let crawler = Crawler::new(root, options);
        let finished = corio::timeout(NEVER_STALLS, crawler.crawl()).await;
        server.close();
        finished.expect("the crawl stalled")?;
        let (not_followed, reused) = (crawler.not_followed.get(), crawler.pool.stats.reused.get());
        Ok::<_, corio::Error>((crawler.statistics(), server.port, not_followed, reused))
    })
    .expect("the loop ran")
    .expect("the crawl ended without a bug");
    let root = format!("http://127.0.0.1:{port}");
    let stats = stats
        .into_values()
        .map(|s| (s.url.strip_prefix(&root).unwrap_or(&s.url).to_string(), s))
        .collect();
    let hits = hits.borrow().clone();
    (stats, hits, not_followed, reused)
}

#[test]
fn links_resolve_as_rfc_3986_says() {
    // RFC 3986, 5.4: the normal and abnormal examples, against
    // http://a/b/c/d;p?q (the fragment is dropped: the crawler never
    // needs it; a scheme other than http is not followed).
    let base = Url::parse("http://a/b/c/d;p?q").unwrap();
    let cases = [
        ("g", "/b/c/g"),
        ("./g", "/b/c/g"),
        ("g/", "/b/c/g/"),
        ("/g", "/g"),
        ("?y", "/b/c/d;p?y"),
        ("g?y", "/b/c/g?y"),
        ("#s", "/b/c/d;p?q"),
        ("g#s", "/b/c/g"),
        ("g?y#s", "/b/c/g?y"),
        (";x", "/b/c/;x"),
        ("g;x", "/b/c/g;x"),
        ("", "/b/c/d;p?q"),
        (".", "/b/c/"),
        ("./", "/b/c/"),
        ("..", "/b/"),
        ("../", "/b/"),
        ("../g", "/b/g"),
        ("../..", "/"),
        ("../../", "/"),
        ("../../g", "/g"),
        ("../../../g", "/g"),
        ("../../../../g", "/g"),
        ("/./g", "/g"),
        ("/../g", "/g"),
        ("g.", "/b/c/g."),
        (".g", "/b/c/.g"),
        ("g..", "/b/c/g.."),
        ("..g", "/b/c/..g"),
        ("./../g", "/b/g"),
        ("./g/.", "/b/c/g/"),
        ("g/./h", "/b/c/g/h"),
        ("g/../h", "/b/c/h"),
        ("g;x=1/./y", "/b/c/g;x=1/y"),
        ("g;x=1/../y", "/b/c/y"),
        ("g?y/./x", "/b/c/g?y/./x"),
        ("g?y/../x", "/b/c/g?y/../x"),
    ];
    for (href, path) in cases {
        let joined = base
            .join(href)
            .unwrap_or_else(|| panic!("{href:?} resolves"));
        assert_eq!(
            (href, joined.host.as_str(), joined.path.as_str()),
            (href, "a", path)
        );
    }
    let other = base.join("//g/x").unwrap();
    assert_eq!((other.host.as_str(), other.path.as_str()), ("g", "/x"));
    assert_eq!(base.join("g:h"), None, "another scheme is not followed");
    assert_eq!(base.join("https://a/"), None);
    assert_eq!(base.join("mailto:someone@a"), None);
    // An absolute URL's own dot segments go too.
    assert_eq!(Url::parse("http://a/b/../c/./d").unwrap().path, "/c/d");
}

/// A `python3 -m http.server` on 127.0.0.1 serving a directory; killed
/// when dropped.
struct PythonServer {
    child: std::process::Child,
    port: u16,
}

impl PythonServer {
    /// Starts the server on `dir`; `None` if `python3` is not installed.
    fn start(dir: &std::path::Path) -> Option<PythonServer> {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let mut child = Command::new("python3")
            .args([
                "-u",
                "-m",
                "http.server",
                "0",
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        // "Serving HTTP on 127.0.0.1 port 43117 (http://127.0.0.1:43117/) ..."
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped");
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the server's first line");
        let port = line
            .split(" port ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        Some(PythonServer { child, port })
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill(); // already exited: nothing to kill
        let _ = self.child.wait();
    }
}

#[test]
fn a_dot_dot_link_against_python_http_server_ends() {
    // A page that links to itself through `../`: without dot-segment
    // removal each visit makes a longer name for the same page
    // (`/sub/../sub/./page.html`, ...), and the crawl never ends.
    let dir = std::env::temp_dir().join(format!("corio-crawler-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(
        dir.join("index.html"),
        r#"<a href="sub/">sub</a> <a href="./sub/../sub/page.html">page</a>"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("sub/page.html"),
        r#"<a href="../">up</a> <a href="../sub/./page.html">me</a> <a href="../../../escape.html">out</a>"#,
    )
    .unwrap();
    let Some(server) = PythonServer::start(&dir) else {
        eprintln!("python3 not installed: not checked");
        return;
    };
    // As from the command line: a root URL and the limits.
    let args = [
        format!("http://127.0.0.1:{}/", server.port),
        "--max-tasks".to_string(),
        "4".to_string(),
        "--max-urls=50".to_string(),
    ];
    let cli = crawler::parse_args(args).expect("valid arguments");
    let root = cli.root.expect("a root");
    let origin = format!("http://{}", root.origin());
    let crawler = crawler::crawl_site(root, cli.options).expect("the crawl ended");
    let mut stats: Vec<(String, Option<u16>)> = crawler
        .statistics()
        .into_values()
        .map(|s| (s.url.strip_prefix(&origin).unwrap().to_string(), s.status))
        .collect();
    stats.sort();
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        stats,
        [
            ("/".to_string(), Some(200)),
            ("/escape.html".to_string(), Some(404)),
            ("/sub/".to_string(), Some(200)), // the directory listing
            ("/sub/page.html".to_string(), Some(200)),
        ]
    );
    assert_eq!(crawler.not_followed.get(), 0);
}

#[test]
fn a_chunked_body_is_decoded_and_the_connection_reused() {
    // /0 and /1 are sent chunked on one kept-alive connection; /1's
    // body is only read right if /0's chunks and trailer were.
    let pages: site::Site = Rc::new(|path: &str| match path {
        "/0" => site::Reply::Chunked(r#"<html><a href="/1">one</a> and more text</html>"#.into()),
        "/1" => site::Reply::Chunked(r#"<html><a href="/2">two</a></html>"#.into()),
        "/2" => site::Reply::Page("<html>plain</html>".into()),
        _ => site::Reply::Status(404, "no\n".into()),
    });
    let options = Options {
        max_tasks: 1,
        ..Options::default()
    };
    let (stats, hits, _, reused) = crawl_site_of(pages, options);
    assert_eq!(stats.len(), 3, "{stats:?}");
    assert_eq!(reused, 2, "/1 and /2 went on /0's connection");
    for path in ["/0", "/1", "/2"] {
        let stat = &stats[path];
        assert_eq!(
            (stat.status, stat.tries),
            (Some(200), 1),
            "{path}: {stat:?}"
        );
        assert!(stat.exception.is_none(), "{path}: {stat:?}");
        assert_eq!(hits[path], 1);
    }
    let body = r#"<html><a href="/1">one</a> and more text</html>"#;
    assert_eq!(stats["/0"].size, body.len(), "the chunks, decoded");
    assert_eq!(stats["/0"].num_new_urls, 1);
}

#[test]
fn an_answer_that_cannot_be_read_is_tried_once() {
    // A malformed status line, a body past the crawler's limit and a bad
    // chunk size would be the same at every try: one request each. A
    // reset may pass: it gets its three tries.
    let pages: site::Site = Rc::new(|path: &str| {
        match path {
        "/0" => site::Reply::Page(
            r#"<a href="/garbage">g</a><a href="/huge">h</a><a href="/badchunk">c</a><a href="/reset">r</a>"#.into(),
        ),
        "/garbage" => site::Reply::Raw("HTTP/1.1 two hundred OK\r\n\r\n".into()),
        "/huge" => site::Reply::Raw("HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n".into()),
        "/badchunk" => site::Reply::Raw(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n".into(),
        ),
        "/reset" => site::Reply::Reset,
        _ => site::Reply::Status(404, "no\n".into()),
    }
    });
    let (stats, hits, _, _) = crawl_site_of(pages, Options::default());
    for path in ["/garbage", "/huge", "/badchunk"] {
        let stat = &stats[path];
        assert_eq!(kind(stat), Some(ErrorKind::InvalidData), "{path}: {stat:?}");
        assert_eq!(stat.tries, 1, "{path}: {stat:?}");
        assert_eq!(hits[path], 1, "{path}: one request");
    }
    assert!(
        stats["/huge"]
            .exception
            .as_ref()
            .unwrap()
            .to_string()
            .contains("16 MiB")
    );
    assert_eq!(kind(&stats["/reset"]), Some(ErrorKind::ConnectionReset));
    assert_eq!(stats["/reset"].tries, 3);
}

/// An endless site: page n links to 2n+1 and 2n+2, for ever.
fn endless_tree() -> site::Site {
    Rc::new(|path: &str| {
        let n: u64 = path
            .strip_prefix('/')
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        site::Reply::Page(format!(
            r#"<a href="/{}">left</a> <a href="/{}">right</a>"#,
            2 * n + 1,
            2 * n + 2
        ))
    })
}

#[test]
fn max_urls_and_max_depth_end_a_crawl_of_an_endless_site() {
    let options = Options {
        max_urls: Some(25),
        ..Options::default()
    };
    let (stats, _, not_followed, _) = crawl_site_of(endless_tree(), options);
    assert_eq!(stats.len(), 25, "exactly max_urls URLs fetched");
    assert!(not_followed > 0);

    let options = Options {
        max_urls: None,
        max_depth: Some(3),
        ..Options::default()
    };
    let (stats, _, not_followed, _) = crawl_site_of(endless_tree(), options);
    // Depths 0 to 3 of a binary tree: 1 + 2 + 4 + 8 pages; the 16 links on
    // the pages at depth 3 are not followed.
    assert_eq!(stats.len(), 15, "{:?}", stats.keys());
    assert!(stats.contains_key("/14") && !stats.contains_key("/15"));
    assert_eq!(not_followed, 16);
}

#[test]
fn the_command_line_takes_a_root_and_the_limits() {
    let args = |list: &[&str]| list.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let cli = crawler::parse_args(args(&[])).unwrap();
    assert!(cli.root.is_none(), "no root: the demo");
    let cli = crawler::parse_args(args(&[
        "http://Example.COM:8080/a/../b/",
        "--max-tasks",
        "3",
        "--max-urls",
        "7",
        "--max-depth=2",
        "--max-tries",
        "1",
        "--timeout-ms",
        "250",
    ]))
    .unwrap();
    let root = cli.root.unwrap();
    assert_eq!(root.to_string(), "http://example.com:8080/b/");
    assert_eq!(cli.options.max_tasks, 3);
    assert_eq!(cli.options.max_urls, Some(7));
    assert_eq!(cli.options.max_depth, Some(2));
    assert_eq!(cli.options.max_tries, 1);
    assert_eq!(cli.options.fetch_timeout, Duration::from_millis(250));
    for bad in [
        &["https://example.com/"][..],
        &["--max-urls"],
        &["--max-urls", "many"],
        &["--max-tasks", "0"],
        &["--frobnicate", "1"],
        &["http://a/", "http://b/"],
    ] {
        assert!(crawler::parse_args(args(bad)).is_err(), "{bad:?}");
    }
}
