//! Sizes the workload spreads over a range: each message's value
//! ([`MessageSize`]) and each transaction's count of messages ([`TxnSize`]).
//! Both are given as `N` or `LEAST..MOST` on the command line.

use checker::MessageId;
use rand::Rng;

/// `N` or `LEAST..MOST` of `noun` (in `unit`) as the least and the most;
/// Err says what `text` should have been, `example` being a valid range.
fn parse_span(
    text: &str,
    (noun, unit): (&str, &str),
    example: &str,
) -> Result<(usize, usize), String> {
    let number = |t: &str| {
        t.trim().parse::<usize>().map_err(|_| {
            format!("{text:?} is not a {noun} {unit}, N or LEAST..MOST (e.g. {example})")
        })
    };
    let (least, most) = match text.split_once("..") {
        Some((least, most)) => (number(least)?, number(most)?),
        None => (number(text)?, number(text)?),
    };
    if least > most {
        return Err(format!("{text:?}: the least {noun} is more than the most"));
    }
    Ok((least, most))
}

/// `least` alone when it is `most` too, else `least..most`.
fn show_span(f: &mut std::fmt::Formatter<'_>, least: usize, most: usize) -> std::fmt::Result {
    if least == most {
        write!(f, "{least}")
    } else {
        write!(f, "{least}..{most}")
    }
}

/// How big each message's value is: one size, or sizes spread evenly over a
/// range, each message's its own (and the same for every resend of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageSize {
    pub least: usize,
    pub most: usize,
}

impl MessageSize {
    /// `message`'s size: Fibonacci hashing of its index spreads consecutive
    /// messages over the whole range.
    pub fn of(self, message: MessageId) -> usize {
        let span = (self.most - self.least) as u64 + 1;
        let spread = message.index.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        self.least + (spread % span) as usize
    }
}

impl std::fmt::Display for MessageSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        show_span(f, self.least, self.most)
    }
}

impl std::str::FromStr for MessageSize {
    type Err = String;

    /// `N` or `LEAST..MOST`, in bytes.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (least, most) = parse_span(text, ("size", "in bytes"), "100..50000")?;
        Ok(MessageSize { least, most })
    }
}

/// How many messages each transaction holds: one count, or counts drawn
/// evenly from a range, each transaction its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnSize {
    pub least: usize,
    pub most: usize,
}

impl TxnSize {
    /// The default: each transaction holds a random 1 to 10 messages.
    pub const DEFAULT: TxnSize = TxnSize { least: 1, most: 10 };

    /// The next transaction's size, drawn from `rng`.
    pub fn draw(self, rng: &mut impl Rng) -> usize {
        rng.random_range(self.least..=self.most)
    }
}

impl std::fmt::Display for TxnSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        show_span(f, self.least, self.most)
    }
}

impl std::str::FromStr for TxnSize {
    type Err = String;

    /// `N` or `LEAST..MOST` messages, at least one.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (least, most) = parse_span(text, ("count", "of messages"), "1..10")?;
        if least == 0 {
            return Err(format!("{text:?}: a transaction holds at least 1 message"));
        }
        Ok(TxnSize { least, most })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn message_sizes_parse_round_trip_and_spread_over_their_range() {
        let fixed: MessageSize = "100".parse().unwrap();
        assert_eq!((fixed.least, fixed.most), (100, 100));
        let range: MessageSize = " 100..50000".parse().unwrap();
        assert_eq!(range.to_string().parse::<MessageSize>(), Ok(range));
        assert!("500..100".parse::<MessageSize>().is_err());
        assert!("100..".parse::<MessageSize>().is_err());
        let sizes: Vec<usize> = (0..1000)
            .map(|index| range.of(MessageId { producer: 0, index }))
            .collect();
        assert!(sizes.iter().all(|s| (100..=50000).contains(s)));
        // Consecutive messages land all over the range, not in a ramp.
        let tenths = sizes.iter().map(|s| (s - 100) * 10 / 49901);
        let buckets = tenths.fold([0; 10], |mut b, t| {
            b[t] += 1;
            b
        });
        assert!(
            buckets.iter().all(|&n| (70..=130).contains(&n)),
            "{buckets:?}"
        );
        assert_eq!(
            fixed.of(MessageId {
                producer: 3,
                index: 7
            }),
            100
        );
    }

    #[test]
    fn transaction_sizes_parse_within_bounds_and_draw_every_count_of_the_range() {
        assert_eq!("4".parse::<TxnSize>(), Ok(TxnSize { least: 4, most: 4 }));
        let range: TxnSize = "1..10".parse().unwrap();
        assert_eq!(range, TxnSize::DEFAULT);
        assert_eq!(range.to_string(), "1..10");
        let err = "0..3".parse::<TxnSize>().unwrap_err();
        assert!(err.contains("at least 1 message"), "{err}");
        let err = "5..2".parse::<TxnSize>().unwrap_err();
        assert!(err.contains("least count is more"), "{err}");
        assert!("many".parse::<TxnSize>().unwrap_err().contains("1..10"));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut seen = [0; 11];
        for _ in 0..1000 {
            seen[range.draw(&mut rng)] += 1;
        }
        assert_eq!(seen[0], 0);
        assert!(seen[1..].iter().all(|&n| n > 50), "{seen:?}");
    }
}
