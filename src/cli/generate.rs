//! `amibake generate`: shell completions and the man page, printed from the same clap
//! definitions that parse the command line, so they never drift from it.
//!
//! Hidden from `--help`: it is for packagers and `just completions`, which write the
//! files the release tarballs carry.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{CommandFactory, ValueEnum};
use clap_complete::Shell;

use super::{Cli, GlobalArgs, fail};
use crate::error::{ExitKind, Stop, exit_status};
use crate::report::{Mode, Reporter};
use crate::secret::Masker;

/// What `amibake generate` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Artifact {
    /// Bash completion script (source it, or put it in bash-completion's directory).
    CompleteBash,
    /// Zsh completion function (`_amibake`, for a directory on $fpath).
    CompleteZsh,
    /// Fish completions (for ~/.config/fish/completions/amibake.fish).
    CompleteFish,
    /// The man page amibake(1), in roff.
    Man,
}

/// Prints `artifact` to stdout; fails (exit 1, through [`fail`]) when stdout cannot be
/// written, a closed pipe aside.
pub fn generate(global: &GlobalArgs, artifact: Artifact) -> ExitCode {
    let written = {
        let mut out = io::stdout().lock();
        write(artifact, &mut out).and_then(|()| out.flush())
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        // `amibake generate man | head`: the reader has all it wanted.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            let why = format!("cannot write to stdout: {e}");
            let failure = Stop::with_source(ExitKind::Failed, why, e);
            let reporter = Reporter::new(
                Mode::detect(global.json, global.no_progress),
                Masker::default(),
            );
            exit_status(Err(fail(&reporter, &failure)))
        }
    }
}

fn write(artifact: Artifact, out: &mut dyn Write) -> io::Result<()> {
    let mut cmd = Cli::command();
    let shell = match artifact {
        Artifact::CompleteBash => Shell::Bash,
        Artifact::CompleteZsh => Shell::Zsh,
        Artifact::CompleteFish => Shell::Fish,
        Artifact::Man => return man(cmd, out),
    };
    // Into memory first: clap_complete panics on a write error (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "amibake", &mut script);
    out.write_all(&script)
}

/// The man page: the top command's page, then each visible subcommand as a section (its
/// own sections become subsections), so one `man amibake` shows everything.
fn man(cmd: clap::Command, out: &mut dyn Write) -> io::Result<()> {
    let cmd = cmd.disable_help_subcommand(true);
    let page = clap_mangen::Man::new(cmd.clone());
    page.render_title(out)?;
    page.render_name_section(out)?;
    page.render_synopsis_section(out)?;
    page.render_description_section(out)?;
    page.render_options_section(out)?;
    page.render_subcommands_section(out)?;
    for sub in cmd.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        let name = format!("amibake {}", sub.get_name());
        let sub_page = clap_mangen::Man::new(sub.clone().bin_name(&name));
        let mut body = Vec::new();
        sub_page.render_synopsis_section(&mut body)?;
        sub_page.render_description_section(&mut body)?;
        sub_page.render_options_section(&mut body)?;
        sub_page.render_extra_section(&mut body)?;
        writeln!(out, ".SH \"{}\"", name.to_uppercase())?;
        out.write_all(&demote(&String::from_utf8_lossy(&body)).into_bytes())?;
    }
    let mut tail = Vec::new();
    page.render_extra_section(&mut tail)?;
    page.render_version_section(&mut tail)?;
    out.write_all(
        &String::from_utf8_lossy(&tail)
            .replace(".SH EXTRA", ".SH NOTES")
            .into_bytes(),
    )
}

/// A subcommand's sections as subsections of its own section; "EXTRA" (clap_mangen's name
/// for the after-help text: examples and exit codes) as "NOTES".
fn demote(roff: &str) -> String {
    roff.lines()
        .map(|line| match line.strip_prefix(".SH ") {
            Some("EXTRA") => ".SS NOTES\n".to_string(),
            Some(title) => format!(".SS {title}\n"),
            None => format!("{line}\n"),
        })
        .collect()
}
