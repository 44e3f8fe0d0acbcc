//! The `possim` command line: argument parsing, files, messages and exit
//! codes. Everything else lives in the library.

mod cli;

/// mimalloc rather than the system allocator: a purchase makes about 160
/// small allocations (frames, messages, APDUs, records), and glibc's malloc
/// and free were about 13% of a headless run's instructions (BENCHMARKS.md).
/// Its transparent huge pages are left on: a big run touches its 100,000
/// cards at random, and with 2 MB pages it took about 4% less time (and
/// 28 MB more peak RSS) for the million (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
