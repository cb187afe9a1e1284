//! The notes' producer/consumer on an `asyncio.Queue` with a `maxsize`:
//! the producer waits when the queue is full, the consumer when it is
//! empty; `join` waits until every item was marked done.
//!
//! ```python
//! async def producer(queue):
//!     for i in range(6):
//!         await queue.put(i)          # waits while 2 items are queued
//!         print(f"produced {i}")
//!
//! async def consumer(queue):
//!     while True:
//!         item = await queue.get()
//!         await asyncio.sleep(0.02)
//!         print(f"consumed {item}")
//!         queue.task_done()
//!
//! queue = asyncio.Queue(maxsize=2)
//! worker = asyncio.create_task(consumer(queue))
//! await producer(queue)
//! await queue.join()
//! worker.cancel()
//! ```

use std::rc::Rc;
use std::time::Duration;

use corio::{Queue, create_task, run};

async fn producer(queue: Rc<Queue<u32>>) -> corio::Result<()> {
    for i in 0..6 {
        queue.put(i).await?; // waits while the queue is full
        println!("produced {i} (queue size {})", queue.qsize());
    }
    Ok(())
}

async fn consumer(queue: Rc<Queue<u32>>) -> corio::Result<()> {
    loop {
        let item = queue.get().await?;
        corio::sleep(Duration::from_millis(20)).await;
        println!("consumed {item}");
        queue.task_done()?;
    }
}

pub fn demo() -> corio::Result<()> {
    run(async {
        let queue = Rc::new(Queue::new(2));
        let worker = create_task(consumer(queue.clone()));
        producer(queue.clone()).await?;
        queue.join().await;
        println!("queue.join(): every item consumed");
        worker.cancel();
        Ok::<(), corio::Error>(())
    })??;
    Ok(())
}

#[allow(dead_code)] // the tour includes this file and calls `demo`
fn main() -> corio::Result<()> {
    demo()
}
