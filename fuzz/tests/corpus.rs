//! Every input of the corpus kept in the repository (`fuzz/corpus/<target>/`), seeds and former
//! crashes alike, runs through its target without a panic: the regression half of the fuzzing
//! (the mutation half is `friction-fuzz run`, a phase of scripts/test.sh).

use friction_fuzz::targets::avro::message;
use friction_fuzz::{corpus, TARGETS};
use friction_schemas::registry::Registry;

#[test]
fn every_corpus_input_passes_its_target() {
    let root = corpus::default_root();
    let mut failures = Vec::new();
    let mut total = 0;
    for target in TARGETS {
        let inputs = corpus::load(&root, target.name).expect("corpus readable");
        assert!(!inputs.is_empty(), "{} has no corpus: run `friction-fuzz seed` or add seeds", target.name);
        for (name, input) in inputs {
            total += 1;
            if let Err(panic) = std::panic::catch_unwind(|| (target.run)(&input)) {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{}/{name}: {message}", target.name));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {total} corpus inputs panic:\n{}", failures.len(), failures.join("\n"));
}

/// Compared as Avro values: a map's entries may be written in any order.
#[test]
fn the_generated_avro_seeds_are_in_the_corpus() {
    let root = corpus::default_root();
    let read = |family: &str, data: &[u8]| {
        let (version, _, message) = message(family, data);
        let writer = Registry::get().family(family).into_iter().find(|v| v.version == version).expect("version");
        writer.reader.read_value(&mut &message[..]).map_err(|e| e.to_string())
    };
    for (target, name, bytes) in friction_fuzz::seeds::avro() {
        let path = root.join(target).join(format!("seed-{name}"));
        let on_disk = std::fs::read(&path).unwrap_or_default();
        let family = target.trim_start_matches("avro_");
        let generated = read(family, &bytes).expect("a generated seed reads");
        assert_eq!(
            read(family, &on_disk).ok(),
            Some(generated),
            "{} is stale or missing: run `cargo run -p friction-fuzz -- seed`",
            path.display()
        );
    }
}
