//! Runs a step's process: output captured chunk by chunk, killed on timeout or cancel.
//!
//! On Unix the process leads a new process group and the whole group is killed, so a shell's
//! children (`sh -c 'sleep 5'`) die with it and cannot hold the output pipes open. After the
//! process ends, output still buffered is read for at most [`DRAIN_GRACE`].

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

/// How long the output of an ended process is still read.
pub const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finished {
    Exited(i32),
    /// Killed by a signal it did not get from us.
    Signalled(String),
    TimedOut,
    Cancelled,
}

/// Runs `argv` in `dir` with `env` added, passing output chunks to `sink` as they come.
/// Returns an error only when the process cannot be started.
pub async fn run_process(
    argv: &[String],
    dir: &Path,
    env: &[(String, String)],
    timeout: Duration,
    token: &CancellationToken,
    sink: impl Fn(&[u8]) + Sync,
) -> Result<Finished> {
    let (program, args) = argv.split_first().ok_or_else(|| Error::InvalidInput("the command is empty".into()))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = cmd.spawn().map_err(|e| Error::InvalidInput(format!("cannot start '{program}': {e}")))?;
    let pid = child.id();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let read_all = async {
        tokio::join!(pump(stdout, &sink), pump(stderr, &sink));
    };
    tokio::pin!(read_all);
    let mut read_done = false;

    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let outcome = loop {
        tokio::select! {
            status = child.wait() => {
                break match status {
                    Ok(s) => exit_of(s),
                    Err(e) => Finished::Signalled(format!("cannot wait for it: {e}")),
                };
            }
            _ = &mut read_all, if !read_done => read_done = true,
            _ = &mut deadline => {
                kill(&mut child, pid).await;
                break Finished::TimedOut;
            }
            _ = token.cancelled() => {
                kill(&mut child, pid).await;
                break Finished::Cancelled;
            }
        }
    };
    // Whatever the step started in its group ends with it.
    kill_group(pid);
    if !read_done {
        let _ = tokio::time::timeout(DRAIN_GRACE, &mut read_all).await;
    }
    Ok(outcome)
}

async fn pump(pipe: Option<impl AsyncRead + Unpin>, sink: &(impl Fn(&[u8]) + Sync)) {
    let Some(mut pipe) = pipe else { return };
    let mut buf = vec![0u8; 8192];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => sink(&buf[..n]),
        }
    }
}

fn exit_of(status: std::process::ExitStatus) -> Finished {
    if let Some(code) = status.code() {
        return Finished::Exited(code);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return Finished::Signalled(format!("signal {sig}"));
        }
    }
    Finished::Signalled(status.to_string())
}

async fn kill(child: &mut Child, pid: Option<u32>) {
    kill_group(pid);
    let _ = child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
}

/// Sends SIGKILL to the process group led by `pid` (Unix; elsewhere only the child is
/// killed, by [`kill`]).
fn kill_group(pid: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()).and_then(rustix::process::Pid::from_raw) {
        // An error is a group already gone: nothing is left to kill.
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    #[cfg(not(unix))]
    let _ = pid;
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Instant;

    use super::*;

    async fn run(script: &str, timeout: Duration, token: &CancellationToken) -> (Finished, String) {
        let out = Mutex::new(Vec::new());
        let argv = vec!["sh".to_owned(), "-c".to_owned(), script.to_owned()];
        let env = vec![("GREETING".to_owned(), "hello".to_owned())];
        let finished = run_process(&argv, Path::new("."), &env, timeout, token, |b| {
            out.lock().expect("lock").extend_from_slice(b)
        })
        .await
        .expect("starts");
        let text = String::from_utf8_lossy(&out.into_inner().expect("lock")).into_owned();
        (finished, text)
    }

    #[tokio::test]
    async fn captures_output_and_exit_status() {
        let token = CancellationToken::new();
        let (f, out) = run("echo $GREETING; echo oops >&2; exit 3", Duration::from_secs(10), &token).await;
        assert_eq!(f, Finished::Exited(3));
        assert!(out.contains("hello\n") && out.contains("oops\n"), "{out}");
    }

    #[tokio::test]
    async fn a_timeout_kills_the_whole_group() {
        let token = CancellationToken::new();
        let started = Instant::now();
        // The shell's child holds stdout open: only killing the group ends the read.
        let (f, out) = run("echo started; sleep 5; echo never", Duration::from_millis(200), &token).await;
        assert_eq!(f, Finished::TimedOut);
        assert!(out.contains("started") && !out.contains("never"), "{out}");
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    }

    /// Whether `pid` still runs: a zombie (killed, not yet reaped by whoever adopted it) does not.
    #[cfg(unix)]
    fn alive(pid: i32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // The state follows the command name, which is in parentheses.
            Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')),
            Err(_) if Path::new("/proc/self/stat").exists() => false,
            Err(_) => {
                rustix::process::Pid::from_raw(pid).is_some_and(|p| rustix::process::test_kill_process(p).is_ok())
            }
        }
    }

    /// A grandchild in the step's process group (here a subshell's `sleep`, the subshell
    /// waiting for it) dies with the step, on a timeout and on a cancel.
    #[cfg(unix)]
    #[tokio::test]
    async fn grandchildren_die_with_the_step() {
        for cancelled in [false, true] {
            let dir = tempfile::tempdir().expect("tempdir");
            let pid_file = dir.path().join("pid");
            let script = format!("(sleep 30 & echo $! > '{}'; wait); echo never", pid_file.display());
            let token = CancellationToken::new();
            let timeout = if cancelled {
                let cancel = token.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    cancel.cancel();
                });
                Duration::from_secs(30)
            } else {
                Duration::from_millis(300)
            };
            let (f, out) = run(&script, timeout, &token).await;
            assert_eq!(f, if cancelled { Finished::Cancelled } else { Finished::TimedOut });
            assert!(!out.contains("never"), "{out}");
            let pid: i32 = std::fs::read_to_string(&pid_file).expect("pid file").trim().parse().expect("pid");
            let deadline = Instant::now() + Duration::from_secs(5);
            while alive(pid) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(!alive(pid), "the grandchild {pid} outlived the step (cancelled: {cancelled})");
        }
    }

    #[tokio::test]
    async fn cancel_kills_it() {
        let token = CancellationToken::new();
        let cancel = token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            cancel.cancel();
        });
        let started = Instant::now();
        let (f, _) = run("sleep 5", Duration::from_secs(30), &token).await;
        assert_eq!(f, Finished::Cancelled);
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn a_missing_program_is_an_error() {
        let argv = vec!["/nonexistent/program".to_owned()];
        let err = run_process(&argv, Path::new("."), &[], Duration::from_secs(1), &CancellationToken::new(), |_| {})
            .await
            .expect_err("an error");
        assert!(err.to_string().contains("cannot start '/nonexistent/program'"), "{err}");
    }
}
