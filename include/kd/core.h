/* kd core: status codes and error messages, deterministic RNG, timers,
 * memory figures, half-precision conversions, and the CPU/BLAS set-up every entry point runs first. */
#ifndef KD_CORE_H
#define KD_CORE_H

#include "kd/limits.h"

#include <stddef.h>
#include <stdint.h>

/* Every function that can fail returns a kd_status; on failure it has also
 * left a one-line message for kd_last_error(). The message lives in
 * thread-local storage so that threads never overwrite each other's. */
typedef enum {
    KD_OK = 0,
    KD_ERR_IO,          /* a file could not be read or written */
    KD_ERR_FORMAT,      /* a file or text is malformed */
    KD_ERR_INVALID,     /* a value is out of range or inconsistent */
    KD_ERR_NOMEM,       /* an allocation failed or would not fit */
    KD_ERR_NUMERIC,     /* NaN or Inf where numbers must be finite */
    KD_ERR_UNSUPPORTED  /* valid but not handled by kd */
} kd_status;

const char *kd_status_name(kd_status status);

/* Records a printf-style message and returns `status`, so that callers write
 *     return kd_fail(KD_ERR_FORMAT, "%s: header length %zu past end", path, n); */
kd_status kd_fail(kd_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prepends "context: " to the current message (for adding a file name). */
kd_status kd_fail_context(kd_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *kd_last_error(void);
void kd_clear_error(void);

/* Reads a whole regular file of at most `max_bytes` into a malloc'd buffer
 * with a NUL after the last byte (the size excludes it). */
kd_status kd_read_file(const char *path, size_t max_bytes, char **data, size_t *size);

/* Writes "dir/name" into out (capacity bytes); KD_ERR_INVALID when it does
 * not fit, so a long path is an error, never a silently cut one. */
kd_status kd_path_join(char *out, size_t capacity, const char *dir, const char *name);
/* The directory holding `path`: "a/b/c" -> "a/b", "a/b/" -> "a", "c" -> ".",
 * "/c" -> "/". */
kd_status kd_path_parent(char *out, size_t capacity, const char *path);

/* XXH3-64 of a file's contents and length (streamed; any size). */
kd_status kd_hash_file(const char *path, uint64_t *hash);

/* Checked allocation: NULL with a KD_ERR_NOMEM message naming `what`. */
void *kd_alloc(size_t count, size_t size, const char *what);
/* count * size without overflow; 0 on overflow. */
size_t kd_mul_size(size_t count, size_t size);

/* Deterministic RNG (splitmix64-seeded xoshiro256**): same seed, same stream,
 * on every machine. The state is plain data so checkpoints can save it. */
typedef struct {
    uint64_t s[4];
} kd_rng;

void kd_rng_seed(kd_rng *rng, uint64_t seed);
uint64_t kd_rng_next(kd_rng *rng);
float kd_rng_uniform(kd_rng *rng);          /* [0, 1) */
float kd_rng_normal(kd_rng *rng);           /* standard normal */
uint64_t kd_rng_below(kd_rng *rng, uint64_t n); /* uniform in [0, n), unbiased */

double kd_now_seconds(void);                /* monotonic clock */
/* CPU time of this process, all threads: with one thread, a timing that
 * other programs on a loaded machine hardly change. */
double kd_cpu_seconds(void);
double kd_peak_rss_mb(void);                /* peak resident set of this process */
size_t kd_physical_memory_bytes(void);

/* Makes OpenBLAS use the fastest kernels this CPU supports and OpenMP's idle
 * threads spin briefly (GOMP_SPINCOUNT=KD_OMP_SPINCOUNT) before they sleep.
 * Debian's OpenBLAS 0.3.21 does not recognise newer CPUs and falls back to
 * SSE3 kernels, and libgomp's long default spin slows decoding several times
 * over. Both libraries read their setting once, when they initialise, so when
 * either needs changing this re-executes the program with OPENBLAS_CORETYPE
 * and/or GOMP_SPINCOUNT set; a value the user set (OPENBLAS_CORETYPE,
 * GOMP_SPINCOUNT, OMP_WAIT_POLICY) is kept. Call it first thing in main().
 * Returns normally when nothing needs changing or the re-exec is impossible. */
#define KD_OMP_SPINCOUNT "10000"
void kd_runtime_tune(int argc, char **argv);
/* How OpenMP's idle threads wait, as the environment sets it, e.g.
 * "GOMP_SPINCOUNT=10000" or "OMP_WAIT_POLICY=PASSIVE"; "libgomp default" when
 * neither is set (kd_runtime_tune could not re-execute). */
const char *kd_omp_wait_setting(char *buf, size_t size);
/* The OpenBLAS core in use, e.g. "SkylakeX". */
const char *kd_blas_core_name(void);
/* Sets the thread count for both OpenMP and OpenBLAS. */
void kd_set_threads(int threads);
int kd_threads(void);

/* Half precision: IEEE binary16 (F16) and bfloat16 (BF16) <-> F32, bit-exact.
 * Here rather than in io because both io's safetensors and quant's blocks
 * (an F16 scale each) need them. */
float kd_float16_to_float(uint16_t bits);
/* Round to nearest even; overflow gives +-inf, NaN stays a (quiet) NaN. */
uint16_t kd_float_to_float16(float value);
float kd_bfloat16_to_float(uint16_t bits);

/* A progress line on stderr: a live bar redrawn in place on a terminal,
 * plain log lines (at most one every few seconds) otherwise. */
typedef struct {
    const char *label;
    long total;
    double start_s;
    double last_print_s;
    int interactive;
    int drawn;          /* the bar is on the terminal's current line */
} kd_progress;

void kd_progress_start(kd_progress *progress, const char *label, long total);
/* `status` is free text after the counters, e.g. "loss 2.31 | 5210 tok/s". */
void kd_progress_update(kd_progress *progress, long done, const char *status);
/* Erases the bar, so that a line printed next starts on a clean line (the
 * next update draws the bar again, below it). Call it before printing
 * anything while a progress line is live. */
void kd_progress_clear(kd_progress *progress);
void kd_progress_finish(kd_progress *progress);

#endif
