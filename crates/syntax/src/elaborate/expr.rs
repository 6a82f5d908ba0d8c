//! Expressions: names, literals, lists, signs and infix operators.

use opfuse_ir::{Attr, Attrs, DType, Span, ValueId};

use super::value::Val;
use super::{Elaborator, Frame, Reported, Result};
use crate::ast::{BinOp, Expr, ExprKind};
use crate::codes::Code;
use crate::diagnostic::Diagnostic;

impl<'a> Elaborator<'a> {
    /// Evaluates an expression that must give exactly one value.
    pub(super) fn eval(&mut self, frame: &mut Frame<'a>, expr: &'a Expr) -> Result<Val> {
        match &expr.kind {
            ExprKind::Int(v) => Ok(Val::Int(*v)),
            ExprKind::Float(v) => Ok(Val::Float(*v)),
            ExprKind::Bool(v) => Ok(Val::Bool(*v)),
            ExprKind::Str(v) => Ok(Val::Str(v.clone())),
            ExprKind::Name(name) => self.lookup(frame, name, expr.span),
            ExprKind::List(items) => items
                .iter()
                .map(|item| self.eval(frame, item))
                .collect::<Result<Vec<_>>>()
                .map(Val::List),
            ExprKind::Neg { count, operand } => {
                let value = self.eval(frame, operand)?;
                match count % 2 {
                    0 => Ok(value),
                    _ => self.negate(value, expr.span),
                }
            }
            ExprKind::Chain { first, rest } => {
                let mut acc = self.eval(frame, first)?;
                let mut acc_span = first.span;
                for (op, operand) in rest {
                    let rhs = self.eval(frame, operand)?;
                    acc = self.binary(*op, acc, acc_span, rhs, operand.span)?;
                    acc_span = acc_span.to(operand.span);
                }
                Ok(acc)
            }
            ExprKind::Call { callee, args } => {
                let mut values = self.eval_call(frame, callee, args, expr.span, None)?;
                match values.len() {
                    1 => Ok(values.remove(0)),
                    n => Err(self.report(
                        Diagnostic::new(
                            Code::E0018,
                            expr.span,
                            format!("`{}` gives {n} values here, where one is expected", callee.name),
                        )
                        .label(format!("{n} values"))
                        .help(format!("bind them to names first: `a, b = {}(...)`", callee.name)),
                    )),
                }
            }
        }
    }

    /// Evaluates an expression that must be an integer known before the
    /// model runs; `what` names its role in the error, reported as `code`.
    pub(super) fn eval_int(&mut self, frame: &mut Frame<'a>, expr: &'a Expr, what: &str, code: Code) -> Result<i64> {
        match self.eval(frame, expr)? {
            Val::Int(v) => Ok(v),
            Val::Poison => Err(Reported),
            other => Err(self.report(
                Diagnostic::new(
                    code,
                    expr.span,
                    format!("{what} must be an integer, but this is {}", other.describe()),
                )
                .label("not an integer"),
            )),
        }
    }

    fn lookup(&mut self, frame: &Frame<'a>, name: &str, span: Span) -> Result<Val> {
        if let Some(value) = frame.scope.get(name) {
            return Ok(value.clone());
        }
        if let Some(dim) = self.dims.get(name) {
            return Ok(dim.clone());
        }
        let candidates = frame.scope.keys().map(String::as_str).chain(self.dims.keys().map(String::as_str));
        let mut candidates: Vec<&str> = candidates.collect();
        candidates.sort_unstable();
        let diagnostic = Diagnostic::new(Code::E0004, span, format!("unknown name `{name}`"))
            .label("not defined here")
            .suggest(name, candidates);
        Err(self.report(diagnostic))
    }

    fn negate(&mut self, value: Val, span: Span) -> Result<Val> {
        match value {
            Val::Int(v) => v
                .checked_neg()
                .map(Val::Int)
                .ok_or_else(|| self.report(Diagnostic::new(Code::E0020, span, "integer overflow").label("overflows 64 bits"))),
            Val::Float(v) => Ok(Val::Float(-v)),
            Val::Tensor(id) => self.apply_infix("neg", vec![(id, span)], span),
            Val::Poison => Ok(Val::Poison),
            other => Err(self
                .report(Diagnostic::new(Code::E0019, span, format!("cannot negate {}", other.describe())).label("not a number or tensor"))),
        }
    }

    fn binary(&mut self, op: BinOp, lhs: Val, lhs_span: Span, rhs: Val, rhs_span: Span) -> Result<Val> {
        let span = lhs_span.to(rhs_span);
        match (lhs, rhs) {
            (Val::Poison, _) | (_, Val::Poison) => Ok(Val::Poison),
            (Val::Int(a), Val::Int(b)) => self.int_arithmetic(op, a, b, span, rhs_span),
            (a @ (Val::Int(_) | Val::Float(_)), b @ (Val::Int(_) | Val::Float(_))) => {
                let (a, b) = (as_f64(&a), as_f64(&b));
                match op {
                    BinOp::Add => Ok(Val::Float(a + b)),
                    BinOp::Sub => Ok(Val::Float(a - b)),
                    BinOp::Mul => Ok(Val::Float(a * b)),
                    BinOp::Div if b == 0.0 => {
                        Err(self.report(Diagnostic::new(Code::E0020, rhs_span, "division by zero").label("this is zero")))
                    }
                    BinOp::Div => Ok(Val::Float(a / b)),
                    BinOp::MatMul => Err(self.matmul_of_scalar(span)),
                }
            }
            (Val::Tensor(a), Val::Tensor(b)) => self.apply_infix(infix_op(op), vec![(a, lhs_span), (b, rhs_span)], span),
            (Val::Tensor(a), scalar @ (Val::Int(_) | Val::Float(_))) => {
                if op == BinOp::MatMul {
                    return Err(self.matmul_of_scalar(rhs_span));
                }
                let b = self.constant(&scalar, self.tensor_type(a).dtype, rhs_span)?;
                self.apply_infix(infix_op(op), vec![(a, lhs_span), (b, rhs_span)], span)
            }
            (scalar @ (Val::Int(_) | Val::Float(_)), Val::Tensor(b)) => {
                if op == BinOp::MatMul {
                    return Err(self.matmul_of_scalar(lhs_span));
                }
                let a = self.constant(&scalar, self.tensor_type(b).dtype, lhs_span)?;
                self.apply_infix(infix_op(op), vec![(a, lhs_span), (b, rhs_span)], span)
            }
            (a, b) => {
                let (culprit, culprit_span) = match a {
                    Val::Int(_) | Val::Float(_) | Val::Tensor(_) => (b, rhs_span),
                    _ => (a, lhs_span),
                };
                Err(self.report(
                    Diagnostic::new(
                        Code::E0019,
                        culprit_span,
                        format!("`{}` needs numbers or tensors, but this is {}", op.symbol(), culprit.describe()),
                    )
                    .label("not a number or tensor"),
                ))
            }
        }
    }

    fn int_arithmetic(&mut self, op: BinOp, a: i64, b: i64, span: Span, rhs_span: Span) -> Result<Val> {
        let result = match op {
            BinOp::Add => a.checked_add(b),
            BinOp::Sub => a.checked_sub(b),
            BinOp::Mul => a.checked_mul(b),
            BinOp::Div if b == 0 => {
                return Err(self.report(Diagnostic::new(Code::E0020, rhs_span, "division by zero").label("this is zero")));
            }
            BinOp::Div if a % b != 0 => {
                return Err(self.report(
                    Diagnostic::new(Code::E0020, span, format!("{a} / {b} is not a whole number"))
                        .label("inexact division")
                        .help("integer division in dims must be exact"),
                ));
            }
            BinOp::Div => a.checked_div(b),
            BinOp::MatMul => return Err(self.matmul_of_scalar(span)),
        };
        result.map(Val::Int).ok_or_else(|| {
            self.report(Diagnostic::new(Code::E0020, span, format!("{a} {} {b} overflows 64 bits", op.symbol())).label("overflow"))
        })
    }

    fn matmul_of_scalar(&mut self, span: Span) -> Reported {
        self.report(Diagnostic::new(Code::E0019, span, "`@` multiplies tensors, but this is a number").label("not a tensor"))
    }

    /// A scalar `constant` node of `dtype` holding `value`.
    pub(super) fn constant(&mut self, value: &Val, dtype: DType, span: Span) -> Result<ValueId> {
        let mut attrs = Attrs::new();
        attrs.insert("value".into(), Attr::Float(as_f64(value)));
        attrs.insert("dtype".into(), Attr::Str(dtype.name().into()));
        let outputs = self.apply_op("constant", attrs, &[], Vec::new(), span)?;
        outputs.into_iter().next().ok_or(Reported)
    }

    /// Applies an operator written as an infix symbol; spans point at operands.
    fn apply_infix(&mut self, op: &str, inputs: Vec<(ValueId, Span)>, span: Span) -> Result<Val> {
        let outputs = self.apply_op(op, Attrs::new(), &[], inputs, span)?;
        outputs.into_iter().next().map(Val::Tensor).ok_or(Reported)
    }
}

fn infix_op(op: BinOp) -> &'static str {
    match op {
        BinOp::Add => "add",
        BinOp::Sub => "sub",
        BinOp::Mul => "mul",
        BinOp::Div => "div",
        BinOp::MatMul => "matmul",
    }
}

fn as_f64(value: &Val) -> f64 {
    match value {
        Val::Int(v) => *v as f64,
        Val::Float(v) => *v,
        _ => 0.0,
    }
}
