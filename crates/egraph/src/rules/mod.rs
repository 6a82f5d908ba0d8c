//! The rewrite rules, one module per family, each rule with a one-line
//! description (`opfuse opt --list-rules`). Algebraic, layout and pattern
//! rules are egg rewrites run to saturation; fusion rules grow kernels in
//! bounded rounds after it (see `fusion.rs`).
//!
//! Every rule that merges a new or existing class into a matched one checks
//! through the analysis that both have the same type (see [`support`]).

mod algebraic;
mod attention;
mod decompose;
mod fold;
pub(crate) mod fusion;
pub(crate) mod horizontal;
mod layout;
mod patterns;
mod support;

use egg::Rewrite;

use crate::analysis::TensorAnalysis;
use crate::language::TensorNode;

/// A rule as `--list-rules` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleInfo {
    pub family: &'static str,
    pub name: &'static str,
    pub description: &'static str,
}

/// A rule's pattern does not parse: a bug in this crate.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("rule `{rule}`: {message}")]
pub struct RuleError {
    pub rule: &'static str,
    pub message: String,
}

/// The families run to saturation, in the order they are listed.
const SATURATING: [&[support::RuleSpec]; 6] = [
    algebraic::RULES,
    layout::RULES,
    patterns::RULES,
    attention::RULES,
    decompose::RULES,
    fold::RULES,
];
const FAMILY_NAMES: [&str; 6] = ["algebraic", "layout", "patterns", "patterns", "decompositions", "fusion"];

/// Every rule of every family, in the order they are listed.
pub fn list() -> Vec<RuleInfo> {
    let mut rules: Vec<RuleInfo> = SATURATING
        .iter()
        .zip(FAMILY_NAMES)
        .flat_map(|(family, name)| family.iter().map(move |rule| rule.info(name)))
        .collect();
    rules.extend(fusion::RULES.iter().chain(horizontal::RULES).map(|(name, description)| RuleInfo {
        family: "fusion",
        name,
        description,
    }));
    rules
}

/// The egg rewrites of the saturating families.
pub(crate) fn rewrites() -> Result<Vec<Rewrite<TensorNode, TensorAnalysis>>, RuleError> {
    SATURATING
        .iter()
        .flat_map(|family| family.iter())
        .map(support::RuleSpec::rewrite)
        .collect()
}
