//! The driver sandbox's start-up overhead per driver (goal: ≤ 5 ms): the
//! time from spawn to exit of a driver that does nothing (`/bin/true`),
//! started as `rtt apply` starts it — through `rtt-sandbox` with the
//! default policy — beside the same program started directly and beside
//! `rtt --version` (what a launcher inside the big `rtt` binary would cost
//! before applying anything), all in the same run.
//!
//!     cargo bench --bench sandbox

#[path = "support/timing.rs"]
mod timing;

use std::path::Path;
use std::process::Command;

use rtt_apply::driver::sandbox::{Mode, Policy};

const RUNS: usize = 101;

fn main() {
    let rtt = env!("CARGO_BIN_EXE_rtt");
    let root = tempfile::tempdir().expect("tempdir");
    let argv = vec!["/bin/true".to_owned()];
    let path = std::env::var("PATH").ok();
    let policy =
        Policy::new(Mode::Default, &argv, root.path(), root.path(), &[], &[], path.as_deref()).expect("policy");
    let json = serde_json::to_string(&policy).expect("json");
    // The same with `net` granted: no network namespace (its creation is the
    // layer whose cost varies most from run to run).
    let networked = Policy::new(Mode::Default, &argv, root.path(), root.path(), &["net".into()], &[], path.as_deref())
        .expect("policy");
    let networked = serde_json::to_string(&networked).expect("json");
    let run = |command: &mut Command| {
        let status = command.status().expect("runs");
        assert!(status.success());
    };
    let direct = timing::median_of(RUNS, || run(Command::new("/bin/true").current_dir(root.path())));
    let launcher = Path::new(rtt).with_file_name("rtt-sandbox");
    let big_binary = timing::median_of(RUNS, || run(Command::new(rtt).arg("--version")));
    let sandboxed = timing::median_of(RUNS, || {
        run(Command::new(&launcher).args(["--policy", &json, "--", "/bin/true"]).current_dir(Path::new(root.path())))
    });
    let without_netns = timing::median_of(RUNS, || {
        run(Command::new(&launcher).args(["--policy", &networked, "--", "/bin/true"]).current_dir(root.path()))
    });
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    println!("spawn /bin/true directly:              {:.2} ms", ms(direct));
    println!("spawn rtt --version (the big binary's exec): {:.2} ms", ms(big_binary));
    println!("spawn /bin/true in the sandbox:        {:.2} ms", ms(sandboxed));
    println!("the same with `net` (no network namespace): {:.2} ms", ms(without_netns));
    println!(
        "sandbox start-up overhead: {:.2} ms per driver ({:.1}× a direct spawn; median of {RUNS})",
        ms(sandboxed.saturating_sub(direct)),
        sandboxed.as_secs_f64() / direct.as_secs_f64()
    );
}
