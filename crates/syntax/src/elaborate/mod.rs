//! Elaboration: the syntax tree to one flat, typed [`Graph`].
//!
//! Dims are evaluated first (with `--dim` overrides), then the entry graph is
//! instantiated: `for` loops are unrolled, calls of other graphs are inlined
//! with their params renamed `callee.N.param` per call site, and every
//! operator application becomes a node whose output types come from the
//! [`OpSemantics`] shape rules. Errors do not stop elaboration: the failed
//! statement binds its names to poison and the next statement goes on, so
//! one run reports every independent mistake.

mod call;
mod expr;
mod value;

use std::collections::{BTreeMap, HashMap};

use opfuse_ir::{DType, Graph, OpSemantics, Span, TensorType, ValueDef, ValueId};

use crate::ast::{Expr, File, GraphDef, Item, Stmt, TypeExpr};
use crate::codes::Code;
use crate::diagnostic::{closest, Diagnostic};
use value::Val;

/// Loops unroll at most this many iterations each.
pub const MAX_LOOP_ITERATIONS: i64 = 1_000_000;
/// Graph calls nest at most this deep.
pub const MAX_CALL_DEPTH: usize = 64;
/// An elaborated graph has at most this many nodes.
pub const MAX_NODES: usize = 20_000_000;

/// What to elaborate and with which knowledge of operators.
pub struct Config<'a> {
    /// The graph to instantiate; the file's last graph when `None`.
    pub entry: Option<&'a str>,
    /// `--dim NAME=VALUE` overrides of `dim` defaults.
    pub dims: &'a [(String, i64)],
    pub ops: &'a dyn OpSemantics,
}

/// Why elaboration produced no graph.
#[derive(Debug, PartialEq)]
pub enum Failure {
    /// Problems in the source, each with its span.
    Diagnostics(Vec<Diagnostic>),
    /// A command-line request the file cannot satisfy (unknown entry or dim).
    Usage(String),
}

/// Elaborates `file` into a graph named after the entry.
pub fn elaborate(file: &File, config: &Config<'_>) -> std::result::Result<Graph, Failure> {
    let mut elaborator = Elaborator {
        ops: config.ops,
        graphs: BTreeMap::new(),
        dims: BTreeMap::new(),
        graph: Graph::default(),
        diagnostics: Vec::new(),
        stack: Vec::new(),
    };
    elaborator.collect_graphs(file);
    elaborator.evaluate_dims(file, config.dims)?;
    let entry = elaborator.choose_entry(file, config.entry)?;
    elaborator.graph.name = entry.name.name.clone();
    elaborator.instantiate_entry(entry);
    match elaborator.diagnostics.is_empty() {
        true => Ok(elaborator.graph),
        false => Err(Failure::Diagnostics(elaborator.diagnostics)),
    }
}

/// Marks a failure whose diagnostic is already recorded.
#[derive(Debug)]
struct Reported;

type Result<T> = std::result::Result<T, Reported>;

struct Elaborator<'a> {
    ops: &'a dyn OpSemantics,
    graphs: BTreeMap<&'a str, &'a GraphDef>,
    /// Evaluated dims; one that failed to evaluate is poison.
    dims: BTreeMap<String, Val>,
    graph: Graph,
    diagnostics: Vec<Diagnostic>,
    /// Graphs being instantiated, innermost last: for recursion and depth.
    stack: Vec<&'a str>,
}

/// One instance of a graph body being elaborated.
struct Frame<'a> {
    /// Prepended to the names of params and values: `""` for the entry,
    /// `layer.3.` for the fourth call of `layer`.
    prefix: String,
    scope: HashMap<String, Val>,
    /// Calls so far of each graph from this instance, for naming.
    instances: HashMap<&'a str, usize>,
    /// Where each param or input was defined, for duplicate errors.
    defined: HashMap<String, Span>,
    returned: Option<Vec<(Val, Span)>>,
    /// True while evaluating `dim` values: no tensors, no calls.
    const_only: bool,
}

impl<'a> Frame<'a> {
    fn new(prefix: String) -> Frame<'a> {
        Frame {
            prefix,
            scope: HashMap::new(),
            instances: HashMap::new(),
            defined: HashMap::new(),
            returned: None,
            const_only: false,
        }
    }
}

impl<'a> Elaborator<'a> {
    fn report(&mut self, diagnostic: Diagnostic) -> Reported {
        self.diagnostics.push(diagnostic);
        Reported
    }

    fn collect_graphs(&mut self, file: &'a File) {
        for item in &file.items {
            let Item::Graph(def) = item else { continue };
            if let Some(first) = self.graphs.get(def.name.name.as_str()) {
                let first_span = first.name.span;
                self.report(
                    Diagnostic::new(Code::E0014, def.name.span, format!("graph `{}` is defined twice", def.name.name))
                        .label("second definition")
                        .secondary(first_span, "first defined here"),
                );
                continue;
            }
            self.graphs.insert(&def.name.name, def);
        }
    }

    fn evaluate_dims(&mut self, file: &'a File, overrides: &[(String, i64)]) -> std::result::Result<(), Failure> {
        let declared: Vec<&str> = file
            .items
            .iter()
            .filter_map(|item| match item {
                Item::Dims(decls) => Some(decls.iter().map(|d| d.name.name.as_str())),
                Item::Graph(_) => None,
            })
            .flatten()
            .collect();
        for (name, _) in overrides {
            if !declared.contains(&name.as_str()) {
                let hint = match closest(name, declared.iter().copied()) {
                    Some(best) => format!("; did you mean `{best}`?"),
                    None if declared.is_empty() => "; the file declares no dims".into(),
                    None => format!("; the file declares {}", declared.join(", ")),
                };
                return Err(Failure::Usage(format!("--dim {name}: the file declares no dim `{name}`{hint}")));
            }
        }
        let mut frame = Frame::new(String::new());
        frame.const_only = true;
        let mut spans: HashMap<String, Span> = HashMap::new();
        for decl in file.items.iter().filter_map(|item| match item {
            Item::Dims(decls) => Some(decls),
            Item::Graph(_) => None,
        }) {
            for dim in decl {
                let name = &dim.name.name;
                if let Some(&first) = spans.get(name) {
                    self.report(
                        Diagnostic::new(Code::E0014, dim.name.span, format!("dim `{name}` is declared twice"))
                            .label("second declaration")
                            .secondary(first, "first declared here"),
                    );
                    continue;
                }
                spans.insert(name.clone(), dim.name.span);
                let overridden = overrides.iter().rev().find(|(n, _)| n == name).map(|&(_, v)| v);
                let value = match overridden {
                    Some(v) => Ok(v),
                    None => self.eval_int(&mut frame, &dim.value, "a dim", Code::E0019),
                };
                match value {
                    Ok(v) if v >= 0 => {
                        self.dims.insert(name.clone(), Val::Int(v));
                    }
                    Ok(v) => {
                        self.report(
                            Diagnostic::new(
                                Code::E0020,
                                dim.value.span,
                                format!("dim `{name}` is {v}, but sizes cannot be negative"),
                            )
                            .label("negative"),
                        );
                        self.dims.insert(name.clone(), Val::Poison);
                    }
                    Err(Reported) => {
                        self.dims.insert(name.clone(), Val::Poison);
                    }
                }
            }
        }
        Ok(())
    }

    fn choose_entry(&mut self, file: &'a File, requested: Option<&str>) -> std::result::Result<&'a GraphDef, Failure> {
        let all: Vec<&'a GraphDef> = file
            .items
            .iter()
            .filter_map(|item| match item {
                Item::Graph(def) => Some(def),
                Item::Dims(_) => None,
            })
            .collect();
        match requested {
            Some(name) => all.iter().copied().find(|g| g.name.name == name).ok_or_else(|| {
                let names: Vec<&str> = all.iter().map(|g| g.name.name.as_str()).collect();
                let hint = match closest(name, names.iter().copied()) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => format!("the file defines {}", names.join(", ")),
                };
                Failure::Usage(format!("--entry {name}: no graph named `{name}`; {hint}"))
            }),
            None => match all.last() {
                Some(last) => Ok(last),
                None => {
                    self.report(
                        Diagnostic::new(Code::E0025, Span::new(0, 0), "the file defines no graph")
                            .help("add `graph main(x: f32[4]) -> f32[4] { return x }`"),
                    );
                    Err(Failure::Diagnostics(std::mem::take(&mut self.diagnostics)))
                }
            },
        }
    }

    fn instantiate_entry(&mut self, def: &'a GraphDef) {
        let mut frame = Frame::new(String::new());
        let mut ok = true;
        for (name, ty) in &def.inputs {
            let value = match self.eval_type(&mut frame, ty) {
                Ok(ty) => Val::Tensor(self.graph.add_input(name.name.clone(), ty)),
                Err(Reported) => {
                    ok = false;
                    Val::Poison
                }
            };
            self.define_leaf(&mut frame, name, value);
        }
        let results = self.instantiate_body(def, frame);
        if let (Ok(results), true) = (results, ok) {
            for (i, &id) in results.iter().enumerate() {
                let name = match results.len() {
                    1 => "output".to_string(),
                    _ => format!("output{i}"),
                };
                self.name_value(id, &name);
            }
            self.graph.outputs = results;
        }
    }

    /// Elaborates the body of `def` in `frame` (whose inputs are bound) and
    /// checks its results against the signature.
    fn instantiate_body(&mut self, def: &'a GraphDef, mut frame: Frame<'a>) -> Result<Vec<ValueId>> {
        self.stack.push(&def.name.name);
        self.exec_block(&mut frame, &def.body, false);
        self.stack.pop();
        let Some(returned) = frame.returned.take() else {
            return Err(self.report(
                Diagnostic::new(Code::E0017, def.name.span, format!("graph `{}` has no `return`", def.name.name))
                    .label("its body ends without returning a value")
                    .help("end the body with `return <value>`"),
            ));
        };
        if returned.len() != def.results.len() {
            let span = returned.first().map(|(_, s)| *s).unwrap_or(def.span);
            return Err(self.report(
                Diagnostic::new(
                    Code::E0018,
                    span,
                    format!(
                        "graph `{}` declares {} result(s) but returns {}",
                        def.name.name,
                        def.results.len(),
                        returned.len()
                    ),
                )
                .label("returned here"),
            ));
        }
        let mut outputs = Vec::with_capacity(returned.len());
        for ((value, span), declared) in returned.into_iter().zip(&def.results) {
            let declared = self.eval_type(&mut frame, declared);
            let id = match value {
                Val::Tensor(id) => id,
                Val::Poison => return Err(Reported),
                other => {
                    return Err(self.report(
                        Diagnostic::new(
                            Code::E0019,
                            span,
                            format!("a graph returns tensors, but this is {}", other.describe()),
                        )
                        .label("not a tensor"),
                    ))
                }
            };
            let declared = declared?;
            let actual = self.tensor_type(id);
            if actual != declared {
                return Err(self.report(
                    Diagnostic::new(
                        Code::E0013,
                        span,
                        format!("returns {actual} but graph `{}` declares {declared}", def.name.name),
                    )
                    .label(format!("this is {actual}")),
                ));
            }
            outputs.push(id);
        }
        Ok(outputs)
    }

    /// Binds an input or param name, reporting a clash with an earlier one.
    fn define_leaf(&mut self, frame: &mut Frame<'a>, name: &crate::ast::Ident, value: Val) {
        if let Some(&first) = frame.defined.get(&name.name) {
            self.report(
                Diagnostic::new(Code::E0014, name.span, format!("`{}` is defined twice", name.name))
                    .label("second definition")
                    .secondary(first, "first defined here"),
            );
        }
        frame.defined.insert(name.name.clone(), name.span);
        frame.scope.insert(name.name.clone(), value);
    }

    fn exec_block(&mut self, frame: &mut Frame<'a>, body: &'a [Stmt], in_loop: bool) {
        for stmt in body {
            if frame.returned.is_some() {
                self.report(Diagnostic::new(Code::E0024, stmt_span(stmt), "statement after `return`").label("never reached"));
                return;
            }
            self.exec_stmt(frame, stmt, in_loop);
        }
    }

    fn exec_stmt(&mut self, frame: &mut Frame<'a>, stmt: &'a Stmt, in_loop: bool) {
        match stmt {
            Stmt::Param { name, ty } => {
                let value = match self.eval_type(frame, ty) {
                    Ok(ty) => Val::Tensor(self.graph.add_param(format!("{}{}", frame.prefix, name.name), ty)),
                    Err(Reported) => Val::Poison,
                };
                self.define_leaf(frame, name, value);
            }
            Stmt::Assign { targets, value } => self.exec_assign(frame, targets, value),
            Stmt::For { var, start, end, body, .. } => {
                let (Ok(start_v), Ok(end_v)) = (
                    self.eval_int(frame, start, "a loop bound", Code::E0022),
                    self.eval_int(frame, end, "a loop bound", Code::E0022),
                ) else {
                    return;
                };
                if end_v.saturating_sub(start_v) > MAX_LOOP_ITERATIONS {
                    self.report(
                        Diagnostic::new(
                            Code::E0022,
                            start.span.to(end.span),
                            format!(
                                "the loop runs {} iterations; at most {MAX_LOOP_ITERATIONS} unroll",
                                end_v.saturating_sub(start_v)
                            ),
                        )
                        .label("too many iterations"),
                    );
                    return;
                }
                let shadowed = frame.scope.remove(&var.name);
                for i in start_v..end_v {
                    frame.scope.insert(var.name.clone(), Val::Int(i));
                    self.exec_block(frame, body, true);
                    if self.diagnostics.len() > 100 || frame.returned.is_some() {
                        break;
                    }
                }
                frame.scope.remove(&var.name);
                if let Some(previous) = shadowed {
                    frame.scope.insert(var.name.clone(), previous);
                }
            }
            Stmt::Return { values, span } => {
                if in_loop {
                    self.report(Diagnostic::new(Code::E0024, *span, "`return` inside a `for` loop").label("move it after the loop"));
                    // Counts as the graph's return, so neither the next iteration
                    // nor the missing-return check reports it again.
                    frame.returned = Some(values.iter().map(|e| (Val::Poison, e.span)).collect());
                    return;
                }
                let returned = values
                    .iter()
                    .map(|e| (self.eval(frame, e).unwrap_or(Val::Poison), e.span))
                    .collect();
                frame.returned = Some(returned);
            }
        }
    }

    fn exec_assign(&mut self, frame: &mut Frame<'a>, targets: &'a [crate::ast::Target], value: &'a Expr) {
        let declared: Vec<Option<&'a TypeExpr>> = targets.iter().map(|t| t.ty.as_ref()).collect();
        let values = match &value.kind {
            crate::ast::ExprKind::Call { callee, args } => self.eval_call(frame, callee, args, value.span, Some(&declared)),
            _ => self.eval(frame, value).map(|v| vec![v]),
        };
        let values = match values {
            Ok(values) if values.len() == targets.len() => values,
            Ok(values) => {
                self.report(
                    Diagnostic::new(
                        Code::E0018,
                        value.span,
                        format!(
                            "{} name(s) on the left, but the right side gives {} value(s)",
                            targets.len(),
                            values.len()
                        ),
                    )
                    .label(format!("{} value(s)", values.len())),
                );
                vec![Val::Poison; targets.len()]
            }
            Err(Reported) => vec![Val::Poison; targets.len()],
        };
        for (target, result) in targets.iter().zip(values) {
            let result = match (&target.ty, &result) {
                (Some(ty), Val::Tensor(id)) => {
                    let id = *id;
                    match self.eval_type(frame, ty) {
                        Ok(written) if written != self.tensor_type(id) => {
                            let actual = self.tensor_type(id);
                            self.report(
                                Diagnostic::new(
                                    Code::E0013,
                                    ty.span,
                                    format!("`{}` is written as {written} but is {actual}", target.name.name),
                                )
                                .label(format!("the value is {actual}"))
                                .secondary(value.span, "computed here"),
                            );
                            Val::Poison
                        }
                        Ok(_) => Val::Tensor(id),
                        Err(Reported) => Val::Poison,
                    }
                }
                _ => result,
            };
            if let Val::Tensor(id) = result {
                self.name_value(id, &format!("{}{}", frame.prefix, target.name.name));
            }
            frame.scope.insert(target.name.name.clone(), result);
        }
    }

    /// Gives a fresh node output its source name as a hint.
    fn name_value(&mut self, id: ValueId, name: &str) {
        if let Some(value) = self.graph.values.get_mut(id.index()) {
            if value.name.is_none() && matches!(value.def, ValueDef::Node { .. }) {
                value.name = Some(name.to_string());
            }
        }
    }

    fn tensor_type(&self, id: ValueId) -> TensorType {
        self.graph.ty(id).cloned().unwrap_or_else(|| TensorType::new(DType::F32, vec![]))
    }

    fn eval_type(&mut self, frame: &mut Frame<'a>, ty: &'a TypeExpr) -> Result<TensorType> {
        let dtype: DType = ty.dtype.name.parse().map_err(|()| {
            let names = DType::ALL.map(DType::name);
            let diagnostic = Diagnostic::new(Code::E0006, ty.dtype.span, format!("unknown dtype `{}`", ty.dtype.name)).label("not a dtype");
            let diagnostic = match closest(&ty.dtype.name, names) {
                Some(best) => diagnostic.help(format!("did you mean `{best}`?")),
                None => diagnostic.help(format!("the dtypes are {}", names.join(", "))),
            };
            self.report(diagnostic)
        })?;
        let mut dims = Vec::with_capacity(ty.dims.len());
        for dim in &ty.dims {
            let v = self.eval_int(frame, dim, "a dimension", Code::E0019)?;
            let v = u64::try_from(v).map_err(|_| {
                self.report(
                    Diagnostic::new(Code::E0020, dim.span, format!("dimension is {v}, but sizes cannot be negative")).label("negative"),
                )
            })?;
            dims.push(v);
        }
        let tensor = TensorType::new(dtype, dims);
        if tensor.size_bytes().is_none() {
            return Err(self
                .report(Diagnostic::new(Code::E0023, ty.span, format!("{tensor} does not fit in 64-bit addressing")).label("too large")));
        }
        Ok(tensor)
    }
}

fn stmt_span(stmt: &Stmt) -> Span {
    match stmt {
        Stmt::Param { name, ty } => name.span.to(ty.span),
        Stmt::Assign { targets, value } => targets.first().map_or(value.span, |t| t.name.span.to(value.span)),
        Stmt::For { span, .. } | Stmt::Return { span, .. } => *span,
    }
}
