//! The order of hits and the top-k cut, shared by a shard's index and the
//! merge so that both rank exactly alike.

use std::cmp::Ordering;

use crate::Hit;

/// The order of results: higher score first, then document id ascending,
/// then shard (a total order, so every run ranks the same).
pub(crate) fn best_first(a: &Hit, b: &Hit) -> Ordering {
    by_score_then_id((a.score, &a.doc), (b.score, &b.doc)).then(a.shard.cmp(&b.shard))
}

/// Higher score first, then id ascending.
pub(crate) fn by_score_then_id(a: (f64, &str), b: (f64, &str)) -> Ordering {
    b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1))
}

/// Keeps the first `k` of `items` in `order`, sorted: linear selection, then
/// a sort of the `k` kept, rather than a sort of everything.
pub(crate) fn keep_top<T>(items: &mut Vec<T>, k: usize, order: impl Fn(&T, &T) -> Ordering) {
    if k == 0 {
        items.clear();
        return;
    }
    if items.len() > k {
        items.select_nth_unstable_by(k - 1, &order);
        items.truncate(k);
    }
    items.sort_unstable_by(order);
}

/// A score rounded to 4 decimal places. The rounded value is the double
/// nearest a short decimal, which JSON writes and reads back unchanged, so a
/// score ranks the same in a partial, in the merge and in a direct search.
pub(crate) fn round_score(score: f64) -> f64 {
    (score * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_top_selects_and_sorts() {
        let mut v = vec![5, 1, 9, 3, 7, 2];
        keep_top(&mut v, 3, |a, b| b.cmp(a));
        assert_eq!(v, vec![9, 7, 5]);
        keep_top(&mut v, 10, |a, b| a.cmp(b));
        assert_eq!(v, vec![5, 7, 9]);
        keep_top(&mut v, 0, |a, b| a.cmp(b));
        assert!(v.is_empty());
    }

    #[test]
    fn ties_break_by_doc_id() {
        assert_eq!(by_score_then_id((1.0, "b"), (1.0, "a")), Ordering::Greater);
        assert_eq!(by_score_then_id((2.0, "b"), (1.0, "a")), Ordering::Less);
    }
}
