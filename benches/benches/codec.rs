//! Avro decoding of sessionized events (what every stage after the sessionizer does first):
//! `friction_schemas::decode` against the same bytes decoded by apache-avro with the schema
//! resolved per message (what `decode` did before it used the pre-resolved reader), in one run.
//!
//! `cargo bench -p friction-benches --bench codec` (env: CODEC_EVENTS, default 200000).

use std::hint::black_box;
use std::time::Instant;

use friction_schemas::registry::Registry;
use friction_schemas::sessionized::Sessionized;
use friction_schemas::{decode, encode_to_vec};

fn main() {
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
        black_box(decode::<Sessionized<'static>>(p).expect("decode"));
    }
    let ours = payloads.len() as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    for r in &stream.records {
        black_box(encode_to_vec(r).expect("encode"));
    }
    let encode = payloads.len() as f64 / started.elapsed().as_secs_f64();

    println!("| path | events/s (one core) |");
    println!("|---|---:|");
    println!("| baseline: apache-avro, schema resolved per message, then from_value | {baseline:.0} |");
    println!("| friction_schemas::decode (pre-resolved reader, then from_value) | {ours:.0} |");
    println!("| friction_schemas::encode_to_vec | {encode:.0} |");
    println!("decode / baseline = {:.2}x", ours / baseline);
}
