//! `sluice`: the command-line entry point. Wiring only; each subcommand lives in `cmd/`.

mod cli;
mod cmd;

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sluice: error: {e:#}");
            ExitCode::from(cmd::EXIT_ERROR)
        }
    }
}
