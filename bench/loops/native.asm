; The benchmark loops as functions the native runner links against.
bits 64
section .text
global bench_alu, bench_mem, bench_call, bench_string, bench_sieve
%include "loops.inc"
section .note.GNU-stack noalloc noexec nowrite progbits
