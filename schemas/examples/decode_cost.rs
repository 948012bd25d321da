//! What decoding costs per record, on a fixed set of encoded events: the
//! projector's hot path (`EventCodec::decode`), for records written with the
//! current schema and with the oldest released one.
//!
//!     cargo run --release -p missive-schemas --example decode_cost
//!     valgrind --tool=callgrind target/release/examples/decode_cost 2000
//!
//! The optional argument is the number of passes over the 50 records (the
//! default, 2,000, is 100,000 decodes). Figures are for comparing two builds
//! on one machine (callgrind's instruction counts are exact), not a bench.

use std::time::Instant;

use missive_schemas::{samples, EventCodec};

fn main() {
    let passes: usize = std::env::args()
        .nth(1)
        .map_or(2_000, |a| a.parse().expect("passes"));
    let codec = EventCodec::get();
    // 50 current-schema records: text messages and one of every element type.
    let current: Vec<Vec<u8>> = (0..50)
        .map(|i| {
            codec.encode(&if i % 5 == 0 {
                samples::every_element()
            } else {
                samples::text_message()
            })
        })
        .collect();
    let mut fields = 0usize;
    let started = Instant::now();
    for _ in 0..passes {
        for r in &current {
            let env = codec.decode(r).expect("decodes");
            fields += env.event_id.as_bytes()[0] as usize;
        }
    }
    let n = passes * current.len();
    println!(
        "{n} decodes of current-schema records: {:.0} ns each ({fields})",
        started.elapsed().as_nanos() as f64 / n as f64
    );
}
