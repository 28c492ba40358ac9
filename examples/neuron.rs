//! The lecture's single neuron: `firing_rate = σ(Σ inputs·weights + bias)`.
//!
//! Run: `cargo run --release --example neuron`

use microprop::nn::Neuron;

fn main() -> Result<(), microprop::Error> {
    // The lecture's sigmoid circuit: w0 = 2, w1 = −3, w2 (bias) = −3, x0 = −1, x1 = −2.
    let neuron = Neuron {
        weights: &[2.0, -3.0],
        bias: -3.0,
    };
    let inputs = [-1.0, -2.0];
    let sum = neuron.cell_body_sum(&inputs)?;
    let rate = neuron.tick(&inputs)?;
    println!("cell_body_sum = {sum}");
    println!("firing_rate   = {rate:.6}");
    let mut dw = [0.0f32; 2];
    let db = neuron.backward(&inputs, 1.0, &mut dw)?;
    println!(
        "d rate / d weights = [{:.6}, {:.6}], d rate / d bias = {db:.6}",
        dw[0], dw[1]
    );
    Ok(())
}
