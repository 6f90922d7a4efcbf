/* Times a benchmark loop on the host CPU: native LOOP ITERATIONS -> nanoseconds and checksum. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef uint64_t (*loop_fn)(uint64_t, void *);
uint64_t bench_alu(uint64_t, void *), bench_mem(uint64_t, void *), bench_call(uint64_t, void *),
    bench_string(uint64_t, void *), bench_sieve(uint64_t, void *);
static const loop_fn loops[] = { bench_alu, bench_mem, bench_call, bench_string, bench_sieve };

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  int n = atoi(argv[1]);
  uint64_t iterations = strtoull(argv[2], NULL, 0);
  static uint8_t buffer[65536];
  memset(buffer, 0, sizeof buffer);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  uint64_t sum = loops[n](iterations, buffer);
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%lld %llu\n", (long long)((b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec)),
         (unsigned long long)sum);
  return 0;
}
