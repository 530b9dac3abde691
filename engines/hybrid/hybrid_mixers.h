// The token mixers the hybrid family adds to the matrix memories of
// engines/common/matrix_mixers.h: softmax attention over the session's KV
// rows (full or windowed, as the stack's KV policy says), and a parallel
// mixer that runs several mixers side by side on slices of one block's
// q, k, v and concatenates their outputs — so the block's output projection
// Wo = [Wo_1 | Wo_2 | …] sums their contributions (Based: a window plus a
// linear-attention state in one block).
#ifndef TRILEMMA_ENGINES_HYBRID_HYBRID_MIXERS_H_
#define TRILEMMA_ENGINES_HYBRID_HYBRID_MIXERS_H_

#include <memory>
#include <vector>

#include "engines/common/circuit_stack.h"
#include "engines/common/token_mixer.h"

namespace trilemma {

// One slice of a ParallelMixer: `mixer` reads qk_width q/k floats and
// v_width v floats and writes v_width output floats.
struct MixerPart {
  std::unique_ptr<TokenMixer> mixer;
  int qk_width = 0;
  int v_width = 0;
};

// Runs parts[i] on q/k[qk offset_i, +qk_width_i), v[v offset_i, +v_width_i)
// and writes its output to o at the same value offset. The fixed states are
// laid out part after part; at most one part may keep KV.
std::unique_ptr<TokenMixer> MakeParallelMixer(std::vector<MixerPart> parts);

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_HYBRID_HYBRID_MIXERS_H_
