//! The code side of each catalog entry: shape rule and FLOP formula by name.

use crate::rules::{self, conv, elementwise, index, layout, matmul, norm, reduction, FlopsFn, InferFn};

/// What the code knows about one operator.
#[derive(Clone, Copy, Debug)]
pub struct OpCode {
    pub infer: InferFn,
    pub flops: FlopsFn,
}

const fn op(infer: InferFn, flops: FlopsFn) -> OpCode {
    OpCode { infer, flops }
}

/// Every operator with code, by catalog name. A test checks that this table
/// and `ops/catalog.toml` list the same names.
pub const OP_CODE: &[(&str, OpCode)] = &[
    ("neg", op(elementwise::unary, rules::per_output)),
    ("abs", op(elementwise::unary, rules::per_output)),
    ("relu", op(elementwise::unary, rules::per_output)),
    ("exp", op(elementwise::unary_float, rules::per_output)),
    ("log", op(elementwise::unary_float, rules::per_output)),
    ("sqrt", op(elementwise::unary_float, rules::per_output)),
    ("rsqrt", op(elementwise::unary_float, rules::per_output)),
    ("reciprocal", op(elementwise::unary_float, rules::per_output)),
    ("sigmoid", op(elementwise::unary_float, rules::per_output)),
    ("tanh", op(elementwise::unary_float, rules::per_output)),
    ("erf", op(elementwise::unary_float, rules::per_output)),
    ("sin", op(elementwise::unary_float, rules::per_output)),
    ("cos", op(elementwise::unary_float, rules::per_output)),
    ("gelu", op(elementwise::gelu, rules::per_output)),
    ("silu", op(elementwise::unary_float, rules::per_output)),
    ("cast", op(elementwise::cast, rules::no_flops)),
    ("add", op(elementwise::binary, rules::per_output)),
    ("sub", op(elementwise::binary, rules::per_output)),
    ("mul", op(elementwise::binary, rules::per_output)),
    ("div", op(elementwise::binary, rules::per_output)),
    ("pow", op(elementwise::binary, rules::per_output)),
    ("max", op(elementwise::binary, rules::per_output)),
    ("min", op(elementwise::binary, rules::per_output)),
    ("where", op(elementwise::where_, rules::per_output)),
    ("constant", op(elementwise::constant, rules::no_flops)),
    ("sum", op(reduction::reduce, rules::per_input)),
    ("mean", op(reduction::reduce, rules::per_input)),
    ("reduce_max", op(reduction::reduce, rules::per_input)),
    ("reduce_min", op(reduction::reduce, rules::per_input)),
    ("argmax", op(reduction::argmax, rules::per_input)),
    ("matmul", op(matmul::matmul, matmul::matmul_flops)),
    ("grouped_matmul", op(matmul::grouped_matmul, matmul::matmul_flops)),
    ("conv", op(conv::conv, conv::conv_flops)),
    ("max_pool", op(conv::pool, conv::pool_flops)),
    ("avg_pool", op(conv::pool, conv::pool_flops)),
    ("global_avg_pool", op(conv::global_pool, rules::per_input)),
    // Batch norm folds to a multiply-add per element; layer norm takes a
    // mean, a variance, a normalise and an affine (about 8); RMS norm about 4;
    // softmax a max, subtract, exp, sum and divide (5).
    ("batch_norm", op(norm::batch_norm, norm::flops_times::<2>)),
    ("layer_norm", op(norm::layer_norm, norm::flops_times::<8>)),
    ("rms_norm", op(norm::layer_norm, norm::flops_times::<4>)),
    ("softmax", op(norm::softmax, norm::flops_times::<5>)),
    ("log_softmax", op(norm::softmax, norm::flops_times::<6>)),
    ("reshape", op(layout::reshape, rules::no_flops)),
    ("transpose", op(layout::transpose, rules::no_flops)),
    ("concat", op(layout::concat, rules::no_flops)),
    ("split", op(layout::split, rules::no_flops)),
    ("slice", op(layout::slice, rules::no_flops)),
    ("squeeze", op(layout::squeeze, rules::no_flops)),
    ("unsqueeze", op(layout::unsqueeze, rules::no_flops)),
    ("expand", op(layout::expand, rules::no_flops)),
    ("flatten", op(layout::flatten, rules::no_flops)),
    ("gather", op(index::gather, rules::no_flops)),
    ("index_select", op(index::index_select, rules::no_flops)),
    ("gather_elements", op(index::gather_elements, rules::no_flops)),
    ("embedding", op(index::embedding, rules::no_flops)),
    ("top_k", op(index::top_k, index::top_k_flops)),
];

pub fn lookup(name: &str) -> Option<OpCode> {
    OP_CODE.iter().find(|(n, _)| *n == name).map(|&(_, code)| code)
}
