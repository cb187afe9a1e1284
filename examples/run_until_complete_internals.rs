//! What `run_until_complete` does inside, as the notes take it apart:
//! wrap the future in a task, give the task a done callback that stops the
//! loop, and `run_forever`.
//!
//! ```python
//! # asyncio/base_events.py, in short:
//! def run_until_complete(self, future):
//!     future = tasks.ensure_future(future, loop=self)
//!     future.add_done_callback(_run_until_complete_cb)   # calls loop.stop()
//!     self.run_forever()
//!     return future.result()
//!
//! loop.run_until_complete(asyncio.gather(get_html(u1), get_html(u2)))
//! ```

use std::time::Duration;

use corio::{EventLoop, gather};

async fn get_html(url: &'static str) -> usize {
    println!("start get url {url}");
    corio::sleep(Duration::from_millis(100)).await;
    println!("end get url {url}");
    url.len()
}

pub fn demo() -> corio::Result<()> {
    let lp = EventLoop::new()?;
    // ensure_future: the gather becomes a task of this loop.
    let task = lp.create_task(async {
        gather([
            get_html("http://www.imooc.com"),
            get_html("http://projectsedu.com"),
        ])
        .await
    });
    // _run_until_complete_cb: the task's done callback stops the loop.
    let stopper = lp.clone();
    task.add_done_callback(move |_| {
        println!("done callback: loop.stop()");
        stopper.stop();
    });
    // run_forever returns once stop() was called.
    lp.run_forever()?;
    println!("run_forever returned; task done: {}", task.done());
    let lengths = task.result()??;
    println!("future.result() = {lengths:?}");
    lp.close()?;
    Ok(())
}

#[allow(dead_code)] // the tour includes this file and calls `demo`
fn main() -> corio::Result<()> {
    demo()
}
