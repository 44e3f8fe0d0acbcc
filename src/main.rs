//! The `possim` command line.

fn main() {}
