//! The `dmvpnd demo` run: every phase succeeds, the report shows the tables, and the same
//! seed gives the same capture.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::Instant;

use dmvpn_core::Phase;
use dmvpn_core::demo::{DemoOptions, run};

fn demo(options: DemoOptions) -> (dmvpn_core::demo::DemoOutcome, String) {
    let mut out = Vec::new();
    let outcome = run(&options, Instant::now(), &mut out).unwrap();
    (outcome, String::from_utf8(out).unwrap())
}

#[test]
fn phase3_demo_builds_shortcuts_and_prints_show_dmvpn() {
    let (o, text) = demo(DemoOptions {
        spokes: 4,
        ..DemoOptions::default()
    });
    assert!(o.success(), "{text}");
    assert_eq!(o.registered, 4);
    assert_eq!(o.shortcuts, o.expected_shortcuts);
    assert_eq!(o.expected_shortcuts, 4);
    assert!(text.contains("hub# show dmvpn"));
    assert!(text.contains("Type:Hub, NHRP Peers:4,"));
    assert!(
        text.contains("shortcut up: 172.16.2.0/24 direct to 198.51.100.12"),
        "{text}"
    );
    assert!(text.contains("redirect (Traffic Indication)"));
    assert!(text.ends_with("OK\n"));
}

#[test]
fn phase1_stays_on_the_hub_and_phase2_goes_direct() {
    let (o1, _) = demo(DemoOptions {
        phase: Phase::One,
        ..DemoOptions::default()
    });
    assert!(o1.success());
    assert_eq!(o1.expected_shortcuts, 0);
    // 3 rounds x 3 pairs x (request + reply) all hairpin through the hub.
    assert_eq!(o1.hub_hairpinned, 18);
    let (o2, text) = demo(DemoOptions {
        phase: Phase::Two,
        ..DemoOptions::default()
    });
    assert!(o2.success(), "{text}");
    assert_eq!(o2.shortcuts, 3);
    assert!(o2.hub_hairpinned < o1.hub_hairpinned);
}

#[test]
fn same_seed_same_capture() {
    let opts = DemoOptions {
        pcap: true,
        loss: 0.02,
        seed: 9,
        ..DemoOptions::default()
    };
    let (a, _) = demo(opts.clone());
    let (b, _) = demo(opts.clone());
    let (c, _) = demo(DemoOptions { seed: 10, ..opts });
    let (a, b, c) = (a.pcap.unwrap(), b.pcap.unwrap(), c.pcap.unwrap());
    assert!(a.len() > 1000);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn bad_options_are_refused() {
    let mut out = Vec::new();
    assert!(
        run(
            &DemoOptions {
                spokes: 0,
                ..DemoOptions::default()
            },
            Instant::now(),
            &mut out
        )
        .is_err()
    );
    assert!(
        run(
            &DemoOptions {
                loss: 1.5,
                ..DemoOptions::default()
            },
            Instant::now(),
            &mut out
        )
        .is_err()
    );
}
