//! Avro decoding of sessionized events (what every stage after the sessionizer does first):
//! `friction_schemas::decode` (for `sessionized` v1 read by hand, `sessionized.rs`) against the
//! schema-tree decoder (`decode_direct`: straight from the datum into the Rust types through serde, what
//! `decode` did before) and the same bytes decoded through apache-avro's `Value` tree, with the
//! writer schema's names resolved per message (the baseline: what `decode` did first) and once per
//! process (`decode_via_value`), in one run.
//!
//! `cargo bench -p friction-benches --bench codec` (env: CODEC_EVENTS, default 200000).

use std::hint::black_box;
use std::time::Instant;

use friction_schemas::registry::Registry;
use friction_schemas::sessionized::Sessionized;
use friction_schemas::{decode, decode_direct, decode_via_value, encode_to_vec};

fn main() {
    // Benches measure the binaries' allocator settings (see friction_runtime::allocator).
    friction_runtime::allocator::tune();
    let n: usize = std::env::var("CODEC_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let stream = friction_benches::stream::interleaved(n, 2_000, 20261202);
    let payloads: Vec<Vec<u8>> = stream.records.iter().map(|r| encode_to_vec(r).expect("encode")).collect();
    let bytes: usize = payloads.iter().map(Vec::len).sum();
    println!(
        "{} sessionized events, {:.0} bytes each on average",
        payloads.len(),
        bytes as f64 / payloads.len() as f64
    );

    let schema = &Registry::get().latest("sessionized").expect("schema").schema;
    let started = Instant::now();
    for p in &payloads {
        let mut datum = &p[10..];
        let value = apache_avro::from_avro_datum(schema, &mut datum, None).expect("decode");
        black_box(apache_avro::from_value::<Sessionized<'static>>(&value).expect("value"));
    }
    let baseline = payloads.len() as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    for p in &payloads {
        black_box(decode_via_value::<Sessionized<'static>>(p).expect("decode"));
    }
    let via_value = payloads.len() as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    for p in &payloads {
        black_box(decode_direct::<Sessionized<'static>>(p).expect("decode"));
    }
    let tree = payloads.len() as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    for p in &payloads {
        black_box(decode::<Sessionized<'static>>(p).expect("decode"));
    }
    let ours = payloads.len() as f64 / started.elapsed().as_secs_f64();

    // The direct path gives back what was encoded (the schemas tests also compare it with the
    // `Value` path on generated records of every family).
    for (p, r) in payloads.iter().zip(&stream.records) {
        assert_eq!(&decode::<Sessionized<'static>>(p).expect("decode"), r);
    }

    let started = Instant::now();
    for r in &stream.records {
        black_box(encode_to_vec(r).expect("encode"));
    }
    let encode = payloads.len() as f64 / started.elapsed().as_secs_f64();

    println!("| path | events/s (one core) |");
    println!("|---|---:|");
    println!("| baseline: apache-avro, schema resolved per message, then from_value | {baseline:.0} |");
    println!("| friction_schemas::decode_via_value (pre-resolved reader, then from_value) | {via_value:.0} |");
    println!("| friction_schemas::decode_direct (the schema tree: datum straight into the Rust types via serde) | {tree:.0} |");
    println!("| friction_schemas::decode (for `sessionized` v1: read by hand, sessionized.rs) | {ours:.0} |");
    println!("| friction_schemas::encode_to_vec | {encode:.0} |");
    println!(
        "decode / baseline = {:.2}x, decode / decode_via_value = {:.2}x, decode / decode_direct = {:.2}x",
        ours / baseline,
        ours / via_value,
        ours / tree
    );
}
