//! A model written by the onnx package's own helpers (see fixtures/make.py),
//! so the bytes are what real exporters write.

use opfuse_ir::{Attr, DType, Op, Tensor, TensorType};
use opfuse_onnx::{import, ImportError, ImportOptions, NoteKind};
use opfuse_ops::Catalog;

const BLOCK: &[u8] = include_bytes!("fixtures/block_opset17.onnx");

fn options(dims: &[(&str, u64)]) -> ImportOptions {
    ImportOptions {
        dims: dims.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        ..ImportOptions::default()
    }
}

#[test]
fn a_model_from_the_onnx_package_imports() {
    let catalog = Catalog::builtin().unwrap();
    let imported = import(BLOCK, &catalog, &options(&[("batch", 3), ("batch_x2", 6)])).unwrap();
    let g = &imported.graph;
    assert_eq!(imported.opset, 17);
    assert_eq!(g.name, "block");
    let ops: Vec<&Op> = g.nodes.iter().map(|n| &n.op).collect();
    assert_eq!(
        &ops[..3],
        [&Op::Known("matmul".into()), &Op::Known("mul".into()), &Op::Known("reshape".into())]
    );
    assert_eq!(ops[4], &Op::Opaque("FusedThing".into()));
    assert_eq!(g.nodes[2].attrs["shape"], Attr::List(vec![Attr::Int(-1), Attr::Int(3)]));
    assert_eq!(g.ty(g.inputs[0]).unwrap().to_string(), "f32[3, 2, 4]");
    assert_eq!(g.ty(g.outputs[0]).unwrap().to_string(), "f32[6, 3]");

    let param = |name: &str| {
        let id = g
            .params
            .iter()
            .find(|id| g.value(**id).unwrap().name.as_deref() == Some(name))
            .unwrap();
        g.param_data[id].clone()
    };
    let w: Vec<f64> = (0..12).map(|i| (i as f32 / 10.0) as f64).collect();
    assert_eq!(param("w"), Tensor::new(TensorType::new(DType::F32, vec![4, 3]), w).unwrap());
    assert_eq!(param("half"), Tensor::scalar(DType::F32, 0.5));

    let opaque: Vec<&str> = imported
        .notes
        .iter()
        .filter(|n| n.kind == NoteKind::Opaque)
        .map(|n| n.node.op_type.as_str())
        .collect();
    assert!(opaque.starts_with(&["FusedThing"]), "{:?}", imported.notes);
    assert!(imported.notes.iter().all(|n| n.kind == NoteKind::Opaque), "{:?}", imported.notes);
}

#[test]
fn its_symbolic_batch_needs_a_size() {
    let catalog = Catalog::builtin().unwrap();
    let err = import(BLOCK, &catalog, &ImportOptions::default()).unwrap_err();
    assert!(matches!(&err, ImportError::Input { name, .. } if name == "x"), "{err}");
    assert!(err.to_string().contains("`batch`"), "{err}");
    // Without `batch_x2`, the custom op's declared type is unusable: it takes
    // its input's type and says so.
    let imported = import(BLOCK, &catalog, &options(&[("batch", 1)])).unwrap();
    let warnings: Vec<String> = imported
        .notes
        .iter()
        .filter(|n| n.kind == NoteKind::Warning)
        .map(|n| n.to_string())
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("output `fused`") && w.contains("assumed f32[2, 3]")),
        "{warnings:?}"
    );
}
