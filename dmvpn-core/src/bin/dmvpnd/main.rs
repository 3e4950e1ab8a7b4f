//! `dmvpnd`: the DMVPN daemon. `demo` runs an in-process hub and spokes on the simulator (no
//! root, no network). With the `driver` feature, the Linux driver: `check CONFIG` validates a
//! TOML config, `run CONFIG` drives a [`dmvpn_core::Node`] over a TUN device and raw GRE/ESP
//! sockets, `show dmvpn|nhrp|routes|stats [--json]` asks a running daemon over its control
//! socket. See `dmvpn-core/DRIVER.md`.

#[cfg(feature = "driver")]
mod config_file;
#[cfg(feature = "driver")]
mod control;
#[cfg(feature = "driver")]
mod run;
#[cfg(feature = "driver")]
mod show;
#[cfg(feature = "driver")]
mod sys;

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
    /// Check a configuration file; prints `field: problem` for the first mistake.
    #[cfg(feature = "driver")]
    Check {
        /// The TOML configuration (see dmvpn-core/examples/).
        config: PathBuf,
    },
    /// Run the DMVPN interface of a configuration file (Linux, root) until SIGINT/SIGTERM.
    #[cfg(feature = "driver")]
    Run {
        /// The TOML configuration (see dmvpn-core/examples/).
        config: PathBuf,
    },
    /// Ask a running daemon: `show dmvpn`, `show nhrp`, `show routes`, `show stats`.
    #[cfg(feature = "driver")]
    Show {
        /// What to show.
        what: show::What,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// The daemon's control socket (default: /run/dmvpnd/DEVICE.sock).
        #[arg(long, short = 's')]
        control: Option<PathBuf>,
        /// The daemon's TUN device name, to find its default control socket.
        #[arg(long, default_value = "dmvpn0")]
        device: String,
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

#[cfg(feature = "driver")]
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn real_main() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        #[cfg(feature = "driver")]
        Command::Check { config } => match config_file::load(&config) {
            Ok(c) => {
                println!(
                    "{}: OK ({:?}, tunnel {} on {}, device {}, {} manual SA(s))",
                    config.display(),
                    c.node.role,
                    c.node.tunnel_address,
                    c.node.nbma,
                    c.device,
                    c.sas.len()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                println!("{e:#}");
                Ok(ExitCode::FAILURE)
            }
        },
        #[cfg(feature = "driver")]
        Command::Run { config } => {
            init_logging();
            let c = config_file::load(&config)?;
            run::run(c)?;
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "driver")]
        Command::Show {
            what,
            json,
            control,
            device,
        } => {
            let path = control.unwrap_or_else(|| run::default_control(&device));
            print!("{}", control::query(&path, what, json)?);
            Ok(ExitCode::SUCCESS)
        }
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
