#!/usr/bin/env bash
# The CPU is probed once per process (kernels/dispatch.c): a sampled 256-token
# run calls cpu_features' probe once, whatever the kernel set. Counted with a
# gdb breakpoint on the probe (GetX86Info / GetAarch64Info), which is a dozen
# CPUIDs, each a VM exit under a hypervisor.
#   probe_once.sh LAMINA DATA_DIR
set -euo pipefail
lamina=$1 data=$2
command -v gdb > /dev/null || { echo "gdb is needed (apt-get install gdb)"; exit 1; }
case $(uname -m) in
x86_64) probe=GetX86Info ;;
aarch64) probe=GetAarch64Info ;;
*) echo "no cpu_features probe on $(uname -m)"; exit 1 ;;
esac
nm "$lamina" | grep " T $probe$" > /dev/null || { echo "$lamina has no symbol $probe"; exit 1; }
# A machine that refuses ptrace (a container without CAP_SYS_PTRACE, Yama
# ptrace_scope 3) cannot run this test: skipped (77), saying why.
if ! trial=$(gdb -nx -batch -ex run --args /bin/true 2>&1) || ! grep -q 'exited normally' <<< "$trial"; then
    if grep -qi 'ptrace\|Operation not permitted' <<< "$trial"; then
        echo "SKIPPED: this machine refuses ptrace, which gdb needs: $(grep -im1 'ptrace\|not permitted' <<< "$trial")"
        exit 77
    fi
    echo "gdb cannot run a program here:"; echo "$trial" | tail -3; exit 1
fi
# LeakSanitizer cannot run under a debugger (ptrace): this test counts
# probes, the sanitizer suite's other tests look for leaks.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fail=0
for isa in "" scalar; do
    out=$(gdb -nx -batch -ex "break $probe" -ex 'ignore 1 1000000' -ex run -ex 'info breakpoints' \
        --args "$lamina" "$data/models/kjv1m.bin" -z "$data/models/tok1024-kjv.bin" -n 256 -t 1 \
        -s 1 --threads 1 ${isa:+--isa $isa} -i "And it came to pass" 2>&1)
    hits=$(sed -n 's/.*breakpoint already hit \([0-9]*\) time.*/\1/p' <<< "$out")
    grep -q 'exited normally' <<< "$out" || { echo "lamina did not exit normally:"; echo "$out" | tail -5; fail=1; }
    echo "isa ${isa:-default}: $probe called ${hits:-0} times"
    [ "${hits:-0}" = 1 ] || fail=1
done
exit $fail
