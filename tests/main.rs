//! The one integration-test binary (ripgrep's layout): one module per area.

mod cli;
mod cores;
mod props;
mod sim;
mod util;
mod vectors;
