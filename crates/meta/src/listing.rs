//! Prefix/delimiter listing over an ordered key space, as S3 defines it.
//! Every common prefix is skipped with one seek, so a page costs about
//! `limit` seeks and reads whatever the size of the bucket.

/// What one page of a listing asks for.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub prefix: String,
    /// Any non-empty string; keys are rolled up at its first occurrence after the prefix.
    pub delimiter: Option<String>,
    /// Only keys (and common prefixes) strictly greater than this are listed.
    pub start_after: Option<String>,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListEntry<V> {
    Object(String, V),
    CommonPrefix(String),
}

impl<V> ListEntry<V> {
    pub fn name(&self) -> &str {
        match self {
            ListEntry::Object(k, _) => k,
            ListEntry::CommonPrefix(p) => p,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage<V> {
    pub entries: Vec<ListEntry<V>>,
    /// True when another entry follows the last one of this page.
    pub truncated: bool,
}

impl<V> ListPage<V> {
    pub fn try_map<W, E>(self, mut f: impl FnMut(V) -> Result<W, E>) -> Result<ListPage<W>, E> {
        let entries = self
            .entries
            .into_iter()
            .map(|e| {
                Ok(match e {
                    ListEntry::Object(k, v) => ListEntry::Object(k, f(v)?),
                    ListEntry::CommonPrefix(p) => ListEntry::CommonPrefix(p),
                })
            })
            .collect::<Result<_, E>>()?;
        Ok(ListPage {
            entries,
            truncated: self.truncated,
        })
    }
}

/// The smallest key greater than every key that starts with `prefix`, or
/// None when no such key exists.
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut s = prefix.to_vec();
    while let Some(last) = s.pop() {
        if last < u8::MAX {
            s.push(last + 1);
            return Some(s);
        }
    }
    None
}

/// A row of an ordered key space in which one key may hold several rows
/// (an object's versions), ordered by `sub`; `sub` is 0 where a key holds one.
pub struct Row<V> {
    pub key: Vec<u8>,
    pub sub: u64,
    pub value: V,
}

/// The first position strictly after row `sub` of `key`.
fn position_after(key: &[u8], sub: u64) -> (Vec<u8>, u64) {
    match sub.checked_add(1) {
        Some(next) => (key.to_vec(), next),
        None => {
            let mut k = key.to_vec();
            k.push(0);
            (k, 0)
        }
    }
}

/// Runs a listing. `scan(key, sub, n)` returns up to `n` rows at or after
/// position `(key, sub)`, in order; values stay undecoded until listed. With
/// `after_sub`, the listing resumes after that row of the `start_after` key
/// rather than after the whole key (version listings).
pub fn list_page<V, E>(
    query: &ListQuery,
    after_sub: Option<u64>,
    mut scan: impl FnMut(&[u8], u64, usize) -> Result<Vec<Row<V>>, E>,
) -> Result<ListPage<V>, E> {
    let mut page = ListPage {
        entries: Vec::new(),
        truncated: false,
    };
    if query.limit == 0 {
        return Ok(page);
    }
    let prefix = query.prefix.as_bytes();
    let after = query.start_after.as_deref().map(str::as_bytes);
    let (mut start, mut start_sub) = match after {
        Some(a) if a >= prefix => position_after(a, after_sub.unwrap_or(u64::MAX)),
        _ => (prefix.to_vec(), 0),
    };
    let delimiter = query
        .delimiter
        .as_deref()
        .filter(|d| !d.is_empty())
        .map(str::as_bytes);
    let batch = (query.limit + 1).min(1000);
    'scan: loop {
        let rows = scan(&start, start_sub, batch)?;
        let exhausted = rows.len() < batch;
        let Some(resume) = rows.last().map(|r| position_after(&r.key, r.sub)) else {
            break;
        };
        for Row { key, value, .. } in rows {
            if !key.starts_with(prefix) {
                break 'scan;
            }
            let rolled_up = delimiter.and_then(|d| {
                find(&key[prefix.len()..], d).map(|i| key[..prefix.len() + i + d.len()].to_vec())
            });
            match rolled_up {
                Some(cp) => {
                    // A common prefix at or before the marker was listed by an earlier page.
                    if after.is_none_or(|a| cp.as_slice() > a) {
                        if page.entries.len() == query.limit {
                            page.truncated = true;
                            break 'scan;
                        }
                        page.entries.push(ListEntry::CommonPrefix(utf8(cp.clone())));
                    }
                    match prefix_successor(&cp) {
                        Some(next) => (start, start_sub) = (next, 0),
                        None => break 'scan,
                    }
                    continue 'scan;
                }
                None => {
                    if page.entries.len() == query.limit {
                        page.truncated = true;
                        break 'scan;
                    }
                    page.entries.push(ListEntry::Object(utf8(key), value));
                }
            }
        }
        if exhausted {
            break;
        }
        (start, start_sub) = resume;
    }
    Ok(page)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn utf8(bytes: Vec<u8>) -> String {
    // Keys are validated as UTF-8 before they are stored, and a common prefix
    // ends with a whole delimiter, so it stays valid UTF-8 too.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(keys: &[&str], q: ListQuery) -> (Vec<String>, bool) {
        let mut sorted: Vec<Vec<u8>> = keys.iter().map(|k| k.as_bytes().to_vec()).collect();
        sorted.sort();
        let page = list_page::<(), ()>(&q, None, |start, sub, n| {
            Ok(sorted
                .iter()
                .filter(|k| (k.as_slice(), 0) >= (start, sub))
                .take(n)
                .map(|k| Row {
                    key: k.clone(),
                    sub: 0,
                    value: (),
                })
                .collect())
        })
        .unwrap();
        let names = page
            .entries
            .iter()
            .map(|e| match e {
                ListEntry::Object(k, _) => k.clone(),
                ListEntry::CommonPrefix(p) => format!("CP:{p}"),
            })
            .collect();
        (names, page.truncated)
    }

    fn q(prefix: &str, delimiter: Option<&str>, after: Option<&str>, limit: usize) -> ListQuery {
        ListQuery {
            prefix: prefix.into(),
            delimiter: delimiter.map(Into::into),
            start_after: after.map(Into::into),
            limit,
        }
    }

    const KEYS: &[&str] = &["a", "b/1", "b/2", "b/c/3", "c", "d/x", "é"];

    #[test]
    fn plain_listing_is_in_byte_order() {
        assert_eq!(run(KEYS, q("", None, None, 100)).0, KEYS.to_vec());
    }

    #[test]
    fn delimiter_rolls_up_common_prefixes() {
        let (names, truncated) = run(KEYS, q("", Some("/"), None, 100));
        assert_eq!(names, ["a", "CP:b/", "c", "CP:d/", "é"]);
        assert!(!truncated);
        assert_eq!(
            run(KEYS, q("b/", Some("/"), None, 100)).0,
            ["b/1", "b/2", "CP:b/c/"]
        );
    }

    #[test]
    fn pages_resume_after_a_common_prefix_marker() {
        let (names, truncated) = run(KEYS, q("", Some("/"), None, 2));
        assert_eq!(names, ["a", "CP:b/"]);
        assert!(truncated);
        let (names, _) = run(KEYS, q("", Some("/"), Some("b/"), 2));
        assert_eq!(names, ["c", "CP:d/"]);
        let (names, truncated) = run(KEYS, q("", Some("/"), Some("d/"), 2));
        assert_eq!(names, ["é"]);
        assert!(!truncated);
    }

    #[test]
    fn multi_character_delimiters_and_limits() {
        let keys = ["fooabbar", "fooabbaz", "foocd", "quux"];
        assert_eq!(
            run(&keys, q("", Some("ab"), None, 10)).0,
            ["CP:fooab", "foocd", "quux"]
        );
        assert_eq!(run(&keys, q("", None, None, 0)), (vec![], false));
        assert_eq!(
            run(&keys, q("", None, None, 4)),
            (keys.iter().map(|s| s.to_string()).collect(), false)
        );
        assert!(run(&keys, q("", None, None, 3)).1);
    }

    #[test]
    fn version_rows_resume_inside_a_key() {
        // Three versions of "k" (subs 1..=3) and one of "m".
        let rows = [("k", 1), ("k", 2), ("k", 3), ("m", 1)];
        let listing = |after: Option<&str>, after_sub: Option<u64>, limit| {
            let query = q("", None, after, limit);
            list_page::<u64, ()>(&query, after_sub, |start, sub, n| {
                Ok(rows
                    .iter()
                    .filter(|(k, s)| (k.as_bytes(), *s) >= (start, sub))
                    .take(n)
                    .map(|(k, s)| Row {
                        key: k.as_bytes().to_vec(),
                        sub: *s,
                        value: *s,
                    })
                    .collect())
            })
            .unwrap()
        };
        let subs = |page: ListPage<u64>| -> Vec<(String, u64)> {
            page.entries
                .into_iter()
                .filter_map(|e| match e {
                    ListEntry::Object(k, s) => Some((k, s)),
                    ListEntry::CommonPrefix(_) => None,
                })
                .collect()
        };
        let first = listing(None, None, 2);
        assert!(first.truncated);
        assert_eq!(subs(first), [("k".into(), 1), ("k".into(), 2)]);
        assert_eq!(
            subs(listing(Some("k"), Some(2), 10)),
            [("k".into(), 3), ("m".into(), 1)]
        );
        assert_eq!(subs(listing(Some("k"), None, 10)), [("m".into(), 1)]);
    }

    #[test]
    fn successor_skips_the_whole_prefix() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[b'a', 0xff]), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(&[0xff]), None);
    }
}
