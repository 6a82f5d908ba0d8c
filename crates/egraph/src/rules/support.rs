//! What the rule families share: a rule is a pattern and a function that,
//! given a match, returns the class the matched class equals (an existing
//! one, or a new op built with [`add_op`]). The applier merges the two only
//! when the analysis gives them the same type.

use egg::{Applier, Id, Pattern, PatternAst, Rewrite, Subst, Symbol, Var};
use opfuse_ir::{Attr, Attrs, OpSemantics, TensorType};

use crate::analysis::{ClassData, TensorAnalysis, TensorGraph};
use crate::language::TensorNode;

use super::{RuleError, RuleInfo};

/// Given the matched class and the substitution, the equal class, if any.
pub type Build = fn(&mut TensorGraph, Id, &Subst) -> Option<Id>;

/// One rewrite rule of a saturating family.
pub struct RuleSpec {
    pub name: &'static str,
    pub description: &'static str,
    pub pattern: &'static str,
    pub build: Build,
}

impl RuleSpec {
    pub fn info(&self, family: &'static str) -> RuleInfo {
        RuleInfo {
            family,
            name: self.name,
            description: self.description,
        }
    }

    pub fn rewrite(&self) -> Result<Rewrite<TensorNode, TensorAnalysis>, RuleError> {
        let error = |message: String| RuleError { rule: self.name, message };
        let pattern: Pattern<TensorNode> = self.pattern.parse().map_err(|e| error(format!("{e}")))?;
        Rewrite::new(self.name, pattern, TypedApplier(self.build)).map_err(error)
    }
}

struct TypedApplier(Build);

impl Applier<TensorNode, TensorAnalysis> for TypedApplier {
    fn apply_one(
        &self,
        egraph: &mut TensorGraph,
        eclass: Id,
        subst: &Subst,
        _searcher_ast: Option<&PatternAst<TensorNode>>,
        _rule_name: Symbol,
    ) -> Vec<Id> {
        let Some(equal) = (self.0)(egraph, eclass, subst) else {
            return Vec::new();
        };
        let same_type = matches!((ty(egraph, eclass), ty(egraph, equal)), (Some(a), Some(b)) if a == b);
        if same_type && egraph.union(eclass, equal) {
            vec![eclass]
        } else {
            Vec::new()
        }
    }
}

/// The class bound to `?name`.
pub fn get(subst: &Subst, name: &str) -> Option<Id> {
    let var: Var = name.parse().ok()?;
    subst.get(var).copied()
}

pub fn ty(egraph: &TensorGraph, id: Id) -> Option<&TensorType> {
    egraph[id].data.single()
}

/// The value of the scalar-or-splat constant bound to `?name`.
pub fn constant(egraph: &TensorGraph, subst: &Subst, name: &str) -> Option<f64> {
    egraph[get(subst, name)?].data.constant()
}

/// Whether the constant bound to `?name` is `value` within `tolerance`.
pub fn constant_is(egraph: &TensorGraph, subst: &Subst, name: &str, value: f64, tolerance: f64) -> bool {
    constant(egraph, subst, name).is_some_and(|c| (c - value).abs() <= tolerance)
}

/// The attributes of the attribute class bound to `?name`.
pub fn attrs<'a>(egraph: &'a TensorGraph, subst: &Subst, name: &str) -> Option<&'a Attrs> {
    match &egraph[get(subst, name)?].data {
        ClassData::Attrs(symbol) => egraph.analysis.attrs(*symbol),
        _ => None,
    }
}

pub fn int_list(attrs: &Attrs, key: &str) -> Option<Vec<i64>> {
    attrs.get(key)?.as_ints()
}

pub fn flag(attrs: &Attrs, key: &str) -> Option<bool> {
    attrs.get(key)?.as_bool()
}

/// Adds `op(inputs)` with `attrs` (normalized here) when the shape rule
/// accepts it and gives exactly the type of `like`; returns its class.
pub fn add_op(egraph: &mut TensorGraph, like: Id, op: &str, attrs: Attrs, inputs: &[Id]) -> Option<Id> {
    let like = ty(egraph, like)?.clone();
    add_typed(egraph, op, attrs, inputs, |ty| *ty == like)
}

/// Adds `op(inputs)` with `attrs` (normalized here) when the shape rule
/// accepts it and gives one output; returns its class.
pub fn add_any(egraph: &mut TensorGraph, op: &str, attrs: Attrs, inputs: &[Id]) -> Option<Id> {
    add_typed(egraph, op, attrs, inputs, |_| true)
}

fn add_typed(egraph: &mut TensorGraph, op: &str, mut attrs: Attrs, inputs: &[Id], accept: impl Fn(&TensorType) -> bool) -> Option<Id> {
    let catalog = &egraph.analysis.catalog;
    catalog.normalize_attrs(op, &mut attrs).ok()?;
    let types: Vec<TensorType> = inputs.iter().map(|&id| ty(egraph, id).cloned()).collect::<Option<_>>()?;
    let inferred = catalog.infer(op, &attrs, &types).ok()?;
    match inferred.as_slice() {
        [single] if accept(single) => {}
        _ => return None,
    }
    let symbol = egraph.analysis.intern_attrs(attrs);
    let mut children = vec![egraph.add(TensorNode::Attrs(symbol))];
    children.extend_from_slice(inputs);
    Some(egraph.add(TensorNode::Op(Symbol::from(op), children)))
}

/// Attributes from `(name, value)` pairs.
pub fn attrs_of(pairs: &[(&str, Attr)]) -> Attrs {
    pairs.iter().map(|(key, value)| (key.to_string(), value.clone())).collect()
}
