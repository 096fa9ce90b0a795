//! Decimal numbers written straight into a byte buffer, for the two texts made
//! once per send at a client's full speed: the record value's identity
//! ([`crate::payload`]) and the history's invoke and ack lines.
//!
//! `itoa` formats into a buffer of its own, and copying its digits out (a
//! `memmove` call per number, the length not being known in advance) cost as
//! much as formatting them; so did a chain of divisions by 100, two digits at a
//! time. Here eight digits take a few multiplications, and a number is one or a
//! few 8-byte stores.

/// A buffer filled from the front. A number's last store may reach up to
/// [`Cursor::SLACK`] bytes past its digits, so the buffer needs that much room
/// past the text; the bytes it reaches are left holding `fill`.
pub struct Cursor<'a> {
    buf: &'a mut [u8],
    len: usize,
    /// `fill` in every byte.
    fill: u64,
}

impl<'a> Cursor<'a> {
    pub const SLACK: usize = 8;

    pub fn new(buf: &'a mut [u8], fill: u8) -> Cursor<'a> {
        Cursor {
            buf,
            len: 0,
            fill: u64::from_le_bytes([fill; 8]),
        }
    }

    /// How much has been written.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline(always)]
    pub fn text(&mut self, text: &[u8]) {
        self.buf[self.len..self.len + text.len()].copy_from_slice(text);
        self.len += text.len();
    }

    /// The first `len` bytes of `text`. All of `text` is copied, and what is
    /// past `len` lands in the buffer behind: a copy of a size known when
    /// compiling is a few stores, one of another size a `memmove` call.
    #[inline(always)]
    pub fn text_of<const N: usize>(&mut self, text: &[u8; N], len: usize) {
        assert!(len <= N);
        self.buf[self.len..self.len + N].copy_from_slice(text);
        self.len += len;
    }

    /// `n` in decimal.
    #[inline(always)]
    pub fn number(&mut self, n: u64) {
        const E8: u64 = 100_000_000;
        if n < 10 {
            // Producers, attempts and partitions, nearly always.
            self.text(&[b'0' + n as u8]);
        } else if n < E8 {
            self.leading(n as u32);
        } else if n < E8 * E8 {
            self.leading((n / E8) as u32);
            self.text(&eight_digits((n % E8) as u32));
        } else {
            self.leading((n / (E8 * E8)) as u32);
            self.text(&eight_digits((n / E8 % E8) as u32));
            self.text(&eight_digits((n % E8) as u32));
        }
    }

    /// `n` (below 10^8) without leading zeros: all eight digits shifted so that
    /// the significant ones come first, `fill` shifted in behind them, stored at
    /// once, and the length advanced by as many digits.
    #[inline(always)]
    fn leading(&mut self, n: u32) {
        let count = n.checked_ilog10().unwrap_or(0) as usize + 1;
        let unused = 8 * (8 - count) as u32;
        let digits = u64::from_le_bytes(eight_digits(n)) >> unused;
        let fill = self.fill.checked_shl(64 - unused).unwrap_or(0);
        self.buf[self.len..self.len + 8].copy_from_slice(&(digits | fill).to_le_bytes());
        self.len += count;
    }
}

/// The eight decimal digits of `n` (below 10^8), leading zeros included, most
/// significant first. Splits into halves in 32-bit lanes, then quarters in 16-bit
/// lanes, then digits in bytes, every lane at once: each step a multiplication by
/// a reciprocal (`x * 10_486 >> 20` is `x / 100` below 10,000; `x * 103 >> 10` is
/// `x / 10` below 100).
#[inline(always)]
fn eight_digits(n: u32) -> [u8; 8] {
    let n = u64::from(n);
    let halves = (n / 10_000) | ((n % 10_000) << 32);
    let hundreds = ((halves * 10_486) >> 20) & 0x0000_007f_0000_007f;
    let quarters = hundreds | ((halves - hundreds * 100) << 16);
    let tens = ((quarters * 103) >> 10) & 0x000f_000f_000f_000f;
    let digits = tens | ((quarters - tens * 10) << 8);
    (digits + 0x3030_3030_3030_3030).to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn eight_digits_are_the_zero_padded_decimal(n in 0..100_000_000u32) {
            proptest::prop_assert_eq!(eight_digits(n).to_vec(), format!("{n:08}").into_bytes());
        }

        /// Numbers of every length, each after some text, read back as Rust
        /// writes them, with `fill` in whatever the last store reached.
        #[test]
        fn numbers_are_their_decimal_and_the_fill_behind(
            numbers in proptest::collection::vec((0..u64::MAX, 0..21u32), 1..6),
        ) {
            let mut buf = [b'?'; 6 * 22 + Cursor::SLACK];
            let mut cursor = Cursor::new(&mut buf, b'.');
            let mut expected = String::new();
            for (n, digits) in numbers {
                let n = 10u64.checked_pow(digits).map_or(n, |m| n % m);
                cursor.text(b":");
                cursor.number(n);
                expected.push_str(&format!(":{n}"));
            }
            let len = cursor.len();
            proptest::prop_assert_eq!(&buf[..len], expected.as_bytes());
            // Behind the text: fill as far as a store reached, then untouched.
            let behind = buf[len..].iter().take_while(|&&b| b == b'.').count();
            proptest::prop_assert!(behind < Cursor::SLACK);
            proptest::prop_assert!(buf[len + behind..].iter().all(|&b| b == b'?'));
        }
    }

    #[test]
    fn the_extremes() {
        for n in [0, 9, 10, 99_999_999, 100_000_000, u64::MAX] {
            let mut buf = [0; 20 + Cursor::SLACK];
            let mut cursor = Cursor::new(&mut buf, b' ');
            cursor.number(n);
            let len = cursor.len();
            assert_eq!(&buf[..len], n.to_string().as_bytes());
        }
    }
}
