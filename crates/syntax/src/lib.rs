//! The opfuse model language: text in, a typed [`opfuse_ir::Graph`] out.
//!
//! [`lexer`] (logos) turns text into tokens, [`parser`] (the lalrpop grammar
//! in `grammar/opfuse.lalrpop`) builds the [`ast`], and [`elaborate`]
//! resolves names and dims, unrolls loops, inlines graph calls and types
//! every node. Every problem becomes a [`Diagnostic`] with a span and a
//! [`Code`]; rendering them is the CLI's job.
//!
//! Invariants: nothing here panics on any input (nesting and loop sizes are
//! bounded); this crate knows nothing of the catalog or chips: operator
//! knowledge comes in through [`opfuse_ir::OpSemantics`].
//!
//! Start at [`parse`] and [`elaborate()`].

pub mod ast;
pub mod codes;
pub mod diagnostic;
pub mod elaborate;
pub mod lexer;
pub mod parser;

lalrpop_util::lalrpop_mod!(
    #[allow(clippy::all, clippy::pedantic, unused_qualifications)]
    grammar,
    "/opfuse.rs"
);

pub use codes::Code;
pub use diagnostic::Diagnostic;
pub use elaborate::{elaborate, Config, Failure};
pub use parser::parse;
