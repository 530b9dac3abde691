// TRILEMMA_VECTOR_KERNEL: compiles a kernel for AVX-512, AVX2+FMA and
// baseline x86-64, the copy picked once at load time by the CPU it runs on
// (GCC function multi-versioning). The build targets any x86-64; the hot
// per-row loops still get the wide registers where they exist.
//
// Example:
//   TRILEMMA_VECTOR_KERNEL
//   void Scale(float* x, int64_t n, float a) {
//     for (int64_t i = 0; i < n; ++i) x[i] *= a;  // vectorised per ISA
//   }
//
// Inline helpers called from such a kernel (Dot, Axpy, FastExp) are compiled
// into each copy. Elsewhere (other compilers or CPUs) it expands to nothing.
#ifndef TRILEMMA_ENGINES_OPS_CPU_DISPATCH_H_
#define TRILEMMA_ENGINES_OPS_CPU_DISPATCH_H_

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TRILEMMA_VECTOR_KERNEL \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TRILEMMA_VECTOR_KERNEL
#endif

#endif  // TRILEMMA_ENGINES_OPS_CPU_DISPATCH_H_
