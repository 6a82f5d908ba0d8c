//! Buffer planning: when each value's buffer may be handed to a later
//! value. A value dies after the last stage that reads it (graph outputs
//! never die); its memory then goes back to a pool that later stages
//! allocate from, best fit first.

use std::collections::HashMap;

use opfuse_ir::{Graph, ValueId};

use crate::lower::Stage;

/// The values whose buffers may be released after each stage.
pub fn last_uses(graph: &Graph, stages: &[Stage]) -> Vec<Vec<ValueId>> {
    let mut last: HashMap<ValueId, usize> = HashMap::new();
    for (index, stage) in stages.iter().enumerate() {
        for value in stage.reads(graph).into_iter().chain(stage.writes(graph)) {
            last.insert(value, index);
        }
    }
    for output in &graph.outputs {
        last.remove(output);
    }
    let mut released = vec![Vec::new(); stages.len()];
    for (value, index) in last {
        if let Some(list) = released.get_mut(index) {
            list.push(value);
        }
    }
    released
}

/// Reusable f32 buffers with the bytes held at the high-water mark.
#[derive(Default)]
pub struct Pool {
    free: Vec<Vec<f32>>,
    held_bytes: usize,
    pub peak_bytes: usize,
}

impl Pool {
    /// A buffer of `len` elements, from the smallest free one that is large
    /// enough (holding stale values: every stage writes all of its output),
    /// else newly allocated and zeroed.
    pub fn take(&mut self, len: usize) -> Vec<f32> {
        let best = self
            .free
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= len)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        match best {
            Some(index) => {
                let mut buffer = self.free.swap_remove(index);
                buffer.resize(len, 0.0);
                buffer.truncate(len);
                buffer
            }
            None => {
                self.held_bytes += len * 4;
                self.peak_bytes = self.peak_bytes.max(self.held_bytes);
                vec![0.0; len]
            }
        }
    }

    pub fn give(&mut self, buffer: Vec<f32>) {
        self.free.push(buffer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freed_buffer_is_reused_and_the_peak_stays() {
        let mut pool = Pool::default();
        let a = pool.take(100);
        pool.give(a);
        let b = pool.take(60);
        assert_eq!(b.len(), 60);
        assert_eq!(pool.peak_bytes, 400);
        let c = pool.take(200);
        assert_eq!(pool.peak_bytes, 1200);
        assert_eq!(c.len(), 200);
    }
}
