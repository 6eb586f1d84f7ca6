//! Detector quality: precision and recall per signal kind on a labelled synthetic corpus, for our
//! rules (friction-rules defaults) and, in the same run on the same sessions, re-implementations of
//! the anchors' published rules (PostHog, Datadog, Sentry, OpenReplay; see `src/anchors.rs`).
//! Target (issue 4, docs/detection.md "Validation: the labelled corpus"): ≥ 90 % precision on the issue-worthy tiers (unresponsive
//! rage, dead, error click) with recall no more than 10 points below the most sensitive anchor.
//!
//! `cargo bench -p friction-benches --bench detector_quality`
//! (env: QUALITY_SESSIONS, default 6000; QUALITY_SEED, default 20261122).

use std::time::Instant;

use friction_benches::anchors;
use friction_benches::corpus::{self, Class, Kind, FOLLOW_DEAD, FOLLOW_NORMAL};
use friction_benches::quality::{self, Detector};
use friction_rules::Rules;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    // Benches measure the binaries' allocator settings (see friction_runtime::allocator).
    friction_runtime::allocator::tune();
    let n = env_num("QUALITY_SESSIONS", 6000) as usize;
    let seed = env_num("QUALITY_SEED", 20_261_122);
    let started = Instant::now();
    let sessions = corpus::generate(n, seed);
    let events: usize = sessions.iter().map(|s| s.events.len()).sum();
    println!("corpus: {n} sessions, {events} events, seed {seed} (generated in {:.1?})", started.elapsed());

    let rules = Rules::default();
    let all = Kind::ALL.to_vec();
    let clicks = vec![Kind::Rage, Kind::RageAny, Kind::Dead];
    let detectors = vec![
        Detector { name: "ours", kinds: all, run: Box::new(|s| quality::ours(s, &rules)) },
        Detector { name: "PostHog", kinds: clicks.clone(), run: Box::new(|s| anchors::posthog(&s.events)) },
        Detector {
            name: "Datadog",
            kinds: vec![Kind::Rage, Kind::RageAny, Kind::Dead, Kind::Error],
            run: Box::new(|s| anchors::datadog(&s.events)),
        },
        Detector { name: "Sentry", kinds: clicks.clone(), run: Box::new(|s| anchors::sentry(&s.events)) },
        Detector { name: "OpenReplay", kinds: clicks, run: Box::new(|s| anchors::openreplay(&s.events)) },
    ];
    let t = Instant::now();
    let report = quality::evaluate(&sessions, &detectors);
    println!("evaluated {} detectors in {:.1?}\n", detectors.len(), t.elapsed());

    println!("### Precision and recall (P %, R %) per signal kind\n");
    println!("{}", report.table());
    println!("### Counts (TP/FP/FN)\n");
    println!("{}", report.counts());
    println!("### Target (issue-worthy tiers)\n");
    println!("{}", report.verdict("ours"));
    println!("### Where the false alarms (FP) and misses (FN) come from, per scenario class\n");
    println!("(rage = issue-worthy tier; only classes with at least one FP/FN shown)\n");
    println!("{}", report.class_table());

    println!("### Our suppressions (candidates removed, by reason and kind)\n");
    println!("| reason | kind | count |\n|---|---|---:|");
    for ((reason, kind), count) in quality::suppression_histogram(&sessions, &rules) {
        println!("| {} | {} | {count} |", reason.as_str(), kind.as_str());
    }

    println!("\n### Corpus\n");
    let total_w: u32 = Class::SCENARIOS.iter().map(|c| c.weight()).sum();
    println!("| class | weight | instances | scenario |\n|---|---:|---:|---|");
    for c in Class::SCENARIOS {
        let got = report.class_counts.get(&c).copied().unwrap_or(0);
        println!(
            "| {}{} | {:.1} % | {got} | {} |",
            c.name(),
            if c.frustration() { " ✱" } else { "" },
            100.0 * f64::from(c.weight()) / f64::from(total_w),
            c.describe()
        );
    }
    println!(
        "\n✱ real frustration. Follow-ups after dead-like scenarios (idle/retry/other click/navigate %): {FOLLOW_DEAD:?}; after others: {FOLLOW_NORMAL:?}."
    );
    println!("total time {:.1?}", started.elapsed());

    // QUALITY_EXPLAIN=<class name>|any [QUALITY_DETECTOR=ours|PostHog|...] [QUALITY_KIND=dead|...]:
    // dump a few sessions of that class where the detector has a false alarm or a miss.
    if let Ok(class) = std::env::var("QUALITY_EXPLAIN") {
        let who = std::env::var("QUALITY_DETECTOR").unwrap_or_else(|_| "ours".into());
        let Some(d) = detectors.iter().find(|d| d.name == who) else { return };
        let only = std::env::var("QUALITY_KIND").ok();
        let kind_ok = |k: &Kind| only.as_deref().is_none_or(|o| format!("{k:?}").eq_ignore_ascii_case(o));
        let mut shown = 0;
        for s in sessions.iter().filter(|s| class == "any" || s.classes.iter().any(|c| c.name() == class)) {
            let preds = (d.run)(s);
            let p: std::collections::BTreeSet<(Kind, String)> =
                preds.iter().filter(|p| d.kinds.contains(&p.kind)).map(|p| (p.kind, p.key.clone())).collect();
            let t: std::collections::BTreeSet<(Kind, String)> =
                s.truth.iter().filter(|l| d.kinds.contains(&l.kind)).map(|l| (l.kind, l.key.clone())).collect();
            let dc: std::collections::BTreeSet<(Kind, String)> =
                s.dont_care.iter().map(|l| (l.kind, l.key.clone())).collect();
            let wrong = p.iter().any(|x| kind_ok(&x.0) && !t.contains(x) && !dc.contains(x))
                || t.iter().any(|x| kind_ok(&x.0) && !p.contains(x));
            if wrong {
                println!("\n{}", quality::explain(s, &preds));
                shown += 1;
                if shown == 3 {
                    break;
                }
            }
        }
    }
}
