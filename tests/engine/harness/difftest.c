/*
 * difftest: runs x86-64 snippets on the host CPU for the software engine's differential test
 * (tests/engine/differential.test.ts; design in docs of tests/engine/cases.ts).
 *
 * usage: difftest CODE CODE_SIZE STACK STACK_SIZE DATA DATA_RW_SIZE DATA_SIZE   (hex)
 *
 * Maps the scratch regions at those fixed addresses (MAP_FIXED_NOREPLACE): CODE read/write/
 * execute, filled with 0xCC; STACK and the first DATA_RW_SIZE bytes of DATA read/write, the
 * rest of DATA read-only; STACK and DATA hold a fixed pattern (pattern() below, also computed
 * by the TypeScript side). Then one case per stdin line:
 *
 *   RIP RFLAGS R0 .. R15 PATCHES [FPU]
 *
 * all numbers hex, registers in encoding order (rax rcx rdx rbx rsp rbp rsi rdi r8 .. r15),
 * PATCHES "-" or "ADDR:HEXBYTES,..." (bytes outside the mapped regions are skipped), FPU "-"
 * or absent for the reset x87/SSE state (FCW 37F, MXCSR 1F80, everything else 0), else
 * "KEY=HEX,..." fields that differ from it:
 *
 *   c FCW, s FSW, t abridged tag byte, o FOP, i FIP, p FDP, m MXCSR (numbers);
 *   r0..r7 ST(i) (10 bytes), x0..x15 XMMi (16 bytes) (bytes in memory order).
 *
 * The case loads that state with FXRSTOR64, RFLAGS and every register, jumps to RIP and runs
 * until a signal. Every case ends in one: snippets are followed by UD2 (SIGILL) on every path.
 * One line per case on stdout:
 *
 *   SIGNAL TRAPNO ERR CR2 RIP RFLAGS R0 .. R15 DIFFS FPU
 *
 * taken from the signal's ucontext, DIFFS "-" or "ADDR:QWORD,..." for every 8-byte word of
 * STACK and DATA that differs from the pattern afterwards, FPU "-" or the fields of the
 * x87/SSE state that differ from the case's input, in the input's format and key order. Then
 * the regions are restored. A case still running after about two seconds ends as signal 14
 * (SIGALRM).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <ucontext.h>

#define PAGE 0x1000UL
/* The prologue page and, one page up, the input block and the prologue's stack: far above the
 * scratch regions, where nothing of the engine's guest is mapped either. */
#define PROLOGUE 0x1000000000UL
#define INBLK (PROLOGUE + PAGE)
#define IN_RFLAGS (INBLK + 16 * 8)
#define IN_RIP (INBLK + 17 * 8)
#define IN_STACK_TOP (INBLK + PAGE)
/* The case's x87/SSE state, an FXSAVE64 image (16-byte aligned). */
#define IN_FX (INBLK + 0x200)

static uint64_t code, code_size, stack, stack_size, data, data_rw, data_size;
static sigjmp_buf env;
static volatile sig_atomic_t running, ticks, started;
static uint64_t res_regs[16], res_sig, res_trapno, res_err, res_cr2, res_rip, res_rflags;
static uint8_t res_fx[512];

/* The initial contents of STACK and DATA: the splitmix64 finaliser of the address. */
static uint64_t pattern(uint64_t addr) {
  uint64_t z = addr + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static void die(const char *what) {
  perror(what);
  exit(2);
}

static void map(uint64_t addr, uint64_t size, int prot) {
  void *p = mmap((void *)addr, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (p != (void *)addr) die("mmap at a fixed address");
}

static void fill_pattern(uint64_t at, uint64_t size) {
  for (uint64_t a = at; a < at + size; a += 8) *(uint64_t *)a = pattern(a);
}

/* The ucontext registers in encoding order. */
static const int GREG[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
                             REG_R8,  REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15};

static void on_signal(int sig, siginfo_t *si, void *ucv) {
  (void)si;
  if (!running) return; /* a stray SIGALRM between cases */
  if (sig == SIGALRM && ticks++ < 2) return;
  const greg_t *g = ((ucontext_t *)ucv)->uc_mcontext.gregs;
  for (int i = 0; i < 16; i++) res_regs[i] = (uint64_t)g[GREG[i]];
  res_sig = (uint64_t)sig;
  res_trapno = (uint64_t)g[REG_TRAPNO];
  res_err = (uint64_t)g[REG_ERR];
  res_cr2 = (uint64_t)g[REG_CR2];
  res_rip = (uint64_t)g[REG_RIP];
  res_rflags = (uint64_t)g[REG_EFL];
  const void *fp = ((ucontext_t *)ucv)->uc_mcontext.fpregs;
  if (fp) memcpy(res_fx, fp, sizeof res_fx);
  else memset(res_fx, 0xff, sizeof res_fx);
  running = 0;
  siglongjmp(env, 1);
}

/* Appends a RIP-relative disp32 to `addr` for an instruction ending 4 bytes (+ `tail`) on. */
static uint8_t *rel32(uint8_t *p, uint64_t addr, int tail) {
  int32_t disp = (int32_t)(addr - ((uint64_t)p + 4 + tail));
  memcpy(p, &disp, 4);
  return p + 4;
}

/* RSP to the prologue stack, the x87/SSE state, RFLAGS, the 16 registers, then jmp [IN_RIP];
 * nothing after the popfq changes a flag. Every operand is RIP-relative. */
static void write_prologue(void) {
  uint8_t *p = (uint8_t *)PROLOGUE;
  *p++ = 0x48, *p++ = 0x8d, *p++ = 0x25; /* lea rsp, [rip+disp32] */
  p = rel32(p, IN_STACK_TOP, 0);
  *p++ = 0x48, *p++ = 0x0f, *p++ = 0xae, *p++ = 0x0d; /* fxrstor64 [rip+disp32] */
  p = rel32(p, IN_FX, 0);
  *p++ = 0xff, *p++ = 0x35; /* push qword [rip+disp32] */
  p = rel32(p, IN_RFLAGS, 0);
  *p++ = 0x9d; /* popfq */
  for (int r = 0; r < 16; r++) {
    *p++ = (uint8_t)(0x48 | (r >= 8 ? 4 : 0)); /* mov r64, [rip+disp32] */
    *p++ = 0x8b;
    *p++ = (uint8_t)(((r & 7) << 3) | 5);
    p = rel32(p, INBLK + 8 * (uint64_t)r, 0);
  }
  *p++ = 0xff, *p++ = 0x25; /* jmp [rip+disp32] */
  rel32(p, IN_RIP, 0);
}

static int in_code(uint64_t a) { return a >= code && a < code + code_size; }
static int in_patterned(uint64_t a) {
  return (a >= stack && a < stack + stack_size) || (a >= data && a < data + data_size);
}

/* Patches written by the current case, to restore afterwards. */
#define MAX_PATCHES 64
static uint64_t patch_at[MAX_PATCHES], patch_len[MAX_PATCHES];
static int npatches;

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Applies "ADDR:HEX,ADDR:HEX"; the read-only page is made writable around the writes. */
static void apply_patches(char *s) {
  npatches = 0;
  if (!s || *s == '-') return;
  mprotect((void *)(data + data_rw), data_size - data_rw, PROT_READ | PROT_WRITE);
  while (*s && npatches < MAX_PATCHES) {
    char *end;
    uint64_t at = strtoull(s, &end, 16);
    if (*end != ':') break;
    s = end + 1;
    uint64_t a = at;
    while (hexval(s[0]) >= 0 && hexval(s[1]) >= 0) {
      if (in_code(a) || in_patterned(a)) *(uint8_t *)a = (uint8_t)(hexval(s[0]) << 4 | hexval(s[1]));
      s += 2, a++;
    }
    patch_at[npatches] = at, patch_len[npatches++] = a - at;
    if (*s == ',') s++;
  }
  mprotect((void *)(data + data_rw), data_size - data_rw, PROT_READ);
}

/* The x87/SSE state fields of a case line, with their offsets and sizes in the FXSAVE image;
 * numbers are little-endian values, byte fields hex bytes in memory order. */
struct fx_field {
  char key[4];
  int at, size, bytes;
};
static struct fx_field fx_fields[7 + 8 + 16] = {
    {"c", 0, 2, 0}, {"s", 2, 2, 0}, {"t", 4, 1, 0}, {"o", 6, 2, 0},
    {"i", 8, 8, 0}, {"p", 16, 8, 0}, {"m", 24, 4, 0},
};
#define FX_FIELDS ((int)(sizeof fx_fields / sizeof fx_fields[0]))

static void init_fx_fields(void) {
  for (int i = 0; i < 8; i++) {
    struct fx_field *f = &fx_fields[7 + i];
    snprintf(f->key, sizeof f->key, "r%d", i);
    f->at = 32 + 16 * i, f->size = 10, f->bytes = 1;
  }
  for (int i = 0; i < 16; i++) {
    struct fx_field *f = &fx_fields[15 + i];
    snprintf(f->key, sizeof f->key, "x%d", i);
    f->at = 160 + 16 * i, f->size = 16, f->bytes = 1;
  }
}

/* The case's input image: the reset state with the fields of `s` applied. */
static void parse_fpu(char *s, uint8_t *img) {
  memset(img, 0, 512);
  img[0] = 0x7f, img[1] = 0x03;   /* FCW 037F */
  img[24] = 0x80, img[25] = 0x1f; /* MXCSR 1F80 */
  if (!s || *s == '-') return;
  while (*s) {
    char *eq = strchr(s, '=');
    if (!eq) break;
    *eq = 0;
    const struct fx_field *f = NULL;
    for (int i = 0; i < FX_FIELDS; i++)
      if (strcmp(fx_fields[i].key, s) == 0) f = &fx_fields[i];
    if (!f) {
      fprintf(stderr, "difftest: unknown FPU field %s\n", s);
      exit(2);
    }
    char *end;
    s = eq + 1;
    if (f->bytes) {
      for (int k = 0; k < f->size && hexval(s[0]) >= 0 && hexval(s[1]) >= 0; k++, s += 2)
        img[f->at + k] = (uint8_t)(hexval(s[0]) << 4 | hexval(s[1]));
      end = s;
    } else {
      uint64_t v = strtoull(s, &end, 16);
      memcpy(img + f->at, &v, (size_t)f->size);
    }
    s = *end == ',' ? end + 1 : end;
  }
}

/* Prints the fields of `now` that differ from `was`, or "-". */
static void print_fpu(const uint8_t *was, const uint8_t *now) {
  int first = 1;
  for (int i = 0; i < FX_FIELDS; i++) {
    const struct fx_field *f = &fx_fields[i];
    if (memcmp(was + f->at, now + f->at, (size_t)f->size) == 0) continue;
    printf("%s%s=", first ? " " : ",", f->key);
    first = 0;
    if (f->bytes) {
      for (int k = 0; k < f->size; k++) printf("%02x", now[f->at + k]);
    } else {
      uint64_t v = 0;
      memcpy(&v, now + f->at, (size_t)f->size);
      printf("%lx", v);
    }
  }
  if (first) printf(" -");
}

static void restore_code(void) {
  for (int i = 0; i < npatches; i++)
    for (uint64_t a = patch_at[i]; a < patch_at[i] + patch_len[i]; a++)
      if (in_code(a)) *(uint8_t *)a = 0xcc;
}

/* Prints the words of [at, at+size) that differ from the pattern and restores them. */
static int diff_region(uint64_t at, uint64_t size, int first) {
  for (uint64_t a = at; a < at + size; a += 8) {
    uint64_t v = *(uint64_t *)a, want = pattern(a);
    if (v == want) continue;
    printf("%s%lx:%lx", first ? " " : ",", a, v);
    first = 0;
    *(uint64_t *)a = want;
  }
  return first;
}

static void run_case(char *line) {
  char *save = NULL;
  char *tok[21];
  int n = 0;
  for (char *t = strtok_r(line, " \t\n", &save); t && n < 21; t = strtok_r(NULL, " \t\n", &save)) tok[n++] = t;
  if (n < 18) {
    fprintf(stderr, "difftest: bad case line (%d fields)\n", n);
    exit(2);
  }
  uint64_t *in = (uint64_t *)INBLK;
  in[17] = strtoull(tok[0], NULL, 16);
  in[16] = strtoull(tok[1], NULL, 16);
  for (int r = 0; r < 16; r++) in[r] = strtoull(tok[2 + r], NULL, 16);
  apply_patches(n > 18 ? tok[18] : NULL);
  parse_fpu(n > 19 ? tok[19] : NULL, (uint8_t *)IN_FX);

  ticks = 0;
  running = 1;
  if (sigsetjmp(env, 0) == 0) ((void (*)(void))PROLOGUE)();
  /* Back from the signal handler (DF is clear: the kernel clears it for handlers). */
  printf("%lx %lx %lx %lx %lx %lx", res_sig, res_trapno, res_err, res_cr2, res_rip, res_rflags);
  for (int r = 0; r < 16; r++) printf(" %lx", res_regs[r]);
  int first = diff_region(stack, stack_size, 1);
  first = diff_region(data, data_rw, first);
  mprotect((void *)(data + data_rw), data_size - data_rw, PROT_READ | PROT_WRITE);
  first = diff_region(data + data_rw, data_size - data_rw, first);
  mprotect((void *)(data + data_rw), data_size - data_rw, PROT_READ);
  if (first) printf(" -");
  print_fpu((const uint8_t *)IN_FX, res_fx);
  putchar('\n');
  restore_code();
}

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: difftest CODE CODE_SIZE STACK STACK_SIZE DATA DATA_RW_SIZE DATA_SIZE\n");
    return 2;
  }
  uint64_t *v[7] = {&code, &code_size, &stack, &stack_size, &data, &data_rw, &data_size};
  for (int i = 0; i < 7; i++) *v[i] = strtoull(argv[i + 1], NULL, 16);

  map(PROLOGUE, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC);
  map(INBLK, PAGE, PROT_READ | PROT_WRITE);
  map(code, code_size, PROT_READ | PROT_WRITE | PROT_EXEC);
  map(stack, stack_size, PROT_READ | PROT_WRITE);
  map(data, data_size, PROT_READ | PROT_WRITE);
  memset((void *)code, 0xcc, code_size);
  fill_pattern(stack, stack_size);
  fill_pattern(data, data_size);
  mprotect((void *)(data + data_rw), data_size - data_rw, PROT_READ);
  write_prologue();
  init_fx_fields();

  /* Snippets run on their own stack, so signals need another one. */
  stack_t ss = {.ss_sp = malloc(1 << 16), .ss_size = 1 << 16};
  if (!ss.ss_sp || sigaltstack(&ss, NULL) != 0) die("sigaltstack");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  const int sigs[] = {SIGSEGV, SIGILL, SIGFPE, SIGTRAP, SIGBUS, SIGALRM};
  for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if (sigaction(sigs[i], &sa, NULL) != 0) die("sigaction");
  struct itimerval tick = {{1, 0}, {1, 0}};
  setitimer(ITIMER_REAL, &tick, NULL);

  static char line[1 << 16];
  setvbuf(stdout, NULL, _IOFBF, 1 << 20);
  while (fgets(line, sizeof line, stdin)) {
    if (line[0] == '\n' || line[0] == '#') continue;
    run_case(line);
  }
  fflush(stdout);
  return 0;
}
