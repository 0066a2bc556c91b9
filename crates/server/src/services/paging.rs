//! Pages of a listing, behind every service's `Marker`/`NextToken`.
//!
//! A marker names the first item of the next page by its key (unique in the listing), not only
//! by its index: a clean-up script deletes each page's items before boto3's paginator asks for
//! the next page, and an index would then skip as many items as were deleted (half of them, in
//! a loop that deletes everything it lists). The next page starts at that item; when it is gone
//! too, where it was, which a listing sorted by its keys knows exactly and any other approximates
//! by the index.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// A marker this server did not hand out.
#[derive(Debug)]
pub(crate) struct InvalidMarker;

/// Where the next page starts.
enum Marker {
    /// At this index: the marker of listings without keys is the number itself (moto's, which
    /// clients written against it expect).
    At(usize),
    /// At the item with this key, which was at this index: base64url of `<index>/<key>`,
    /// opaque as AWS's markers are.
    Item(usize, String),
}

fn encode(m: &Marker) -> String {
    match m {
        Marker::At(i) => i.to_string(),
        Marker::Item(i, k) => URL_SAFE_NO_PAD.encode(format!("{i}/{k}")),
    }
}

fn decode(m: &str) -> Option<Marker> {
    if let Ok(i) = m.parse() {
        return Some(Marker::At(i));
    }
    let plain = String::from_utf8(URL_SAFE_NO_PAD.decode(m).ok()?).ok()?;
    let (i, k) = plain.split_once('/')?;
    Some(Marker::Item(i.parse().ok()?, k.to_owned()))
}

/// At most `max` items from `marker` on, and the marker of the page after them. `key` gives an
/// item's key (`None` for listings without keys, paged by index); a listing keyed by names or
/// ARNs should come sorted by them, ascending or descending.
pub(crate) fn page<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> Option<String>,
    marker: Option<&str>,
    max: usize,
) -> Result<(Vec<T>, Option<String>), InvalidMarker> {
    let total = items.len();
    let start = match marker.map(decode) {
        None => 0,
        Some(None) => return Err(InvalidMarker),
        // One past the end is an empty page, not an error.
        Some(Some(Marker::At(i))) => i.min(total),
        Some(Some(Marker::Item(i, next))) => {
            let k = |t: &T| key(t);
            // Of items with that key (there should be one), the nearest to where it was: with
            // a repeated key, the first one would start the same page again and again.
            let found = (0..total)
                .filter(|&p| items.get(p).and_then(&key).as_ref() == Some(&next))
                .min_by_key(|&p| p.abs_diff(i));
            match found {
                Some(p) => p,
                None if items.is_sorted_by_key(k) => {
                    items.partition_point(|t| k(t).is_some_and(|k| k < next))
                }
                None if items.is_sorted_by(|a, b| k(a) >= k(b)) => {
                    items.partition_point(|t| k(t).is_some_and(|k| k > next))
                }
                None => i.min(total),
            }
        }
    };
    let end = start.saturating_add(max.max(1)).min(total);
    let next = (end < total).then(|| match items.get(end).and_then(&key) {
        Some(k) => encode(&Marker::Item(end, k)),
        None => encode(&Marker::At(end)),
    });
    let out = items.into_iter().skip(start).take(end - start).collect();
    Ok((out, next))
}

/// The key of a listed item that is its `name` member (an ARN, an ID).
pub(crate) fn member(name: &'static str) -> impl Fn(&Value) -> Option<String> {
    move |v| v.get(name).and_then(Value::as_str).map(str::to_owned)
}

/// The key of a listed item that is its `name` member lower-cased: IAM's names, unique
/// case-insensitively and listed in that order.
pub(crate) fn lowercase_member(name: &'static str) -> impl Fn(&Value) -> Option<String> {
    move |v| v.get(name).and_then(Value::as_str).map(str::to_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn pages_deleting(mut items: Vec<String>, max: usize) -> Vec<String> {
        let mut seen = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let (got, next) = page(items.clone(), |s| Some(s.clone()), marker.as_deref(), max)
                .expect("our own marker");
            items.retain(|i| !got.contains(i));
            seen.extend(got);
            match next {
                Some(m) => marker = Some(m),
                None => return seen,
            }
        }
    }

    #[test]
    fn deleting_each_page_while_paging_sees_every_item_in_any_order() {
        let all = names(&["a", "b", "c", "d", "e", "f", "g"]);
        assert_eq!(pages_deleting(all.clone(), 2), all);
        let mut desc = all.clone();
        desc.reverse();
        assert_eq!(pages_deleting(desc.clone(), 3), desc);
        let unsorted = names(&["d", "a", "g", "b", "f", "c", "e"]);
        assert_eq!(pages_deleting(unsorted.clone(), 2), unsorted);
    }

    #[test]
    fn when_the_next_item_is_gone_a_sorted_listing_resumes_where_it_was() {
        let (_, m) = page(names(&["a", "b", "c", "d"]), |s| Some(s.clone()), None, 2).unwrap();
        let (got, _) = page(
            names(&["a", "b", "d"]),
            |s| Some(s.clone()),
            m.as_deref(),
            2,
        )
        .unwrap();
        assert_eq!(got, names(&["d"]));
    }

    #[test]
    fn listings_without_keys_are_paged_by_index_and_strange_markers_are_refused() {
        let (got, m) = page(vec![1, 2, 3], |_| None, None, 2).unwrap();
        assert_eq!((got, m.as_deref()), (vec![1, 2], Some("2")));
        assert_eq!(
            page(vec![1, 2, 3], |_| None, Some("2"), 2).unwrap(),
            (vec![3], None)
        );
        assert_eq!(
            page(vec![1], |_| None, Some("10"), 2).unwrap(),
            (vec![], None)
        );
        assert!(page(vec![1], |_| None, Some("not-a-marker"), 2).is_err());
    }
}
