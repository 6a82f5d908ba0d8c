//! `opfuse explain CODE`: the registry entry of a diagnostic code.

use opfuse_syntax::Code;

use crate::Failure;

#[derive(clap::Args)]
pub struct ExplainArgs {
    /// A code such as E0004.
    code: String,
}

pub fn run(args: &ExplainArgs) -> Result<String, Failure> {
    let wanted = args.code.to_ascii_uppercase();
    let code = Code::ALL.iter().find(|c| c.as_str() == wanted).ok_or_else(|| {
        let first = Code::ALL.first().map_or("", |c| c.as_str());
        let last = Code::ALL.last().map_or("", |c| c.as_str());
        Failure::Usage(format!("no diagnostic code `{}`; codes run from {first} to {last}", args.code))
    })?;
    Ok(format!("{code}: {}\n\n{}\n", code.title(), code.explanation()))
}
