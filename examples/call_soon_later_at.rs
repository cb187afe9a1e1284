//! The notes' `call_soon`, `call_later` and `call_at`: plain callbacks on
//! the loop, run in the order the notes show (soon first, then by time).
//!
//! ```python
//! def callback(sleep_times, loop):
//!     print("success time {}".format(loop.time()))
//!
//! def stoploop(loop):
//!     loop.stop()
//!
//! loop = asyncio.get_event_loop()
//! now = loop.time()
//! loop.call_at(now + 2, callback, 2, loop)
//! loop.call_at(now + 1, callback, 1, loop)
//! loop.call_at(now + 3, callback, 3, loop)
//! loop.call_soon(callback, 4, loop)
//! loop.run_forever()
//! ```
//!
//! Times are tenths of a second here instead of seconds; `call_later(d)`
//! is `call_at(now + d)`.

use std::time::Duration;

use corio::EventLoop;

const UNIT: Duration = Duration::from_millis(100);

fn callback(sleep_times: u32, lp: &EventLoop, start: std::time::Instant) {
    let at = lp.time().duration_since(start).as_secs_f64();
    println!("sleep {sleep_times} success (at {at:.1} s)");
}

pub fn demo() -> corio::Result<()> {
    let lp = EventLoop::new()?;
    let now = lp.time();
    for n in [2, 1, 3] {
        let me = lp.clone();
        lp.call_at(now + UNIT * n, move || callback(n, &me, now));
    }
    let me = lp.clone();
    lp.call_later(UNIT * 2 + UNIT / 2, move || {
        println!(
            "call_later {:.2} s: between 2 and 3",
            (UNIT * 5 / 2).as_secs_f64()
        );
        drop(me);
    });
    let me = lp.clone();
    lp.call_soon(move || callback(4, &me, now)); // before every timer
    let me = lp.clone();
    lp.call_at(now + UNIT * 4, move || me.stop()); // stoploop
    lp.run_forever()?;
    lp.close()?;
    Ok(())
}

#[allow(dead_code)] // the tour includes this file and calls `demo`
fn main() -> corio::Result<()> {
    demo()
}
