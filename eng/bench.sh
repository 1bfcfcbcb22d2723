#!/usr/bin/env bash
# Benchmarks: Parley against Socket.IO + Redis adapter and SignalR, every scenario, one run; regenerates
# docs/performance.md and its charts (docs/performance/*.svg). Raw results: artifacts/bench/results.json.
#
#   eng/bench.sh                 the full run (about 15 minutes on 2 cores; run it on a quiet machine)
#   eng/bench.sh --smoke         a few-second run of every scenario with tiny client counts (the test suite runs this);
#                                checks only that each scenario ran and produced non-zero figures; report in artifacts/
#   eng/bench.sh --micro         BenchmarkDotNet micro-benchmarks (bench/Parley.Benchmarks)
#   extra arguments go to the load generator, e.g. --targets parley --scenarios idle,direct
#   BENCH_PEER_BACKLOG=n         the peers' accept queue (default 4,096 as Parley's; 0: their frameworks' defaults)
#   BENCH_PARLEY_ENV='A=1;B=2'   extra environment for the Parley nodes only (e.g. Parley__MaxCommitBatch=64)
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

if [[ "${1:-}" == "--micro" ]]; then
  shift
  dotnet run -c Release --project bench/Parley.Benchmarks -- --filter '*' "$@"
  exit 0
fi

# BENCH_NO_BUILD=1: the caller (eng/test.sh) has installed the dependencies and built the solution already.
if [[ -z "${BENCH_NO_BUILD:-}" ]]; then
  eng/install-deps.sh
  dotnet build Parley.slnx -c Release -warnaserror -nologo -v q
fi
# Node.js peer: its own lock file, installed here (node_modules is never committed; an emptied one is installed again).
if [[ ! -d bench/peers/socketio/node_modules/socket.io ]] || [[ bench/peers/socketio/package-lock.json -nt bench/peers/socketio/node_modules ]]; then
  (cd bench/peers/socketio && npm ci --no-audit --no-fund --loglevel=error)
fi
exec dotnet bench/Parley.LoadTest/bin/Release/net10.0/Parley.LoadTest.dll run "$@"
