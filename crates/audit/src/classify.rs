//! Where each op instance runs on the target, and the catalog fact behind
//! it: the unit the chip's entry names (with its source), or `unknown` for
//! an op the catalog does not have.

use std::collections::BTreeMap;

use opfuse_ir::{Node, Op};
use opfuse_ops::catalog::Source;
use opfuse_ops::{AscendUnit, Catalog, Chip};

use crate::report::{Fact, Status};

/// The status of `node` on `chip` and why. `opaque_reason` is what the
/// front end said about an opaque node (an ONNX import note), if anything.
pub fn classify(
    node: &Node,
    catalog: &Catalog,
    sources: &BTreeMap<String, Source>,
    chip: Chip,
    opaque_reason: Option<&str>,
) -> (Status, Fact) {
    let name = node.op.name();
    let entry = match &node.op {
        Op::Known(_) => catalog.entry(name),
        Op::Opaque(_) => None,
    };
    let Some(entry) = entry else {
        let text = match opaque_reason {
            Some(reason) => format!("the catalog has no `{name}`; the import kept it opaque: {reason}"),
            None => format!("the catalog has no `{name}`: an opaque op, typed by the source, that no rule sees inside"),
        };
        return (
            Status::Unknown,
            Fact {
                text,
                source: String::new(),
                source_title: None,
            },
        );
    };
    let Some(support) = entry.ascend.get(&chip) else {
        let fact = Fact {
            text: format!("the catalog gives `{name}` no status on {}", chip.name()),
            source: String::new(),
            source_title: None,
        };
        return (Status::Unsupported, fact);
    };
    let status = match support.unit {
        AscendUnit::Cube => Status::Cube,
        AscendUnit::Vector => Status::Vector,
        AscendUnit::AiCpu => Status::AiCpu,
        AscendUnit::Unsupported => Status::Unsupported,
    };
    let what = match support.unit {
        AscendUnit::Cube => "runs natively on the Cube unit",
        AscendUnit::Vector => "runs natively on the Vector unit",
        AscendUnit::AiCpu => "falls back to the AI CPU",
        AscendUnit::Unsupported => "is not supported",
    };
    let fact = Fact {
        text: format!("`{name}` {what} on {} (catalog, {})", chip.name(), entry.file),
        source: support.source.clone(),
        source_title: sources.get(&support.source).map(|s| format!("[{}] {}", s.mark, s.title)),
    };
    (status, fact)
}

#[cfg(test)]
mod tests {
    use opfuse_ir::Attrs;

    use super::*;

    fn node(op: Op) -> Node {
        Node {
            op,
            attrs: Attrs::new(),
            inputs: vec![],
            outputs: vec![],
            span: None,
        }
    }

    #[test]
    fn statuses_follow_the_catalog_and_cite_its_source() {
        let catalog = Catalog::builtin().expect("catalog");
        let sources = opfuse_ops::catalog::builtin_sources().expect("sources");
        let (status, fact) = classify(&node(Op::Known("matmul".into())), &catalog, &sources, Chip::Ascend910B, None);
        assert_eq!(status, Status::Cube);
        assert!(!fact.source.is_empty());
        let (status, fact) = classify(
            &node(Op::Known("gather_elements".into())),
            &catalog,
            &sources,
            Chip::Ascend910B,
            None,
        );
        assert_eq!(status, Status::AiCpu, "{fact:?}");
        assert!(fact.text.contains("AI CPU"));
        let (status, fact) = classify(&node(Op::Known("gelu".into())), &catalog, &sources, Chip::Ascend910B, None);
        assert_eq!(status, Status::Unsupported, "{fact:?}");
        assert!(fact.source_title.is_some_and(|t| t.starts_with("[O] ")), "the mark in brackets");
        let (status, fact) = classify(
            &node(Op::Opaque("my_op".into())),
            &catalog,
            &sources,
            Chip::Ascend910B,
            Some("domain `x`"),
        );
        assert_eq!(status, Status::Unknown);
        assert!(fact.text.contains("domain `x`"));
    }
}
