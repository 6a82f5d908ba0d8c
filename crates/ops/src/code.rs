//! The code side of each catalog entry: shape rule, FLOP and byte formulas,
//! and reference semantics, joined by catalog name.
//!
//! Each family module in [`crate::rules`] lists its shape rules in `RULES`,
//! each module in [`crate::eval`] its semantics in `EVAL`; tests check that
//! these tables and the catalog name the same operators.

use crate::eval::{self, EvalFn};
use crate::rules::{self, BytesFn, FlopsFn, InferFn};

/// What the code knows about one operator's types and cost.
#[derive(Clone, Copy, Debug)]
pub struct OpCode {
    pub infer: InferFn,
    pub flops: FlopsFn,
    pub bytes: BytesFn,
}

/// An op whose memory traffic is reading every input and writing every output.
pub const fn op(infer: InferFn, flops: FlopsFn) -> OpCode {
    OpCode {
        infer,
        flops,
        bytes: rules::bytes_in_and_out,
    }
}

impl OpCode {
    /// The same op with its own byte formula (ops that read only part of an input).
    pub const fn with_bytes(self, bytes: BytesFn) -> OpCode {
        OpCode { bytes, ..self }
    }
}

const RULE_TABLES: &[&[(&str, OpCode)]] = &[
    rules::elementwise::RULES,
    rules::quant::RULES,
    rules::reduction::RULES,
    rules::matmul::RULES,
    rules::conv::RULES,
    rules::norm::RULES,
    rules::moe::RULES,
    rules::layout::RULES,
    rules::index::RULES,
];

const EVAL_TABLES: &[&[(&str, EvalFn)]] = &[
    eval::elementwise::EVAL,
    eval::quant::EVAL,
    eval::reduction::EVAL,
    eval::matmul::EVAL,
    eval::conv::EVAL,
    eval::norm::EVAL,
    eval::moe::EVAL,
    eval::layout::EVAL,
    eval::index::EVAL,
];

/// Every (name, code) pair of every family.
pub fn all_rules() -> impl Iterator<Item = (&'static str, OpCode)> {
    RULE_TABLES.iter().flat_map(|table| table.iter().copied())
}

/// Every (name, semantics) pair of every family.
pub fn all_evals() -> impl Iterator<Item = (&'static str, EvalFn)> {
    EVAL_TABLES.iter().flat_map(|table| table.iter().copied())
}
