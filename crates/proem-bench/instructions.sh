#!/usr/bin/env bash
# Instructions per relayed token, Proem against the minimal pass-through proxy, counted by
# valgrind's callgrind: repeatable to a few percent whatever else the machine is doing, where CPU
# time on a shared machine moves by more than the changes being compared.
#
# Runs `proem-bench stream --streams N` under callgrind for two crowd sizes and takes the
# difference, so that start-up (migrations, TLS roots, the clients' set-up) cancels out: what is
# left is opening, relaying and storing the extra streams, per token. Counts are user space only
# (system calls are the same for both servers: one read and one write per token). valgrind runs
# every thread on one core some fifty times slower, so the streams are slowed down too (a token
# every 250 ms rather than 20): at full speed the servers would be overloaded, tokens would come
# in batches and Proem's turns would be taken over by their watchers, which is not the path
# measured here.
#
# Usage: crates/proem-bench/instructions.sh [path/to/proem-bench] (default: the release build)
# Needs valgrind (Debian package `valgrind`).
set -euo pipefail

bin=${1:-target/release/proem-bench}
small=20
large=60
interval_ms=250
tokens_per_stream=128 # CROWD_TOKENS in src/stream.rs
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Prints "proxy proem database" instruction totals for one crowd of $1 streams. callgrind writes a
# file per thread without its name; each server thread is known by a function only it runs.
count() {
  local dir="$work/$1"
  mkdir -p "$dir"
  (cd "$dir" && valgrind --tool=callgrind --separate-threads=yes "$bin" stream --streams "$1" --interval-ms "$interval_ms" --no-pin >/dev/null 2>&1)
  local proxy=0 proem=0 database=0 total file
  for file in "$dir"/callgrind.out.*-*; do
    total=$(awk '/^summary:/ { print $2; exit }' "$file")
    if grep -q 'fn=.*proem_bench::stream::relay' "$file"; then
      proxy=$((proxy + total))
    elif grep -q 'fn=.*proem_llm::relay::relay$' "$file"; then
      proem=$((proem + total))
    elif grep -q 'sqlite3VdbeExec' "$file"; then
      database=$((database + total))
    fi
  done
  echo "$proxy $proem $database"
}

echo "counting $small streams…" >&2
read -r proxy_small proem_small db_small < <(count "$small")
echo "counting $large streams…" >&2
read -r proxy_large proem_large db_large < <(count "$large")

tokens=$(((large - small) * tokens_per_stream))
proxy=$(((proxy_large - proxy_small) / tokens))
proem=$(((proem_large - proem_small) / tokens))
database=$(((db_large - db_small) / tokens))
echo "instructions per token ($((large - small)) streams of $tokens_per_stream tokens: opening, relaying, storing)"
echo "  minimal pass-through proxy: $proxy"
echo "  Proem runtime thread:       $proem"
echo "  Proem database threads:     $database"
awk -v a="$proem" -v d="$database" -v b="$proxy" 'BEGIN { printf "  Proem / proxy: %.2f× (runtime thread), %.2f× (with the database threads)\n", a / b, (a + d) / b }'
