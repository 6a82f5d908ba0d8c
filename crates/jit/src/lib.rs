//! The Cranelift CPU backend: lowering of the optimized graph's kernels to
//! loop programs, their code generation, buffer planning and execution.

mod attention;
pub mod check;
pub mod codegen;
mod exec;
pub mod gemm;
pub mod lower;
pub mod native;
pub mod plan;
pub mod program;

pub use exec::{compile, params_of, Executable, JitError, Options, Run};
pub use gemm::GemmPath;
