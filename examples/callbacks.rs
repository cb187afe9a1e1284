//! The notes' done callback with an extra argument: Python binds it with
//! `functools.partial`; a Rust closure captures it.
//!
//! ```python
//! def callback(url, future):
//!     print(url)
//!     print("send email to bobby")
//!
//! task = loop.create_task(get_html("http://www.imooc.com"))
//! task.add_done_callback(partial(callback, "http://www.imooc.com"))
//! loop.run_until_complete(task)
//! print(task.result())
//! ```

use std::time::Duration;

use corio::{EventLoop, Task};

async fn get_html(url: &str) -> String {
    println!("start get url {url}");
    corio::sleep(Duration::from_millis(100)).await;
    "bobby".to_string()
}

/// Called with the finished task, as asyncio calls a done callback with
/// the future; `url` is the extra argument.
fn callback(url: &str, task: &Task<String>) {
    println!("{url}");
    println!("send email to bobby (the task is done: {})", task.done());
}

pub fn demo() -> corio::Result<()> {
    let lp = EventLoop::new()?;
    let url = "http://www.imooc.com";
    let task = lp.create_task(get_html(url));
    task.add_done_callback(move |task| callback(url, task)); // partial(callback, url)
    lp.run_until_complete(task.as_ref())?; // waits; the result stays in the task
    println!("{}", task.result()?);
    lp.close()?;
    Ok(())
}

#[allow(dead_code)] // the tour includes this file and calls `demo`
fn main() -> corio::Result<()> {
    demo()
}
