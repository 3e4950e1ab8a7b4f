//! IPsec ESP (RFC 4303) data path and the crypto provider of the DMVPN stack.
//!
//! # What is implemented
//! * ESP packet format, processing and padding: RFC 4303 §2 (header, padding §2.4, next
//!   header 59 dummy packets §2.6, TFC padding §2.7), outbound §3.3 (sequence numbers that never
//!   wrap, §3.3.3), inbound §3.4 (SPI lookup §3.4.2, anti-replay §3.4.3, ICV §3.4.4), extended
//!   sequence numbers §2.2.1 with high-order inference from Appendix A and re-synchronisation
//!   after a loss of 2^32 or more packets from Appendix A3 ([`EsnResync`]: bounded trials,
//!   `SaStats::esn_resyncs`, [`Event::EsnResynchronized`]).
//! * Large anti-replay windows as an RFC 6479 bitmap ring ([`ReplayWindow`], up to
//!   [`MAX_REPLAY_WINDOW`] packets).
//! * Transport mode (GRE between hub and spokes) and tunnel mode (inner IPv4/IPv6; the inner
//!   length strips TFC padding).
//! * UDP encapsulation for NAT traversal, RFC 3948 (ESP-in-UDP header in `seal`, non-ESP marker
//!   / keepalive demux in [`wire::udp`] and [`SaTable::open_udp`]).
//! * Algorithms: AES-GCM-128/256 with a 16-byte ICV (RFC 4106), ChaCha20-Poly1305 (RFC 7634),
//!   AES-CBC (RFC 3602) with HMAC-SHA-256-128 / -384-192 / -512-256 (RFC 4868) or legacy
//!   HMAC-SHA-1-96 (RFC 2404), through the [`crypto`] provider (DESIGN.md §5).
//!
//! # Buffer contract
//! The data path works in place on caller buffers and never allocates (see [`sa`] for the
//! picture). To seal, put the payload at `payload.start >= sa.header_len()` and leave
//! `sa.max_trailer_len(len)` bytes after it; `seal` returns the range of the finished packet.
//! To open, pass the ESP packet (from the SPI on); `open` returns the plaintext as a sub-slice.
//!
//! ```
//! # use std::time::Instant;
//! # use esp::{crypto::{Secret, aws_lc}, *};
//! let now = Instant::now();
//! let crypto = aws_lc::default_provider();
//! let mut params = SaParams {
//!     spi: Spi(0x1001),
//!     direction: Direction::Outbound,
//!     mode: Mode::Transport,
//!     transform: Transform::AES_128_GCM,
//!     keys: Keys { encr: Secret::new(&[7; 20]), integ: Secret::new(&[]) },
//!     esn: false,
//!     replay_window: 1024,
//!     lifetimes: Lifetimes::default(),
//!     udp_encap: None,
//!     tfc_pad_to: 0,
//! };
//! let mut table = SaTable::new();
//! let out = table.insert(now, &params, &crypto)?;
//! params.direction = Direction::Inbound;
//! let inb = table.insert(now, &params, &crypto)?;
//!
//! let gre = b"GRE packet";
//! let sa = table.outbound(out).unwrap();
//! let (head, tail) = (sa.header_len(), sa.max_trailer_len(gre.len()));
//! let mut buf = vec![0u8; head + gre.len() + tail];
//! buf[head..head + gre.len()].copy_from_slice(gre);
//! let pkt = table.seal(now, out, 47, &mut buf, head..head + gre.len())?;
//!
//! let (id, opened) = table.open(now, &mut buf[pkt])?;
//! assert_eq!((id, opened.next_header, &*opened.payload), (inb, 47, &gre[..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Run loop
//! [`SaTable`] follows the machine contract of DESIGN.md §2 for its control part:
//! ```no_run
//! # use std::time::Instant;
//! # fn sleep_until(_: Option<Instant>) -> Instant { Instant::now() }
//! # let mut table = esp::SaTable::new();
//! loop {
//!     // ... seal / open packets, insert SAs from ikev2 events ...
//!     while let Some(ev) = table.poll_event() {
//!         // SoftExpired -> ask ikev2 to rekey; SequenceExhausted -> rekey now;
//!         // HardExpired -> the SA is gone, stop routing to it.
//!         let _ = ev;
//!     }
//!     let now = sleep_until(table.poll_timeout());
//!     table.handle_timeout(now);
//! }
//! ```
//!
//! # Verification
//! * Known-answer tests of every algorithm through the provider (`tests/kat.rs`).
//! * Appendix A3: a sender that skips 2^32 + n (and 3·2^32 + n) sequence numbers is
//!   re-synchronised with every algorithm, the window stays consistent, forgeries never move the
//!   receiver, the trial cost under a forged flood is exactly the documented bound, and non-ESN
//!   or disabled SAs never try (`tests/esn_resync.rs`).
//! * Real captures with published keys decrypt with ICV verification: a Linux xfrm AES-GCM
//!   transport SA carrying GRE/NHRP, an NCP client's NAT-T AES-GCM and AES-CBC/HMAC-SHA-256 SAs,
//!   and the Wireshark-wiki AES-CBC/HMAC-SHA-1-96 transport (IPv4, IPv6) and tunnel SAs
//!   (`tests/interop_captures.rs`).
//! * Our packets verify in tshark (`esp.icv_good`) and in scapy's independent implementation, and
//!   scapy's packets open here, for every algorithm Wireshark/scapy know, both modes, with and
//!   without UDP encapsulation (scapy also with ESN; Wireshark 4.0 has no ChaCha20-Poly1305 ESP
//!   and no ESN) (`tests/interop_tshark.rs`, `tests/interop_scapy.rs`).
//! * Zero heap allocations per packet (`tests/no_alloc.rs`); fuzz target `esp_sa_open`.
//!
//! # Invariants
//! * Untrusted input never panics and never allocates, with one bounded exception: an AEAD
//!   ESN SA that lost synchronisation copies the packet being retried for RFC 4303 Appendix
//!   A3 (transiently, at most once per [`EsnResync::trial_interval`] consecutive ICV
//!   failures). Each drop is a typed [`OpenError`] and a counter. A failed ICV changes no
//!   state but the failure streak; the replay window (and so the inferred high-order bits)
//!   moves only after an ICV verified, including after a re-synchronisation.
//! * The outbound sequence number never wraps; AEAD nonces never repeat under one key.
//! * Key material held by this crate ([`crypto::Secret`], AEAD salts) is zeroized on drop and
//!   never printed by `Debug`; the backend's expanded key schedules are freed by aws-lc.
//! * No clock and no OS randomness is read: `now` and the RNG (in [`CryptoProvider`]) are
//!   passed in.
#![forbid(unsafe_code)]

pub mod crypto;
pub mod error;
pub mod params;
pub mod replay;
pub mod sa;
pub mod table;
pub mod wire;

#[cfg(any(fuzzing, test))]
#[doc(hidden)]
pub mod fuzzing;

pub use crypto::CryptoProvider;
pub use error::{ApiError, OpenError, SealError};
pub use params::{
    Direction, EsnResync, Keys, Lifetimes, Limits, MAX_ESN_RESYNC_INCREMENTS, MAX_REPLAY_WINDOW,
    Mode, SaParams, Spi, Transform, UdpEncap,
};
pub use replay::ReplayWindow;
pub use sa::{InboundSa, LimitKind, Opened, OutboundSa, SaStats};
pub use table::{Event, SaId, SaTable, TableStats, UdpOpened};
