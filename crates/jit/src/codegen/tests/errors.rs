use super::super::CodegenError;
use super::jit;
use crate::program::{Access, Binary, Elementwise, RowOp, Rows, Step, Unary};

fn program(shape: Vec<usize>, strides: Vec<isize>, steps: Vec<Step>) -> Elementwise {
    Elementwise {
        shape,
        inputs: vec![Access {
            buffer: 0,
            offset: 0,
            strides,
        }],
        steps,
    }
}

#[test]
fn invalid_programs_are_errors() {
    let mut jit = jit();
    type Expect = fn(&CodegenError) -> bool;
    let cases: Vec<(Elementwise, Expect)> = vec![
        (program(vec![3, 4], vec![1], vec![Step::Load(0)]), |e| {
            matches!(e, CodegenError::StrideRank { strides: 1, rank: 2, .. })
        }),
        (program(vec![3], vec![1], vec![]), |e| matches!(e, CodegenError::NoSteps)),
        (program(vec![3], vec![1], vec![Step::Load(1)]), |e| {
            matches!(
                e,
                CodegenError::UnknownInput {
                    step: 0,
                    input: 1,
                    inputs: 1
                }
            )
        }),
        (program(vec![3], vec![1], vec![Step::Load(0), Step::Unary(Unary::Exp, 1)]), |e| {
            matches!(e, CodegenError::ForwardOperand { step: 1, operand: 1 })
        }),
        (
            program(vec![3], vec![1], vec![Step::Load(0), Step::Binary(Binary::Add, 0, 5)]),
            |e| matches!(e, CodegenError::ForwardOperand { step: 1, operand: 5 }),
        ),
        (program(vec![3], vec![1], vec![Step::Load(0), Step::Select(0, 0, 2)]), |e| {
            matches!(e, CodegenError::ForwardOperand { .. })
        }),
        (program(vec![3], vec![-1], vec![Step::Load(0)]), |e| {
            matches!(e, CodegenError::NegativeAddress { lowest: -2, .. })
        }),
        (program(vec![usize::MAX, 4], vec![0, 1], vec![Step::Load(0)]), |e| {
            matches!(e, CodegenError::TooLarge(_))
        }),
        (program(vec![1 << 40, 1 << 30], vec![0, 0], vec![Step::Load(0)]), |e| {
            matches!(e, CodegenError::TooLarge(_))
        }),
        (program(vec![4], vec![isize::MAX / 2], vec![Step::Load(0)]), |e| {
            matches!(e, CodegenError::TooLarge(_))
        }),
    ];
    for (program, expected) in cases {
        match jit.compile_elementwise(&program, 1) {
            Err(e) => assert!(expected(&e), "{program:?}: {e}"),
            Ok(_) => panic!("{program:?} compiled"),
        }
    }
    // The Jit still works after errors.
    let ok = program(vec![3], vec![1], vec![Step::Load(0)]);
    jit.compile_elementwise(&ok, 1).expect("compile after errors");
}

#[test]
fn invalid_row_programs_are_errors() {
    let mut jit = jit();
    let prologue = program(vec![2, 3], vec![3, 1], vec![Step::Load(0)]);
    let scale = Some(Access {
        buffer: 1,
        offset: 0,
        strides: vec![0, 1],
    });
    let reduce_with_scale = Rows {
        prologue: prologue.clone(),
        op: RowOp::Sum,
        scale: scale.clone(),
        bias: None,
    };
    assert!(matches!(
        jit.compile_rows(&reduce_with_scale, 2),
        Err(CodegenError::ScaleOnReduction(_))
    ));
    let bad_scale = Rows {
        prologue: prologue.clone(),
        op: RowOp::Softmax,
        scale: Some(Access {
            buffer: 1,
            offset: 0,
            strides: vec![1],
        }),
        bias: None,
    };
    assert!(matches!(jit.compile_rows(&bad_scale, 2), Err(CodegenError::StrideRank { .. })));
    let bad_bias = Rows {
        prologue: prologue.clone(),
        op: RowOp::LayerNorm { epsilon: 1e-5 },
        scale: None,
        bias: Some(Access {
            buffer: 1,
            offset: 0,
            strides: vec![0, -1],
        }),
    };
    assert!(matches!(jit.compile_rows(&bad_bias, 2), Err(CodegenError::NegativeAddress { .. })));
    let bad_steps = Rows {
        prologue: program(vec![2, 3], vec![3, 1], vec![Step::Unary(Unary::Exp, 0)]),
        op: RowOp::Max,
        scale: None,
        bias: None,
    };
    assert!(matches!(jit.compile_rows(&bad_steps, 2), Err(CodegenError::ForwardOperand { .. })));
    let huge = Rows {
        prologue: program(vec![usize::MAX, 2, 0], vec![0, 0, 1], vec![Step::Load(0)]),
        op: RowOp::Sum,
        scale: None,
        bias: None,
    };
    assert!(matches!(jit.compile_rows(&huge, 2), Err(CodegenError::TooLarge(_))));
}
