//! The canonical printer.
//!
//! The canonical form is itself a model file: one flat `graph` with concrete
//! shapes, one statement per node in node order, every attribute written out
//! (defaults included) and every constant as an explicit `constant` node. So
//! printing, then parsing and elaborating, gives back the same graph.

use std::collections::HashSet;
use std::fmt::Write;

use crate::{Graph, Op, ValueId};

/// Words the language reserves; a value with such a name gets a suffix.
pub const KEYWORDS: [&str; 10] = ["dim", "graph", "param", "for", "in", "return", "true", "false", "inf", "nan"];

/// Prints `graph` in canonical form.
pub fn print(graph: &Graph) -> String {
    let names = assign_names(graph);
    let name = |id: ValueId| names[id.index()].as_str();
    let mut out = String::new();
    let inputs: Vec<String> = graph
        .inputs
        .iter()
        .map(|&id| format!("{}: {}", name(id), graph.values[id.index()].ty))
        .collect();
    let results: Vec<String> = graph.outputs.iter().map(|&id| graph.values[id.index()].ty.to_string()).collect();
    let results = match results.as_slice() {
        [one] => one.clone(),
        _ => format!("({})", results.join(", ")),
    };
    let graph_name = sanitize(&graph.name);
    let _ = writeln!(out, "graph {graph_name}({}) -> {results} {{", inputs.join(", "));
    for &id in &graph.params {
        let _ = writeln!(out, "    param {}: {}", name(id), graph.values[id.index()].ty);
    }
    for node in &graph.nodes {
        let typed = matches!(node.op, Op::Opaque(_));
        let targets: Vec<String> = node
            .outputs
            .iter()
            .map(|&id| match typed {
                true => format!("{}: {}", name(id), graph.values[id.index()].ty),
                false => name(id).to_string(),
            })
            .collect();
        let args = node
            .inputs
            .iter()
            .map(|&id| name(id).to_string())
            .chain(node.attrs.iter().map(|(key, value)| format!("{key} = {value}")))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(out, "    {} = {}({args})", targets.join(", "), sanitize(node.op.name()));
    }
    let returns: Vec<&str> = graph.outputs.iter().map(|&id| name(id)).collect();
    let _ = writeln!(out, "    return {}", returns.join(", "));
    out.push_str("}\n");
    out
}

/// Gives every value a unique, lexable name: inputs and params first (they
/// keep theirs when it is already valid), then node outputs from their hints.
fn assign_names(graph: &Graph) -> Vec<String> {
    let mut taken: HashSet<String> = HashSet::new();
    let mut names = vec![String::new(); graph.values.len()];
    let leaves = graph.inputs.iter().chain(&graph.params).copied();
    let outputs = graph.nodes.iter().flat_map(|n| n.outputs.iter().copied());
    for id in leaves.chain(outputs) {
        let hint = graph.values[id.index()].name.as_deref().unwrap_or("t");
        let base = sanitize(hint);
        let mut name = base.clone();
        let mut n = 1;
        while !taken.insert(name.clone()) {
            name = format!("{base}_{n}");
            n += 1;
        }
        names[id.index()] = name;
    }
    names
}

/// Turns any string into an identifier of the language: dotted segments of
/// letters, digits and `_`, not starting with a digit, and not a keyword.
fn sanitize(raw: &str) -> String {
    let mut out: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    // Empty or doubled/trailing dots would not lex as one identifier.
    while out.contains("..") {
        out = out.replace("..", "._.");
    }
    if out.ends_with('.') {
        out.push('_');
    }
    if out.starts_with('.') {
        out.insert(0, '_');
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) || KEYWORDS.contains(&out.as_str()) {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DType, TensorType};

    #[test]
    fn sanitize_makes_identifiers() {
        assert_eq!(sanitize("layer.3.wq"), "layer.3.wq");
        assert_eq!(sanitize("/model/Add_output_0"), "_model_Add_output_0");
        assert_eq!(sanitize("a..b."), "a._.b._");
        assert_eq!(sanitize("0x"), "_0x");
        assert_eq!(sanitize("graph"), "_graph");
        assert_eq!(sanitize(""), "_");
    }

    #[test]
    fn prints_opaque_nodes_with_types_and_unique_names() {
        let mut g = Graph::new("g");
        let t = TensorType::new(DType::F32, vec![2]);
        let x = g.add_input("x", t.clone());
        let y = g.add_node(
            Op::Opaque("my_op".into()),
            Default::default(),
            vec![x],
            vec![t.clone()],
            vec![Some("x".into())],
            None,
        );
        g.outputs = y;
        assert_eq!(
            print(&g),
            "graph g(x: f32[2]) -> f32[2] {\n    x_1: f32[2] = my_op(x)\n    return x_1\n}\n"
        );
    }
}
