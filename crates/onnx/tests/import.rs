//! ONNX import on small models built in the test: types, params with data,
//! constant inputs, binding, opaque fallback, and errors.

mod common;

use std::collections::BTreeMap;

use common::{f32_tensor, f32_value, float_attr, i64_tensor, int_attr, ints_attr, node, tensor_attr, value, Model, D, FLOAT, INT64};
use opfuse_ir::{Attr, DType, Op, Tensor, TensorType, ValueId};
use opfuse_onnx::{import, ImportError, ImportOptions, Imported, NoteKind};
use opfuse_ops::Catalog;

fn catalog() -> Catalog {
    Catalog::builtin().expect("the built-in catalog loads")
}

fn run(model: &Model) -> Result<Imported, ImportError> {
    import(&model.bytes(), &catalog(), &ImportOptions::default())
}

fn run_with(model: &Model, options: &ImportOptions) -> Result<Imported, ImportError> {
    import(&model.bytes(), &catalog(), options)
}

fn ty(imported: &Imported, id: ValueId) -> String {
    imported.graph.ty(id).map(|t| t.to_string()).unwrap_or_default()
}

fn ops(imported: &Imported) -> Vec<String> {
    imported
        .graph
        .nodes
        .iter()
        .map(|n| match &n.op {
            Op::Known(name) => name.clone(),
            Op::Opaque(name) => format!("opaque {name}"),
        })
        .collect()
}

fn tensor(dtype: DType, dims: &[u64], data: &[f64]) -> Tensor {
    Tensor::new(TensorType::new(dtype, dims.to_vec()), data.to_vec()).unwrap()
}

/// x[2, 3] + bias[3] -> relu -> matmul with w[3, 4].
fn mlp() -> Model {
    Model::new(17)
        .input(f32_value("x", &[2, 3]))
        .init(f32_tensor("bias", &[3], &[0.5, -1.0, 2.0]))
        .init(f32_tensor("w", &[3, 4], &[1.0; 12]))
        .node(node("Add", &["x", "bias"], &["h"], vec![]))
        .node(node("Relu", &["h"], &["r"], vec![]))
        .node(node("MatMul", &["r", "w"], &["y"], vec![]))
        .output(f32_value("y", &[2, 4]))
}

#[test]
fn nodes_map_onto_catalog_operators() {
    let imported = run(&mlp()).unwrap();
    let g = &imported.graph;
    assert_eq!(ops(&imported), ["add", "relu", "matmul"]);
    assert_eq!(imported.opset, 17);
    assert_eq!(g.name, "test");
    assert_eq!(g.inputs.len(), 1);
    assert_eq!(ty(&imported, g.outputs[0]), "f32[2, 4]");
    assert_eq!(g.value(g.outputs[0]).unwrap().name.as_deref(), Some("y"));
    assert!(imported.notes.is_empty(), "{:?}", imported.notes);
    let printed = opfuse_ir::print(g);
    assert!(printed.contains("param bias: f32[3]"), "{printed}");
    assert!(printed.contains("y = matmul(r, w)"), "{printed}");
}

#[test]
fn initializers_and_constants_are_params_with_data() {
    let model = Model::new(13)
        .input(f32_value("x", &[3]))
        .init(f32_tensor("bias", &[3], &[0.5, -1.0, 2.0]))
        .init(i64_tensor("steps", &[2], &[7, -9]))
        .node(node(
            "Constant",
            &[],
            &["c"],
            vec![tensor_attr("value", f32_tensor("", &[1], &[4.0]))],
        ))
        .node(node("Constant", &[], &["k"], vec![ints_attr("value_ints", &[1, 2])]))
        .node(node("Constant", &[], &["s"], vec![float_attr("value_float", 0.25)]))
        .node(node("Add", &["x", "c"], &["y"], vec![]))
        .output(f32_value("y", &[3]))
        .output(value("k", INT64, &[D::N(2)]));
    let imported = run(&model).unwrap();
    let g = &imported.graph;
    let data: BTreeMap<&str, &Tensor> = g
        .params
        .iter()
        .map(|id| (g.value(*id).unwrap().name.as_deref().unwrap(), &g.param_data[id]))
        .collect();
    assert_eq!(data.keys().copied().collect::<Vec<_>>(), ["bias", "c", "k", "s", "steps"]);
    assert_eq!(data["bias"].data(), &[0.5, -1.0, 2.0]);
    assert_eq!(data["steps"], &tensor(DType::I64, &[2], &[7.0, -9.0]));
    assert_eq!(data["c"], &tensor(DType::F32, &[1], &[4.0]));
    assert_eq!(data["k"], &tensor(DType::I64, &[2], &[1.0, 2.0]));
    assert_eq!(data["s"], &Tensor::scalar(DType::F32, 0.25));
    assert_eq!(ops(&imported), ["add"]);
}

#[test]
fn constant_inputs_become_attributes() {
    let model = Model::new(13)
        .input(f32_value("x", &[2, 3, 4]))
        .init(i64_tensor("axes", &[1], &[1]))
        .node(node("ReduceSum", &["x", "axes"], &["y"], vec![int_attr("keepdims", 0)]))
        .output(f32_value("y", &[2, 4]));
    let imported = run(&model).unwrap();
    let node = &imported.graph.nodes[0];
    assert_eq!(node.op, Op::Known("sum".into()));
    assert_eq!(node.attrs["axes"], Attr::List(vec![Attr::Int(1)]));
    assert_eq!(node.attrs["keepdims"], Attr::Bool(false));
    assert_eq!(node.inputs.len(), 1);
    assert_eq!(ty(&imported, imported.graph.outputs[0]), "f32[2, 4]");
}

#[test]
fn constant_inputs_computed_from_constants_are_folded() {
    // The axes come out of a small computation on constants: sum([0, 1]).
    let model = Model::new(13)
        .input(f32_value("x", &[2, 3, 4]))
        .init(i64_tensor("parts", &[2], &[0, 1]))
        .node(node("ReduceSum", &["parts"], &["axes"], vec![int_attr("keepdims", 1)]))
        .node(node("ReduceSum", &["x", "axes"], &["y"], vec![int_attr("keepdims", 0)]))
        .output(f32_value("y", &[2, 4]));
    let imported = run(&model).unwrap();
    assert_eq!(ops(&imported), ["sum", "sum"], "{:?}", imported.notes);
    assert_eq!(imported.graph.nodes[1].attrs["axes"], Attr::List(vec![Attr::Int(1)]));
}

/// ReduceSum-13 takes its axes as a graph input, as the ONNX backend tests
/// do (and Reshape its shape).
fn axes_input_model() -> Model {
    Model::new(13)
        .input(f32_value("x", &[2, 3]))
        .input(value("axes", INT64, &[D::N(1)]))
        .node(node("ReduceSum", &["x", "axes"], &["y"], vec![int_attr("keepdims", 0)]))
        .output(f32_value("y", &[2]))
}

#[test]
fn a_computed_constant_input_makes_the_node_opaque() {
    let imported = run(&axes_input_model()).unwrap();
    assert_eq!(ops(&imported), ["opaque ReduceSum"]);
    assert_eq!(ty(&imported, imported.graph.outputs[0]), "f32[2]");
    let note = &imported.notes[0];
    assert_eq!(note.kind, NoteKind::Opaque);
    assert_eq!(note.node.index, 0);
    assert_eq!(note.node.op_type, "ReduceSum");
    assert!(note.message.contains("must be a constant"), "{note}");
    assert_eq!(imported.graph.nodes[0].inputs.len(), 2);
}

#[test]
fn bound_inputs_become_constants_where_needed() {
    let axes = tensor(DType::I64, &[1], &[-1.0]);
    let x = tensor(DType::F32, &[2, 3], &[0.0; 6]);
    let options = ImportOptions {
        bind: BTreeMap::from([("axes".to_string(), axes.clone()), ("x".to_string(), x)]),
        ..ImportOptions::default()
    };
    let imported = run_with(&axes_input_model(), &options).unwrap();
    let g = &imported.graph;
    assert_eq!(ops(&imported), ["sum"]);
    assert_eq!(g.nodes[0].attrs["axes"], Attr::List(vec![Attr::Int(-1)]));
    // `x` is bound but only used as a tensor: it stays an input.
    let inputs: Vec<&str> = g.inputs.iter().map(|id| g.value(*id).unwrap().name.as_deref().unwrap()).collect();
    assert_eq!(inputs, ["x"]);
    assert_eq!(g.param_data[&g.params[0]], axes);
    assert_eq!(ty(&imported, g.outputs[0]), "f32[2]");
}

#[test]
fn binding_checks_names_and_types() {
    let bind = |name: &str, t: Tensor| ImportOptions {
        bind: BTreeMap::from([(name.to_string(), t)]),
        ..ImportOptions::default()
    };
    let err = run_with(&axes_input_model(), &bind("axis", tensor(DType::I64, &[1], &[1.0]))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "--input `axis`: the model has no input of that name (its inputs: x, axes)"
    );
    let err = run_with(&axes_input_model(), &bind("axes", tensor(DType::F32, &[1], &[1.0]))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "--input `axes`: the model declares i64[1], the given tensor is f32[1]"
    );
    // A dtype of the same kind is converted: `.npy` has no bf16, and i32
    // indices are as good as i64 ones.
    assert!(run_with(&axes_input_model(), &bind("axes", tensor(DType::I32, &[1], &[1.0]))).is_ok());
}

#[test]
fn symbolic_dims_need_sizes() {
    let model = Model::new(13)
        .input(value("x", FLOAT, &[D::P("batch"), D::N(3)]))
        .node(node("Relu", &["x"], &["y"], vec![]))
        .output(value("y", FLOAT, &[D::P("batch"), D::N(3)]));
    let err = run(&model).unwrap_err();
    assert!(matches!(&err, ImportError::Input { name, .. } if name == "x"), "{err:?}");
    assert!(err.to_string().contains("axis 0 is the symbolic dim `batch`"), "{err}");
    let options = ImportOptions {
        dims: BTreeMap::from([("batch".to_string(), 5)]),
        ..ImportOptions::default()
    };
    let imported = run_with(&model, &options).unwrap();
    assert_eq!(ty(&imported, imported.graph.outputs[0]), "f32[5, 3]");
    // A bound tensor fixes the dims of its input too.
    let options = ImportOptions {
        bind: BTreeMap::from([("x".to_string(), tensor(DType::F32, &[2, 3], &[1.0; 6]))]),
        ..ImportOptions::default()
    };
    let imported = run_with(&model, &options).unwrap();
    assert_eq!(ty(&imported, imported.graph.outputs[0]), "f32[2, 3]");
}

#[test]
fn unknown_ops_are_opaque_and_typed_from_value_info() {
    let mut custom = node("FancyNorm", &["h"], &["n"], vec![int_attr("groups", 4), float_attr("eps", 1e-5)]);
    custom.domain = "com.example".into();
    let model = Model::new(17)
        .input(f32_value("x", &[2, 3]))
        .node(node("Relu", &["x"], &["h"], vec![]))
        .node(custom)
        .node(node("NoSuchOp", &["n"], &["m"], vec![]))
        .node(node("Relu", &["m"], &["y"], vec![]))
        .info(f32_value("n", &[6]))
        .output(f32_value("y", &[6]));
    let imported = run(&model).unwrap();
    let g = &imported.graph;
    assert_eq!(ops(&imported), ["relu", "opaque FancyNorm", "opaque NoSuchOp", "relu"]);
    assert_eq!(ty(&imported, g.nodes[1].outputs[0]), "f32[6]");
    assert_eq!(g.nodes[1].attrs["groups"], Attr::Int(4));
    // No declared type for `m`: the first input's type, with a warning.
    assert_eq!(ty(&imported, g.nodes[2].outputs[0]), "f32[6]");
    let notes: Vec<String> = imported.notes.iter().map(|n| n.to_string()).collect();
    assert_eq!(
        notes,
        [
            "node #1 `FancyNorm_n` (FancyNorm): opaque: domain `com.example` is not the default ONNX domain",
            "node #2 `NoSuchOp_m` (NoSuchOp): warning: output `m`: the file declares no type for it; assumed f32[6] (the first input's type)",
            "node #2 `NoSuchOp_m` (NoSuchOp): opaque: `NoSuchOp` is not in the operator catalog",
        ]
    );
    let printed = opfuse_ir::print(g);
    assert!(printed.contains("n: f32[6] = FancyNorm(h, eps = "), "{printed}");
}

#[test]
fn nodes_the_catalog_rejects_are_opaque_with_the_reason() {
    let model = Model::new(17)
        .input(f32_value("x", &[2, 3]))
        .input(f32_value("z", &[4, 5]))
        .node(node("Add", &["x", "z"], &["y"], vec![]))
        .node(node("Relu", &["x"], &["r"], vec![int_attr("no_such_attr", 1)]))
        .output(f32_value("y", &[2, 3]))
        .output(f32_value("r", &[2, 3]));
    let imported = run(&model).unwrap();
    assert_eq!(ops(&imported), ["opaque Add", "opaque Relu"]);
    assert!(imported.notes[0].message.contains("do not broadcast"), "{}", imported.notes[0]);
    assert_eq!(
        imported.notes[1].message,
        "attribute `no_such_attr` has no counterpart in the catalog's `relu`"
    );
}

#[test]
fn opaque_nodes_without_inputs_or_types_are_errors() {
    let model = Model::new(17)
        .node(node("RandomThing", &[], &["y"], vec![]))
        .output(value("y", FLOAT, &[D::P("n")]));
    let err = run(&model).unwrap_err();
    assert!(
        matches!(&err, ImportError::Node { node, .. } if node.index == 0 && node.op_type == "RandomThing"),
        "{err:?}"
    );
    assert!(err.to_string().contains("cannot type output `y`"), "{err}");
}

#[test]
fn nodes_out_of_order_are_sorted() {
    let mut model = mlp();
    model.graph.node.reverse();
    let imported = run(&model).unwrap();
    assert_eq!(ops(&imported), ["add", "relu", "matmul"]);
}

#[test]
fn old_opsets_and_missing_opsets_are_errors() {
    let err = run(&Model { opset: 6, ..mlp() }).unwrap_err();
    assert_eq!(err, ImportError::OpsetTooOld(6));
    assert!(err.to_string().contains("opset 7 and later"));
    let mut proto = mlp().proto();
    proto.opset_import[0].domain = "com.example".into();
    let err = opfuse_onnx::import_model(&proto, &catalog(), &ImportOptions::default()).unwrap_err();
    assert_eq!(err, ImportError::NoDefaultOpset);
}

#[test]
fn broken_graphs_are_typed_errors() {
    let dangling = Model::new(13)
        .input(f32_value("x", &[2]))
        .node(node("Add", &["x", "ghost"], &["y"], vec![]))
        .output(f32_value("y", &[2]));
    let err = run(&dangling).unwrap_err();
    assert_eq!(
        err.to_string(),
        "node #0 `Add_y` (Add): input `ghost` is not defined by any input, initializer or node"
    );

    let cycle = Model::new(13)
        .input(f32_value("x", &[2]))
        .node(node("Add", &["x", "b"], &["a"], vec![]))
        .node(node("Relu", &["a"], &["b"], vec![]))
        .output(f32_value("b", &[2]));
    assert!(matches!(run(&cycle).unwrap_err(), ImportError::Cycle { node } if node.index == 0));

    let twice = Model::new(13)
        .input(f32_value("x", &[2]))
        .node(node("Relu", &["x"], &["x"], vec![]))
        .output(f32_value("x", &[2]));
    assert_eq!(run(&twice).unwrap_err(), ImportError::DuplicateName("x".into()));

    let no_output = Model::new(13).input(f32_value("x", &[2])).output(f32_value("nope", &[2]));
    assert_eq!(run(&no_output).unwrap_err(), ImportError::UnknownOutput("nope".into()));
}

#[test]
fn bad_tensors_are_typed_errors() {
    let with_init = |t| mlp().init(t);
    let err = run(&with_init(f32_tensor("bad", &[2, 2], &[1.0]))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tensor `bad`: the shape needs 4 element(s), but float_data holds 1"
    );
    let mut raw = i64_tensor("raw", &[3], &[1, 2, 3]);
    raw.raw_data.as_mut().unwrap().pop();
    let err = run(&with_init(raw)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tensor `raw`: 3 i64 element(s) need 24 bytes of raw data, found 23"
    );
    let err = run(&with_init(f32_tensor("huge", &[1 << 40, 1 << 40], &[]))).unwrap_err();
    assert!(err.to_string().contains("more elements than fit in 64 bits"), "{err}");
    let mut external = f32_tensor("ext", &[1], &[]);
    external.data_location = 1;
    let err = run(&with_init(external)).unwrap_err();
    assert!(err.to_string().contains("external file"), "{err}");
    let huge_input = Model::new(13)
        .input(f32_value("x", &[1 << 40, 1 << 40, 1 << 40]))
        .node(node("Relu", &["x"], &["y"], vec![]))
        .output(f32_value("y", &[1]));
    assert!(run(&huge_input).is_err());
}

#[test]
fn truncated_files_are_decode_errors() {
    let bytes = mlp().bytes();
    let err = import(&bytes[..bytes.len() - 3], &catalog(), &ImportOptions::default()).unwrap_err();
    assert!(matches!(err, ImportError::Decode(_)), "{err:?}");
    assert!(err.to_string().starts_with("not a valid ONNX file"));
    let err = import(b"", &catalog(), &ImportOptions::default()).unwrap_err();
    assert_eq!(err, ImportError::NoDefaultOpset);
}

#[test]
fn pb_tensors_read() {
    use prost::Message;
    let bytes = f32_tensor("t", &[2], &[1.5, -2.0]).encode_to_vec();
    let t = opfuse_onnx::read_tensor(&bytes).unwrap();
    assert_eq!(t, tensor(DType::F32, &[2], &[1.5, -2.0]));
    assert!(opfuse_onnx::read_tensor(&bytes[..bytes.len() - 1]).is_err());
}

#[test]
fn imported_graphs_print_as_model_files_that_read_back() {
    let mut strings = common::int_attr("mode", 0);
    strings.r#type = opfuse_onnx::proto::attribute_type::STRING;
    strings.i = None;
    strings.s = Some(b"say \"hi\"".to_vec());
    let model = Model::new(17)
        .input(f32_value("/model/input.0", &[2, 3]))
        .init(f32_tensor("graph", &[3], &[1.0, 2.0, 3.0]))
        .node(node("Add", &["/model/input.0", "graph"], &["1x"], vec![]))
        .node(node(
            "Fancy-Op",
            &["1x"],
            &["in"],
            vec![int_attr("axis", -1), float_attr("eps", 1e-5), ints_attr("perm", &[1, 0]), strings],
        ))
        .node(node("Relu", &["in"], &["out..put"], vec![]))
        .info(f32_value("in", &[3, 2]))
        .output(f32_value("out..put", &[3, 2]));
    let imported = run(&model).unwrap();
    let text = opfuse_ir::print(&imported.graph);
    let catalog = catalog();
    let ast = opfuse_syntax::parse(&text).unwrap_or_else(|d| panic!("printed import does not parse: {d:?}\n{text}"));
    let config = opfuse_syntax::Config {
        entry: None,
        dims: &[],
        ops: &catalog,
    };
    let again = opfuse_syntax::elaborate(&ast, &config).unwrap_or_else(|f| panic!("printed import does not elaborate: {f:?}\n{text}"));
    let again = opfuse_ir::verify(again, &catalog).unwrap();
    assert_eq!(opfuse_ir::print(&again), text);
    assert_eq!(again.nodes[1].attrs["mode"], Attr::Str("say \"hi\"".into()));
}

#[test]
fn bound_inputs_that_constant_inputs_are_computed_from_become_constants() {
    // axes = sum(parts, keepdims): `parts` is a graph input, bound.
    let model = Model::new(13)
        .input(f32_value("x", &[2, 3, 4]))
        .input(value("parts", INT64, &[D::N(2)]))
        .node(node("ReduceSum", &["parts"], &["axes"], vec![int_attr("keepdims", 1)]))
        .node(node("ReduceSum", &["x", "axes"], &["y"], vec![int_attr("keepdims", 0)]))
        .output(f32_value("y", &[2, 4]));
    let options = ImportOptions {
        bind: BTreeMap::from([("parts".to_string(), tensor(DType::I64, &[2], &[0.0, 1.0]))]),
        ..ImportOptions::default()
    };
    let imported = run_with(&model, &options).unwrap();
    assert_eq!(ops(&imported), ["sum", "sum"], "{:?}", imported.notes);
    assert_eq!(imported.graph.inputs.len(), 1);
    assert_eq!(imported.graph.nodes[1].attrs["axes"], Attr::List(vec![Attr::Int(1)]));
}
