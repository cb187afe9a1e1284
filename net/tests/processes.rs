//! Subprocesses: real children (`sh`, `cat`, `echo`, `sleep`), real pipes,
//! real signals; every test checks that it left no zombie behind.

use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use corio_executor::{create_task, run, sleep};
use corio_net::{ProcessOptions, Stdio, create_subprocess_exec, create_subprocess_shell};

type Result = std::result::Result<(), Box<dyn std::error::Error>>;

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

#[test]
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

#[test]
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

#[test]
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

#[test]
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

#[test]
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

#[test]
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

#[test]
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

#[test]
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

#[test]
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
