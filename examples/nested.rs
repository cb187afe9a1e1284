//! The notes' nested coroutines (from Python's documentation): `print_sum`
//! awaits `compute`, which sleeps; the task drives both, one `send` at a
//! time, and the loop runs other work while `compute` sleeps.
//!
//! ```python
//! async def compute(x, y):
//!     print("Compute %s + %s ..." % (x, y))
//!     await asyncio.sleep(1.0)
//!     return x + y
//!
//! async def print_sum(x, y):
//!     result = await compute(x, y)
//!     print("%s + %s = %s" % (x, y, result))
//!
//! loop = asyncio.get_event_loop()
//! loop.run_until_complete(print_sum(1, 2))
//! loop.close()
//! ```
//!
//! The order of events: the task steps `print_sum`, which steps `compute`
//! up to the sleep; `sleep` yields a future to the task and the task is
//! suspended; a second later the timer sets the future's result, the task
//! is scheduled again, and `compute` returns 3 through `print_sum`'s await.

use std::time::Duration;

use corio::EventLoop;

async fn compute(x: i32, y: i32) -> i32 {
    println!("Compute {x} + {y} ...");
    corio::sleep(Duration::from_millis(100)).await;
    x + y
}

async fn print_sum(x: i32, y: i32) {
    let result = compute(x, y).await;
    println!("{x} + {y} = {result}");
}

pub fn demo() -> corio::Result<()> {
    let lp = EventLoop::new()?;
    lp.run_until_complete(print_sum(1, 2))?;
    lp.close()?;
    Ok(())
}

#[allow(dead_code)] // the tour includes this file and calls `demo`
fn main() -> corio::Result<()> {
    demo()
}
