#!/usr/bin/env bash
# One line naming the CPU and the features that change code paths in LibTorch or the Python peers
# (AVX2, AVX-512, AVX512-BF16, AMX), so that a test report says where it ran.
model=$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')
flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2-) "
have() { case "$flags" in *" $1 "*) printf '%s ' "$2" ;; esac; }
features=$(have avx2 avx2; have avx512f avx512f; have avx512_bf16 avx512_bf16; have amx_tile amx)
echo "cpu: ${model:-unknown} ($(nproc) cores), features: ${features:-none of avx2/avx512f/avx512_bf16/amx}"
