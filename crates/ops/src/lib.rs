//! The operator catalog: what each operator is, its shape rule and its cost.
//!
//! Data comes from `ops/catalog/*.toml` (embedded at build time, read with
//! serde); shape rules and FLOP formulas are code in [`rules`], reference
//! semantics in [`eval`], keyed by the catalog name (see [`code`]).
//! [`Catalog`] joins them and is the [`opfuse_ir::OpSemantics`] that
//! elaboration and verification ask; [`interp`] runs whole graphs.
//!
//! Invariants: this is the only crate that reads the catalog TOML; every
//! catalog entry has code and all code has an entry (tested); a shape rule
//! never panics, whatever the input types and attributes.
//!
//! Start at [`Catalog`], then `rules/`.

mod args;
pub mod catalog;
pub mod code;
pub mod eval;
pub mod interp;
pub mod rules;
#[cfg(test)]
mod testing;

use std::collections::BTreeMap;

use opfuse_ir::{Attrs, Blame, InferError, InferErrorKind, OpSemantics, Tensor, TensorType};

pub use args::{Args, InferResult};
pub use catalog::{AscendSupport, AscendUnit, AttrKind, AttrSpec, CatalogError, Chip, CudaImpl, CudaLibrary, OnnxOp, OpClass, OpEntry};
pub use eval::{EvalError, EvalResult};

use eval::{EvalArgs, EvalFn};

/// The loaded catalog, with the code for each entry attached.
#[derive(Clone, Debug)]
pub struct Catalog {
    ops: BTreeMap<String, KnownOp>,
}

/// A catalog entry joined with its code, looked up once at load time.
#[derive(Clone, Debug)]
struct KnownOp {
    entry: OpEntry,
    code: code::OpCode,
    eval: Option<EvalFn>,
}

impl Catalog {
    /// Loads the built-in catalog; fails if it is malformed or out of step
    /// with the code.
    pub fn builtin() -> Result<Catalog, CatalogError> {
        let rules: BTreeMap<&str, code::OpCode> = code::all_rules().collect();
        let evals: BTreeMap<&str, EvalFn> = code::all_evals().collect();
        let mut ops = BTreeMap::new();
        for (name, entry) in catalog::builtin_entries()? {
            let code = *rules.get(name.as_str()).ok_or_else(|| CatalogError {
                file: entry.file.clone(),
                message: format!("op `{name}` has no shape rule in crates/ops"),
            })?;
            let eval = evals.get(name.as_str()).copied();
            ops.insert(name, KnownOp { entry, code, eval });
        }
        Ok(Catalog { ops })
    }

    pub fn entry(&self, op: &str) -> Option<&OpEntry> {
        self.ops.get(op).map(|known| &known.entry)
    }

    pub fn entries(&self) -> impl Iterator<Item = &OpEntry> {
        self.ops.values().map(|known| &known.entry)
    }

    /// FLOPs of one application of `op`; 0 for unknown ops.
    pub fn flops(&self, op: &str, attrs: &Attrs, inputs: &[TensorType], outputs: &[TensorType]) -> u128 {
        match self.ops.get(op) {
            Some(known) => (known.code.flops)(&Args { attrs, inputs }, outputs),
            None => 0,
        }
    }

    /// Bytes one application of `op` moves to and from memory; 0 for unknown ops.
    pub fn bytes(&self, op: &str, attrs: &Attrs, inputs: &[TensorType], outputs: &[TensorType]) -> u128 {
        match self.ops.get(op) {
            Some(known) => (known.code.bytes)(&Args { attrs, inputs }, outputs),
            None => 0,
        }
    }

    /// Computes one application of `op` with its reference semantics.
    /// `attrs` must be normalized and `outputs` inferred (as in a verified graph).
    pub fn eval(&self, op: &str, attrs: &Attrs, inputs: &[&Tensor], outputs: &[TensorType]) -> EvalResult<Vec<Tensor>> {
        let known = self
            .ops
            .get(op)
            .ok_or_else(|| EvalError::new(format!("`{op}` is not in the catalog")))?;
        let eval = known
            .eval
            .ok_or_else(|| EvalError::new(format!("`{op}` has no reference semantics in crates/ops/src/eval")))?;
        let types: Vec<TensorType> = inputs.iter().map(|t| t.ty().clone()).collect();
        let args = EvalArgs {
            args: Args { attrs, inputs: &types },
            inputs,
            outputs,
        };
        eval(&args)
    }

    fn known_or_error(&self, op: &str) -> Result<&KnownOp, InferError> {
        self.ops
            .get(op)
            .ok_or_else(|| InferError::new(InferErrorKind::Arity, Blame::Call, format!("`{op}` is not in the catalog")))
    }
}

impl OpSemantics for Catalog {
    fn knows(&self, op: &str) -> bool {
        self.ops.contains_key(op)
    }

    fn op_names(&self) -> Vec<&str> {
        self.ops.keys().map(String::as_str).collect()
    }

    fn normalize_attrs(&self, op: &str, attrs: &mut Attrs) -> Result<(), InferError> {
        let entry = &self.known_or_error(op)?.entry;
        for (name, value) in attrs.iter_mut() {
            let Some(spec) = entry.attr(name) else {
                let known: Vec<&str> = entry.attrs.iter().map(|a| a.name.as_str()).collect();
                let listing = match known.is_empty() {
                    true => format!("`{op}` takes no attributes"),
                    false => format!(
                        "`{op}` takes {}",
                        known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                    ),
                };
                return Err(InferError::new(
                    InferErrorKind::UnknownAttr,
                    Blame::Attr(name.clone()),
                    format!("`{op}` has no attribute `{name}`"),
                )
                .with_help(listing));
            };
            *value = spec.kind.coerce(value).ok_or_else(|| {
                InferError::new(
                    InferErrorKind::AttrType,
                    Blame::Attr(name.clone()),
                    format!(
                        "attribute `{name}` of `{op}` must be a {}, found a {}",
                        spec.kind.name(),
                        value.kind_name()
                    ),
                )
            })?;
        }
        for spec in &entry.attrs {
            if attrs.contains_key(&spec.name) {
                continue;
            }
            let default = spec.default.clone().ok_or_else(|| {
                InferError::new(
                    InferErrorKind::MissingAttr,
                    Blame::Call,
                    format!("`{op}` needs the attribute `{}` ({})", spec.name, spec.kind.name()),
                )
                .with_help(format!("add `{} = ...` to the call", spec.name))
            })?;
            attrs.insert(spec.name.clone(), default);
        }
        Ok(())
    }

    fn infer(&self, op: &str, attrs: &Attrs, inputs: &[TensorType]) -> Result<Vec<TensorType>, InferError> {
        let KnownOp { entry, code, .. } = self.known_or_error(op)?;
        let (min, max) = entry.arity();
        if inputs.len() < min || max.is_some_and(|max| inputs.len() > max) {
            let expected = match max {
                Some(max) if max == min => format!("{min}"),
                Some(max) => format!("{min} to {max}"),
                None => format!("at least {min}"),
            };
            return Err(InferError::new(
                InferErrorKind::Arity,
                Blame::Call,
                format!("`{op}` takes {expected} tensor argument(s), found {}", inputs.len()),
            )
            .with_help(format!("`{op}({})`", entry.inputs.join(", "))));
        }
        (code.infer)(&Args { attrs, inputs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{infer, ints};
    use opfuse_ir::{Attr, DType};

    #[test]
    fn catalog_and_code_list_the_same_operators() {
        let catalog = Catalog::builtin().expect("the built-in catalog loads");
        let in_catalog: Vec<&str> = catalog.op_names();
        for (what, mut in_code) in [
            ("shape rules", code::all_rules().map(|(n, _)| n).collect::<Vec<_>>()),
            ("reference semantics", code::all_evals().map(|(n, _)| n).collect()),
        ] {
            in_code.sort_unstable();
            let before = in_code.len();
            in_code.dedup();
            assert_eq!(before, in_code.len(), "an op is listed twice among the {what}");
            let missing: Vec<&&str> = in_catalog.iter().filter(|n| !in_code.contains(n)).collect();
            let extra: Vec<&&str> = in_code.iter().filter(|n| !in_catalog.contains(n)).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{what}: missing for {missing:?}, not in the catalog: {extra:?}"
            );
        }
    }

    #[test]
    fn every_entry_says_where_it_runs() {
        let catalog = Catalog::builtin().unwrap();
        let incomplete: Vec<&str> = catalog
            .entries()
            .filter(|e| e.cuda.is_none() || e.ascend.len() != Chip::ALL.len())
            .map(|e| e.name.as_str())
            .collect();
        assert!(
            incomplete.is_empty(),
            "entries without a cuda field or a status for every chip: {incomplete:?}"
        );
        assert!(
            catalog.entries().count() >= 120,
            "the catalog has {} ops",
            catalog.entries().count()
        );
    }

    use DType::{F32, I64};

    #[test]
    fn shape_rules() {
        let cases: Vec<(Result<String, String>, &str)> = vec![
            (infer("matmul", &[], &[(F32, &[8, 1, 4, 5]), (F32, &[3, 5, 6])]), "f32[8, 3, 4, 6]"),
            (infer("matmul", &[], &[(F32, &[5]), (F32, &[5, 6])]), "f32[6]"),
            (
                infer("sum", &[("axes", ints(&[-1])), ("keepdims", Attr::Bool(true))], &[(F32, &[2, 3])]),
                "f32[2, 1]",
            ),
            (infer("mean", &[], &[(F32, &[2, 3])]), "f32[]"),
            (
                infer("reshape", &[("shape", ints(&[2, -1, 4]))], &[(F32, &[4, 4, 4])]),
                "f32[2, 8, 4]",
            ),
            (
                infer("transpose", &[("perm", ints(&[0, 2, 1, 3]))], &[(F32, &[1, 2, 3, 4])]),
                "f32[1, 3, 2, 4]",
            ),
            (
                infer(
                    "conv",
                    &[("strides", ints(&[2, 2])), ("pads", ints(&[3, 3, 3, 3]))],
                    &[(F32, &[1, 3, 224, 224]), (F32, &[64, 3, 7, 7])],
                ),
                "f32[1, 64, 112, 112]",
            ),
            (
                infer(
                    "conv",
                    &[("groups", Attr::Int(32)), ("pads", ints(&[1, 1, 1, 1]))],
                    &[(F32, &[1, 32, 8, 8]), (F32, &[32, 1, 3, 3])],
                ),
                "f32[1, 32, 8, 8]",
            ),
            (
                infer(
                    "max_pool",
                    &[("kernel", ints(&[3, 3])), ("strides", ints(&[2, 2])), ("pads", ints(&[1, 1, 1, 1]))],
                    &[(F32, &[1, 64, 112, 112])],
                ),
                "f32[1, 64, 56, 56]",
            ),
            (
                infer("gather", &[("axis", Attr::Int(1))], &[(F32, &[4, 10, 3]), (I64, &[2, 5])]),
                "f32[4, 2, 5, 3]",
            ),
            (
                infer("index_select", &[("axis", Attr::Int(1))], &[(F32, &[4, 10, 3]), (I64, &[7])]),
                "f32[4, 7, 3]",
            ),
            (
                infer("index_select", &[], &[(F32, &[4, 10]), (I64, &[2, 5])]),
                "indices must be 1-d, found [2, 5]",
            ),
            (infer("top_k", &[("k", Attr::Int(8))], &[(F32, &[16, 256])]), "f32[16, 8]"),
            (
                infer(
                    "slice",
                    &[("starts", ints(&[64])), ("ends", ints(&[128])), ("axes", ints(&[-1]))],
                    &[(F32, &[2, 128])],
                ),
                "f32[2, 64]",
            ),
            (infer("unsqueeze", &[("axes", ints(&[0, -1]))], &[(F32, &[3])]), "f32[1, 3, 1]"),
            (infer("expand", &[("shape", ints(&[2, 1, 3]))], &[(F32, &[4, 1])]), "f32[2, 4, 3]"),
            (
                infer("add", &[], &[(F32, &[2, 3]), (F32, &[4, 3])]),
                "shapes [2, 3] and [4, 3] do not broadcast: axis 0 is 4 here but 2 before",
            ),
            (
                infer("matmul", &[], &[(F32, &[2, 3]), (F32, &[4, 5])]),
                "inner dimensions differ: [2, 3] has 3 columns but [4, 5] has 4 rows",
            ),
            (
                infer("reshape", &[("shape", ints(&[5, -1]))], &[(F32, &[4, 4])]),
                "cannot infer -1: 16 elements of [4, 4] do not divide by 5",
            ),
            (
                infer("transpose", &[("perm", ints(&[0, 0]))], &[(F32, &[2, 2])]),
                "axis 0 is listed twice",
            ),
            (
                infer("softmax", &[("axs", Attr::Int(1))], &[(F32, &[2])]),
                "`softmax` has no attribute `axs`",
            ),
            (
                infer("reshape", &[], &[(F32, &[2])]),
                "`reshape` needs the attribute `shape` (list of ints)",
            ),
            (infer("add", &[], &[(F32, &[2])]), "`add` takes 2 tensor argument(s), found 1"),
            (infer("exp", &[], &[(I64, &[2])]), "expects a float tensor, found i64"),
        ];
        for (got, expected) in cases {
            let got = got.unwrap_or_else(|e| e);
            assert!(got.starts_with(expected), "got `{got}`, expected `{expected}`");
        }
    }
}
