/* kd limits: the sizes and file names that several modules must agree on,
 * defined once so that they cannot drift apart. A size only one file uses
 * stays in that file. Included by kd/core.h, so every module sees it. */
#ifndef KD_LIMITS_H
#define KD_LIMITS_H

enum {
    /* Every path kd builds (Linux's PATH_MAX); kd_path_join refuses a longer
     * one rather than cut it. */
    KD_PATH_CAPACITY = 4096,
};

#endif
