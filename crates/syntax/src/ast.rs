//! The syntax tree, as the parser builds it. Nothing here is resolved yet.

use opfuse_ir::Span;

#[derive(Clone, Debug, PartialEq)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Dims(Vec<DimDecl>),
    Graph(GraphDef),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// `dim S = 128`: a named size with a default, overridable with `--dim`.
#[derive(Clone, Debug, PartialEq)]
pub struct DimDecl {
    pub name: Ident,
    pub value: Expr,
}

/// `graph name(inputs) -> results { body }`.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphDef {
    pub name: Ident,
    pub inputs: Vec<(Ident, TypeExpr)>,
    pub results: Vec<TypeExpr>,
    pub body: Vec<Stmt>,
    pub span: Span,
}

/// `f32[B, S, H / NH]`.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeExpr {
    pub dtype: Ident,
    pub dims: Vec<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// `param w: f32[H, F]`.
    Param { name: Ident, ty: TypeExpr },
    /// `a, b: f32[2] = expr`.
    Assign { targets: Vec<Target>, value: Expr },
    /// `for i in 0..N { ... }`, unrolled during elaboration.
    For {
        var: Ident,
        start: Expr,
        end: Expr,
        body: Vec<Stmt>,
        span: Span,
    },
    /// `return a, b`.
    Return { values: Vec<Expr>, span: Span },
}

/// One name on the left of `=`, with an optional written type.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub name: Ident,
    pub ty: Option<TypeExpr>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    MatMul,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::MatMul => "@",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Name(String),
    List(Vec<Expr>),
    /// `count` leading minus signs on `operand`. Kept flat, not nested, so a
    /// long run of signs cannot deepen the tree.
    Neg {
        count: usize,
        operand: Box<Expr>,
    },
    /// A left-associative run of operators of one precedence level,
    /// `first op rest[0].1 op rest[1].1 ...`, kept flat for the same reason.
    Chain {
        first: Box<Expr>,
        rest: Vec<(BinOp, Expr)>,
    },
    Call {
        callee: Ident,
        args: Vec<Arg>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    Positional(Expr),
    Named { name: Ident, value: Expr },
}
