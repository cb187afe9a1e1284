//! A `Semaphore` caps how many coroutines do something at once: the notes
//! use `Semaphore(3)` so a crawler never has more than three requests in
//! flight.
//!
//! ```python
//! sem = asyncio.Semaphore(3)
//!
//! async def fetch(n):
//!     async with sem:
//!         print(f"fetch {n} starts")
//!         await asyncio.sleep(0.1)
//!
//! await asyncio.gather(*(fetch(n) for n in range(9)))
//! ```
//!
//! `async with sem:` is `let _permit = sem.acquire().await;`.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use corio::{Semaphore, gather, run};

pub fn demo() -> corio::Result<()> {
    let most = run(async {
        let sem = Rc::new(Semaphore::new(3));
        let busy = Rc::new(Cell::new(0));
        let most = Rc::new(Cell::new(0));
        let fetches = (0..9).map(|n| {
            let (sem, busy, most) = (sem.clone(), busy.clone(), most.clone());
            async move {
                let _permit = sem.acquire().await; // async with sem:
                busy.set(busy.get() + 1);
                most.set(most.get().max(busy.get()));
                println!("fetch {n} starts ({} in flight)", busy.get());
                corio::sleep(Duration::from_millis(50)).await;
                busy.set(busy.get() - 1);
            }
        });
        gather(fetches).await?;
        Ok::<_, corio::Error>(most.get())
    })??;
    println!("at most {most} fetches at once");
    Ok(())
}

#[allow(dead_code)] // the tour includes this file and calls `demo`
fn main() -> corio::Result<()> {
    demo()
}
