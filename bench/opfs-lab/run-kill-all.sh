#!/bin/sh
cd "$(dirname "$0")"
out="${OPFS_LAB_OUT:-${TMPDIR:-/tmp}/spotflow-opfs-lab}"
mkdir -p "$out/logs"
node kill.mjs r256 256 50 > "$out"/logs/kill-r256.out 2>&1
node kill.mjs r24k 24576 50 > "$out"/logs/kill-r24k.out 2>&1
node kill.mjs r512k-batch 32752 50 16 > "$out"/logs/kill-r512k-batch.out 2>&1
node kill.mjs r24k-noflush-opfsonly 24576 40 1 0 0 > "$out"/logs/kill-r24k-noflush.out 2>&1
