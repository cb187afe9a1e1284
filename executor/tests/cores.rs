//! Many loops: the `Cores` runtime, its shutdown, and the channel between
//! loops, with real threads and a real SIGINT.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use corio_executor::{Cores, CoresError, RunError, TaskError, TrySendError, channel, sleep};

#[test]
fn a_million_messages_cross_two_loops_exactly() {
    const N: u64 = 1_000_000;
    let (tx, rx) = channel::<u64>(1024);
    let ends = Arc::new(Mutex::new((Some(tx), Some(rx))));
    let totals = Cores::new()
        .count(2)
        .run(move |core| {
            let ends = ends.clone();
            async move {
                if core.index() == 0 {
                    let tx = ends.lock().unwrap().0.take().unwrap();
                    for i in 0..N {
                        tx.send(i).await.unwrap();
                    }
                    (0, 0)
                } else {
                    let mut rx = ends.lock().unwrap().1.take().unwrap();
                    let (mut count, mut sum) = (0u64, 0u64);
                    while let Some(i) = rx.recv().await {
                        count += 1;
                        sum += i;
                    }
                    (count, sum)
                }
            }
        })
        .unwrap();
    assert_eq!(totals[1], (N, N * (N - 1) / 2));
}

#[test]
fn a_failing_loop_stops_the_others_and_is_named() {
    let threads = testkit::live_threads();
    let outcome = Cores::new().count(3).run(|core| async move {
        if core.index() == 1 {
            sleep(Duration::from_millis(20)).await;
            panic!("loop 1 gives up");
        }
        // The others would wait for ever: the failure stops them.
        core.shutdown_requested().await;
        sleep(Duration::from_secs(3600)).await;
    });
    match outcome {
        Err(CoresError::Failed {
            core: 1,
            error: RunError::Task(TaskError::Panicked(message)),
        }) => assert_eq!(message, "loop 1 gives up"),
        other => panic!("{other:?}"),
    }
    assert!(
        testkit::eventually(|| testkit::live_threads() <= threads),
        "a loop thread outlived the runtime"
    );
}

#[test]
fn the_channel_closes_refuses_and_loses_no_wake_up() {
    corio_executor::run(async {
        let (tx, mut rx) = channel::<u32>(1);
        tx.try_send(1).unwrap();
        assert!(matches!(tx.try_send(2), Err(TrySendError::Full(2))));
        // Three senders wait for room; one gives up (its future dropped).
        let waiting: Vec<_> = (10..13)
            .map(|i| {
                let tx = tx.clone();
                corio_executor::create_task(async move { tx.send(i).await })
            })
            .collect();
        corio_executor::yield_now().await;
        waiting[0].cancel();
        corio_executor::yield_now().await;
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(rx.recv().await.unwrap());
        }
        got.sort();
        assert_eq!(got, [1, 11, 12], "the others were not stranded");
        rx.close();
        assert!(tx.is_closed());
        assert_eq!(tx.send(5).await.unwrap_err().0, 5, "the item comes back");
        drop(tx);
        for task in waiting {
            let _ = task.await;
        }
        assert_eq!(rx.recv().await, None);
    })
    .unwrap();
    // Senders gone: the receiver sees the end once it is empty.
    let (tx, mut rx) = channel::<&str>(4);
    let sender = std::thread::spawn(move || {
        tx.blocking_send("from a plain thread").unwrap();
    });
    let got = corio_executor::run(async move {
        let first = rx.recv().await;
        (first, rx.recv().await)
    })
    .unwrap();
    sender.join().unwrap();
    assert_eq!(got, (Some("from a plain thread"), None));
}

/// A process whose loops wait for ever: Ctrl-C (SIGINT) stops them all,
/// and the runtime says so; SIGTERM where SIGINT is ignored (a shell that
/// starts the tests in the background ignores it, and the runtime
/// respects that). In a child: a signal is the whole process's.
#[test]
fn ctrl_c_stops_every_loop() {
    if std::env::var("CORIO_CORES_CHILD").is_ok() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .args([
            "--exact",
            "cores_child",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("CORIO_CORES_CHILD", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        let n = std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        assert!(n > 0, "the child ended before its loops ran");
        if line.contains("loops running") {
            break;
        }
    }
    // Ctrl-C when this process lets its children have it (the child
    // inherits the disposition), else SIGTERM: the runtime takes both.
    use corio_reactor::signal::{Disposition, SIGINT, disposition};
    let signal = if disposition(SIGINT).ok() == Some(Disposition::Default) {
        "-INT"
    } else {
        println!("SIGINT is ignored here: SIGTERM instead");
        "-TERM"
    };
    let status = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}: {rest}");
    assert!(rest.contains("interrupted, 3 loops stopped"), "{rest}");
}

#[test]
#[ignore = "the child of ctrl_c_stops_every_loop"]
fn cores_child() {
    if std::env::var("CORIO_CORES_CHILD").is_err() {
        return;
    }
    let stopped = Arc::new(Mutex::new(0));
    let counter = stopped.clone();
    let ready = Arc::new(std::sync::Barrier::new(3));
    let outcome = Cores::new().count(3).run(move |_core| {
        let (counter, ready) = (counter.clone(), ready.clone());
        async move {
            struct Count(Arc<Mutex<i32>>);
            impl Drop for Count {
                fn drop(&mut self) {
                    *self.0.lock().unwrap() += 1;
                }
            }
            let _count = Count(counter);
            if ready.wait().is_leader() {
                println!("loops running");
            }
            sleep(Duration::from_secs(3600)).await;
        }
    });
    assert!(
        matches!(outcome, Err(CoresError::Interrupted)),
        "{outcome:?}"
    );
    println!("interrupted, {} loops stopped", stopped.lock().unwrap());
}
