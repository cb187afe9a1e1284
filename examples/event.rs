//! `Event`: tasks wait until another sets it. Two uses from the notes:
//! waiters released together when a flag is set after 0.1 s, and a traffic
//! light whose green phase is an event that cars wait for.
//!
//! ```python
//! async def waiter(event, n):
//!     print(f"waiter {n} waits")
//!     await event.wait()
//!     print(f"waiter {n} goes")
//!
//! event = asyncio.Event()
//! tasks = [asyncio.create_task(waiter(event, n)) for n in range(3)]
//! await asyncio.sleep(0.1)
//! event.set()
//! await asyncio.gather(*tasks)
//! ```

use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::{Event, create_task, gather, run};

async fn waiters() -> corio::Result<()> {
    let event = Rc::new(Event::new());
    let start = Instant::now();
    let tasks: Vec<_> = (0..3)
        .map(|n| {
            let event = event.clone();
            async move {
                println!("waiter {n} waits");
                event.wait().await;
                println!(
                    "waiter {n} goes after {:.1} s",
                    start.elapsed().as_secs_f64()
                );
            }
        })
        .collect();
    let all = gather(tasks);
    corio::sleep(Duration::from_millis(100)).await;
    println!("event.set()");
    event.set();
    all.await?;
    Ok(())
}

/// The traffic light: green is the event set, red is it cleared. Cars
/// arrive one by one and wait for green; the light runs three cycles.
async fn traffic_light() -> corio::Result<()> {
    let green = Rc::new(Event::new());
    let light = {
        let green = green.clone();
        create_task(async move {
            for cycle in 1..=3 {
                println!("light: red (cycle {cycle})");
                green.clear();
                corio::sleep(Duration::from_millis(40)).await;
                println!("light: green (cycle {cycle})");
                green.set();
                corio::sleep(Duration::from_millis(40)).await;
            }
            green.set(); // the light is switched off green: nobody waits forever
        })
    };
    let cars = (1..=4).map(|n| {
        let green = green.clone();
        async move {
            corio::sleep(Duration::from_millis(25 * n)).await;
            if !green.is_set() {
                println!("car {n}: waits at red");
            }
            green.wait().await;
            println!("car {n}: drives through");
        }
    });
    gather(cars).await?;
    light.await?;
    Ok(())
}

pub fn demo() -> corio::Result<()> {
    run(async {
        waiters().await?;
        traffic_light().await
    })?
}

#[allow(dead_code)] // the tour includes this file and calls `demo`
fn main() -> corio::Result<()> {
    demo()
}
