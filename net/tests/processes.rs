//! Subprocesses: real children (`sh`, `cat`, `echo`, `sleep`), real pipes,
//! real signals.
//!
//! Run without the test harness (`harness = false`), one case after
//! another, so that it can check what the harness cannot: that each case
//! leaves no fd open (pipes, pidfds), and that no child is left a zombie
//! once every case has run. `cargo test --test processes -- NAME` runs the
//! cases whose name contains NAME.

use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use corio_executor::{create_task, gather, run, sleep, timeout, wait_for};
use corio_net::{ProcessOptions, Stdio, create_subprocess_exec, create_subprocess_shell};

type Result = std::result::Result<(), Box<dyn std::error::Error>>;

/// One case: its name and its body.
type Case = (&'static str, fn() -> Result);

const CASES: &[Case] = &[
    (
        "exec_with_piped_stdout_and_wait",
        exec_with_piped_stdout_and_wait,
    ),
    (
        "shell_exit_codes_and_stderr_merged_into_stdout",
        shell_exit_codes_and_stderr_merged_into_stdout,
    ),
    (
        "a_program_that_does_not_exist_is_an_error_naming_it",
        a_program_that_does_not_exist_is_an_error_naming_it,
    ),
    (
        "a_killed_child_reports_the_signal_and_signals_after_exit_are_errors",
        a_killed_child_reports_the_signal_and_signals_after_exit_are_errors,
    ),
    (
        "ten_mib_through_communicate_both_ways_without_deadlock",
        ten_mib_through_communicate_both_ways_without_deadlock,
    ),
    ("a_hundred_children_at_once", a_hundred_children_at_once),
    (
        "wait_after_the_child_already_exited",
        wait_after_the_child_already_exited,
    ),
    (
        "stdout_as_stdin_is_invalid_input",
        stdout_as_stdin_is_invalid_input,
    ),
    (
        "communicate_input_without_a_stdin_pipe_and_bad_signal_numbers_are_errors",
        communicate_input_without_a_stdin_pipe_and_bad_signal_numbers_are_errors,
    ),
    ("the_child_gets_real_pipes", the_child_gets_real_pipes),
    (
        "a_fan_out_cut_by_a_deadline_leaves_no_child_with_kill_on_drop",
        a_fan_out_cut_by_a_deadline_leaves_no_child_with_kill_on_drop,
    ),
    (
        "writing_to_a_child_that_stopped_reading_is_a_broken_pipe",
        writing_to_a_child_that_stopped_reading_is_a_broken_pipe,
    ),
    (
        "a_dropped_process_is_still_reaped",
        a_dropped_process_is_still_reaped,
    ),
    (
        "a_child_outliving_its_loop_is_reaped_by_a_thread",
        a_child_outliving_its_loop_is_reaped_by_a_thread,
    ),
    (
        "a_cancelled_communicate_closes_its_pipes_and_the_child_runs_on",
        a_cancelled_communicate_closes_its_pipes_and_the_child_runs_on,
    ),
    (
        "kill_on_drop_children_are_reaped_before_run_returns",
        kill_on_drop_children_are_reaped_before_run_returns,
    ),
];

fn main() {
    let filter = std::env::args().skip(1).find(|arg| !arg.starts_with('-'));
    let mut failures = Vec::new();
    let mut count = 0;
    for (name, case) in CASES {
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        count += 1;
        let before = open_fds();
        let outcome = std::panic::catch_unwind(case);
        let after = open_fds();
        let verdict = match outcome {
            Ok(Ok(())) if after == before => "ok".to_string(),
            Ok(Ok(())) => format!("FAILED: {before} fds open before, {after} after"),
            Ok(Err(e)) => format!("FAILED: {e}"),
            Err(_) => "FAILED: panicked".to_string(),
        };
        println!("test {name} ... {verdict}");
        if verdict != "ok" {
            failures.push(format!("{name}: {verdict}"));
        }
    }
    // After all of them: not one zombie among this process's children.
    let left = zombies();
    if !left.is_empty() {
        failures.push(format!("zombies left after the cases: {left:?}"));
    }
    if !failures.is_empty() {
        eprintln!("\nprocesses: failures:\n  {}", failures.join("\n  "));
        std::process::exit(1);
    }
    println!("\nprocesses: {count} cases ok, no fd left open, no zombie left behind");
}

use testkit::open_fds;

/// The children of this process that are zombies (exited, not reaped).
fn zombies() -> Vec<String> {
    let mut found = Vec::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return found;
    };
    for task in tasks.flatten() {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for pid in children.split_whitespace() {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // "pid (comm) S ...": the state follows the last ')'.
            if let Some(rest) = stat.rsplit_once(") ")
                && rest.1.starts_with('Z')
            {
                found.push(stat);
            }
        }
    }
    found
}

fn no_zombie_of(pid: u32) {
    assert!(
        !zombies().iter().any(|s| s.starts_with(&format!("{pid} "))),
        "child {pid} left a zombie"
    );
}

fn exec_with_piped_stdout_and_wait() -> Result {
    let pid = run(async {
        let options = ProcessOptions {
            stdout: Stdio::Pipe,
            ..ProcessOptions::default()
        };
        let mut child = create_subprocess_exec("echo", ["one", "two"], options).await?;
        let out = child.stdout.take().unwrap().read(-1).await?;
        assert_eq!(out, b"one two\n");
        let status = child.wait().await?;
        assert!(status.success());
        assert_eq!(child.returncode(), Some(0));
        std::io::Result::Ok(child.pid())
    })??;
    no_zombie_of(pid);
    Ok(())
}

fn shell_exit_codes_and_stderr_merged_into_stdout() -> Result {
    run(async {
        let options = ProcessOptions {
            stdout: Stdio::Pipe,
            stderr: Stdio::Stdout,
            ..ProcessOptions::default()
        };
        let mut child = create_subprocess_shell("echo out; echo err >&2; exit 3", options).await?;
        let (out, err) = child.communicate(None).await?;
        assert_eq!(out, b"out\nerr\n");
        assert!(err.is_empty());
        assert_eq!(child.returncode(), Some(3));
        // A command the shell cannot find: its business, status 127.
        let mut missing = create_subprocess_shell(
            "no-such-command-here 2>/dev/null",
            ProcessOptions::default(),
        )
        .await?;
        assert_eq!(missing.wait().await?.code(), Some(127));
        missing.communicate(None).await?;
        std::io::Result::Ok(())
    })??;
    Ok(())
}

fn a_program_that_does_not_exist_is_an_error_naming_it() -> Result {
    run(async {
        let err = create_subprocess_exec("/no/such/program", ["x"], ProcessOptions::piped())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.to_string().contains("/no/such/program"), "{err}");
    })?;
    Ok(())
}

fn a_killed_child_reports_the_signal_and_signals_after_exit_are_errors() -> Result {
    let pid = run(async {
        let child = create_subprocess_exec("sleep", ["30"], ProcessOptions::default()).await?;
        child.kill()?;
        let status = child.wait().await?;
        assert_eq!(status.signal(), Some(9));
        assert_eq!(child.returncode(), Some(-9));
        // Reaped: no more signals, and wait again says the same.
        assert_eq!(child.terminate().unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(child.wait().await?.signal(), Some(9));

        let child = create_subprocess_exec("sleep", ["30"], ProcessOptions::default()).await?;
        child.terminate()?;
        assert_eq!(child.wait().await?.signal(), Some(15));
        std::io::Result::Ok(child.pid())
    })??;
    no_zombie_of(pid);
    Ok(())
}

fn ten_mib_through_communicate_both_ways_without_deadlock() -> Result {
    run(async {
        let input: Vec<u8> = (0..10 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
        // cat echoes stdin to stdout: its output pipe fills long before the
        // input is all written, so writing and reading must overlap.
        let mut child =
            create_subprocess_shell("cat; echo done >&2", ProcessOptions::piped()).await?;
        let (out, err) = child.communicate(Some(&input)).await?;
        assert_eq!(out.len(), input.len());
        assert!(out == input, "stdout differs");
        assert_eq!(err, b"done\n");
        assert_eq!(child.returncode(), Some(0));
        std::io::Result::Ok(())
    })??;
    Ok(())
}

fn a_hundred_children_at_once() -> Result {
    let pids = run(async {
        let mut tasks = Vec::new();
        for i in 0..100 {
            tasks.push(create_task(async move {
                let mut child =
                    create_subprocess_exec("echo", [i.to_string()], ProcessOptions::piped())
                        .await?;
                let (out, _) = child.communicate(None).await?;
                assert_eq!(out, format!("{i}\n").as_bytes());
                std::io::Result::Ok(child.pid())
            }));
        }
        let mut pids = Vec::new();
        for task in tasks {
            pids.push(task.await.unwrap()?);
        }
        std::io::Result::Ok(pids)
    })??;
    for pid in pids {
        no_zombie_of(pid);
    }
    Ok(())
}

fn a_fan_out_cut_by_a_deadline_leaves_no_child_with_kill_on_drop() -> Result {
    let pids = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let started = pids.clone();
    run(async move {
        let children = (0..300).map(|_| {
            let started = started.clone();
            async move {
                let options = ProcessOptions::default().kill_on_drop(true);
                let child = create_subprocess_exec("sleep", ["30"], options).await?;
                started.borrow_mut().push(child.pid());
                child.wait().await
            }
        });
        // The deadline cancels the gather, which cancels every child task:
        // each drops its Process, which kills its child.
        let cut = wait_for(gather(children), Some(Duration::from_millis(500))).await;
        assert!(cut.unwrap_err().is_timeout());
        // Killed children exit at once; the loop reaps them.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while started.borrow().iter().any(|pid| alive(*pid)) {
            assert!(
                std::time::Instant::now() < deadline,
                "children still running"
            );
            sleep(Duration::from_millis(20)).await;
        }
    })?;
    assert!(!pids.borrow().is_empty(), "no child was started");
    for &pid in pids.borrow().iter() {
        assert!(!alive(pid), "child {pid} still there");
    }
    Ok(())
}

/// Children held by tasks still pending when `run` ends (what Ctrl-C
/// leaves): `run` cancels the tasks, each dropped `Process` kills its
/// child, and every child is reaped before `run` returns: none is left
/// as `<defunct>`, even for an instant, once the program moves on.
fn kill_on_drop_children_are_reaped_before_run_returns() -> Result {
    for _ in 0..5 {
        let pids = run(async {
            let mut pids = Vec::new();
            for _ in 0..20 {
                let options = ProcessOptions::default().kill_on_drop(true);
                let child = create_subprocess_exec("sleep", ["30"], options).await?;
                pids.push(child.pid());
                create_task(async move {
                    let _held = child;
                    sleep(Duration::from_secs(3600)).await;
                });
            }
            std::io::Result::Ok(pids)
        })??;
        for pid in pids {
            assert!(!alive(pid), "child {pid} not reaped when run returned");
        }
    }
    Ok(())
}

/// True while `/proc/PID` exists (running, or a zombie not yet reaped).
fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

fn wait_after_the_child_already_exited() -> Result {
    run(async {
        let child = create_subprocess_exec("true", [""; 0], ProcessOptions::default()).await?;
        sleep(Duration::from_millis(100)).await; // exited (and reaped) meanwhile
        assert_eq!(child.returncode(), Some(0));
        assert!(child.wait().await?.success());
        std::io::Result::Ok(())
    })??;
    Ok(())
}

fn stdout_as_stdin_is_invalid_input() -> Result {
    run(async {
        let options = ProcessOptions {
            stdin: Stdio::Stdout,
            ..ProcessOptions::default()
        };
        let err = create_subprocess_exec("true", [""; 0], options)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    })?;
    Ok(())
}

fn communicate_input_without_a_stdin_pipe_and_bad_signal_numbers_are_errors() -> Result {
    run(async {
        let options = ProcessOptions {
            stdout: Stdio::Pipe,
            ..ProcessOptions::default()
        };
        let mut child = create_subprocess_exec("sleep", ["30"], options).await?;
        let err = child.communicate(Some(b"lost?")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        let err = child.send_signal(-1).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        // Neither call touched the child: it still runs, and a real signal
        // ends it.
        assert_eq!(child.returncode(), None);
        child.kill()?;
        let (out, _) = child.communicate(None).await?;
        assert!(out.is_empty());
        assert_eq!(child.returncode(), Some(-9));
        std::io::Result::Ok(())
    })??;
    Ok(())
}

fn the_child_gets_real_pipes() -> Result {
    run(async {
        // `/dev/stdout` cannot be opened on a socket (ENXIO), only on a
        // pipe or a file: shell scripts that write there need real pipes.
        let script = "[ -p /dev/stdin ] && [ -p /dev/stdout ] && [ -p /dev/stderr ] && echo pipes; \
                      cat > /dev/stdout; echo err > /dev/stderr";
        let mut child = create_subprocess_shell(script, ProcessOptions::piped()).await?;
        let (out, err) = child.communicate(Some(b"in\n")).await?;
        assert_eq!(String::from_utf8_lossy(&out), "pipes\nin\n");
        assert_eq!(err, b"err\n");
        assert_eq!(child.returncode(), Some(0));
        std::io::Result::Ok(())
    })??;
    Ok(())
}

fn writing_to_a_child_that_stopped_reading_is_a_broken_pipe() -> Result {
    run(async {
        // The child is gone before anything is written: the write fails
        // with BrokenPipe (the selector saw the pipe's reader go, or the
        // write met EPIPE, never SIGPIPE: Rust ignores it), or if the
        // write was only buffered, drain does.
        let mut child = create_subprocess_shell("exit 0", ProcessOptions::piped()).await?;
        child.wait().await?;
        let stdin = child.stdin.take().unwrap();
        let err = match stdin.write(b"anyone?") {
            Err(err) => err,
            Ok(()) => stdin.drain().await.unwrap_err(),
        };
        assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err}");

        // The child reads 10 bytes and exits while a megabyte waits in
        // our buffer: the pipe's write end reports its reader gone.
        let mut child =
            create_subprocess_exec("head", ["-c", "10"], ProcessOptions::piped()).await?;
        let stdin = child.stdin.take().unwrap();
        stdin.write(&vec![b'x'; 1024 * 1024])?;
        let err = stdin.drain().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err}");
        let (out, _) = child.communicate(None).await?;
        assert_eq!(out, b"xxxxxxxxxx");
        assert_eq!(child.returncode(), Some(0));
        std::io::Result::Ok(())
    })??;
    Ok(())
}

fn a_dropped_process_is_still_reaped() -> Result {
    let pid = run(async {
        let child = create_subprocess_exec("sleep", ["0.1"], ProcessOptions::piped()).await?;
        let pid = child.pid();
        drop(child); // its pipes close; the loop still watches its pidfd
        sleep(Duration::from_millis(400)).await;
        std::io::Result::Ok(pid)
    })??;
    assert!(!is_alive_or_zombie(pid), "child {pid} not reaped");
    Ok(())
}

fn a_child_outliving_its_loop_is_reaped_by_a_thread() -> Result {
    // The loop closes while the child sleeps: nobody watches its pidfd
    // any more, so a thread waits for it.
    let pid = run(async {
        let child = create_subprocess_exec("sleep", ["0.2"], ProcessOptions::default()).await?;
        std::io::Result::Ok(child.pid())
    })??;
    assert!(
        is_alive_or_zombie(pid),
        "child {pid} ended too soon for this test"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while is_alive_or_zombie(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "child {pid} never reaped"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn a_cancelled_communicate_closes_its_pipes_and_the_child_runs_on() -> Result {
    run(async {
        let mut child =
            create_subprocess_shell("echo partial; exec sleep 30", ProcessOptions::piped()).await?;
        let with_pipes = open_fds();
        let outcome = timeout(Duration::from_millis(200), child.communicate(None)).await;
        assert!(
            outcome.is_err(),
            "communicate cannot finish: the child sleeps"
        );
        // The cancelled call's tasks end at their next step and close the
        // three pipes they took (one loop iteration later).
        for _ in 0..3 {
            sleep(Duration::ZERO).await;
        }
        assert_eq!(open_fds(), with_pipes - 3, "the pipes are closed");
        assert!(child.stdout.is_none() && child.stdin.is_none());
        // The child runs on, and can still be signalled and waited for.
        assert_eq!(child.returncode(), None);
        child.kill()?;
        assert_eq!(child.wait().await?.signal(), Some(9));
        std::io::Result::Ok(())
    })??;
    Ok(())
}

/// True while `pid` is running or a zombie (not yet reaped).
fn is_alive_or_zombie(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}
