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

/// Runs a listing. `scan(start, n)` returns up to `n` entries with keys
/// `>= start`, in byte order; values stay undecoded until they are listed.
pub fn list_page<V, E>(
    query: &ListQuery,
    mut scan: impl FnMut(&[u8], usize) -> Result<Vec<(Vec<u8>, V)>, E>,
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
    let mut start = match after {
        Some(a) if a >= prefix => {
            let mut s = a.to_vec();
            s.push(0);
            s
        }
        _ => prefix.to_vec(),
    };
    let delimiter = query
        .delimiter
        .as_deref()
        .filter(|d| !d.is_empty())
        .map(str::as_bytes);
    let batch = (query.limit + 1).min(1000);
    'scan: loop {
        let rows = scan(&start, batch)?;
        let exhausted = rows.len() < batch;
        let Some(last_key) = rows.last().map(|(k, _)| k.clone()) else {
            break;
        };
        for (key, value) in rows {
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
                        Some(next) => start = next,
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
        start = last_key;
        start.push(0);
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
        let page = list_page::<(), ()>(&q, |start, n| {
            Ok(sorted
                .iter()
                .filter(|k| k.as_slice() >= start)
                .take(n)
                .map(|k| (k.clone(), ()))
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
    fn successor_skips_the_whole_prefix() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[b'a', 0xff]), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(&[0xff]), None);
    }
}
