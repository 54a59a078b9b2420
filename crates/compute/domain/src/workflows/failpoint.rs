//! Named failpoints: tests make a workflow stop dead at a chosen point of a chosen step, as
//! if the process had been killed there (nothing more is run, recorded or undone), then
//! restart the conductor to check recovery. Armed per scope (the project id of the
//! workflow's instance) so tests running side by side do not trip each other. Unarmed, a
//! check is one uncontended lock of an empty map.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, OnceLock};

/// Where in a step the workflow stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Point {
    /// The step is recorded `started` but has not run.
    Started,
    /// The step ran but is not yet recorded `done`.
    Ran,
    /// The step is recorded `done`; the next has not started.
    Done,
}

type Key = (String, String, String, Point);

fn armed() -> &'static Mutex<BTreeSet<Key>> {
    static ARMED: OnceLock<Mutex<BTreeSet<Key>>> = OnceLock::new();
    ARMED.get_or_init(|| Mutex::new(BTreeSet::new()))
}

fn fired_counts() -> &'static Mutex<BTreeMap<String, usize>> {
    static FIRED: OnceLock<Mutex<BTreeMap<String, usize>>> = OnceLock::new();
    FIRED.get_or_init(|| Mutex::new(BTreeMap::new()))
}

/// How many failpoints of `scope` have fired.
pub fn fired(scope: &str) -> usize {
    fired_counts()
        .lock()
        .map(|f| f.get(scope).copied().unwrap_or(0))
        .unwrap_or(0)
}

/// Arms a failpoint: workflows of `kind` for instances of project `scope` stop dead at
/// `point` of `step`, once.
pub fn arm(scope: &str, kind: &str, step: &str, point: Point) {
    if let Ok(mut a) = armed().lock() {
        a.insert((scope.to_string(), kind.to_string(), step.to_string(), point));
    }
}

/// Disarms every failpoint of `scope`.
pub fn clear(scope: &str) {
    if let Ok(mut a) = armed().lock() {
        a.retain(|k| k.0 != scope);
    }
}

/// Whether the failpoint is armed (it fires once: checking disarms it).
pub(crate) fn hit(scope: &str, kind: &str, step: &str, point: Point) -> bool {
    let Ok(mut a) = armed().lock() else {
        return false;
    };
    if a.is_empty() {
        return false;
    }
    let hit = a.remove(&(scope.to_string(), kind.to_string(), step.to_string(), point));
    if hit {
        if let Ok(mut f) = fired_counts().lock() {
            *f.entry(scope.to_string()).or_insert(0) += 1;
        }
    }
    hit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_once_and_only_in_its_scope() {
        arm("fp-scope", "build", "spawn", Point::Ran);
        assert!(!hit("other", "build", "spawn", Point::Ran));
        assert!(!hit("fp-scope", "build", "spawn", Point::Done));
        assert!(hit("fp-scope", "build", "spawn", Point::Ran));
        assert!(!hit("fp-scope", "build", "spawn", Point::Ran));
        assert_eq!(fired("fp-scope"), 1);
        arm("fp-scope", "delete", "destroy", Point::Started);
        clear("fp-scope");
        assert!(!hit("fp-scope", "delete", "destroy", Point::Started));
    }
}
