/* What the MPI files of dist share (internal to dist). */
#ifndef KD_DIST_INTERNAL_H
#define KD_DIST_INTERNAL_H

#include <stddef.h>

/* Rank `rank`'s slice of `count` values: [*begin, *end), the rank-th of
 * N near-equal ranges (kd_dist_slice for any rank). */
void kd_dist_slice_of(size_t count, int rank, size_t *begin, size_t *end);
/* Whether MPI may be called from several threads, one at a time. */
int kd_dist_threads_serialized(void);
/* Adds to what kd_dist_traffic reports. */
void kd_dist_count_traffic(double seconds, double bytes_sent);
/* Frees the buckets' buffers and communicator; before MPI_Finalize. */
void kd_dist_buckets_release(void);

#endif
