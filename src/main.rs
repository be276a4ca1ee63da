//! The `spartakus` binary: parse flags, call the library, map the error to an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let args = match spartakus::cli::parse(&argv) {
        Ok(args) => args,
        Err(exit) => return exit,
    };
    match spartakus::cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("spartakus: error: {error:#}");
            ExitCode::from(spartakus::exit::class_of(&error).code())
        }
    }
}
