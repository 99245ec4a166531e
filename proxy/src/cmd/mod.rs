//! One module per subcommand.

mod check;
mod demo;
mod healthcheck;
mod keygen;
mod mcp;
mod serve;
mod token;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{Cli, Command, McpCommand, TokenCommand};

/// Exit status for "the thing checked is not valid" (a token that fails inspection, a door that
/// does not answer).
pub const EXIT_INVALID: u8 = 1;
/// Exit status for errors: bad input, unreadable files, refused requests.
pub const EXIT_ERROR: u8 = 2;

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Demo(a) => demo::run(a),
        Command::Keygen(a) => keygen::run(a),
        Command::Token(TokenCommand::Create(a)) => token::create(a),
        Command::Token(TokenCommand::Inspect(a)) => token::inspect(a),
        Command::Token(TokenCommand::Revoke(a)) => token::revoke(a),
        Command::Check(a) => check::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Mcp(McpCommand::Stdio(a)) => mcp::stdio(a),
        Command::Healthcheck(a) => healthcheck::run(a),
    }
}

pub use sluice_proxy::now_unix;
