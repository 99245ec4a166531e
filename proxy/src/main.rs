//! `sluice`: the command-line entry point. Wiring only; each subcommand lives in `cmd/`.

mod cli;
mod cmd;

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc 3's `mi_option_arena_eager_commit` (its `mimalloc.h`, `mi_option_e`: the fifth
/// option). libmimalloc-sys names only the options of mimalloc 2.
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// Arenas committed as they are used, not a whole arena at once: with eager commit, an idle
/// gateway held 12 MiB more (pages it had freed stayed resident). Set before anything
/// allocates: mimalloc reserves its first arena at the first allocation, before `main`, so this
/// runs as an early constructor (`.init_array` entries with a priority run before the others,
/// mimalloc's own included; an option set before mimalloc reads the environment is kept).
#[used]
#[cfg_attr(target_os = "linux", unsafe(link_section = ".init_array.00100"))]
static SET_ALLOCATOR_OPTIONS: extern "C" fn() = set_allocator_options;

extern "C" fn set_allocator_options() {
    // SAFETY: sets one option; allocates nothing.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0) };
}

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
