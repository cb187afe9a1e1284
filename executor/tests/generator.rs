//! The notes' producer/consumer with `send`, on `corio_executor::generator`.

use corio_executor::generator::{Generator, GeneratorState};

/// The notes' `consumer()`, logging instead of printing.
fn consumer(
    log: std::rc::Rc<std::cell::RefCell<Vec<String>>>,
) -> Generator<String, Option<u32>, ()> {
    Generator::new(|co| async move {
        let mut r = String::new();
        loop {
            let Some(n) = co.yield_(r.clone()).await else {
                return;
            };
            log.borrow_mut()
                .push(format!("[CONSUMER] Consuming {n}..."));
            r = "200 OK".to_string();
        }
    })
}

#[test]
fn producer_consumer_prints_what_the_notes_print() {
    let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut c = consumer(log.clone());
    assert_eq!(
        c.resume(None).unwrap(),
        GeneratorState::Yielded(String::new())
    );
    let mut n = 0;
    while n < 5 {
        n += 1;
        log.borrow_mut()
            .push(format!("[PRODUCER] Producing {n}..."));
        let GeneratorState::Yielded(r) = c.resume(Some(n)).unwrap() else {
            panic!("ended early")
        };
        log.borrow_mut()
            .push(format!("[PRODUCER] Consumer return: {r}"));
    }
    c.close();
    assert!(c.is_complete());
    let mut expected = Vec::new();
    for n in 1..=5 {
        expected.push(format!("[PRODUCER] Producing {n}..."));
        expected.push(format!("[CONSUMER] Consuming {n}..."));
        expected.push("[PRODUCER] Consumer return: 200 OK".to_string());
    }
    assert_eq!(*log.borrow(), expected);
    assert!(c.resume(Some(6)).is_err(), "closed: StopIteration");
}

#[test]
fn completion_returns_the_value_and_then_errors() {
    let mut g: Generator<u8, u8, &str> = Generator::new(|co| async move {
        let doubled = co.yield_(1).await * 2;
        assert_eq!(doubled, 20);
        "finished"
    });
    assert_eq!(g.resume(0).unwrap(), GeneratorState::Yielded(1));
    assert_eq!(g.resume(10).unwrap(), GeneratorState::Complete("finished"));
    assert_eq!(
        g.resume(0).unwrap_err().to_string(),
        "generator already completed"
    );
}

#[test]
fn awaiting_something_else_is_an_error() {
    let mut g: Generator<(), (), ()> = Generator::new(|_co| async {
        std::future::pending::<()>().await;
    });
    assert!(g.resume(()).is_err());
}
