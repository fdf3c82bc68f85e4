//! A bake running in the background, for the tests that time it, signal it and read
//! what it printed as it went.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A bake running in the background: its JSON events as they arrive, each with the
/// moment the test read it, and its stderr.
pub(super) struct Running {
    child: Child,
    events: Arc<Mutex<Vec<(Instant, serde_json::Value)>>>,
    stderr: Arc<Mutex<String>>,
}

impl Running {
    pub(super) fn spawn(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start amibake");
        let events = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let sink = events.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&line) {
                    sink.lock().unwrap().push((Instant::now(), v));
                }
            }
        });
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Running {
            child,
            events,
            stderr,
        }
    }

    pub(super) fn events(&self) -> Vec<serde_json::Value> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// When the first event `matching` arrived (waits up to `within` for it).
    pub(super) fn wait_for(
        &mut self,
        within: Duration,
        matching: impl Fn(&serde_json::Value) -> bool,
    ) -> Instant {
        let end = Instant::now() + within;
        loop {
            if let Some((at, _)) = self
                .events
                .lock()
                .unwrap()
                .iter()
                .find(|(_, e)| matching(e))
            {
                return *at;
            }
            if Instant::now() > end || self.child.try_wait().unwrap().is_some() {
                let code = self.finish(Duration::from_secs(5));
                panic!(
                    "no such event within {within:?} (exit {code:?}); events: {:?}\nstderr:\n{}",
                    self.events(),
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(super) fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name}");
    }

    /// The exit code once amibake ended; fails the test (after killing it) when it is
    /// still running after `within`.
    pub(super) fn finish(&mut self, within: Duration) -> Option<i32> {
        let end = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the readers drain the pipes.
                std::thread::sleep(Duration::from_millis(300));
                return status.code();
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "amibake was still running {within:?} later (killed); events: {:?}\nstderr:\n{}",
                    self.events(),
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(super) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub(super) fn run_id(&self) -> String {
        crate::support::emulator::run_id(&self.events())
    }
}
