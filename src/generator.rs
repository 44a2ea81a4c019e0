//! Live generators: sources fed in the background with rows whose event time is wall-clock
//! milliseconds since the Unix epoch — the one documented exception to script time.
//!
//! A generator's rows are a pure function of their sequence number: row `i` happens at
//! `i * 1000 / rate` ms, and its values come from a hash of `i`. So every instance of a
//! generator produces the same rows for the same stretch of time, each worker produces the
//! rows `i ≡ worker (mod workers)`, and the auctions and bids generators agree on which
//! auctions exist without talking to each other (as do sends and recvs on which messages).
//!
//! Kinds and columns (all BIGINT but `value` and `price`, DOUBLE; TIME is `ts`):
//!
//! | kind | columns | options (default) |
//! |---|---|---|
//! | `sensors` | sensor, value, ts | keys (100), rate (1000 rows/s) |
//! | `auctions` | id, seller, expires, ts | rate (10), duration_ms (10000) |
//! | `bids` | auction, bidder, price, ts | rate (1000), auction_rate (10), duration_ms (10000) |
//! | `sends` | flow, seq, ts | keys (100), rate (1000) |
//! | `recvs` | flow, seq, ts | keys (100), rate (1000), max_latency_ms (50) |
//!
//! Every option is at least 1 and at most its limit ([`MAX_RATE`], [`MAX_KEYS`],
//! [`MAX_DURATION_MS`], [`MAX_LATENCY_MS`]), and may be given once.
//!
//! A `recvs` row is the receipt of the `sends` row with the same `seq`, arriving
//! 1..=max_latency_ms after it.

use crate::error::{Error, Result, Span};
use crate::repr::{Column, DataType, Datum};

/// The greatest `rate` (and `auction_rate`), in rows per second. A generator makes its rows
/// on a worker, however far behind the dataflow is (the open loop): past what a worker can
/// make and process, the backlog and the memory it holds grow without bound.
pub const MAX_RATE: u64 = 1_000_000;

/// The greatest `keys`.
pub const MAX_KEYS: u64 = 10_000_000;

/// The greatest `duration_ms` (a day).
pub const MAX_DURATION_MS: u64 = 86_400_000;

/// The greatest `max_latency_ms`: a receipt waits in memory until it is due, so this bounds
/// the receipts held, at most `rate × max_latency_ms / 1000`.
pub const MAX_LATENCY_MS: u64 = 10_000;

const OPTION_LIMITS_NOTE: &str =
    "limits: rate and auction_rate 1000000 rows/s, keys 10000000, duration_ms 86400000, max_latency_ms 10000";

/// What a generator produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum GeneratorKind {
    /// Sensor readings.
    Sensors,
    /// Auctions, NEXMark-like.
    Auctions,
    /// Bids on the auctions of [`GeneratorKind::Auctions`].
    Bids,
    /// Messages sent.
    Sends,
    /// The same messages received.
    Recvs,
}

/// A configured generator.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Generator {
    /// What it produces.
    pub kind: GeneratorKind,
    /// Rows per second.
    pub rate: u64,
    /// Distinct keys (sensors, flows).
    pub keys: u64,
    /// How long an auction is open.
    pub duration_ms: u64,
    /// Auctions per second (for bids).
    pub auction_rate: u64,
    /// The longest a message takes to arrive.
    pub max_latency_ms: u64,
}

impl Generator {
    /// Configure `kind` (by name) with `options`; every error points at its text.
    pub fn new(kind: &str, kind_span: Span, options: &[(String, u64, Span)]) -> Result<Generator> {
        let kind = match kind.to_lowercase().as_str() {
            "sensors" => GeneratorKind::Sensors,
            "auctions" => GeneratorKind::Auctions,
            "bids" => GeneratorKind::Bids,
            "sends" => GeneratorKind::Sends,
            "recvs" => GeneratorKind::Recvs,
            other => {
                return Err(Error::bind(format!("generator \"{other}\" not found"))
                    .with_span(kind_span)
                    .with_hint("generators: sensors, auctions, bids, sends, recvs"));
            }
        };
        let mut generator = Generator {
            kind,
            rate: if kind == GeneratorKind::Auctions { 10 } else { 1000 },
            keys: 100,
            duration_ms: 10_000,
            auction_rate: 10,
            max_latency_ms: 50,
        };
        let allowed: &[&str] = match kind {
            GeneratorKind::Sensors | GeneratorKind::Sends => &["keys", "rate"],
            GeneratorKind::Auctions => &["rate", "duration_ms"],
            GeneratorKind::Bids => &["rate", "auction_rate", "duration_ms"],
            GeneratorKind::Recvs => &["keys", "rate", "max_latency_ms"],
        };
        let mut given: Vec<String> = Vec::new();
        for (name, value, span) in options {
            let name = name.to_lowercase();
            if !allowed.contains(&name.as_str()) {
                return Err(Error::bind(
                    format!("generator {kind:?} has no option \"{name}\"").to_lowercase(),
                )
                .with_span(*span)
                .with_hint(format!("options: {}", allowed.join(", "))));
            }
            if given.contains(&name) {
                return Err(
                    Error::bind(format!("generator option \"{name}\" is given twice")).with_span(*span)
                );
            }
            given.push(name.clone());
            let max = Self::max_option(&name);
            if !(1..=max).contains(value) {
                return Err(Error::bind(format!(
                    "option \"{name}\" must be between 1 and {max}, not {value}"
                ))
                .with_span(*span)
                .with_note(OPTION_LIMITS_NOTE));
            }
            match name.as_str() {
                "keys" => generator.keys = *value,
                "rate" => generator.rate = *value,
                "duration_ms" => generator.duration_ms = *value,
                "auction_rate" => generator.auction_rate = *value,
                _ => generator.max_latency_ms = *value,
            }
        }
        Ok(generator)
    }

    /// The greatest value `option` accepts (see [`MAX_RATE`] and its neighbours).
    fn max_option(option: &str) -> u64 {
        match option {
            "keys" => MAX_KEYS,
            "rate" | "auction_rate" => MAX_RATE,
            "duration_ms" => MAX_DURATION_MS,
            _ => MAX_LATENCY_MS,
        }
    }

    /// The columns it produces; the last one, `ts`, is TIME.
    pub fn columns(&self) -> Vec<Column> {
        let names: &[(&str, DataType)] = match self.kind {
            GeneratorKind::Sensors => &[("sensor", DataType::BigInt), ("value", DataType::Double)],
            GeneratorKind::Auctions => {
                &[("id", DataType::BigInt), ("seller", DataType::BigInt), ("expires", DataType::BigInt)]
            }
            GeneratorKind::Bids => {
                &[("auction", DataType::BigInt), ("bidder", DataType::BigInt), ("price", DataType::Double)]
            }
            GeneratorKind::Sends | GeneratorKind::Recvs => {
                &[("flow", DataType::BigInt), ("seq", DataType::BigInt)]
            }
        };
        let mut columns: Vec<Column> = names.iter().map(|(n, t)| Column::new(*n, *t)).collect();
        columns.push(Column::new("ts", DataType::BigInt));
        columns
    }

    /// When row `i` of the underlying sequence happens (for recvs: when its message is sent).
    pub fn sequence_time(&self, i: u64) -> u64 {
        ((i as u128 * 1000) / self.rate as u128) as u64
    }

    /// The first sequence number whose row happens at or after `ms`.
    pub fn first_at(&self, ms: u64) -> u64 {
        ((ms as u128 * self.rate as u128).div_ceil(1000)) as u64
    }

    /// Row `i` and its event time.
    pub fn row(&self, i: u64) -> (Vec<Datum>, u64) {
        let sent = self.sequence_time(i);
        let h = mix(i);
        let int = |v: u64| Datum::Int(v as i64);
        match self.kind {
            GeneratorKind::Sensors => (
                vec![int(h % self.keys), Datum::Double((1500 + (h >> 16) % 2000) as f64 / 100.0), int(sent)],
                sent,
            ),
            GeneratorKind::Auctions => {
                (vec![int(i), int(h % 1000), int(sent + self.duration_ms), int(sent)], sent)
            }
            GeneratorKind::Bids => {
                let newest = (sent as u128 * self.auction_rate as u128 / 1000) as u64;
                let open = (self.duration_ms * self.auction_rate / 1000).max(1);
                let auction = newest.saturating_sub(h % open);
                (
                    vec![
                        int(auction),
                        int((h >> 8) % 10_000),
                        Datum::Double(((h >> 24) % 100_000) as f64 / 100.0),
                        int(sent),
                    ],
                    sent,
                )
            }
            GeneratorKind::Sends => (vec![int(h % self.keys), int(i), int(sent)], sent),
            GeneratorKind::Recvs => {
                let arrived = sent + 1 + mix(i ^ 0x5eed) % self.max_latency_ms;
                (vec![int(h % self.keys), int(i), int(arrived)], arrived)
            }
        }
    }
}

/// Wall-clock milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// SplitMix64's finalizer: a cheap, well-spread hash of a sequence number.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_a_function_of_their_number() {
        let g =
            Generator::new("sensors", Span::empty(), &[("rate".into(), 500, Span::empty())]).expect("valid");
        assert_eq!(g.row(1234), g.row(1234));
        assert_eq!(g.sequence_time(1000), 2000);
        assert_eq!(g.first_at(2000), 1000);
        assert_eq!(g.first_at(2001), 1001);
    }

    #[test]
    fn bids_name_open_auctions() {
        let auctions = Generator::new("auctions", Span::empty(), &[]).expect("valid");
        let bids = Generator::new("bids", Span::empty(), &[]).expect("valid");
        for i in 1_000_000..1_000_100 {
            let (bid, time) = bids.row(i);
            let id = bid[0].as_int().expect("an id") as u64;
            let (auction, opened) = auctions.row(id);
            assert!(opened <= time, "bid {i} names auction {id} opened at {opened}, after the bid at {time}");
            assert!(auction[2].as_int().expect("expires") as u64 + 1000 >= time);
        }
    }

    #[test]
    fn receipts_follow_their_sends() {
        let sends = Generator::new("sends", Span::empty(), &[]).expect("valid");
        let recvs = Generator::new("recvs", Span::empty(), &[]).expect("valid");
        for i in 0..100 {
            let (send, sent) = sends.row(i);
            let (recv, arrived) = recvs.row(i);
            assert_eq!(send[1], recv[1]);
            assert!(arrived > sent && arrived <= sent + 50 + 1);
        }
    }

    #[test]
    fn unknown_kinds_and_options_are_refused() {
        assert!(Generator::new("tweets", Span::empty(), &[]).is_err());
        assert!(
            Generator::new("sensors", Span::empty(), &[("duration_ms".into(), 5, Span::empty())]).is_err()
        );
        assert!(Generator::new("sensors", Span::empty(), &[("rate".into(), 0, Span::empty())]).is_err());
    }

    #[test]
    fn options_are_bounded_and_given_once() {
        let option = |name: &str, value: u64| (name.to_string(), value, Span::empty());
        let at_limit =
            [option("keys", MAX_KEYS), option("rate", MAX_RATE), option("max_latency_ms", MAX_LATENCY_MS)];
        assert!(Generator::new("recvs", Span::empty(), &at_limit).is_ok());
        for (kind, name, value) in [
            ("sensors", "rate", MAX_RATE + 1),
            ("sensors", "keys", MAX_KEYS + 1),
            ("bids", "auction_rate", u64::MAX),
            ("auctions", "duration_ms", MAX_DURATION_MS + 1),
            ("recvs", "max_latency_ms", MAX_LATENCY_MS + 1),
        ] {
            let e = Generator::new(kind, Span::empty(), &[option(name, value)]).expect_err(name);
            assert!(e.message().contains("must be between 1 and"), "{e}");
        }
        let e = Generator::new("sensors", Span::empty(), &[option("rate", 5), option("RATE", 6)])
            .expect_err("twice");
        assert_eq!(e.message(), "generator option \"rate\" is given twice");
    }
}
