//! The `possim` command line: argument parsing, files, messages and exit
//! codes. Everything else lives in the library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
