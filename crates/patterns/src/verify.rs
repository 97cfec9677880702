//! The exact check of one alternative against a flattened event, array consistency included.
//!
//! Conditions are tried in path order. Each positive condition picks a leaf its matchers accept
//! whose array membership agrees with the leaves picked so far (same element index for every
//! array both sit in); on a dead end the search backtracks. A condition with `exists: false` also
//! holds when no leaf of its path agrees with the membership picked so far — event-ruler decides
//! absence at that point of its walk, so fields sorted after it do not count.

use crate::compile::Alternative;
use crate::flatten::FlatEvent;

/// Whether `alternative` matches; `field_ids[k]` is the field id of its `k`-th condition.
pub(crate) fn verify(alternative: &Alternative, field_ids: &[u32], flat: &FlatEvent<'_>) -> bool {
    debug_assert_eq!(alternative.conditions.len(), field_ids.len());
    let mut membership = Vec::new();
    verify_from(alternative, field_ids, flat, 0, &mut membership)
}

fn verify_from(
    alternative: &Alternative,
    field_ids: &[u32],
    flat: &FlatEvent<'_>,
    k: usize,
    membership: &mut Vec<(u32, u32)>,
) -> bool {
    let Some(condition) = alternative.conditions.get(k) else {
        return true;
    };
    let leaves = flat.fields_for(field_ids[k]);
    if condition.absent_ok
        && !leaves
            .clone()
            .any(|leaf| consistent(membership, flat.membership(leaf)))
        && verify_from(alternative, field_ids, flat, k + 1, membership)
    {
        return true;
    }
    for leaf in leaves {
        let leaf_membership = flat.membership(leaf);
        if !consistent(membership, leaf_membership) {
            continue;
        }
        if !condition.matchers.iter().any(|m| m.matches(&leaf.leaf)) {
            continue;
        }
        let mark = membership.len();
        for &(array, index) in leaf_membership {
            if !membership.iter().any(|&(a, _)| a == array) {
                membership.push((array, index));
            }
        }
        if verify_from(alternative, field_ids, flat, k + 1, membership) {
            return true;
        }
        membership.truncate(mark);
    }
    false
}

/// Whether two memberships pick the same element of every array they share.
fn consistent(so_far: &[(u32, u32)], leaf: &[(u32, u32)]) -> bool {
    leaf.iter()
        .all(|&(array, index)| so_far.iter().all(|&(a, i)| a != array || i == index))
}
