//! `opfuse check FILE`: parse, elaborate, verify, and summarise.

use clap::ValueEnum;

use crate::load::{self, ModelRequest};
use crate::summary;
use crate::Failure;

#[derive(clap::Args)]
pub struct CheckArgs {
    /// The model file (.opf or .onnx).
    pub file: String,
    /// Override a `dim` default, as NAME=VALUE; may repeat.
    #[arg(long = "dim", value_name = "NAME=VALUE", value_parser = load::parse_dim)]
    pub dims: Vec<(String, i64)>,
    /// The graph to elaborate; the file's last graph by default.
    #[arg(long)]
    pub entry: Option<String>,
    /// What to print: the summary, or the canonical IR.
    #[arg(long, value_enum, default_value_t = Emit::Summary)]
    pub emit: Emit,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Emit {
    Summary,
    Ir,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub fn run(args: &CheckArgs) -> Result<String, Failure> {
    let catalog = load::catalog()?;
    let request = ModelRequest {
        path: &args.file,
        entry: args.entry.as_deref(),
        dims: &args.dims,
        bind: Default::default(),
    };
    let loaded = load::load(&request, &catalog)?;
    let graph = loaded.graph;
    match (args.emit, args.format) {
        (Emit::Ir, Format::Text) => Ok(opfuse_ir::print(&graph)),
        (Emit::Ir, Format::Json) => Err(Failure::Usage("--emit ir prints text; drop --format json".into())),
        (Emit::Summary, Format::Text) => Ok(summary::render_text(&summary::summarize(&graph, &catalog, loaded.notes))),
        (Emit::Summary, Format::Json) => {
            let summary = summary::summarize(&graph, &catalog, loaded.notes);
            serde_json::to_string_pretty(&summary)
                .map(|json| json + "\n")
                .map_err(|e| Failure::Input(format!("error: cannot encode the summary: {e}\n")))
        }
    }
}
