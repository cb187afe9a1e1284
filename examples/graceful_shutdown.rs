//! A graceful Ctrl-C: stop taking work, finish what is in flight, exit 130.
//!
//! ```text
//! cargo run --example graceful_shutdown   # then Ctrl-C
//! ```
//!
//! `run()` alone answers Ctrl-C by cancelling everything (see
//! `cancel_on_ctrl_c`). A server or a pipeline often wants less: no new
//! work, but the jobs already taken run to their end. Adding a SIGINT
//! handler inside `run()` replaces `run()`'s own Ctrl-C handling (as
//! `loop.add_signal_handler(SIGINT, ...)` replaces asyncio's), so the
//! program decides. Python, for comparison:
//!
//! ```python
//! async def main():
//!     stop = asyncio.Event()
//!     asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
//!     queue = asyncio.Queue(4)
//!     workers = [asyncio.create_task(worker(i, queue)) for i in range(2)]
//!     n = 0
//!     while not stop.is_set():
//!         await queue.put(n); n += 1
//!         await asyncio.sleep(0.02)
//!     print("shutting down: finishing in-flight work")
//!     queue.shutdown()              # 3.13: workers drain what is queued
//!     await asyncio.gather(*workers)
//!     print("all work finished")
//!     sys.exit(130)
//! ```

use std::io::Write;
use std::rc::Rc;
use std::time::Duration;

use corio::signal::SIGINT;
use corio::{Error, Event, Queue, add_signal_handler, create_task, gather, sleep};

fn say(line: &str) {
    println!("{line}");
    std::io::stdout().flush().ok(); // a pipe is block-buffered otherwise
}

/// Takes jobs until the queue is shut down and empty; each takes a while.
async fn worker(id: u32, queue: Rc<Queue<u32>>) {
    while let Ok(job) = queue.get().await {
        sleep(Duration::from_millis(60)).await;
        say(&format!("worker {id}: job {job} done"));
    }
}

fn main() -> corio::Exit {
    corio::main(async {
        let stop = Rc::new(Event::new());
        let signalled = stop.clone();
        // Replaces run()'s Ctrl-C handling for as long as the loop runs.
        add_signal_handler(SIGINT, move || signalled.set())?;
        say(&format!("pid {}", std::process::id()));

        let queue = Rc::new(Queue::new(4));
        let workers: Vec<_> = (0..2)
            .map(|id| create_task(worker(id, queue.clone())))
            .collect();
        let mut job = 0;
        while !stop.is_set() {
            // A full queue holds the producer back; Ctrl-C still gets in.
            let put = corio::timeout(Duration::from_millis(20), queue.put(job)).await;
            if let Ok(Ok(())) = put {
                job += 1;
            }
            sleep(Duration::from_millis(20)).await;
        }
        say("shutting down: finishing in-flight work");
        queue.shutdown(false); // no new jobs; the queued ones still run
        gather(workers).await?;
        say("all work finished");
        Err(Error::SystemExit(130)) // sys.exit(130): that status, no "Error:" line
    })
}
