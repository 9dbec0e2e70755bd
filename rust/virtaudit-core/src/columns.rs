//! Column builders for the scan's tables. Arrow's builders keep a validity bitmap up to date on every
//! append, through calls that did not inline: with some 900 appends per status file (30-odd columns per
//! device) those calls were about 6% of a scan. Here a value and its validity are each pushed onto a
//! `Vec`, and the validity is packed into a bitmap once, when the column is finished. The arrays are
//! the same (a column without nulls gets no null buffer, a null slot holds the default value).

use std::sync::Arc;

use arrow_array::builder::make_view;
use arrow_array::types::ArrowPrimitiveType;
use arrow_array::{BooleanArray, PrimitiveArray, StringViewArray};
use arrow_buffer::{BooleanBuffer, Buffer, NullBuffer, ScalarBuffer};

/// Which rows of a column hold a value, one `bool` per row until the column is finished.
#[derive(Default)]
struct Validity {
    valid: Vec<bool>,
    /// Whether any row is null (else the column gets no null buffer, as from arrow's builders).
    any_null: bool,
}

impl Validity {
    #[inline]
    fn append(&mut self, valid: bool) {
        self.valid.push(valid);
        self.any_null |= !valid;
    }

    fn append_n(&mut self, valid: bool, n: usize) {
        self.valid.resize(self.valid.len() + n, valid);
        self.any_null |= !valid && n > 0;
    }

    fn reserve(&mut self, rows: usize) {
        self.valid.reserve(rows);
    }

    fn finish(&mut self) -> Option<NullBuffer> {
        let valid = std::mem::take(&mut self.valid);
        let any_null = std::mem::take(&mut self.any_null);
        any_null.then(|| NullBuffer::new(packed(&valid)))
    }
}

fn packed(bits: &[bool]) -> BooleanBuffer {
    BooleanBuffer::collect_bool(bits.len(), |i| bits[i])
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
        self.values.push(value);
        self.nulls.append(true);
    }

    #[inline]
    pub(crate) fn append_option(&mut self, value: Option<T::Native>) {
        self.values.push(value.unwrap_or_default());
        self.nulls.append(value.is_some());
    }

    pub(crate) fn append_value_n(&mut self, value: T::Native, n: usize) {
        self.values.resize(self.values.len() + n, value);
        self.nulls.append_n(true, n);
    }

    pub(crate) fn reserve(&mut self, rows: usize) {
        self.values.reserve(rows);
        self.nulls.reserve(rows);
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
        self.values.push(value);
        self.nulls.append(true);
    }

    #[inline]
    pub(crate) fn append_option(&mut self, value: Option<bool>) {
        self.values.push(value.unwrap_or_default());
        self.nulls.append(value.is_some());
    }

    pub(crate) fn append_slice(&mut self, values: &[bool]) {
        self.values.extend_from_slice(values);
        self.nulls.append_n(true, values.len());
    }

    pub(crate) fn reserve(&mut self, rows: usize) {
        self.values.reserve(rows);
        self.nulls.reserve(rows);
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
        self.views.push(view);
        self.nulls.append(true);
    }

    /// Appends `value` `n` times, storing its bytes once.
    pub(crate) fn append_repeated(&mut self, value: &str, n: usize) {
        if n == 0 {
            return;
        }
        let view = self.view_of(value);
        self.views.extend(std::iter::repeat_n(view, n));
        self.nulls.append_n(true, n);
    }

    /// Appends every value of a list (none null): one reservation and one validity update for all.
    pub(crate) fn append_all<'s>(&mut self, values: impl ExactSizeIterator<Item = &'s str>) {
        let n = values.len();
        self.views.reserve(n);
        for value in values {
            let view = self.view_of(value);
            self.views.push(view);
        }
        self.nulls.append_n(true, n);
    }

    pub(crate) fn append_option(&mut self, value: Option<&str>) {
        match value {
            Some(v) => self.append_value(v),
            None => {
                self.views.push(0);
                self.nulls.append(false);
            }
        }
    }

    /// Room for `rows` more rows holding `bytes` more bytes of long strings.
    pub(crate) fn reserve(&mut self, rows: usize, bytes: usize) {
        self.views.reserve(rows);
        self.nulls.reserve(rows);
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
    fn columns_equal_arrows_own_builders() {
        // Every mix of values and nulls over a few lengths, including none null (no null buffer).
        for len in [0usize, 1, 7, 8, 9, 63, 64, 65, 200] {
            for pattern in [0u64, 1, 0b1011, u64::MAX, 0x5555_5555_5555_5555] {
                let valid = |i: usize| pattern == 0 || (pattern >> (i % 64)) & 1 == 0;
                let (mut ours, mut theirs) =
                    (PrimBuilder::<UInt32Type>::default(), UInt32Builder::new());
                let (mut our_flags, mut their_flags) =
                    (BoolBuilder::default(), BooleanBuilder::new());
                for i in 0..len {
                    let value = valid(i).then_some(i as u32 * 7);
                    ours.append_option(value);
                    theirs.append_option(value);
                    let flag = valid(i).then_some(i % 3 == 0);
                    our_flags.append_option(flag);
                    their_flags.append_option(flag);
                }
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
