//! Values, types and the one interpreted row type.

/// The dataflow time: event-time units (see `docs/architecture.md`, "Time").
pub type Time = u64;
/// How many times an update adds (or, negative, removes) a row.
pub type Diff = i64;

use std::fmt;

/// A column type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum DataType {
    /// 64-bit signed integer (`BIGINT`, `INT`, `INTEGER`).
    BigInt,
    /// 64-bit float (`DOUBLE`, `FLOAT`, `REAL`).
    Double,
    /// UTF-8 text (`TEXT`, `VARCHAR`).
    Text,
    /// `BOOLEAN`.
    Boolean,
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DataType::BigInt => "BIGINT",
            DataType::Double => "DOUBLE",
            DataType::Text => "TEXT",
            DataType::Boolean => "BOOLEAN",
        })
    }
}

/// One value. `Null` is a value of every type.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Datum {
    /// SQL NULL.
    Null,
    /// A `BOOLEAN`.
    Bool(bool),
    /// A `BIGINT`.
    Int(i64),
    /// A `DOUBLE`.
    Double(f64),
    /// A `TEXT`.
    Text(String),
}

impl Datum {
    /// The type of this value (`None` for NULL, a value of every type).
    pub fn data_type(&self) -> Option<DataType> {
        match self {
            Datum::Null => None,
            Datum::Bool(_) => Some(DataType::Boolean),
            Datum::Int(_) => Some(DataType::BigInt),
            Datum::Double(_) => Some(DataType::Double),
            Datum::Text(_) => Some(DataType::Text),
        }
    }

    /// Whether this is NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Datum::Null)
    }

    /// The value as an `i64`, if it is a `BIGINT`.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Datum::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The value as an `f64`, if numeric.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Datum::Int(i) => Some(*i as f64),
            Datum::Double(d) => Some(*d),
            _ => None,
        }
    }

    /// The value as a bool, if it is a `BOOLEAN`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Datum::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

/// Datums compare by their row encoding, so `Ord` here and byte order in arrangements agree:
/// NULL first, doubles totally ordered (-0.0 < 0.0, NaN last). Compared on the encoding's
/// parts ([`row::parts`]), not on an encoding written out: joins, `WHERE`, `max` and group
/// keys compare datums row by row.
impl Ord for Datum {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        use row::Parts::{Fixed, Text};
        use std::cmp::Ordering;
        match (row::parts(self), row::parts(other)) {
            // Zeros pad a tag without payload; tags differ before any padding does.
            (Fixed(a, _), Fixed(b, _)) => a.cmp(&b),
            // Text's escaped encoding orders as its bytes do.
            (Text(a), Text(b)) => a.cmp(b),
            // Text's tag is the greatest.
            (Fixed(..), Text(_)) => Ordering::Less,
            (Text(_), Fixed(..)) => Ordering::Greater,
        }
    }
}

impl PartialOrd for Datum {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Datum {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Datum {}

/// Equal datums (equal encodings) hash alike.
impl std::hash::Hash for Datum {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match row::parts(self) {
            row::Parts::Fixed(bytes, len) => bytes[..len].hash(state),
            row::Parts::Text(bytes) => bytes.hash(state),
        }
    }
}

impl fmt::Display for Datum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Datum::Null => f.write_str("NULL"),
            Datum::Bool(b) => write!(f, "{b}"),
            Datum::Int(i) => write!(f, "{i}"),
            Datum::Double(d) => {
                if d.is_finite() && d.fract() == 0.0 && d.abs() < 1e15 {
                    write!(f, "{d:.1}")
                } else {
                    write!(f, "{d}")
                }
            }
            Datum::Text(s) => f.write_str(s),
        }
    }
}

/// A named, typed column.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Column {
    /// The column's name.
    pub name: String,
    /// The column's type.
    pub data_type: DataType,
}

impl Column {
    /// A column named `name` of type `data_type`.
    pub fn new(name: impl Into<String>, data_type: DataType) -> Self {
        Column { name: name.into(), data_type }
    }
}

/// The one interpreted row type, as it flows through every dataflow: an order-preserving,
/// prefix-free byte encoding of a sequence of datums (see [`row`]).
pub type EncodedRow = Vec<u8>;

/// Byte strings laid end to end in one buffer: two allocations for a batch of encoded rows (or
/// keys, or values) instead of one per string. Vector arrangements keep their keys and values
/// in these (`render::arrange`), so merging batches copies bytes without allocating per value;
/// the rows of a statement travel to each worker in one (`Command::Insert`), so no row's
/// buffer is allocated on the session thread and freed on a worker (a free from another thread
/// is the allocator's slow path).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct ByteRows {
    /// Where each string ends in `bytes`, while that is under 4 GiB: half the bytes of a
    /// `usize` per string, which merging batches copies along with it. (Differential's
    /// `OffsetList` does the same, but its calls are not inlined: 5.6% more instructions.)
    pub(crate) ends: Vec<u32>,
    /// Where each string after those ends, once `bytes` has passed 4 GiB.
    pub(crate) wide_ends: Vec<u64>,
    pub(crate) bytes: Vec<u8>,
}

/// The last end [`ByteRows`] keeps in four bytes (small under test, so tests reach past it).
#[cfg(not(test))]
const NARROW_ENDS_UP_TO: usize = u32::MAX as usize;
#[cfg(test)]
const NARROW_ENDS_UP_TO: usize = 16;

impl ByteRows {
    /// Room for `strings` strings of `bytes` bytes in all.
    pub fn with_capacity(strings: usize, bytes: usize) -> ByteRows {
        ByteRows {
            ends: Vec::with_capacity(strings),
            wide_ends: Vec::new(),
            bytes: Vec::with_capacity(bytes),
        }
    }

    /// Append `item`.
    pub fn push(&mut self, item: &[u8]) {
        self.bytes.extend_from_slice(item);
        self.end_string();
    }

    /// Append the encoding of `datums`, as [`row::encode`] makes it.
    pub fn push_row(&mut self, datums: &[Datum]) {
        for datum in datums {
            row::encode_datum(datum, &mut self.bytes);
        }
        self.end_string();
    }

    fn end_string(&mut self) {
        let end = self.bytes.len();
        // Bytes only grow (until `clear` empties both): past the limit, every end is wide.
        if end <= NARROW_ENDS_UP_TO {
            self.ends.push(end as u32);
        } else {
            self.wide_ends.push(end as u64);
        }
    }

    #[inline(always)]
    fn end(&self, index: usize) -> usize {
        match self.ends.get(index) {
            Some(end) => *end as usize,
            None => self.wide_ends[index - self.ends.len()] as usize,
        }
    }

    /// The string at `index`. Always inlined: merges, builders and cursors read every value
    /// through here, and the compiler left it a call in their loops.
    #[inline(always)]
    pub fn get(&self, index: usize) -> &[u8] {
        let start = if index == 0 { 0 } else { self.end(index - 1) };
        &self.bytes[start..self.end(index)]
    }

    /// The number of strings.
    pub fn len(&self) -> usize {
        self.ends.len() + self.wide_ends.len()
    }

    /// Whether there are no strings.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes of all strings together.
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    /// Room for `bytes` more bytes, exactly.
    pub fn reserve_bytes(&mut self, bytes: usize) {
        self.bytes.reserve_exact(bytes);
    }

    /// Each string, in the order pushed.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + Clone {
        (0..self.len()).map(|index| self.get(index))
    }

    /// Drop every string, keeping the memory.
    pub fn clear(&mut self) {
        self.ends.clear();
        self.wide_ends.clear();
        self.bytes.clear();
    }
}

/// The order-preserving row encoding.
///
/// Each datum is a tag byte followed by its payload:
///
/// | datum | tag | payload |
/// |---|---|---|
/// | NULL | `0x00` | none |
/// | false / true | `0x01` / `0x02` | none |
/// | BIGINT | `0x03` | 8 bytes big-endian, sign bit flipped |
/// | DOUBLE | `0x04` | 8 bytes big-endian of the IEEE bits, all bits flipped if negative, else the sign bit |
/// | TEXT | `0x05` | the UTF-8 bytes with `0x00` escaped as `0x00 0xFF`, then `0x00 0x00` |
///
/// Guarantees: comparing two encodings byte-wise orders them as the datum sequences order
/// column by column; no encoding is a proper prefix of another, so complementing the bytes
/// of one datum reverses its order (used for `ASC` ranking keys).
pub mod row {
    use super::Datum;

    /// Append the encoding of `datum` to `out`. Always inlined: the session encodes every
    /// datum it sends through here, and called out of line a fixed-width datum cost about
    /// four times the instructions of the copy itself.
    #[inline(always)]
    pub fn encode_datum(datum: &Datum, out: &mut Vec<u8>) {
        match parts(datum) {
            // A copy of constant length is inlined; one of variable length calls `memcpy`.
            Parts::Fixed(bytes, 9) => out.extend_from_slice(&bytes),
            Parts::Fixed(bytes, len) => out.extend_from_slice(&bytes[..len]),
            Parts::Text(bytes) => {
                out.push(0x05);
                for &byte in bytes {
                    out.push(byte);
                    if byte == 0 {
                        out.push(0xFF);
                    }
                }
                out.extend_from_slice(&[0x00, 0x00]);
            }
        }
    }

    /// A datum's encoding before it is written out: a fixed-width datum's tag and payload
    /// (its first `len` bytes; NULL and booleans are their tag alone, padded with zeros), or a
    /// text's bytes before escaping. What [`encode_datum`] writes and what `Ord for Datum`
    /// compares.
    pub(super) enum Parts<'a> {
        Fixed([u8; 9], usize),
        Text(&'a [u8]),
    }

    #[inline(always)]
    pub(super) fn parts(datum: &Datum) -> Parts<'_> {
        match datum {
            Datum::Null => Parts::Fixed([0x00; 9], 1),
            Datum::Bool(false) => Parts::Fixed(tagged(0x01, 0), 1),
            Datum::Bool(true) => Parts::Fixed(tagged(0x02, 0), 1),
            Datum::Int(i) => Parts::Fixed(tagged(0x03, (*i as u64) ^ (1 << 63)), 9),
            Datum::Double(d) => Parts::Fixed(tagged(0x04, ordered_double(*d)), 9),
            Datum::Text(s) => Parts::Text(s.as_bytes()),
        }
    }

    /// A double as an unsigned payload that orders as the double does, with one NaN (last)
    /// and one zero, so equal values encode equally.
    fn ordered_double(d: f64) -> u64 {
        let d = if d.is_nan() {
            f64::NAN
        } else if d == 0.0 {
            0.0
        } else {
            d
        };
        let bits = d.to_bits();
        if bits >> 63 == 1 { !bits } else { bits ^ (1 << 63) }
    }

    /// A tag and an 8-byte payload, big-endian: one copy into the row instead of two.
    fn tagged(tag: u8, payload: u64) -> [u8; 9] {
        let mut bytes = [tag; 9];
        bytes[1..].copy_from_slice(&payload.to_be_bytes());
        bytes
    }

    /// Append the encoding of `datum` with every byte complemented: it sorts in reverse.
    pub fn encode_datum_descending(datum: &Datum, out: &mut Vec<u8>) {
        let start = out.len();
        encode_datum(datum, out);
        for byte in &mut out[start..] {
            *byte = !*byte;
        }
    }

    /// Encode a whole row.
    pub fn encode<'a>(datums: impl IntoIterator<Item = &'a Datum, IntoIter: Clone>) -> Vec<u8> {
        let datums = datums.into_iter();
        // Sized up front: growing the buffer datum by datum was a fifth of the ingest path.
        let mut out = Vec::with_capacity(datums.clone().map(encoded_len).sum());
        for datum in datums {
            encode_datum(datum, &mut out);
        }
        out
    }

    /// The length of `datum`'s encoding (at least: text with zero bytes is longer).
    pub fn encoded_len(datum: &Datum) -> usize {
        match datum {
            Datum::Null | Datum::Bool(_) => 1,
            Datum::Int(_) | Datum::Double(_) => 9,
            Datum::Text(s) => s.len() + 3,
        }
    }

    /// Decode one datum from the front of `bytes`, returning it and the bytes it used.
    ///
    /// Panics only on bytes this module did not write: rows in dataflows are only ever
    /// produced by [`encode`].
    pub fn decode_datum(bytes: &[u8]) -> (Datum, usize) {
        match bytes[0] {
            0x00 => (Datum::Null, 1),
            0x01 => (Datum::Bool(false), 1),
            0x02 => (Datum::Bool(true), 1),
            0x03 => {
                let raw = u64::from_be_bytes(bytes[1..9].try_into().expect("8 bytes"));
                (Datum::Int((raw ^ (1 << 63)) as i64), 9)
            }
            0x04 => {
                let ordered = u64::from_be_bytes(bytes[1..9].try_into().expect("8 bytes"));
                let bits = if ordered >> 63 == 1 { ordered ^ (1 << 63) } else { !ordered };
                (Datum::Double(f64::from_bits(bits)), 9)
            }
            0x05 => {
                let mut text = Vec::new();
                let mut at = 1;
                loop {
                    match (bytes[at], bytes.get(at + 1)) {
                        (0x00, Some(0x00)) => break,
                        (0x00, Some(0xFF)) => {
                            text.push(0);
                            at += 2;
                        }
                        (byte, _) => {
                            text.push(byte);
                            at += 1;
                        }
                    }
                }
                (Datum::Text(String::from_utf8(text).expect("encoded from a String")), at + 2)
            }
            tag => panic!("corrupt row encoding: tag {tag:#x}"),
        }
    }

    /// The length of the datum encoded (possibly complemented) at the front of `bytes`.
    pub fn datum_len(bytes: &[u8], complemented: bool) -> usize {
        let tag = if complemented { !bytes[0] } else { bytes[0] };
        match tag {
            0x00..=0x02 => 1,
            0x03 | 0x04 => 9,
            _ => {
                let (zero, escape) = if complemented { (0xFF, 0x00) } else { (0x00, 0xFF) };
                let mut at = 1;
                loop {
                    if bytes[at] == zero {
                        if bytes[at + 1] == escape {
                            at += 2;
                            continue;
                        }
                        return at + 2;
                    }
                    at += 1;
                }
            }
        }
    }

    /// Append `rank`, the datum a rule ranks rows by, so that the best rank has the greatest
    /// bytes: as it is when larger is better (`descending`), complemented when smaller is.
    pub fn encode_rank(rank: &Datum, descending: bool, out: &mut Vec<u8>) {
        if descending {
            encode_datum(rank, out);
        } else {
            encode_datum_descending(rank, out);
        }
    }

    /// What follows a rank written by [`encode_rank`] at the front of `ranked`.
    pub fn after_rank(ranked: &[u8], descending: bool) -> &[u8] {
        &ranked[datum_len(ranked, !descending)..]
    }

    /// The length of the first `datums` datums of the row encoded in `bytes`.
    pub fn prefix_len(bytes: &[u8], datums: usize) -> usize {
        (0..datums).fold(0, |at, _| at + datum_len(&bytes[at..], false))
    }

    /// Compare two encodings as `<[u8]>::cmp` does, eight bytes at a time and inline.
    /// Encodings are short and mostly differ in their first words, where a call to `memcmp`
    /// (about twenty instructions before its first step) costs more than the comparison.
    #[inline]
    pub fn compare(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
        let common = a.len().min(b.len());
        let (mut a_rest, mut b_rest) = (&a[..common], &b[..common]);
        while let (Some((a_word, a_tail)), Some((b_word, b_tail))) =
            (a_rest.split_first_chunk::<8>(), b_rest.split_first_chunk::<8>())
        {
            if a_word != b_word {
                return u64::from_be_bytes(*a_word).cmp(&u64::from_be_bytes(*b_word));
            }
            (a_rest, b_rest) = (a_tail, b_tail);
        }
        for (x, y) in a_rest.iter().zip(b_rest) {
            if x != y {
                return x.cmp(y);
            }
        }
        a.len().cmp(&b.len())
    }

    /// Whether `bytes` starts with `prefix`, compared as [`compare`] does.
    #[inline]
    pub fn starts_with(bytes: &[u8], prefix: &[u8]) -> bool {
        bytes.len() >= prefix.len() && compare(&bytes[..prefix.len()], prefix).is_eq()
    }

    /// Decode a whole row.
    pub fn decode(bytes: &[u8]) -> Vec<Datum> {
        let mut out = Vec::new();
        decode_into(bytes, &mut out);
        out
    }

    /// Decode a whole row into `out`, replacing what it held (reusing its allocation).
    pub fn decode_into(bytes: &[u8], out: &mut Vec<Datum>) {
        out.clear();
        decode_onto(bytes, out);
    }

    /// Decode a whole row onto the end of `out` (a joined row's datums, one side after the
    /// other).
    pub fn decode_onto(mut bytes: &[u8], out: &mut Vec<Datum>) {
        while !bytes.is_empty() {
            let (datum, used) = decode_datum(bytes);
            out.push(datum);
            bytes = &bytes[used..];
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use proptest::prelude::*;

        fn datum() -> impl Strategy<Value = Datum> {
            prop_oneof![
                Just(Datum::Null),
                any::<bool>().prop_map(Datum::Bool),
                any::<i64>().prop_map(Datum::Int),
                any::<f64>().prop_filter("no NaN", |d| !d.is_nan()).prop_map(Datum::Double),
                "[a-c\\x00]{0,4}".prop_map(Datum::Text),
            ]
        }

        fn natural_cmp(a: &Datum, b: &Datum) -> std::cmp::Ordering {
            match (a, b) {
                (Datum::Int(x), Datum::Int(y)) => x.cmp(y),
                (Datum::Double(x), Datum::Double(y)) => {
                    let (x, y) = (if *x == 0.0 { 0.0 } else { *x }, if *y == 0.0 { 0.0 } else { *y });
                    x.total_cmp(&y)
                }
                (Datum::Text(x), Datum::Text(y)) => x.cmp(y),
                (Datum::Bool(x), Datum::Bool(y)) => x.cmp(y),
                _ => encode([a]).cmp(&encode([b])),
            }
        }

        #[test]
        fn equal_datums_hash_alike() {
            use std::hash::BuildHasher;
            let hasher = std::hash::RandomState::new();
            let nan_bits = f64::NAN.to_bits() ^ 1;
            for (a, b) in [
                (Datum::Double(0.0), Datum::Double(-0.0)),
                (Datum::Double(f64::NAN), Datum::Double(f64::from_bits(nan_bits))),
                (Datum::Text("a\0".into()), Datum::Text("a\0".into())),
            ] {
                assert_eq!(a, b);
                assert_eq!(hasher.hash_one(&a), hasher.hash_one(&b));
            }
            assert_ne!(hasher.hash_one(Datum::Int(0)), hasher.hash_one(Datum::Double(0.0)));
        }

        proptest! {
            #[test]
            fn compares_as_slices_do(
                a in proptest::collection::vec(0u8..3, 0..20),
                b in proptest::collection::vec(0u8..3, 0..20),
                shared in 0usize..20,
            ) {
                // A shared start makes long equal words, then a difference at any offset.
                let b: Vec<u8> = a.iter().take(shared).chain(&b).copied().collect();
                prop_assert_eq!(compare(&a, &b), a.cmp(&b));
                prop_assert_eq!(compare(&b, &a), b.cmp(&a));
                prop_assert_eq!(starts_with(&b, &a), b.starts_with(&a));
            }

            #[test]
            fn round_trips(row in proptest::collection::vec(datum(), 0..5)) {
                let decoded = decode(&encode(&row));
                prop_assert_eq!(encode(&decoded), encode(&row));
            }

            #[test]
            fn bytes_order_as_values(a in datum(), b in datum()) {
                prop_assert_eq!(encode([&a]).cmp(&encode([&b])), natural_cmp(&a, &b));
            }

            #[test]
            fn datums_order_as_their_bytes(a in datum(), b in datum(), nan: bool) {
                let a = if nan { Datum::Double(f64::NAN) } else { a };
                prop_assert_eq!(a.cmp(&b), encode([&a]).cmp(&encode([&b])));
            }

            #[test]
            fn complement_reverses_order(a in datum(), b in datum()) {
                let (mut x, mut y) = (Vec::new(), Vec::new());
                encode_datum_descending(&a, &mut x);
                encode_datum_descending(&b, &mut y);
                prop_assert_eq!(x.cmp(&y), natural_cmp(&b, &a));
                prop_assert_eq!(datum_len(&x, true), encode([&a]).len());
            }

            #[test]
            fn the_best_rank_has_the_greatest_bytes(a in datum(), b in datum(), descending: bool) {
                let (mut x, mut y) = (Vec::new(), Vec::new());
                encode_rank(&a, descending, &mut x);
                encode_rank(&b, descending, &mut y);
                let better = if descending { natural_cmp(&a, &b) } else { natural_cmp(&b, &a) };
                prop_assert_eq!(x.cmp(&y), better);
                x.extend_from_slice(b"row");
                prop_assert_eq!(after_rank(&x, descending), b"row");
            }
        }

        proptest! {
            #[test]
            fn rows_encoded_end_to_end_are_each_row_encoded(
                rows in proptest::collection::vec(proptest::collection::vec(datum(), 0..4), 0..8)
            ) {
                let mut together = super::super::ByteRows::default();
                for row in &rows {
                    together.push_row(row);
                }
                prop_assert_eq!(together.len(), rows.len());
                let apart: Vec<Vec<u8>> = rows.iter().map(encode).collect();
                prop_assert!(together.iter().eq(apart.iter().map(Vec::as_slice)));
            }
        }
    }
}
