//! The edges of a loop's life: close and drop never panic, never leak,
//! never lose a wake-up; misuse is an error, never a hang.
//!
//! No test harness: the cases run one by one in this process, and each is
//! checked for what it leaves behind — open fds (`/proc/self/fd`) and
//! threads (`/proc/self/task`). CI also runs this binary under valgrind
//! (`--leak-check=full --errors-for-leak-kinds=definite`), so an invalid
//! access or a definite leak anywhere on these paths fails the build.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::{
    EventLoop, LoopError, Protocol, RunError, StreamReader, StreamWriter, TaskError, Transport,
    create_task, get_running_loop, run, sleep, timeout, wait_for, yield_now,
};

type Case = (&'static str, fn() -> Result<(), String>);

const CASES: &[Case] = &[
    (
        "close_with_a_handler_parked_in_readline",
        close_with_a_handler_parked_in_readline,
    ),
    (
        "objects_dropped_after_their_loop_closed",
        objects_dropped_after_their_loop_closed,
    ),
    (
        "writer_dropped_after_run_returned",
        writer_dropped_after_run_returned,
    ),
    (
        "a_process_dropped_after_its_loop",
        a_process_dropped_after_its_loop,
    ),
    ("a_dropped_loop_is_closed", a_dropped_loop_is_closed),
    (
        "another_loop_running_leaks_nothing",
        another_loop_running_leaks_nothing,
    ),
    (
        "a_stale_run_does_not_stop_a_later_one",
        a_stale_run_does_not_stop_a_later_one,
    ),
    (
        "run_with_protocol_connections_open",
        run_with_protocol_connections_open,
    ),
    (
        "threadsafe_call_to_a_dropped_loop",
        threadsafe_call_to_a_dropped_loop,
    ),
    (
        "awaiting_a_task_of_another_loop",
        awaiting_a_task_of_another_loop,
    ),
    ("huge_durations_saturate", huge_durations_saturate),
    (
        "a_panicking_protocol_loses_its_connection",
        a_panicking_protocol_loses_its_connection,
    ),
    (
        "background_tasks_holding_themselves_are_freed",
        background_tasks_holding_themselves_are_freed,
    ),
    (
        "close_survives_a_panicking_destructor",
        close_survives_a_panicking_destructor,
    ),
];

fn main() {
    // Some cases panic on purpose (a protocol, an unwinding drop): one
    // line each, not a backtrace.
    std::panic::set_hook(Box::new(|info| eprintln!("(expected panic) {info}")));
    // `lifecycle NAME` runs only the cases whose name contains NAME.
    let only = std::env::args().nth(1);
    let cases = CASES
        .iter()
        .filter(|(name, _)| only.as_deref().is_none_or(|only| name.contains(only)));
    let mut failures = Vec::new();
    let mut ran = 0;
    for (name, case) in cases {
        ran += 1;
        let (fds, threads) = (open_fds(), live_threads());
        let outcome = std::panic::catch_unwind(case);
        let (fds_after, threads_after) = (open_fds(), live_threads());
        let problem = match outcome {
            Ok(Ok(())) if fds_after != fds => Some(format!("{fds} fds before, {fds_after} after")),
            Ok(Ok(())) if threads_after > threads => {
                Some(format!("{threads} threads before, {threads_after} after"))
            }
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some("panicked".to_string()),
        };
        match problem {
            None => println!("lifecycle {name} ... ok"),
            Some(problem) => {
                println!("lifecycle {name} ... FAILED: {problem}");
                failures.push(name);
            }
        }
    }
    let passed = ran - failures.len();
    println!("lifecycle: {passed} passed, {} failed", failures.len());
    if !failures.is_empty() {
        std::process::exit(1);
    }
}

use testkit::{live_threads, open_fds, rss_kib};

fn check(ok: bool, what: impl Into<String>) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what.into()) }
}

/// A server whose handler parks in `readline`, and a client that sent
/// nothing: both ends' reader/writer pairs are left inside the loop.
async fn parked_connection() -> io::Result<(corio::net::Server, StreamReader, StreamWriter)> {
    let parked = Rc::new(Cell::new(false));
    let flag = parked.clone();
    let server = corio::start_server(
        move |reader: StreamReader, _writer: StreamWriter| {
            let flag = flag.clone();
            async move {
                flag.set(true);
                let _ = reader.readline().await;
            }
        },
        "127.0.0.1",
        0,
    )
    .await?;
    let port = server.addresses()[0].port();
    let (reader, writer) = corio::open_connection("127.0.0.1", port).await?;
    while !parked.get() {
        sleep(Duration::from_millis(1)).await;
    }
    Ok((server, reader, writer))
}

// ----------------------------------------------------------- close/drop ---

fn close_with_a_handler_parked_in_readline() -> Result<(), String> {
    let lp = EventLoop::new().map_err(|e| e.to_string())?;
    let parts = lp
        .run_until_complete(parked_connection())
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    lp.close().map_err(|e| e.to_string())?;
    check(lp.is_closed(), "not closed")?;
    drop(parts); // after close: each closes its fd silently
    drop(lp);
    Ok(())
}

fn objects_dropped_after_their_loop_closed() -> Result<(), String> {
    let lp = EventLoop::new().map_err(|e| e.to_string())?;
    let (server, transport, listener, stream) = lp
        .run_until_complete(async {
            let server =
                corio::net::create_server(|| Quiet, "127.0.0.1", 0, Default::default()).await?;
            let port = server.addresses()[0].port();
            let (transport, _) = corio::net::create_connection(|| Quiet, "127.0.0.1", port).await?;
            let listener = corio::net::TcpListener::bind("127.0.0.1", 0).await?;
            let port = listener.local_addr()?.port();
            let stream = corio::net::TcpStream::connect("127.0.0.1", port).await?;
            io::Result::Ok((server, transport, listener, stream))
        })
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    lp.close().map_err(|e| e.to_string())?;
    drop((server, transport, listener, stream));
    drop(lp);
    Ok(())
}

fn writer_dropped_after_run_returned() -> Result<(), String> {
    let parts = run(parked_connection()).map_err(|e| e.to_string())?;
    let (server, reader, writer) = parts.map_err(|e| e.to_string())?;
    // The loop is gone: each end closes its fd, with no panic. Dropped while
    // another panic unwinds too (a panic in a drop then would abort).
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _dropped_while_unwinding = (server, reader, writer);
        panic!("unwinding");
    }));
    check(unwound.is_err(), "the panic did not unwind")
}

fn a_process_dropped_after_its_loop() -> Result<(), String> {
    let threads = live_threads();
    let spawned = run(async {
        corio::create_subprocess_exec("sleep", ["0.2"], corio::subprocess::ProcessOptions::piped())
            .await
    })
    .map_err(|e| e.to_string())?;
    let process = match spawned {
        Ok(process) => process,
        // valgrind does not know pidfd_open: nothing to check under it.
        Err(e) if e.kind() == io::ErrorKind::Unsupported => {
            println!("lifecycle a_process_dropped_after_its_loop: skipped ({e})");
            return Ok(());
        }
        Err(e) => return Err(e.to_string()),
    };
    let pid = process.pid();
    drop(process); // its pipes and pidfd close; a thread reaps the child
    // The reaper thread ends once the child has exited: no zombie left.
    let deadline = Instant::now() + Duration::from_secs(10);
    while live_threads() > threads && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.split_whitespace().nth(2) == Some("Z"));
    check(!zombie, format!("child {pid} left a zombie"))
}

fn a_dropped_loop_is_closed() -> Result<(), String> {
    let lp = EventLoop::new().map_err(|e| e.to_string())?;
    let handle = lp.handle();
    let parts = lp
        .run_until_complete(parked_connection())
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    lp.call_later(Duration::from_secs(3600), || {});
    lp.create_task(sleep(Duration::from_secs(3600)));
    drop(lp); // no close()
    check(handle.is_closed(), "dropped, but not closed")?;
    drop(parts);
    Ok(())
}

fn another_loop_running_leaks_nothing() -> Result<(), String> {
    const TRIES: usize = 1000;
    let outer = EventLoop::new().map_err(|e| e.to_string())?;
    let (fds, rss) = (open_fds(), rss_kib());
    let refused = outer
        .run_until_complete(async {
            let mut refused = 0;
            for _ in 0..TRIES {
                let inner = EventLoop::new().expect("a loop");
                let ran = Rc::new(Cell::new(false));
                let r = ran.clone();
                if let Err(RunError::Loop(LoopError::AnotherLoopRunning)) =
                    inner.run_until_complete(async move { r.set(true) })
                {
                    refused += 1;
                }
                assert!(!ran.get(), "the refused loop ran its future");
            }
            refused
        })
        .map_err(|e| e.to_string())?;
    check(refused == TRIES, format!("{refused} of {TRIES} refused"))?;
    let (fds_after, rss_after) = (open_fds(), rss_kib());
    check(
        fds_after == fds,
        format!("{fds} fds before, {fds_after} after"),
    )?;
    // Under valgrind, freed blocks wait in its quarantine (20 MB) before
    // reuse, so RSS grows with what the 1000 loops allocated and freed; the
    // leak check of that run is the check there.
    if !under_valgrind() {
        check(
            rss_after < rss + 4 * 1024,
            format!("RSS {rss} KiB before, {rss_after} KiB after {TRIES} refused runs"),
        )?;
    }
    outer.close().map_err(|e| e.to_string())
}

/// True when this process runs under valgrind (its preloaded library is
/// mapped).
fn under_valgrind() -> bool {
    std::fs::read_to_string("/proc/self/maps").is_ok_and(|maps| maps.contains("vgpreload"))
}

fn a_stale_run_does_not_stop_a_later_one() -> Result<(), String> {
    // A virtual clock: no real time can pass inside one iteration (it does
    // under valgrind), so the first run is surely stopped first.
    let lp =
        EventLoop::with_clock(corio::timer::Clock::virtual_clock()).map_err(|e| e.to_string())?;
    // The first run is stopped before its task is done...
    let stopper = lp.clone();
    lp.call_soon(move || stopper.stop());
    let first = lp.run_until_complete(sleep(Duration::from_millis(5)));
    check(
        matches!(first, Err(RunError::Loop(LoopError::StoppedBeforeComplete))),
        format!("first run: {first:?}"),
    )?;
    // ...and finishes during the second, which must not stop with it.
    let second = lp.run_until_complete(async {
        sleep(Duration::from_millis(30)).await;
        "second"
    });
    check(
        second.as_ref().ok() == Some(&"second"),
        format!("second run: {second:?}"),
    )?;
    lp.close().map_err(|e| e.to_string())
}

/// A protocol that counts its drops and its `connection_lost` calls.
struct Counted {
    drops: Rc<Cell<usize>>,
    lost: Rc<Cell<usize>>,
    transport: Option<Transport>,
}

impl Protocol for Counted {
    fn connection_made(&mut self, transport: Transport) {
        self.transport = Some(transport); // the protocol <-> transport cycle
    }
    fn connection_lost(&mut self, _: Option<io::Error>) {
        self.lost.set(self.lost.get() + 1);
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

fn run_with_protocol_connections_open() -> Result<(), String> {
    let (drops, lost) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let (d, l) = (drops.clone(), lost.clone());
    run(async move {
        let factory = {
            let (d, l) = (d.clone(), l.clone());
            move || Counted {
                drops: d.clone(),
                lost: l.clone(),
                transport: None,
            }
        };
        let server = corio::net::create_server(factory, "127.0.0.1", 0, Default::default()).await?;
        let port = server.addresses()[0].port();
        for _ in 0..3 {
            let (d, l) = (d.clone(), l.clone());
            let factory = move || Counted {
                drops: d,
                lost: l,
                transport: None,
            };
            corio::net::create_connection(factory, "127.0.0.1", port).await?;
        }
        sleep(Duration::from_millis(10)).await; // the server side is up
        io::Result::Ok(()) // returns with six connections open
    })
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    check(
        drops.get() == 6,
        format!("{} of 6 protocols dropped", drops.get()),
    )?;
    check(lost.get() == 0, "a protocol callback ran during close")
}

fn threadsafe_call_to_a_dropped_loop() -> Result<(), String> {
    let lp = EventLoop::new().map_err(|e| e.to_string())?;
    let handle = lp.handle();
    drop(lp);
    let sent = std::thread::spawn(move || handle.call_soon_threadsafe(|| {}))
        .join()
        .map_err(|_| "the thread panicked")?;
    check(sent == Err(LoopError::Closed), format!("{sent:?}"))
}

// --------------------------------------------------------------- misuse ---

fn awaiting_a_task_of_another_loop() -> Result<(), String> {
    let other = EventLoop::new().map_err(|e| e.to_string())?;
    let foreign = other.create_task(async { 1 });
    let lp = EventLoop::new().map_err(|e| e.to_string())?;
    // A hang would be the bug: a watchdog stops the loop after 10 s.
    let watchdog = lp.handle();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let guard = std::thread::spawn(move || {
        if finished.recv_timeout(Duration::from_secs(10)).is_err() {
            let _ = watchdog.stop();
        }
    });
    let outcome = lp.run_until_complete(foreign); // awaited by a task of `lp`
    drop(done);
    guard.join().map_err(|_| "the watchdog panicked")?;
    lp.close().map_err(|e| e.to_string())?;
    other.close().map_err(|e| e.to_string())?;
    match outcome {
        Err(RunError::Task(TaskError::Panicked(message)))
            if message.contains("attached to a different loop") =>
        {
            Ok(())
        }
        other => Err(format!("{other:?}")),
    }
}

fn huge_durations_saturate() -> Result<(), String> {
    run(async {
        let max = Duration::MAX;
        check(
            timeout(max, async { 5 }).await == Ok(5),
            "timeout(MAX, ready)",
        )?;
        check(
            wait_for(async { 6 }, Some(max)).await.ok() == Some(6),
            "wait_for(ready, MAX)",
        )?;
        check(
            timeout(Duration::from_millis(5), sleep(max)).await.is_err(),
            "sleep(MAX) ended",
        )?;
        let lp = get_running_loop().map_err(|e| e.to_string())?;
        let fired = Rc::new(Cell::new(false));
        let f = fired.clone();
        let later = lp.call_later(max, move || f.set(true));
        let far = Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600);
        let at = lp.call_at(far, || {});
        sleep(Duration::from_millis(2)).await;
        later.cancel();
        at.cancel();
        check(!fired.get(), "call_later(MAX) fired")?;
        let task = create_task(async { 7 });
        let mut completed = corio::as_completed(vec![task], Some(max));
        check(completed.next().await.is_some(), "as_completed(MAX)")?;
        let shielded = corio::shield(create_task(async { 8 }));
        check(
            wait_for(shielded, Some(max)).await.is_ok(),
            "wait_for(shield, MAX)",
        )?;
        yield_now().await;
        Ok(())
    })
    .map_err(|e| e.to_string())?
}

/// A protocol that panics on data, and one that stays quiet.
struct Panicky {
    lost: Rc<RefCell<Option<String>>>,
}

impl Protocol for Panicky {
    fn data_received(&mut self, _: &[u8]) {
        panic!("bad data");
    }
    fn connection_lost(&mut self, exc: Option<io::Error>) {
        *self.lost.borrow_mut() = Some(exc.map_or("none".into(), |e| e.to_string()));
    }
}

struct Quiet;
impl Protocol for Quiet {}

fn a_panicking_protocol_loses_its_connection() -> Result<(), String> {
    let lost = Rc::new(RefCell::new(None));
    let (l, seen) = (lost.clone(), lost.clone());
    run(async move {
        let lp = get_running_loop()?;
        lp.set_exception_handler(Some(|_: &corio::ExceptionContext| {}));
        let factory = move || Panicky { lost: l.clone() };
        let server = corio::net::create_server(factory, "127.0.0.1", 0, Default::default()).await?;
        let port = server.addresses()[0].port();
        let (_bad_reader, bad) = corio::open_connection("127.0.0.1", port).await?;
        let (good_reader, good) = corio::open_connection("127.0.0.1", port).await?;
        bad.write(b"boom")?;
        // However slow the machine (valgrind), until the panic closed it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen.borrow().is_none() && Instant::now() < deadline {
            sleep(Duration::from_millis(2)).await;
        }
        // The loop goes on, and so does the other connection.
        good.write(b"still here")?;
        good.write_eof();
        let _ = good_reader.read(-1).await;
        drop((bad, good, server));
        Ok::<_, Box<dyn std::error::Error>>(())
    })
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    let lost = lost.borrow().clone();
    check(
        lost.as_deref().is_some_and(|l| l.contains("bad data")),
        format!("connection_lost got {lost:?}"),
    )
}

/// Sets its flag when dropped: shows that what held it was freed.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// asyncio's background-tasks idiom: a set of tasks, each with a done
/// callback that removes it from the set (so the callback holds the task).
/// Tasks still pending when the loop goes are freed with it (valgrind
/// would see each cell "definitely lost").
fn background_tasks_holding_themselves_are_freed() -> Result<(), String> {
    let flags: Vec<_> = (0..100).map(|_| Rc::new(Cell::new(false))).collect();
    let lp = EventLoop::new().map_err(|e| e.to_string())?;
    lp.set_exception_handler(Some(|_: &corio::ExceptionContext| {}));
    let background = Rc::new(RefCell::new(Vec::new()));
    for flag in &flags {
        let flag = DropFlag(flag.clone());
        let task = lp.create_task(async move {
            let _flag = flag;
            sleep(Duration::from_secs(3600)).await;
        });
        let (set, me) = (background.clone(), task.clone());
        task.add_done_callback(move |_| {
            set.borrow_mut()
                .retain(|t: &corio::Task<()>| !t.as_ref().same(&me.as_ref()));
        });
        background.borrow_mut().push(task);
    }
    lp.run_until_complete(yield_now())
        .map_err(|e| e.to_string())?;
    background.borrow_mut().clear();
    drop(lp); // pending: dropped with the loop, callbacks and all
    let leaked = flags.iter().filter(|f| !f.get()).count();
    check(leaked == 0, format!("{leaked} of 100 tasks leaked"))
}

struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("destructor failed");
    }
}

/// A coroutine whose destructor panics when `close` drops it, with a
/// server, a connection and a timer open: `close` finishes (closed, every
/// fd released), and the panic is reported, not propagated.
fn close_survives_a_panicking_destructor() -> Result<(), String> {
    let reported = Rc::new(Cell::new(0));
    let seen = reported.clone();
    let lp = EventLoop::new().map_err(|e| e.to_string())?;
    lp.set_exception_handler(Some(move |ctx: &corio::ExceptionContext| {
        if ctx.message.contains("Exception while dropping") {
            seen.set(seen.get() + 1);
        }
    }));
    let parts = lp
        .run_until_complete(parked_connection())
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    lp.create_task(async move {
        let _parts = parts;
        let _bomb = PanicOnDrop;
        sleep(Duration::from_secs(3600)).await;
    });
    let bomb = PanicOnDrop;
    lp.call_later(Duration::from_secs(3600), move || drop(bomb));
    lp.run_until_complete(yield_now())
        .map_err(|e| e.to_string())?;
    let closed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.close()));
    check(matches!(closed, Ok(Ok(()))), "close did not finish")?;
    check(lp.is_closed(), "not closed")?;
    check(
        reported.get() == 2,
        format!("{} panics reported, 2 expected", reported.get()),
    )
}
