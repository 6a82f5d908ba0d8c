//! Calls: catalog operators, other graphs (inlined), and opaque operators.

use opfuse_ir::{Attrs, Blame, DType, InferErrorKind, Op, Span, TensorType, ValueId};

use super::value::Val;
use super::{Elaborator, Frame, Reported, Result, MAX_CALL_DEPTH, MAX_NODES};
use crate::ast::{Arg, Ident, TypeExpr};
use crate::codes::Code;
use crate::diagnostic::{closest, Diagnostic};

/// Evaluated arguments of a call: tensors in order, attributes by name.
struct CallArgs {
    positional: Vec<(Val, Span)>,
    named: Vec<(String, Val, Span)>,
}

impl<'a> Elaborator<'a> {
    /// Evaluates a call. `declared` holds the types written on the names it
    /// is assigned to, when it is the right side of an assignment; an
    /// operator outside the catalog is accepted only when they are all given.
    pub(super) fn eval_call(
        &mut self,
        frame: &mut Frame<'a>,
        callee: &'a Ident,
        args: &'a [Arg],
        span: Span,
        declared: Option<&[Option<&'a TypeExpr>]>,
    ) -> Result<Vec<Val>> {
        if frame.const_only {
            return Err(self.report(
                Diagnostic::new(Code::E0019, span, "a dim must be a number known before the model runs, not a call")
                    .label("a call is not allowed here"),
            ));
        }
        let args = self.eval_args(frame, args)?;
        let name = callee.name.as_str();
        if let Some(&def) = self.graphs.get(name) {
            return self.call_graph(frame, def, callee, args, span);
        }
        if self.ops.knows(name) {
            return self.call_op(name, args, span);
        }
        let written: Option<Vec<&TypeExpr>> = declared.and_then(|types| types.iter().copied().collect());
        match written {
            Some(types) => self.call_opaque(frame, callee, args, &types, span),
            None => {
                let ops = self.ops.op_names();
                let candidates = ops.iter().copied().chain(self.graphs.keys().copied());
                let diagnostic = Diagnostic::new(Code::E0005, callee.span, format!("unknown operator `{name}`"))
                    .label("neither a catalog operator nor a graph of this file");
                let diagnostic = match closest(name, candidates) {
                    Some(best) => diagnostic.help(format!("did you mean `{best}`?")),
                    None => diagnostic.help(format!(
                        "to keep it as an opaque operator, write the result type: `y: f32[...] = {name}(...)`"
                    )),
                };
                Err(self.report(diagnostic))
            }
        }
    }

    fn eval_args(&mut self, frame: &mut Frame<'a>, args: &'a [Arg]) -> Result<CallArgs> {
        let mut out = CallArgs {
            positional: Vec::new(),
            named: Vec::new(),
        };
        let mut failed = false;
        for arg in args {
            match arg {
                Arg::Positional(expr) => match self.eval(frame, expr) {
                    Ok(value) => out.positional.push((value, expr.span)),
                    Err(Reported) => failed = true,
                },
                Arg::Named { name, value } => {
                    if out.named.iter().any(|(n, _, _)| *n == name.name) {
                        self.report(
                            Diagnostic::new(Code::E0014, name.span, format!("attribute `{}` is given twice", name.name))
                                .label("second time"),
                        );
                        failed = true;
                        continue;
                    }
                    match self.eval(frame, value) {
                        Ok(v) => out.named.push((name.name.clone(), v, name.span.to(value.span))),
                        Err(Reported) => failed = true,
                    }
                }
            }
        }
        let poisoned = out.positional.iter().any(|(v, _)| v.is_poison()) || out.named.iter().any(|(_, v, _)| v.is_poison());
        match failed || poisoned {
            true => Err(Reported),
            false => Ok(out),
        }
    }

    fn call_op(&mut self, op: &str, args: CallArgs, span: Span) -> Result<Vec<Val>> {
        let (attrs, attr_spans) = self.attrs_of(op, &args.named)?;
        let inputs = self.tensor_args(&args.positional)?;
        let outputs = self.apply_op(op, attrs, &attr_spans, inputs, span)?;
        Ok(outputs.into_iter().map(Val::Tensor).collect())
    }

    fn call_opaque(
        &mut self,
        frame: &mut Frame<'a>,
        callee: &Ident,
        args: CallArgs,
        types: &[&'a TypeExpr],
        span: Span,
    ) -> Result<Vec<Val>> {
        let (attrs, _) = self.attrs_of(&callee.name, &args.named)?;
        let inputs = self.tensor_args(&args.positional)?;
        let mut output_types = Vec::with_capacity(types.len());
        for ty in types {
            output_types.push(self.eval_type(frame, ty)?);
        }
        let inputs = inputs.into_iter().map(|(id, _)| id).collect();
        let outputs = self.add_node(Op::Opaque(callee.name.clone()), attrs, inputs, output_types, span)?;
        Ok(outputs.into_iter().map(Val::Tensor).collect())
    }

    fn call_graph(
        &mut self,
        frame: &mut Frame<'a>,
        def: &'a crate::ast::GraphDef,
        callee: &Ident,
        args: CallArgs,
        span: Span,
    ) -> Result<Vec<Val>> {
        if self.stack.contains(&def.name.name.as_str()) {
            let chain = self.stack.join(" -> ");
            return Err(self.report(
                Diagnostic::new(
                    Code::E0016,
                    callee.span,
                    format!("graph `{}` calls itself ({chain} -> {})", def.name.name, def.name.name),
                )
                .label("recursive call")
                .help("graphs are inlined at each call; repeat layers with a `for` loop instead"),
            ));
        }
        if self.stack.len() >= MAX_CALL_DEPTH {
            return Err(self.report(
                Diagnostic::new(
                    Code::E0021,
                    callee.span,
                    format!("graph calls nest deeper than {MAX_CALL_DEPTH} levels"),
                )
                .label("too deep"),
            ));
        }
        if let Some((_, _, attr_span)) = args.named.first() {
            return Err(self.report(
                Diagnostic::new(Code::E0007, *attr_span, format!("graph `{}` takes no attributes", def.name.name))
                    .label("graphs take tensor arguments only"),
            ));
        }
        if args.positional.len() != def.inputs.len() {
            return Err(self.report(
                Diagnostic::new(
                    Code::E0010,
                    span,
                    format!(
                        "graph `{}` takes {} argument(s), found {}",
                        def.name.name,
                        def.inputs.len(),
                        args.positional.len()
                    ),
                )
                .label(format!("{} argument(s)", args.positional.len()))
                .secondary(def.name.span, "defined here"),
            ));
        }
        let counter = frame.instances.entry(def.name.name.as_str()).or_insert(0);
        let prefix = format!("{}{}.{}.", frame.prefix, def.name.name, counter);
        *counter += 1;
        let mut callee_frame = Frame::new(prefix);
        for ((value, arg_span), (name, ty)) in args.positional.into_iter().zip(&def.inputs) {
            let expected = self.eval_type(&mut callee_frame, ty)?;
            let id = match value {
                Val::Tensor(id) => id,
                other => {
                    return Err(self.report(
                        Diagnostic::new(
                            Code::E0019,
                            arg_span,
                            format!("graph inputs are tensors, but this is {}", other.describe()),
                        )
                        .label("not a tensor"),
                    ))
                }
            };
            let actual = self.tensor_type(id);
            if actual != expected {
                return Err(self.report(
                    Diagnostic::new(
                        Code::E0013,
                        arg_span,
                        format!(
                            "`{}` of graph `{}` is {expected}, but this argument is {actual}",
                            name.name, def.name.name
                        ),
                    )
                    .label(format!("this is {actual}"))
                    .secondary(ty.span, "declared here"),
                ));
            }
            self.define_leaf(&mut callee_frame, name, Val::Tensor(id));
        }
        let outputs = self.instantiate_body(def, callee_frame)?;
        Ok(outputs.into_iter().map(Val::Tensor).collect())
    }

    /// Named arguments as attributes; each keeps its span for errors.
    fn attrs_of(&mut self, op: &str, named: &[(String, Val, Span)]) -> Result<(Attrs, Vec<(String, Span)>)> {
        let mut attrs = Attrs::new();
        let mut spans = Vec::with_capacity(named.len());
        for (name, value, span) in named {
            let Some(attr) = value.to_attr() else {
                return Err(self.report(
                    Diagnostic::new(
                        Code::E0019,
                        *span,
                        format!("attribute `{name}` of `{op}` must be known before the model runs, but it is a tensor"),
                    )
                    .label("a tensor")
                    .help("pass tensors as positional arguments; attributes are numbers, strings, bools or lists"),
                ));
            };
            attrs.insert(name.clone(), attr);
            spans.push((name.clone(), *span));
        }
        Ok((attrs, spans))
    }

    /// Positional arguments as tensors; numbers become scalar constants of
    /// the dtype of the call's first tensor argument.
    fn tensor_args(&mut self, positional: &[(Val, Span)]) -> Result<Vec<(ValueId, Span)>> {
        let dtype_hint = positional.iter().find_map(|(v, _)| match v {
            Val::Tensor(id) => Some(self.tensor_type(*id).dtype),
            _ => None,
        });
        let mut inputs = Vec::with_capacity(positional.len());
        for (value, span) in positional {
            let id = match value {
                Val::Tensor(id) => *id,
                Val::Int(_) => self.constant(value, dtype_hint.unwrap_or(DType::I64), *span)?,
                Val::Float(_) => self.constant(value, dtype_hint.unwrap_or(DType::F32), *span)?,
                other => {
                    return Err(self.report(
                        Diagnostic::new(
                            Code::E0019,
                            *span,
                            format!("operator arguments are tensors, but this is {}", other.describe()),
                        )
                        .label("not a tensor")
                        .help("attributes are passed by name: `op(x, axis = 1)`"),
                    ))
                }
            };
            inputs.push((id, *span));
        }
        Ok(inputs)
    }

    /// Type-checks a catalog operator and adds its node. Errors point at the
    /// argument or attribute the shape rule blames.
    pub(super) fn apply_op(
        &mut self,
        op: &str,
        mut attrs: Attrs,
        attr_spans: &[(String, Span)],
        inputs: Vec<(ValueId, Span)>,
        span: Span,
    ) -> Result<Vec<ValueId>> {
        let input_types: Vec<TensorType> = inputs.iter().map(|&(id, _)| self.tensor_type(id)).collect();
        let inferred = self
            .ops
            .normalize_attrs(op, &mut attrs)
            .and_then(|()| self.ops.infer(op, &attrs, &input_types));
        let output_types = match inferred {
            Ok(types) => types,
            Err(error) => {
                let blamed = match &error.blame {
                    Blame::Call => span,
                    Blame::Input(i) => inputs.get(*i).map_or(span, |&(_, s)| s),
                    Blame::Attr(name) => attr_spans.iter().find(|(n, _)| n == name).map_or(span, |&(_, s)| s),
                };
                let code = match error.kind {
                    InferErrorKind::Arity => Code::E0010,
                    InferErrorKind::UnknownAttr => Code::E0007,
                    InferErrorKind::MissingAttr => Code::E0009,
                    InferErrorKind::AttrType => Code::E0008,
                    InferErrorKind::AttrValue => Code::E0015,
                    InferErrorKind::Shape => Code::E0011,
                    InferErrorKind::DType => Code::E0012,
                };
                let label = match &error.blame {
                    Blame::Input(i) => match input_types.get(*i) {
                        Some(ty) => format!("this is {ty}"),
                        None => format!("in this `{op}`"),
                    },
                    _ => format!("in this `{op}`"),
                };
                let mut diagnostic = Diagnostic::new(code, blamed, error.message).label(label);
                if let Some(help) = error.help {
                    diagnostic = diagnostic.help(help);
                }
                return Err(self.report(diagnostic));
            }
        };
        let inputs = inputs.into_iter().map(|(id, _)| id).collect();
        self.add_node(Op::Known(op.to_string()), attrs, inputs, output_types, span)
    }

    fn add_node(&mut self, op: Op, attrs: Attrs, inputs: Vec<ValueId>, outputs: Vec<TensorType>, span: Span) -> Result<Vec<ValueId>> {
        if let Some(too_big) = outputs.iter().find(|t| t.size_bytes().is_none()) {
            return Err(self.report(
                Diagnostic::new(Code::E0023, span, format!("the result {too_big} does not fit in 64-bit addressing")).label("too large"),
            ));
        }
        if self.graph.nodes.len() >= MAX_NODES {
            return Err(self.report(
                Diagnostic::new(Code::E0023, span, format!("the graph grows past {MAX_NODES} nodes")).label("node limit reached here"),
            ));
        }
        let names = vec![None; outputs.len()];
        Ok(self.graph.add_node(op, attrs, inputs, outputs, names, Some(span)))
    }
}
