//! The `spartakus` binary: parse the command line once, resolve it into settings once, run the
//! job, and map its error to an exit code.

use spartakus::cli::{self, Env, Parsed};
use spartakus::exit::{self, Class};
use spartakus::job::Job;
use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let command = match cli::parse(&argv) {
        Parsed::Run(command) => command,
        Parsed::Exit(code) => return code,
    };
    let name = command.name();
    match Job::resolve(*command, &Env::process()).and_then(Job::run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let class = exit::class_of(&error);
            // One line, whatever the causes' own formatting.
            let message = format!("{error:#}");
            let message: Vec<&str> = message.split_whitespace().collect();
            let hint = if class == Class::Usage {
                format!(" (see `spartakus {name} --help`)")
            } else {
                String::new()
            };
            eprintln!("spartakus: error: {}{hint}", message.join(" "));
            ExitCode::from(class.code())
        }
    }
}
