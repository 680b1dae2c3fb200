//! Task dependencies form a graph that must stay acyclic.

use std::collections::{HashMap, HashSet};

use crate::task::TaskId;

/// Would giving `task` the dependencies `new_deps` close a cycle?
///
/// `depends_on(id)` returns the current dependencies of any other task. A cycle exists
/// exactly when `task` is reachable from one of its new dependencies. Returns the path
/// of the cycle (starting and ending at `task`) so the error can show it.
pub fn find_cycle(
    task: TaskId,
    new_deps: &[TaskId],
    mut depends_on: impl FnMut(TaskId) -> Vec<TaskId>,
) -> Option<Vec<TaskId>> {
    let mut parent: HashMap<TaskId, TaskId> = HashMap::new();
    let mut seen: HashSet<TaskId> = HashSet::new();
    let mut stack: Vec<TaskId> = Vec::new();
    for &dep in new_deps {
        if dep == task {
            return Some(vec![task, task]);
        }
        if seen.insert(dep) {
            parent.insert(dep, task);
            stack.push(dep);
        }
    }
    while let Some(node) = stack.pop() {
        for next in depends_on(node) {
            if next == task {
                return Some(unwind(task, node, &parent));
            }
            if seen.insert(next) {
                parent.insert(next, node);
                stack.push(next);
            }
        }
    }
    None
}

fn unwind(task: TaskId, last: TaskId, parent: &HashMap<TaskId, TaskId>) -> Vec<TaskId> {
    let mut path = vec![task, last];
    let mut node = last;
    while let Some(&p) = parent.get(&node) {
        path.push(p);
        if p == task {
            break;
        }
        node = p;
    }
    path.reverse();
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: i64) -> TaskId {
        TaskId::new(n).unwrap()
    }

    fn graph(edges: &[(i64, i64)]) -> impl FnMut(TaskId) -> Vec<TaskId> + '_ {
        move |t| {
            edges
                .iter()
                .filter(|(from, _)| *from == t.get())
                .map(|(_, to)| id(*to))
                .collect()
        }
    }

    #[test]
    fn a_task_cannot_depend_on_itself() {
        assert!(find_cycle(id(1), &[id(1)], graph(&[])).is_some());
    }

    #[test]
    fn a_chain_without_a_loop_is_accepted() {
        // 1 -> 2 -> 3; give 4 a dependency on 1.
        assert_eq!(find_cycle(id(4), &[id(1)], graph(&[(1, 2), (2, 3)])), None);
    }

    #[test]
    fn closing_a_loop_is_found_with_its_path() {
        // 1 -> 2 -> 3; now 3 wants to depend on 1.
        let cycle = find_cycle(id(3), &[id(1)], graph(&[(1, 2), (2, 3)])).unwrap();
        let path: Vec<i64> = cycle.iter().map(|t| t.get()).collect();
        assert_eq!(path, [3, 1, 2, 3]);
    }

    #[test]
    fn a_diamond_is_not_a_cycle() {
        // 1 -> 2, 1 -> 3, 2 -> 4, 3 -> 4; give 5 deps on 2 and 3.
        let edges = [(1, 2), (1, 3), (2, 4), (3, 4)];
        assert_eq!(find_cycle(id(5), &[id(2), id(3)], graph(&edges)), None);
    }
}
