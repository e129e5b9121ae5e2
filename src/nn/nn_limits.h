/* Fixed sizes shared inside nn. */
#ifndef KD_NN_LIMITS_H
#define KD_NN_LIMITS_H

/* Rows of logits the fused head computes at once: large enough for sgemm to
 * run near peak, small enough that (rows, V) floats (51 MB at V = 50257)
 * stay far below the full (B, T, V) tensor. */
enum { HEAD_MAX_ROWS = 256 };

/* Loops over fewer floats than this run on one thread: forking a team
 * costs more than it saves, and on a busy machine every barrier may wait a
 * whole scheduler slice for a descheduled thread. Decoding one token is
 * made of such small loops. */
enum { PARALLEL_MIN_FLOATS = 1 << 15 };

#endif
