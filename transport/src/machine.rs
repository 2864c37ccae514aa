//! What a machine is, for `rtt tune`'s fingerprint: read from `/proc` and
//! `/sys` (IO), with the parsing pure. Only facts that change what the
//! transports cost go in: the CPU model, logical CPUs, SMT, NUMA nodes, cache
//! sizes, the kernel and the memory (in whole GiB, so that memory the kernel
//! reserves differently from boot to boot does not change it).

use std::path::Path;

/// The facts of one machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// `model name` of the first CPU.
    pub cpu_model: String,
    /// Logical CPUs online.
    pub logical_cpus: usize,
    /// Hardware threads per core (SMT).
    pub threads_per_core: usize,
    /// NUMA nodes with CPUs, each with its CPUs.
    pub numa_nodes: Vec<Vec<usize>>,
    /// (level, type, size) of each cache of CPU 0, e.g. (2, "Unified", "512K").
    pub caches: Vec<(u32, String, String)>,
    /// The kernel release.
    pub kernel: String,
    /// Memory, GiB (rounded down).
    pub memory_gib: u64,
}

fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_owned()).unwrap_or_default()
}

/// Parses a kernel CPU list such as `0-3,8,10-11`.
pub fn cpu_list(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                    out.extend(a..=b.min(a + 4096));
                }
            }
            None => out.extend(part.parse::<usize>().ok()),
        }
    }
    out
}

impl Machine {
    /// This machine.
    pub fn read() -> Machine {
        let cpuinfo = read("/proc/cpuinfo");
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        let online = cpu_list(&read("/sys/devices/system/cpu/online"));
        let logical_cpus =
            if online.is_empty() { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { online.len() };
        let threads_per_core =
            cpu_list(&read("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list")).len().max(1);
        let mut numa_nodes: Vec<(usize, Vec<usize>)> = std::fs::read_dir("/sys/devices/system/node")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let index = name.strip_prefix("node")?.parse::<usize>().ok()?;
                let cpus = cpu_list(&read(e.path().join("cpulist")));
                (!cpus.is_empty()).then_some((index, cpus))
            })
            .collect();
        numa_nodes.sort();
        let mut caches: Vec<(u32, String, String)> = std::fs::read_dir("/sys/devices/system/cpu/cpu0/cache")
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("index"))
            .map(|e| {
                (
                    read(e.path().join("level")).parse().unwrap_or(0),
                    read(e.path().join("type")),
                    read(e.path().join("size")),
                )
            })
            .collect();
        caches.sort();
        let kernel = rustix::system::uname().release().to_string_lossy().into_owned();
        let memory_kib: u64 = read("/proc/meminfo")
            .lines()
            .find_map(|l| {
                l.strip_prefix("MemTotal:").map(|r| r.trim().trim_end_matches("kB").trim().parse().unwrap_or(0))
            })
            .unwrap_or(0);
        Machine {
            cpu_model,
            logical_cpus,
            threads_per_core,
            numa_nodes: numa_nodes.into_iter().map(|(_, cpus)| cpus).collect(),
            caches,
            kernel,
            memory_gib: memory_kib / (1024 * 1024),
        }
    }

    /// The CPU pairs worth measuring a round trip between, with a name:
    /// two cores of one node, two hardware threads of one core (SMT), and
    /// CPUs of two NUMA nodes, where the machine has them.
    pub fn cpu_pairs(&self) -> Vec<(&'static str, usize, usize)> {
        let mut pairs = Vec::new();
        let first_node: Vec<usize> =
            self.numa_nodes.first().cloned().unwrap_or_else(|| (0..self.logical_cpus).collect());
        let siblings = cpu_list(&read("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list"));
        if let Some(&other) = first_node.iter().find(|c| **c != 0 && !siblings.contains(c)) {
            pairs.push(("cross-core", 0, other));
        }
        if let Some(&sibling) = siblings.iter().find(|c| **c != 0) {
            pairs.push(("smt-siblings", 0, sibling));
        }
        if let Some(&remote) = self.numa_nodes.get(1).and_then(|cpus| cpus.first()) {
            pairs.push(("cross-numa", 0, remote));
        }
        pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_as_the_kernel_writes_them() {
        assert_eq!(cpu_list("0-3,8,10-11\n"), [0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(cpu_list("0"), [0]);
        assert_eq!(cpu_list(""), Vec::<usize>::new());
        assert_eq!(cpu_list("x,2"), [2]);
    }

    #[test]
    fn this_machine_has_a_cpu_and_memory() {
        let machine = Machine::read();
        assert!(machine.logical_cpus >= 1 && !machine.kernel.is_empty(), "{machine:?}");
    }
}
