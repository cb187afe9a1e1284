//! `Condition`, both ways the notes (and Python's documentation) use it:
//! waiting to be notified, and waiting for a predicate.
//!
//! ```python
//! cond = asyncio.Condition()
//!
//! # 1. wait until notified
//! async with cond:
//!     await cond.wait()
//!
//! # 2. wait until a predicate holds (re-checked after each notify)
//! async with cond:
//!     await cond.wait_for(predicate)
//! ```
//!
//! `async with cond:` is `let guard = cond.acquire().await;`; `wait` takes
//! the guard (releases the lock while waiting) and gives it back.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use corio::{Condition, create_task, run};

/// 1. Three consumers wait; the producer notifies one, then all.
async fn notified() -> corio::Result<()> {
    let cond = Rc::new(Condition::new());
    let consumers: Vec<_> = (1..=3)
        .map(|n| {
            let cond = cond.clone();
            create_task(async move {
                let guard = cond.acquire().await; // async with cond:
                println!("consumer {n} waits");
                let _guard = cond.wait(guard).await?; // await cond.wait()
                println!("consumer {n} notified");
                Ok::<(), corio::Error>(())
            })
        })
        .collect();
    corio::sleep(Duration::from_millis(20)).await;
    {
        let _guard = cond.acquire().await;
        println!("producer: notify(1)");
        cond.notify(1)?;
    }
    corio::sleep(Duration::from_millis(20)).await;
    {
        let _guard = cond.acquire().await;
        println!("producer: notify_all()");
        cond.notify_all()?;
    }
    for consumer in consumers {
        consumer.await??;
    }
    Ok(())
}

/// 2. A consumer waits for the predicate "five items are ready"; the
///    producer notifies after each item, and `wait_for` re-checks.
async fn predicate() -> corio::Result<()> {
    let cond = Rc::new(Condition::new());
    let items = Rc::new(RefCell::new(Vec::new()));
    let checks = Rc::new(Cell::new(0));
    let consumer = {
        let (cond, items, checks) = (cond.clone(), items.clone(), checks.clone());
        create_task(async move {
            let guard = cond.acquire().await;
            let _guard = cond
                .wait_for(guard, || {
                    checks.set(checks.get() + 1);
                    items.borrow().len() >= 5
                })
                .await?;
            println!(
                "consumer: predicate true after {} checks: {:?}",
                checks.get(),
                items.borrow()
            );
            Ok::<(), corio::Error>(())
        })
    };
    for item in 1..=5 {
        corio::sleep(Duration::from_millis(5)).await;
        let _guard = cond.acquire().await;
        items.borrow_mut().push(item);
        cond.notify_all()?;
    }
    consumer.await??;
    Ok(())
}

pub fn demo() -> corio::Result<()> {
    run(async {
        notified().await?;
        predicate().await
    })?
}

#[allow(dead_code)] // the tour includes this file and calls `demo`
fn main() -> corio::Result<()> {
    demo()
}
