//! The notes' `Lock`: two coroutines want the same page; the lock makes
//! the second wait for the first one's fetch and then read the cache,
//! instead of fetching it a second time.
//!
//! ```python
//! cache = {}
//! lock = asyncio.Lock()
//!
//! async def get_stuff(url):
//!     async with lock:
//!         if url in cache:
//!             return cache[url]
//!         stuff = await aiohttp.request('GET', url)
//!         cache[url] = stuff
//!         return stuff
//!
//! async def parse_stuff():
//!     stuff = await get_stuff("http://www.baidu.com")
//!
//! async def use_stuff():
//!     stuff = await get_stuff("http://www.baidu.com")
//!
//! tasks = [parse_stuff(), use_stuff()]
//! loop.run_until_complete(asyncio.wait(tasks))
//! ```
//!
//! `async with lock:` is `let _guard = lock.acquire().await;`: the guard
//! releases the lock when it goes out of scope, on every path out.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use corio::{Lock, gather, run};

struct Fetcher {
    lock: Lock,
    cache: RefCell<HashMap<String, String>>,
    fetches: Cell<u32>,
}

impl Fetcher {
    async fn get_stuff(&self, url: &str) -> String {
        let _guard = self.lock.acquire().await; // async with lock:
        if let Some(stuff) = self.cache.borrow().get(url) {
            println!("cache hit: {url}");
            return stuff.clone();
        }
        println!("fetching {url} ...");
        corio::sleep(Duration::from_millis(100)).await; // the request
        self.fetches.set(self.fetches.get() + 1);
        let stuff = format!("<html>{url}</html>");
        self.cache
            .borrow_mut()
            .insert(url.to_string(), stuff.clone());
        stuff
    }
}

async fn parse_stuff(fetcher: Rc<Fetcher>) -> usize {
    fetcher.get_stuff("http://www.baidu.com").await.len()
}

async fn use_stuff(fetcher: Rc<Fetcher>) -> usize {
    fetcher.get_stuff("http://www.baidu.com").await.len()
}

pub fn demo() -> corio::Result<()> {
    let fetcher = Rc::new(Fetcher {
        lock: Lock::new(),
        cache: RefCell::new(HashMap::new()),
        fetches: Cell::new(0),
    });
    let f = fetcher.clone();
    // tasks = [parse_stuff(), use_stuff()]: two coroutines of different
    // types, so the tuple form of gather.
    run(async move { gather!(parse_stuff(f.clone()), use_stuff(f)).await })??;
    println!("two readers, {} fetch", fetcher.fetches.get());
    Ok(())
}

#[allow(dead_code)] // the tour includes this file and calls `demo`
fn main() -> corio::Result<()> {
    demo()
}
