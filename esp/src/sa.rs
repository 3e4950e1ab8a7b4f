//! One ESP SA: outbound [`OutboundSa::seal`] and inbound [`InboundSa::open`], both in place.
//!
//! # Buffer contract of `seal`
//!
//! ```text
//!  buf: [ ........ headroom ........ | payload (plaintext) | ........ tailroom ........ ]
//!                                    ^ payload.start       ^ payload.end
//!  out: [ .. | UDP? | SPI | Seq | IV | ciphertext(payload | TFC | pad | pl | nh) | ICV | .. ]
//!             ^ returned range start                                      returned end ^
//! ```
//! * headroom: `payload.start >= sa.header_len()` = (8 if UDP-encapsulated) + 8 + IV length;
//! * tailroom: `buf.len() - payload.end >= sa.trailer_len(payload.len())`, at most
//!   `sa.max_trailer_len(payload.len())` = TFC + (block − 1) + 2 + ICV length;
//! * the result is the range of the finished ESP (or UDP) packet inside `buf`; the caller
//!   prepends the outer IP header (protocol 50, or 17 with UDP encapsulation) in front of it.
//!
//! `open` takes the ESP packet (starting at the SPI, i.e. after the outer IP header and, for
//! RFC 3948, after the UDP header) and returns the plaintext as a sub-slice of the same buffer.
//!
//! Neither allocates. Padding follows RFC 4303 §2.4 (bytes 1, 2, 3, ...; alignment 4 for
//! AEADs, the cipher block for AES-CBC); AEAD IVs are the 64-bit sequence number (RFC 4106
//! §3.1, RFC 7634 §2), so they never repeat under one key; CBC IVs come from the provider RNG.

use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::crypto::{AeadKey, CipherKey, CryptoProvider, IntegId, IntegrityKey, SecureRandom};
use crate::error::{ApiError, OpenError, SealError};
use crate::params::{EsnResync, Lifetimes, Mode, SaParams, Spi, Transform, UdpEncap};
use crate::replay::{ReplayError, ReplayWindow};
use crate::wire::udp::{UDP_HEADER_LEN, UdpHeader};
use crate::wire::{
    ESP_HEADER_LEN, ESP_TRAILER_LEN, Error as WireError, EspHeader, Layer, NEXT_HEADER_IPV4,
    NEXT_HEADER_IPV6, NEXT_HEADER_NONE,
};

/// Per-SA counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SaStats {
    /// Packets sealed or opened successfully.
    pub packets: u64,
    /// Payload bytes sealed or opened successfully.
    pub bytes: u64,
    /// Inbound: dropped as malformed (too short, bad lengths).
    pub malformed: u64,
    /// Inbound: dropped as replayed.
    pub replay: u64,
    /// Inbound: dropped as left of the window.
    pub too_old: u64,
    /// Inbound: dropped because the ICV failed.
    pub auth_failed: u64,
    /// Inbound: dropped because of bad padding.
    pub bad_padding: u64,
    /// Inbound: dummy packets (next header 59) dropped silently.
    pub dummy: u64,
    /// Inbound: unexpected next header or inner header.
    pub bad_next_header: u64,
    /// Outbound: refused seals (any [`SealError`]).
    pub seal_errors: u64,
    /// Inbound ESN: re-synchronisations of the high-order sequence bits (RFC 4303 Appendix
    /// A3); each also raises `Event::EsnResynchronized` in `SaTable`.
    pub esn_resyncs: u64,
    /// Inbound ESN: trial ICV computations spent on re-synchronisation (Appendix A3.2),
    /// successful or not; bounded by [`EsnResync`].
    pub esn_resync_trials: u64,
}

/// Which limit triggered a lifetime event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum LimitKind {
    /// Bytes.
    Bytes,
    /// Packets.
    Packets,
    /// Time.
    Time,
    /// The sequence number space (outbound, RFC 4303 §3.3.3): soft at 15/16 of it, hard at
    /// its end.
    Sequence,
}

enum Engine {
    Aead(Box<dyn AeadKey>),
    Cbc {
        cipher: Box<dyn CipherKey>,
        integ: Box<dyn IntegrityKey>,
    },
}

struct Keyed {
    engine: Engine,
    iv_len: usize,
    align: usize,
    icv_len: usize,
}

fn build(params: &SaParams, crypto: &CryptoProvider) -> Result<Keyed, ApiError> {
    params.validate()?;
    let t: Transform = params.transform;
    let unsupported = ApiError::UnsupportedTransform(t);
    let key = params.keys.encr.expose();
    if t.integ == IntegId::NONE {
        let aead = crypto.aead(t.encr, t.encr_key_bits).ok_or(unsupported)?;
        let need = aead.key_len() + aead.salt_len();
        if key.len() != need {
            return Err(ApiError::Crypto(crate::crypto::CryptoError::BadLength {
                what: "key",
                expected: need,
                got: key.len(),
            }));
        }
        if !params.keys.integ.is_empty() {
            return Err(ApiError::InvalidParams("AEAD SA with an integrity key"));
        }
        let (k, salt) = key.split_at(aead.key_len());
        Ok(Keyed {
            engine: Engine::Aead(aead.new_key(k, salt).map_err(ApiError::Crypto)?),
            iv_len: aead.iv_len(),
            align: 4,
            icv_len: aead.icv_len(),
        })
    } else {
        let cipher = crypto.cipher(t.encr, t.encr_key_bits).ok_or(unsupported)?;
        let integ = crypto.integrity(t.integ).ok_or(unsupported)?;
        if !cipher.block_len().is_power_of_two() || cipher.block_len() > 256 {
            return Err(unsupported);
        }
        Ok(Keyed {
            engine: Engine::Cbc {
                cipher: cipher.new_key(key).map_err(ApiError::Crypto)?,
                integ: integ
                    .new_key(params.keys.integ.expose())
                    .map_err(ApiError::Crypto)?,
            },
            iv_len: cipher.iv_len(),
            align: cipher.block_len().max(4),
            icv_len: integ.icv_len(),
        })
    }
}

/// Lifetime accounting of one SA (RFC 4301 §4.4.2.1).
#[derive(Clone, Debug)]
pub(crate) struct Life {
    pub(crate) created: Instant,
    pub(crate) limits: Lifetimes,
    /// Whether any byte or packet limit is set (else `charge` only counts).
    data_limits: bool,
    bytes: u64,
    packets: u64,
    pub(crate) soft_fired: bool,
    pub(crate) hard_fired: bool,
    /// Events raised by the data path, drained by `SaTable`.
    pub(crate) pending_soft: Option<LimitKind>,
    pub(crate) pending_hard: Option<LimitKind>,
}

impl Life {
    fn new(now: Instant, limits: Lifetimes) -> Self {
        let (s, h) = (&limits.soft, &limits.hard);
        Self {
            created: now,
            data_limits: s.bytes.is_some()
                || s.packets.is_some()
                || h.bytes.is_some()
                || h.packets.is_some(),
            limits,
            bytes: 0,
            packets: 0,
            soft_fired: false,
            hard_fired: false,
            pending_soft: None,
            pending_hard: None,
        }
    }

    fn crossed(l: &crate::params::Limits, bytes: u64, packets: u64) -> Option<LimitKind> {
        if l.bytes.is_some_and(|b| bytes >= b) {
            Some(LimitKind::Bytes)
        } else if l.packets.is_some_and(|p| packets >= p) {
            Some(LimitKind::Packets)
        } else {
            None
        }
    }

    fn charge(&mut self, bytes: usize) {
        self.packets += 1;
        self.bytes = self.bytes.saturating_add(bytes as u64);
        if !self.data_limits || (self.soft_fired && self.hard_fired) {
            return;
        }
        if !self.soft_fired
            && let Some(k) = Self::crossed(&self.limits.soft, self.bytes, self.packets)
        {
            self.soft_fired = true;
            self.pending_soft = Some(k);
        }
        if !self.hard_fired
            && let Some(k) = Self::crossed(&self.limits.hard, self.bytes, self.packets)
        {
            self.fire_hard(k);
        }
    }

    pub(crate) fn fire_hard(&mut self, k: LimitKind) {
        if !self.hard_fired {
            self.hard_fired = true;
            self.pending_hard = Some(k);
        }
    }

    fn expired(&self, now: Instant) -> bool {
        self.hard_fired
            || self
                .limits
                .hard
                .time
                .is_some_and(|t| now.saturating_duration_since(self.created) >= t)
    }
}

/// An outbound ESP SA (RFC 4303 §3.3).
pub struct OutboundSa {
    spi: Spi,
    mode: Mode,
    esn: bool,
    /// Last sequence number used (0: none yet).
    seq: u64,
    keyed: Keyed,
    udp: Option<UdpEncap>,
    tfc_pad_to: usize,
    random: Arc<dyn SecureRandom>,
    pub(crate) life: Life,
    pub(crate) stats: SaStats,
    pub(crate) exhausted_pending: bool,
}

impl std::fmt::Debug for OutboundSa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundSa")
            .field("spi", &self.spi)
            .field("mode", &self.mode)
            .field("esn", &self.esn)
            .field("seq", &self.seq)
            .field("udp", &self.udp)
            .finish_non_exhaustive()
    }
}

impl OutboundSa {
    /// Installs an outbound SA; keys are expanded once here (the only allocation).
    pub fn new(now: Instant, params: &SaParams, crypto: &CryptoProvider) -> Result<Self, ApiError> {
        let keyed = build(params, crypto)?;
        Ok(Self {
            spi: params.spi,
            mode: params.mode,
            esn: params.esn,
            seq: 0,
            keyed,
            udp: params.udp_encap,
            tfc_pad_to: usize::from(params.tfc_pad_to),
            random: crypto.random.clone(),
            life: Life::new(now, params.lifetimes),
            stats: SaStats::default(),
            exhausted_pending: false,
        })
    }

    /// Returns the SPI.
    pub fn spi(&self) -> Spi {
        self.spi
    }

    /// Returns the last sequence number used (0 before the first packet).
    pub fn last_seq(&self) -> u64 {
        self.seq
    }

    /// Returns the counters.
    pub fn stats(&self) -> SaStats {
        self.stats
    }

    /// Test hook: pretend `seq` packets were already sent (to exercise exhaustion / ESN wrap).
    #[doc(hidden)]
    pub fn set_last_seq_for_test(&mut self, seq: u64) {
        self.seq = seq;
    }

    /// Bytes `seal` writes in front of the payload: UDP header (RFC 3948, if configured) +
    /// SPI + sequence number + IV.
    pub fn header_len(&self) -> usize {
        self.udp.map_or(0, |_| UDP_HEADER_LEN) + ESP_HEADER_LEN + self.keyed.iv_len
    }

    /// Bytes `seal` writes after a payload of `payload_len` bytes: TFC padding, padding,
    /// pad length, next header and ICV.
    pub fn trailer_len(&self, payload_len: usize) -> usize {
        let body = payload_len.max(self.tfc_pad_to);
        // `align` is a power of two (checked when the SA is built): mask, don't divide.
        let mask = self.keyed.align - 1;
        let pad = (self.keyed.align - ((body + ESP_TRAILER_LEN) & mask)) & mask;
        body - payload_len + pad + ESP_TRAILER_LEN + self.keyed.icv_len
    }

    /// Upper bound of [`trailer_len`](Self::trailer_len): size tailroom with this.
    pub fn max_trailer_len(&self, payload_len: usize) -> usize {
        self.tfc_pad_to.saturating_sub(payload_len) + self.keyed.align - 1
            + ESP_TRAILER_LEN
            + self.keyed.icv_len
    }

    /// Seals `buf[payload]` in place (RFC 4303 §3.3): writes the headers into the headroom,
    /// pads, encrypts, appends the ICV into the tailroom and returns the range of the finished
    /// packet (starting at the UDP header if UDP-encapsulated, else at the SPI).
    ///
    /// `next_header` is the protocol of the payload (47 GRE in DMVPN transport mode, 4/41 in
    /// tunnel mode, 59 for a dummy packet). The sequence number never wraps: after the last
    /// one the SA refuses with [`SealError::SequenceExhausted`] (the owner rekeys; `SaTable`
    /// raises `Event::SequenceExhausted`). On error nothing changed, except that a failure of
    /// the cipher itself consumes the sequence number (an IV is never reused).
    pub fn seal(
        &mut self,
        now: Instant,
        next_header: u8,
        buf: &mut [u8],
        payload: Range<usize>,
    ) -> Result<Range<usize>, SealError> {
        let r = self.seal_inner(now, next_header, buf, payload);
        if r.is_err() {
            self.stats.seal_errors += 1;
        }
        r
    }

    fn seal_inner(
        &mut self,
        now: Instant,
        next_header: u8,
        buf: &mut [u8],
        payload: Range<usize>,
    ) -> Result<Range<usize>, SealError> {
        let Range { start, end } = payload;
        if start > end || end > buf.len() {
            return Err(SealError::BadRange);
        }
        let hl = self.header_len();
        if start < hl {
            return Err(SealError::Headroom {
                needed: hl,
                got: start,
            });
        }
        let max_seq = if self.esn {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        };
        if self.seq >= max_seq {
            return Err(SealError::SequenceExhausted);
        }
        if self.life.expired(now) {
            return Err(SealError::Expired);
        }
        let len = end - start;
        let tail = self.trailer_len(len);
        if buf.len() - end < tail {
            return Err(SealError::Tailroom {
                needed: tail,
                got: buf.len() - end,
            });
        }
        let icv_len = self.keyed.icv_len;
        let iv_len = self.keyed.iv_len;
        let ct_end = end + tail - icv_len;
        let esp_start = start - ESP_HEADER_LEN - iv_len;
        let out_start = esp_start - self.udp.map_or(0, |_| UDP_HEADER_LEN);
        let total = ct_end + icv_len - out_start;
        if self.udp.is_some() && total > usize::from(u16::MAX) {
            return Err(SealError::BadRange);
        }

        // CBC: draw the IV before committing the sequence number.
        if let Engine::Cbc { .. } = self.keyed.engine {
            self.random
                .fill(&mut buf[start - iv_len..start])
                .map_err(SealError::Crypto)?;
        }
        self.seq += 1;
        let seq = self.seq;
        // Rekey early: a soft event when 15/16 of the sequence space is used (at 3 Mpkt/s the
        // 32-bit space lasts ~24 minutes, so this leaves ~90 s for the rekey).
        if seq == max_seq - max_seq / 16 && !self.life.soft_fired {
            self.life.soft_fired = true;
            self.life.pending_soft = Some(LimitKind::Sequence);
        }
        if seq == max_seq {
            self.exhausted_pending = true;
            self.life.fire_hard(LimitKind::Sequence);
        }
        let spi = self.spi.0;
        let header = EspHeader {
            spi,
            seq: seq as u32,
        };
        header
            .emit(&mut buf[esp_start..])
            .map_err(|_| SealError::BadRange)?;
        if let Engine::Aead(_) = self.keyed.engine {
            buf[start - iv_len..start].copy_from_slice(&seq.to_be_bytes());
        }

        // Trailer (RFC 4303 §2.4-2.6): TFC zeros, padding 1,2,3..., pad length, next header.
        let pad_len = tail - icv_len - ESP_TRAILER_LEN - self.tfc_pad_to.saturating_sub(len);
        let pad_start = ct_end - ESP_TRAILER_LEN - pad_len;
        buf[end..pad_start].fill(0);
        for (i, b) in buf[pad_start..ct_end - ESP_TRAILER_LEN]
            .iter_mut()
            .enumerate()
        {
            *b = (i + 1) as u8;
        }
        buf[ct_end - 2] = pad_len as u8;
        buf[ct_end - 1] = next_header;

        let seq_hi = ((seq >> 32) as u32).to_be_bytes();
        let (head, rest) = buf.split_at_mut(start);
        let (data, rest) = rest.split_at_mut(ct_end - start);
        let icv = &mut rest[..icv_len];
        let iv = &head[start - iv_len..];
        match &self.keyed.engine {
            Engine::Aead(key) => {
                // RFC 4106 §5: AAD = SPI || [Seq high] || Seq low.
                let mut aad = [0u8; 12];
                let aad = esp_aad(&mut aad, spi, seq, self.esn);
                key.seal_in_place(iv, aad, data, icv)
                    .map_err(SealError::Crypto)?;
            }
            Engine::Cbc { cipher, integ } => {
                cipher
                    .encrypt_in_place(iv, data)
                    .map_err(SealError::Crypto)?;
                // RFC 4303 §3.3.2.1: ICV over ESP header, IV, ciphertext (+ Seq high with ESN).
                let hi: &[u8] = if self.esn { &seq_hi } else { &[] };
                integ
                    .sign(&[&head[esp_start..], data, hi], icv)
                    .map_err(SealError::Crypto)?;
            }
        }
        if let Some(u) = self.udp {
            UdpHeader {
                src_port: u.src_port,
                dst_port: u.dst_port,
                length: total as u16,
                checksum: 0,
            }
            .emit(&mut buf[out_start..])
            .map_err(|_| SealError::BadRange)?;
        }
        self.stats.packets += 1;
        self.stats.bytes += len as u64;
        self.life.charge(len);
        Ok(out_start..ct_end + icv_len)
    }
}

fn esp_aad(aad: &mut [u8; 12], spi: u32, seq: u64, esn: bool) -> &[u8] {
    aad[..4].copy_from_slice(&spi.to_be_bytes());
    if esn {
        aad[4..].copy_from_slice(&seq.to_be_bytes());
        &aad[..12]
    } else {
        aad[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
        &aad[..8]
    }
}

/// The result of a successful [`InboundSa::open`].
#[derive(Debug)]
pub struct Opened<'b> {
    /// Next header of the payload (47 GRE, 4 IPv4, 41 IPv6, ...).
    pub next_header: u8,
    /// The full (ESN-inferred) sequence number.
    pub seq: u64,
    /// Where the plaintext lies in the packet buffer passed to `open`.
    pub range: Range<usize>,
    /// The plaintext payload, in place (padding and, in tunnel mode, TFC padding removed).
    pub payload: &'b mut [u8],
}

/// An inbound ESP SA (RFC 4303 §3.4).
pub struct InboundSa {
    spi: Spi,
    mode: Mode,
    esn: bool,
    keyed: Keyed,
    replay: Option<ReplayWindow>,
    /// RFC 4303 Appendix A3 configuration.
    resync: EsnResync,
    /// Consecutive ICV failures (Appendix A3.1); reset by any authenticated packet.
    icv_fail_streak: u64,
    /// The sequence number adopted by a re-synchronisation, drained by `SaTable`.
    pub(crate) resynced_pending: Option<u64>,
    pub(crate) life: Life,
    pub(crate) stats: SaStats,
}

impl std::fmt::Debug for InboundSa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundSa")
            .field("spi", &self.spi)
            .field("mode", &self.mode)
            .field("esn", &self.esn)
            .field("replay_top", &self.replay.as_ref().map(ReplayWindow::top))
            .finish_non_exhaustive()
    }
}

impl InboundSa {
    /// Installs an inbound SA; keys are expanded and the replay window allocated once here.
    pub fn new(now: Instant, params: &SaParams, crypto: &CryptoProvider) -> Result<Self, ApiError> {
        let keyed = build(params, crypto)?;
        Ok(Self {
            spi: params.spi,
            mode: params.mode,
            esn: params.esn,
            keyed,
            replay: (params.replay_window > 0).then(|| ReplayWindow::new(params.replay_window)),
            resync: EsnResync::default(),
            icv_fail_streak: 0,
            resynced_pending: None,
            life: Life::new(now, params.lifetimes),
            stats: SaStats::default(),
        })
    }

    /// Sets the RFC 4303 Appendix A3 re-synchronisation parameters (default
    /// [`EsnResync::default`]); they matter only for ESN SAs.
    pub fn set_esn_resync(&mut self, resync: EsnResync) -> Result<(), ApiError> {
        resync.validate()?;
        self.resync = resync;
        Ok(())
    }

    /// Returns the re-synchronisation parameters.
    pub fn esn_resync(&self) -> EsnResync {
        self.resync
    }

    /// Returns the number of consecutive packets whose ICV failed (Appendix A3.1).
    pub fn icv_fail_streak(&self) -> u64 {
        self.icv_fail_streak
    }

    /// Returns the SPI.
    pub fn spi(&self) -> Spi {
        self.spi
    }

    /// Returns the counters.
    pub fn stats(&self) -> SaStats {
        self.stats
    }

    /// Returns the highest authenticated sequence number (0: none or no window).
    pub fn replay_top(&self) -> u64 {
        self.replay.as_ref().map_or(0, ReplayWindow::top)
    }

    /// Opens an ESP packet in place (RFC 4303 §3.4): length checks, replay pre-check (with ESN
    /// inference, Appendix A), ICV verification and decryption, window update, trailer checks.
    /// `packet` starts at the SPI. Every error is counted in [`stats`](Self::stats); a packet
    /// that fails before or at the ICV changes nothing.
    pub fn open<'b>(
        &mut self,
        now: Instant,
        packet: &'b mut [u8],
    ) -> Result<Opened<'b>, OpenError> {
        let r = self.open_inner(now, packet);
        if let Err(e) = &r {
            let s = &mut self.stats;
            match e {
                OpenError::Malformed(_) | OpenError::UnknownSpi(_) | OpenError::Crypto(_) => {
                    s.malformed += 1
                }
                OpenError::Replay { .. } => s.replay += 1,
                OpenError::TooOld { .. } => s.too_old += 1,
                OpenError::AuthFailed => s.auth_failed += 1,
                OpenError::BadPadding => s.bad_padding += 1,
                OpenError::Dummy => s.dummy += 1,
                OpenError::BadNextHeader(_) => s.bad_next_header += 1,
                OpenError::Expired => {}
            }
        }
        r
    }

    fn open_inner<'b>(
        &mut self,
        now: Instant,
        packet: &'b mut [u8],
    ) -> Result<Opened<'b>, OpenError> {
        let h = EspHeader::parse(packet)?;
        if h.spi != self.spi.0 {
            return Err(OpenError::UnknownSpi(h.spi));
        }
        if self.life.expired(now) {
            return Err(OpenError::Expired);
        }
        let iv_len = self.keyed.iv_len;
        let icv_len = self.keyed.icv_len;
        let min_ct = match self.keyed.engine {
            Engine::Aead(_) => ESP_TRAILER_LEN,
            Engine::Cbc { .. } => self.keyed.align,
        };
        let needed = ESP_HEADER_LEN + iv_len + min_ct + icv_len;
        if packet.len() < needed {
            return Err(WireError::Truncated {
                layer: Layer::Esp,
                needed,
                got: packet.len(),
            }
            .into());
        }
        let ct_len = packet.len() - ESP_HEADER_LEN - iv_len - icv_len;
        if matches!(self.keyed.engine, Engine::Cbc { .. })
            && !ct_len.is_multiple_of(self.keyed.align)
        {
            return Err(WireError::BadLength {
                layer: Layer::Esp,
                field: "ciphertext length",
                value: ct_len as u32,
            }
            .into());
        }

        // Sequence number: infer the high half (ESN), then the replay pre-check.
        let seq = match (&self.replay, self.esn) {
            (Some(w), true) => w.infer_esn(h.seq).ok_or(OpenError::TooOld {
                seq: u64::from(h.seq),
            })?,
            _ => u64::from(h.seq),
        };
        if let Some(w) = &self.replay {
            w.check(seq).map_err(|e| match e {
                ReplayError::Replay => OpenError::Replay { seq },
                ReplayError::TooOld => OpenError::TooOld { seq },
            })?;
        }

        // ICV verification and decryption (RFC 4303 §3.4.4).
        let (hdr, rest) = packet.split_at_mut(ESP_HEADER_LEN + iv_len);
        let (ct, icv) = rest.split_at_mut(ct_len);
        // Appendix A3: is this failure, if it fails, a re-synchronisation trial? Decided before
        // the ICV so that an AEAD (whose failed in-place open may clobber `ct`) keeps a copy.
        let trial = self.esn
            && self.replay.is_some()
            && self.resync.is_trial(self.icv_fail_streak.saturating_add(1));
        let saved: Option<Vec<u8>> =
            (trial && matches!(self.keyed.engine, Engine::Aead(_))).then(|| ct.to_vec());
        let seq = match authenticate(&self.keyed, self.esn, h.spi, seq, hdr, ct, icv) {
            Ok(()) => seq,
            Err(OpenError::AuthFailed) => {
                self.icv_fail_streak = self.icv_fail_streak.saturating_add(1);
                if !trial {
                    return Err(OpenError::AuthFailed);
                }
                let found = self.resync_trials(h.spi, seq, hdr, ct, icv, saved.as_deref())?;
                self.stats.esn_resyncs += 1;
                self.resynced_pending = Some(found);
                found
            }
            Err(e) => return Err(e),
        };
        self.icv_fail_streak = 0;

        // Authentic: advance the window (RFC 4303 §3.4.3); after a re-synchronisation this
        // jumps to the adopted number and clears the ring, so the window stays consistent.
        if let Some(w) = &mut self.replay {
            w.update(seq);
        }

        // Trailer (RFC 4303 §2.4-2.6).
        let next_header = ct[ct_len - 1];
        let pad_len = usize::from(ct[ct_len - 2]);
        if pad_len + ESP_TRAILER_LEN > ct_len {
            return Err(OpenError::BadPadding);
        }
        let mut plen = ct_len - ESP_TRAILER_LEN - pad_len;
        if ct[plen..plen + pad_len]
            .iter()
            .enumerate()
            .any(|(i, &b)| usize::from(b) != i + 1)
        {
            return Err(OpenError::BadPadding);
        }
        if next_header == NEXT_HEADER_NONE {
            return Err(OpenError::Dummy);
        }
        if self.mode == Mode::Tunnel {
            plen = inner_ip_len(next_header, &ct[..plen])?;
        }
        self.stats.packets += 1;
        self.stats.bytes += plen as u64;
        self.life.charge(plen);
        let off = ESP_HEADER_LEN + iv_len;
        Ok(Opened {
            next_header,
            seq,
            range: off..off + plen,
            payload: &mut ct[..plen],
        })
    }
}

impl InboundSa {
    /// RFC 4303 Appendix A3.2: retries a packet that failed with the inferred `seq` under
    /// Seqh + 1, Seqh + 2, ... (at most `max_increments` ICV computations, each candidate
    /// passing the replay pre-check). Returns the first candidate that authenticates, with
    /// `ct` decrypted; [`OpenError::AuthFailed`] if none does (no state changed).
    fn resync_trials(
        &mut self,
        spi: u32,
        seq: u64,
        hdr: &[u8],
        ct: &mut [u8],
        icv: &[u8],
        saved: Option<&[u8]>,
    ) -> Result<u64, OpenError> {
        let seq_lo = seq & 0xffff_ffff;
        let seq_hi = seq >> 32;
        for k in 1..=u64::from(self.resync.max_increments) {
            let hi = seq_hi + k;
            if hi > u64::from(u32::MAX) {
                break;
            }
            let cand = (hi << 32) | seq_lo;
            if self.replay.as_ref().is_some_and(|w| w.check(cand).is_err()) {
                continue;
            }
            if let Some(orig) = saved {
                ct.copy_from_slice(orig);
            }
            self.stats.esn_resync_trials += 1;
            match authenticate(&self.keyed, self.esn, spi, cand, hdr, ct, icv) {
                Ok(()) => return Ok(cand),
                Err(OpenError::AuthFailed) => {}
                Err(e) => return Err(e),
            }
        }
        Err(OpenError::AuthFailed)
    }
}

/// Verifies the ICV of an ESP packet under the full sequence number `seq` and decrypts `ct`
/// in place (RFC 4303 §3.4.4). On failure an AEAD may leave `ct` clobbered.
fn authenticate(
    keyed: &Keyed,
    esn: bool,
    spi: u32,
    seq: u64,
    hdr: &[u8],
    ct: &mut [u8],
    icv: &[u8],
) -> Result<(), OpenError> {
    let iv = &hdr[ESP_HEADER_LEN..];
    match &keyed.engine {
        Engine::Aead(key) => {
            let mut aad = [0u8; 12];
            let aad = esp_aad(&mut aad, spi, seq, esn);
            key.open_in_place(iv, aad, ct, icv).map_err(|e| match e {
                crate::crypto::CryptoError::AuthFailed => OpenError::AuthFailed,
                e => OpenError::Crypto(e),
            })
        }
        Engine::Cbc { cipher, integ } => {
            let seq_hi = ((seq >> 32) as u32).to_be_bytes();
            let hi: &[u8] = if esn { &seq_hi } else { &[] };
            integ
                .verify(&[hdr, ct, hi], icv)
                .map_err(|_| OpenError::AuthFailed)?;
            cipher.decrypt_in_place(iv, ct).map_err(OpenError::Crypto)
        }
    }
}

/// Tunnel mode: the inner IP header gives the real payload length; anything after it is TFC
/// padding (RFC 4303 §2.7).
fn inner_ip_len(next_header: u8, p: &[u8]) -> Result<usize, OpenError> {
    let (len, min) = match next_header {
        NEXT_HEADER_IPV4 if p.len() >= 20 && p[0] >> 4 == 4 => {
            (usize::from(u16::from_be_bytes([p[2], p[3]])), 20)
        }
        NEXT_HEADER_IPV6 if p.len() >= 40 && p[0] >> 4 == 6 => {
            (40 + usize::from(u16::from_be_bytes([p[4], p[5]])), 40)
        }
        nh => return Err(OpenError::BadNextHeader(nh)),
    };
    if len < min || len > p.len() {
        return Err(WireError::BadLength {
            layer: Layer::InnerIp,
            field: "total length",
            value: len as u32,
        }
        .into());
    }
    Ok(len)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::crypto::{Secret, aws_lc};
    use crate::params::{Direction, Keys};

    /// `nhrp/frr-nhrpd-registration-esp.pcap` frame 2 (our lab; Linux 6.1 xfrm
    /// `rfc4106(gcm(aes))`, key 00..0f, salt 10111213): ESP from the SPI on.
    pub(crate) const FRR_FRAME2_HEX: &str = "0000100100000001cc729a810e5b919519a93fca21a5150bf82b3ac69a312b9e\
        963f2b1bf34ac97ee15daa840ed633b7546fefa1f7b492076fd02e4df4807837064753fe88269a552012ec\
        a10e2dc53c1dcd3ed00de259b4c3807f69272ed92770b2aa8310e2bfb11cd882a8ab56b82f22864633d083\
        ed20f567ddaabcd5203d85ae09a9b9dfd908";

    fn frr_sa() -> InboundSa {
        let p = SaParams {
            spi: Spi(0x1001),
            direction: Direction::Inbound,
            mode: Mode::Transport,
            transform: Transform::AES_128_GCM,
            keys: Keys {
                encr: Secret::from_hex("000102030405060708090a0b0c0d0e0f10111213").unwrap(),
                integ: Secret::new(&[]),
            },
            esn: false,
            replay_window: 64,
            lifetimes: Lifetimes::default(),
            udp_encap: None,
            tfc_pad_to: 0,
        };
        InboundSa::new(Instant::now(), &p, &aws_lc::default_provider()).unwrap()
    }

    #[test]
    fn opens_linux_kernel_gcm_packet() {
        let mut sa = frr_sa();
        let now = Instant::now();
        let pkt = hex::decode(FRR_FRAME2_HEX).unwrap();
        let mut p = pkt.clone();
        let o = sa.open(now, &mut p).unwrap();
        assert_eq!((o.next_header, o.seq), (47, 1));
        // GRE, key present, protocol NHRP 0x2001, key 42.
        assert_eq!(&o.payload[..8], &[0x20, 0x00, 0x20, 0x01, 0, 0, 0, 42]);
        // 136 = 8 header + 8 IV + payload + 2 pad + 2 + 16 ICV.
        assert_eq!(o.payload.len(), 136 - 8 - 8 - 2 - 2 - 16);
        assert_eq!(o.range, 16..16 + o.payload.len());
        let mut p = pkt.clone();
        assert_eq!(
            sa.open(now, &mut p).unwrap_err(),
            OpenError::Replay { seq: 1 }
        );
        let mut p = pkt.clone();
        p[40] ^= 1;
        let mut fresh = frr_sa();
        assert_eq!(fresh.open(now, &mut p).unwrap_err(), OpenError::AuthFailed);
        assert_eq!(fresh.replay_top(), 0);
        assert_eq!(fresh.stats().auth_failed, 1);
    }
}
