//! Deterministic documents from a seed: a splitmix64 stream per document and
//! words drawn from the vocabulary with a Zipf skew.
//!
//! Everything here is integer arithmetic, so a seed names the same corpus on
//! every machine, and every leaf of a tree generates the same corpus without
//! coordinating.

use super::Document;
use super::vocabulary::VOCABULARY;

/// Words in a generated title, inclusive.
const TITLE_WORDS: (u64, u64) = (2, 6);
/// Words in a generated body, inclusive; the mean (100) matches the index's
/// average document length.
const BODY_WORDS: (u64, u64) = (20, 180);
/// Words in a generated sentence, inclusive.
const SENTENCE_WORDS: (u64, u64) = (5, 14);
/// Title words skip the most frequent ranks, so titles read like titles.
const TITLE_SKIP_RANKS: usize = 60;

/// The `index`-th document of the corpus named by `seed`.
pub(super) fn document(seed: u64, index: usize, zipf: &Zipf) -> Document {
    let mut rng = SplitMix64::for_document(seed, index);
    let title_len = rng.between(TITLE_WORDS);
    let title: Vec<&str> = (0..title_len)
        .map(|_| zipf.word_from(&mut rng, TITLE_SKIP_RANKS))
        .collect();
    let mut text = String::new();
    let mut remaining = rng.between(BODY_WORDS);
    while remaining > 0 {
        let sentence_len = rng.between(SENTENCE_WORDS).min(remaining);
        remaining -= sentence_len;
        let words: Vec<&str> = (0..sentence_len).map(|_| zipf.word(&mut rng)).collect();
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&capitalized(&words.join(" ")));
        text.push('.');
    }
    Document {
        id: format!("doc-{index:06}"),
        title: capitalized(&title.join(" ")),
        text,
    }
}

fn capitalized(words: &str) -> String {
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Zipf's law with exponent 1 over the vocabulary: the word of rank `r` is
/// drawn with weight `1 / (r + 1)`, in integers so the draw is exact
/// everywhere.
pub(super) struct Zipf {
    words: Vec<&'static str>,
    /// `cumulative[r]` is the summed weight of ranks `0..=r`.
    cumulative: Vec<u64>,
}

impl Zipf {
    /// The distribution over the built-in vocabulary.
    pub(super) fn new() -> Self {
        const SCALE: u64 = 1 << 32;
        let words: Vec<&str> = VOCABULARY.split_whitespace().collect();
        let cumulative = (1..=words.len() as u64)
            .scan(0, |sum, rank| {
                *sum += SCALE / rank;
                Some(*sum)
            })
            .collect();
        Self { words, cumulative }
    }

    /// A word.
    fn word(&self, rng: &mut SplitMix64) -> &'static str {
        self.words[self.draw(rng)]
    }

    /// A word of rank `first` or rarer.
    fn word_from(&self, rng: &mut SplitMix64, first: usize) -> &'static str {
        self.words[self.draw_from(rng, first)]
    }

    /// A rank.
    fn draw(&self, rng: &mut SplitMix64) -> usize {
        self.draw_from(rng, 0)
    }

    /// A rank at or above `first`, with the weights of the ranks from there.
    fn draw_from(&self, rng: &mut SplitMix64, first: usize) -> usize {
        let below = if first == 0 {
            0
        } else {
            self.cumulative[first - 1]
        };
        let total = self.cumulative[self.cumulative.len() - 1];
        let x = below + rng.below(total - below);
        self.cumulative.partition_point(|&c| c <= x)
    }
}

/// splitmix64 (Steele, Lea and Flood, 2014): tiny, fast, and good enough to
/// make text; not for anything that needs unpredictability.
struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    /// The stream of document `index`: streams start 2^32 steps apart, so no
    /// two documents of a corpus share a number.
    fn for_document(seed: u64, index: usize) -> Self {
        let offset = (index as u64).wrapping_shl(32).wrapping_mul(Self::GAMMA);
        Self {
            state: seed.wrapping_add(offset),
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(Self::GAMMA);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; `n` > 0).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, (lo, hi): (u64, u64)) -> u64 {
        lo + self.below(hi - lo + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // The first outputs of the reference C implementation seeded with 0.
        let mut rng = SplitMix64 { state: 0 };
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn zipf_draws_frequent_ranks_more_often() {
        let zipf = Zipf::new();
        let mut rng = SplitMix64::for_document(7, 0);
        let mut counts = vec![0u32; zipf.words.len()];
        for _ in 0..100_000 {
            counts[zipf.draw(&mut rng)] += 1;
        }
        assert!(
            counts[0] > counts[10] && counts[10] > counts[200],
            "{counts:?}"
        );
        let titled = zipf.draw_from(&mut rng, TITLE_SKIP_RANKS);
        assert!((TITLE_SKIP_RANKS..zipf.words.len()).contains(&titled));
    }

    #[test]
    fn vocabulary_has_no_duplicates_and_holds_hello_world() {
        let words = Zipf::new().words;
        let mut sorted = words.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), words.len());
        assert!(words.contains(&"hello") && words.contains(&"world"));
        assert!(words.len() >= 300);
    }
}
