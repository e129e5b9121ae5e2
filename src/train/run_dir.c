/* Who may write a run directory, and over what: one writer at a time (an
 * exclusive kd_dir_lock for the whole command), and earlier work is only
 * continued or thrown away when the command line says which. */
#include <stdio.h>

#include "kd/dist.h"
#include "kd/io.h"
#include "kd/train.h"

static kd_status claim(const char *dir, run_dir_start start, const char *what,
                       kd_dir_lock *lock)
{
    kd_status status = kd_dir_lock_acquire(dir, KD_LOCK_EXCLUSIVE, lock);
    if (status != KD_OK)
        return status;
    status = kd_dir_remove_trash(dir);
    /* The tokenized dataset alone is no run: it is keyed by its inputs and
     * re-used or rebuilt as they require, and a run that failed while setting
     * up leaves nothing else. */
    if (status == KD_OK && kd_dir_holds_files(dir, KD_RUN_DATASET_CACHE_DIR)) {
        if (start == RUN_DIR_NEW)
            status = kd_fail(KD_ERR_INVALID, "%s holds %s: --resume continues it, --force "
                             "starts over", dir, what);
        else if (start == RUN_DIR_FORCE && (status = kd_dir_clear(dir, lock)) == KD_OK)
            fprintf(stderr, "%s: removed what it held, to start over\n", dir);
    }
    if (status != KD_OK)
        kd_dir_lock_release(lock);
    return status;
}

/* In a data-parallel job rank 0 alone holds the directory, for all ranks:
 * the others write nothing there and wait until it is ready to read. */
kd_status kd_run_dir_claim(const char *dir, run_dir_start start, const char *what,
                           kd_dir_lock *lock)
{
    *lock = (kd_dir_lock){.fd = -1};
    kd_status status = kd_dist_is_writer() ? claim(dir, start, what, lock) : KD_OK;
    status = kd_dist_check(status);
    if (status != KD_OK)
        kd_dir_lock_release(lock);
    return status;
}

int kd_run_dir_resumes(const char *dir, run_dir_start start)
{
    char last[KD_PATH_CAPACITY];
    if (start != RUN_DIR_RESUME)
        return 0;
    if (kd_path_join(last, sizeof last, dir, KD_RUN_LAST_DIR) == KD_OK && kd_checkpoint_exists(last))
        return 1;
    kd_clear_error();
    if (kd_dist_is_writer())
        fprintf(stderr, "%s: no checkpoint yet, so --resume starts from step 0\n", dir);
    return 0;
}
