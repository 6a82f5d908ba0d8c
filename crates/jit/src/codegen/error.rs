//! Why a program did not compile, or a kernel did not run.

use thiserror::Error;

/// A code generation or kernel invocation failure.
#[derive(Debug, Error)]
pub enum CodegenError {
    /// `cranelift_native` does not know this host.
    #[error("host machine is not supported by Cranelift: {0}")]
    Host(String),
    #[error("invalid Cranelift setting: {0}")]
    Settings(#[from] cranelift_codegen::settings::SetError),
    #[error("Cranelift could not build the target ISA or the function: {0}")]
    Cranelift(#[from] cranelift_codegen::CodegenError),
    #[error("Cranelift module error: {0}")]
    Module(Box<cranelift_module::ModuleError>),
    /// An access has a stride count other than the shape's rank.
    #[error("{access} has {strides} strides for a shape of rank {rank}")]
    StrideRank { access: String, strides: usize, rank: usize },
    #[error("program has no steps")]
    NoSteps,
    /// `Step::Load(input)` names an access the program does not have.
    #[error("step {step} loads input {input} but the program has {inputs} inputs")]
    UnknownInput { step: usize, input: usize, inputs: usize },
    /// A step's operand is not an earlier step.
    #[error("step {step} uses step {operand}, which is not an earlier step")]
    ForwardOperand { step: usize, operand: usize },
    /// Element counts or addresses that do not fit the address space.
    #[error("{0} overflows the address space")]
    TooLarge(String),
    /// An access reaches below the start of its buffer.
    #[error("{access} reaches element {lowest} of its buffer")]
    NegativeAddress { access: String, lowest: i128 },
    /// A reduction writes one value per row, so it has no per-element
    /// scale or bias to apply.
    #[error("a {0} row reduction takes no scale or bias")]
    ScaleOnReduction(String),
    /// `Kernel::run` was given fewer buffers than the kernel reads.
    #[error("the kernel uses buffer {buffer} but was given {given} buffers")]
    MissingBuffer { buffer: usize, given: usize },
    /// `Kernel::run` was given a buffer shorter than the kernel reaches.
    #[error("buffer {buffer} has {len} elements; the kernel reaches {needed}")]
    BufferTooSmall { buffer: usize, len: usize, needed: usize },
    /// `Kernel::run` was asked for a range outside `0..units`.
    #[error("range {start}..{end} is not within the kernel's 0..{units}")]
    Range { start: usize, end: usize, units: usize },
    /// A code generator invariant did not hold (a bug, reported rather than
    /// a panic).
    #[error("internal code generator error: {0}")]
    Internal(&'static str),
}

impl From<cranelift_module::ModuleError> for CodegenError {
    fn from(error: cranelift_module::ModuleError) -> Self {
        CodegenError::Module(Box::new(error))
    }
}

pub type Result<T> = std::result::Result<T, CodegenError>;
