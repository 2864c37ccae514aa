//! `rtt-instances TIER|HOSTS,AGENTS,ROUTES [SEED]`: print a generated config as JSON.

use std::process::ExitCode;

use rtt_instances::{Spec, Tier, generate, to_json_text};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seed = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let spec = match args.first().map(String::as_str) {
        Some("S" | "s") => Tier::S.spec(seed),
        Some("M" | "m") => Tier::M.spec(seed),
        Some("L" | "l") => Tier::L.spec(seed),
        Some("XL" | "xl") => Tier::Xl.spec(seed),
        Some(custom) => match custom.split(',').map(str::parse).collect::<Result<Vec<usize>, _>>().as_deref() {
            Ok([n_hosts, n_agents, n_routes]) => {
                Spec { n_hosts: *n_hosts, n_agents: *n_agents, n_routes: *n_routes, utilization: 0.6, seed }
            }
            _ => return usage(),
        },
        None => return usage(),
    };
    println!("{}", to_json_text(&generate(spec)));
    ExitCode::SUCCESS
}

fn usage() -> ExitCode {
    eprintln!("usage: rtt-instances S|M|L|XL|HOSTS,AGENTS,ROUTES [SEED]");
    ExitCode::from(1)
}
