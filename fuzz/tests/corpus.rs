//! Every input of the corpus kept in the repository (`fuzz/corpus/<target>/`), seeds and former
//! crashes alike, runs through its target without a panic: the regression half of the fuzzing
//! (the mutation half is `friction-fuzz run`, a phase of scripts/test.sh).

use friction_fuzz::{corpus, TARGETS};

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

#[test]
fn the_generated_avro_seeds_are_in_the_corpus() {
    let root = corpus::default_root();
    for (target, name, bytes) in friction_fuzz::seeds::avro() {
        let path = root.join(target).join(format!("seed-{name}"));
        let on_disk = std::fs::read(&path).unwrap_or_default();
        assert_eq!(on_disk, bytes, "{} is stale or missing: run `cargo run -p friction-fuzz -- seed`", path.display());
    }
}
