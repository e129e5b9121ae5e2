/* kd io: files that must survive crashes, JSON, and the tensor container
 * Hugging Face reads. Nothing here knows about models: GPT-2's config.json
 * and model directories are one layer up, in kd/hf.h.
 *
 *   atomic files     write to a temporary name, fsync, rename, fsync the
 *                    directory: readers see the old file or the new one,
 *                    never a torn one (models, checkpoints, the logit cache)
 *   JSON files       whole-file reading with line:column errors, exact numbers
 *   safetensors      HF's tensor container: a validating reader and a writer
 *
 * Every function that reads a file checks each size and offset it finds
 * before using it, and fails with a one-line message naming the file and,
 * where there is one, the tensor or key. */
#ifndef KD_IO_H
#define KD_IO_H

#include "kd/core.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* ---- atomic files ---------------------------------------------------- */

typedef struct {
    char *path;       /* the final name */
    char *temp_path;  /* ".<name>.tmp-XXXXXX" in the same directory */
    int fd;
} atomic_file;

/* Creates the temporary file next to `path`; nothing at `path` changes until
 * kd_atomic_file_commit. On failure `file` needs no abort. */
kd_status kd_atomic_file_open(atomic_file *file, const char *path);
kd_status kd_atomic_file_write(atomic_file *file, const void *data, size_t size);
/* fsync, close, rename over `path`, fsync the directory. Always releases
 * `file`; on failure the temporary file is removed and `path` is untouched. */
kd_status kd_atomic_file_commit(atomic_file *file);
/* Removes the temporary file and releases `file` (for error paths). */
void kd_atomic_file_abort(atomic_file *file);

kd_status kd_atomic_write_file(const char *path, const void *data, size_t size);
kd_status kd_atomic_copy_file(const char *source, const char *destination);
/* mkdir -p: creates `path` and any missing parents. */
kd_status kd_make_directories(const char *path);
/* fsync of a directory, so that renames in it survive a power cut. */
kd_status kd_directory_sync(const char *dir);

/* rm -rf: removes `path` and everything under it (symbolic links are removed,
 * never followed); a missing path is not an error. */
kd_status kd_remove_tree(const char *path);

/* ---- directory locks --------------------------------------------------
 *
 * One writer or any number of readers per directory, across processes: an
 * flock on "<dir>/.kd-lock". The kernel drops the lock when its process
 * ends, however it ends, so kill -9 never leaves a directory locked. Nobody
 * waits: a lock that is taken fails at once, with a one-line message naming
 * the directory and the process that holds it. A writer's pid is also
 * written into the file for people to read; the file is emptied when the
 * writer releases it. */

#define KD_LOCK_FILE ".kd-lock"

typedef enum { KD_LOCK_SHARED, KD_LOCK_EXCLUSIVE } kd_lock_mode;

typedef struct {
    int fd;         /* -1: nothing held */
    int exclusive;
} kd_dir_lock;

/* KD_LOCK_EXCLUSIVE creates `dir` (mkdir -p) and its lock file. A reader
 * (KD_LOCK_SHARED) creates nothing: it locks "<dir>/.kd-lock", else, for a
 * model directory inside a run directory (runs/x/teacher/model), the parent's
 * lock file, else nothing at all: no kd command has written there. */
kd_status kd_dir_lock_acquire(const char *dir, kd_lock_mode mode, kd_dir_lock *lock);
/* Releases the lock (a no-op for one that holds nothing). */
void kd_dir_lock_release(kd_dir_lock *lock);

/* Whether `dir` holds anything besides its lock file and the entry named
 * `except` (NULL: none); a missing directory holds nothing. */
int kd_dir_holds_files(const char *dir, const char *except);
/* Empties `dir`, which `lock` holds exclusively, in one step: an empty
 * directory with a new, locked lock file is prepared as "<dir>.kd-trash" and
 * exchanged with `dir` by one rename (RENAME_EXCHANGE), then the old contents
 * are removed. Killed at any point, `dir` holds either everything it held or
 * nothing; a "<dir>.kd-trash" left behind is removed by the next
 * kd_dir_remove_trash. `lock` then holds the new lock file. */
kd_status kd_dir_clear(const char *dir, kd_dir_lock *lock);
/* Removes what an interrupted kd_dir_clear of `dir` left beside it; the
 * caller holds `dir` exclusively. */
kd_status kd_dir_remove_trash(const char *dir);

/* Reads exactly `size` bytes at `offset` of an open file, retrying short
 * reads; a file that ends early is KD_ERR_FORMAT ("truncated"). */
kd_status kd_file_read_at(int fd, const char *path, void *buffer, size_t size, uint64_t offset);

/* Reads and parses a JSON file (at most 256 MB); a syntax error is reported
 * as "path:line:column: malformed JSON". The caller cJSON_Deletes *root. */
kd_status kd_json_read_file(const char *path, cJSON **root);

/* Adds `value` to `object` as the shortest decimal that reads back as
 * exactly the same double (null when it is not finite, as JSON has no
 * infinity). cJSON_AddNumberToObject keeps only 15 digits whenever they read
 * back within a relative 2^-52, so 2^53 - 1 would come back as
 * 9007199254740990 and a seed or fraction would not match its own run. */
void kd_json_add_exact_number(cJSON *object, const char *key, double value);
/* The same for a float: the shortest decimal that reads back as it (0.1f is
 * written 0.1, not 0.10000000149011612). */
void kd_json_add_float(cJSON *object, const char *key, float value);

/* ---- safetensors ----------------------------------------------------- */

/* The byte-sized dtypes of the safetensors format. kd converts only F32,
 * F16 and BF16 to numbers, but knows the others so that a file carrying,
 * say, a U8 attention mask still validates. */
typedef enum {
    SAFETENSORS_BOOL,
    SAFETENSORS_U8,
    SAFETENSORS_I8,
    SAFETENSORS_F8_E5M2,
    SAFETENSORS_F8_E4M3,
    SAFETENSORS_I16,
    SAFETENSORS_U16,
    SAFETENSORS_F16,
    SAFETENSORS_BF16,
    SAFETENSORS_I32,
    SAFETENSORS_U32,
    SAFETENSORS_F32,
    SAFETENSORS_F64,
    SAFETENSORS_I64,
    SAFETENSORS_U64,
    SAFETENSORS_DTYPE_COUNT
} safetensors_dtype;

const char *kd_safetensors_dtype_name(safetensors_dtype dtype);
size_t kd_safetensors_dtype_size(safetensors_dtype dtype);

enum { SAFETENSORS_MAX_DIMS = 8 };
/* The reference implementation's limit; a longer header is corruption. */
#define SAFETENSORS_MAX_HEADER_BYTES 100000000u

typedef struct {
    const char *name;  /* points into the parsed header */
    safetensors_dtype dtype;
    int ndim;          /* 0 for a scalar */
    int64_t shape[SAFETENSORS_MAX_DIMS];
    uint64_t data_begin;  /* byte range inside the data section */
    uint64_t data_end;
} safetensors_tensor;

typedef struct {
    char *path;
    int fd;
    uint64_t data_offset;  /* 8 + header length */
    uint64_t data_size;
    cJSON *header;
    const cJSON *metadata; /* "__metadata__" (string values only), or NULL */
    safetensors_tensor *tensors;  /* in header order */
    int tensor_count;
} safetensors_file;

/* Opens and validates the whole header: lengths, JSON, dtypes, shapes,
 * sizes, and that the tensors tile the data section exactly (no overlap,
 * no gap, nothing after the last one), as the reference reader requires. */
kd_status kd_safetensors_open(safetensors_file *file, const char *path);
void kd_safetensors_close(safetensors_file *file);
const safetensors_tensor *kd_safetensors_find(const safetensors_file *file, const char *name);
/* A "__metadata__" value, or NULL when absent. */
const char *kd_safetensors_metadata(const safetensors_file *file, const char *key);
uint64_t kd_safetensors_tensor_elements(const safetensors_tensor *tensor);
/* Elements [first, first + count) of `tensor` converted to F32 (from F32,
 * F16 or BF16; other dtypes are KD_ERR_UNSUPPORTED). */
kd_status kd_safetensors_read_f32(const safetensors_file *file, const safetensors_tensor *tensor,
                                  uint64_t first, uint64_t count, float *out);

/* One tensor to write: F32 data in row-major order. */
typedef struct {
    const char *name;
    const float *data;
    int ndim;
    int64_t shape[SAFETENSORS_MAX_DIMS];
} safetensors_source;

/* Writes `tensors` atomically, in the given order, stored as `dtype`
 * (SAFETENSORS_F32, or SAFETENSORS_F16 rounded to nearest even). The header
 * carries {"__metadata__": {"format": "pt"}}, which transformers expects,
 * and is padded with spaces to a multiple of 8 bytes as HF's writer does. */
kd_status kd_safetensors_write(const char *path, const safetensors_source *tensors, int count,
                               safetensors_dtype dtype);

#endif
