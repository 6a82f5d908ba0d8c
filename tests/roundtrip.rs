//! The canonical printer's law: for any verified graph `g`,
//! `elaborate(parse(print(g)))` is `g` again (up to value numbering and the
//! name hints of intermediate values), and printing it gives the same text.

use opfuse_ir::{verify, Attr, Attrs, DType, Graph, Op, OpSemantics, TensorType, ValueDef, ValueId};
use opfuse_ops::Catalog;
use proptest::prelude::*;

/// One step of a generated graph: which kind of node to add and the raw
/// choices it makes (operands, axes, constants), read modulo what fits.
#[derive(Clone, Debug)]
struct Step {
    kind: u8,
    picks: [usize; 3],
    value: f64,
}

fn step() -> impl Strategy<Value = Step> {
    (0u8..14, [any::<usize>(), any::<usize>(), any::<usize>()], -1.0e3f64..1.0e3).prop_map(|(kind, picks, value)| Step {
        kind,
        picks,
        value,
    })
}

fn input_type() -> impl Strategy<Value = TensorType> {
    (prop::bool::ANY, prop::collection::vec(1u64..6, 1..4))
        .prop_map(|(half, dims)| TensorType::new(if half { DType::F16 } else { DType::F32 }, dims))
}

fn ints(values: &[i64]) -> Attr {
    Attr::List(values.iter().map(|&v| Attr::Int(v)).collect())
}

/// Applies a catalog op if it type-checks; returns its outputs.
fn apply(g: &mut Graph, catalog: &Catalog, op: &str, attrs: &[(&str, Attr)], inputs: Vec<ValueId>) -> Option<Vec<ValueId>> {
    let mut attrs: Attrs = attrs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    catalog.normalize_attrs(op, &mut attrs).ok()?;
    let types: Vec<TensorType> = inputs.iter().map(|&id| g.values[id.index()].ty.clone()).collect();
    let outputs = catalog.infer(op, &attrs, &types).ok()?;
    let names = vec![None; outputs.len()];
    Some(g.add_node(Op::Known(op.into()), attrs, inputs, outputs, names, None))
}

fn build(inputs: &[TensorType], steps: &[Step], catalog: &Catalog) -> Graph {
    let mut g = Graph::new("generated");
    let mut live: Vec<ValueId> = inputs
        .iter()
        .enumerate()
        .map(|(i, ty)| g.add_input(format!("x{i}"), ty.clone()))
        .collect();
    for (n, s) in steps.iter().enumerate() {
        let a = live[s.picks[0] % live.len()];
        let b = live[s.picks[1] % live.len()];
        let ty = g.values[a.index()].ty.clone();
        let rank = ty.rank() as i64;
        let axis = if rank == 0 { 0 } else { (s.picks[2] % rank as usize) as i64 - rank };
        let unary = ["relu", "exp", "neg", "sigmoid", "tanh"];
        let binary = ["add", "sub", "mul", "div", "max"];
        let produced = match s.kind {
            0 => apply(&mut g, catalog, unary[s.picks[2] % unary.len()], &[], vec![a]),
            1 => apply(&mut g, catalog, binary[s.picks[2] % binary.len()], &[], vec![a, b]),
            2 => {
                let approximate = if s.picks[2] % 2 == 0 { "none" } else { "tanh" };
                apply(&mut g, catalog, "gelu", &[("approximate", Attr::Str(approximate.into()))], vec![a])
            }
            3 if rank >= 1 => {
                let k = ty.shape.dims()[ty.rank() - 1];
                let w = g.add_param(format!("w{n}"), TensorType::new(ty.dtype, vec![k, 1 + s.picks[2] as u64 % 5]));
                apply(&mut g, catalog, "matmul", &[], vec![a, w])
            }
            4 => {
                let op = if s.picks[2] % 2 == 0 { "sum" } else { "mean" };
                apply(
                    &mut g,
                    catalog,
                    op,
                    &[("axes", ints(&[axis])), ("keepdims", Attr::Bool(s.picks[1] % 2 == 0))],
                    vec![a],
                )
            }
            5 => apply(&mut g, catalog, "transpose", &[], vec![a]),
            6 => apply(&mut g, catalog, "reshape", &[("shape", ints(&[-1]))], vec![a]),
            7 => apply(&mut g, catalog, "softmax", &[("axis", Attr::Int(axis))], vec![a]),
            8 => {
                let c = apply(
                    &mut g,
                    catalog,
                    "constant",
                    &[("value", Attr::Float(s.value)), ("dtype", Attr::Str(ty.dtype.name().into()))],
                    vec![],
                );
                c.and_then(|c| apply(&mut g, catalog, "mul", &[], vec![a, c[0]]))
            }
            9 if rank >= 1 => {
                let extent = ty.shape.dims()[(axis + rank) as usize] as i64;
                let first = extent / 2;
                apply(
                    &mut g,
                    catalog,
                    "split",
                    &[("axis", Attr::Int(axis)), ("sizes", ints(&[first, extent - first]))],
                    vec![a],
                )
            }
            10 => apply(&mut g, catalog, "concat", &[("axis", Attr::Int(axis))], vec![a, b]),
            11 => {
                let out = vec![ty.clone(), TensorType::new(DType::I64, vec![2])];
                let attrs: Attrs = [
                    ("alpha".to_string(), Attr::Float(s.value)),
                    ("mode".to_string(), Attr::Str("fast".into())),
                ]
                .into();
                Some(g.add_node(
                    Op::Opaque("my_op".into()),
                    attrs,
                    vec![a, b],
                    out,
                    vec![Some("custom".into()), None],
                    None,
                ))
            }
            12 => apply(&mut g, catalog, "unsqueeze", &[("axes", ints(&[0]))], vec![a]),
            _ => {
                let p = g.add_param(format!("layer.{n}.bias"), ty.clone());
                apply(&mut g, catalog, "add", &[], vec![a, p])
            }
        };
        live.extend(produced.unwrap_or_default());
    }
    g.outputs = vec![*live.last().expect("a graph has at least one input")];
    g
}

/// Where a value comes from, independent of value numbering.
#[derive(Debug, PartialEq)]
enum Origin {
    Input(u32),
    Param(String),
    Node(u32, u32),
}

fn origin(g: &Graph, id: ValueId) -> Origin {
    let value = &g.values[id.index()];
    match value.def {
        ValueDef::Input(i) => Origin::Input(i),
        ValueDef::Param => Origin::Param(value.name.clone().unwrap_or_default()),
        ValueDef::Node { node, index } => Origin::Node(node.0, index),
    }
}

/// The graph without value numbering or intermediate names.
fn shape_of(g: &Graph) -> String {
    let ty = |id: ValueId| g.values[id.index()].ty.to_string();
    let mut out = String::new();
    for &id in &g.inputs {
        out += &format!("input {:?}: {}\n", g.values[id.index()].name, ty(id));
    }
    for &id in &g.params {
        out += &format!("param {:?}: {}\n", origin(g, id), ty(id));
    }
    for node in &g.nodes {
        let inputs: Vec<Origin> = node.inputs.iter().map(|&id| origin(g, id)).collect();
        let outputs: Vec<String> = node.outputs.iter().map(|&id| ty(id)).collect();
        out += &format!("{:?} {:?} {:?} -> {:?}\n", node.op, node.attrs, inputs, outputs);
    }
    let outputs: Vec<Origin> = g.outputs.iter().map(|&id| origin(g, id)).collect();
    out + &format!("outputs {outputs:?}\n")
}

fn reparse(text: &str, catalog: &Catalog) -> Graph {
    let ast = opfuse_syntax::parse(text).unwrap_or_else(|d| panic!("printed IR does not parse: {d:?}\n{text}"));
    let config = opfuse_syntax::Config {
        entry: None,
        dims: &[],
        ops: catalog,
    };
    let graph = opfuse_syntax::elaborate(&ast, &config).unwrap_or_else(|f| panic!("printed IR does not elaborate: {f:?}\n{text}"));
    verify(graph, catalog)
        .unwrap_or_else(|e| panic!("reparsed graph does not verify: {e}\n{text}"))
        .into_inner()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn print_then_parse_gives_the_same_graph(inputs in prop::collection::vec(input_type(), 1..3), steps in prop::collection::vec(step(), 1..25)) {
        let catalog = Catalog::builtin().expect("catalog loads");
        let original = build(&inputs, &steps, &catalog);
        let original = verify(original, &catalog).expect("generated graphs are valid").into_inner();
        let text = opfuse_ir::print(&original);
        let again = reparse(&text, &catalog);
        prop_assert_eq!(shape_of(&original), shape_of(&again));
        prop_assert_eq!(opfuse_ir::print(&again), text);
    }
}
