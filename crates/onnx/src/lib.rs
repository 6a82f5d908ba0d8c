//! ONNX import: `.onnx` files into the typed graph IR.
//!
//! [`import`] decodes the protobuf (with hand-written [`proto`] messages, so
//! no `protoc` is needed), turns initializers and `Constant` nodes into params
//! that hold data, and maps each node onto a catalog operator through the
//! catalog entries' `onnx` mappings: op type and opset range, attribute
//! renames, inputs that become attributes (Reshape's `shape`), ignored
//! attributes. Nothing about a particular ONNX op is written here.
//!
//! A node that does not map (an op the catalog lacks, another domain, an
//! attribute the entry does not take, a computed input where the catalog
//! needs a constant, a shape rule that rejects it) does not fail the import:
//! it becomes an [`opfuse_ir::Op::Opaque`] node typed from the file's
//! `value_info`, and an [`ImportNote`] says why, for the audit to report.
//!
//! Invariants: the result is verified against the catalog; a malformed file
//! gives an [`ImportError`], never a panic; value names are the file's.
//!
//! Start reading at [`import`], then `import.rs` and `mapping.rs`.

mod error;
mod import;
mod mapping;
pub mod proto;
mod tensor;

pub use error::{ImportError, ImportNote, NodeRef, NoteKind};
pub use import::{import, import_model, ImportOptions, Imported, MIN_OPSET};

use opfuse_ir::Tensor;
use prost::Message;

/// Reads a serialized `TensorProto` (the `.pb` files of the ONNX backend
/// tests) into a tensor.
pub fn read_tensor(bytes: &[u8]) -> Result<Tensor, ImportError> {
    let proto = proto::TensorProto::decode(bytes).map_err(|e| ImportError::Decode(e.to_string()))?;
    tensor::tensor_of(&proto).map_err(|message| ImportError::Tensor { name: proto.name, message })
}
