fn main() -> std::process::ExitCode {
    amibake::cli::main()
}
