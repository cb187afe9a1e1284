//! The selector interface and its shared bookkeeping.
//!
//! Python splits a selector in two: `_BaseSelectorImpl` keeps the
//! fd → key map and enforces the error rules, and each subclass
//! (`EpollSelector`, `PollSelector`, `SelectSelector`) only translates to its
//! syscall. corio keeps the same seam: [`BaseSelector`] is the one place that
//! validates, records keys and interprets readiness, and a [`Backend`] only
//! talks to the kernel.

use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use crate::{Events, SelectorError};

/// What a selector remembers about one registered fd.
///
/// Mirrors Python's `selectors.SelectorKey(fileobj, fd, events, data)`;
/// differs in having no `fileobj` (a Rust caller keeps its own objects and
/// hands the selector their raw fd).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorKey<T> {
    /// The watched file descriptor. The selector does not own it: closing it
    /// stays the caller's job, and should come after `unregister`.
    pub fd: RawFd,
    /// The events the caller registered interest in.
    pub events: Events,
    /// The caller's value, handed back with every ready event: typically the
    /// callback to run (Python's echo example) or a token naming the owner.
    pub data: T,
}

/// The interface of every selector. Python's `selectors.BaseSelector`.
///
/// All three selectors of this crate implement it through [`BaseSelector`],
/// so code (and tests) written against the trait runs on each of them.
///
/// Readiness is *level-triggered*, as in Python: an fd that is readable is
/// reported by every `select` until the caller drains it.
pub trait Selector<T> {
    /// Starts watching `fd` for `events`, remembering `data` with it.
    ///
    /// Mirrors `BaseSelector.register(fileobj, events, data=None)`; differs in
    /// taking a raw fd and requiring `data` (pass `()` for none).
    ///
    /// # Errors
    /// - [`SelectorError::AlreadyRegistered`] when `fd` already has a key;
    /// - [`SelectorError::InvalidEvents`] when `events` is empty or has
    ///   unknown bits;
    /// - [`SelectorError::InvalidFd`] when `fd` is negative;
    /// - [`SelectorError::FdTooLarge`] when the backend cannot watch `fd`
    ///   (select(2) past `FD_SETSIZE`);
    /// - [`SelectorError::Os`] when the kernel refuses (EBADF for an fd that
    ///   is not open); the selector stays usable;
    /// - [`SelectorError::Closed`] after [`close`](Self::close).
    fn register(
        &mut self,
        fd: RawFd,
        events: Events,
        data: T,
    ) -> Result<&SelectorKey<T>, SelectorError>;

    /// Stops watching `fd` and returns its key.
    ///
    /// Mirrors `BaseSelector.unregister(fileobj)`. As in Python, the key is
    /// removed whatever the kernel answers (Python's `except OSError:
    /// pass`): an fd that was already closed elsewhere is still
    /// unregistered successfully, since close-then-unregister is a common
    /// order and must not leave a stale key behind.
    ///
    /// # Errors
    /// - [`SelectorError::NotRegistered`] when `fd` has no key, and only then
    ///   (besides [`SelectorError::Closed`] after `close`).
    fn unregister(&mut self, fd: RawFd) -> Result<SelectorKey<T>, SelectorError>;

    /// Changes the events and data of a registered fd.
    ///
    /// Mirrors `BaseSelector.modify(fileobj, events, data=None)`: the kernel
    /// is only told when the events change; a data-only change is pure
    /// bookkeeping.
    ///
    /// # Errors
    /// - [`SelectorError::NotRegistered`], [`SelectorError::InvalidEvents`],
    ///   [`SelectorError::Closed`] as for `register`;
    /// - [`SelectorError::Os`] when the kernel refuses; as in Python, the key
    ///   is then unregistered, since the fd is no longer watched as recorded.
    fn modify(
        &mut self,
        fd: RawFd,
        events: Events,
        data: T,
    ) -> Result<&SelectorKey<T>, SelectorError>;

    /// Waits until registered fds are ready, or `timeout` passes, and calls
    /// `on_ready(key, events)` for each ready key; returns how many.
    ///
    /// The allocation-free form of [`select`](Self::select), for event loops.
    /// `timeout`: `None` blocks, `Some(ZERO)` polls, anything else waits at
    /// least that long unless an fd becomes ready (never less: a signal's
    /// EINTR and a kernel's early return are retried with the remaining
    /// time). `events` is the ready subset of the key's registered events;
    /// an error or hang-up on the fd is reported as ready for every
    /// registered event, so the reader or writer meets it.
    ///
    /// # Errors
    /// [`SelectorError::Closed`] after `close`; [`SelectorError::Os`] when the
    /// wait itself fails (select(2) with an fd closed behind its back: EBADF).
    fn select_with<F>(
        &mut self,
        timeout: Option<Duration>,
        on_ready: F,
    ) -> Result<usize, SelectorError>
    where
        F: FnMut(&SelectorKey<T>, Events);

    /// Waits like [`select_with`](Self::select_with) and returns the ready
    /// `(key, events)` pairs.
    ///
    /// Mirrors `BaseSelector.select(timeout=None)`; differs in returning
    /// clones of the keys, so the caller may register, modify and unregister
    /// while walking the list (Python's echo example does).
    ///
    /// # Errors
    /// As for [`select_with`](Self::select_with).
    fn select(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Vec<(SelectorKey<T>, Events)>, SelectorError>
    where
        T: Clone,
    {
        let mut ready = Vec::new();
        self.select_with(timeout, |key, events| ready.push((key.clone(), events)))?;
        Ok(ready)
    }

    /// The key of `fd`. Mirrors `BaseSelector.get_key(fileobj)`.
    ///
    /// # Errors
    /// [`SelectorError::NotRegistered`]; [`SelectorError::Closed`] after
    /// `close` (Python: `RuntimeError`).
    fn get_key(&self, fd: RawFd) -> Result<&SelectorKey<T>, SelectorError>;

    /// Every registered key, in fd order. Mirrors `BaseSelector.get_map()`;
    /// differs in being an iterator rather than a mapping (use
    /// [`get_key`](Self::get_key) to look one up). Empty after `close`.
    fn get_map<'a>(&'a self) -> impl Iterator<Item = &'a SelectorKey<T>>
    where
        T: 'a;

    /// How many fds are registered. Python: `len(sel.get_map())`.
    fn len(&self) -> usize;

    /// True when no fd is registered.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every key and releases the kernel object (the epoll fd).
    /// Mirrors `BaseSelector.close()`: closing twice is harmless. Dropping a
    /// selector closes it too.
    fn close(&mut self);

    /// True after [`close`](Self::close).
    fn is_closed(&self) -> bool;
}

/// One kernel readiness API, stripped to its syscalls.
///
/// Python's per-class `_selector` object. A backend never sees bad input:
/// [`BaseSelector`] validates fds and events and keeps the keys; a backend
/// is told `add`/`modify`/`delete` and, on `wait`, reports each ready fd by
/// the `token` it was given, with readiness already translated to
/// [`Events`] (error and hang-up bits count as both read and write, as in
/// Python; the caller masks them with the registered events).
pub trait Backend: Sized {
    /// The backend's name, for `Debug`.
    const NAME: &'static str;

    /// Creates the kernel object.
    fn open() -> io::Result<Self>;

    /// The first fd this backend cannot watch, if there is one.
    fn fd_limit(&self) -> Option<RawFd> {
        None
    }

    /// Starts watching `fd`, which is not watched yet.
    fn add(&mut self, fd: RawFd, interest: Events, token: u64) -> io::Result<()>;

    /// Changes the interest of a watched fd.
    fn modify(&mut self, fd: RawFd, interest: Events, token: u64) -> io::Result<()>;

    /// Stops watching `fd`. The fd may already be closed: the backend's own
    /// bookkeeping must be removed even when the kernel answers EBADF.
    fn delete(&mut self, fd: RawFd) -> io::Result<()>;

    /// Waits once (a single syscall) and calls `on_event(token, events)`
    /// for each ready fd, straight from the kernel's answer; returns how
    /// many. EINTR is returned, not retried: the caller owns the deadline.
    fn wait<F: FnMut(u64, Events)>(
        &mut self,
        timeout: Option<Duration>,
        on_event: F,
    ) -> io::Result<usize>;
}

/// The shared bookkeeping of every selector, generic over its [`Backend`].
///
/// Python's `_BaseSelectorImpl` with `_PollLikeSelector`'s readiness rules.
/// Use it through the aliases [`EpollSelector`](crate::EpollSelector),
/// [`PollSelector`](crate::PollSelector),
/// [`SelectSelector`](crate::SelectSelector) and
/// [`DefaultSelector`](crate::DefaultSelector), and the [`Selector`] trait.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use std::os::fd::AsRawFd;
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
/// use corio_reactor::{DefaultSelector, Selector, EVENT_READ};
///
/// let (mut a, b) = UnixStream::pair()?;
/// let mut sel = DefaultSelector::new()?;
/// sel.register(b.as_raw_fd(), EVENT_READ, "b")?;
///
/// assert!(sel.select(Some(Duration::ZERO))?.is_empty());
/// a.write_all(b"ping")?;
/// let ready = sel.select(None)?;
/// assert_eq!(ready.len(), 1);
/// assert_eq!(ready[0].0.data, "b");
/// assert_eq!(ready[0].1, EVENT_READ);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Implementation notes
/// Keys live in a `Vec` indexed by fd (fds are small, dense integers), so a
/// ready event finds its key without hashing. Each registration gets a token
/// `generation << 32 | fd` that the kernel hands back with its events; an
/// event whose generation is not the current key's belongs to an fd number
/// that was closed and reused, and is dropped (see the crate docs on the
/// close/dup trap).
pub struct BaseSelector<B: Backend, T> {
    /// The kernel side; `None` once closed (Python sets `_selector = None`).
    backend: Option<B>,
    /// Python's `_fd_to_key`: slot `fd` holds the key of `fd`, if registered.
    slots: Vec<Option<Slot<T>>>,
    /// How many slots are occupied, so `len` is O(1).
    len: usize,
    /// Bumped on every registration; the high half of each token.
    generation: u32,
}

/// A key plus the token the kernel knows it by.
struct Slot<T> {
    key: SelectorKey<T>,
    token: u64,
}

impl<B: Backend, T> BaseSelector<B, T> {
    /// Opens a selector on backend `B`. Python: `selectors.EpollSelector()` etc.
    ///
    /// # Errors
    /// [`SelectorError::Os`] when the kernel object cannot be created (EMFILE).
    pub fn new() -> Result<Self, SelectorError> {
        Ok(Self::with_backend(B::open()?))
    }

    /// Wraps an already opened backend (to pick its options first).
    ///
    /// No Python counterpart (Python's selectors take no options).
    pub fn with_backend(backend: B) -> Self {
        BaseSelector {
            backend: Some(backend),
            slots: Vec::new(),
            len: 0,
            generation: 0,
        }
    }

    /// The backend, for backend-specific queries; `None` once closed.
    ///
    /// No Python counterpart (Python: `sel._selector`).
    pub fn backend(&self) -> Option<&B> {
        self.backend.as_ref()
    }

    /// The backend, mutably, for backend-specific options; `None` once closed.
    ///
    /// No Python counterpart (Python: `sel._selector`).
    pub fn backend_mut(&mut self) -> Option<&mut B> {
        self.backend.as_mut()
    }

    /// Closes the selector as [`close`](Selector::close) does, but hands
    /// back the keys it held instead of dropping them, so that a caller
    /// whose key data runs code when dropped (an event loop's callbacks,
    /// holding transports) can drop them outside its borrow of the
    /// selector.
    ///
    /// No Python counterpart (`close()` forgets the keys; the garbage
    /// collector does the rest).
    pub fn close_and_take_keys(&mut self) -> Vec<SelectorKey<T>> {
        let keys = std::mem::take(&mut self.slots)
            .into_iter()
            .flatten()
            .map(|slot| slot.key)
            .collect();
        self.close();
        keys
    }

    fn slot(&self, fd: RawFd) -> Option<&Slot<T>> {
        self.slots.get(usize::try_from(fd).ok()?)?.as_ref()
    }

    fn slot_mut(&mut self, fd: RawFd) -> Option<&mut Slot<T>> {
        self.slots.get_mut(usize::try_from(fd).ok()?)?.as_mut()
    }

    /// Removes the key of `fd` from the bookkeeping only.
    fn take_slot(&mut self, fd: RawFd) -> Option<Slot<T>> {
        let slot = self.slots.get_mut(usize::try_from(fd).ok()?)?.take()?;
        self.len -= 1;
        Some(slot)
    }

    fn next_token(&mut self, fd: RawFd) -> u64 {
        self.generation = self.generation.wrapping_add(1);
        (u64::from(self.generation) << 32) | u64::from(fd as u32)
    }
}

/// Checks the arguments every mutating call shares.
fn validate(fd: RawFd, events: Events, limit: Option<RawFd>) -> Result<(), SelectorError> {
    // Python's order: the events first, then the fd.
    if !events.is_valid() {
        return Err(SelectorError::InvalidEvents(events));
    }
    if fd < 0 {
        return Err(SelectorError::InvalidFd { fd });
    }
    if let Some(limit) = limit
        && fd >= limit
    {
        return Err(SelectorError::FdTooLarge { fd, limit });
    }
    Ok(())
}

/// True for the errors that mean "this fd was closed behind our back".
fn is_closed_fd(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EBADF | libc::ENOENT))
}

/// Calls `backend.wait` until something is ready or the deadline passes,
/// retrying EINTR and early returns with the remaining time (PEP 475).
fn wait_ready<B: Backend, F: FnMut(u64, Events)>(
    backend: &mut B,
    timeout: Option<Duration>,
    mut on_event: F,
) -> io::Result<()> {
    // A timeout too large to add to `now` is as good as none. Blocking and
    // polling need no deadline: the clock is read only for a real wait
    // (an event loop's hot path is `None` or zero).
    let deadline = timeout
        .filter(|t| !t.is_zero())
        .and_then(|t| Instant::now().checked_add(t));
    let mut remaining = timeout;
    loop {
        match backend.wait(remaining, &mut on_event) {
            Ok(n) if n > 0 => return Ok(()),
            Ok(_) if remaining == Some(Duration::ZERO) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        if let Some(deadline) = deadline {
            let now = Instant::now();
            if now >= deadline {
                return Ok(());
            }
            remaining = Some(deadline - now);
        }
    }
}

impl<B: Backend, T> Selector<T> for BaseSelector<B, T> {
    fn register(
        &mut self,
        fd: RawFd,
        events: Events,
        data: T,
    ) -> Result<&SelectorKey<T>, SelectorError> {
        let limit = self
            .backend
            .as_ref()
            .ok_or(SelectorError::Closed)?
            .fd_limit();
        validate(fd, events, limit)?;
        if self.slot(fd).is_some() {
            return Err(SelectorError::AlreadyRegistered { fd });
        }
        // Syscall first, bookkeeping after: a refused fd leaves nothing to
        // roll back.
        let token = self.next_token(fd);
        let backend = self.backend.as_mut().ok_or(SelectorError::Closed)?;
        backend.add(fd, events, token)?;

        let index = fd as usize; // fd >= 0 was validated
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, || None);
        }
        self.len += 1;
        let slot = self.slots[index].insert(Slot {
            key: SelectorKey { fd, events, data },
            token,
        });
        Ok(&slot.key)
    }

    fn unregister(&mut self, fd: RawFd) -> Result<SelectorKey<T>, SelectorError> {
        if self.backend.is_none() {
            return Err(SelectorError::Closed);
        }
        let slot = self
            .take_slot(fd)
            .ok_or(SelectorError::NotRegistered { fd })?;
        let backend = self.backend.as_mut().ok_or(SelectorError::Closed)?;
        // Python's `except OSError: pass`: the key goes whatever the kernel
        // says. Mostly the fd was closed (or closed and reused) behind our
        // back and the kernel dropped it already; any other refusal leaves
        // an fd the kernel may still report, which `select` skips, since
        // it has no key.
        let _ = backend.delete(fd);
        Ok(slot.key)
    }

    fn modify(
        &mut self,
        fd: RawFd,
        events: Events,
        data: T,
    ) -> Result<&SelectorKey<T>, SelectorError> {
        let limit = self
            .backend
            .as_ref()
            .ok_or(SelectorError::Closed)?
            .fd_limit();
        let (old_events, token) = match self.slot(fd) {
            Some(slot) => (slot.key.events, slot.token),
            None => return Err(SelectorError::NotRegistered { fd }),
        };
        validate(fd, events, limit)?;
        if events != old_events {
            let backend = self.backend.as_mut().ok_or(SelectorError::Closed)?;
            if let Err(e) = backend.modify(fd, events, token) {
                // As Python: the fd is no longer watched as recorded, so
                // forget it (the backend drops its own state too).
                self.take_slot(fd);
                if let Some(backend) = self.backend.as_mut()
                    && let Err(del) = backend.delete(fd)
                    && !is_closed_fd(&del)
                {
                    return Err(del.into());
                }
                return Err(e.into());
            }
        }
        let Some(slot) = self.slot_mut(fd) else {
            return Err(SelectorError::NotRegistered { fd });
        };
        slot.key.events = events;
        slot.key.data = data;
        Ok(&slot.key)
    }

    fn select_with<F>(
        &mut self,
        timeout: Option<Duration>,
        mut on_ready: F,
    ) -> Result<usize, SelectorError>
    where
        F: FnMut(&SelectorKey<T>, Events),
    {
        let backend = self.backend.as_mut().ok_or(SelectorError::Closed)?;
        let slots = &self.slots;
        let mut count = 0;
        wait_ready(backend, timeout, |token, raw| {
            // An event for a slot with another token is left over from an fd
            // number that was closed and registered again: drop it.
            let Some(Some(slot)) = slots.get(token as u32 as usize) else {
                return;
            };
            let events = raw & slot.key.events;
            if slot.token == token && !events.is_empty() {
                on_ready(&slot.key, events);
                count += 1;
            }
        })?;
        Ok(count)
    }

    fn get_key(&self, fd: RawFd) -> Result<&SelectorKey<T>, SelectorError> {
        if self.backend.is_none() {
            return Err(SelectorError::Closed);
        }
        self.slot(fd)
            .map(|slot| &slot.key)
            .ok_or(SelectorError::NotRegistered { fd })
    }

    fn get_map<'a>(&'a self) -> impl Iterator<Item = &'a SelectorKey<T>>
    where
        T: 'a,
    {
        self.slots.iter().flatten().map(|slot| &slot.key)
    }

    fn len(&self) -> usize {
        self.len
    }

    fn close(&mut self) {
        // Dropping the backend closes its fd; the watched fds are the
        // caller's and stay open.
        self.backend = None;
        self.slots = Vec::new();
        self.len = 0;
    }

    fn is_closed(&self) -> bool {
        self.backend.is_none()
    }
}

impl<B: Backend, T: std::fmt::Debug> std::fmt::Debug for BaseSelector<B, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(B::NAME)
            .field("closed", &self.is_closed())
            .field("keys", &self.get_map().collect::<Vec<_>>())
            .finish()
    }
}
