//! One test suite, every backend: each test is written against the
//! `Selector` trait and instantiated for epoll, poll and select at the end.

#[macro_use]
mod support;

use std::collections::BTreeSet;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::thread::JoinHandleExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use corio_reactor::{
    EVENT_READ, EVENT_WRITE, EpollSelector, EpollTimeouts, Events, PollSelector, SelectSelector,
    Selector, SelectorError, Waker,
};

const ZERO: Option<Duration> = Some(Duration::ZERO);

fn pair() -> (UnixStream, UnixStream) {
    UnixStream::pair().expect("socketpair")
}

fn ready_data<S: Selector<u32>>(sel: &mut S, timeout: Option<Duration>) -> Vec<(u32, Events)> {
    let mut ready: Vec<_> = sel
        .select(timeout)
        .expect("select")
        .into_iter()
        .map(|(key, events)| (key.data, events))
        .collect();
    ready.sort_by_key(|&(data, _)| data);
    ready
}

// ------------------------------------------------------------ semantics ---

fn level_triggered<S: Selector<u32>>(mut sel: S) {
    let (mut a, mut b) = pair();
    sel.register(b.as_raw_fd(), EVENT_READ, 7).unwrap();
    assert_eq!(ready_data(&mut sel, ZERO), vec![]);

    a.write_all(b"xy").unwrap();
    // Reported on every select until drained.
    for _ in 0..3 {
        assert_eq!(ready_data(&mut sel, ZERO), vec![(7, EVENT_READ)]);
    }
    let mut buf = [0; 1];
    b.read_exact(&mut buf).unwrap();
    assert_eq!(
        ready_data(&mut sel, ZERO),
        vec![(7, EVENT_READ)],
        "one byte left"
    );
    b.read_exact(&mut buf).unwrap();
    assert_eq!(ready_data(&mut sel, ZERO), vec![]);
}

fn reports_only_registered_events<S: Selector<u32>>(mut sel: S) {
    let (mut a, b) = pair();
    // b is writable (empty send buffer) but only read interest is registered.
    sel.register(b.as_raw_fd(), EVENT_READ, 1).unwrap();
    assert_eq!(ready_data(&mut sel, ZERO), vec![]);
    sel.modify(b.as_raw_fd(), EVENT_READ | EVENT_WRITE, 2)
        .unwrap();
    assert_eq!(ready_data(&mut sel, ZERO), vec![(2, EVENT_WRITE)]);
    a.write_all(b"!").unwrap();
    assert_eq!(
        ready_data(&mut sel, ZERO),
        vec![(2, EVENT_READ | EVENT_WRITE)]
    );
}

fn register_twice_is_already_registered<S: Selector<u32>>(mut sel: S) {
    let (_a, b) = pair();
    let fd = b.as_raw_fd();
    let key = sel.register(fd, EVENT_READ, 1).unwrap().clone();
    assert_eq!((key.fd, key.events, key.data), (fd, EVENT_READ, 1));
    let err = sel.register(fd, EVENT_WRITE, 2).unwrap_err();
    assert!(
        matches!(err, SelectorError::AlreadyRegistered { fd: f } if f == fd),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("{fd} (FD {fd}) is already registered")
    );
    // The first key is untouched.
    assert_eq!(sel.get_key(fd).unwrap(), &key);
    assert_eq!(sel.len(), 1);
}

fn unknown_fd_is_not_registered<S: Selector<u32>>(mut sel: S) {
    let (_a, b) = pair();
    let fd = b.as_raw_fd();
    assert!(matches!(sel.unregister(fd), Err(SelectorError::NotRegistered { fd: f }) if f == fd));
    assert!(matches!(
        sel.modify(fd, EVENT_READ, 0),
        Err(SelectorError::NotRegistered { .. })
    ));
    assert!(matches!(
        sel.get_key(fd),
        Err(SelectorError::NotRegistered { .. })
    ));
    assert!(matches!(
        sel.get_key(-3),
        Err(SelectorError::NotRegistered { fd: -3 })
    ));
    assert!(matches!(
        sel.unregister(100_000),
        Err(SelectorError::NotRegistered { .. })
    ));
    // Unregistering twice: the second time is NotRegistered.
    sel.register(fd, EVENT_READ, 0).unwrap();
    sel.unregister(fd).unwrap();
    let err = sel.unregister(fd).unwrap_err();
    assert_eq!(err.to_string(), format!("{fd} is not registered"));
}

fn bad_events_are_invalid<S: Selector<u32>>(mut sel: S) {
    let (_a, b) = pair();
    let fd = b.as_raw_fd();
    for events in [
        Events::NONE,
        Events::from_bits_retain(4),
        Events::from_bits_retain(1 | 8),
    ] {
        let err = sel.register(fd, events, 0).unwrap_err();
        assert!(
            matches!(err, SelectorError::InvalidEvents(e) if e == events),
            "{err:?}"
        );
        assert!(err.to_string().starts_with("Invalid events"));
    }
    assert_eq!(sel.len(), 0, "nothing registered by a refused call");
    sel.register(fd, EVENT_READ, 0).unwrap();
    let err = sel.modify(fd, Events::NONE, 1).unwrap_err();
    assert!(matches!(err, SelectorError::InvalidEvents(_)));
    let key = sel.get_key(fd).unwrap();
    assert_eq!(
        (key.events, key.data),
        (EVENT_READ, 0),
        "a refused modify changes nothing"
    );
}

fn negative_fd_is_invalid<S: Selector<u32>>(mut sel: S) {
    let err = sel.register(-1, EVENT_READ, 0).unwrap_err();
    assert!(
        matches!(err, SelectorError::InvalidFd { fd: -1 }),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "Invalid file descriptor: -1");
}

fn modify_changes_events_and_data<S: Selector<u32>>(mut sel: S) {
    let (_a, b) = pair();
    let fd = b.as_raw_fd();
    sel.register(fd, EVENT_READ, 1).unwrap();
    let key = sel.modify(fd, EVENT_READ, 9).unwrap();
    assert_eq!((key.events, key.data), (EVENT_READ, 9), "data-only change");
    let key = sel.modify(fd, EVENT_WRITE, 10).unwrap();
    assert_eq!((key.events, key.data), (EVENT_WRITE, 10));
    assert_eq!(ready_data(&mut sel, ZERO), vec![(10, EVENT_WRITE)]);
}

fn get_map_and_len<S: Selector<u32>>(mut sel: S) {
    let pairs: Vec<_> = (0..4).map(|_| pair()).collect();
    for (i, (_, b)) in pairs.iter().enumerate() {
        sel.register(b.as_raw_fd(), EVENT_READ, i as u32).unwrap();
    }
    assert_eq!(sel.len(), 4);
    let data: BTreeSet<u32> = sel.get_map().map(|key| key.data).collect();
    assert_eq!(data, (0..4).collect());
    let fds: Vec<RawFd> = sel.get_map().map(|key| key.fd).collect();
    assert!(fds.windows(2).all(|w| w[0] < w[1]), "fd order");
    sel.unregister(pairs[1].1.as_raw_fd()).unwrap();
    assert_eq!(sel.len(), 3);
    assert_eq!(sel.get_map().count(), 3);
}

// ------------------------------------------------------------- timeouts ---

fn select_zero_polls_and_none_blocks<S: Selector<u32> + Send + 'static>(mut sel: S) {
    let (mut a, b) = pair();
    sel.register(b.as_raw_fd(), EVENT_READ, 3).unwrap();
    let start = Instant::now();
    assert!(sel.select(ZERO).unwrap().is_empty());
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "ZERO must not block"
    );

    let writer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        a.write_all(b"wake").unwrap();
        a
    });
    let start = Instant::now();
    assert_eq!(ready_data(&mut sel, None), vec![(3, EVENT_READ)]);
    assert!(
        start.elapsed() >= Duration::from_millis(40),
        "None blocked until ready"
    );
    drop(writer.join().unwrap());
}

fn timeout_is_never_cut_short<S: Selector<u32>>(mut sel: S) {
    let (_a, b) = pair();
    sel.register(b.as_raw_fd(), EVENT_READ, 0).unwrap();
    for timeout in [
        Duration::from_millis(15),
        Duration::from_micros(1500),
        Duration::from_micros(10),
    ] {
        for _ in 0..10 {
            let start = Instant::now();
            assert!(sel.select(Some(timeout)).unwrap().is_empty());
            let waited = start.elapsed();
            assert!(waited >= timeout, "{timeout:?} returned after {waited:?}");
        }
    }
}

fn signal_does_not_surface_as_error<S: Selector<u32> + Send + 'static>(mut sel: S) {
    support::install_counting_handler(libc::SIGUSR1);
    let (_a, b) = pair();
    sel.register(b.as_raw_fd(), EVENT_READ, 0).unwrap();
    let timeout = Duration::from_millis(300);
    let selecting = thread::spawn(move || {
        let start = Instant::now();
        let result = sel.select(Some(timeout)).map(|ready| ready.len());
        (result, start.elapsed())
    });
    let before = support::SIGNALS_SEEN.load(Ordering::SeqCst);
    for _ in 0..3 {
        thread::sleep(Duration::from_millis(50));
        support::signal_thread(selecting.as_pthread_t(), libc::SIGUSR1);
    }
    let (result, waited) = selecting.join().unwrap();
    assert_eq!(result.expect("EINTR must be retried"), 0);
    assert!(
        waited >= timeout,
        "the remaining time was waited: {waited:?}"
    );
    assert!(
        support::SIGNALS_SEEN.load(Ordering::SeqCst) >= before + 3,
        "signals delivered"
    );
}

// ------------------------------------------------------ errors, hang-ups ---

fn hangup_reports_registered_events<S: Selector<u32>>(mut sel: S) {
    // Reader side: the peer closes; the reader is told READ and sees EOF.
    let (a, mut b) = pair();
    sel.register(b.as_raw_fd(), EVENT_READ, 1).unwrap();
    drop(a);
    assert_eq!(ready_data(&mut sel, ZERO), vec![(1, EVENT_READ)]);
    assert_eq!(b.read(&mut [0; 8]).unwrap(), 0, "EOF");
    sel.unregister(b.as_raw_fd()).unwrap();

    // Writer side: fill the buffer until not writable; the peer closes; the
    // writer is told WRITE and meets the error.
    let (c, mut d) = pair();
    d.set_nonblocking(true).unwrap();
    let chunk = [0u8; 4096];
    loop {
        match d.write(&chunk) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    sel.register(d.as_raw_fd(), EVENT_WRITE, 2).unwrap();
    assert_eq!(ready_data(&mut sel, ZERO), vec![], "full: not writable");
    drop(c);
    assert_eq!(ready_data(&mut sel, ZERO), vec![(2, EVENT_WRITE)]);
    assert_eq!(d.write(&chunk).unwrap_err().kind(), ErrorKind::BrokenPipe);
}

// -------------------------------------------------------------- closing ---

fn closed_selector_refuses<S: Selector<u32>>(mut sel: S) {
    let (_a, b) = pair();
    let fd = b.as_raw_fd();
    sel.register(fd, EVENT_READ, 0).unwrap();
    sel.close();
    assert!(sel.is_closed());
    sel.close(); // harmless
    assert!(matches!(sel.select(ZERO), Err(SelectorError::Closed)));
    assert!(matches!(
        sel.register(fd, EVENT_READ, 0),
        Err(SelectorError::Closed)
    ));
    assert!(matches!(sel.unregister(fd), Err(SelectorError::Closed)));
    assert!(matches!(
        sel.modify(fd, EVENT_READ, 0),
        Err(SelectorError::Closed)
    ));
    assert!(matches!(sel.get_key(fd), Err(SelectorError::Closed)));
    assert_eq!(sel.get_map().count(), 0);
    assert_eq!(sel.len(), 0);
    assert_eq!(SelectorError::Closed.to_string(), "Selector is closed");
    // The watched fd is the caller's: still open.
    assert!(b.try_clone().is_ok());
}

// ---------------------------------------------------------------- waker ---

fn waker_unblocks_select<S: Selector<u32> + Send + 'static>(mut sel: S) {
    let waker = Arc::new(Waker::new().unwrap());
    sel.register(waker.as_raw_fd(), EVENT_READ, 42).unwrap();
    let remote = Arc::clone(&waker);
    let thread = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        remote.wake().unwrap();
    });
    assert_eq!(ready_data(&mut sel, None), vec![(42, EVENT_READ)]);
    assert_eq!(waker.drain().unwrap(), 1);
    assert_eq!(ready_data(&mut sel, ZERO), vec![], "drained");
    thread.join().unwrap();
}

fn waker_never_loses_the_last_wake<S: Selector<u32>>(mut sel: S) {
    const THREADS: u64 = 8;
    const WAKES: u64 = 10_000;
    let waker = Arc::new(Waker::new().unwrap());
    sel.register(waker.as_raw_fd(), EVENT_READ, 0).unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (waker, sent) = (Arc::clone(&waker), Arc::clone(&sent));
            thread::spawn(move || {
                for _ in 0..WAKES {
                    sent.fetch_add(1, Ordering::SeqCst);
                    waker.wake().unwrap();
                }
            })
        })
        .collect();
    let mut drained = 0;
    // Drain, then check: a wake sent after the check makes the next select
    // return. Only a lost wake can make it block (and time out) here.
    loop {
        drained += waker.drain().unwrap();
        if sent.load(Ordering::SeqCst) == THREADS * WAKES && drained == THREADS * WAKES {
            break;
        }
        let ready = sel.select(Some(Duration::from_secs(20))).unwrap();
        assert_eq!(ready.len(), 1, "a wake was lost: drained {drained}");
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(drained, THREADS * WAKES, "every wake counted once");
    assert!(sel.select(ZERO).unwrap().is_empty());
}

// --------------------------------------------------------------- scale ---

fn high_fd_numbers_work<S: Selector<u32>>(mut sel: S) {
    let (mut a, b) = pair();
    let high = support::dup_at_least(&b, 1500);
    sel.register(high.as_raw_fd(), EVENT_READ, 1500).unwrap();
    a.write_all(b"x").unwrap();
    assert_eq!(ready_data(&mut sel, ZERO), vec![(1500, EVENT_READ)]);
}

// ------------------------------------------------------ instantiations ---

macro_rules! common_suite {
    ($backend:ident, $open:expr) => {
        suite!(
            $backend,
            $open,
            [
                level_triggered,
                reports_only_registered_events,
                register_twice_is_already_registered,
                unknown_fd_is_not_registered,
                bad_events_are_invalid,
                negative_fd_is_invalid,
                modify_changes_events_and_data,
                get_map_and_len,
                select_zero_polls_and_none_blocks,
                timeout_is_never_cut_short,
                signal_does_not_surface_as_error,
                hangup_reports_registered_events,
                closed_selector_refuses,
                waker_unblocks_select,
                waker_never_loses_the_last_wake,
            ]
        );
    };
}

common_suite!(epoll, EpollSelector::<u32>::new().unwrap());
/// An epoll selector forced onto the `epoll_wait` path (whole milliseconds,
/// rounded up), as on kernels older than 5.11.
fn epoll_milliseconds() -> EpollSelector<u32> {
    let mut sel = EpollSelector::<u32>::new().unwrap();
    let backend = sel.backend_mut().unwrap();
    backend.set_timeouts(EpollTimeouts::Milliseconds).unwrap();
    assert_eq!(backend.timeouts(), EpollTimeouts::Milliseconds);
    sel
}

suite!(
    epoll_milliseconds,
    epoll_milliseconds(),
    [
        level_triggered,
        select_zero_polls_and_none_blocks,
        timeout_is_never_cut_short,
        signal_does_not_surface_as_error,
        waker_unblocks_select,
    ]
);

common_suite!(poll, PollSelector::<u32>::new().unwrap());
common_suite!(select, SelectSelector::<u32>::new().unwrap());

suite!(
    epoll_high,
    EpollSelector::<u32>::new().unwrap(),
    [high_fd_numbers_work]
);
suite!(
    poll_high,
    PollSelector::<u32>::new().unwrap(),
    [high_fd_numbers_work]
);

#[test]
fn select_refuses_fds_past_fd_setsize() {
    let mut sel = SelectSelector::<u32>::new().unwrap();
    let (_a, b) = pair();
    let high = support::dup_at_least(&b, libc::FD_SETSIZE as RawFd + 10);
    let err = sel.register(high.as_raw_fd(), EVENT_READ, 0).unwrap_err();
    assert!(
        matches!(err, SelectorError::FdTooLarge { fd, limit } if fd == high.as_raw_fd() && limit == 1024),
        "{err:?}"
    );
    assert!(sel.is_empty());
    sel.register(b.as_raw_fd(), EVENT_READ, 1).unwrap(); // still usable
}

#[test]
fn epoll_refuses_regular_files_with_eperm() {
    let file = std::fs::File::open("/proc/self/status").unwrap();
    let mut sel = EpollSelector::<u32>::new().unwrap();
    let err = sel.register(file.as_raw_fd(), EVENT_READ, 0).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err:?}");
    assert!(sel.is_empty());
}
