//! Tests that depend on fd *numbers* (reuse of a closed number, counts of
//! open fds). They run in their own process, one at a time under `SERIAL`,
//! so no other test opens or closes fds in between.

mod support;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use corio_reactor::{
    EVENT_READ, EVENT_WRITE, EpollSelector, Events, PollSelector, SelectSelector, Selector,
    SelectorError, Waker,
};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Like `support`'s `suite!`, but each test holds `SERIAL` from before
/// its selector is opened until it ends.
macro_rules! serial_suite {
    ($backend:ident, $open:expr, [$($test:ident),* $(,)?]) => {
        mod $backend {
            use super::*;
            $(
                #[test]
                fn $test() {
                    let _serial = serial();
                    super::$test($open);
                }
            )*
        }
    };
}

const ZERO: Option<Duration> = Some(Duration::ZERO);

fn pair() -> (UnixStream, UnixStream) {
    UnixStream::pair().expect("socketpair")
}

fn ready_data<S: Selector<u32>>(sel: &mut S, timeout: Option<Duration>) -> Vec<(u32, Events)> {
    let ready = sel.select(timeout).expect("select");
    ready
        .into_iter()
        .map(|(key, events)| (key.data, events))
        .collect()
}

fn unregister_after_close_then_reuse_the_number<S: Selector<u32>>(mut sel: S) {
    let (a_peer, a) = pair();
    let fd = a.as_raw_fd();
    sel.register(fd, EVENT_READ, 1).unwrap();
    drop(a); // closed behind the selector's back
    drop(a_peer);
    let key = sel
        .unregister(fd)
        .expect("unregister of a closed fd succeeds");
    assert_eq!(key.data, 1);
    assert!(sel.is_empty());

    // The kernel hands out the lowest free number: `fd` again.
    let (b_peer, b) = pair();
    let (b_fd, b_peer_fd) = (b.as_raw_fd(), b_peer.as_raw_fd());
    assert!(b_fd == fd || b_peer_fd == fd, "number {fd} was reused");
    let (mut writer, reader) = if b_fd == fd { (b_peer, b) } else { (b, b_peer) };
    sel.register(fd, EVENT_READ, 2).unwrap();
    assert_eq!(ready_data(&mut sel, ZERO), vec![]);
    writer.write_all(b"new").unwrap();
    assert_eq!(ready_data(&mut sel, ZERO), vec![(2, EVENT_READ)]);
    drop(reader);
}

/// The close/dup trap: the old file lives on through a duplicate, so epoll
/// keeps its registration under the old number. Its events must never be
/// reported as the new fd's.
fn dup_trap_events_are_not_confused<S: Selector<u32>>(mut sel: S) {
    let (mut a_peer, a) = pair();
    let fd = a.as_raw_fd();
    sel.register(fd, EVENT_READ, 1).unwrap();
    let a_dup = a.try_clone().unwrap(); // keeps the file description alive
    drop(a);
    sel.unregister(fd)
        .expect("unregister of a closed fd succeeds");

    let (b_peer, b) = pair();
    let (mut writer, reader) = if b.as_raw_fd() == fd {
        (b_peer, b)
    } else {
        (b, b_peer)
    };
    assert_eq!(reader.as_raw_fd(), fd, "number reused");
    sel.register(fd, EVENT_READ, 2).unwrap();

    a_peer.write_all(b"old file").unwrap(); // the old file becomes readable
    for _ in 0..3 {
        assert_eq!(
            ready_data(&mut sel, ZERO),
            vec![],
            "old file's event leaked"
        );
    }
    writer.write_all(b"new file").unwrap();
    assert_eq!(ready_data(&mut sel, ZERO), vec![(2, EVENT_READ)]);
    drop(a_dup);
}

fn many_fds_report_exactly_the_ready_ones<S: Selector<u32>>(mut sel: S) {
    const PAIRS: usize = 5_000; // both ends registered: 10,000 fds
    support::raise_fd_limit(2 * PAIRS as u64 + 200);
    let mut pairs: Vec<_> = (0..PAIRS).map(|_| pair()).collect();
    for (i, (a, b)) in pairs.iter().enumerate() {
        sel.register(a.as_raw_fd(), EVENT_READ, 2 * i as u32)
            .unwrap();
        sel.register(b.as_raw_fd(), EVENT_READ, 2 * i as u32 + 1)
            .unwrap();
    }
    assert_eq!(sel.len(), 2 * PAIRS);
    let mut expected = BTreeSet::new();
    for (i, (a, _)) in pairs.iter_mut().enumerate().filter(|(i, _)| i % 7 == 3) {
        a.write_all(b"x").unwrap();
        expected.insert(2 * i as u32 + 1); // b became readable
    }
    // One select may report a bufferful; the buffer grows until one select
    // sees them all. Every report must be a ready fd.
    let mut complete = false;
    for _ in 0..12 {
        let got = ready_data(&mut sel, ZERO);
        assert!(!got.is_empty());
        assert!(
            got.iter()
                .all(|&(d, e)| expected.contains(&d) && e == EVENT_READ)
        );
        let set: BTreeSet<u32> = got.iter().map(|&(d, _)| d).collect();
        assert_eq!(set.len(), got.len(), "no duplicates");
        if set == expected {
            complete = true;
            break;
        }
    }
    assert!(
        complete,
        "a single select reported all {} ready fds",
        expected.len()
    );
    for (_, b) in pairs.iter_mut().skip(3).step_by(7) {
        b.read_exact(&mut [0; 1]).unwrap();
    }
    assert_eq!(ready_data(&mut sel, ZERO), vec![]);
}

fn closed_fd_is_ebadf_and_selector_survives<S: Selector<u32>>(mut sel: S) {
    let (_a, b) = pair();
    let stale: RawFd = b.as_raw_fd();
    drop(b);
    let err = sel.register(stale, EVENT_READ, 0).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{err:?}");
    assert_eq!(sel.len(), 0);
    // Still usable.
    let (mut c, d) = pair();
    sel.register(d.as_raw_fd(), EVENT_READ, 5).unwrap();
    c.write_all(b"x").unwrap();
    assert_eq!(ready_data(&mut sel, ZERO), vec![(5, EVENT_READ)]);
}

fn modify_of_a_closed_fd_unregisters<S: Selector<u32>>(mut sel: S) {
    let (_a, b) = pair();
    let fd = b.as_raw_fd();
    sel.register(fd, EVENT_READ, 1).unwrap();
    drop(b);
    let err = sel.modify(fd, EVENT_WRITE, 2).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{err:?}");
    assert!(matches!(
        sel.get_key(fd),
        Err(SelectorError::NotRegistered { .. })
    ));
    assert!(sel.is_empty());
}

serial_suite!(
    epoll,
    EpollSelector::<u32>::new().unwrap(),
    [
        closed_fd_is_ebadf_and_selector_survives,
        modify_of_a_closed_fd_unregisters,
        many_fds_report_exactly_the_ready_ones,
        unregister_after_close_then_reuse_the_number,
        dup_trap_events_are_not_confused,
    ]
);
serial_suite!(
    poll,
    PollSelector::<u32>::new().unwrap(),
    [
        closed_fd_is_ebadf_and_selector_survives,
        modify_of_a_closed_fd_unregisters,
        many_fds_report_exactly_the_ready_ones,
        unregister_after_close_then_reuse_the_number,
        dup_trap_events_are_not_confused,
    ]
);
serial_suite!(
    select,
    SelectSelector::<u32>::new().unwrap(),
    [
        closed_fd_is_ebadf_and_selector_survives,
        modify_of_a_closed_fd_unregisters,
        unregister_after_close_then_reuse_the_number,
        dup_trap_events_are_not_confused,
    ]
);

/// Creates and drops `n` selectors of one kind, some closed first, and
/// returns the change in the process's open fd count.
fn fd_delta<S: Selector<u32>>(n: usize, open: impl Fn() -> S) -> isize {
    let (_a, b) = pair();
    let before = support::open_fd_count();
    for i in 0..n {
        let mut sel = open();
        sel.register(b.as_raw_fd(), EVENT_READ, 0).unwrap();
        if i % 2 == 0 {
            sel.close();
        }
    }
    support::open_fd_count() as isize - before as isize
}

#[test]
fn dropping_selectors_and_wakers_closes_their_fds() {
    let _serial = serial();
    assert_eq!(fd_delta(1_000, || EpollSelector::<u32>::new().unwrap()), 0);
    assert_eq!(fd_delta(1_000, || PollSelector::<u32>::new().unwrap()), 0);
    assert_eq!(fd_delta(1_000, || SelectSelector::<u32>::new().unwrap()), 0);

    // Keeping them alive shows the count does move: the check can fail.
    let before = support::open_fd_count();
    let alive: Vec<_> = (0..10)
        .map(|_| EpollSelector::<u32>::new().unwrap())
        .collect();
    assert_eq!(support::open_fd_count(), before + 10);
    drop(alive);
    assert_eq!(support::open_fd_count(), before);

    let before = support::open_fd_count();
    for _ in 0..1_000 {
        Waker::new().unwrap().wake().unwrap();
    }
    assert_eq!(support::open_fd_count(), before);
}

#[test]
fn watched_fds_stay_open_after_close() {
    let _serial = serial();
    let (mut a, b) = pair();
    let mut sel = EpollSelector::<u32>::new().unwrap();
    sel.register(b.as_raw_fd(), EVENT_READ, 0).unwrap();
    sel.close();
    a.write_all(b"still here").unwrap();
    let mut other = EpollSelector::<u32>::new().unwrap();
    other.register(b.as_raw_fd(), EVENT_READ, 1).unwrap();
    assert_eq!(ready_data(&mut other, ZERO), vec![(1, EVENT_READ)]);
}
