//! A local apt repository for the update probe's real-OS tests: a tiny package,
//! `amibake-demo`, built with `dpkg-deb` at whichever versions a test publishes, laid out
//! as suites (`dists/<suite>/Release` + `main/binary-amd64/Packages`, unsigned: the
//! sources say `[trusted=yes]`) and served over HTTP on 127.0.0.1 for as long as the test
//! runs (the containers share the host's network).
//!
//! The package holds `/usr/share/amibake-demo/version`, its version: what a boot-test
//! check reads to prove which version an image carries.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest as _, Sha256};

/// The package the tests publish and bake in.
pub const DEMO: &str = "amibake-demo";
/// The suite the image is baked from, and the security suite beside it (the probe counts
/// an update from a `*-security` suite as a security one).
pub const SUITE: &str = "amibake-local";
pub const SECURITY_SUITE: &str = "amibake-local-security";

pub struct AptRepo {
    dir: PathBuf,
    /// `http://127.0.0.1:PORT/`: the repository's root, as a sources line names it.
    pub url: String,
}

impl AptRepo {
    /// An empty repository under `dir` (both suites published, empty: apt refuses a
    /// source whose suite has no Release file), served from now on.
    pub fn serve(dir: &Path) -> AptRepo {
        let dir = dir.join("apt-repo");
        std::fs::create_dir_all(dir.join("pool")).expect("create the repository");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let root = dir.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let root = root.clone();
                std::thread::spawn(move || answer(&root, stream));
            }
        });
        let repo = AptRepo {
            dir,
            url: format!("http://127.0.0.1:{port}/"),
        };
        repo.publish(SUITE, &[]);
        repo.publish(SECURITY_SUITE, &[]);
        repo
    }

    /// Makes `suite` hold exactly these versions of [`DEMO`] (building each once).
    pub fn publish(&self, suite: &str, versions: &[&str]) {
        let mut packages = String::new();
        for version in versions {
            packages.push_str(&self.stanza(version));
            packages.push('\n');
        }
        let index = self.dir.join(format!("dists/{suite}/main/binary-amd64"));
        std::fs::create_dir_all(&index).unwrap();
        std::fs::write(index.join("Packages"), &packages).unwrap();
        let release = format!(
            "Origin: amibake-test\nLabel: amibake-test\nSuite: {suite}\nCodename: {suite}\n\
             Date: Thu, 01 Jan 2026 00:00:00 UTC\nArchitectures: amd64\nComponents: main\n\
             Description: amibake's update-probe test repository\nSHA256:\n {} {} main/binary-amd64/Packages\n",
            hex::encode(Sha256::digest(packages.as_bytes())),
            packages.len()
        );
        std::fs::write(self.dir.join(format!("dists/{suite}/Release")), release).unwrap();
    }

    /// The package at `version`, built into pool/ if it is not there yet; its Packages
    /// stanza.
    fn stanza(&self, version: &str) -> String {
        let name = format!("{DEMO}_{version}_all.deb");
        let deb = self.dir.join("pool").join(&name);
        if !deb.exists() {
            build_demo(&self.dir.join("build"), version, &deb);
        }
        let body = std::fs::read(&deb).unwrap();
        let control = run(Command::new("dpkg-deb").arg("--field").arg(&deb));
        format!(
            "{}\nFilename: pool/{name}\nSize: {}\nSHA256: {}\n",
            control.trim_end(),
            body.len(),
            hex::encode(Sha256::digest(&body))
        )
    }
}

/// `dpkg-deb --build` of [`DEMO`] at `version` into `deb`.
fn build_demo(work: &Path, version: &str, deb: &Path) {
    let root = work.join(version);
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.join("usr/share/amibake-demo")).unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: {DEMO}\nVersion: {version}\nArchitecture: all\n\
             Maintainer: amibake tests <tests@amibake.invalid>\nSection: misc\nPriority: optional\n\
             Description: amibake's update-probe test package\n \
             Holds its own version in /usr/share/amibake-demo/version.\n"
        ),
    )
    .unwrap();
    std::fs::write(
        root.join("usr/share/amibake-demo/version"),
        format!("{version}\n"),
    )
    .unwrap();
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zgzip", "--build"])
        .arg(&root)
        .arg(deb));
}

/// Runs a command that must succeed (a missing tool says so in one line); its stdout.
fn run(cmd: &mut Command) -> String {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{program} is needed to build the test's apt repository: {e}"));
    assert!(
        out.status.success(),
        "{program}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Answers one connection: a GET (or HEAD) of a file under `root`, else 404.
fn answer(root: &Path, mut stream: TcpStream) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let mut words = request.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("").trim_start_matches('/');
    let file = (!path.split('/').any(|p| p == ".." || p.is_empty()))
        .then(|| std::fs::read(root.join(path)).ok())
        .flatten();
    let (status, body) = match file {
        Some(body) => ("200 OK", body),
        None => ("404 Not Found", Vec::new()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    if method != "HEAD" {
        let _ = stream.write_all(&body);
    }
}
