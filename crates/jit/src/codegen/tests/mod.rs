//! Kernels against the reference evaluator (`../reference.rs`).

mod elementwise;
mod errors;
mod rows;
mod speed;

use super::reference::SENTINEL;
use super::{Jit, Kernel};

/// Runs `kernel` over `start..end` on copies of `buffers` whose output
/// buffer is filled with `SENTINEL`; returns the output buffer.
fn run(kernel: &Kernel, buffers: &[Vec<f32>], output: usize, out_len: usize, start: usize, end: usize) -> Vec<f32> {
    let mut owned: Vec<Vec<f32>> = buffers.to_vec();
    if owned.len() <= output {
        owned.resize(output + 1, Vec::new());
    }
    owned[output] = vec![SENTINEL; out_len];
    let mut slices: Vec<&mut [f32]> = owned.iter_mut().map(|b| b.as_mut_slice()).collect();
    kernel.run(&mut slices, start, end).expect("run");
    owned.swap_remove(output)
}

fn jit() -> Jit {
    Jit::new().expect("jit")
}

/// A `Jit` can move to another thread (e.g. a compile worker).
#[test]
fn jit_is_send() {
    fn send<T: Send>(_: &T) {}
    send(&jit());
}
