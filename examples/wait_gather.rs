//! The notes' `wait` and `gather`: waiting for a batch of tasks, and
//! gathering groups of them, one of which is cancelled.
//!
//! ```python
//! tasks = [get_html("http://www.imooc.com") for i in range(10)]
//! loop.run_until_complete(asyncio.wait(tasks))
//!
//! group1 = [get_html("http://projectsedu.com") for i in range(2)]
//! group2 = [get_html("http://www.imooc.com") for i in range(2)]
//! group1 = asyncio.gather(*group1)
//! group2 = asyncio.gather(*group2)
//! group2.cancel()
//! loop.run_until_complete(asyncio.gather(group1, group2, return_exceptions=True))
//! ```
//!
//! `wait` gives back the tasks (done, pending) and leaves their results
//! in them; `gather` gives the results in order, and is itself a future
//! that can be awaited, gathered again, or cancelled as a whole.

use std::time::Duration;

use corio::{ReturnWhen, create_task, gather, gather_all, run, wait};

async fn get_html(url: &'static str) -> &'static str {
    println!("start get url {url}");
    corio::sleep(Duration::from_millis(100)).await;
    println!("end get url {url}");
    url
}

pub fn demo() -> corio::Result<()> {
    run(async {
        // wait: ten tasks; then read their results from the tasks.
        let tasks: Vec<_> = (0..3)
            .map(|_| create_task(get_html("http://www.imooc.com")))
            .collect();
        let (done, pending) = wait(
            tasks.iter().map(|t| t.as_ref()),
            None,
            ReturnWhen::AllCompleted,
        )
        .await;
        println!("wait: {} done, {} pending", done.len(), pending.len());

        // gather: two groups; the second is cancelled before it runs.
        let group1 = gather((0..2).map(|_| get_html("http://projectsedu.com")));
        let group2 = gather((0..2).map(|_| get_html("http://www.imooc.com")));
        group2.cancel();
        // return_exceptions=True: every outcome, the cancellation included.
        let outcomes = gather_all([group1, group2]).await?;
        for (name, outcome) in ["group1", "group2"].iter().zip(outcomes) {
            match outcome {
                Ok(Ok(pages)) => println!("{name}: {pages:?}"),
                Ok(Err(e)) | Err(e) => println!("{name}: {e}"),
            }
        }
        Ok::<(), corio::Error>(())
    })?
}

#[allow(dead_code)] // the tour includes this file and calls `demo`
fn main() -> corio::Result<()> {
    demo()
}
