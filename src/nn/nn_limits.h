/* Fixed sizes shared inside nn. */
#ifndef KD_NN_LIMITS_H
#define KD_NN_LIMITS_H

/* Rows of logits the fused head computes at once: large enough for sgemm to
 * run near peak, small enough that (rows, V) floats (51 MB at V = 50257)
 * stay far below the full (B, T, V) tensor. */
enum { HEAD_MAX_ROWS = 256 };

#endif
