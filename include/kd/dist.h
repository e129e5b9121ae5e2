/* kd dist: the ranks of a data-parallel job. Under mpirun (a build with
 * MPI) every process is one rank of MPI_COMM_WORLD; anywhere else, and in a
 * build without MPI, the process is the only rank and every function below
 * is a no-op, so the training loop reads the same either way.
 *
 * Every collective is called by every rank in the same order. Sums are
 * reduced in rank order (never in the order messages arrive), so two runs
 * with the same number of ranks agree bit for bit. A rank that dies takes
 * the job down (MPI_ERRORS_ARE_FATAL, mpirun's behaviour). */
#ifndef KD_DIST_H
#define KD_DIST_H

#include "kd/core.h"

#include <stddef.h>
#include <stdint.h>

/* Joins the job when launched by mpirun (MPI_Init), else does nothing. */
kd_status kd_dist_start(int *argc, char ***argv);
/* Leaves it: MPI_Finalize after success or a failure every rank shares
 * (kd_dist_check), MPI_Abort after a failure of this rank alone, so that no
 * other rank waits in a collective for it. */
void kd_dist_stop(int failed);

int kd_dist_rank(void);
int kd_dist_size(void);
/* Rank 0 writes the files of a job; the others stay quiet. */
int kd_dist_is_writer(void);

/* values[i] = the sum over ranks of values[i], added in rank order. */
kd_status kd_dist_sum_doubles(double *values, int count);
kd_status kd_dist_sum_floats(float *values, size_t count);

/* ZeRO-1's halves of kd_dist_sum_floats. Each rank owns one slice of a
 * buffer of `count` floats (kd_dist_slice: rank r the r-th of N near-equal
 * ranges). The reduce-scatter leaves in this rank's slice the sums over the
 * ranks (in rank order; the rest of the buffer is left as it was); the
 * gather copies every rank's slice to every rank. */
kd_status kd_dist_reduce_scatter_floats(float *values, size_t count);
kd_status kd_dist_gather_floats(float *values, size_t count);
void kd_dist_slice(size_t count, size_t *begin, size_t *end);

/* Sums over the ranks that advance while the caller computes: data-parallel
 * training starts a layer's gradient sums as soon as the backward pass has
 * finished that layer, and the layers below it are computed meanwhile.
 * kd_dist_bucket_start copies `piece_count` pieces of floats (one bucket) and
 * starts their sums; kd_dist_buckets_progress lets every started sum advance
 * (MPI moves data only inside MPI calls: call it often); kd_dist_buckets_finish
 * waits for them all. A bucket's sums are written back into its pieces by
 * progress or finish once complete, so the pieces must not be touched from
 * start to finish. Every rank starts the same buckets in the same order; the
 * sums are the bits kd_dist_sum_floats gives. */
kd_status kd_dist_bucket_start(float *const *pieces, const size_t *counts, int piece_count);
void kd_dist_buckets_progress(void);
kd_status kd_dist_buckets_finish(void);

/* What the sums and gathers of floats have cost this rank so far: seconds inside it
 * (waiting for slower ranks included) and bytes it sent. */
void kd_dist_traffic(double *seconds, double *bytes_sent);

/* The ranks' outcomes of one stage: `local` when this rank failed, else
 * KD_ERR_INVALID ("rank R failed") when another did; KD_OK when all
 * succeeded. A failure seen this way is shared: every rank stops cleanly. */
kd_status kd_dist_check(kd_status local);

/* Runs `step` on rank 0, then, once it succeeded, on the other ranks: for
 * work whose files rank 0 writes and the others then read (the dataset
 * cache, opening a logit cache). Every rank learns of a failure of rank 0. */
kd_status kd_dist_writer_first(kd_status (*step)(void *context), void *context);

/* Whether every rank holds the same `value` for `what` ("the config");
 * otherwise every rank fails with one line naming it and the ranks that
 * differ from rank 0. */
kd_status kd_dist_agree(const char *what, uint64_t value);

/* The current error is another rank's: say nothing of it (that rank does). */
int kd_dist_failure_is_remote(void);

#endif
