//! The one integration-test binary (ripgrep's layout): one module per area.

mod assess;
mod attacks;
mod card;
mod cards;
mod checks;
mod cli;
mod cores;
mod gui;
mod interception;
mod link;
mod net;
mod props;
mod regression;
mod sim;
mod terminal;
mod util;
mod vectors;
mod view;
