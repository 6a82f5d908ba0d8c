//! The `opfuse` command line: the only place that reads files, prints and
//! renders. Each subcommand lives in `commands/`; loading a model (read,
//! parse, elaborate, verify) is shared in `load.rs`.

mod commands;
mod load;
mod npy;
mod render;
mod summary;
mod table;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Operator coverage, fusion and speed for CUDA-to-Ascend migrations.
#[derive(Parser)]
#[command(name = "opfuse", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The migration audit: which ops a chip runs natively, the gaps and what closes them.
    Audit(commands::audit::AuditArgs),
    /// Parse, elaborate and verify a model; print a summary.
    Check(commands::check::CheckArgs),
    /// Estimate a model's time on a simulated Ascend chip (or a GPU roofline).
    Estimate(commands::estimate::EstimateArgs),
    /// Explain a diagnostic code, such as E0004.
    Explain(commands::explain::ExplainArgs),
    /// Optimize a model with the e-graph: rewrite, fuse, extract for a target.
    Opt(commands::opt::OptArgs),
    /// The operator catalog and its coverage per Ascend chip.
    Ops(commands::ops::OpsArgs),
    /// Run a model (.opf or .onnx) and write its outputs as .npy files.
    Run(commands::run::RunArgs),
}

/// How a command failed, which decides the exit code.
#[derive(Debug)]
pub enum Failure {
    /// The input is bad: exit 1. The text is already rendered.
    Input(String),
    /// The command line is bad: exit 2.
    Usage(String),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Elaboration recurses on nesting; a generous stack keeps the bounds in
    // `opfuse_syntax::parser::MAX_NESTING` far from the limit.
    let worker = std::thread::Builder::new().stack_size(256 << 20).spawn(move || match cli.command {
        Command::Audit(args) => commands::audit::run(&args),
        Command::Check(args) => commands::check::run(&args),
        Command::Estimate(args) => commands::estimate::run(&args),
        Command::Explain(args) => commands::explain::run(&args),
        Command::Opt(args) => commands::opt::run(&args),
        Command::Ops(args) => commands::ops::run(&args),
        Command::Run(args) => commands::run::run(&args),
    });
    let result = match worker.map(|handle| handle.join()) {
        Ok(Ok(result)) => result,
        _ => Err(Failure::Input(
            "error: internal failure (please report this with the input file)\n".into(),
        )),
    };
    match result {
        Ok(output) => {
            // A closed pipe (`opfuse ops | head`) is the reader's choice, not an error.
            let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), output.as_bytes());
            ExitCode::SUCCESS
        }
        Err(Failure::Input(rendered)) => {
            eprint!("{rendered}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}
