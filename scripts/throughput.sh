#!/bin/bash
# LAN-to-LAN TCP throughput through dmvpnd (phase 3 shortcut, userspace GRE over TUN),
# without and with ESP (AES-256-GCM, manual SAs), against a plain veth path in the same run.
#   usage (root): scripts/throughput.sh [SECONDS]      (default 5 s per iperf3 run)
# Needs: iproute2, iperf3, ping, cargo. Builds dmvpnd in release mode (feature "driver").
# Everything lives in network namespaces named tp<pid>-*; they and the daemons are removed
# on exit (trap), whatever happens. Prints Mbit/s per path and the ratio to the veth path.
set -euo pipefail
SECS=${1:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "throughput.sh needs root (namespaces, TUN, raw sockets)" >&2; exit 2; }
for t in ip iperf3 ping cargo; do
  command -v "$t" >/dev/null || { echo "throughput.sh: $t is not installed" >&2; exit 2; }
done
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
cargo build -q --release -p dmvpn-core --features driver --bin dmvpnd --manifest-path "$ROOT/Cargo.toml"
BIN=$CARGO_TARGET_DIR/release/dmvpnd
P=tp$$
DIR=$(mktemp -d /tmp/dmvpnd-throughput.XXXXXX)
PIDS=()
NSS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  for n in "${NSS[@]}"; do ip netns del "$n" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] || rm -rf "$DIR"
}
trap cleanup EXIT

ns() { ip netns add "$P-$1"; NSS+=("$P-$1"); ip -n "$P-$1" link set lo up; }
x() { local n=$1; shift; ip netns exec "$P-$n" "$@"; }
veth() { # veth A AIF B BIF
  ip link add "$2" netns "$P-$1" type veth peer name "$4" netns "$P-$3"
  ip -n "$P-$1" link set "$2" up; ip -n "$P-$3" link set "$4" up
}

iperf() { # iperf FROM_NS TO_NS TO_ADDR -> Mbit/s
  x "$2" iperf3 -s -1 -D -I "$DIR/iperf.pid" >/dev/null 2>&1
  sleep 0.5
  x "$1" iperf3 -c "$3" -t "$SECS" -J > "$DIR/iperf.json" 2>&1 || true
  if [ -f "$DIR/iperf.pid" ]; then kill "$(cat "$DIR/iperf.pid")" 2>/dev/null || true; rm -f "$DIR/iperf.pid"; fi
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.0f" % (d["end"]["sum_received"]["bits_per_second"]/1e6))' "$DIR/iperf.json"
}

# --- baseline: two hosts on one veth pair ---------------------------------------------------
ns a; ns b
veth a eth0 b eth0
ip -n "$P-a" addr add 100.65.0.1/24 dev eth0
ip -n "$P-b" addr add 100.65.0.2/24 dev eth0
VETH=$(iperf a b 100.65.0.2)

# --- DMVPN: hub + 2 spokes on a bridge, a LAN host behind each spoke ------------------------
ns inet
ip -n "$P-inet" link add br0 type bridge; ip -n "$P-inet" link set br0 up
ns hub
veth hub up0 inet p-hub; ip -n "$P-inet" link set p-hub master br0
ip -n "$P-hub" addr add 198.51.100.1/24 dev up0
for i in 1 2; do
  ns "s$i"; ns "h$i"
  veth "s$i" up0 inet "p-s$i"; ip -n "$P-inet" link set "p-s$i" master br0
  ip -n "$P-s$i" addr add "198.51.100.1$i/24" dev up0
  veth "s$i" lan0 "h$i" eth0
  ip -n "$P-s$i" addr add "100.65.1$i.1/24" dev lan0
  ip -n "$P-h$i" addr add "100.65.1$i.2/24" dev eth0
  ip -n "$P-h$i" route add default via "100.65.1$i.1"
  x "s$i" sysctl -qw net.ipv4.ip_forward=1
done

KA=1111111111111111111111111111111111111111111111111111111111111111a1a2a3a4
KB=2222222222222222222222222222222222222222222222222222222222222222b1b2b3b4
KC=3333333333333333333333333333333333333333333333333333333333333333c1c2c3c4
sa() { printf '[[ipsec.sa]]\npeer = "%s"\nspi_in = %d\nspi_out = %d\nalgorithm = "aes256-gcm"\nkey_in = "%s"\nkey_out = "%s"\n' "$@"; }

configs() { # configs none|required
  local ipsec=$1
  cat > "$DIR/hub.toml" <<EOF
role = "hub"
tunnel_address = "100.64.0.1/24"
nbma = "198.51.100.1"
gre_key = 42
holding_time = 600
[[static_routes]]
prefix = "100.65.11.0/24"
next_hop = "100.64.0.11"
[[static_routes]]
prefix = "100.65.12.0/24"
next_hop = "100.64.0.12"
[device]
control_socket = "$DIR/hub.sock"
[ipsec]
policy = "$ipsec"
EOF
  for i in 1 2; do
    cat > "$DIR/s$i.toml" <<EOF
role = "spoke"
tunnel_address = "100.64.0.1$i/24"
nbma = "198.51.100.1$i"
gre_key = 42
holding_time = 600
local_networks = ["100.65.1$i.0/24"]
[[nhs]]
tunnel_address = "100.64.0.1"
nbma = "198.51.100.1"
[[static_routes]]
prefix = "100.65.0.0/16"
next_hop = "100.64.0.1"
[device]
control_socket = "$DIR/s$i.sock"
[ipsec]
policy = "$ipsec"
EOF
  done
  if [ "$ipsec" = required ]; then
    { sa 198.51.100.11 $((0x1101)) $((0x1001)) $KA $KA; sa 198.51.100.12 $((0x1102)) $((0x1002)) $KB $KB; } >> "$DIR/hub.toml"
    { sa 198.51.100.1 $((0x1001)) $((0x1101)) $KA $KA; sa 198.51.100.12 $((0x1221)) $((0x1212)) $KC $KC; } >> "$DIR/s1.toml"
    { sa 198.51.100.1 $((0x1002)) $((0x1102)) $KB $KB; sa 198.51.100.11 $((0x1212)) $((0x1221)) $KC $KC; } >> "$DIR/s2.toml"
  fi
}

tunnel_run() { # tunnel_run none|required: Mbit/s into $DIR/result
  configs "$1"
  local pids=()
  for r in hub s1 s2; do
    # Not through x(): $! must be the daemon itself (ip netns exec execs it).
    RUST_LOG=warn ip netns exec "$P-$r" "$BIN" run "$DIR/$r.toml" >/dev/null 2>>"$DIR/$r.log" &
    pids+=($!); PIDS+=($!)
  done
  for _ in $(seq 1 50); do
    n=$("$BIN" show dmvpn --json --control "$DIR/hub.sock" 2>/dev/null | grep -c '"Registered"' || true)
    [ "$n" = 2 ] && break; sleep 0.2
  done
  [ "$n" = 2 ] || { echo "spokes did not register ($1)" >&2; cat "$DIR"/*.log >&2; exit 1; }
  # Build the shortcuts both ways, then measure the direct path.
  x h1 ping -c 5 -i 0.2 -q 100.65.12.2 >/dev/null; x h2 ping -c 5 -i 0.2 -q 100.65.11.2 >/dev/null
  sleep 1
  local before after
  before=$("$BIN" show stats --json --control "$DIR/hub.sock" | python3 -c 'import json,sys; print(json.load(sys.stdin)["stats"]["data_hairpinned"])')
  iperf h1 h2 100.65.12.2 > "$DIR/result"
  after=$("$BIN" show stats --json --control "$DIR/hub.sock" | python3 -c 'import json,sys; print(json.load(sys.stdin)["stats"]["data_hairpinned"])')
  [ "$before" = "$after" ] || echo "note: $((after - before)) packets crossed the hub during the run ($1)" >&2
  for p in "${pids[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
}

tunnel_run none; GRE=$(cat "$DIR/result")
tunnel_run required; ESP=$(cat "$DIR/result")
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
echo "path                         Mbit/s  ratio to veth"
printf '%-28s %6s  %s\n' "veth (kernel, no tunnel)" "$VETH" "1.00"
printf '%-28s %6s  %s\n' "dmvpnd GRE (shortcut)" "$GRE" "$(ratio "$GRE" "$VETH")"
printf '%-28s %6s  %s\n' "dmvpnd GRE+ESP AES-256-GCM" "$ESP" "$(ratio "$ESP" "$VETH")"
