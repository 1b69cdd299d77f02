//! Emitting replacement nodes into a rewritten graph with fresh, collision-free names.

use tract_onnx::pb;

/// Collects the nodes of a rewritten graph; names it invents start with `switchyard/`.
pub(crate) struct Builder {
    pub nodes: Vec<pb::NodeProto>,
    counter: usize,
}

impl Builder {
    pub(crate) fn new() -> Builder {
        Builder { nodes: Vec::new(), counter: 0 }
    }

    pub(crate) fn fresh(&mut self, hint: &str) -> String {
        self.counter += 1;
        format!("switchyard/{}/{hint}", self.counter)
    }

    pub(crate) fn node(&mut self, op: &str, inputs: &[&str], outputs: &[&str], attribute: Vec<pb::AttributeProto>) {
        self.nodes.push(pb::NodeProto {
            name: outputs.first().map(|o| format!("{o}/{op}")).unwrap_or_default(),
            op_type: op.into(),
            input: inputs.iter().map(|s| (*s).to_owned()).collect(),
            output: outputs.iter().map(|s| (*s).to_owned()).collect(),
            attribute,
            ..Default::default()
        });
    }
}

pub(crate) fn int_attr(name: &str, i: i64) -> pb::AttributeProto {
    pb::AttributeProto { name: name.into(), r#type: 2, i, ..Default::default() }
}
