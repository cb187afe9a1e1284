//! The notes' producer/consumer with generators and `send`, the idea
//! coroutines grew from: the consumer stops at each `yield`, the producer
//! resumes it with a value and gets its answer back, no threads, no locks.
//!
//! ```python
//! def consumer():
//!     r = ''
//!     while True:
//!         n = yield r
//!         if not n:
//!             return
//!         print('[CONSUMER] Consuming %s...' % n)
//!         r = '200 OK'
//!
//! def produce(c):
//!     c.send(None)
//!     n = 0
//!     while n < 5:
//!         n = n + 1
//!         print('[PRODUCER] Producing %s...' % n)
//!         r = c.send(n)
//!         print('[PRODUCER] Consumer return: %s' % r)
//!     c.close()
//!
//! c = consumer()
//! produce(c)
//! ```
//!
//! `corio::generator::Generator` is that generator object: its body is an
//! async block that yields with `co.yield_(value).await`, and `resume(v)`
//! is `send(v)`. No event loop is involved: a generator is stepped by hand,
//! which is exactly what a task does with a coroutine (chapter 03 of the
//! walkthroughs).

use corio::generator::{Generator, GeneratorState};

fn consumer() -> Generator<String, Option<u32>, ()> {
    Generator::new(|co| async move {
        let mut r = String::new();
        loop {
            let n = co.yield_(r.clone()).await; // n = yield r
            let Some(n) = n else { return };
            println!("[CONSUMER] Consuming {n}...");
            r = "200 OK".to_string();
        }
    })
}

fn produce(mut c: Generator<String, Option<u32>, ()>) -> corio::Result<()> {
    c.resume(None)?; // c.send(None): run to the first yield
    for n in 1..=5 {
        println!("[PRODUCER] Producing {n}...");
        if let GeneratorState::Yielded(r) = c.resume(Some(n))? {
            println!("[PRODUCER] Consumer return: {r}");
        }
    }
    c.close();
    Ok(())
}

pub fn demo() -> corio::Result<()> {
    produce(consumer())
}

#[allow(dead_code)] // the tour includes this file and calls `demo`
fn main() -> corio::Result<()> {
    demo()
}
