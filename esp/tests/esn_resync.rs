//! RFC 4303 Appendix A3: re-synchronisation of the inferred high-order sequence bits after a
//! loss of 2^32 or more consecutive packets, its bounds, and that forgeries never move it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Instant;

use common::{TRANSFORMS, pair};
use esp::crypto::{CryptoProvider, aws_lc};
use esp::{EsnResync, Event, Mode, OpenError, OutboundSa, SaId, SaTable};

fn crypto() -> CryptoProvider {
    aws_lc::default_provider()
}

fn seal(sa: &mut OutboundSa, now: Instant, payload: &[u8]) -> Vec<u8> {
    let head = sa.header_len();
    let tail = sa.max_trailer_len(payload.len());
    let mut buf = vec![0xEE; head + payload.len() + tail];
    buf[head..head + payload.len()].copy_from_slice(payload);
    let r = sa
        .seal(now, 47, &mut buf, head..head + payload.len())
        .unwrap();
    buf[r].to_vec()
}

/// An inbound ESN (or not) SA in a table with `cfg`, and its outbound peer.
fn setup(t: esp::Transform, esn: bool, cfg: EsnResync) -> (SaTable, SaId, OutboundSa, Instant) {
    let now = Instant::now();
    let c = crypto();
    let (po, pi) = pair(t, Mode::Transport, esn, false);
    let mut table = SaTable::new();
    table.set_esn_resync(cfg).unwrap();
    let id = table.insert_inbound(now, &pi, &c).unwrap();
    (table, id, OutboundSa::new(now, &po, &c).unwrap(), now)
}

/// Opens a copy of `pkt`; returns the sequence number or the error.
fn open(table: &mut SaTable, now: Instant, pkt: &[u8]) -> Result<u64, OpenError> {
    let mut p = pkt.to_vec();
    table.open(now, &mut p).map(|(_, o)| o.seq)
}

fn events(table: &mut SaTable) -> Vec<Event> {
    std::iter::from_fn(|| table.poll_event()).collect()
}

const SMALL: EsnResync = EsnResync {
    enabled: true,
    threshold: 4,
    max_increments: 3,
    trial_interval: 2,
};

#[test]
fn resynchronises_after_losing_more_than_2_32_packets() {
    for &(name, t) in TRANSFORMS {
        for lost_spaces in [1u64, 3] {
            let (mut table, id, mut out, now) = setup(t, true, SMALL);
            for i in 1..=10u64 {
                assert_eq!(open(&mut table, now, &seal(&mut out, now, b"warm")), Ok(i));
            }
            // The sender's packets 11 ..= 10 + lost are all lost (more than 2^32 of them).
            let lost = (lost_spaces << 32) + 5_000;
            out.set_last_seq_for_test(10 + lost);
            let first = 11 + lost;
            let pkts: Vec<Vec<u8>> = (0..8).map(|_| seal(&mut out, now, b"after")).collect();
            // Below the threshold every packet fails: the inferred Seqh (0) is wrong.
            for p in &pkts[..3] {
                assert_eq!(
                    open(&mut table, now, p),
                    Err(OpenError::AuthFailed),
                    "{name}"
                );
            }
            let s = table.stats(id).unwrap();
            assert_eq!(
                (s.auth_failed, s.esn_resync_trials, s.esn_resyncs),
                (3, 0, 0)
            );
            assert_eq!(table.inbound(id).unwrap().replay_top(), 10);
            assert_eq!(table.inbound(id).unwrap().icv_fail_streak(), 3);
            assert!(events(&mut table).is_empty());
            // The 4th consecutive failure is retried with Seqh + 1 ..= + lost_spaces.
            assert_eq!(open(&mut table, now, &pkts[3]), Ok(first + 3), "{name}");
            let s = table.stats(id).unwrap();
            assert_eq!(
                (s.esn_resync_trials, s.esn_resyncs),
                (lost_spaces, 1),
                "{name}"
            );
            assert_eq!(s.auth_failed, 3);
            let sa = table.inbound(id).unwrap();
            assert_eq!((sa.replay_top(), sa.icv_fail_streak()), (first + 3, 0));
            assert_eq!(
                events(&mut table),
                [Event::EsnResynchronized {
                    sa: id,
                    spi: sa_spi(),
                    seq: first + 3
                }]
            );
            // Normal inference from here on, no more trials; the window is consistent: the
            // packets that failed before are inside it and genuine, so they open once.
            for (i, p) in pkts.iter().enumerate().skip(4) {
                assert_eq!(open(&mut table, now, p), Ok(first + i as u64));
            }
            for (i, p) in pkts.iter().enumerate().take(3) {
                assert_eq!(open(&mut table, now, p), Ok(first + i as u64));
                assert_eq!(
                    open(&mut table, now, p),
                    Err(OpenError::Replay {
                        seq: first + i as u64
                    })
                );
            }
            let s = table.stats(id).unwrap();
            assert_eq!((s.esn_resync_trials, s.esn_resyncs), (lost_spaces, 1));
            assert_eq!(s.packets, 10 + 8);
        }
    }
}

fn sa_spi() -> esp::Spi {
    esp::Spi(0x1001)
}

#[test]
fn loss_beyond_the_bound_is_not_recovered_and_trials_are_bounded() {
    // Seqh is 4 too low but only 3 increments are tried: every packet fails, and trials happen
    // only on failures 4, 6, 8, ... with at most 3 ICV computations each.
    for t in [TRANSFORMS[0].1, TRANSFORMS[3].1] {
        let (mut table, id, mut out, now) = setup(t, true, SMALL);
        assert_eq!(open(&mut table, now, &seal(&mut out, now, b"warm")), Ok(1));
        out.set_last_seq_for_test((4 << 32) + 100);
        for _ in 0..20 {
            let p = seal(&mut out, now, b"x");
            assert_eq!(open(&mut table, now, &p), Err(OpenError::AuthFailed));
        }
        let s = table.stats(id).unwrap();
        // Trial packets: failures 4, 6, ..., 20 = 9 packets, 3 trials each.
        assert_eq!(
            (s.auth_failed, s.esn_resync_trials, s.esn_resyncs),
            (20, 27, 0)
        );
        assert_eq!(table.inbound(id).unwrap().replay_top(), 1);
        assert!(events(&mut table).is_empty());
    }
}

/// Packets with the SA's SPI that do not authenticate: random bodies and tampered genuine
/// packets sealed under every higher Seqh the receiver would try.
fn forgeries(out: &mut OutboundSa, now: Instant, n: usize) -> Vec<Vec<u8>> {
    let base = out.last_seq();
    let forged = (0..n)
        .map(|i| {
            let mut p = if i % 2 == 0 {
                out.set_last_seq_for_test(((i as u64 % 9) << 32) + 1000 + i as u64);
                seal(out, now, &[i as u8; 40])
            } else {
                // 104 bytes: a whole number of blocks for every transform.
                let mut p: Vec<u8> = (0..104).map(|j| (i * 31 + j * 7) as u8).collect();
                p[..4].copy_from_slice(&0x1001u32.to_be_bytes());
                p[4..8].copy_from_slice(&(1000 + i as u32).to_be_bytes());
                p
            };
            let len = p.len();
            p[len - 1 - i % 20] ^= 1 << (i % 8);
            p
        })
        .collect();
    out.set_last_seq_for_test(base);
    forged
}

#[test]
fn forgeries_never_move_the_receiver() {
    for t in [TRANSFORMS[0].1, TRANSFORMS[2].1, TRANSFORMS[3].1] {
        // Worst case for the receiver: every failure is a trial.
        let eager = EsnResync {
            threshold: 1,
            trial_interval: 1,
            max_increments: 8,
            enabled: true,
        };
        let (mut table, id, mut out, now) = setup(t, true, eager);
        for i in 1..=5u64 {
            assert_eq!(open(&mut table, now, &seal(&mut out, now, b"ok")), Ok(i));
        }
        let forged = forgeries(&mut out, now, 200);
        assert_eq!(out.last_seq(), 5);
        for p in &forged {
            assert_eq!(open(&mut table, now, p), Err(OpenError::AuthFailed));
        }
        let s = table.stats(id).unwrap();
        assert_eq!((s.auth_failed, s.esn_resyncs), (200, 0));
        assert!(s.esn_resync_trials <= 200 * 8, "{}", s.esn_resync_trials);
        assert!(s.esn_resync_trials > 0);
        assert_eq!(table.inbound(id).unwrap().replay_top(), 5);
        assert!(events(&mut table).is_empty());
        // The genuine stream continues where it was; the streak resets.
        assert_eq!(open(&mut table, now, &seal(&mut out, now, b"ok")), Ok(6));
        assert_eq!(table.inbound(id).unwrap().icv_fail_streak(), 0);
    }
}

#[test]
fn default_bounds_under_a_flood_of_forgeries() {
    // Defaults: first trial at the 32nd consecutive failure, then every 32nd, 8 ICVs each:
    // 1000 forgeries cost 31 trial packets = 248 extra ICV computations (0.25 per packet).
    let d = EsnResync::default();
    assert_eq!(
        (d.threshold, d.trial_interval, d.max_increments),
        (32, 32, 8)
    );
    let (mut table, id, mut out, now) = setup(TRANSFORMS[0].1, true, d);
    assert_eq!(open(&mut table, now, &seal(&mut out, now, b"ok")), Ok(1));
    let mut p = seal(&mut out, now, b"forged");
    p[20] ^= 0x80;
    out.set_last_seq_for_test(1);
    for _ in 0..1000 {
        assert_eq!(open(&mut table, now, &p), Err(OpenError::AuthFailed));
    }
    let s = table.stats(id).unwrap();
    assert_eq!((s.esn_resync_trials, s.esn_resyncs), (248, 0));
    assert_eq!(table.inbound(id).unwrap().replay_top(), 1);
    assert_eq!(open(&mut table, now, &seal(&mut out, now, b"ok")), Ok(2));
}

#[test]
fn non_esn_and_disabled_sas_never_try() {
    let eager = EsnResync {
        threshold: 1,
        trial_interval: 1,
        ..EsnResync::default()
    };
    // Without ESN there are no high-order bits to guess: failures are only counted.
    let (mut table, id, mut out, now) = setup(TRANSFORMS[0].1, false, eager);
    assert_eq!(open(&mut table, now, &seal(&mut out, now, b"ok")), Ok(1));
    let mut p = seal(&mut out, now, b"forged");
    p[20] ^= 1;
    for _ in 0..50 {
        assert_eq!(open(&mut table, now, &p), Err(OpenError::AuthFailed));
    }
    let s = table.stats(id).unwrap();
    assert_eq!(
        (s.auth_failed, s.esn_resync_trials, s.esn_resyncs),
        (50, 0, 0)
    );
    assert_eq!(open(&mut table, now, &seal(&mut out, now, b"ok")), Ok(3));

    // ESN with re-synchronisation disabled: a loss of 2^32 packets is never recovered.
    let (mut table, id, mut out, now) = setup(TRANSFORMS[3].1, true, EsnResync::DISABLED);
    assert_eq!(open(&mut table, now, &seal(&mut out, now, b"ok")), Ok(1));
    out.set_last_seq_for_test((1 << 32) + 7);
    for _ in 0..50 {
        let p = seal(&mut out, now, b"x");
        assert_eq!(open(&mut table, now, &p), Err(OpenError::AuthFailed));
    }
    let s = table.stats(id).unwrap();
    assert_eq!((s.esn_resync_trials, s.esn_resyncs), (0, 0));

    // The table-wide setting reaches installed SAs and rejects bad values.
    table.set_esn_resync(SMALL).unwrap();
    assert_eq!(table.inbound(id).unwrap().esn_resync(), SMALL);
    let bad = EsnResync {
        threshold: 0,
        ..SMALL
    };
    assert!(table.set_esn_resync(bad).is_err());
    assert!(table.inbound_mut(id).unwrap().set_esn_resync(bad).is_err());
    assert_eq!(table.esn_resync(), SMALL);
    // Now enabled: the next failures recover (Seqh + 1).
    let mut seqs = vec![];
    for _ in 0..4 {
        seqs.push(open(&mut table, now, &seal(&mut out, now, b"x")));
    }
    assert_eq!(seqs[3], Ok((1 << 32) + 7 + 50 + 4));
}
