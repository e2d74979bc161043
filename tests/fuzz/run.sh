#!/usr/bin/env bash
# usage: tests/fuzz/run.sh [seconds]
#
# Builds the fuzz targets with clang and libFuzzer (under ASan and UBSan)
# in build-fuzz/, then runs each for SECONDS (default 30), two at a time,
# on a working copy of its corpus in build-fuzz/corpus/TARGET (seeded
# from tests/fuzz/corpus and tests/fuzz/regressions; the repository's
# corpus never grows).  Prints, per target, the executions, their rate
# and the coverage reached.  Exits 0 when no target crashed, 1 when one
# did (the input that did it is named in the output: copy it to
# tests/fuzz/regressions/TARGET/), 77 when clang or libFuzzer is missing.
set -uo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-30}
build=build-fuzz
targets=(admin config duration pathnorm respell phpser)
jobs=2

# The longest input worth trying, per target: past PATH_MAX for paths,
# past jansson's nesting limit for requests, a few screens of INI.
declare -A max_len=([admin]=16384 [config]=4096 [duration]=256 [pathnorm]=8192 [respell]=8192 [phpser]=8192)

case $seconds in
'' | *[!0-9]*) echo "usage: tests/fuzz/run.sh [seconds]" >&2; exit 2 ;;
esac

skip() {
	echo "fuzz: skipped: $*"
	exit 77
}

command -v clang >/dev/null || skip "clang is not installed (apt-get install clang libclang-rt-14-dev)"
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' \
	>"$probe/probe.c"
clang -fsanitize=fuzzer,address,undefined "$probe/probe.c" -o "$probe/probe" 2>/dev/null ||
	skip "clang cannot link libFuzzer (apt-get install libclang-rt-14-dev)"

if [ -f "$build/build.ninja" ]; then
	meson configure "$build" -Dfuzz=true >/dev/null || exit 1
else
	CC=clang meson setup "$build" -Dfuzz=true -Dwerror=true -Dbuildtype=debugoptimized \
		-Db_sanitize=address,undefined -Db_lundef=false >/dev/null || exit 1
fi
# Only the targets: the rest of the project is not built for fuzzing.
ninja -C "$build" "${targets[@]/#/tests/fuzz/fuzz_}" >/dev/null || {
	echo "fuzz: the build failed"
	exit 1
}

# One target: fuzz, keeping its log and any crashing input in build-fuzz/.
fuzz_one() {
	local name=$1
	local corpus=$build/corpus/$name
	local artifacts=$build/artifacts/$name
	local dict=()

	mkdir -p "$corpus" "$artifacts"
	cp -n tests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null
	find tests/fuzz/regressions/"$name" -type f ! -name '.*' -exec cp -n {} "$corpus"/ \;
	[ -f tests/fuzz/dict/"$name".dict ] && dict=(-dict=tests/fuzz/dict/"$name".dict)
	"$build/tests/fuzz/fuzz_$name" "$corpus" "${dict[@]}" \
		-max_total_time="$seconds" -max_len="${max_len[$name]}" \
		-rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$artifacts/" >"$build/fuzz-$name.log" 2>&1
}

pids=()
for name in "${targets[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
		wait -n
	done
	fuzz_one "$name" &
	pids+=($!)
done

failed=0
for i in "${!targets[@]}"; do
	name=${targets[$i]}
	log=$build/fuzz-$name.log
	wait "${pids[$i]}"
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
	corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$done_line")
	if [ "$rc" = 0 ]; then
		printf 'fuzz %-9s ok      %10s runs %7s/s  cov %5s  ft %6s  corpus %s\n' \
			"$name" "${runs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}"
	else
		failed=1
		printf 'fuzz %-9s FAILED  (exit %s; log %s)\n' "$name" "$rc" "$log"
		grep -E 'ERROR: |invariant broken|runtime error|SUMMARY' "$log" | head -5 | sed 's/^/    /'
		grep -E 'Test unit written to' "$log" | sed 's/^.*Test unit written to /    crash input: /'
	fi
done
exit $failed
