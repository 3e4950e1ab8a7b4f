//! Ladder tests of registration: NHC (retry, back-off, refresh, up/down, failover) and NHS
//! (cache, expiry, refresh, deregistration, unique conflict, table bound, NAT, auth).

use std::time::Duration;

use super::util::*;
use crate::msg::{Op, flags};
use crate::wire::{CieCode, ErrorCode};
use crate::{Config, DownReason, DropReason, Event, NhsConfig, NhsState, Role};

#[test]
fn spoke_registers_like_a_cisco_spoke_and_refreshes_every_interval() {
    let mut lab = Lab::new(spoke_config(S2, S2_NBMA));
    let sent = lab.sent();
    assert_eq!(sent.len(), 1);
    let (to, req) = &sent[0];
    assert_eq!(*to, ip(HUB_NBMA));
    assert_eq!(req.op, Op::RegistrationRequest);
    assert_eq!(req.flags, flags::U_REG | flags::CISCO_NAT);
    assert_eq!((req.src_proto, req.dst_proto), (ip(S2), ip(HUB)));
    assert_eq!(req.cies.len(), 1);
    assert_eq!(req.cies[0].prefix_len, 32);
    assert_eq!(req.cies[0].holding_time, 7200);
    assert_eq!(req.cies[0].client_nbma, None);
    let nat = req.ext.nat.as_ref().unwrap();
    assert_eq!(nat[0].client_nbma, Some(ip(HUB_NBMA)));
    assert_eq!(nat[0].holding_time, 0);
    assert!(req.ext.responder.is_some() && req.ext.forward_transit.is_some());

    lab.advance(Duration::from_millis(30));
    lab.deliver(HUB_NBMA, &registration_reply(req, 0)).unwrap();
    assert_eq!(
        lab.events(),
        vec![Event::NhsUp {
            nhs: ip(HUB),
            nbma: ip(HUB_NBMA),
            holding_time: secs(7200)
        }]
    );
    assert!(lab.node.is_registered());
    // Refresh at holding time / 3 = 2400 s, with a new request ID.
    let quiet = lab.advance(secs(2399));
    assert!(quiet.is_empty(), "{quiet:?}");
    let refresh = lab.advance(secs(1));
    assert_eq!(refresh.len(), 1);
    assert_eq!(refresh[0].2.op, Op::RegistrationRequest);
    assert_ne!(refresh[0].2.request_id, req.request_id);
    // An up NHS answering the refresh emits no new NhsUp.
    lab.deliver(HUB_NBMA, &registration_reply(&refresh[0].2, 0))
        .unwrap();
    assert!(lab.events().is_empty());
}

#[test]
fn registration_interval_is_configurable() {
    let mut cfg = spoke_config(S2, S2_NBMA);
    cfg.registration_interval = Some(secs(60));
    cfg.holding_time = secs(300);
    let mut lab = Lab::new(cfg);
    let req = lab.sent().remove(0).1;
    assert_eq!(req.cies[0].holding_time, 300);
    lab.deliver(HUB_NBMA, &registration_reply(&req, 0)).unwrap();
    let out = lab.advance(secs(60));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, secs(60));
}

#[test]
fn unanswered_registration_backs_off_exponentially_and_declares_the_nhs_down() {
    let mut lab = Lab::new(spoke_config(S2, S2_NBMA));
    let first = lab.sent().remove(0).1;
    let out = lab.advance(secs(200));
    let times: Vec<u64> = out.iter().map(|(t, _, _)| t.as_secs()).collect();
    // Retransmissions after 1, 2, 4, 8, 16, 32, 64, 64 s.
    assert_eq!(times, vec![1, 3, 7, 15, 31, 63, 127, 191]);
    assert!(out.iter().all(|(_, _, m)| m.request_id == first.request_id));
    // Down after the third unanswered retransmission (at 15 s).
    assert_eq!(
        lab.events(),
        vec![Event::NhsDown {
            nhs: ip(HUB),
            nbma: ip(HUB_NBMA),
            reason: DownReason::Timeout
        }]
    );
    assert_eq!(lab.node.nhs_status().next().unwrap().state, NhsState::Down);
    // The NHS comes back: the next probe is answered.
    lab.deliver(HUB_NBMA, &registration_reply(&out.last().unwrap().2, 0))
        .unwrap();
    assert!(matches!(lab.events()[..], [Event::NhsUp { .. }]));
}

#[test]
fn up_nhs_that_stops_answering_refreshes_goes_down() {
    let mut lab = Lab::new(spoke_config(S2, S2_NBMA));
    let req = lab.sent().remove(0).1;
    lab.deliver(HUB_NBMA, &registration_reply(&req, 0)).unwrap();
    lab.events();
    let out = lab.advance(secs(2400 + 15));
    assert_eq!(out.len(), 5, "refresh + 4 retransmissions");
    assert_eq!(
        lab.events(),
        vec![Event::NhsDown {
            nhs: ip(HUB),
            nbma: ip(HUB_NBMA),
            reason: DownReason::Timeout
        }]
    );
}

#[test]
fn rejected_registration_reports_the_code_and_retries_slowly() {
    let mut lab = Lab::new(spoke_config(S2, S2_NBMA));
    let req = lab.sent().remove(0).1;
    lab.deliver(HUB_NBMA, &registration_reply(&req, 14))
        .unwrap();
    assert_eq!(
        lab.events(),
        vec![Event::RegistrationFailed {
            nhs: ip(HUB),
            code: CieCode::AlreadyRegistered
        }]
    );
    assert!(lab.advance(secs(63)).is_empty());
    let retry = lab.advance(secs(1));
    assert_eq!(retry.len(), 1);
    assert_ne!(retry[0].2.request_id, req.request_id);
}

#[test]
fn reply_with_unknown_request_id_is_dropped_and_counted() {
    let mut lab = Lab::new(spoke_config(S2, S2_NBMA));
    let mut req = lab.sent().remove(0).1;
    req.request_id ^= 0xffff;
    assert_eq!(
        lab.deliver(HUB_NBMA, &registration_reply(&req, 0)),
        Err(DropReason::UnknownRequest(req.request_id))
    );
    assert_eq!(lab.node.stats().dropped.unknown_request, 1);
    assert!(lab.events().is_empty());
}

fn two_hubs(max_active: usize) -> Lab {
    let mut cfg = spoke_config(S2, S2_NBMA);
    cfg.nhs = vec![
        NhsConfig {
            protocol: ip(HUB),
            nbma: ip(HUB_NBMA),
            priority: 1,
        },
        NhsConfig {
            protocol: ip("172.16.123.254"),
            nbma: ip("192.168.123.254"),
            priority: 2,
        },
    ];
    cfg.max_active_nhs = max_active;
    Lab::new(cfg)
}

#[test]
fn all_nhss_are_registered_by_default() {
    let mut lab = two_hubs(0);
    let sent = lab.sent();
    let to: Vec<_> = sent.iter().map(|(to, _)| *to).collect();
    assert_eq!(to, vec![ip(HUB_NBMA), ip("192.168.123.254")]);
}

#[test]
fn fallback_to_the_next_nhs_by_priority_and_return_when_it_recovers() {
    let mut lab = two_hubs(1);
    let sent = lab.sent();
    assert_eq!(sent.len(), 1, "only the preferred NHS is active");
    assert_eq!(sent[0].0, ip(HUB_NBMA));
    // The primary never answers: after it is declared down (15 s) the secondary registers.
    let out = lab.advance(secs(15));
    let to_secondary: Vec<_> = out
        .iter()
        .filter(|(_, to, _)| *to == ip("192.168.123.254"))
        .collect();
    assert_eq!(to_secondary.len(), 1);
    assert_eq!(to_secondary[0].0, secs(15));
    lab.deliver("192.168.123.254", &to_secondary[0].2).ok(); // a request is not a reply
    lab.deliver(
        "192.168.123.254",
        &registration_reply(&to_secondary[0].2, 0),
    )
    .unwrap();
    let ev = lab.events();
    assert!(matches!(
        ev[0],
        Event::NhsDown {
            reason: DownReason::Timeout,
            ..
        }
    ));
    assert!(matches!(ev[1], Event::NhsUp { nhs, .. } if nhs == ip("172.16.123.254")));
    // The primary keeps being probed; when it answers, it takes over again.
    let probes = lab.advance(secs(20));
    let probe = probes
        .iter()
        .find(|(_, to, _)| *to == ip(HUB_NBMA))
        .expect("probe");
    lab.deliver(HUB_NBMA, &registration_reply(&probe.2, 0))
        .unwrap();
    let ev = lab.events();
    assert!(matches!(ev[0], Event::NhsUp { nhs, .. } if nhs == ip(HUB)));
    assert_eq!(
        ev[1],
        Event::NhsDown {
            nhs: ip("172.16.123.254"),
            nbma: ip("192.168.123.254"),
            reason: DownReason::Fallback
        }
    );
    let states: Vec<_> = lab.node.nhs_status().map(|s| s.state).collect();
    assert_eq!(states, vec![NhsState::Up, NhsState::Standby]);
    // The standby NHS is no longer refreshed.
    let later = lab.advance(secs(2000));
    assert!(later.iter().all(|(_, to, _)| *to == ip(HUB_NBMA)));
}

#[test]
fn no_unique_clears_the_u_bit() {
    let mut cfg = spoke_config(S2, S2_NBMA);
    cfg.unique = false;
    let mut lab = Lab::new(cfg);
    assert_eq!(lab.sent()[0].1.flags & flags::U_REG, 0);
}

// ----- NHS ------------------------------------------------------------------------------

#[test]
fn hub_registers_refreshes_and_expires_a_spoke() {
    let mut lab = Lab::new(hub_config());
    let req = registration_request(S2, S2_NBMA, 1, 7200, true);
    lab.deliver(S2_NBMA, &req).unwrap();
    let sent = lab.sent();
    assert_eq!(sent.len(), 1);
    let (to, reply) = &sent[0];
    assert_eq!(*to, ip(S2_NBMA));
    assert_eq!(reply.op, Op::RegistrationReply);
    assert_eq!(reply.request_id, 1);
    assert_eq!(reply.cies[0].code, 0);
    assert_eq!(reply.cies[0].holding_time, 7200);
    let responder = reply.ext.responder.clone().flatten().unwrap();
    assert_eq!(responder.client_proto, Some(ip(HUB)));
    // Not NATed: the NAT extension is echoed (the hub's CIE, as Cisco does).
    assert_eq!(reply.ext.nat, req.ext.nat);
    let ev = lab.events();
    assert!(
        matches!(ev[..], [Event::SpokeRegistered { protocol, nat_nbma: None, .. }] if protocol == ip(S2))
    );
    assert_eq!(lab.node.multicast_nbmas(), vec![ip(S2_NBMA)]);
    // Refresh at 2400 s (same binding): no event, expiry moves.
    lab.advance(secs(2400));
    lab.deliver(S2_NBMA, &registration_request(S2, S2_NBMA, 2, 7200, true))
        .unwrap();
    lab.sent();
    assert!(lab.events().is_empty());
    assert!(lab.advance(secs(7199)).is_empty());
    assert!(
        lab.events().is_empty(),
        "refreshed registration must not expire at 7200 s"
    );
    lab.advance(secs(1));
    assert_eq!(
        lab.events(),
        vec![Event::SpokeUnregistered {
            protocol: ip(S2),
            nbma: ip(S2_NBMA),
            nat_nbma: None,
            reason: DownReason::Expired
        }]
    );
    assert_eq!(lab.node.registrations().count(), 0);
    assert_eq!(lab.node.poll_timeout(), None);
}

#[test]
fn holding_time_zero_deregisters() {
    let mut lab = Lab::new(hub_config());
    lab.deliver(S2_NBMA, &registration_request(S2, S2_NBMA, 1, 7200, true))
        .unwrap();
    lab.events();
    lab.deliver(S2_NBMA, &registration_request(S2, S2_NBMA, 2, 0, true))
        .unwrap();
    assert_eq!(lab.sent().len(), 2);
    assert!(matches!(
        lab.events()[..],
        [Event::SpokeUnregistered {
            reason: DownReason::Deregistered,
            ..
        }]
    ));
    assert!(lab.node.registration(ip(S2)).is_none());
}

#[test]
fn unique_registration_from_another_nbma_is_rejected_with_code_14() {
    let mut lab = Lab::new(hub_config());
    lab.deliver(S2_NBMA, &registration_request(S2, S2_NBMA, 1, 7200, true))
        .unwrap();
    lab.sent();
    lab.events();
    lab.deliver(
        "192.168.123.99",
        &registration_request(S2, "192.168.123.99", 7, 7200, true),
    )
    .unwrap();
    let sent = lab.sent();
    assert_eq!(sent[0].0, ip("192.168.123.99"));
    assert_eq!(sent[0].1.cies[0].code, 14);
    assert_eq!(
        lab.events(),
        vec![Event::RegistrationRejected {
            protocol: ip(S2),
            nbma: ip("192.168.123.99"),
            code: CieCode::AlreadyRegistered
        }]
    );
    assert_eq!(lab.node.stats().rejected_unique, 1);
    assert_eq!(lab.node.registration(ip(S2)).unwrap().nbma, ip(S2_NBMA));
}

#[test]
fn non_unique_registration_may_move_to_another_nbma() {
    let mut lab = Lab::new(hub_config());
    lab.deliver(S2_NBMA, &registration_request(S2, S2_NBMA, 1, 7200, false))
        .unwrap();
    lab.events();
    lab.deliver(
        "192.168.123.99",
        &registration_request(S2, "192.168.123.99", 7, 7200, false),
    )
    .unwrap();
    assert_eq!(lab.sent()[1].1.cies[0].code, 0);
    assert!(
        matches!(lab.events()[..], [Event::SpokeRegistered { nbma, .. }] if nbma == ip("192.168.123.99"))
    );
}

#[test]
fn full_registration_table_answers_code_5() {
    let mut cfg = hub_config();
    cfg.max_registrations = 1;
    let mut lab = Lab::new(cfg);
    lab.deliver(S2_NBMA, &registration_request(S2, S2_NBMA, 1, 7200, true))
        .unwrap();
    lab.deliver(S3_NBMA, &registration_request(S3, S3_NBMA, 1, 7200, true))
        .unwrap();
    let sent = lab.sent();
    assert_eq!(sent[1].1.cies[0].code, 5);
    assert_eq!(lab.node.stats().rejected_full, 1);
    assert_eq!(lab.node.stats().registrations, 1);
}

#[test]
fn hub_reports_the_post_nat_address_and_spoke_learns_it() {
    // Hub side: the request claims 10.0.0.2 but arrives from 203.0.113.5.
    let mut hub = Lab::new(hub_config());
    let req = registration_request(S2, "10.0.0.2", 1, 7200, true);
    hub.deliver("203.0.113.5", &req).unwrap();
    let (to, reply) = hub.sent().remove(0);
    assert_eq!(to, ip("203.0.113.5"));
    let nat = reply.ext.nat.clone().unwrap();
    assert_eq!(nat.len(), 1);
    assert_eq!(
        (nat[0].client_nbma, nat[0].client_proto),
        (Some(ip("203.0.113.5")), Some(ip(S2)))
    );
    let r = hub.node.registration(ip(S2)).unwrap();
    assert_eq!(r.nat_nbma, Some(ip("203.0.113.5")));
    assert_eq!(r.effective_nbma(), ip("203.0.113.5"));
    assert_eq!(hub.node.multicast_nbmas(), vec![ip("203.0.113.5")]);

    // Spoke side: the same reply teaches the spoke its public address.
    let mut spoke = Lab::new(spoke_config(S2, "10.0.0.2"));
    let req = spoke.sent().remove(0).1;
    let mut reply2 = reply.clone();
    reply2.request_id = req.request_id;
    spoke.deliver(HUB_NBMA, &reply2).unwrap();
    let ev = spoke.events();
    assert_eq!(
        ev[1],
        Event::NatDetected {
            nhs: ip(HUB),
            public_nbma: ip("203.0.113.5")
        }
    );
    assert_eq!(
        spoke.node.nhs_status().next().unwrap().public_nbma,
        Some(ip("203.0.113.5"))
    );
    // Later resolutions carry it in the NAT extension.
    spoke.node.resolve(spoke.now, ip(S3)).unwrap();
    let (_, rreq) = spoke.sent().remove(0);
    let nat = rreq.ext.nat.unwrap();
    assert_eq!(
        (nat[0].client_nbma, nat[0].client_proto),
        (Some(ip("203.0.113.5")), Some(ip(S2)))
    );
}

#[test]
fn authentication_mismatch_is_dropped_counted_and_answered_with_error_indication() {
    let mut cfg = hub_config();
    cfg.authentication = Some(b"DMVPN".to_vec());
    let mut lab = Lab::new(cfg);
    let req = registration_request(S2, S2_NBMA, 1, 7200, true);
    assert_eq!(lab.deliver(S2_NBMA, &req), Err(DropReason::AuthMissing));
    let mut bad = req.clone();
    bad.ext.auth = Some(crate::wire::Authentication::cisco_plaintext(b"WRONG"));
    assert_eq!(lab.deliver(S2_NBMA, &bad), Err(DropReason::AuthMismatch));
    let sent = lab.sent();
    assert_eq!(sent.len(), 2);
    for (to, m) in &sent {
        assert_eq!(*to, ip(S2_NBMA));
        assert_eq!(m.op, Op::ErrorIndication);
        assert_eq!(
            m.error.map(|e| ErrorCode::from_u16(e.0)),
            Some(ErrorCode::AuthenticationFailure)
        );
    }
    let s = lab.node.stats();
    assert_eq!((s.dropped.auth_missing, s.dropped.auth_mismatch), (1, 1));
    assert_eq!(s.dropped_by_type.registration_request, 2);
    assert_eq!(s.sent.error_indication, 2);
    assert_eq!(s.registrations, 0);
    assert_eq!(s.received.registration_request, 0);
    // The right password is accepted and our reply carries it.
    let mut good = req;
    good.ext.auth = Some(crate::wire::Authentication::cisco_plaintext(b"DMVPN"));
    lab.deliver(S2_NBMA, &good).unwrap();
    let (_, reply) = lab.sent().remove(0);
    assert_eq!(
        reply.ext.auth.unwrap().cisco_password(),
        Some(&b"DMVPN"[..])
    );
}

#[test]
fn roles_are_enforced() {
    let mut spoke = Lab::new(spoke_config(S2, S2_NBMA));
    spoke.sent();
    assert_eq!(
        spoke.deliver(S3_NBMA, &registration_request(S3, S3_NBMA, 1, 7200, true)),
        Err(DropReason::WrongRole { packet_type: 3 })
    );
    let mut hub = Lab::new(hub_config());
    assert_eq!(
        hub.node.resolve(hub.now, ip(S2)),
        Err(crate::ApiError::NotClient)
    );
    let mut both = hub_config();
    both.role = Role::Both;
    both.nhs = vec![NhsConfig::new(ip("10.255.0.1"), ip("198.51.100.1"))];
    let mut both = Lab::new(both);
    assert_eq!(
        both.sent()[0].0,
        ip("198.51.100.1"),
        "a hierarchical hub registers upwards"
    );
    both.deliver(S2_NBMA, &registration_request(S2, S2_NBMA, 1, 7200, true))
        .unwrap();
    assert_eq!(both.node.registrations().count(), 1);
}

#[test]
fn invalid_configs_are_refused() {
    let mut c = spoke_config(S2, S2_NBMA);
    c.authentication = Some(b"123456789".to_vec());
    assert!(
        !format!("{c:?}").contains("57"),
        "Debug must not print the secret"
    );
    assert!(matches!(
        crate::Node::new(c, lab_now()),
        Err(crate::ApiError::InvalidConfig(_))
    ));
    let c = Config::default();
    assert!(crate::Node::new(c, lab_now()).is_err());
}

fn lab_now() -> std::time::Instant {
    std::time::Instant::now()
}

#[test]
fn unknown_compulsory_extension_is_rejected_with_error_indication() {
    let mut lab = Lab::new(hub_config());
    let mut req = registration_request(S2, S2_NBMA, 1, 7200, true);
    req.ext.other.push(crate::wire::Extension {
        compulsory: true,
        value: crate::wire::ExtensionValue::Unknown {
            ty: 0x1234,
            data: vec![1, 2],
        },
    });
    assert_eq!(
        lab.deliver(S2_NBMA, &req),
        Err(DropReason::UnrecognizedExtension(0x1234))
    );
    let (to, err) = lab.sent().remove(0);
    assert_eq!(to, ip(S2_NBMA));
    assert_eq!(
        err.error.map(|e| ErrorCode::from_u16(e.0)),
        Some(ErrorCode::UnrecognizedExtension)
    );
    assert_eq!(lab.node.stats().registrations, 0);
    // Not compulsory: ignored, the registration goes through.
    req.ext.other[0].compulsory = false;
    lab.deliver(S2_NBMA, &req).unwrap();
    assert_eq!(lab.node.stats().registrations, 1);
}

#[test]
fn registration_churn_does_not_grow_the_timer_heap() {
    let mut lab = Lab::new(hub_config());
    for i in 0..10_000u32 {
        let proto = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
        lab.deliver(
            S2_NBMA,
            &registration_request(&proto, S2_NBMA, i, 7200, false),
        )
        .unwrap();
        lab.deliver(S2_NBMA, &registration_request(&proto, S2_NBMA, i, 0, false))
            .unwrap();
        lab.sent();
        lab.events();
    }
    let s = lab.node.stats();
    assert_eq!(s.registrations, 0);
    assert!(
        s.timers <= 64 + 2,
        "timer heap holds {} stale entries",
        s.timers
    );
}

#[test]
fn deregister_purges_with_the_registration_id_and_the_hub_forgets_the_spoke() {
    let mut spoke = Lab::new(spoke_config(S2, S2_NBMA));
    let req = spoke.sent().remove(0).1;
    let mut hub = Lab::new(hub_config());
    hub.deliver(S2_NBMA, &req).unwrap();
    let (_, reply) = hub.sent().remove(0);
    spoke.deliver(HUB_NBMA, &reply).unwrap();
    spoke.events();
    assert_eq!(spoke.node.deregister(spoke.now), Ok(1));
    let (to, purge) = spoke.sent().remove(0);
    assert_eq!(
        (to, purge.op, purge.request_id),
        (ip(HUB_NBMA), Op::PurgeRequest, req.request_id)
    );
    assert_eq!(
        spoke.events(),
        vec![Event::NhsDown {
            nhs: ip(HUB),
            nbma: ip(HUB_NBMA),
            reason: DownReason::Deregistered
        }]
    );
    assert!(
        spoke.advance(secs(10_000)).is_empty(),
        "no refresh after deregistering"
    );
    hub.events();
    hub.deliver(S2_NBMA, &purge).unwrap();
    assert!(hub.node.registration(ip(S2)).is_none());
    let (_, purge_reply) = hub.sent().remove(0);
    assert_eq!(purge_reply.op, Op::PurgeReply);
    // register() brings it back.
    spoke.node.register(spoke.now).unwrap();
    assert_eq!(spoke.sent()[0].1.op, Op::RegistrationRequest);
}
