//! A room's members as `/who` pages them: sorted as a person reads a list
//! (`ana` before `Bo`), keyed by the lowercase name, which is unique on the
//! server. A join, a leave or a rename is O(log n), and a page of `/who` is
//! O(log n) plus the page, whatever the room's size.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

/// The names in one room.
#[derive(Debug, Default)]
pub(super) struct Members {
    /// Lowercase name → the name as spelled.
    by_key: BTreeMap<String, String>,
}

/// One page of names, and whether more match after it.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Page {
    pub names: Vec<String>,
    pub more: bool,
}

impl Members {
    /// Builds the list from names in any order.
    #[cfg(test)]
    pub fn from_names(names: impl IntoIterator<Item = String>) -> Self {
        Self {
            by_key: names.into_iter().map(|n| (n.to_lowercase(), n)).collect(),
        }
    }

    pub fn insert(&mut self, name: &str) {
        self.by_key.insert(name.to_lowercase(), name.to_owned());
    }

    pub fn remove(&mut self, name: &str) {
        self.by_key.remove(&name.to_lowercase());
    }

    /// Those of `keys` (lowercase names, in list order) who are here, as
    /// spelled: the operators in a room, from the server's few.
    pub fn among(&self, keys: &BTreeSet<String>) -> Vec<String> {
        keys.iter()
            .filter_map(|key| self.by_key.get(key).cloned())
            .collect()
    }

    /// Whether the name whose lowercase form is `key` is here.
    pub fn contains(&self, key: &str) -> bool {
        self.by_key.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Every name, in list order.
    pub fn iter(&self) -> impl Iterator<Item = &String> {
        self.by_key.values()
    }

    /// At most `len` names starting with `prefix` (any letter case; all
    /// without one), after `after` in list order (from the first without).
    pub fn page(&self, prefix: Option<&str>, after: Option<&str>, len: usize) -> Page {
        let prefix = prefix.unwrap_or_default().to_lowercase();
        let after = after.map(str::to_lowercase);
        // Start at whichever is further: the prefix, or just past the cursor.
        let start = match after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix.clone()),
        };
        let mut matching = self
            .by_key
            .range((start, Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(&prefix))
            .map(|(_, name)| name.clone());
        let names: Vec<String> = matching.by_ref().take(len).collect();
        let more = matching.next().is_some();
        Page { names, more }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(names: &[&str]) -> Members {
        Members::from_names(names.iter().map(|n| (*n).to_owned()))
    }

    fn page(m: &Members, prefix: Option<&str>, after: Option<&str>, len: usize) -> Page {
        m.page(prefix, after, len)
    }

    fn names(names: &[&str], more: bool) -> Page {
        Page {
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            more,
        }
    }

    /// Names sort as a person reads them, and pages follow on from the cursor.
    #[test]
    fn pages_follow_the_cursor_in_reading_order() {
        let m = members(&["bo", "Ana", "cy", "anabel", "Di"]);
        assert_eq!(page(&m, None, None, 2), names(&["Ana", "anabel"], true));
        assert_eq!(
            page(&m, None, Some("anabel"), 2),
            names(&["bo", "cy"], true)
        );
        assert_eq!(page(&m, None, Some("cy"), 2), names(&["Di"], false));
        assert_eq!(page(&m, None, Some("zed"), 2), names(&[], false));
    }

    /// A prefix matches in any letter case, and a cursor before it changes nothing.
    #[test]
    fn a_prefix_limits_the_page_in_any_letter_case() {
        let m = members(&["bo", "Ana", "cy", "anabel", "ANDY", "b"]);
        assert_eq!(
            page(&m, Some("an"), None, 5),
            names(&["Ana", "anabel", "ANDY"], false)
        );
        assert_eq!(
            page(&m, Some("AN"), Some("ana"), 1),
            names(&["anabel"], true)
        );
        assert_eq!(
            page(&m, Some("b"), Some("a"), 5),
            names(&["b", "bo"], false)
        );
        assert_eq!(page(&m, Some("x"), None, 5), names(&[], false));
    }
}
