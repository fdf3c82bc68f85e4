# The everyday interface. The README's quick-start commands call the same scripts, so
# they work on a machine without `just`.

# List recipes.
default:
    @just --list

# Bake the AL2023 recipe end to end against the local emulator and print the manifest.
demo:
    bash scripts/demo.sh

# The same bake with real instances: Debian 12 systemd + cloud-init containers in which
# every script runs for real (needs root; REAL_OS=amazon for Amazon Linux's unit layout).
demo-real:
    bash scripts/demo-real.sh

# Everything CI runs: tools into target/venv, cfn-lint, shellcheck, cargo test.
test:
    bash scripts/test.sh

# Formatting, clippy with warnings as errors, cfn-lint, shellcheck.
lint:
    cargo fmt --check
    cargo clippy --all-targets --locked -- -D warnings
    bash scripts/venv.sh >/dev/null
    target/venv/bin/shellcheck scripts/*.sh .ci/run

# Start/stop the local AWS emulator (moto in server mode on 127.0.0.1).
emulator ACTION="start":
    bash scripts/emulator.sh {{ACTION}}

# The benchmark of BENCHMARKS.md: release build, emulator with realistic delays and EC2's
# request buckets, one bake, 8 concurrent bakes, a roll, validate start-up.
bench *ARGS:
    bash scripts/bench.sh {{ARGS}}

# Shell completions (bash, zsh, fish) and the man page, generated from the clap
# definitions into target/completions and target/man (the release tarballs carry the same).
completions:
    cargo build --locked
    mkdir -p target/completions target/man
    target/debug/amibake generate complete-bash > target/completions/amibake.bash
    target/debug/amibake generate complete-zsh > target/completions/_amibake
    target/debug/amibake generate complete-fish > target/completions/amibake.fish
    target/debug/amibake generate man > target/man/amibake.1
