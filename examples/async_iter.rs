//! An asynchronous iterator, the notes' `__aiter__` / `__anext__`: a
//! reader that yields one record at a time, awaiting more bytes when it has
//! none, iterated until it ends.
//!
//! ```python
//! class RecordReader:
//!     def __init__(self, reader):
//!         self.reader = reader
//!     def __aiter__(self):
//!         return self
//!     async def __anext__(self):
//!         line = await self.reader.readline()
//!         if not line:
//!             raise StopAsyncIteration
//!         return line.decode().strip().split(",")
//!
//! async for record in RecordReader(reader):
//!     print(record)
//! ```
//!
//! Rust has no `async for` yet; the shape is a `next()` that is async and
//! returns `None` at the end: `while let Some(x) = it.next().await`. The
//! bytes here come from a writer task that feeds a `StreamReader` slowly,
//! as a socket would.

use std::rc::Rc;
use std::time::Duration;

use corio::{StreamReader, create_task, run};

/// Yields the comma-separated records of a stream, one line each.
struct RecordReader {
    reader: Rc<StreamReader>,
}

impl RecordReader {
    /// `__anext__`: the next record, or `None` at EOF (`StopAsyncIteration`).
    async fn next(&mut self) -> corio::Result<Option<Vec<String>>> {
        let Some(line) = self.reader.next_line().await? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&line);
        Ok(Some(
            text.trim_end().split(',').map(str::to_string).collect(),
        ))
    }
}

pub fn demo() -> corio::Result<()> {
    run(async {
        let reader = Rc::new(StreamReader::new(64 * 1024));
        let feeder = {
            let reader = reader.clone();
            create_task(async move {
                for chunk in ["alice,30\nbob,", "25\ncarol", ",41\n"] {
                    corio::sleep(Duration::from_millis(20)).await;
                    reader.feed_data(chunk.as_bytes());
                }
                reader.feed_eof();
            })
        };
        let mut records = RecordReader { reader };
        let mut count = 0;
        while let Some(record) = records.next().await? {
            // async for record in RecordReader(reader):
            println!("record {count}: {record:?}");
            count += 1;
        }
        println!("the iterator ended after {count} records");
        feeder.await?;
        Ok::<(), corio::Error>(())
    })?
}

#[allow(dead_code)] // the tour includes this file and calls `demo`
fn main() -> corio::Result<()> {
    demo()
}
