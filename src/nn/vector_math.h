/* glibc's libmvec has vectorised expf, logf and tanhf, but <math.h>
 * announces them only under -ffast-math, which would also drop the NaN/Inf semantics kd
 * relies on to detect a diverging run. Declaring them SIMD-callable here lets
 * the compiler vectorise loops over them (libm's linker script pulls in
 * libmvec); the results stay within libmvec's documented 4 ulp. */
#ifndef KD_NN_VECTOR_MATH_H
#define KD_NN_VECTOR_MATH_H

#include <math.h>

#pragma omp declare simd notinbranch
extern float expf(float);
#pragma omp declare simd notinbranch
extern float logf(float);
#pragma omp declare simd notinbranch
extern float tanhf(float);

#endif
