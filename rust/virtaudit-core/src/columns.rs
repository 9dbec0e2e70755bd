//! Column builders for the scan's tables. Arrow's builders keep a validity bitmap up to date on every
//! append, through calls that did not inline: with some 900 appends per status file (30-odd columns per
//! device) those calls were about 6% of a scan. Here a value is pushed onto a `Vec`, and its validity
//! recorded inline (see [`Validity`]), packed into a bitmap once, when the column is finished. The arrays are
//! the same (a column without nulls gets no null buffer, a null slot holds the default value).

use std::sync::Arc;

use arrow_array::builder::make_view;
use arrow_array::types::ArrowPrimitiveType;
use arrow_array::{BooleanArray, PrimitiveArray, StringViewArray};
use arrow_buffer::{BooleanBuffer, Buffer, NullBuffer, ScalarBuffer};

/// Which rows of a column hold a value: nothing but a flag while every row does (most columns never
/// see a null: a branch per row instead of a store), then one `bool` per row from the first null on,
/// packed into a bitmap when the column is finished.
#[derive(Default)]
struct Validity {
    /// One flag per row, filled in from the first null on (empty before).
    valid: Vec<bool>,
    /// Whether any row is null (else the column gets no null buffer, as from arrow's builders).
    any_null: bool,
}

impl Validity {
    /// Row `row` (the rows before it all recorded) is valid or not.
    #[inline]
    fn append(&mut self, valid: bool, row: usize) {
        if self.any_null {
            self.valid.push(valid);
        } else if !valid {
            self.first_null(row, 1);
        }
    }

    /// Rows `row..row + n` are all valid, or all null.
    fn append_n(&mut self, valid: bool, n: usize, row: usize) {
        if self.any_null {
            self.valid.resize(self.valid.len() + n, valid);
        } else if !valid && n > 0 {
            self.first_null(row, n);
        }
    }

    /// The rows before `row` were all valid; the `n` from it are null.
    #[cold]
    fn first_null(&mut self, row: usize, n: usize) {
        self.valid.resize(row, true);
        self.valid.resize(row + n, false);
        self.any_null = true;
    }

    fn finish(&mut self) -> Option<NullBuffer> {
        let valid = std::mem::take(&mut self.valid);
        let any_null = std::mem::take(&mut self.any_null);
        any_null.then(|| NullBuffer::new(packed(&valid)))
    }
}

/// The flags as a bitmap, least significant bit first, eight at a time: the eight bytes of eight
/// `bool`s (each 0 or 1) read as one word, whose multiplication by `0x0102_0408_1020_4080` gathers
/// them into its top byte. (`BooleanBuffer::collect_bool`, a closure call per bit, was 1% of a scan.)
fn packed(bits: &[bool]) -> BooleanBuffer {
    let mut bytes = Vec::with_capacity(bits.len().div_ceil(8));
    let mut chunks = bits.chunks_exact(8);
    for chunk in chunks.by_ref() {
        let word = u64::from_le_bytes(std::array::from_fn(|k| u8::from(chunk[k])));
        bytes.push((word.wrapping_mul(0x0102_0408_1020_4080) >> 56) as u8);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        bytes.push((0..tail.len()).fold(0u8, |byte, k| byte | u8::from(tail[k]) << k));
    }
    BooleanBuffer::new(Buffer::from_vec(bytes), 0, bits.len())
}

fn shrink_if_loose<T>(v: &mut Vec<T>) {
    if v.capacity() > v.len() + v.len() / 4 + 64 {
        v.shrink_to_fit();
    }
}

/// A column of numbers (arrow's `PrimitiveBuilder`, for the calls the tables make).
pub(crate) struct PrimBuilder<T: ArrowPrimitiveType> {
    values: Vec<T::Native>,
    nulls: Validity,
}

impl<T: ArrowPrimitiveType> Default for PrimBuilder<T> {
    fn default() -> Self {
        PrimBuilder {
            values: Vec::new(),
            nulls: Validity::default(),
        }
    }
}

impl<T: ArrowPrimitiveType> PrimBuilder<T> {
    #[inline]
    pub(crate) fn append_value(&mut self, value: T::Native) {
        self.nulls.append(true, self.values.len());
        self.values.push(value);
    }

    #[inline]
    pub(crate) fn append_option(&mut self, value: Option<T::Native>) {
        self.nulls.append(value.is_some(), self.values.len());
        self.values.push(value.unwrap_or_default());
    }

    pub(crate) fn append_value_n(&mut self, value: T::Native, n: usize) {
        self.nulls.append_n(true, n, self.values.len());
        self.values.resize(self.values.len() + n, value);
    }

    pub(crate) fn reserve(&mut self, rows: usize) {
        self.values.reserve(rows);
    }

    pub(crate) fn finish(&mut self) -> PrimitiveArray<T> {
        shrink_if_loose(&mut self.values);
        let values = ScalarBuffer::from(std::mem::take(&mut self.values));
        PrimitiveArray::new(values, self.nulls.finish())
    }
}

/// A column of booleans (arrow's `BooleanBuilder`, for the calls the tables make).
#[derive(Default)]
pub(crate) struct BoolBuilder {
    values: Vec<bool>,
    nulls: Validity,
}

impl BoolBuilder {
    #[inline]
    pub(crate) fn append_value(&mut self, value: bool) {
        self.nulls.append(true, self.values.len());
        self.values.push(value);
    }

    #[inline]
    pub(crate) fn append_option(&mut self, value: Option<bool>) {
        self.nulls.append(value.is_some(), self.values.len());
        self.values.push(value.unwrap_or_default());
    }

    pub(crate) fn append_slice(&mut self, values: &[bool]) {
        self.nulls.append_n(true, values.len(), self.values.len());
        self.values.extend_from_slice(values);
    }

    pub(crate) fn reserve(&mut self, rows: usize) {
        self.values.reserve(rows);
    }

    pub(crate) fn finish(&mut self) -> BooleanArray {
        let values = std::mem::take(&mut self.values);
        BooleanArray::new(packed(&values), self.nulls.finish())
    }
}

/// A Utf8View column built in one data block. Unlike arrow's builder it can repeat the previous value
/// by copying its 16-byte view, so a document's path and host are stored once, not once per row.
#[derive(Default)]
pub(crate) struct StringViewBuilder {
    views: Vec<u128>,
    data: Vec<u8>,
    nulls: Validity,
}

impl StringViewBuilder {
    fn view_of(&mut self, value: &str) -> u128 {
        let bytes = value.as_bytes();
        if bytes.len() <= 12 {
            return make_view(bytes, 0, 0);
        }
        let offset = u32::try_from(self.data.len()).expect("batch strings stay below 4 GiB");
        self.data.extend_from_slice(bytes);
        make_view(bytes, 0, offset)
    }

    pub(crate) fn append_value(&mut self, value: &str) {
        let view = self.view_of(value);
        self.nulls.append(true, self.views.len());
        self.views.push(view);
    }

    /// Appends `value` `n` times, storing its bytes once.
    pub(crate) fn append_repeated(&mut self, value: &str, n: usize) {
        if n == 0 {
            return;
        }
        let view = self.view_of(value);
        self.nulls.append_n(true, n, self.views.len());
        self.views.extend(std::iter::repeat_n(view, n));
    }

    /// Appends every value of a list (none null): one reservation and one validity update for all.
    pub(crate) fn append_all<'s>(&mut self, values: impl ExactSizeIterator<Item = &'s str>) {
        let n = values.len();
        self.nulls.append_n(true, n, self.views.len());
        self.views.reserve(n);
        for value in values {
            let view = self.view_of(value);
            self.views.push(view);
        }
    }

    pub(crate) fn append_option(&mut self, value: Option<&str>) {
        match value {
            Some(v) => self.append_value(v),
            None => {
                self.nulls.append(false, self.views.len());
                self.views.push(0);
            }
        }
    }

    /// Room for `rows` more rows holding `bytes` more bytes of long strings.
    pub(crate) fn reserve(&mut self, rows: usize, bytes: usize) {
        self.views.reserve(rows);
        self.data.reserve(bytes);
    }

    pub(crate) fn finish(&mut self) -> StringViewArray {
        // An estimate from `reserve` that came out too high must not stay allocated with the table.
        shrink_if_loose(&mut self.views);
        shrink_if_loose(&mut self.data);
        let views = ScalarBuffer::from(std::mem::take(&mut self.views));
        let data = Buffer::from_vec(std::mem::take(&mut self.data));
        let nulls = self.nulls.finish();
        // SAFETY: every view was made by `make_view` from a `&str` (valid UTF-8) whose bytes, when longer
        // than 12, were appended to `data` (block 0) at the offset recorded in the view; null slots hold
        // the zero view. That is exactly what `try_new` would check, byte by byte, at a cost per row.
        unsafe { StringViewArray::new_unchecked(views, Arc::from([data]), nulls) }
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::Array;
    use arrow_array::builder::{BooleanBuilder, UInt32Builder};
    use arrow_array::types::UInt32Type;

    use super::*;

    #[test]
    fn flags_are_packed_least_significant_bit_first() {
        for len in 0..80usize {
            for seed in [0x9E37_79B9u64, 0xFFFF_FFFF, 1, 0] {
                let bits: Vec<bool> = (0..len).map(|i| (seed >> (i % 32)) & 1 == 1).collect();
                let expected = BooleanBuffer::collect_bool(len, |i| bits[i]);
                assert_eq!(packed(&bits), expected, "{len} {seed:x}");
            }
        }
    }

    #[test]
    fn columns_equal_arrows_own_builders() {
        // Every mix of values and nulls over a few lengths, including none null (no null buffer).
        for len in [0usize, 1, 7, 8, 9, 63, 64, 65, 200] {
            for pattern in [
                0u64,
                1,
                0b1011,
                1 << 5,
                1 << 63,
                u64::MAX,
                0x5555_5555_5555_5555,
            ] {
                let valid = |i: usize| pattern == 0 || (pattern >> (i % 64)) & 1 == 0;
                let (mut ours, mut theirs) =
                    (PrimBuilder::<UInt32Type>::default(), UInt32Builder::new());
                let (mut our_flags, mut their_flags) =
                    (BoolBuilder::default(), BooleanBuilder::new());
                let mut our_strings = StringViewBuilder::default();
                let mut their_strings = arrow_array::builder::StringViewBuilder::new();
                for i in 0..len {
                    let value = valid(i).then_some(i as u32 * 7);
                    ours.append_option(value);
                    theirs.append_option(value);
                    let flag = valid(i).then_some(i % 3 == 0);
                    our_flags.append_option(flag);
                    their_flags.append_option(flag);
                    let text = format!("value number {i}");
                    let text = valid(i).then_some(&text[..i % (text.len() + 1)]);
                    our_strings.append_option(text);
                    their_strings.append_option(text);
                }
                our_strings.append_repeated("a value of some length", 2);
                their_strings.append_value("a value of some length");
                their_strings.append_value("a value of some length");
                let (a, b) = (our_strings.finish(), their_strings.finish());
                assert_eq!(a, b, "{len} {pattern:x}");
                assert_eq!(a.nulls().is_some(), b.nulls().is_some());
                ours.append_value_n(5, 3);
                theirs.append_value_n(5, 3);
                our_flags.append_slice(&[true, false]);
                their_flags.append_slice(&[true, false]);
                let (a, b) = (ours.finish(), theirs.finish());
                assert_eq!(a, b, "{len} {pattern:x}");
                assert_eq!(a.nulls().is_some(), b.nulls().is_some());
                let (a, b) = (our_flags.finish(), their_flags.finish());
                assert_eq!(a, b, "{len} {pattern:x}");
                assert_eq!(a.nulls().is_some(), b.nulls().is_some());
            }
        }
    }
}
