//! Where an op instance sits in the model's source: a line and column of an
//! `.opf` file, or a node (position and name) of an `.onnx` file. The CLI
//! builds them (it alone reads files); the audit only carries them.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Location {
    /// The model file, as the user named it.
    pub file: String,
    /// 1-based line and column of the op in a model-language file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// Position of the node in an ONNX file's `graph.node` list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<usize>,
    /// The ONNX node's `name` (often empty in exported files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Location {
    pub fn source(file: &str, line: u32, column: u32) -> Location {
        Location {
            file: file.to_string(),
            line: Some(line),
            column: Some(column),
            node: None,
            name: None,
        }
    }

    pub fn onnx_node(file: &str, node: usize, name: &str) -> Location {
        Location {
            file: file.to_string(),
            line: None,
            column: None,
            node: Some(node),
            name: Some(name.to_string()).filter(|n| !n.is_empty()),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, ":{line}:{column}")?;
        }
        match (self.node, &self.name) {
            (Some(node), Some(name)) => write!(f, " node #{node} `{name}`"),
            (Some(node), None) => write!(f, " node #{node}"),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_print_as_users_look_them_up() {
        assert_eq!(Location::source("m.opf", 3, 9).to_string(), "m.opf:3:9");
        assert_eq!(Location::onnx_node("m.onnx", 5, "").to_string(), "m.onnx node #5");
        assert_eq!(Location::onnx_node("m.onnx", 5, "fc1").to_string(), "m.onnx node #5 `fc1`");
    }
}
