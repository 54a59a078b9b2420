//! Allocation candidates: for each provider tree, every way to satisfy the request groups
//! (the unsuffixed group may spread its classes over the tree; each suffixed group takes
//! all its resources from one provider), within capacity, honouring `group_policy`.

use std::collections::{BTreeMap, BTreeSet};

use common_error::Result;
use placement_model::Snapshot;

use crate::{fits, AggReq, Placement, TraitReq};

/// Upper bound on combinations looked at per tree, against combinatorial explosions.
const MAX_PER_TREE: usize = 1000;

/// One request group.
#[derive(Debug, Clone, Default)]
pub struct Group {
    /// "" for the unsuffixed group.
    pub suffix: String,
    pub resources: BTreeMap<String, i64>,
    pub required: TraitReq,
    pub member_of: AggReq,
    pub in_tree: Option<String>,
}

/// One candidate: provider → class → amount, and which providers serve each group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub allocations: BTreeMap<String, BTreeMap<String, i64>>,
    pub mappings: BTreeMap<String, Vec<String>>,
}

type Pick = Vec<(String, String, i64)>;

impl Placement {
    /// The candidates (at most `limit`) and the snapshot they were computed on.
    pub async fn candidates(
        &self,
        groups: &[Group],
        isolate: bool,
        root_required: &TraitReq,
        limit: Option<usize>,
    ) -> Result<(Vec<Candidate>, Snapshot)> {
        let snap = self.store.snapshot().await?;
        let empty = Vec::new();
        let roots: Vec<String> = snap
            .providers
            .iter()
            .filter(|p| p.parent_provider_uuid.is_none())
            .filter(|p| root_required.matches(snap.traits.get(&p.uuid).unwrap_or(&empty)))
            .map(|p| p.uuid.clone())
            .collect();
        let mut out: Vec<Candidate> = Vec::new();
        for root in roots {
            let tree: Vec<String> = snap
                .providers
                .iter()
                .filter(|p| p.root_provider_uuid == root)
                .map(|p| p.uuid.clone())
                .collect();
            let mut per_group: Vec<Vec<Pick>> = Vec::new();
            for g in groups.iter().filter(|g| !g.resources.is_empty()) {
                per_group.push(group_options(&snap, &tree, g));
            }
            let mut combos: Vec<Vec<Pick>> = vec![Vec::new()];
            for opts in &per_group {
                let mut next = Vec::new();
                for c in &combos {
                    for o in opts {
                        if next.len() >= MAX_PER_TREE {
                            break;
                        }
                        let mut c2 = c.clone();
                        c2.push(o.clone());
                        next.push(c2);
                    }
                }
                combos = next;
            }
            let suffixes: Vec<&str> = groups
                .iter()
                .filter(|g| !g.resources.is_empty())
                .map(|g| g.suffix.as_str())
                .collect();
            for combo in combos {
                if combo.is_empty() {
                    continue;
                }
                if isolate && !isolated(&combo, &suffixes) {
                    continue;
                }
                let mut alloc: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
                let mut mappings: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for (pick, sfx) in combo.iter().zip(&suffixes) {
                    for (p, c, n) in pick {
                        *alloc
                            .entry(p.clone())
                            .or_default()
                            .entry(c.clone())
                            .or_insert(0) += n;
                        let m = mappings.entry(sfx.to_string()).or_default();
                        if !m.contains(p) {
                            m.push(p.clone());
                        }
                    }
                }
                let fits_all = alloc
                    .iter()
                    .all(|(p, cs)| cs.iter().all(|(c, n)| total_fits(&snap, p, c, *n)));
                if fits_all && !out.iter().any(|o| o.allocations == alloc) {
                    out.push(Candidate {
                        allocations: alloc,
                        mappings,
                    });
                }
            }
            if limit.is_some_and(|l| out.len() >= l) {
                break;
            }
        }
        if let Some(l) = limit {
            out.truncate(l);
        }
        Ok((out, snap))
    }
}

/// Suffixed groups use different providers from each other.
fn isolated(combo: &[Pick], suffixes: &[&str]) -> bool {
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for (pick, sfx) in combo.iter().zip(suffixes) {
        if sfx.is_empty() {
            continue;
        }
        let ps: BTreeSet<&str> = pick.iter().map(|(p, _, _)| p.as_str()).collect();
        if ps.iter().any(|p| seen.contains(p)) {
            return false;
        }
        seen.extend(ps);
    }
    true
}

fn total_fits(snap: &Snapshot, p: &str, c: &str, n: i64) -> bool {
    let Some(inv) = snap.inventories.get(p).and_then(|m| m.get(c)) else {
        return false;
    };
    let used = snap
        .usages
        .get(p)
        .and_then(|m| m.get(c))
        .copied()
        .unwrap_or(0);
    used + n <= inv.capacity()
}

fn group_options(snap: &Snapshot, tree: &[String], g: &Group) -> Vec<Pick> {
    let empty = Vec::new();
    if let Some(t) = &g.in_tree {
        let in_this = snap
            .providers
            .iter()
            .any(|p| &p.uuid == t && tree.contains(&p.root_provider_uuid));
        if !in_this {
            return Vec::new();
        }
    }
    let eligible: Vec<&String> = tree
        .iter()
        .filter(|p| {
            g.member_of
                .matches(snap.aggregates.get(*p).unwrap_or(&empty))
        })
        .collect();
    if !g.suffix.is_empty() {
        return eligible
            .into_iter()
            .filter(|p| g.required.matches(snap.traits.get(*p).unwrap_or(&empty)))
            .filter(|p| g.resources.iter().all(|(c, n)| fits(snap, p, c, *n)))
            .map(|p| {
                g.resources
                    .iter()
                    .map(|(c, n)| (p.clone(), c.clone(), *n))
                    .collect()
            })
            .collect();
    }
    let mut picks: Vec<Pick> = vec![Vec::new()];
    for (c, n) in &g.resources {
        let mut next = Vec::new();
        for pick in &picks {
            for p in eligible.iter().filter(|p| fits(snap, p, c, *n)) {
                if next.len() < MAX_PER_TREE {
                    let mut p2 = pick.clone();
                    p2.push(((*p).clone(), c.clone(), *n));
                    next.push(p2);
                }
            }
        }
        picks = next;
    }
    picks.retain(|pick| {
        let mut have: Vec<String> = Vec::new();
        for (p, _, _) in pick {
            have.extend(snap.traits.get(p).cloned().unwrap_or_default());
        }
        g.required.matches(&have)
    });
    picks
}
