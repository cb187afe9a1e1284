//! Every example of the asyncio notes, run as a child process with a
//! timeout, and checked for the lines that show it did what the notes say.
//! (The network examples and the Ctrl-C example have their own tests in
//! `net_examples.rs` and `signals.rs`.)

mod support;

use std::time::Duration;

use support::run_example;

fn run_quick(name: &str) -> String {
    run_example(name, &[], Duration::from_secs(60))
}

/// The lines of `out` that start with `prefix`.
fn lines_starting<'a>(out: &'a str, prefix: &str) -> Vec<&'a str> {
    out.lines().filter(|l| l.starts_with(prefix)).collect()
}

/// The number in "… took X s" / "(at X s)" style text after `marker`.
fn seconds_after(line: &str, marker: &str) -> f64 {
    let rest = line.split(marker).nth(1).expect("marker");
    rest.trim_start()
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {marker:?} in {line:?}"))
}

#[test]
fn hello_ten_sleeps_take_one_sleeps_time() {
    let out = run_quick("hello");
    assert_eq!(lines_starting(&out, "start get url").len(), 10, "{out}");
    assert_eq!(lines_starting(&out, "end get url").len(), 10, "{out}");
    // All ten starts come before the first end: they sleep together.
    let first_end = out.find("end get url").unwrap();
    assert_eq!(lines_starting(&out[..first_end], "start get url").len(), 10);
    let line = lines_starting(&out, "10 tasks")[0];
    let took = seconds_after(line, "took");
    // Ten sleeps one after another would take 2 s; together, about 0.2 s.
    assert!(took < 1.0, "{line}");
}

#[test]
fn task_result_and_callbacks() {
    let out = run_quick("task_result");
    assert!(out.contains("task.result() = bobby"), "{out}");
    let out = run_quick("callbacks");
    let lines: Vec<_> = out.lines().collect();
    let url = lines
        .iter()
        .position(|l| *l == "http://www.imooc.com")
        .expect("url");
    assert!(lines[url + 1].starts_with("send email to bobby"), "{out}");
    assert_eq!(lines.last(), Some(&"bobby"), "{out}");
}

#[test]
fn wait_gather_and_a_cancelled_group() {
    let out = run_quick("wait_gather");
    assert!(out.contains("wait: 3 done, 0 pending"), "{out}");
    assert!(
        out.contains(r#"group1: ["http://projectsedu.com", "http://projectsedu.com"]"#),
        "{out}"
    );
    assert!(out.contains("group2: task was cancelled"), "{out}");
    // The cancelled group never started its fetches.
    assert_eq!(
        lines_starting(&out, "start get url http://www.imooc.com").len(),
        3
    );
}

#[test]
fn run_until_complete_internals_and_nested() {
    let out = run_quick("run_until_complete_internals");
    let expected = [
        "done callback: loop.stop()",
        "run_forever returned; task done: true",
        "future.result() = [20, 22]",
    ];
    let tail: Vec<_> = out
        .lines()
        .rev()
        .take(3)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    assert_eq!(tail, expected, "{out}");
    let out = run_quick("nested");
    assert_eq!(out, "Compute 1 + 2 ...\n1 + 2 = 3\n");
}

#[test]
fn call_soon_later_at_run_in_the_notes_order() {
    let out = run_quick("call_soon_later_at");
    let order: Vec<_> = out
        .lines()
        .map(|l| l.split(" (at").next().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "sleep 4 success",
            "sleep 1 success",
            "sleep 2 success",
            "call_later 0.25 s: between 2 and 3",
            "sleep 3 success",
        ],
        "{out}"
    );
}

#[test]
fn thread_pool_and_http_get_fetch_twenty_pages() {
    let out = run_quick("thread_pool");
    let bodies = lines_starting(&out, "get_url: goods /goods/");
    assert_eq!(bodies.len(), 20, "{out}");
    for i in 0..20 {
        assert!(
            bodies.contains(&format!("get_url: goods /goods/{i}/").as_str()),
            "{out}"
        );
    }
    let out = run_quick("http_get");
    let mut paths: Vec<u32> = out
        .lines()
        .filter(|l| l.contains(": HTTP/1.0 200 OK"))
        .map(|l| l[1..l.find(':').unwrap()].parse().unwrap())
        .collect();
    paths.sort();
    assert_eq!(paths, (0..20).collect::<Vec<_>>(), "{out}");
}

#[test]
fn lock_cache_fetches_once_and_semaphore_caps_at_three() {
    let out = run_quick("lock_cache");
    assert_eq!(lines_starting(&out, "fetching").len(), 1, "{out}");
    assert_eq!(lines_starting(&out, "cache hit").len(), 1, "{out}");
    assert!(out.contains("two readers, 1 fetch"), "{out}");
    let out = run_quick("semaphore");
    assert_eq!(lines_starting(&out, "fetch ").len(), 9, "{out}");
    assert!(out.contains("at most 3 fetches at once"), "{out}");
}

#[test]
fn condition_both_variants() {
    let out = run_quick("condition");
    // notify(1) wakes exactly one consumer; notify_all the other two.
    let after_one = out.split("producer: notify(1)").nth(1).unwrap();
    let before_all = after_one.split("producer: notify_all()").next().unwrap();
    assert_eq!(lines_starting(before_all, "consumer").len(), 1, "{out}");
    let after_all = out.split("producer: notify_all()").nth(1).unwrap();
    assert_eq!(after_all.matches("notified").count(), 2, "{out}");
    assert!(
        out.contains("consumer: predicate true after 6 checks: [1, 2, 3, 4, 5]"),
        "{out}"
    );
}

#[test]
fn event_waiters_and_traffic_light() {
    let out = run_quick("event");
    let set = out.find("event.set()").expect("set");
    assert_eq!(
        out[..set].matches("goes after").count(),
        0,
        "nobody goes before set"
    );
    assert_eq!(out[set..].matches("goes after").count(), 3, "{out}");
    for car in 1..=4 {
        assert!(out.contains(&format!("car {car}: drives through")), "{out}");
    }
    // A car that waits at red drives only after the light turned green.
    let waits = out.find("car 1: waits at red").expect("car 1 waits");
    let drives = out.find("car 1: drives through").unwrap();
    assert!(out[waits..drives].contains("light: green"), "{out}");
    assert_eq!(lines_starting(&out, "light: green").len(), 3, "{out}");
}

#[test]
fn queue_producer_waits_when_full() {
    let out = run_quick("queue");
    assert_eq!(lines_starting(&out, "produced").len(), 6, "{out}");
    assert_eq!(lines_starting(&out, "consumed").len(), 6, "{out}");
    // maxsize=2: the queue never holds more than two.
    assert!(!out.contains("queue size 3"), "{out}");
    // The producer had to wait: something was consumed before "produced 3".
    let produced3 = out.find("produced 3").unwrap();
    assert!(out[..produced3].contains("consumed 0"), "{out}");
    assert!(
        out.ends_with("queue.join(): every item consumed\n"),
        "{out}"
    );
}

#[test]
fn generator_iterator_and_context_manager() {
    let out = run_quick("generator");
    assert_eq!(
        lines_starting(&out, "[CONSUMER] Consuming").len(),
        5,
        "{out}"
    );
    assert_eq!(
        lines_starting(&out, "[PRODUCER] Consumer return: 200 OK").len(),
        5,
        "{out}"
    );
    let out = run_quick("async_iter");
    assert!(
        out.contains(r#"record 1: ["bob", "25"]"#),
        "a record split across feeds: {out}"
    );
    assert!(out.contains("the iterator ended after 3 records"), "{out}");
    let out = run_quick("async_context");
    assert!(out.contains("close (goodbye sent)"), "{out}");
    assert!(out.contains("close (dropped: no goodbye)"), "{out}");
    assert!(out.contains("second block: timed out"), "{out}");
    assert!(out.contains("lock held after the block: false"), "{out}");
}

#[test]
fn crawler_reports_every_url_of_a_failing_site() {
    // The in-process checks of each outcome are in `tests/crawler.rs`;
    // this is the program as a user runs it.
    let out = run_quick("crawler");
    let last = out.lines().last().unwrap();
    // "N URLs queued, N reported in ...": every URL has an outcome.
    let mut counts = last.split(' ').filter_map(|w| w.parse::<usize>().ok());
    let (queued, reported) = (counts.next().unwrap(), counts.next().unwrap());
    assert_eq!(queued, reported, "{out}");
    assert!(last.contains("URLs queued"), "{out}");
    assert!(last.ends_with("at most 3 requests at once"), "{out}");
    for (url, outcome) in [
        ("/boom", " 500 error (3 tries): server error 500"),
        ("/reset", " --- error (3 tries): Connection reset by peer"),
        ("/stall", " --- error (3 tries): no answer within"),
        ("/cut", " --- error (3 tries): "),
        ("/loop/b", " 302 redirect to /loop/a (already seen)"),
        ("/chain/3", " 302 error: redirect limit (3) reached"),
    ] {
        let line = format!("{url}{outcome}");
        assert_eq!(lines_starting(&out, &line).len(), 1, "{line}: {out}");
    }
    // A 503 the first time, the page the second (or later: a try that
    // was late under load is one more).
    let flaky = lines_starting(&out, "/flaky 200 ");
    assert!(flaky.len() == 1 && flaky[0].ends_with(" tries)"), "{out}");
}

#[test]
fn the_tour_runs_every_example() {
    let out = run_example("tour", &[], Duration::from_secs(120));
    let stops = lines_starting(&out, "== ");
    assert_eq!(stops.len(), 19, "{out}");
    assert!(out.contains("tour: 19 examples in"), "{out}");
    // The tour's Ctrl-C went through the real signal path, unless this
    // test was started with SIGINT ignored (which the tour inherits, and
    // which run() respects).
    if sigint_ignored() {
        assert!(out.contains("(skipped: SIGINT is ignored here"), "{out}");
    } else {
        assert!(out.contains("worker 1: done"), "{out}");
        assert!(out.contains("worker 3: cancelled"), "{out}");
        assert!(
            out.contains("interrupted: run() returned Interrupted"),
            "{out}"
        );
    }
}

/// True when this process ignores SIGINT (bit 2 of `SigIgn` in
/// `/proc/self/status`); its children inherit that.
fn sigint_ignored() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (libc::SIGINT - 1)) != 0)
}
