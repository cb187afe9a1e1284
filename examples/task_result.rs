//! The notes' `create_task` and `result()`: a coroutine's return value,
//! read from its task once the loop has run it.
//!
//! ```python
//! async def get_html(url):
//!     print("start get url")
//!     await asyncio.sleep(2)
//!     return "bobby"
//!
//! loop = asyncio.get_event_loop()
//! task = loop.create_task(get_html("http://www.imooc.com"))
//! loop.run_until_complete(task)
//! print(task.result())
//! ```

use std::time::Duration;

use corio::EventLoop;

async fn get_html(url: &str) -> String {
    println!("start get url {url}");
    corio::sleep(Duration::from_millis(100)).await;
    "bobby".to_string()
}

pub fn demo() -> corio::Result<()> {
    let lp = EventLoop::new()?;
    let task = lp.create_task(get_html("http://www.imooc.com"));
    // Not done before the loop ran it: asking now is asyncio's
    // InvalidStateError.
    assert!(task.result().is_err());
    lp.run_until_complete(task.as_ref())?; // waits; the result stays in the task
    println!("task.result() = {}", task.result()?);
    lp.close()?;
    Ok(())
}

#[allow(dead_code)] // the tour includes this file and calls `demo`
fn main() -> corio::Result<()> {
    demo()
}
