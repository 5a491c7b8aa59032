// The time loops of birnn's sequence kernels (_scan.py), compiled: forward and back-propagation
// through time for LSTM, GRU (reset after or before the recurrent multiply) and SimpleRNN over packed
// sequences, each optionally under a recurrent dropout mask (RecurrentMask).
//
// Layout (the same as _scan.py's Python loops, which these replace): packed rows, time-major; step t
// is the contiguous block of the n_t rows still running (n_t non-increasing) starting at packed row
// offsets[t], so the state entering step t is the first n_t rows of step t-1's block. Blocks follow
// one another in processing order, or run from the last block to the first (an unmasked
// go_backwards layer reading its input in time order). States are sorted like the packed rows.
// The upstream gradient of the outputs may be absent (only final states are used) or have any row
// stride (a slice of a concatenation's gradient).
// Activations are passed by id (ACTIVATIONS in _native.py); derivatives are taken from outputs.
//
// Per step there is one matrix multiply and one or two element-wise passes written as plain loops that
// the compiler vectorises. The GIL is released, so the two directions of a Bidirectional run on two
// threads at once.
//
// The per-step product is either at::mm / at::addmm into preallocated blocks, or (float32 on a CPU
// with AVX-512, `tiled_available()`) birnn's own register-tiled product over a recurrent kernel
// packed once per call: a step's rows are taken four at a time, each block's product is written
// straight into the gates (adding the projected inputs on the way) and the block's element-wise work
// runs at once, while its rows are still in the L1 cache. MKL repacks the kernel on every call and
// reaches ~82 GFLOP/s on these (64 x 128) x (128 x 512) products on one Zen 4 core; the tiled product
// reaches ~95. It runs on one thread, so it is used where ATen has one thread (`use_tiled`).

#include <torch/extension.h>
#include <ATen/Parallel.h>  // at::get_num_threads

#include <algorithm>
#include <climits>
#include <cmath>
#include <type_traits>
#include <optional>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#define BIRNN_TILED 1
#else
#define BIRNN_TILED 0
#endif

using at::Tensor;


namespace {

enum Activation : int64_t { TANH = 0, SIGMOID = 1, RELU = 2, LINEAR = 3, HARD_SIGMOID = 4, LEGACY_HARD_SIGMOID = 5, SOFTSIGN = 6 };

// ------------------------------------------------------------------------ sigmoid and tanh, 16 lanes
// What the compiler calls for std::exp / std::tanh in a simd loop (libmvec's vector expf, tanhf) costs
// the same as these on ordinary inputs, but falls back to a scalar path for a whole vector as soon as
// one lane's |x| is large (exp over- or underflows): gates saturated by large pre-activations (a relu
// cell's growing state, say) then make a forward loop ~1.8x slower (12 -> 21 ms for the benchmark's
// layer). These have no slow path. Accuracy: exp within ~1 ulp (Cephes's expf polynomial on the
// reduced argument, 2^n by scalef); sigmoid within ~3 ulp and tanh within ~4 ulp of the exact values
// (tested against float64 torch). Both divide by a reciprocal estimate and one Newton step, and tanh
// takes one expm1 for every input (no second polynomial near 0, no blend of two results): the LSTM
// cell's five activations cost ~22 % less than with true divisions and the two-branch tanh (43 -> 34 ns
// per 16 units in a microbenchmark).
// NaN propagates: the clamps are blends on ordered compares, which -ffast-math cannot reorder the way it
// may reorder min / max.
#if BIRNN_TILED
using F16 = __m512;

inline F16 splat(float v) { return _mm512_set1_ps(v); }

// x clamped from below at lo, and to [lo, hi]; NaN stays NaN.
inline F16 at_least(F16 x, float lo) {
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, splat(lo), _CMP_LT_OQ), x, splat(lo));
}
inline F16 clamp16(F16 x, float lo, float hi) {
  return at_least(_mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, splat(hi), _CMP_GT_OQ), x, splat(hi)), lo);
}

// x = n ln2 + r with n an integer and |r| <= ln2 / 2; returns expm1(r) (r + r^2 p(r)), n in `n`.
inline F16 expm1_reduced(F16 x, F16& n) {
  n = _mm512_roundscale_ps(x * splat(1.44269504088896341f), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  F16 r = _mm512_fnmadd_ps(n, splat(0.693359375f), x);  // x - n ln2, ln2 in two parts
  r = _mm512_fnmadd_ps(n, splat(-2.12194440e-4f), r);
  F16 p = splat(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, splat(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, splat(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, splat(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, splat(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, splat(5.0000001201e-1f));
  return _mm512_fmadd_ps(p, r * r, r);
}

// exp(x) for x clamped to [-88, 88] (results between ~6e-39 and ~1.6e38).
inline F16 exp16(F16 x) {
  F16 n;
  const F16 q = expm1_reduced(clamp16(x, -88.0f, 88.0f), n);
  return _mm512_scalef_ps(q + splat(1.0f), n);
}

// 1 / d for normal d: the 14-bit estimate and one Newton step (within ~1 ulp).
inline F16 reciprocal16(F16 d) {
  const F16 y = _mm512_rcp14_ps(d);
  return _mm512_fmadd_ps(y, _mm512_fnmadd_ps(d, y, splat(1.0f)), y);
}

inline F16 sigmoid16(F16 x) { return reciprocal16(splat(1.0f) + exp16(-x)); }

// tanh|x| = -m / (2 + m) with m = expm1(-2|x|) = 2^n (1 + q) - 1, the sign of x put back. -2|x| is
// clamped at -20 (tanh 10 rounds to 1); m keeps its relative accuracy near 0 (n = 0 there: m = q).
inline F16 tanh16(F16 x) {
  const F16 a = _mm512_abs_ps(x);
  F16 n;
  const F16 q = expm1_reduced(at_least(-(a + a), -20.0f), n);
  const F16 t = _mm512_scalef_ps(splat(1.0f), n);
  const F16 m = _mm512_fmadd_ps(t, q, t - splat(1.0f));
  const F16 magnitude = -m * reciprocal16(splat(2.0f) + m);
  return _mm512_castsi512_ps(_mm512_or_si512(
      _mm512_castps_si512(magnitude), _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(INT32_MIN))));
}

inline __mmask16 tail_mask(int64_t remaining) {
  return remaining >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << remaining) - 1u);
}
#endif

// A position j in a row of units, as the lanes one iteration covers: one scalar, or (float32 with
// AVX-512) 16 floats with the row's tail masked. over_units(U, fn) calls fn for every such position,
// so an element-wise body is written once for both (fn takes `auto lane`, reads with lane.load(p) and
// writes with lane.store(p, v)).
template <typename T>
struct ScalarLane {
  int64_t j;
  T load(const T* p) const { return p[j]; }
  void store(T* p, T v) const { p[j] = v; }
};

#if BIRNN_TILED
struct FloatLanes {
  int64_t j;
  __mmask16 m;
  F16 load(const float* p) const { return _mm512_maskz_loadu_ps(m, p + j); }
  void store(float* p, F16 v) const { _mm512_mask_storeu_ps(p + j, m, v); }
};
#endif

template <typename T, typename Fn>
inline void over_units(int64_t U, const Fn& fn) {
#if BIRNN_TILED
  if constexpr (std::is_same_v<T, float>) {
    for (int64_t j = 0; j < U; j += 16) fn(FloatLanes{j, tail_mask(U - j)});
    return;
  }
#endif
#pragma omp simd
  for (int64_t j = 0; j < U; ++j) fn(ScalarLane<T>{j});
}

// The activation of one lane type: a scalar (float, double: the standard library) or 16 floats.
template <typename V>
inline V sigmoid_of(V x) {
  return V(1) / (V(1) + std::exp(-x));
}
template <typename V>
inline V tanh_of(V x) {
  return std::tanh(x);
}
#if BIRNN_TILED
template <>
inline F16 sigmoid_of(F16 x) {
  return sigmoid16(x);
}
template <>
inline F16 tanh_of(F16 x) {
  return tanh16(x);
}
#endif

// y[i] = f(y[i]) on a contiguous block.
template <typename T>
void activate(int64_t kind, T* __restrict y, int64_t count) {
  if (kind == TANH || kind == SIGMOID) {
    const bool tanh = kind == TANH;
    for (int64_t i = 0; i < count; i += 1024)  // over_units' rows are short: take the block in slices
      over_units<T>(std::min<int64_t>(1024, count - i), [&](auto lane) {
        const auto v = lane.load(y + i);
        lane.store(y + i, tanh ? tanh_of(v) : sigmoid_of(v));
      });
    return;
  }
  switch (kind) {
    case RELU:
#pragma omp simd
      for (int64_t i = 0; i < count; ++i) y[i] = y[i] > T(0) ? y[i] : T(0);
      break;
    case LINEAR:
      break;
    case HARD_SIGMOID:
#pragma omp simd
      for (int64_t i = 0; i < count; ++i) y[i] = std::min(std::max(y[i] + T(3), T(0)), T(6)) / T(6);
      break;
    case LEGACY_HARD_SIGMOID:
#pragma omp simd
      for (int64_t i = 0; i < count; ++i) y[i] = std::min(std::max(T(0.2) * y[i] + T(0.5), T(0)), T(1));
      break;
    case SOFTSIGN:
#pragma omp simd
      for (int64_t i = 0; i < count; ++i) y[i] = y[i] / (T(1) + std::abs(y[i]));
      break;
    default:
      TORCH_CHECK(false, "birnn native kernels: unknown activation id ", kind);
  }
}

// d[i] = f'(x) written with y = f(x), for y = src[i].
template <typename T>
void derivative(int64_t kind, const T* __restrict src, T* __restrict d, int64_t count) {
  switch (kind) {
    case TANH:
#pragma omp simd
      for (int64_t i = 0; i < count; ++i) d[i] = T(1) - src[i] * src[i];
      break;
    case SIGMOID:
#pragma omp simd
      for (int64_t i = 0; i < count; ++i) d[i] = src[i] * (T(1) - src[i]);
      break;
    case RELU:
#pragma omp simd
      for (int64_t i = 0; i < count; ++i) d[i] = src[i] > T(0) ? T(1) : T(0);
      break;
    case LINEAR:
      for (int64_t i = 0; i < count; ++i) d[i] = T(1);
      break;
    case HARD_SIGMOID:
    case LEGACY_HARD_SIGMOID: {
      const T slope = kind == HARD_SIGMOID ? T(1) / T(6) : T(0.2);
#pragma omp simd
      for (int64_t i = 0; i < count; ++i) d[i] = (src[i] > T(0) && src[i] < T(1)) ? slope : T(0);
      break;
    }
    case SOFTSIGN:
#pragma omp simd
      for (int64_t i = 0; i < count; ++i) d[i] = (T(1) - std::abs(src[i])) * (T(1) - std::abs(src[i]));
      break;
    default:
      TORCH_CHECK(false, "birnn native kernels: unknown activation id ", kind);
  }
}

// The same activations and derivatives for one lane value (a scalar or 16 floats), the activation a
// compile-time id: the LSTM cells below fuse any pair of them into one pass over a row.
template <int64_t K, typename V>
inline V act(V x) {
  if constexpr (K == TANH) return tanh_of(x);
  else if constexpr (K == SIGMOID) return sigmoid_of(x);
  else if constexpr (K == LINEAR) return x;
#if BIRNN_TILED
  else if constexpr (std::is_same_v<V, F16>) {
    if constexpr (K == RELU) return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, splat(0.0f), _CMP_GT_OQ), x);
    else if constexpr (K == HARD_SIGMOID) return clamp16(x + splat(3.0f), 0.0f, 6.0f) / splat(6.0f);
    else if constexpr (K == LEGACY_HARD_SIGMOID) return clamp16(_mm512_fmadd_ps(splat(0.2f), x, splat(0.5f)), 0.0f, 1.0f);
    else return x / (splat(1.0f) + _mm512_abs_ps(x));  // SOFTSIGN
  }
#endif
  else {
    if constexpr (K == RELU) return x > V(0) ? x : V(0);
    else if constexpr (K == HARD_SIGMOID) return std::min(std::max(x + V(3), V(0)), V(6)) / V(6);
    else if constexpr (K == LEGACY_HARD_SIGMOID) return std::min(std::max(V(0.2) * x + V(0.5), V(0)), V(1));
    else return x / (V(1) + std::abs(x));  // SOFTSIGN
  }
}

// The element type of a lane value.
template <typename V>
struct Element {
  using type = V;
};
#if BIRNN_TILED
template <>
struct Element<F16> {
  using type = float;
};
#endif

// f'(x) from y = f(x).
template <int64_t K, typename V>
inline V slope(V y) {
  using E = typename Element<V>::type;  // a scalar operand broadcasts over a vector's lanes
  if constexpr (K == TANH) return E(1) - y * y;
  else if constexpr (K == SIGMOID) return y * (E(1) - y);
  else if constexpr (K == LINEAR) return V{} + E(1);  // zeros plus one: 1 even where y is not finite
#if BIRNN_TILED
  else if constexpr (std::is_same_v<V, F16>) {
    if constexpr (K == RELU) return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, splat(0.0f), _CMP_GT_OQ), splat(1.0f));
    else if constexpr (K == HARD_SIGMOID || K == LEGACY_HARD_SIGMOID) {
      const __mmask16 inside = _mm512_cmp_ps_mask(y, splat(0.0f), _CMP_GT_OQ) & _mm512_cmp_ps_mask(y, splat(1.0f), _CMP_LT_OQ);
      return _mm512_maskz_mov_ps(inside, splat(K == HARD_SIGMOID ? 1.0f / 6.0f : 0.2f));
    } else {  // SOFTSIGN
      const F16 a = splat(1.0f) - _mm512_abs_ps(y);
      return a * a;
    }
  }
#endif
  else {
    if constexpr (K == RELU) return y > V(0) ? V(1) : V(0);
    else if constexpr (K == HARD_SIGMOID || K == LEGACY_HARD_SIGMOID)
      return (y > V(0) && y < V(1)) ? (K == HARD_SIGMOID ? V(1) / V(6) : V(0.2)) : V(0);
    else return (V(1) - std::abs(y)) * (V(1) - std::abs(y));  // SOFTSIGN
  }
}

// fn(integral_constant<S>, integral_constant<P>) for the runtime activation ids (sigma, phi).
template <int64_t S, typename Fn>
inline void with_phi(int64_t phi, const Fn& fn) {
  using std::integral_constant;
  switch (phi) {
    case TANH: return fn(integral_constant<int64_t, S>{}, integral_constant<int64_t, TANH>{});
    case SIGMOID: return fn(integral_constant<int64_t, S>{}, integral_constant<int64_t, SIGMOID>{});
    case RELU: return fn(integral_constant<int64_t, S>{}, integral_constant<int64_t, RELU>{});
    case LINEAR: return fn(integral_constant<int64_t, S>{}, integral_constant<int64_t, LINEAR>{});
    case HARD_SIGMOID: return fn(integral_constant<int64_t, S>{}, integral_constant<int64_t, HARD_SIGMOID>{});
    case LEGACY_HARD_SIGMOID: return fn(integral_constant<int64_t, S>{}, integral_constant<int64_t, LEGACY_HARD_SIGMOID>{});
    case SOFTSIGN: return fn(integral_constant<int64_t, S>{}, integral_constant<int64_t, SOFTSIGN>{});
    default: TORCH_CHECK(false, "birnn native kernels: unknown activation id ", phi);
  }
}

template <typename Fn>
inline void with_activations(int64_t sigma, int64_t phi, const Fn& fn) {
  switch (sigma) {
    case TANH: return with_phi<TANH>(phi, fn);
    case SIGMOID: return with_phi<SIGMOID>(phi, fn);
    case RELU: return with_phi<RELU>(phi, fn);
    case LINEAR: return with_phi<LINEAR>(phi, fn);
    case HARD_SIGMOID: return with_phi<HARD_SIGMOID>(phi, fn);
    case LEGACY_HARD_SIGMOID: return with_phi<LEGACY_HARD_SIGMOID>(phi, fn);
    case SOFTSIGN: return with_phi<SOFTSIGN>(phi, fn);
    default: TORCH_CHECK(false, "birnn native kernels: unknown activation id ", sigma);
  }
}

// The state entering step t: the first n rows of step t-1's block, or of the initial state.
Tensor previous_block(const Tensor& packed, const Tensor& initial, const std::vector<int64_t>& offsets, size_t t, int64_t n) {
  return t == 0 ? initial.narrow(0, 0, n) : packed.narrow(0, offsets[t - 1], n);
}

// ------------------------------------------------------------------------------- tiled products
// dst[r, cols] = src[r, cols] (or 0) + a[r, :] @ b[:, cols] for blocks of up to four rows, over a
// kernel b (K, M) packed into panels. A panel holds four groups of up to 16 output columns (any
// starting column, unused lanes zero): for each k its 64 floats. The groups of an LSTM kernel
// (K, 4U) are, for each block of 16 units, the i, f, g and o columns of those units, so one panel
// makes whole units' gates; a transposed kernel (4U, U) is simply grouped by 16 consecutive columns.

bool tiled_enabled = true;

bool tiled_available() { return BIRNN_TILED == 1; }

// Turns the tiled product on or off (the at::mm path is used when off); returns the previous setting.
bool set_tiled(bool flag) {
  const bool previous = tiled_enabled;
  tiled_enabled = flag;
  return previous;
}

// The tiled product runs on one thread: it is used where ATen has one (a Bidirectional's directions run
// concurrently with one each); with more, MKL's threaded at::mm is faster (~10.6 ms against ~12.4 for
// one direction's forward loop, 2 threads, (64, 128) x (128, 512) per step).
bool use_tiled(const Tensor& t) {
  return BIRNN_TILED == 1 && tiled_enabled && t.scalar_type() == at::kFloat && at::get_num_threads() == 1;
}

struct Panels {
  Tensor data;                   // (P, K, 64)
  std::vector<int64_t> start;    // 4 per panel: the first output column of each group
  std::vector<uint32_t> lanes;   // 4 per panel: the group's columns in use (bit mask)
  int64_t K = 0, P = 0;
  int64_t lead = 0;              // the first `lead` of the K rows multiply a leading source (the inputs)
};

// A block of rows of a left operand: row r at a + r * ld.
struct Rows {
  const float* a = nullptr;
  int64_t ld = 0;
};

// b (K, gates * units), any strides: groups of 16 columns of each gate block, unit block by unit block.
Panels pack(const Tensor& b, int64_t gates, int64_t units) {
  Panels out;
  out.K = b.size(0);
  std::vector<int64_t> starts, widths;
  for (int64_t q = 0; q < units; q += 16)
    for (int64_t g = 0; g < gates; ++g) {
      starts.push_back(g * units + q);
      widths.push_back(std::min<int64_t>(16, units - q));
    }
  while (starts.size() % 4 != 0) {  // a last panel's unused groups: no columns
    starts.push_back(0);
    widths.push_back(0);
  }
  out.P = static_cast<int64_t>(starts.size()) / 4;
  out.data = at::zeros({out.P, out.K, 64}, b.options().dtype(at::kFloat));
  const auto src = b.accessor<float, 2>();
  float* d = out.data.data_ptr<float>();
  for (size_t group = 0; group < starts.size(); ++group) {
    const int64_t p = static_cast<int64_t>(group) / 4, slot = static_cast<int64_t>(group) % 4;
    out.start.push_back(starts[group]);
    out.lanes.push_back(widths[group] == 16 ? 0xFFFFu : (1u << widths[group]) - 1u);
    for (int64_t k = 0; k < out.K; ++k)
      for (int64_t j = 0; j < widths[group]; ++j) d[(p * out.K + k) * 64 + slot * 16 + j] = src[k][starts[group] + j];
  }
  return out;
}

#if BIRNN_TILED
// R rows (1..4) times one panel. The kernel's four vectors of a k are pinned in registers (the empty
// asm), otherwise the compiler reloads them for every row.
// With a leading source, the panel's first `lead` rows multiply its rows, the rest those of a: one
// product [x | h] @ [W; U] with no concatenation of x and h.
template <int R>
void tile(Rows first, const float* __restrict a, int64_t lda, const float* __restrict panel, int64_t lead, int64_t K,
          const int64_t* start, const uint32_t* lanes, const float* src, int64_t lds, float* dst, int64_t ldd) {
  const __mmask16 m0 = lanes[0], m1 = lanes[1], m2 = lanes[2], m3 = lanes[3];
  __m512 c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33;
#define BIRNN_INIT(r)                                                                           \
  if (src != nullptr) {                                                                          \
    c##r##0 = _mm512_maskz_loadu_ps(m0, src + r * lds + start[0]);                               \
    c##r##1 = _mm512_maskz_loadu_ps(m1, src + r * lds + start[1]);                               \
    c##r##2 = _mm512_maskz_loadu_ps(m2, src + r * lds + start[2]);                               \
    c##r##3 = _mm512_maskz_loadu_ps(m3, src + r * lds + start[3]);                               \
  } else {                                                                                       \
    c##r##0 = c##r##1 = c##r##2 = c##r##3 = _mm512_setzero_ps();                                 \
  }
#define BIRNN_FMA(r, A, LD, k)                                                                  \
  {                                                                                              \
    const __m512 x = _mm512_set1_ps(A[r * LD + k]);                                              \
    c##r##0 = _mm512_fmadd_ps(x, b0, c##r##0);                                                   \
    c##r##1 = _mm512_fmadd_ps(x, b1, c##r##1);                                                   \
    c##r##2 = _mm512_fmadd_ps(x, b2, c##r##2);                                                   \
    c##r##3 = _mm512_fmadd_ps(x, b3, c##r##3);                                                   \
  }
#define BIRNN_STORE(r)                                                                          \
  _mm512_mask_storeu_ps(dst + r * ldd + start[0], m0, c##r##0);                                  \
  _mm512_mask_storeu_ps(dst + r * ldd + start[1], m1, c##r##1);                                  \
  _mm512_mask_storeu_ps(dst + r * ldd + start[2], m2, c##r##2);                                  \
  _mm512_mask_storeu_ps(dst + r * ldd + start[3], m3, c##r##3);
#define BIRNN_K_STEP(A, LD, k, row)                                                             \
  {                                                                                              \
    const float* bk = panel + (row) * 64;                                                        \
    __m512 b0 = _mm512_load_ps(bk), b1 = _mm512_load_ps(bk + 16), b2 = _mm512_load_ps(bk + 32),  \
           b3 = _mm512_load_ps(bk + 48);                                                         \
    asm("" : "+v"(b0), "+v"(b1), "+v"(b2), "+v"(b3));                                            \
    BIRNN_FMA(0, A, LD, k)                                                                       \
    if (R > 1) BIRNN_FMA(1, A, LD, k)                                                            \
    if (R > 2) BIRNN_FMA(2, A, LD, k)                                                            \
    if (R > 3) BIRNN_FMA(3, A, LD, k)                                                            \
  }
  BIRNN_INIT(0)
  if (R > 1) { BIRNN_INIT(1) }
  if (R > 2) { BIRNN_INIT(2) }
  if (R > 3) { BIRNN_INIT(3) }
  const float* __restrict a1 = first.a;
  const int64_t ld1 = first.ld;
  for (int64_t k = 0; k < lead; ++k) BIRNN_K_STEP(a1, ld1, k, k)
  for (int64_t k = 0; k < K - lead; ++k) BIRNN_K_STEP(a, lda, k, lead + k)
  BIRNN_STORE(0)
  if (R > 1) { BIRNN_STORE(1) }
  if (R > 2) { BIRNN_STORE(2) }
  if (R > 3) { BIRNN_STORE(3) }
#undef BIRNN_INIT
#undef BIRNN_FMA
#undef BIRNN_STORE
#undef BIRNN_K_STEP
}

// C[i, j] (+)= sum_s a[s, i] b[s, j] for R <= 4 rows i of C and 64 columns j (`lanes`: those in use).
// The same register tile as `tile` with other strides; one template over both (runtime strides)
// measured ~5 % slower on the forward time loop, so the two stay apart.
// a's four entries of a row s are adjacent, so a weight gradient x^T g reads x and g as they lie.
// With `sums` (the first block of rows of C only) it also adds up b's 64 columns over s into sums[0..63],
// the bias gradient of a weight gradient, for the price of four additions per s.
template <int R>
void transposed_tile(const float* __restrict a, int64_t lda, const float* __restrict b, int64_t ldb, int64_t S,
                     const uint32_t* lanes, float* __restrict c, int64_t ldc, bool accumulate, float* __restrict sums) {
  const __mmask16 m0 = lanes[0], m1 = lanes[1], m2 = lanes[2], m3 = lanes[3];
  __m512 c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33;
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  if (sums != nullptr && accumulate) {
    s0 = _mm512_maskz_loadu_ps(m0, sums);
    s1 = _mm512_maskz_loadu_ps(m1, sums + 16);
    s2 = _mm512_maskz_loadu_ps(m2, sums + 32);
    s3 = _mm512_maskz_loadu_ps(m3, sums + 48);
  }
#define BIRNN_INIT(r)                                                                           \
  if (accumulate) {                                                                              \
    c##r##0 = _mm512_maskz_loadu_ps(m0, c + r * ldc);                                            \
    c##r##1 = _mm512_maskz_loadu_ps(m1, c + r * ldc + 16);                                       \
    c##r##2 = _mm512_maskz_loadu_ps(m2, c + r * ldc + 32);                                       \
    c##r##3 = _mm512_maskz_loadu_ps(m3, c + r * ldc + 48);                                       \
  } else {                                                                                       \
    c##r##0 = c##r##1 = c##r##2 = c##r##3 = _mm512_setzero_ps();                                 \
  }
#define BIRNN_FMA(r)                                                                            \
  {                                                                                              \
    const __m512 x = _mm512_set1_ps(as[r]);                                                      \
    c##r##0 = _mm512_fmadd_ps(x, b0, c##r##0);                                                   \
    c##r##1 = _mm512_fmadd_ps(x, b1, c##r##1);                                                   \
    c##r##2 = _mm512_fmadd_ps(x, b2, c##r##2);                                                   \
    c##r##3 = _mm512_fmadd_ps(x, b3, c##r##3);                                                   \
  }
#define BIRNN_STORE(r)                                                                          \
  _mm512_mask_storeu_ps(c + r * ldc, m0, c##r##0);                                               \
  _mm512_mask_storeu_ps(c + r * ldc + 16, m1, c##r##1);                                          \
  _mm512_mask_storeu_ps(c + r * ldc + 32, m2, c##r##2);                                          \
  _mm512_mask_storeu_ps(c + r * ldc + 48, m3, c##r##3);
  BIRNN_INIT(0)
  if (R > 1) { BIRNN_INIT(1) }
  if (R > 2) { BIRNN_INIT(2) }
  if (R > 3) { BIRNN_INIT(3) }
  for (int64_t s = 0; s < S; ++s) {
    const float *as = a + s * lda, *bs = b + s * ldb;
    __m512 b0 = _mm512_maskz_loadu_ps(m0, bs), b1 = _mm512_maskz_loadu_ps(m1, bs + 16),
           b2 = _mm512_maskz_loadu_ps(m2, bs + 32), b3 = _mm512_maskz_loadu_ps(m3, bs + 48);
    asm("" : "+v"(b0), "+v"(b1), "+v"(b2), "+v"(b3));
    BIRNN_FMA(0)
    if (R > 1) BIRNN_FMA(1)
    if (R > 2) BIRNN_FMA(2)
    if (R > 3) BIRNN_FMA(3)
    if (sums != nullptr) {
      s0 += b0;
      s1 += b1;
      s2 += b2;
      s3 += b3;
    }
  }
  BIRNN_STORE(0)
  if (R > 1) { BIRNN_STORE(1) }
  if (R > 2) { BIRNN_STORE(2) }
  if (R > 3) { BIRNN_STORE(3) }
  if (sums != nullptr) {
    _mm512_mask_storeu_ps(sums, m0, s0);
    _mm512_mask_storeu_ps(sums + 16, m1, s1);
    _mm512_mask_storeu_ps(sums + 32, m2, s2);
    _mm512_mask_storeu_ps(sums + 48, m3, s3);
  }
#undef BIRNN_INIT
#undef BIRNN_FMA
#undef BIRNN_STORE
}

template <int R>
void tile_rows(Rows first, const float* a, int64_t lda, const Panels& b, const float* src, int64_t lds, float* dst,
               int64_t ldd) {
  const float* data = b.data.data_ptr<float>();
  for (int64_t p = 0; p < b.P; ++p)
    tile<R>(first, a, lda, data + p * b.K * 64, b.lead, b.K, &b.start[4 * p], &b.lanes[4 * p], src, lds, dst, ldd);
}
#endif

// dst[r] = src[r] (src may be dst; lds 0 repeats one row, nullptr: zeros) + [first[r] |] a[r] @ b, for rows
// r < R <= 4 (first: the rows a panel's leading rows multiply, when it has any).
void product_rows(Rows first, const float* a, int64_t lda, int64_t R, const Panels& b, const float* src, int64_t lds,
                  float* dst, int64_t ldd) {
#if BIRNN_TILED
  switch (R) {
    case 1: tile_rows<1>(first, a, lda, b, src, lds, dst, ldd); break;
    case 2: tile_rows<2>(first, a, lda, b, src, lds, dst, ldd); break;
    case 3: tile_rows<3>(first, a, lda, b, src, lds, dst, ldd); break;
    case 4: tile_rows<4>(first, a, lda, b, src, lds, dst, ldd); break;
    default: TORCH_CHECK(false, "birnn native kernels: product_rows takes 1 to 4 rows, got ", R);
  }
#else
  TORCH_CHECK(false, "birnn native kernels: the tiled product needs AVX-512 (tiled_available() is false)");
#endif
}

// out (Ka, M) = [out +] a^T b for b (S, M) and a (S, Ka) given as column blocks [a_1 | a_2 | ...], each
// block's rows in pieces stacked in order (a block [[h0], [hs rows]] is cat(h0, hs rows)): one pass over
// b for the gradient of [x_t | h_{t-1}] @ [W; U], the previous states read in place. Unit column strides,
// any row strides; one thread. The reduction over S runs in chunks of up to 128 rows that never cross a
// piece, so a chunk's 64 columns of b (32 KB) stay in L1 while every block of four rows of out passes.
// MKL's product reaches ~75-95 GFLOP/s on these shapes (S = 6400) on one Zen 4 core, this ~100-106.
// sums (M,), when given: [sums +] b's column sums (the bias gradient), taken in the same pass over b.
// Rows can be added in any order and in several calls (add(begin, end)): a backward time loop adds each
// pair of steps' rows right after computing them, while they are still in cache.
class TransposedProduct {
 public:
  TransposedProduct(const std::vector<std::vector<Tensor>>& a, const Tensor& b, Tensor& out, bool accumulate,
                    const c10::optional<Tensor>& sums)
      : S_(b.size(0)), M_(b.size(1)), accumulate_(accumulate) {
    TORCH_CHECK(b.dim() == 2 && b.stride(1) == 1 && b.scalar_type() == at::kFloat,
                "birnn native kernels: transposed_product takes a float32 (S, M) b with unit column stride, got ",
                b.sizes());
    cuts_ = {0, S_};
    for (const auto& pieces : a) {
      TORCH_CHECK(!pieces.empty(), "birnn native kernels: transposed_product's column blocks need at least one piece");
      const int64_t width = pieces[0].dim() == 2 ? pieces[0].size(1) : -1;
      std::vector<Piece> block;
      int64_t row = 0;
      for (const Tensor& piece : pieces) {
        TORCH_CHECK(piece.dim() == 2 && piece.size(1) == width && piece.stride(1) == 1 &&
                        piece.scalar_type() == at::kFloat,
                    "birnn native kernels: a column block's pieces are float32 (rows, ", width,
                    ") with unit column stride, got ", piece.sizes());
        if (piece.size(0) > 0) block.push_back({piece.data_ptr<float>(), piece.stride(0), row, row + piece.size(0)});
        row += piece.size(0);
        cuts_.push_back(row);
      }
      TORCH_CHECK(row == S_, "birnn native kernels: a column block's pieces hold ", row, " rows, b has ", S_);
      blocks_.push_back(std::move(block));
      widths_.push_back(width);
      Ka_ += width;
    }
    TORCH_CHECK(out.dim() == 2 && out.size(0) == Ka_ && out.size(1) == M_ && out.stride(1) == 1 &&
                    out.scalar_type() == at::kFloat,
                "birnn native kernels: transposed_product writes a float32 (", Ka_, ", ", M_,
                ") with unit column stride, got ", out.sizes());
    const bool with_sums = sums.has_value() && sums->defined();
    TORCH_CHECK(!with_sums || (sums->dim() == 1 && sums->size(0) == M_ && sums->is_contiguous() &&
                               sums->scalar_type() == at::kFloat),
                "birnn native kernels: transposed_product's column sums are a contiguous float32 (", M_, "), got ",
                with_sums ? sums->sizes() : at::IntArrayRef{});
    std::sort(cuts_.begin(), cuts_.end());
    cuts_.erase(std::unique(cuts_.begin(), cuts_.end()), cuts_.end());
    pb_ = b.data_ptr<float>();
    ldb_ = b.stride(0);
    out_ = out;
    sums_ = with_sums ? *sums : Tensor();
  }

  // Adds rows [begin, end) of the reduction (each row once over all calls).
  void add(int64_t begin, int64_t end) {
#if BIRNN_TILED
    for (size_t segment = 0; segment + 1 < cuts_.size(); ++segment) {
      const int64_t lo = std::max(begin, cuts_[segment]), hi = std::min(end, cuts_[segment + 1]);
      for (int64_t s0 = lo; s0 < hi; s0 += 128) chunk(s0, std::min<int64_t>(128, hi - s0));
    }
#else
    TORCH_CHECK(false, "birnn native kernels: the tiled products need AVX-512 (tiled_available() is false)");
#endif
  }

  // Completes the result: zeros where no row was added.
  void finish() {
    if (!started_ && !accumulate_) {
      out_.zero_();
      if (sums_.defined()) sums_.zero_();
    }
    if (Ka_ == 0 && sums_.defined()) {  // no rows of out to ride along with: the sums on their own
      const Tensor b = at::from_blob(const_cast<float*>(pb_), {S_, M_}, {ldb_, 1}, at::kFloat);
      if (accumulate_) sums_.add_(b.sum(0));
      else at::sum_out(sums_, b, 0);
    }
  }

 private:
  struct Piece {
    const float* data;
    int64_t ld, begin, end;  // rows [begin, end) of the block
  };

#if BIRNN_TILED
  // n <= 128 rows from s0, within one piece of every block.
  void chunk(int64_t s0, int64_t n) {
    const bool acc = accumulate_ || started_;
    started_ = true;
    std::vector<const float*> starts(blocks_.size());
    std::vector<int64_t> lds(blocks_.size());
    for (size_t q = 0; q < blocks_.size(); ++q)
      for (const Piece& piece : blocks_[q])
        if (piece.begin <= s0 && s0 < piece.end) {
          starts[q] = piece.data + (s0 - piece.begin) * piece.ld;
          lds[q] = piece.ld;
        }
    float* pc = out_.data_ptr<float>();
    float* ps = sums_.defined() && Ka_ > 0 ? sums_.data_ptr<float>() : nullptr;
    const int64_t ldc = out_.stride(0);
    for (int64_t j = 0; j < M_; j += 64) {
      uint32_t lanes[4];
      for (int64_t q = 0; q < 4; ++q) lanes[q] = tail_mask(std::max<int64_t>(M_ - j - 16 * q, 0));
      const float* bj = pb_ + s0 * ldb_ + j;
      int64_t first = 0;  // the block's first row of out
      for (size_t q = 0; q < blocks_.size(); first += widths_[q], ++q)
        for (int64_t i = 0; i < widths_[q]; i += 4) {
          const float* ai = starts[q] + i;
          const int64_t lda = lds[q];
          float* ci = pc + (first + i) * ldc + j;
          float* si = first + i == 0 && ps != nullptr ? ps + j : nullptr;
          switch (std::min<int64_t>(4, widths_[q] - i)) {
            case 1: transposed_tile<1>(ai, lda, bj, ldb_, n, lanes, ci, ldc, acc, si); break;
            case 2: transposed_tile<2>(ai, lda, bj, ldb_, n, lanes, ci, ldc, acc, si); break;
            case 3: transposed_tile<3>(ai, lda, bj, ldb_, n, lanes, ci, ldc, acc, si); break;
            default: transposed_tile<4>(ai, lda, bj, ldb_, n, lanes, ci, ldc, acc, si); break;
          }
        }
    }
  }
#endif

  int64_t S_, M_, Ka_ = 0;
  bool accumulate_, started_ = false;
  std::vector<std::vector<Piece>> blocks_;
  std::vector<int64_t> widths_, cuts_;
  const float* pb_ = nullptr;
  int64_t ldb_ = 0;
  Tensor out_, sums_;
};

void transposed_product(const std::vector<std::vector<Tensor>>& a, const Tensor& b, Tensor& out, bool accumulate,
                        c10::optional<Tensor> sums) {
  TransposedProduct product(a, b, out, accumulate, sums);
#if BIRNN_TILED
  pybind11::gil_scoped_release no_gil;
  product.add(0, b.size(0));
  product.finish();
#else
  TORCH_CHECK(false, "birnn native kernels: the tiled products need AVX-512 (tiled_available() is false)");
#endif
}

// fn(r0, R) for the blocks of up to four of a step's n rows.
template <typename F>
void for_row_blocks(int64_t n, const F& fn) {
  for (int64_t r0 = 0; r0 < n; r0 += 4) fn(r0, std::min<int64_t>(4, n - r0));
}

// A backward time loop over packed steps, last step first: fn(t, row, r0, R, next) for each block of up to
// four of step t's rows (r0 within the step, row = offsets[t] + r0), `next` of which also ran step t + 1
// (their recurrent gradient comes from that step's block).
template <typename F>
void for_blocks_backward(const std::vector<int64_t>& sizes, const std::vector<int64_t>& offsets, const F& fn) {
  const int64_t steps = static_cast<int64_t>(sizes.size());
  for (int64_t t = steps - 1; t >= 0; --t) {
    const int64_t n_next = t + 1 < steps ? sizes[t + 1] : 0;
    for_row_blocks(sizes[t], [&](int64_t r0, int64_t R) {
      fn(t, offsets[t] + r0, r0, R, std::clamp<int64_t>(n_next - r0, 0, R));
    });
  }
}

// out[r] (+)= a[r] @ b for n rows (rows lda and ldo apart): the first step's product after a backward loop
// (the initial state's gradient). The tiled product for it too keeps MKL's threaded gemm out of the
// directions' threads altogether.
void rows_product(const float* a, int64_t lda, int64_t n, const Panels& b, float* out, int64_t ldo, bool accumulate) {
  for_row_blocks(n, [&](int64_t r0, int64_t R) {
    product_rows({}, a + r0 * lda, lda, R, b, accumulate ? out + r0 * ldo : nullptr, ldo, out + r0 * ldo, ldo);
  });
}

// out (S, M) [+]= a (S, K) @ b (K, M) on the tiled product (b packed into panels first; a and out with unit
// column stride and any row stride, b any strides; one thread). The input gradient of a layer whose two
// directions read the same sequence: each thread takes half the rows, both directions' products summed.
void product(const Tensor& a, const Tensor& b, Tensor& out, bool accumulate) {
  TORCH_CHECK(a.dim() == 2 && b.dim() == 2 && out.dim() == 2 && a.size(1) == b.size(0) && out.size(0) == a.size(0) &&
                  out.size(1) == b.size(1) && a.stride(1) == 1 && out.stride(1) == 1 &&
                  a.scalar_type() == at::kFloat && b.scalar_type() == at::kFloat && out.scalar_type() == at::kFloat,
              "birnn native kernels: product takes float32 a (S, K), b (K, M) and out (S, M), a and out with unit ",
              "column stride; got ", a.sizes(), ", ", b.sizes(), " and ", out.sizes());
#if BIRNN_TILED
  pybind11::gil_scoped_release no_gil;
  const Panels panels = pack(b, 1, b.size(1));
  rows_product(a.data_ptr<float>(), a.stride(0), a.size(0), panels, out.data_ptr<float>(), out.stride(0), accumulate);
#else
  TORCH_CHECK(false, "birnn native kernels: the tiled products need AVX-512 (tiled_available() is false)");
#endif
}

// ------------------------------------------------------------------------------ element-wise steps
// One step's element-wise work on n rows of U units; the time loops below call these between their
// matrix multiplies. Pointers are to contiguous row blocks; restrict lets the compiler vectorise.

// z (n, 4U): pre-activations in (x, when given, is added first), activated gates (i, f, g, o) out;
// then c and h (h's rows ldh apart: a column block of a wider output). One pass over each row for every
// pair of activations (each pair compiled on its own: a relu or hard-sigmoid cell is as cheap as tanh's).
template <typename T>
void lstm_cell_forward(T* __restrict z, const T* __restrict x, const T* __restrict c_prev, T* __restrict c,
                       T* __restrict h, int64_t ldh, int64_t n, int64_t U, int64_t sigma, int64_t phi) {
  if (x != nullptr)
    for (int64_t j = 0; j < n * 4 * U; ++j) z[j] += x[j];
  with_activations(sigma, phi, [&](auto S, auto P) {
    for (int64_t r = 0; r < n; ++r) {
      T* __restrict g = z + r * 4 * U;
      const T* __restrict cp = c_prev + r * U;
      T *__restrict cr = c + r * U, *__restrict hr = h + r * ldh;
      over_units<T>(U, [&](auto lane) {
        const auto i = act<S>(lane.load(g)), f = act<S>(lane.load(g + U)), cand = act<P>(lane.load(g + 2 * U)),
                   o = act<S>(lane.load(g + 3 * U));
        const auto cell = f * lane.load(cp) + i * cand;
        lane.store(g, i);
        lane.store(g + U, f);
        lane.store(g + 2 * U, cand);
        lane.store(g + 3 * U, o);
        lane.store(cr, cell);
        lane.store(hr, o * act<P>(cell));
      });
    }
  });
}

// dh = up + extra (extra: the recurrent gradient, or the final-state gradient on a row's last step).
// dz may be g itself (the gates are overwritten by their gradient): each element is read before the
// same element is written, so g and dz are not restrict.
template <typename T>
void lstm_cell_backward(const T* g, const T* __restrict c, const T* __restrict c_prev,
                        const T* __restrict up, int64_t ldu, const T* __restrict rec, const T* __restrict final_h,
                        int64_t n_next, T* __restrict carry, T* dz, int64_t n, int64_t U, int64_t sigma, int64_t phi) {
  with_activations(sigma, phi, [&](auto S, auto P) {  // one pass per row: the derivatives from the saved gates inline
    for (int64_t r = 0; r < n; ++r) {
      const T *i = g + r * 4 * U, *f = i + U, *cand = i + 2 * U, *o = i + 3 * U;
      const T* __restrict extra = r < n_next ? rec + r * U : final_h + r * U;
      const T *ur = up + r * ldu, *cr_ = c + r * U, *cp = c_prev + r * U;
      T* cr = carry + r * U;
      T* dzr = dz + r * 4 * U;
      over_units<T>(U, [&](auto lane) {  // all four gates of the lanes are read before dz (maybe g) is written
        const auto gi = lane.load(i), gf = lane.load(f), gg = lane.load(cand), go = lane.load(o);
        const auto t = act<P>(lane.load(cr_));
        const auto dh = lane.load(ur) + lane.load(extra);
        const auto dc = lane.load(cr) + dh * go * slope<P>(t);
        lane.store(dzr, dc * gg * slope<S>(gi));
        lane.store(dzr + U, dc * lane.load(cp) * slope<S>(gf));
        lane.store(dzr + 2 * U, dc * gi * slope<P>(gg));
        lane.store(dzr + 3 * U, dh * t * slope<S>(go));
        lane.store(cr, dc * gf);
      });
    }
  });
}

// Both GRU variants' last part: g (n, 3U) holds the activated z (and r) and the candidate's pre-activation;
// activates the candidate and writes h = candidate + z (h_prev - candidate).
template <typename T>
void gru_output(T* __restrict g, const T* __restrict h_prev, T* __restrict h, int64_t n, int64_t U, int64_t phi) {
  for (int64_t r = 0; r < n; ++r) {
    T* gr = g + r * 3 * U;
    activate(phi, gr + 2 * U, U);
    const T* pr = h_prev + r * U;
    T* out = h + r * U;
#pragma omp simd
    for (int64_t j = 0; j < U; ++j) out[j] = gr[2 * U + j] + gr[j] * (pr[j] - gr[2 * U + j]);
  }
}

// hu (n, 3U): recurrent pre-activations (with the recurrent bias); x (n, 3U) the projected inputs.
// g (n, 3U) receives the activated gates [z | r | candidate]; g may be x itself (each element of x
// is read before the same element of g is written), so neither is restrict.
template <typename T>
void gru_cell_forward(const T* __restrict hu, const T* x, const T* __restrict h_prev, T* g, T* __restrict hu_h,
                      T* __restrict h, int64_t n, int64_t U, int64_t sigma, int64_t phi) {
  for (int64_t r = 0; r < n; ++r) {
    const T *xr = x + r * 3 * U, *ur = hu + r * 3 * U;
    T *gr = g + r * 3 * U, *hr = hu_h + r * U;
#pragma omp simd
    for (int64_t j = 0; j < 2 * U; ++j) gr[j] = xr[j] + ur[j];
    std::copy(ur + 2 * U, ur + 3 * U, hr);
    activate(sigma, gr, 2 * U);
#pragma omp simd
    for (int64_t j = 0; j < U; ++j) gr[2 * U + j] = xr[2 * U + j] + gr[U + j] * hr[j];
  }
  gru_output(g, h_prev, h, n, U, phi);
}

// carry: dh * z of the step after (a row's final-state gradient until its last step is reached).
// g (n, 3U): the saved gates [z | r | candidate]; d_xp may be g and d_hh may be hu_h (the saved
// buffers overwritten by their gradients: every element is read before the same element is written).
template <typename T>
void gru_cell_backward(const T* g, const T* hu_h, const T* __restrict h_prev, const T* __restrict up, int64_t ldu,
                       const T* __restrict rec, int64_t n_next, T* __restrict carry, T* d_xp, T* d_hh,
                       T* __restrict block, T* __restrict d_zr, T* __restrict d_cand, int64_t n, int64_t U, int64_t sigma,
                       int64_t phi) {
  for (int64_t r = 0; r < n; ++r) {
    const T* gr = g + r * 3 * U;
    T *dz = d_zr + r * 2 * U, *dc = d_cand + r * U;
    derivative(sigma, gr, dz, 2 * U);
    derivative(phi, gr + 2 * U, dc, U);
    const T *pr = h_prev + r * U, *hr = hu_h + r * U, *dr = dz + U, *ur = up + r * ldu;
    const T* rr = rec + r * U;
    const T next = r < n_next ? T(1) : T(0);  // rec rows past n_next are stale (finite: zeros at first)
    T *cr = carry + r * U, *out = d_xp + r * 3 * U, *hh = d_hh + r * U, *br = block + r * 3 * U;
#pragma omp simd
    for (int64_t j = 0; j < U; ++j) {
      const T z = gr[j], reset = gr[U + j], c = gr[2 * U + j], recurrent_h = hr[j];
      const T dh = ur[j] + cr[j] + next * rr[j];
      const T a = dh * (T(1) - z) * dc[j];
      const T d_update = dh * (pr[j] - c) * dz[j], d_reset = a * recurrent_h * dr[j], d_recurrent = a * reset;
      out[j] = br[j] = d_update;
      out[U + j] = br[U + j] = d_reset;
      out[2 * U + j] = a;
      hh[j] = br[2 * U + j] = d_recurrent;
      cr[j] = dh * z;
    }
  }
}

// reset_after=False GRU, in two halves around the candidate's recurrent multiply. g (n, 3U) holds the
// gates' pre-activations (the projected inputs and the recurrent products already added): this first half
// activates z and r and writes r * h_prev (the candidate's recurrent input); gru_output is the second.
template <typename T>
void gru_before_gates(T* __restrict g, const T* __restrict h_prev, T* __restrict reset_h, int64_t n, int64_t U,
                      int64_t sigma) {
  for (int64_t r = 0; r < n; ++r) {
    T* gr = g + r * 3 * U;
    activate(sigma, gr, 2 * U);
    const T *pr = h_prev + r * U, *rr = gr + U;
    T* out = reset_h + r * U;
#pragma omp simd
    for (int64_t j = 0; j < U; ++j) out[j] = rr[j] * pr[j];
  }
}

// The backward halves. First: dh = up + carry (+ rec on rows < n_next), then the candidate's and z's
// pre-activation gradients; carry becomes dh * z. Second, with d_rh = d_candidate @ U_h^T: r's, and carry
// gains d_rh * r. g (saved gates) may be d_xp itself: each element is read before it is written.
template <typename T>
void gru_before_backward_first(const T* g, const T* __restrict h_prev, const T* __restrict up, int64_t ldu,
                               const T* __restrict rec, int64_t n_next, T* __restrict carry, T* d_xp,
                               T* __restrict scratch, int64_t n, int64_t U, int64_t sigma, int64_t phi) {
  for (int64_t r = 0; r < n; ++r) {
    const T* gr = g + r * 3 * U;
    T* ds = scratch + r * 2 * U;  // [sigma'(z) | phi'(candidate)]
    derivative(sigma, gr, ds, U);
    derivative(phi, gr + 2 * U, ds + U, U);
    const T *pr = h_prev + r * U, *ur = up + r * ldu, *rr = rec + r * U;
    const T next = r < n_next ? T(1) : T(0);  // rec rows past n_next are stale
    T *cr = carry + r * U, *out = d_xp + r * 3 * U;
#pragma omp simd
    for (int64_t j = 0; j < U; ++j) {
      const T z = gr[j], c = gr[2 * U + j];
      const T dh = ur[j] + cr[j] + next * rr[j];
      out[2 * U + j] = dh * (T(1) - z) * ds[U + j];
      out[j] = dh * (pr[j] - c) * ds[j];
      cr[j] = dh * z;
    }
  }
}

// With recurrent dropout, `mask` (n, U) scales the state where it entered the candidate's product (r * h * m).
template <typename T>
void gru_before_backward_second(const T* g, const T* __restrict h_prev, const T* __restrict d_rh,
                                const T* __restrict mask, T* __restrict carry, T* d_xp, T* __restrict scratch,
                                int64_t n, int64_t U, int64_t sigma) {
  for (int64_t r = 0; r < n; ++r) {
    const T* reset = g + r * 3 * U + U;
    T* ds = scratch + r * 2 * U;
    derivative(sigma, reset, ds, U);
    const T *pr = h_prev + r * U, *dr = d_rh + r * U;
    const T* mr = mask == nullptr ? nullptr : mask + r * U;
    T *cr = carry + r * U, *out = d_xp + r * 3 * U + U;
#pragma omp simd
    for (int64_t j = 0; j < U; ++j) {
      const T rj = reset[j], d = mr == nullptr ? dr[j] : dr[j] * mr[j];  // r read before out (maybe r) is written
      out[j] = d * pr[j] * ds[j];
      cr[j] += d * rj;
    }
  }
}

template <typename T>
void simple_cell_forward(T* __restrict h, const T* __restrict x, int64_t count, int64_t phi) {
  for (int64_t j = 0; j < count; ++j) h[j] += x[j];
  activate(phi, h, count);
}

template <typename T>
void simple_cell_backward(const T* __restrict hs, const T* __restrict up, int64_t ldu, const T* __restrict rec,
                          const T* __restrict final_h, int64_t n_next, T* __restrict d_a, int64_t n, int64_t U,
                          int64_t phi) {
  derivative(phi, hs, d_a, n * U);
  for (int64_t r = 0; r < n; ++r) {
    const T* __restrict extra = r < n_next ? rec + r * U : final_h + r * U;
    const T* ur = up + r * ldu;
    T* dr = d_a + r * U;
#pragma omp simd
    for (int64_t j = 0; j < U; ++j) dr[j] *= ur[j] + extra[j];
  }
}

// ------------------------------------------------------------------------------------- time loops

template <typename T>
const T* ptr(const Tensor& t, int64_t row, int64_t width) {
  return t.data_ptr<T>() + row * width;
}

template <typename T>
T* mut(Tensor& t, int64_t row, int64_t width) {
  return t.data_ptr<T>() + row * width;
}

// Writes a @ b into the first rows of out (a narrow of a contiguous tensor is contiguous).
void mm_into(Tensor out, const Tensor& a, const Tensor& b) { at::mm_out(out, a, b); }

// Recurrent dropout: an (N, U) mask, rows in packed order, that multiplies every step's previous state
// before its recurrent product, and so the product's gradient on the way back; or none (undefined).
// A step's n rows are the first n of the batch, so they take the mask's first n rows.
struct RecurrentMask {
  Tensor mask;
  RecurrentMask(const c10::optional<Tensor>& m, int64_t N, int64_t U, const at::TensorOptions& options)
      : mask(m.has_value() && m->defined() ? m->contiguous() : Tensor()) {
    TORCH_CHECK(!mask.defined() || (mask.dim() == 2 && mask.size(0) == N && mask.size(1) == U &&
                                     mask.scalar_type() == options.dtype().toScalarType()),
                "birnn native kernels: the recurrent dropout mask is (N, U) = (", N, ", ", U,
                ") of the states' dtype, got ", mask.defined() ? mask.sizes() : at::IntArrayRef{});
  }
  explicit operator bool() const { return mask.defined(); }
  // The R rows (from row r0 of a step) a tiled product reads: h's rows (ld apart) as they are, or times
  // the mask in scratch (ld becomes U).
  const float* rows(const float* h, int64_t& ld, int64_t r0, int64_t R, int64_t U, float* scratch) const {
    if (!mask.defined()) return h;
    const float* m = mask.data_ptr<float>() + r0 * U;
    for (int64_t r = 0; r < R; ++r)
#pragma omp simd
      for (int64_t j = 0; j < U; ++j) scratch[r * U + j] = h[r * ld + j] * m[r * U + j];
    ld = U;
    return scratch;
  }
  // rows[r] *= mask row r0 + r for n contiguous rows of U.
  void scale(float* rows, int64_t r0, int64_t n, int64_t U) const {
    if (!mask.defined()) return;
    const float* m = mask.data_ptr<float>() + r0 * U;
#pragma omp simd
    for (int64_t j = 0; j < n * U; ++j) rows[j] *= m[j];
  }
  // The at::mm paths: a step's previous states as the product reads them, and a gradient block scaled.
  Tensor applied(const Tensor& h) const { return mask.defined() ? h * mask.narrow(0, 0, h.size(0)) : h; }
  void scale_(Tensor rows) const {
    if (mask.defined()) rows.mul_(mask.narrow(0, 0, rows.size(0)));
  }
};

// The upstream gradient of every output, read in place whatever its row stride; without one (only the
// final states are used) every step reads the same block of zeros. row(t): the first row of step t.
struct Upstream {
  Tensor rows;
  bool present;
  Upstream(const c10::optional<Tensor>& d_hs, int64_t N, int64_t U, const at::TensorOptions& options)
      : rows(d_hs.has_value() && d_hs->defined() ? *d_hs : at::zeros({N, U}, options)),
        present(d_hs.has_value() && d_hs->defined()) {
    TORCH_CHECK(rows.dim() == 2 && rows.size(1) == U && rows.stride(1) == 1,
                "birnn native kernels: the outputs' gradient must be (S, U) with unit column stride");
  }
  int64_t stride() const { return rows.stride(0); }
  int64_t row(const std::vector<int64_t>& offsets, int64_t t) const { return present ? offsets[t] : 0; }
};

// xp (S, 4U) projected inputs (gate order i, f, g, o); h0, c0 (N, U); kernel (U, 4U).
// Returns hs (S, U), cs (S, U), gates (S, 4U) activated.
// in_place: xp belongs to this call alone and becomes the gates (no second (S, 4U) buffer).
// input_kernel (F, 4U) and bias (4U, optional): xp is then the packed inputs (S, F) themselves, projected
// step by step inside the tiled product ([x_t | h] @ [W; U], bias as the addend); the whole-sequence
// projection, its (S, 4U) buffer and the pass that reads it back disappear. Tiled product only.
// out (S, U, optional): hs is written there and returned (unit column stride, any row stride: one
// direction's column block of a Bidirectional's concatenated output, which then needs no concatenation).
// save_gates=false (no backward pass follows): on the tiled product each block of four rows makes its
// gates in one small scratch that stays in L1, and the returned gates are that scratch, not (S, 4U).
std::vector<Tensor> lstm_forward(const Tensor& xp, const Tensor& h0, const Tensor& c0, const Tensor& kernel,
                                 const std::vector<int64_t>& sizes, const std::vector<int64_t>& offsets, int64_t sigma,
                                 int64_t phi, bool in_place, const c10::optional<Tensor>& input_kernel,
                                 const c10::optional<Tensor>& bias, const c10::optional<Tensor>& out,
                                 const c10::optional<Tensor>& recurrent_mask, bool save_gates) {
  pybind11::gil_scoped_release no_gil;
  const int64_t S = xp.size(0), N = h0.size(0), U = h0.size(1);
  const RecurrentMask dropout(recurrent_mask, N, U, xp.options());
  const bool projects = input_kernel.has_value() && input_kernel->defined();
  const int64_t F = projects ? input_kernel->size(0) : 0;
  if (projects) {
    TORCH_CHECK(use_tiled(xp), "birnn native kernels: lstm_forward projects its inputs only on the tiled product");
    TORCH_CHECK(xp.dim() == 2 && xp.is_contiguous() && xp.size(1) == F && input_kernel->dim() == 2 &&
                    input_kernel->size(1) == 4 * U,
                "birnn native kernels: lstm_forward takes contiguous inputs (S, F) with an input kernel (F, 4U), got ",
                xp.sizes(), " and ", input_kernel->sizes());
    TORCH_CHECK(!(bias.has_value() && bias->defined()) || (bias->dim() == 1 && bias->size(0) == 4 * U),
                "birnn native kernels: lstm_forward's bias is (4U) = (", 4 * U, "), got ", bias->sizes());
  }
  const bool into = out.has_value() && out->defined();
  TORCH_CHECK(!into || (out->dim() == 2 && out->size(0) == S && out->size(1) == U && out->stride(1) == 1 &&
                        out->scalar_type() == xp.scalar_type()),
              "birnn native kernels: lstm_forward writes its outputs into a (S, U) = (", S, ", ", U,
              ") block with unit column stride of the inputs' dtype, got ", into ? out->sizes() : at::IntArrayRef{});
  const bool scratch = !save_gates && use_tiled(xp);
  Tensor gates = scratch ? at::empty({4, 4 * U}, xp.options())
                 : in_place && !projects ? xp
                                         : at::empty({S, 4 * U}, xp.options()),
         hs = into ? *out : at::empty({S, U}, xp.options()), cs = at::empty({S, U}, xp.options()),
         dropped = at::empty({4, U}, xp.options());
  const int64_t ldh = hs.stride(0);
  if (use_tiled(xp)) {
    Panels panels = pack(projects ? at::cat({*input_kernel, kernel}) : kernel, 4, U);
    panels.lead = F;
    const Tensor bias_row = projects && bias.has_value() && bias->defined() ? bias->contiguous() : Tensor();
    float *g = gates.data_ptr<float>(), *h = hs.data_ptr<float>(), *c = cs.data_ptr<float>();
    const float* x = xp.data_ptr<float>();
    const float* b = bias_row.defined() ? bias_row.data_ptr<float>() : nullptr;
    for (size_t t = 0; t < sizes.size(); ++t) {
      const int64_t off = offsets[t];
      const int64_t ld_prev = t == 0 ? U : ldh;  // h0 is contiguous
      const float* h_prev = t == 0 ? h0.data_ptr<float>() : h + offsets[t - 1] * ldh;
      const float* c_prev = t == 0 ? c0.data_ptr<float>() : c + offsets[t - 1] * U;
      for_row_blocks(sizes[t], [&](int64_t r0, int64_t R) {
        const int64_t row = off + r0;
        int64_t lda = ld_prev;
        const float* a = dropout.rows(h_prev + r0 * ld_prev, lda, r0, R, U, dropped.data_ptr<float>());
        float* z = scratch ? g : g + row * 4 * U;
        if (projects) product_rows({x + row * F, F}, a, lda, R, panels, b, 0, z, 4 * U);
        else product_rows({}, a, lda, R, panels, x + row * 4 * U, 4 * U, z, 4 * U);
        lstm_cell_forward<float>(z, nullptr, c_prev + r0 * U, c + row * U, h + row * ldh, ldh, R, U, sigma, phi);
      });
    }
    return {hs, cs, gates};
  }
  for (size_t t = 0; t < sizes.size(); ++t) {
    const int64_t n = sizes[t], off = offsets[t];
    Tensor block = gates.narrow(0, off, n);
    const Tensor h_prev = dropout.applied(previous_block(hs, h0, offsets, t, n));
    if (in_place) at::addmm_out(block, block, h_prev, kernel);
    else mm_into(block, h_prev, kernel);
    const Tensor c_prev = previous_block(cs, c0, offsets, t, n);
    AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "lstm_forward", [&] {
      lstm_cell_forward(mut<scalar_t>(gates, off, 4 * U), in_place ? nullptr : ptr<scalar_t>(xp, off, 4 * U),
                        ptr<scalar_t>(c_prev, 0, U), mut<scalar_t>(cs, off, U), mut<scalar_t>(hs, off, ldh), ldh, n,
                        U, sigma, phi);
    });
  }
  return {hs, cs, gates};
}

// d_hs (S, U) upstream gradient of every output (or None), d_h, d_c (N, U) of the final states.
// Returns dz (S, 4U) (gradient of the gates' pre-activations, i.e. of xp), d_h0, d_c0. in_place: the
// gates are not needed afterwards (no retained graph) and dz overwrites them. weight_grad (tiled product
// only): receives [x | h_prev]^T dz (weight_pieces: those column blocks, as transposed_product takes them;
// bias_grad: dz's column sums), added behind the loop two steps at a time, or as many as make
// kWeightGradRows rows: each addition reads and writes the whole gradient, (D + U) x 4U floats, which
// for a few rows per step costs more than their products (one row of 100 steps at 64 inputs and 128
// units: 50 additions, 38 MB of traffic, against 4).
constexpr int64_t kWeightGradRows = 32;
std::vector<Tensor> lstm_backward(const c10::optional<Tensor>& d_hs, const Tensor& d_h, const Tensor& d_c,
                                  const Tensor& c0, const Tensor& kernel, const Tensor& cs, const Tensor& gates,
                                  const std::vector<int64_t>& sizes, const std::vector<int64_t>& offsets,
                                  int64_t sigma, int64_t phi, bool in_place,
                                  const c10::optional<Tensor>& recurrent_mask,
                                  const std::vector<std::vector<Tensor>>& weight_pieces,
                                  const c10::optional<Tensor>& weight_grad, const c10::optional<Tensor>& bias_grad) {
  pybind11::gil_scoped_release no_gil;
  const int64_t N = c0.size(0), U = c0.size(1);
  auto options = gates.options();
  const RecurrentMask dropout(recurrent_mask, N, U, options);
  const bool with_weights = weight_grad.has_value() && weight_grad->defined();
  TORCH_CHECK(!with_weights || use_tiled(gates),
              "birnn native kernels: lstm_backward takes the weight gradient along only on the tiled product");
  Tensor dz = in_place ? gates : at::empty_like(gates), carry = d_c.clone(), d_h0 = d_h.clone(), recurrent = at::empty({N, U}, options);
  const Tensor kernel_t = kernel.t();
  const Upstream up(d_hs, N, U, options);
  const int64_t steps = static_cast<int64_t>(sizes.size());
  if (use_tiled(gates)) {
    const Panels panels = pack(kernel_t, 1, U);
    const float *g = gates.data_ptr<float>(), *c = cs.data_ptr<float>(), *final_h = d_h.data_ptr<float>();
    float *d = dz.data_ptr<float>(), *rec = recurrent.data_ptr<float>(), *cr = carry.data_ptr<float>();
    // weight_grad (optional): [x | h_prev]^T dz (weight_pieces: its column blocks, as transposed_product takes
    // them), every two steps' rows added right behind the loop while they are still in cache
    std::optional<TransposedProduct> weights;
    if (with_weights) {
      Tensor out = *weight_grad;
      weights.emplace(weight_pieces, dz, out, false, bias_grad);
    }
    int64_t lo = INT64_MAX, hi = 0, pending = 0;  // the rows of the steps not added yet (adjacent blocks)
    auto flush = [&] {
      if (pending > 0) weights->add(lo, hi);
      lo = INT64_MAX, hi = pending = 0;
    };
    for_blocks_backward(sizes, offsets, [&](int64_t t, int64_t row, int64_t r0, int64_t R, int64_t next) {
      const float* c_prev = t == 0 ? c0.data_ptr<float>() : c + offsets[t - 1] * U;
      const float* upstream = up.rows.data_ptr<float>() + up.row(offsets, t) * up.stride();
      if (next > 0) {
        product_rows({}, d + (offsets[t + 1] + r0) * 4 * U, 4 * U, next, panels, nullptr, 0, rec + r0 * U, U);
        dropout.scale(rec + r0 * U, r0, next, U);
      }
      lstm_cell_backward<float>(g + row * 4 * U, c + row * U, c_prev + r0 * U, upstream + r0 * up.stride(), up.stride(),
                                rec + r0 * U, final_h + r0 * U, next, cr + r0 * U, d + row * 4 * U, R, U, sigma, phi);
      if (weights && r0 + R == sizes[t]) {  // step t is done
        lo = std::min(lo, offsets[t]), hi = std::max(hi, offsets[t] + sizes[t]);
        if (++pending >= 2 && hi - lo >= kWeightGradRows) flush();
      }
    });
    if (weights) {
      flush();
      weights->finish();
    }
    if (steps > 0) {
      rows_product(d + offsets[0] * 4 * U, 4 * U, sizes[0], panels, d_h0.data_ptr<float>(), U, false);
      dropout.scale(d_h0.data_ptr<float>(), 0, sizes[0], U);
    }
  } else {
    for (int64_t t = steps - 1; t >= 0; --t) {
      const int64_t n = sizes[t], off = offsets[t], n_next = t + 1 < steps ? sizes[t + 1] : 0;
      if (n_next > 0) {
        mm_into(recurrent.narrow(0, 0, n_next), dz.narrow(0, offsets[t + 1], n_next), kernel_t);
        dropout.scale_(recurrent.narrow(0, 0, n_next));
      }
      const Tensor c_prev = previous_block(cs, c0, offsets, t, n);
      AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "lstm_backward", [&] {
        lstm_cell_backward(ptr<scalar_t>(gates, off, 4 * U), ptr<scalar_t>(cs, off, U), ptr<scalar_t>(c_prev, 0, U),
                           ptr<scalar_t>(up.rows, up.row(offsets, t), up.stride()), up.stride(), ptr<scalar_t>(recurrent, 0, U),
                           ptr<scalar_t>(d_h, 0, U), n_next,
                           mut<scalar_t>(carry, 0, U), mut<scalar_t>(dz, off, 4 * U), n, U, sigma, phi);
      });
    }
    if (steps > 0) {
      mm_into(d_h0.narrow(0, 0, sizes[0]), dz.narrow(0, offsets[0], sizes[0]), kernel_t);
      dropout.scale_(d_h0.narrow(0, 0, sizes[0]));
    }
  }
  return {dz, d_h0, carry};
}

// xp (S, 3U) projected inputs with the input bias (gate order z, r, h); h0 (N, U); kernel (U, 3U);
// bias: the recurrent bias row (3U) or None. Returns hs (S, U), gates (S, 3U) [z | r | candidate]
// activated, hu_h (S, U) the recurrent part of the candidate's pre-activation. in_place: xp belongs
// to this call alone and becomes the gates.
std::vector<Tensor> gru_forward(const Tensor& xp, const Tensor& h0, const Tensor& kernel, const c10::optional<Tensor>& bias,
                                const std::vector<int64_t>& sizes, const std::vector<int64_t>& offsets, int64_t sigma,
                                int64_t phi, bool in_place, const c10::optional<Tensor>& recurrent_mask) {
  pybind11::gil_scoped_release no_gil;
  const int64_t S = xp.size(0), N = h0.size(0), U = h0.size(1);
  auto options = xp.options();
  const RecurrentMask dropout(recurrent_mask, N, U, options);
  Tensor hs = at::empty({S, U}, options), gates = in_place ? xp : at::empty({S, 3 * U}, options),
         hu_h = at::empty({S, U}, options), hu = at::empty({N, 3 * U}, options), dropped = at::empty({4, U}, options);
  const bool has_bias = bias.has_value() && bias->defined();
  if (use_tiled(xp)) {
    const Panels panels = pack(kernel, 3, U);
    const Tensor bias_row = has_bias ? bias->contiguous() : Tensor();
    const float *x = xp.data_ptr<float>(), *b = has_bias ? bias_row.data_ptr<float>() : nullptr;
    float *h = hs.data_ptr<float>(), *g = gates.data_ptr<float>(), *hh = hu_h.data_ptr<float>(), *rec = hu.data_ptr<float>();
    for (size_t t = 0; t < sizes.size(); ++t) {
      const int64_t off = offsets[t];
      const float* h_prev = t == 0 ? h0.data_ptr<float>() : h + offsets[t - 1] * U;
      for_row_blocks(sizes[t], [&](int64_t r0, int64_t R) {
        const int64_t row = off + r0;
        int64_t lda = U;
        const float* a = dropout.rows(h_prev + r0 * U, lda, r0, R, U, dropped.data_ptr<float>());
        product_rows({}, a, lda, R, panels, b, 0, rec + r0 * 3 * U, 3 * U);
        gru_cell_forward<float>(rec + r0 * 3 * U, x + row * 3 * U, h_prev + r0 * U, g + row * 3 * U, hh + row * U,
                                h + row * U, R, U, sigma, phi);
      });
    }
    return {hs, gates, hu_h};
  }
  for (size_t t = 0; t < sizes.size(); ++t) {
    const int64_t n = sizes[t], off = offsets[t];
    const Tensor h_prev = previous_block(hs, h0, offsets, t, n), h_in = dropout.applied(h_prev);
    Tensor block = hu.narrow(0, 0, n);
    if (has_bias) at::addmm_out(block, *bias, h_in, kernel);
    else at::mm_out(block, h_in, kernel);
    AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "gru_forward", [&] {
      gru_cell_forward(ptr<scalar_t>(hu, 0, 3 * U), ptr<scalar_t>(xp, off, 3 * U), ptr<scalar_t>(h_prev, 0, U),
                       mut<scalar_t>(gates, off, 3 * U), mut<scalar_t>(hu_h, off, U), mut<scalar_t>(hs, off, U), n, U,
                       sigma, phi);
    });
  }
  return {hs, gates, hu_h};
}

// Returns d_xp (S, 3U) (gradient of the projected inputs: the z and r pre-activations' and the
// candidate's), d_hh (S, U) (gradient of the candidate's recurrent part; with d_xp's z and r blocks it
// is the gradient of the recurrent pre-activations) and d_h0. A per-step block holds the latter for
// the next step's recurrent multiply. in_place: the saved gates and hu_h are not needed afterwards (no
// retained graph) and are overwritten by d_xp and d_hh.
std::vector<Tensor> gru_backward(const c10::optional<Tensor>& d_hs, const Tensor& d_h, const Tensor& h0,
                                 const Tensor& kernel, const Tensor& hs, const Tensor& gates, const Tensor& hu_h,
                                 const std::vector<int64_t>& sizes, const std::vector<int64_t>& offsets, int64_t sigma,
                                 int64_t phi, bool in_place, const c10::optional<Tensor>& recurrent_mask) {
  pybind11::gil_scoped_release no_gil;
  const int64_t S = hs.size(0), N = h0.size(0), U = h0.size(1);
  auto options = hs.options();
  const RecurrentMask dropout(recurrent_mask, N, U, options);
  Tensor d_xp = in_place ? gates : at::empty({S, 3 * U}, options), d_hh = in_place ? hu_h : at::empty({S, U}, options),
         block = at::empty({N, 3 * U}, options),
         carry = d_h.clone(), recurrent = at::zeros({N, U}, options), d_zr = at::empty({N, 2 * U}, options),
         d_cand = at::empty({N, U}, options);
  const Tensor kernel_t = kernel.t();
  const Upstream up(d_hs, N, U, options);
  const int64_t steps = static_cast<int64_t>(sizes.size());
  if (use_tiled(hs)) {
    const Panels panels = pack(kernel_t, 1, U);
    const float *g = gates.data_ptr<float>(), *hh = hu_h.data_ptr<float>(), *h = hs.data_ptr<float>();
    float *dx = d_xp.data_ptr<float>(), *dhh = d_hh.data_ptr<float>(), *blk = block.data_ptr<float>(),
          *rec = recurrent.data_ptr<float>(), *cr = carry.data_ptr<float>(), *dzr = d_zr.data_ptr<float>(),
          *dc = d_cand.data_ptr<float>();
    // a block's rows of `block` are read (the step after's) before the block's cell overwrites them
    for_blocks_backward(sizes, offsets, [&](int64_t t, int64_t row, int64_t r0, int64_t R, int64_t next) {
      const float* h_prev = t == 0 ? h0.data_ptr<float>() : h + offsets[t - 1] * U;
      const float* upstream = up.rows.data_ptr<float>() + up.row(offsets, t) * up.stride();
      if (next > 0) {
        product_rows({}, blk + r0 * 3 * U, 3 * U, next, panels, nullptr, 0, rec + r0 * U, U);
        dropout.scale(rec + r0 * U, r0, next, U);
      }
      gru_cell_backward<float>(g + row * 3 * U, hh + row * U, h_prev + r0 * U, upstream + r0 * up.stride(), up.stride(),
                               rec + r0 * U, next, cr + r0 * U, dx + row * 3 * U, dhh + row * U, blk + r0 * 3 * U,
                               dzr + r0 * 2 * U, dc + r0 * U, R, U, sigma, phi);
    });
    Tensor d_h0 = carry.clone();
    if (steps > 0) {  // rec is free now
      rows_product(blk, 3 * U, sizes[0], panels, rec, U, false);
      dropout.scale(rec, 0, sizes[0], U);
      d_h0.narrow(0, 0, sizes[0]).add_(recurrent.narrow(0, 0, sizes[0]));
    }
    return {d_xp, d_hh, d_h0};
  }
  for (int64_t t = steps - 1; t >= 0; --t) {
    const int64_t n = sizes[t], off = offsets[t], n_next = t + 1 < steps ? sizes[t + 1] : 0;
    if (n_next > 0) {
      mm_into(recurrent.narrow(0, 0, n_next), block.narrow(0, 0, n_next), kernel_t);
      dropout.scale_(recurrent.narrow(0, 0, n_next));
    }
    const Tensor h_prev = previous_block(hs, h0, offsets, t, n);
    AT_DISPATCH_FLOATING_TYPES(hs.scalar_type(), "gru_backward", [&] {
      gru_cell_backward(ptr<scalar_t>(gates, off, 3 * U), ptr<scalar_t>(hu_h, off, U), ptr<scalar_t>(h_prev, 0, U), ptr<scalar_t>(up.rows, up.row(offsets, t), up.stride()), up.stride(),
                        ptr<scalar_t>(recurrent, 0, U), n_next,
                        mut<scalar_t>(carry, 0, U), mut<scalar_t>(d_xp, off, 3 * U), mut<scalar_t>(d_hh, off, U),
                        mut<scalar_t>(block, 0, 3 * U), mut<scalar_t>(d_zr, 0, 2 * U), mut<scalar_t>(d_cand, 0, U), n,
                        U, sigma, phi);
    });
  }
  Tensor d_h0 = carry.clone();
  if (steps > 0) d_h0.narrow(0, 0, sizes[0]).add_(dropout.applied(at::mm(block.narrow(0, 0, sizes[0]), kernel_t)));
  return {d_xp, d_hh, d_h0};
}

// reset_after=False GRU. xp (S, 3U) projected inputs with the (input) bias, gate order z, r, h; h0 (N, U);
// kernel (U, 3U). Per step two dependent products: h_prev @ U_zr, then (r * h_prev) @ U_h. Returns hs
// (S, U), gates (S, 3U) [z | r | candidate] activated, reset_h (S, U) = r * h_prev (the candidate
// block's kernel gradient reads it). in_place: xp belongs to this call alone and becomes the gates.
std::vector<Tensor> gru_before_forward(const Tensor& xp, const Tensor& h0, const Tensor& kernel,
                                       const std::vector<int64_t>& sizes, const std::vector<int64_t>& offsets,
                                       int64_t sigma, int64_t phi, bool in_place,
                                       const c10::optional<Tensor>& recurrent_mask) {
  pybind11::gil_scoped_release no_gil;
  const int64_t S = xp.size(0), N = h0.size(0), U = h0.size(1);
  auto options = xp.options();
  const RecurrentMask dropout(recurrent_mask, N, U, options);
  Tensor hs = at::empty({S, U}, options), gates = in_place ? xp : at::empty({S, 3 * U}, options),
         reset_h = at::empty({S, U}, options), dropped = at::empty({4, U}, options);
  const Tensor gates_kernel = kernel.narrow(1, 0, 2 * U), candidate_kernel = kernel.narrow(1, 2 * U, U);
  if (use_tiled(xp)) {
    const Panels zr = pack(gates_kernel, 2, U), cand = pack(candidate_kernel, 1, U);
    const float* x = xp.data_ptr<float>();
    float *h = hs.data_ptr<float>(), *g = gates.data_ptr<float>(), *rh = reset_h.data_ptr<float>();
    for (size_t t = 0; t < sizes.size(); ++t) {
      const int64_t off = offsets[t];
      const float* h_prev = t == 0 ? h0.data_ptr<float>() : h + offsets[t - 1] * U;
      for_row_blocks(sizes[t], [&](int64_t r0, int64_t R) {
        const int64_t row = off + r0;
        float* gr = g + row * 3 * U;
        int64_t lda = U;  // the states as the products read them: times the recurrent dropout mask, if any
        const float* a = dropout.rows(h_prev + r0 * U, lda, r0, R, U, dropped.data_ptr<float>());
        product_rows({}, a, lda, R, zr, x + row * 3 * U, 3 * U, gr, 3 * U);
        gru_before_gates<float>(gr, a, rh + row * U, R, U, sigma);
        product_rows({}, rh + row * U, U, R, cand, x + row * 3 * U + 2 * U, 3 * U, gr + 2 * U, 3 * U);
        gru_output<float>(gr, h_prev + r0 * U, h + row * U, R, U, phi);
      });
    }
    return {hs, gates, reset_h};
  }
  for (size_t t = 0; t < sizes.size(); ++t) {
    const int64_t n = sizes[t], off = offsets[t];
    const Tensor h_prev = previous_block(hs, h0, offsets, t, n), h_in = dropout.applied(h_prev).contiguous();
    Tensor block = gates.narrow(0, off, n), reset_block = reset_h.narrow(0, off, n);
    Tensor zr = block.narrow(1, 0, 2 * U), cand = block.narrow(1, 2 * U, U);
    at::addmm_out(zr, xp.narrow(0, off, n).narrow(1, 0, 2 * U), h_in, gates_kernel);
    AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "gru_before_forward", [&] {
      gru_before_gates(mut<scalar_t>(gates, off, 3 * U), ptr<scalar_t>(h_in, 0, U), mut<scalar_t>(reset_h, off, U), n,
                       U, sigma);
    });
    at::addmm_out(cand, xp.narrow(0, off, n).narrow(1, 2 * U, U), reset_block, candidate_kernel);
    AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "gru_before_forward", [&] {
      gru_output(mut<scalar_t>(gates, off, 3 * U), ptr<scalar_t>(h_prev, 0, U), mut<scalar_t>(hs, off, U), n, U,
                        phi);
    });
  }
  return {hs, gates, reset_h};
}

// Returns d_xp (S, 3U) (the gradient of the projected inputs, which is the gates' pre-activations') and
// d_h0. in_place: the saved gates are not needed afterwards (no retained graph) and d_xp overwrites them.
std::vector<Tensor> gru_before_backward(const c10::optional<Tensor>& d_hs, const Tensor& d_h, const Tensor& h0,
                                        const Tensor& kernel, const Tensor& hs, const Tensor& gates,
                                        const std::vector<int64_t>& sizes, const std::vector<int64_t>& offsets,
                                        int64_t sigma, int64_t phi, bool in_place,
                                        const c10::optional<Tensor>& recurrent_mask) {
  pybind11::gil_scoped_release no_gil;
  const int64_t S = hs.size(0), N = h0.size(0), U = h0.size(1);
  auto options = hs.options();
  const RecurrentMask dropout(recurrent_mask, N, U, options);
  Tensor d_xp = in_place ? gates : at::empty({S, 3 * U}, options), carry = d_h.clone(),
         recurrent = at::zeros({N, U}, options), d_rh = at::empty({N, U}, options),
         scratch = at::empty({N, 2 * U}, options);
  const Tensor gates_kernel_t = kernel.narrow(1, 0, 2 * U).t(), candidate_kernel_t = kernel.narrow(1, 2 * U, U).t();
  const Upstream up(d_hs, N, U, options);
  const int64_t steps = static_cast<int64_t>(sizes.size());
  if (use_tiled(hs)) {
    const Panels zr = pack(gates_kernel_t, 1, U), cand = pack(candidate_kernel_t, 1, U);
    const float *g = gates.data_ptr<float>(), *h = hs.data_ptr<float>();
    float *dx = d_xp.data_ptr<float>(), *rec = recurrent.data_ptr<float>(), *cr = carry.data_ptr<float>(),
          *drh = d_rh.data_ptr<float>(), *sc = scratch.data_ptr<float>();
    const float* mask = dropout ? dropout.mask.data_ptr<float>() : nullptr;
    for_blocks_backward(sizes, offsets, [&](int64_t t, int64_t row, int64_t r0, int64_t R, int64_t next) {
      const float* h_prev = (t == 0 ? h0.data_ptr<float>() : h + offsets[t - 1] * U) + r0 * U;
      const float* upstream = up.rows.data_ptr<float>() + up.row(offsets, t) * up.stride();
      if (next > 0) {
        product_rows({}, dx + (offsets[t + 1] + r0) * 3 * U, 3 * U, next, zr, nullptr, 0, rec + r0 * U, U);
        dropout.scale(rec + r0 * U, r0, next, U);
      }
      gru_before_backward_first<float>(g + row * 3 * U, h_prev, upstream + r0 * up.stride(), up.stride(), rec + r0 * U,
                                       next, cr + r0 * U, dx + row * 3 * U, sc + r0 * 2 * U, R, U, sigma, phi);
      product_rows({}, dx + row * 3 * U + 2 * U, 3 * U, R, cand, nullptr, 0, drh + r0 * U, U);
      gru_before_backward_second<float>(g + row * 3 * U, h_prev, drh + r0 * U, mask ? mask + r0 * U : nullptr,
                                        cr + r0 * U, dx + row * 3 * U, sc + r0 * 2 * U, R, U, sigma);
    });
    Tensor d_h0 = carry.clone();
    if (steps > 0) {  // rec is free now
      rows_product(dx + offsets[0] * 3 * U, 3 * U, sizes[0], zr, rec, U, false);
      dropout.scale(rec, 0, sizes[0], U);
      d_h0.narrow(0, 0, sizes[0]).add_(recurrent.narrow(0, 0, sizes[0]));
    }
    return {d_xp, d_h0};
  }
  for (int64_t t = steps - 1; t >= 0; --t) {
    const int64_t n = sizes[t], off = offsets[t], n_next = t + 1 < steps ? sizes[t + 1] : 0;
    if (n_next > 0) {
      mm_into(recurrent.narrow(0, 0, n_next), d_xp.narrow(0, offsets[t + 1], n_next).narrow(1, 0, 2 * U), gates_kernel_t);
      dropout.scale_(recurrent.narrow(0, 0, n_next));
    }
    const Tensor h_prev = previous_block(hs, h0, offsets, t, n);
    AT_DISPATCH_FLOATING_TYPES(hs.scalar_type(), "gru_before_backward", [&] {
      gru_before_backward_first(ptr<scalar_t>(gates, off, 3 * U), ptr<scalar_t>(h_prev, 0, U),
                                ptr<scalar_t>(up.rows, up.row(offsets, t), up.stride()), up.stride(),
                                ptr<scalar_t>(recurrent, 0, U), n_next, mut<scalar_t>(carry, 0, U),
                                mut<scalar_t>(d_xp, off, 3 * U), mut<scalar_t>(scratch, 0, 2 * U), n, U, sigma, phi);
    });
    mm_into(d_rh.narrow(0, 0, n), d_xp.narrow(0, off, n).narrow(1, 2 * U, U), candidate_kernel_t);
    AT_DISPATCH_FLOATING_TYPES(hs.scalar_type(), "gru_before_backward", [&] {
      gru_before_backward_second(ptr<scalar_t>(gates, off, 3 * U), ptr<scalar_t>(h_prev, 0, U),
                                 ptr<scalar_t>(d_rh, 0, U), dropout ? ptr<scalar_t>(dropout.mask, 0, U) : nullptr,
                                 mut<scalar_t>(carry, 0, U), mut<scalar_t>(d_xp, off, 3 * U),
                                 mut<scalar_t>(scratch, 0, 2 * U), n, U, sigma);
    });
  }
  Tensor d_h0 = carry.clone();
  if (steps > 0)
    d_h0.narrow(0, 0, sizes[0]).add_(
        dropout.applied(at::mm(d_xp.narrow(0, offsets[0], sizes[0]).narrow(1, 0, 2 * U), gates_kernel_t)));
  return {d_xp, d_h0};
}

// xp (S, U) projected inputs; h0 (N, U); kernel (U, U). Returns hs (S, U).
Tensor simple_forward(const Tensor& xp, const Tensor& h0, const Tensor& kernel, const std::vector<int64_t>& sizes,
                      const std::vector<int64_t>& offsets, int64_t phi, const c10::optional<Tensor>& recurrent_mask) {
  pybind11::gil_scoped_release no_gil;
  const int64_t U = h0.size(1);
  const RecurrentMask dropout(recurrent_mask, h0.size(0), U, xp.options());
  Tensor hs = at::empty_like(xp), dropped = at::empty({4, U}, xp.options());
  if (use_tiled(xp)) {
    const Panels panels = pack(kernel, 1, U);
    const float* x = xp.data_ptr<float>();
    float* h = hs.data_ptr<float>();
    for (size_t t = 0; t < sizes.size(); ++t) {
      const int64_t off = offsets[t];
      const float* h_prev = t == 0 ? h0.data_ptr<float>() : h + offsets[t - 1] * U;
      for_row_blocks(sizes[t], [&](int64_t r0, int64_t R) {
        const int64_t row = off + r0;
        int64_t lda = U;
        const float* a = dropout.rows(h_prev + r0 * U, lda, r0, R, U, dropped.data_ptr<float>());
        product_rows({}, a, lda, R, panels, x + row * U, U, h + row * U, U);
        activate<float>(phi, h + row * U, R * U);
      });
    }
    return hs;
  }
  for (size_t t = 0; t < sizes.size(); ++t) {
    const int64_t n = sizes[t], off = offsets[t];
    mm_into(hs.narrow(0, off, n), dropout.applied(previous_block(hs, h0, offsets, t, n)), kernel);
    AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "simple_forward", [&] {
      simple_cell_forward(mut<scalar_t>(hs, off, U), ptr<scalar_t>(xp, off, U), n * U, phi);
    });
  }
  return hs;
}

// Returns d_a (S, U) (gradient of the pre-activations, i.e. of xp) and d_h0.
std::vector<Tensor> simple_backward(const c10::optional<Tensor>& d_hs, const Tensor& d_h, const Tensor& kernel,
                                    const Tensor& hs, const std::vector<int64_t>& sizes,
                                    const std::vector<int64_t>& offsets, int64_t phi,
                                    const c10::optional<Tensor>& recurrent_mask) {
  pybind11::gil_scoped_release no_gil;
  const int64_t N = d_h.size(0), U = d_h.size(1);
  const RecurrentMask dropout(recurrent_mask, N, U, hs.options());
  Tensor d_a = at::empty_like(hs), d_h0 = d_h.clone(), recurrent = at::empty({N, U}, hs.options());
  const Tensor kernel_t = kernel.t();
  const Upstream up(d_hs, N, U, hs.options());
  const int64_t steps = static_cast<int64_t>(sizes.size());
  if (use_tiled(hs)) {
    const Panels panels = pack(kernel_t, 1, U);
    const float *h = hs.data_ptr<float>(), *final_h = d_h.data_ptr<float>();
    float *da = d_a.data_ptr<float>(), *rec = recurrent.data_ptr<float>();
    for_blocks_backward(sizes, offsets, [&](int64_t t, int64_t row, int64_t r0, int64_t R, int64_t next) {
      const float* upstream = up.rows.data_ptr<float>() + up.row(offsets, t) * up.stride();
      if (next > 0) {
        product_rows({}, da + (offsets[t + 1] + r0) * U, U, next, panels, nullptr, 0, rec + r0 * U, U);
        dropout.scale(rec + r0 * U, r0, next, U);
      }
      simple_cell_backward<float>(h + row * U, upstream + r0 * up.stride(), up.stride(), rec + r0 * U, final_h + r0 * U,
                                  next, da + row * U, R, U, phi);
    });
    if (steps > 0) {
      rows_product(da + offsets[0] * U, U, sizes[0], panels, d_h0.data_ptr<float>(), U, false);
      dropout.scale(d_h0.data_ptr<float>(), 0, sizes[0], U);
    }
  } else {
    for (int64_t t = steps - 1; t >= 0; --t) {
      const int64_t n = sizes[t], off = offsets[t], n_next = t + 1 < steps ? sizes[t + 1] : 0;
      if (n_next > 0) {
        mm_into(recurrent.narrow(0, 0, n_next), d_a.narrow(0, offsets[t + 1], n_next), kernel_t);
        dropout.scale_(recurrent.narrow(0, 0, n_next));
      }
      AT_DISPATCH_FLOATING_TYPES(hs.scalar_type(), "simple_backward", [&] {
        simple_cell_backward(ptr<scalar_t>(hs, off, U), ptr<scalar_t>(up.rows, up.row(offsets, t), up.stride()),
                             up.stride(), ptr<scalar_t>(recurrent, 0, U),
                             ptr<scalar_t>(d_h, 0, U), n_next, mut<scalar_t>(d_a, off, U), n, U, phi);
      });
    }
    if (steps > 0) {
      mm_into(d_h0.narrow(0, 0, sizes[0]), d_a.narrow(0, offsets[0], sizes[0]), kernel_t);
      dropout.scale_(d_h0.narrow(0, 0, sizes[0]));
    }
  }
  return {d_a, d_h0};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("lstm_forward", &lstm_forward, pybind11::arg("xp"), pybind11::arg("h0"), pybind11::arg("c0"),
        pybind11::arg("kernel"), pybind11::arg("sizes"), pybind11::arg("offsets"), pybind11::arg("sigma"),
        pybind11::arg("phi"), pybind11::arg("in_place"), pybind11::arg("input_kernel") = pybind11::none(),
        pybind11::arg("bias") = pybind11::none(), pybind11::arg("out") = pybind11::none(),
        pybind11::arg("recurrent_mask") = pybind11::none(), pybind11::arg("save_gates") = true);
  // every time loop takes an optional recurrent dropout mask (N, U) last, by keyword
  const auto mask = pybind11::arg("recurrent_mask") = pybind11::none();
  m.def("lstm_backward", &lstm_backward, pybind11::arg("d_hs"), pybind11::arg("d_h"), pybind11::arg("d_c"),
        pybind11::arg("c0"), pybind11::arg("kernel"), pybind11::arg("cs"), pybind11::arg("gates"),
        pybind11::arg("sizes"), pybind11::arg("offsets"), pybind11::arg("sigma"), pybind11::arg("phi"),
        pybind11::arg("in_place"), mask, pybind11::arg("weight_pieces") = std::vector<std::vector<Tensor>>(),
        pybind11::arg("weight_grad") = pybind11::none(), pybind11::arg("bias_grad") = pybind11::none());
  m.def("gru_forward", &gru_forward, pybind11::arg("xp"), pybind11::arg("h0"), pybind11::arg("kernel"),
        pybind11::arg("bias"), pybind11::arg("sizes"), pybind11::arg("offsets"), pybind11::arg("sigma"),
        pybind11::arg("phi"), pybind11::arg("in_place"), mask);
  m.def("gru_backward", &gru_backward, pybind11::arg("d_hs"), pybind11::arg("d_h"), pybind11::arg("h0"),
        pybind11::arg("kernel"), pybind11::arg("hs"), pybind11::arg("gates"), pybind11::arg("hu_h"),
        pybind11::arg("sizes"), pybind11::arg("offsets"), pybind11::arg("sigma"), pybind11::arg("phi"),
        pybind11::arg("in_place"), mask);
  m.def("gru_before_forward", &gru_before_forward, pybind11::arg("xp"), pybind11::arg("h0"), pybind11::arg("kernel"),
        pybind11::arg("sizes"), pybind11::arg("offsets"), pybind11::arg("sigma"), pybind11::arg("phi"),
        pybind11::arg("in_place"), mask);
  m.def("gru_before_backward", &gru_before_backward, pybind11::arg("d_hs"), pybind11::arg("d_h"), pybind11::arg("h0"),
        pybind11::arg("kernel"), pybind11::arg("hs"), pybind11::arg("gates"), pybind11::arg("sizes"),
        pybind11::arg("offsets"), pybind11::arg("sigma"), pybind11::arg("phi"), pybind11::arg("in_place"), mask);
  m.def("simple_forward", &simple_forward, pybind11::arg("xp"), pybind11::arg("h0"), pybind11::arg("kernel"),
        pybind11::arg("sizes"), pybind11::arg("offsets"), pybind11::arg("phi"), mask);
  m.def("simple_backward", &simple_backward, pybind11::arg("d_hs"), pybind11::arg("d_h"), pybind11::arg("kernel"),
        pybind11::arg("hs"), pybind11::arg("sizes"), pybind11::arg("offsets"), pybind11::arg("phi"), mask);
  m.def("tiled_available", &tiled_available);
  m.def("set_tiled", &set_tiled);
  m.def("use_tiled", &use_tiled);
  m.def("product", &product, pybind11::arg("a"), pybind11::arg("b"), pybind11::arg("out"), pybind11::arg("accumulate"));
  m.def("transposed_product", &transposed_product, pybind11::arg("a"), pybind11::arg("b"), pybind11::arg("out"),
        pybind11::arg("accumulate"), pybind11::arg("sums") = pybind11::none());
}
