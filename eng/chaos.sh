#!/usr/bin/env bash
# The fault campaign (docs/reliability.md): a 3-node cluster behind nginx under load, one fault per scenario, and a
# checker of every client's view against the store. Exits non-zero on any violation.
# Usage: eng/chaos.sh                  the full campaign; regenerates docs/reliability.md and docs/reliability/*.svg
#        eng/chaos.sh --short          a few scenarios with fewer clients (part of eng/test.sh); writes no docs
#        eng/chaos.sh node-kill ...    only the named scenarios (--list names them); add --no-docs to leave docs alone
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${CHAOS_SKIP_DEPS:-}" != 1 ]]; then
  eng/install-deps.sh
fi
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
if [[ "${CHAOS_NO_BUILD:-}" != 1 ]]; then
  dotnet build bench/Parley.Chaos -c Release -warnaserror -nologo -v q
fi
exec dotnet bench/Parley.Chaos/bin/Release/net10.0/Parley.Chaos.dll "$@"
