//! Ladder tests of resolution (NHC request, coalescing, caching, NAK, back-off; NHS answer,
//! forward, NAK, loop and hop-count detection; NHC answering forwarded requests), phase 3
//! (Traffic Indication -> shortcut, refresh, expiry) and purge.

use std::time::Duration;

use super::util::*;
use crate::event::ResolutionError;
use crate::msg::{Cie, Message, Op, flags};
use crate::wire::{CieCode, ErrorCode};
use crate::{DownReason, DropReason, Event};

/// A spoke registered with the hub.
fn registered_spoke(proto: &str, nbma: &str) -> Lab {
    let mut lab = Lab::new(spoke_config(proto, nbma));
    let req = lab.sent().remove(0).1;
    lab.deliver(HUB_NBMA, &registration_reply(&req, 0)).unwrap();
    lab.events();
    lab
}

/// A hub with spokes .2 and .3 registered.
fn hub_with_spokes() -> Lab {
    let mut lab = Lab::new(hub_config());
    lab.deliver(S2_NBMA, &registration_request(S2, S2_NBMA, 1, 7200, true))
        .unwrap();
    lab.deliver(S3_NBMA, &registration_request(S3, S3_NBMA, 1, 7200, true))
        .unwrap();
    lab.sent();
    lab.events();
    lab
}

#[test]
fn resolve_sends_one_request_coalesces_and_caches_the_answer() {
    let mut lab = registered_spoke(S2, S2_NBMA);
    lab.node.resolve(lab.now, ip(S3)).unwrap();
    lab.node.resolve(lab.now, ip(S3)).unwrap();
    let sent = lab.sent();
    assert_eq!(sent.len(), 1, "concurrent requests are coalesced");
    assert_eq!(lab.node.stats().resolutions_coalesced, 1);
    let (to, req) = &sent[0];
    assert_eq!(*to, ip(HUB_NBMA));
    assert_eq!(req.op, Op::ResolutionRequest);
    assert_eq!(req.flags, flags::Q | flags::A | flags::S | flags::CISCO_NAT);
    assert_eq!((req.src_proto, req.dst_proto), (ip(S2), ip(S3)));
    // Spoke .3 answers directly (Cisco phase 2).
    lab.advance(Duration::from_millis(40));
    lab.deliver(S3_NBMA, &resolution_reply(req, S3, S3_NBMA, 32, 7200))
        .unwrap();
    let ev = lab.events();
    assert!(
        matches!(&ev[..], [Event::Resolved { target, nbma, protocol, .. }]
        if *target == ip(S3) && *nbma == ip(S3_NBMA) && *protocol == Some(ip(S3)))
    );
    let c = lab.node.lookup(ip(S3)).unwrap();
    assert_eq!(c.nbma, Some(ip(S3_NBMA)));
    assert_eq!(c.prefix, "172.16.123.3/32".parse().unwrap());
    assert!(!c.shortcut);
    // Answered from the cache now: no packet.
    lab.node.resolve(lab.now, ip(S3)).unwrap();
    assert!(lab.sent().is_empty());
    assert!(matches!(lab.events()[..], [Event::Resolved { .. }]));
    // Expires with its holding time.
    lab.advance(secs(7200));
    let ev: Vec<_> = lab
        .events()
        .into_iter()
        .filter(|e| !matches!(e, Event::NhsDown { .. }))
        .collect();
    assert_eq!(
        ev,
        vec![Event::EntryExpired {
            prefix: "172.16.123.3/32".parse().unwrap()
        }]
    );
    assert!(lab.node.lookup(ip(S3)).is_none());
}

#[test]
fn reply_prefix_length_is_cached() {
    let mut lab = registered_spoke(S2, S2_NBMA);
    lab.node.resolve(lab.now, ip("3.3.3.3")).unwrap();
    let req = lab.sent().remove(0).1;
    lab.deliver(S3_NBMA, &resolution_reply(&req, S3, S3_NBMA, 24, 600))
        .unwrap();
    let c = lab.node.lookup(ip("3.3.3.77")).unwrap();
    assert_eq!(c.prefix, "3.3.3.0/24".parse().unwrap());
    assert_eq!(c.expires, lab.now + secs(600));
}

#[test]
fn nak_is_cached_briefly() {
    let mut lab = registered_spoke(S2, S2_NBMA);
    lab.node.resolve(lab.now, ip("172.16.123.9")).unwrap();
    let req = lab.sent().remove(0).1;
    let mut nak = resolution_reply(&req, S3, S3_NBMA, 32, 0);
    nak.cies[0].code = 12;
    nak.cies[0].client_nbma = None;
    nak.cies[0].client_proto = None;
    lab.deliver(HUB_NBMA, &nak).unwrap();
    let failed = Event::ResolutionFailed {
        target: ip("172.16.123.9"),
        reason: ResolutionError::Nak(CieCode::NoBindingExists),
    };
    assert_eq!(lab.events(), vec![failed.clone()]);
    lab.advance(secs(9));
    lab.node.resolve(lab.now, ip("172.16.123.9")).unwrap();
    assert!(lab.sent().is_empty(), "negative entry answers");
    assert_eq!(lab.events(), vec![failed]);
    assert_eq!(
        lab.node.lookup(ip("172.16.123.9")).unwrap().negative,
        Some(ResolutionError::Nak(CieCode::NoBindingExists))
    );
    lab.advance(secs(1));
    lab.events();
    lab.node.resolve(lab.now, ip("172.16.123.9")).unwrap();
    assert_eq!(
        lab.sent().len(),
        1,
        "asks again after the negative entry expired"
    );
}

#[test]
fn unanswered_resolution_retries_with_back_off_then_fails() {
    let mut lab = registered_spoke(S2, S2_NBMA);
    let t0 = lab.elapsed();
    lab.node.resolve(lab.now, ip(S3)).unwrap();
    let first = lab.sent().remove(0).1;
    let out = lab.advance(secs(30));
    let res: Vec<_> = out
        .iter()
        .filter(|(_, _, m)| m.op == Op::ResolutionRequest)
        .collect();
    let times: Vec<u64> = res.iter().map(|(t, _, _)| (*t - t0).as_secs()).collect();
    assert_eq!(times, vec![1, 3, 7]);
    assert!(res.iter().all(|(_, _, m)| m.request_id == first.request_id));
    assert_eq!(
        lab.events(),
        vec![Event::ResolutionFailed {
            target: ip(S3),
            reason: ResolutionError::Timeout
        }]
    );
    assert_eq!(lab.node.stats().pending_requests, 0);
}

#[test]
fn resolution_without_an_nhs_up_is_an_api_error() {
    let mut lab = Lab::new(spoke_config(S2, S2_NBMA));
    assert_eq!(
        lab.node.resolve(lab.now, ip(S3)),
        Err(crate::ApiError::NoNhsUp)
    );
    assert_eq!(
        lab.node.resolve(lab.now, ip("2001:db8::1")),
        Err(crate::ApiError::AddressFamily)
    );
}

#[test]
fn pending_requests_are_bounded() {
    let mut cfg = spoke_config(S2, S2_NBMA);
    cfg.max_pending = 2;
    let mut lab = Lab::new(cfg);
    let req = lab.sent().remove(0).1;
    lab.deliver(HUB_NBMA, &registration_reply(&req, 0)).unwrap();
    lab.node.resolve(lab.now, ip("10.0.0.1")).unwrap();
    lab.node.resolve(lab.now, ip("10.0.0.2")).unwrap();
    assert_eq!(
        lab.node.resolve(lab.now, ip("10.0.0.3")),
        Err(crate::ApiError::TooManyPending)
    );
}

#[test]
fn hub_forwards_to_the_owner_with_hop_count_and_transit_record() {
    let mut lab = hub_with_spokes();
    let req = resolution_request(S2, S2_NBMA, S3, 3);
    lab.deliver(S2_NBMA, &req).unwrap();
    let sent = lab.sent();
    assert_eq!(sent.len(), 1);
    let (to, fwd) = &sent[0];
    assert_eq!(*to, ip(S3_NBMA));
    assert_eq!(fwd.op, Op::ResolutionRequest);
    assert_eq!(fwd.request_id, 3);
    assert_eq!(fwd.hop_count, 254);
    assert_eq!((fwd.src_nbma, fwd.src_proto), (Some(ip(S2_NBMA)), ip(S2)));
    let ft = fwd.ext.forward_transit.as_ref().unwrap();
    assert_eq!(ft.len(), 1);
    assert_eq!(
        (ft[0].client_nbma, ft[0].client_proto),
        (Some(ip(HUB_NBMA)), Some(ip(HUB)))
    );
}

#[test]
fn hub_forwards_networks_behind_a_spoke_via_route_hints() {
    let mut lab = hub_with_spokes();
    lab.node.set_route("3.3.3.0/24".parse().unwrap(), ip(S3));
    lab.deliver(S2_NBMA, &resolution_request(S2, S2_NBMA, "3.3.3.3", 5))
        .unwrap();
    assert_eq!(lab.sent()[0].0, ip(S3_NBMA));
}

#[test]
fn hub_naks_unknown_destinations_and_answers_for_itself() {
    let mut lab = hub_with_spokes();
    lab.deliver(
        S2_NBMA,
        &resolution_request(S2, S2_NBMA, "172.16.123.77", 4),
    )
    .unwrap();
    let (to, nak) = lab.sent().remove(0);
    assert_eq!(to, ip(S2_NBMA));
    assert_eq!(nak.op, Op::ResolutionReply);
    assert_eq!(nak.cies[0].code, 12);
    lab.deliver(S2_NBMA, &resolution_request(S2, S2_NBMA, HUB, 5))
        .unwrap();
    let (_, own) = lab.sent().remove(0);
    assert_eq!(own.cies[0].code, 0);
    assert_eq!(own.cies[0].client_nbma, Some(ip(HUB_NBMA)));
}

#[test]
fn hub_detects_loops_and_hop_count_exhaustion() {
    let mut lab = hub_with_spokes();
    let mut looped = resolution_request(S2, S2_NBMA, S3, 6);
    looped.ext.forward_transit = Some(vec![Cie {
        client_nbma: Some(ip(HUB_NBMA)),
        client_proto: Some(ip(HUB)),
        ..Cie::default()
    }]);
    assert_eq!(lab.deliver(S2_NBMA, &looped), Err(DropReason::LoopDetected));
    let (to, err) = lab.sent().remove(0);
    assert_eq!(to, ip(S2_NBMA));
    assert_eq!(err.op, Op::ErrorIndication);
    assert_eq!(
        err.error.map(|e| ErrorCode::from_u16(e.0)),
        Some(ErrorCode::LoopDetected)
    );
    assert_eq!(err.dst_proto, ip(S2));
    assert!(!err.payload.is_empty(), "carries the offending packet");
    let mut tired = resolution_request(S2, S2_NBMA, S3, 7);
    tired.hop_count = 1;
    assert_eq!(
        lab.deliver(S2_NBMA, &tired),
        Err(DropReason::HopCountExceeded)
    );
    let (_, err) = lab.sent().remove(0);
    assert_eq!(
        err.error.map(|e| ErrorCode::from_u16(e.0)),
        Some(ErrorCode::HopCountExceeded)
    );
    let s = lab.node.stats();
    assert_eq!(
        (s.dropped.loop_detected, s.dropped.hop_count_exceeded),
        (1, 1)
    );
}

#[test]
fn error_indication_fails_the_matching_pending_request() {
    let mut lab = registered_spoke(S2, S2_NBMA);
    lab.node.resolve(lab.now, ip(S3)).unwrap();
    let req = lab.sent().remove(0).1;
    let mut err = Message::new(Op::ErrorIndication, ip(HUB_NBMA), ip(HUB), ip(S2));
    err.error = Some((3, 0));
    err.payload = crate::codec::encode(&req).unwrap();
    lab.deliver(HUB_NBMA, &err).unwrap();
    let ev = lab.events();
    assert!(ev.contains(&Event::ResolutionFailed {
        target: ip(S3),
        reason: ResolutionError::ErrorIndication(ErrorCode::LoopDetected)
    }));
}

#[test]
fn spoke_answers_forwarded_requests_directly_with_its_network_prefix() {
    let mut cfg = spoke_config(S3, S3_NBMA);
    cfg.local_networks = vec!["3.3.3.0/24".parse().unwrap()];
    let mut lab = Lab::new(cfg);
    lab.sent();
    let mut fwd = resolution_request(S2, S2_NBMA, "3.3.3.3", 5);
    fwd.hop_count = 254;
    fwd.ext.forward_transit = Some(vec![Cie {
        client_nbma: Some(ip(HUB_NBMA)),
        client_proto: Some(ip(HUB)),
        prefix_len: 32,
        ..Cie::default()
    }]);
    lab.deliver(HUB_NBMA, &fwd).unwrap();
    let (to, reply) = lab.sent().remove(0);
    assert_eq!(to, ip(S2_NBMA), "answered directly, not via the hub");
    assert_eq!(reply.op, Op::ResolutionReply);
    assert_eq!(reply.request_id, 5);
    assert_eq!(reply.flags, 0xf802);
    assert_eq!(reply.dst_proto, ip("3.3.3.3"));
    let c = &reply.cies[0];
    assert_eq!((c.code, c.prefix_len, c.holding_time), (0, 24, 7200));
    assert_eq!(
        (c.client_nbma, c.client_proto),
        (Some(ip(S3_NBMA)), Some(ip(S3)))
    );
    assert_eq!(reply.ext.responder.clone().flatten().as_ref(), Some(c));
    assert_eq!(reply.ext.forward_transit, fwd.ext.forward_transit);
    // For its own tunnel address: a host prefix.
    lab.deliver(HUB_NBMA, &resolution_request(S2, S2_NBMA, S3, 6))
        .unwrap();
    assert_eq!(lab.sent()[0].1.cies[0].prefix_len, 32);
    // Not ours, and a spoke does not forward.
    assert_eq!(
        lab.deliver(HUB_NBMA, &resolution_request(S2, S2_NBMA, "4.4.4.4", 7)),
        Err(DropReason::NotForUs(ip("4.4.4.4")))
    );
}

// ----- phase 3 --------------------------------------------------------------------------

#[test]
fn hub_sends_rate_limited_traffic_indications_for_hairpinned_traffic() {
    let mut lab = hub_with_spokes();
    assert!(
        lab.node
            .note_hairpin(lab.now, ip("2.2.2.2"), ip("3.3.3.3"), ip(S2_NBMA))
            .unwrap()
    );
    assert!(
        !lab.node
            .note_hairpin(lab.now, ip("2.2.2.2"), ip("3.3.3.3"), ip(S2_NBMA))
            .unwrap()
    );
    assert!(
        lab.node
            .note_hairpin(lab.now, ip("2.2.2.2"), ip("3.3.3.4"), ip(S2_NBMA))
            .unwrap()
    );
    let sent = lab.sent();
    assert_eq!(sent.len(), 2);
    let (to, ti) = &sent[0];
    assert_eq!(*to, ip(S2_NBMA));
    assert_eq!(ti.op, Op::TrafficIndication);
    assert_eq!((ti.src_proto, ti.dst_proto), (ip(HUB), ip("2.2.2.2")));
    assert_eq!(
        crate::msg::ip_src_dst(&ti.payload),
        Some((ip("2.2.2.2"), ip("3.3.3.3")))
    );
    assert_eq!(lab.node.stats().redirects_rate_limited, 1);
    lab.advance(secs(1));
    assert!(
        lab.node
            .note_hairpin(lab.now, ip("2.2.2.2"), ip("3.3.3.3"), ip(S2_NBMA))
            .unwrap()
    );
    let ev = lab.events();
    assert!(matches!(ev[0], Event::RedirectSent { .. }));
}

fn traffic_indication(src: &str, dst: &str) -> Message {
    let mut ti = Message::new(Op::TrafficIndication, ip(HUB_NBMA), ip(HUB), ip(src));
    ti.payload = crate::msg::synth_ip_header(ip(src), ip(dst));
    ti.ext.forward_transit = Some(vec![]);
    ti.ext.reverse_transit = Some(vec![]);
    ti
}

#[test]
fn traffic_indication_builds_a_shortcut_that_is_refreshed_while_used() {
    let mut lab = registered_spoke(S2, S2_NBMA);
    lab.deliver(HUB_NBMA, &traffic_indication("2.2.2.2", "3.3.3.3"))
        .unwrap();
    // A second indication for the same destination does not trigger another request.
    lab.deliver(HUB_NBMA, &traffic_indication("2.2.2.2", "3.3.3.3"))
        .unwrap();
    let sent = lab.sent();
    assert_eq!(sent.len(), 1);
    let (to, req) = &sent[0];
    assert_eq!((*to, req.dst_proto), (ip(HUB_NBMA), ip("3.3.3.3")));
    let ev = lab.events();
    assert_eq!(
        ev[0],
        Event::TrafficIndication {
            source: ip("2.2.2.2"),
            destination: ip("3.3.3.3"),
            from: ip(HUB_NBMA)
        }
    );
    lab.deliver(S3_NBMA, &resolution_reply(req, S3, S3_NBMA, 24, 600))
        .unwrap();
    let prefix: ipnet::IpNet = "3.3.3.0/24".parse().unwrap();
    let ev = lab.events();
    assert!(matches!(ev[0], Event::Resolved { .. }));
    assert_eq!(
        ev[1],
        Event::ShortcutUp {
            prefix,
            nbma: ip(S3_NBMA),
            expires: lab.now + secs(600)
        }
    );
    assert_eq!(lab.node.shortcuts().count(), 1);
    // Used: refreshed 120 s before expiry.
    assert!(lab.node.mark_used(lab.now, ip("3.3.3.9")));
    let out = lab.advance(secs(480));
    let refresh: Vec<_> = out
        .iter()
        .filter(|(_, _, m)| m.op == Op::ResolutionRequest)
        .collect();
    assert_eq!(refresh.len(), 1);
    assert_eq!(
        refresh[0].2.dst_proto,
        ip("3.3.3.3"),
        "refresh asks for the original target"
    );
    let t_refresh = lab.now;
    lab.deliver(
        S3_NBMA,
        &resolution_reply(&refresh[0].2, S3, S3_NBMA, 24, 600),
    )
    .unwrap();
    let ev = lab.events();
    assert_eq!(
        ev[1],
        Event::ShortcutUp {
            prefix,
            nbma: ip(S3_NBMA),
            expires: t_refresh + secs(600)
        }
    );
    // Not used any more: expires, no refresh.
    let out = lab.advance(secs(600));
    assert!(out.iter().all(|(_, _, m)| m.op != Op::ResolutionRequest));
    assert_eq!(
        lab.events(),
        vec![Event::ShortcutDown {
            prefix,
            reason: DownReason::Expired
        }]
    );
    assert_eq!(lab.node.shortcuts().count(), 0);
}

#[test]
fn traffic_indications_are_ignored_without_shortcut_and_rate_limited_per_destination() {
    let mut cfg = spoke_config(S2, S2_NBMA);
    cfg.shortcut = false;
    let mut lab = Lab::new(cfg);
    assert_eq!(
        lab.deliver(HUB_NBMA, &traffic_indication("2.2.2.2", "3.3.3.3")),
        Err(DropReason::Disabled)
    );

    let mut lab = registered_spoke(S2, S2_NBMA);
    lab.deliver(HUB_NBMA, &traffic_indication("2.2.2.2", "3.3.3.3"))
        .unwrap();
    let req = lab.sent().remove(0).1;
    let mut nak = resolution_reply(&req, S3, S3_NBMA, 32, 0);
    nak.cies[0].code = 12;
    lab.deliver(HUB_NBMA, &nak).unwrap();
    // Within the trigger interval a new indication does not resolve again.
    lab.deliver(HUB_NBMA, &traffic_indication("2.2.2.2", "3.3.3.3"))
        .unwrap();
    assert!(lab.sent().is_empty());
    assert_eq!(lab.node.stats().triggers_rate_limited, 1);
    lab.advance(secs(1));
    lab.deliver(HUB_NBMA, &traffic_indication("2.2.2.2", "3.3.3.3"))
        .unwrap();
    assert_eq!(lab.sent().len(), 1);
    let mut junk = traffic_indication("2.2.2.2", "3.3.3.3");
    junk.payload = vec![0x45, 0];
    assert_eq!(
        lab.deliver(HUB_NBMA, &junk),
        Err(DropReason::BadTrafficIndication)
    );
}

// ----- purge ----------------------------------------------------------------------------

fn purge_request(
    from_proto: &str,
    from_nbma: &str,
    to: &str,
    target: &str,
    plen: u8,
    no_reply: bool,
) -> Message {
    let mut m = Message::new(Op::PurgeRequest, ip(from_nbma), ip(from_proto), ip(to));
    m.request_id = 99;
    if no_reply {
        m.flags = flags::N;
    }
    m.cies.push(Cie {
        prefix_len: plen,
        client_nbma: Some(ip(from_nbma)),
        client_proto: Some(ip(target)),
        ..Cie::default()
    });
    m
}

#[test]
fn purge_request_removes_the_entry_and_is_answered_unless_n_is_set() {
    let mut lab = registered_spoke(S2, S2_NBMA);
    lab.deliver(HUB_NBMA, &traffic_indication("2.2.2.2", "3.3.3.3"))
        .unwrap();
    let req = lab.sent().remove(0).1;
    lab.deliver(S3_NBMA, &resolution_reply(&req, S3, S3_NBMA, 24, 600))
        .unwrap();
    lab.events();
    lab.deliver(
        S3_NBMA,
        &purge_request(S3, S3_NBMA, S2, "3.3.3.0", 24, false),
    )
    .unwrap();
    let prefix: ipnet::IpNet = "3.3.3.0/24".parse().unwrap();
    assert_eq!(
        lab.events(),
        vec![
            Event::ShortcutDown {
                prefix,
                reason: DownReason::Purged
            },
            Event::Purged {
                prefix,
                from: ip(S3_NBMA)
            }
        ]
    );
    assert!(lab.node.lookup(ip("3.3.3.3")).is_none());
    let (to, reply) = lab.sent().remove(0);
    assert_eq!(
        (to, reply.op, reply.request_id),
        (ip(S3_NBMA), Op::PurgeReply, 99)
    );
    lab.deliver(
        S3_NBMA,
        &purge_request(S3, S3_NBMA, S2, "3.3.3.0", 24, true),
    )
    .unwrap();
    assert!(lab.sent().is_empty(), "N bit: no reply");
}

#[test]
fn a_changed_local_binding_purges_the_requesters_we_answered() {
    let mut cfg = spoke_config(S3, S3_NBMA);
    cfg.local_networks = vec!["3.3.3.0/24".parse().unwrap()];
    let mut lab = Lab::new(cfg);
    lab.sent();
    lab.deliver(HUB_NBMA, &resolution_request(S2, S2_NBMA, "3.3.3.3", 5))
        .unwrap();
    lab.sent();
    assert_eq!(lab.node.purge(lab.now, "3.3.3.0/24".parse().unwrap()), 1);
    let (to, p) = lab.sent().remove(0);
    assert_eq!(to, ip(S2_NBMA));
    assert_eq!(p.op, Op::PurgeRequest);
    assert_eq!(p.request_id, 5);
    assert_eq!(p.dst_proto, ip(S2));
    assert_eq!(
        (p.cies[0].client_proto, p.cies[0].prefix_len),
        (Some(ip("3.3.3.0")), 24)
    );
    assert_eq!(
        lab.node.purge(lab.now, "3.3.3.0/24".parse().unwrap()),
        0,
        "purged once"
    );
}

#[test]
fn hub_removes_a_registration_purged_by_its_owner() {
    let mut lab = hub_with_spokes();
    lab.deliver(S2_NBMA, &purge_request(S2, S2_NBMA, HUB, S2, 32, false))
        .unwrap();
    assert!(lab.node.registration(ip(S2)).is_none());
    assert!(matches!(
        lab.events()[..],
        [Event::SpokeUnregistered {
            reason: DownReason::Purged,
            ..
        }]
    ));
    // Someone else cannot purge .3's registration.
    lab.deliver(
        "192.168.123.66",
        &purge_request("172.16.123.66", "192.168.123.66", HUB, S3, 32, true),
    )
    .unwrap();
    assert!(lab.node.registration(ip(S3)).is_some());
}

#[test]
fn hierarchical_hub_forwards_unknown_destinations_to_its_own_nhs() {
    let mut cfg = hub_config();
    cfg.role = crate::Role::Both;
    cfg.nhs = vec![crate::NhsConfig::new(ip("10.255.0.1"), ip("198.51.100.1"))];
    let mut lab = Lab::new(cfg);
    let up = lab.sent().remove(0).1;
    lab.deliver("198.51.100.1", &registration_reply(&up, 0))
        .unwrap();
    lab.deliver(S2_NBMA, &registration_request(S2, S2_NBMA, 1, 7200, true))
        .unwrap();
    lab.sent();
    lab.deliver(S2_NBMA, &resolution_request(S2, S2_NBMA, "10.9.9.9", 8))
        .unwrap();
    let (to, fwd) = lab.sent().remove(0);
    assert_eq!(to, ip("198.51.100.1"), "forwarded up the hierarchy");
    assert_eq!(fwd.hop_count, 254);
    assert_eq!(
        fwd.ext.forward_transit.unwrap()[0].client_proto,
        Some(ip(HUB))
    );
}

#[test]
fn requests_from_a_spoke_behind_nat_are_answered_at_its_post_nat_address() {
    // Hub: .2 registers from behind a NAT (claims 10.0.0.2, seen as 203.0.113.5).
    let mut hub = Lab::new(hub_config());
    hub.deliver(S3_NBMA, &registration_request(S3, S3_NBMA, 1, 7200, true))
        .unwrap();
    hub.deliver(
        "203.0.113.5",
        &registration_request(S2, "10.0.0.2", 9, 7200, false),
    )
    .unwrap();
    hub.sent();
    let req = resolution_request(S2, "10.0.0.2", S3, 11);
    hub.deliver("203.0.113.5", &req).unwrap();
    let (to, fwd) = hub.sent().remove(0);
    assert_eq!(to, ip(S3_NBMA));
    let nat = fwd.ext.nat.clone().unwrap();
    assert_eq!(
        (nat[0].client_nbma, nat[0].client_proto),
        (Some(ip("203.0.113.5")), Some(ip(S2)))
    );
    // Spoke .3 answers at the post-NAT address, not the private one.
    let mut s3 = Lab::new(spoke_config(S3, S3_NBMA));
    s3.sent();
    s3.deliver(HUB_NBMA, &fwd).unwrap();
    let (to, reply) = s3.sent().remove(0);
    assert_eq!(to, ip("203.0.113.5"));
    assert_eq!(reply.cies[0].client_nbma, Some(ip(S3_NBMA)));
}

#[test]
fn hub_relays_replies_back_to_the_requester_with_a_reverse_transit_record() {
    let mut lab = hub_with_spokes();
    // .3 answers .2's request through the hub (RFC 2332 style, older IOS).
    let req = resolution_request(S2, S2_NBMA, S3, 8);
    let reply = resolution_reply(&req, S3, S3_NBMA, 32, 7199);
    lab.deliver(S3_NBMA, &reply).unwrap();
    let (to, relayed) = lab.sent().remove(0);
    assert_eq!(to, ip(S2_NBMA));
    assert_eq!(relayed.op, Op::ResolutionReply);
    assert_eq!(relayed.hop_count, 254);
    assert_eq!(relayed.cies, reply.cies);
    let rt = relayed.ext.reverse_transit.unwrap();
    assert_eq!(
        (rt[0].client_nbma, rt[0].client_proto),
        (Some(ip(HUB_NBMA)), Some(ip(HUB)))
    );
    // Our own address already in the record: a loop.
    let mut looped = reply.clone();
    looped.ext.reverse_transit = Some(rt);
    assert_eq!(lab.deliver(S3_NBMA, &looped), Err(DropReason::LoopDetected));
    // A reply for a requester we do not know is dropped.
    let stray = resolution_reply(
        &resolution_request("172.16.123.99", "192.168.123.99", S3, 9),
        S3,
        S3_NBMA,
        32,
        10,
    );
    assert_eq!(
        lab.deliver(S3_NBMA, &stray),
        Err(DropReason::NotForUs(ip("172.16.123.99")))
    );
}

#[test]
fn removing_a_local_network_purges_the_requesters_that_learnt_it() {
    let mut cfg = spoke_config(S3, S3_NBMA);
    cfg.local_networks = vec!["3.3.3.0/24".parse().unwrap(), "4.4.4.0/24".parse().unwrap()];
    let mut lab = Lab::new(cfg);
    lab.sent();
    lab.deliver(HUB_NBMA, &resolution_request(S2, S2_NBMA, "3.3.3.3", 5))
        .unwrap();
    lab.deliver(HUB_NBMA, &resolution_request(S2, S2_NBMA, "4.4.4.4", 6))
        .unwrap();
    lab.sent();
    let n = lab
        .node
        .set_local_networks(lab.now, vec!["4.4.4.0/24".parse().unwrap()]);
    assert_eq!(n, 1);
    let (to, p) = lab.sent().remove(0);
    assert_eq!((to, p.op, p.request_id), (ip(S2_NBMA), Op::PurgeRequest, 5));
    // 3.3.3.3 is no longer ours.
    assert_eq!(
        lab.deliver(HUB_NBMA, &resolution_request(S2, S2_NBMA, "3.3.3.3", 7)),
        Err(DropReason::NotForUs(ip("3.3.3.3")))
    );
}
