#!/usr/bin/env bash
# Cache crash-safety stress: a child writing cache entries is SIGKILLed at random moments
# (default 100 times); afterwards every entry must restore the right bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
FARM_CRASH_KILLS="${1:-100}" cargo test --release --lib cache::tests::crash_safety_under_sigkill -- --exact --nocapture
