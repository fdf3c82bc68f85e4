//! What the user sees while a command runs: each [`Event`] becomes progress bars and lines
//! on a terminal, timestamped lines otherwise, or one JSON object per line with `--json`;
//! a memory sink keeps them for tests instead. Every text passes through the run's
//! [`Masker`] first, so secrets never reach the screen, a CI log or a test's assertion.

use std::io::{IsTerminal, Write as _};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::event::{Event, Message, Progress, Recorded};
use crate::secret::Masker;

/// How output is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One JSON object per line on stdout.
    Json,
    /// Timestamped lines on stderr (not a terminal, or `--no-progress`).
    Lines,
    /// indicatif spinners and bars on stderr, with log lines above them.
    Bars,
    /// Kept in memory (tests): see [`Reporter::memory`].
    Memory,
}

impl Mode {
    /// The mode for these flags on this terminal.
    pub fn detect(json: bool, no_progress: bool) -> Mode {
        if json {
            Mode::Json
        } else if no_progress || !std::io::stderr().is_terminal() {
            Mode::Lines
        } else {
            Mode::Bars
        }
    }
}

/// Emits events. Cheap to share by reference across concurrent tasks.
pub struct Reporter {
    mode: Mode,
    masker: Masker,
    /// Which of several bakes of one process this reporter speaks for (`2/8 web`): it
    /// prefixes lines and spinners, and JSON events carry it as `bake`.
    label: Option<String>,
    bars: MultiProgress,
    /// The phase spinner, and one bar per region copy, keyed by label.
    spinners: Mutex<Vec<(String, ProgressBar)>>,
    /// With [`Mode::Memory`]: every event emitted, shared with labelled reporters.
    memory: Arc<Mutex<Recorded>>,
}

impl Reporter {
    pub fn new(mode: Mode, masker: Masker) -> Reporter {
        let bars = MultiProgress::with_draw_target(if mode == Mode::Bars {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        Reporter {
            mode,
            masker,
            label: None,
            bars,
            spinners: Mutex::new(Vec::new()),
            memory: Arc::default(),
        }
    }

    /// A reporter that keeps its events in memory instead of printing them: what a test
    /// reads back with [`Reporter::recorded`].
    pub fn memory(masker: Masker) -> Reporter {
        Reporter::new(Mode::Memory, masker)
    }

    /// The events emitted so far (with [`Mode::Memory`]; empty otherwise).
    pub fn recorded(&self) -> Recorded {
        self.memory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A reporter for one of several concurrent bakes: same mode and terminal (its
    /// spinners join this one's), its own masker, its lines labelled.
    pub fn labelled(&self, label: &str, masker: Masker) -> Reporter {
        Reporter {
            mode: self.mode,
            masker,
            label: Some(label.to_string()),
            bars: self.bars.clone(),
            spinners: Mutex::new(Vec::new()),
            memory: self.memory.clone(),
        }
    }

    /// Replaces the masker once secrets are known.
    pub fn set_masker(&mut self, masker: Masker) {
        self.masker = masker;
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Emits an event: its line (or JSON object), and on a terminal the spinner it
    /// starts, updates or ends.
    pub fn emit(&self, event: impl Into<Event>) {
        let event = event.into();
        match event.progress() {
            Some(Progress::Show { label, message }) => self.spin(&label, &message),
            Some(Progress::Clear { label }) => self.unspin(&label),
            None => {}
        }
        let line = || self.masker.mask(&event.to_string()).into_owned();
        match self.mode {
            Mode::Memory => {
                let mut json = event.to_json();
                self.stamp(&mut json);
                let text = line();
                let mut memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
                memory.events.push(event);
                memory.json.push(json);
                memory.text.push(text);
            }
            Mode::Json => {
                let mut json = event.to_json();
                self.stamp(&mut json);
                let _ = writeln!(std::io::stdout().lock(), "{json}");
            }
            Mode::Lines | Mode::Bars => self.print_line(&line()),
        }
    }

    /// Adds what every JSON event carries (the time, which bake) and masks secrets.
    fn stamp(&self, fields: &mut Value) {
        if let Value::Object(map) = fields {
            map.insert(
                "at".into(),
                Value::String(crate::run::rfc3339(SystemTime::now())),
            );
            if let Some(label) = &self.label {
                map.insert("bake".into(), Value::String(label.clone()));
            }
        }
        self.masker.mask_json(fields);
    }

    /// A line on stderr (above the bars on a terminal), each line timestamped.
    fn print_line(&self, text: &str) {
        let clock = match &self.label {
            Some(label) => format!("{} [{label}]", clock()),
            None => clock(),
        };
        let lines: Vec<String> = text.lines().map(|l| format!("{clock} {l}")).collect();
        if self.mode == Mode::Bars {
            let _ = self.bars.println(lines.join("\n"));
        } else {
            let _ = writeln!(std::io::stderr().lock(), "{}", lines.join("\n"));
        }
    }

    /// A human-only line (warnings, hints); in JSON mode a `message` event.
    pub fn say(&self, text: &str) {
        self.emit(Message {
            text: text.to_string(),
        });
    }

    /// Shows a spinner labelled `label` with `message` (updating it if it exists).
    pub fn spin(&self, label: &str, message: &str) {
        if self.mode != Mode::Bars {
            return;
        }
        let mut spinners = self.spinners.lock().unwrap_or_else(|e| e.into_inner());
        let message = self.masker.mask(message).into_owned();
        if let Some((_, bar)) = spinners.iter().find(|(l, _)| l == label) {
            bar.set_message(message);
            return;
        }
        let bar = self.bars.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix:.bold} [{elapsed_precise}] {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(match &self.label {
            Some(bake) => format!("{bake} {label}"),
            None => label.to_string(),
        });
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(120));
        spinners.push((label.to_string(), bar));
    }

    /// Removes the spinner labelled `label`.
    pub fn unspin(&self, label: &str) {
        let mut spinners = self.spinners.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pos) = spinners.iter().position(|(l, _)| l == label) {
            let (_, bar) = spinners.remove(pos);
            bar.finish_and_clear();
        }
    }

    /// Clears every bar (before the final summary).
    pub fn finish(&self) {
        let mut spinners = self.spinners.lock().unwrap_or_else(|e| e.into_inner());
        for (_, bar) in spinners.drain(..) {
            bar.finish_and_clear();
        }
    }
}

fn clock() -> String {
    OffsetDateTime::now_utc()
        .format(format_description!("[hour]:[minute]:[second]"))
        .unwrap_or_default()
}
