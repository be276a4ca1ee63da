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
            // One line, whatever the causes' own formatting.
            let message = format!("{error:#}");
            let message: Vec<&str> = message.split_whitespace().collect();
            eprintln!("spartakus: error: {}", message.join(" "));
            ExitCode::from(spartakus::exit::class_of(&error).code())
        }
    }
}
