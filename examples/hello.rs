//! The notes' first program: ten `get_html` coroutines sleep together, so
//! the whole run takes one sleep, not ten.
//!
//! ```python
//! async def get_html(url):
//!     print("start get url")
//!     await asyncio.sleep(2)
//!     print("end get url")
//!
//! start_time = time.time()
//! loop = asyncio.get_event_loop()
//! tasks = [get_html("http://www.imooc.com") for i in range(10)]
//! loop.run_until_complete(asyncio.wait(tasks))
//! print(time.time() - start_time)
//! ```
//!
//! The sleep is 0.2 s here instead of 2 s. The tasks are `create_task`ed and
//! `wait`ed for, as the notes' `asyncio.wait(tasks)` does.

use std::time::{Duration, Instant};

use corio::{EventLoop, ReturnWhen, wait};

/// The sleep of each `get_html` (the notes: 2 s).
const SLEEP: Duration = Duration::from_millis(200);

async fn get_html(url: &str) {
    println!("start get url {url}");
    corio::sleep(SLEEP).await;
    println!("end get url");
}

pub fn demo() -> corio::Result<()> {
    let start = Instant::now();
    let lp = EventLoop::new()?;
    let tasks: Vec<_> = (0..10)
        .map(|_| lp.create_task(get_html("http://www.imooc.com")).as_ref())
        .collect();
    lp.run_until_complete(wait(tasks, None, ReturnWhen::AllCompleted))?;
    lp.close()?;
    let took = start.elapsed().as_secs_f64();
    println!(
        "10 tasks sleeping {:.1} s each took {took:.2} s",
        SLEEP.as_secs_f64()
    );
    Ok(())
}

#[allow(dead_code)] // the tour includes this file and calls `demo`
fn main() -> corio::Result<()> {
    demo()
}
