//! `dmvpnd`: the DMVPN daemon. Today it has one subcommand, `demo`, which runs an in-process
//! hub and spokes on the simulator (no root, no network); the Linux driver (`run`, `check`,
//! `show`) follows behind the `driver` feature.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use dmvpn_core::Phase;
use dmvpn_core::demo::{DemoOptions, run};

#[derive(Parser)]
#[command(
    name = "dmvpnd",
    version,
    about = "DMVPN hub/spoke daemon (Cisco-compatible, sans-IO core)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a simulated DMVPN (one hub, N spokes) in virtual time and print what happens.
    Demo {
        /// Number of spokes.
        #[arg(long, default_value_t = 3)]
        spokes: usize,
        /// DMVPN phase: 1 (hub and spoke), 2 (spokes resolve next hops), 3 (hub redirects).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=3))]
        phase: u8,
        /// Packet loss on every link, in percent.
        #[arg(long, default_value_t = 0.0)]
        loss: f64,
        /// One-way link latency in milliseconds.
        #[arg(long, default_value_t = 15)]
        latency_ms: u64,
        /// Seed of the simulation (same seed, same run, byte for byte).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write the underlay capture to this pcap file (open it in Wireshark).
        #[arg(long)]
        pcap: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dmvpnd: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Demo {
            spokes,
            phase,
            loss,
            latency_ms,
            seed,
            pcap,
        } => {
            let options = DemoOptions {
                spokes,
                phase: match phase {
                    1 => Phase::One,
                    2 => Phase::Two,
                    _ => Phase::Three,
                },
                loss: loss / 100.0,
                seed,
                latency: Duration::from_millis(latency_ms),
                pcap: pcap.is_some(),
            };
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            // The simulation runs in virtual time; this instant is only its epoch.
            let outcome = run(&options, Instant::now(), &mut out)?;
            out.flush()?;
            if let (Some(path), Some(bytes)) = (pcap, &outcome.pcap) {
                std::fs::write(&path, bytes)
                    .with_context(|| format!("writing {}", path.display()))?;
                writeln!(out, "underlay capture written to {}", path.display())?;
            }
            Ok(if outcome.success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
