//! `possim spec`: print a built-in dialect to start a custom one from, or
//! check a dialect file.

use possim::protocol::iso8583::Spec;

use super::{Outcome, print, spec_failure};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A built-in dialect (iso87-ascii, iso87-binary) to print, or a .ron file to check.
    #[arg(default_value = "iso87-ascii")]
    spec: String,
}

pub(crate) fn run(args: Args) -> Outcome {
    if let Some(src) = Spec::built_in_source(&args.spec) {
        return print(src);
    }
    let spec = Spec::load(&args.spec).map_err(spec_failure)?;
    print(&format!(
        "{}: dialect {:?}, {} fields, valid\n",
        args.spec,
        spec.name(),
        spec.doc().fields.len()
    ))
}
