/* SIMD Isolation Forest scorer (AVX-512F, else AVX2): top levels by loads, then permutes, gathers.

   A CPython extension with no dependency but the C API (arrays arrive through the buffer
   protocol). netrca.detect._native lays the forest out and calls score() from one thread
   per core; the GIL is released while the kernel runs.

   Layout (built by netrca.detect._native.perfect_layout): every tree is padded to a
   perfect binary tree of its own depth d (at least MIN_DEPTH = TOP_LEVELS = 4). Tree t's
   inner nodes are node_off[t] + i, i in [0, 2^d - 1), children of i at 2i + 1 and
   2i + 2; its leaves are leaf_off[t] + k, k in [0, 2^d). A node holds its column's offset
   in the row block (column * BLOCK) and its threshold rounded down to float32, so that
   for a float32 x, x > threshold32 exactly when x > the float64 threshold (scikit-learn's
   test, on the float32 input it casts to). Padding under a real leaf always goes left
   (threshold +inf) and the leaf's value sits at the leftmost leaf below it, so every walk
   in tree t is exactly d steps: i = 2i + 1 + (x > threshold). The node arrays end with
   PAD spare entries, so that the 16- or 8-wide loads of a level's nodes stay inside them.

   Rows go through in blocks of BLOCK = 128 (8 vectors of 16 lanes with AVX-512F, 16 of
   8 with AVX2). A block is copied from the float64 matrix (column- or row-major, read in
   place; a full block with AVX2 loads, by 8x8 transposes when row-major) into a
   column-major float32 block (each column's 128 values contiguous); the values are cast
   to float32 as scikit-learn does. While a block is walked, the next one's rows are
   prefetched into L2, a slice a tree.

   The walk of a tree:
   - Levels 0-3 (15 nodes): every node is compared on every row with plain vector loads
     of its column, no gather. Each lane keeps a bit per level-4 node (its exits); a node
     whose row goes right clears the exits under its left child, and the lowest bit left
     is the row's exit (bit vectors in the style of QuickScorer, Lucchese et al., SIGIR
     2015).
   - Levels 4-7 (at most 128 nodes; AVX2: levels 4-5, at most 32) hold their nodes'
     columns and thresholds in registers, pick each lane's by permutes and gather only the
     row's value.
   - Deeper levels gather node and value.
   - The leaf's path length: a tree of at most 256 leaves with at most 32 distinct path
     lengths (the benchmark's trees of 256 samples have 9-21) has a byte code per leaf and a
     table of its values (netrca.detect._native.leaf_tables); the AVX-512F kernel picks
     the code, then the value, by permutes over registers. Other trees, and the AVX2
     kernel, gather the value.
   A block holding a NaN is not scored (scikit-learn routes NaN per node; the numba
   kernel does): its outputs are set to NaN and score() returns how many rows it left.

   score() checks every size and every index it will follow before it starts, so arrays
   that passed netrca's model validation cannot make it read or write out of bounds, and
   arrays or sizes that did not get a ValueError. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define NETRCA_X86 1
#include <immintrin.h>
#endif

#ifndef VECS
#define VECS 8
#endif
#define LANES 16
#define BLOCK (VECS * LANES)
#define MAX_DEPTH 20
/* last level whose nodes (at most 128) are picked by permutes; node arrays end with PAD
   spare entries so that the AVX2 kernel's 8-wide loads of a level's 32 entries (4 of
   them at level 4, which has 16) stay inside them */
#ifndef PERMUTED_LEVELS
#define PERMUTED_LEVELS 7
#endif
#define PAD 128
/* a tree of at most LUT_LEAVES leaves with at most LUT_VALUES distinct path lengths has
   a byte code per leaf, 4 to an int32, and its values in a table: both fit in registers */
#define LUT_LEAVES 256
#define LUT_VALUES 32
/* levels whose every node is compared on every row: 15 nodes a tree. A row's exits from
   them are bits of a 32-bit lane, so at most 5 such levels */
#ifndef TOP_LEVELS
#define TOP_LEVELS 4
#endif
#if TOP_LEVELS < 1 || TOP_LEVELS > 5
#error "TOP_LEVELS must be 1-5"
#endif

#ifdef NETRCA_X86

/* Rows r0.. r0+m of X (value (r, f) at r * row_step + f * col_step) into the float32
   block; returns 1 when one of them is NaN. */
static int
copy_block(const double *X, int64_t row_step, int64_t col_step, int64_t n_features, int64_t r0,
           int64_t m, float *xb)
{
    int nan = 0;
    if (row_step == 1) { /* column-major: each column's values are contiguous */
        for (int64_t f = 0; f < n_features; f++) {
            const double *src = X + f * col_step + r0;
            float *dst = xb + f * BLOCK;
            for (int64_t j = 0; j < m; j++) {
                double v = src[j];
                nan |= v != v;
                dst[j] = (float)v;
            }
        }
    } else { /* row-major (col_step 1): transposed on the way in */
        for (int64_t j = 0; j < m; j++) {
            const double *src = X + (r0 + j) * row_step;
            for (int64_t f = 0; f < n_features; f++) {
                double v = src[f * col_step];
                nan |= v != v;
                xb[f * BLOCK + j] = (float)v;
            }
        }
    }
    for (int64_t f = 0; f < n_features && m < BLOCK; f++)
        memset(xb + f * BLOCK + m, 0, (size_t)(BLOCK - m) * sizeof(float));
    return nan;
}

/* Bit masks of the top TOP_LEVELS levels: node p (heap order) clears, when its row goes
   right, the exits (level-TOP_LEVELS nodes) below its left child; an exit stays set while
   no node on the way to it sends the row the other way. */
static uint32_t
left_exits(int p)
{
    int level = 0;
    while ((2 << level) - 1 <= p) level++;
    const int width = 1 << (TOP_LEVELS - level), rel = p - ((1 << level) - 1);
    return (((uint32_t)1 << (width / 2)) - 1) << (rel * width);
}

/* A whole block (BLOCK rows) as copy_block, with AVX2: column-major X by 8-row loads,
   row-major X by 8x8 transposes (the last n_features % 8 columns one value at a time). */
__attribute__((target("avx2"))) static int
copy_full_block(const double *X, int64_t row_step, int64_t col_step, int64_t n_features,
                int64_t r0, float *xb)
{
    __m256 bad = _mm256_setzero_ps();
    int nan = 0;
    if (row_step == 1) {
        for (int64_t f = 0; f < n_features; f++) {
            const double *src = X + f * col_step + r0;
            float *dst = xb + f * BLOCK;
            for (int j = 0; j < BLOCK; j += 8) {
                __m128 lo = _mm256_cvtpd_ps(_mm256_loadu_pd(src + j));
                __m128 hi = _mm256_cvtpd_ps(_mm256_loadu_pd(src + j + 4));
                __m256 v = _mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1);
                bad = _mm256_or_ps(bad, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
                _mm256_store_ps(dst + j, v);
            }
        }
    } else {
        const int64_t f8 = n_features & ~(int64_t)7;
        for (int j = 0; j < BLOCK; j += 8) {
            const double *row = X + (r0 + j) * row_step;
            for (int64_t f = 0; f < f8; f += 8) {
                __m256 r[8], t[8], s[8];
                for (int i = 0; i < 8; i++) {
                    const double *src = row + i * row_step + f;
                    __m128 lo = _mm256_cvtpd_ps(_mm256_loadu_pd(src));
                    __m128 hi = _mm256_cvtpd_ps(_mm256_loadu_pd(src + 4));
                    r[i] = _mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1);
                }
                for (int i = 0; i < 8; i += 2) {
                    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
                    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
                }
                for (int i = 0; i < 8; i += 4) {
                    s[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
                    s[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
                    s[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
                    s[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
                }
                for (int k = 0; k < 4; k++) { /* columns f + k and f + k + 4 */
                    __m256 c0 = _mm256_permute2f128_ps(s[k], s[k + 4], 0x20);
                    __m256 c1 = _mm256_permute2f128_ps(s[k], s[k + 4], 0x31);
                    bad = _mm256_or_ps(bad, _mm256_or_ps(_mm256_cmp_ps(c0, c0, _CMP_UNORD_Q),
                                                         _mm256_cmp_ps(c1, c1, _CMP_UNORD_Q)));
                    _mm256_store_ps(xb + (f + k) * BLOCK + j, c0);
                    _mm256_store_ps(xb + (f + k + 4) * BLOCK + j, c1);
                }
            }
            for (int64_t f = f8; f < n_features; f++)
                for (int i = 0; i < 8; i++) {
                    double v = row[i * row_step + f];
                    nan |= v != v;
                    xb[f * BLOCK + j + i] = (float)v;
                }
        }
    }
    return nan || _mm256_movemask_ps(bad) != 0;
}

/* The next block's rows in X, fetched into L2 a slice a tree while this block is walked:
   `lines` cache lines in segments of lines_per_seg, seg_stride bytes apart (one segment
   for row-major X, a column each for column-major). A segment's count has one line spare
   for its alignment, so the last block's may reach a line past X: prefetches never
   fault, and nothing is read from them. */
typedef struct {
    const char *base;
    int64_t seg_stride, lines_per_seg, lines;
} Ahead;

static inline void
fetch_ahead(const Ahead *a, int64_t t, int64_t n_trees)
{
    for (int64_t q = t * a->lines / n_trees, e = (t + 1) * a->lines / n_trees; q < e; q++)
        __builtin_prefetch(a->base + q / a->lines_per_seg * a->seg_stride + q % a->lines_per_seg * 64, 0, 2);
}

/* One level of at most 128 nodes (level 4-7) for the block's vectors: node columns and
   thresholds held in registers and picked by permutes; only the row's value is gathered.
   Inlined with the level a constant at each call, so each level's code has no test of
   it (0.282 -> 0.269 s for 1M rows on one core). */
__attribute__((target("avx512f"), always_inline)) static inline void
permuted_level(const int level, const int32_t *col, const float *thr, const float *xb,
               __m512i lane, __m512i minus_one, __m512i *rel)
{
    const int first = (1 << level) - 1;
    __m512i c[8];
    __m512 h[8];
    for (int q = 0; q < 8; q++) {
        /* only the level's own entries are used; PAD keeps the loads in bounds */
        c[q] = 16 * q < (1 << level) ? _mm512_loadu_si512(col + first + 16 * q)
                                     : _mm512_setzero_si512();
        h[q] = 16 * q < (1 << level) ? _mm512_loadu_ps(thr + first + 16 * q)
                                     : _mm512_setzero_ps();
    }
    for (int v = 0; v < VECS; v++) {
        const __m512i r = rel[v];
        __m512i cv;
        __m512 tv;
        if (level <= 4) {
            cv = _mm512_permutexvar_epi32(r, c[0]);
            tv = _mm512_permutexvar_ps(r, h[0]);
        } else {
            /* 32 entries a permute; bits 5 and 6 of r pick among them */
            cv = _mm512_permutex2var_epi32(c[0], r, c[1]);
            tv = _mm512_permutex2var_ps(h[0], r, h[1]);
            if (level >= 6) {
                __mmask16 b5 = _mm512_test_epi32_mask(r, _mm512_set1_epi32(32));
                cv = _mm512_mask_blend_epi32(b5, cv, _mm512_permutex2var_epi32(c[2], r, c[3]));
                tv = _mm512_mask_blend_ps(b5, tv, _mm512_permutex2var_ps(h[2], r, h[3]));
                if (level >= 7) {
                    __mmask16 b6 = _mm512_test_epi32_mask(r, _mm512_set1_epi32(64));
                    __m512i chi = _mm512_mask_blend_epi32(
                        b5, _mm512_permutex2var_epi32(c[4], r, c[5]),
                        _mm512_permutex2var_epi32(c[6], r, c[7]));
                    __m512 thi =
                        _mm512_mask_blend_ps(b5, _mm512_permutex2var_ps(h[4], r, h[5]),
                                             _mm512_permutex2var_ps(h[6], r, h[7]));
                    cv = _mm512_mask_blend_epi32(b6, cv, chi);
                    tv = _mm512_mask_blend_ps(b6, tv, thi);
                }
            }
        }
        __m512 x = _mm512_i32gather_ps(_mm512_add_epi32(cv, lane), xb + LANES * v, 4);
        __mmask16 right = _mm512_cmp_ps_mask(x, tv, _CMP_GT_OQ);
        __m512i twice = _mm512_add_epi32(r, r);
        rel[v] = _mm512_mask_sub_epi32(twice, right, twice, minus_one);
    }
}

__attribute__((target("avx512f"))) static void
walk_block(const float *xb, int64_t n_trees, const int32_t *column, const float *threshold,
           const double *leaf, const int64_t *node_off, const int64_t *leaf_off,
           const int32_t *depth, const int32_t *leaf_code, const double *leaf_table,
           const uint8_t *coded, const uint32_t *clear, const Ahead *ahead, double *acc)
{
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i minus_one = _mm512_set1_epi32(-1);
    __m512d sum[2 * VECS];
    for (int v = 0; v < 2 * VECS; v++) sum[v] = _mm512_setzero_pd();
    for (int64_t t = 0; t < n_trees; t++) {
        fetch_ahead(ahead, t, n_trees);
        const int32_t *col = column + node_off[t];
        const float *thr = threshold + node_off[t];
        const double *lv = leaf + leaf_off[t];
        const int d = depth[t];
        __m512i rel[VECS]; /* each lane's node, counted from the left of its level */
        /* the top levels: every node compared on every row by plain loads; a row's exit is
           the lowest bit its nodes left set */
        __m512i exits[VECS];
        for (int v = 0; v < VECS; v++) exits[v] = minus_one;
        for (int p = 0; p < (1 << TOP_LEVELS) - 1; p++) {
            const float *x = xb + col[p];
            const __m512 h = _mm512_set1_ps(thr[p]);
            const __m512i keep = _mm512_set1_epi32((int32_t)~clear[p]);
            for (int v = 0; v < VECS; v++) {
                __mmask16 right = _mm512_cmp_ps_mask(_mm512_load_ps(x + LANES * v), h, _CMP_GT_OQ);
                exits[v] = _mm512_mask_and_epi32(exits[v], right, exits[v], keep);
            }
        }
        for (int v = 0; v < VECS; v++) { /* the lowest set bit's position, by its exponent */
            __m512i low = _mm512_and_si512(exits[v], _mm512_sub_epi32(_mm512_setzero_si512(), exits[v]));
            rel[v] = _mm512_cvttps_epi32(_mm512_getexp_ps(_mm512_cvtepu32_ps(low)));
        }
        /* levels with at most 128 nodes, by permutes */
        int level = TOP_LEVELS;
        for (; level < d && level <= PERMUTED_LEVELS; level++) {
            switch (level) {
            case 4: permuted_level(4, col, thr, xb, lane, minus_one, rel); break;
            case 5: permuted_level(5, col, thr, xb, lane, minus_one, rel); break;
            case 6: permuted_level(6, col, thr, xb, lane, minus_one, rel); break;
            case 7: permuted_level(7, col, thr, xb, lane, minus_one, rel); break;
            default: permuted_level(level, col, thr, xb, lane, minus_one, rel); break;
            }
        }
        /* deeper levels gather node and value */
        for (; level < d; level++) {
            const int first = (1 << level) - 1;
            for (int v = 0; v < VECS; v++) {
                __m512i cv = _mm512_i32gather_epi32(rel[v], col + first, 4);
                __m512 tv = _mm512_i32gather_ps(rel[v], thr + first, 4);
                __m512 x = _mm512_i32gather_ps(_mm512_add_epi32(cv, lane), xb + LANES * v, 4);
                __mmask16 right = _mm512_cmp_ps_mask(x, tv, _CMP_GT_OQ);
                __m512i twice = _mm512_add_epi32(rel[v], rel[v]);
                rel[v] = _mm512_mask_sub_epi32(twice, right, twice, minus_one);
            }
        }
        if (coded[t]) { /* the leaf's code, then its value, by permutes */
            const int32_t *lc = leaf_code + (LUT_LEAVES / 4) * t;
            const double *lt = leaf_table + LUT_VALUES * t;
            const __m512i c0 = _mm512_loadu_si512(lc), c1 = _mm512_loadu_si512(lc + 16),
                          c2 = _mm512_loadu_si512(lc + 32), c3 = _mm512_loadu_si512(lc + 48);
            const __m512d t0 = _mm512_loadu_pd(lt), t1 = _mm512_loadu_pd(lt + 8),
                          t2 = _mm512_loadu_pd(lt + 16), t3 = _mm512_loadu_pd(lt + 24);
            for (int v = 0; v < VECS; v++) {
                const __m512i word = _mm512_srli_epi32(rel[v], 2); /* 4 codes a word */
                __m512i w = _mm512_mask_blend_epi32(
                    _mm512_test_epi32_mask(word, _mm512_set1_epi32(32)),
                    _mm512_permutex2var_epi32(c0, word, c1), _mm512_permutex2var_epi32(c2, word, c3));
                __m512i shift = _mm512_slli_epi32(_mm512_and_si512(rel[v], _mm512_set1_epi32(3)), 3);
                __m512i code = _mm512_and_si512(_mm512_srlv_epi32(w, shift),
                                                _mm512_set1_epi32(LUT_VALUES - 1));
                for (int half = 0; half < 2; half++) {
                    __m512i k = _mm512_cvtepu32_epi64(half ? _mm512_extracti64x4_epi64(code, 1)
                                                           : _mm512_castsi512_si256(code));
                    __m512d value = _mm512_mask_blend_pd(
                        _mm512_test_epi64_mask(k, _mm512_set1_epi64(16)),
                        _mm512_permutex2var_pd(t0, k, t1), _mm512_permutex2var_pd(t2, k, t3));
                    sum[2 * v + half] = _mm512_add_pd(sum[2 * v + half], value);
                }
            }
        } else {
            for (int v = 0; v < VECS; v++) {
                sum[2 * v] = _mm512_add_pd(
                    sum[2 * v], _mm512_i32gather_pd(_mm512_castsi512_si256(rel[v]), lv, 8));
                sum[2 * v + 1] = _mm512_add_pd(
                    sum[2 * v + 1], _mm512_i32gather_pd(_mm512_extracti64x4_epi64(rel[v], 1), lv, 8));
            }
        }
    }
    for (int v = 0; v < 2 * VECS; v++) _mm512_storeu_pd(acc + 8 * v, sum[v]);
}

/* The same walk with AVX2 (8 lanes): the top levels by loads, levels to 5 (at most 32
   nodes) by permutes over nodes held in registers, deeper levels by gathers. The 128-row
   block goes through in groups of 4 vectors (32 rows); path lengths accumulate in acc. */
__attribute__((target("avx2"))) static inline __m256i
pick8(const __m256i *c, __m256i rel, int level)
{
    /* entry rel of the level's 2^level (at most 32) values c[0..3], 8 to a vector */
    __m256i v = _mm256_permutevar8x32_epi32(c[0], rel);
    if (level <= 3) return v;
    const __m256i b3 = _mm256_set1_epi32(8), b4 = _mm256_set1_epi32(16);
    __m256i hi3 = _mm256_cmpeq_epi32(_mm256_and_si256(rel, b3), b3);
    v = _mm256_blendv_epi8(v, _mm256_permutevar8x32_epi32(c[1], rel), hi3);
    if (level == 4) return v;
    __m256i w = _mm256_blendv_epi8(_mm256_permutevar8x32_epi32(c[2], rel),
                                   _mm256_permutevar8x32_epi32(c[3], rel), hi3);
    return _mm256_blendv_epi8(v, w, _mm256_cmpeq_epi32(_mm256_and_si256(rel, b4), b4));
}

#define VECS2 4

__attribute__((target("avx2"))) static void
walk_block_avx2(const float *xb, int64_t n_trees, const int32_t *column, const float *threshold,
                const double *leaf, const int64_t *node_off, const int64_t *leaf_off,
                const int32_t *depth, const uint32_t *clear, const Ahead *ahead, double *acc)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int j = 0; j < BLOCK; j++) acc[j] = 0.0;
    for (int64_t t = 0; t < n_trees; t++) {
        fetch_ahead(ahead, t, n_trees);
        const int32_t *col = column + node_off[t];
        const float *thr = threshold + node_off[t];
        const double *lv = leaf + leaf_off[t];
        const int d = depth[t];
        for (int g = 0; g < BLOCK; g += 8 * VECS2) {
            __m256i rel[VECS2], exits[VECS2];
            for (int v = 0; v < VECS2; v++) exits[v] = _mm256_set1_epi32(-1);
            for (int p = 0; p < (1 << TOP_LEVELS) - 1; p++) {
                const float *x = xb + col[p] + g;
                const __m256 h = _mm256_set1_ps(thr[p]);
                const __m256i gone = _mm256_set1_epi32((int32_t)clear[p]);
                for (int v = 0; v < VECS2; v++) {
                    __m256 right = _mm256_cmp_ps(_mm256_load_ps(x + 8 * v), h, _CMP_GT_OQ);
                    exits[v] = _mm256_andnot_si256(
                        _mm256_and_si256(_mm256_castps_si256(right), gone), exits[v]);
                }
            }
            for (int v = 0; v < VECS2; v++) { /* the lowest set bit's position, by its exponent */
                __m256i low = _mm256_and_si256(exits[v], _mm256_sub_epi32(_mm256_setzero_si256(), exits[v]));
                __m256i bits = _mm256_srli_epi32(_mm256_castps_si256(_mm256_cvtepi32_ps(low)), 23);
                rel[v] = _mm256_sub_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(255)),
                                          _mm256_set1_epi32(127));
            }
            int level = TOP_LEVELS;
            for (; level < d && level <= 5; level++) {
                const int first = (1 << level) - 1;
                __m256i c[4], h[4];
                for (int q = 0; q < 4; q++) {
                    /* PAD keeps the 8-wide loads inside the arrays */
                    c[q] = _mm256_loadu_si256((const __m256i *)(col + first + 8 * q));
                    h[q] = _mm256_castps_si256(_mm256_loadu_ps(thr + first + 8 * q));
                }
                for (int v = 0; v < VECS2; v++) {
                    __m256i cv = pick8(c, rel[v], level);
                    __m256 tv = _mm256_castsi256_ps(pick8(h, rel[v], level));
                    __m256 x = _mm256_i32gather_ps(xb + g + 8 * v, _mm256_add_epi32(cv, lane), 4);
                    __m256i right = _mm256_castps_si256(_mm256_cmp_ps(x, tv, _CMP_GT_OQ));
                    rel[v] = _mm256_sub_epi32(_mm256_add_epi32(rel[v], rel[v]), right); /* right: -1 */
                }
            }
            for (; level < d; level++) {
                const int first = (1 << level) - 1;
                for (int v = 0; v < VECS2; v++) {
                    __m256i cv = _mm256_i32gather_epi32(col + first, rel[v], 4);
                    __m256 tv = _mm256_i32gather_ps(thr + first, rel[v], 4);
                    __m256 x = _mm256_i32gather_ps(xb + g + 8 * v, _mm256_add_epi32(cv, lane), 4);
                    __m256i right = _mm256_castps_si256(_mm256_cmp_ps(x, tv, _CMP_GT_OQ));
                    rel[v] = _mm256_sub_epi32(_mm256_add_epi32(rel[v], rel[v]), right);
                }
            }
            for (int v = 0; v < VECS2; v++) {
                double *a = acc + g + 8 * v;
                _mm256_storeu_pd(a, _mm256_add_pd(_mm256_loadu_pd(a),
                                                  _mm256_i32gather_pd(lv, _mm256_castsi256_si128(rel[v]), 8)));
                _mm256_storeu_pd(a + 4, _mm256_add_pd(_mm256_loadu_pd(a + 4),
                                                      _mm256_i32gather_pd(lv, _mm256_extracti128_si256(rel[v], 1), 8)));
            }
        }
    }
}

/* 2: AVX-512F (with AVX2, which the block copy uses), 1: AVX2, 0: neither (the numba
   kernel scores) */
static int
cpu_level(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2")) return 0;
    return __builtin_cpu_supports("avx512f") ? 2 : 1;
}

#else

static int
cpu_level(void)
{
    return 0;
}

#endif

/* Every index the walk can follow is in bounds; returns an error message or NULL. */
static const char *
check(int64_t n, int64_t n_features, int64_t n_trees, int64_t n_nodes, int64_t n_leaves,
      const int32_t *column, const int64_t *node_off, const int64_t *leaf_off,
      const int32_t *depth, const uint8_t *coded, int64_t begin, int64_t end)
{
    if (n < 0 || n_features < 1 || n_trees < 0 || begin < 0 || end < begin || end > n)
        return "bad sizes or row range";
    if (n_features > INT32_MAX / BLOCK - 1) return "too many features";
    for (int64_t i = 0; i < n_nodes; i++)
        if (column[i] < 0 || column[i] % BLOCK || column[i] / BLOCK >= n_features)
            return "column offset out of bounds";
    for (int64_t t = 0; t < n_trees; t++) {
        int32_t d = depth[t];
        if (d < TOP_LEVELS || d > MAX_DEPTH) return "tree depth out of range";
        if (node_off[t] < 0 || node_off[t] > n_nodes - ((1 << d) - 1) - PAD)
            return "tree nodes out of bounds";
        if (leaf_off[t] < 0 || leaf_off[t] > n_leaves - (1 << d)) return "tree leaves out of bounds";
        if (coded[t] > 1 || (coded[t] && (1 << d) > LUT_LEAVES)) return "leaf codes out of range";
    }
    return NULL;
}

/* The buffer holds exactly rows * cols items of `size` bytes (no overflow: a product
   past PY_SSIZE_T_MAX is refused). Sets ValueError and returns 0 otherwise. */
static int
need(Py_buffer *b, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t size, const char *name)
{
    if (rows < 0 || cols < 0 || (cols && rows > PY_SSIZE_T_MAX / cols / size)) {
        PyErr_Format(PyExc_ValueError, "%s: sizes out of range", name);
        return 0;
    }
    if (b->len != rows * cols * size) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd bytes, got %zd", name, rows * cols * size,
                     b->len);
        return 0;
    }
    return 1;
}

PyDoc_STRVAR(score_doc,
             "score(X, n, n_features, row_step, col_step, column, threshold, leaf, node_off, "
             "leaf_off, depth, leaf_code, leaf_table, coded, out, begin, end[, level]) -> rows "
             "left for NaN\n\n"
             "Sum of path lengths over trees for rows [begin, end) of the float64 matrix X "
             "(n rows; column-major: steps 1 and n, row-major: n_features and 1), written to "
             "out (float64, n). Rows of a block holding a NaN get NaN and are counted in the "
             "return value. level: 2 (AVX-512F), 1 (AVX2) or 0 (the best this CPU runs). "
             "Where coded[t] is 1 (uint8, per tree), the AVX-512F kernel reads tree t's leaf "
             "values as leaf_table[t][code] (float64, LUT_VALUES a tree), code the byte k of "
             "leaf_code[t] (LUT_LEAVES bytes a tree) for leaf k.");

static PyObject *
score(PyObject *self, PyObject *args)
{
    Py_buffer X, column, threshold, leaf, node_off, leaf_off, depth, leaf_code, leaf_table, coded, out;
    Py_ssize_t n, n_features, row_step, col_step, begin, end;
    int level = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nnnny*y*y*y*y*y*y*y*y*w*nn|i", &X, &n, &n_features,
                          &row_step, &col_step, &column, &threshold, &leaf, &node_off, &leaf_off,
                          &depth, &leaf_code, &leaf_table, &coded, &out, &begin, &end, &level))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n_nodes = column.len / 4, n_leaves = leaf.len / 8, n_trees = depth.len / 4;
    if (level == 0) level = cpu_level();
    if (level < 1 || level > cpu_level()) {
        PyErr_Format(PyExc_RuntimeError, "this CPU cannot run kernel level %d (it has %d)", level,
                     cpu_level());
        goto done;
    }
    if (!((row_step == 1 && col_step == n) || (row_step == n_features && col_step == 1))) {
        PyErr_SetString(PyExc_ValueError, "X must be column-major or row-major");
        goto done;
    }
    if (n < 0 || n_features < 1) {
        PyErr_SetString(PyExc_ValueError, "bad sizes");
        goto done;
    }
    if (!need(&X, n, n_features, 8, "X") || !need(&column, n_nodes, 1, 4, "column") ||
        !need(&threshold, n_nodes, 1, 4, "threshold") || !need(&leaf, n_leaves, 1, 8, "leaf") ||
        !need(&node_off, n_trees, 1, 8, "node_off") ||
        !need(&leaf_off, n_trees, 1, 8, "leaf_off") || !need(&depth, n_trees, 1, 4, "depth") ||
        !need(&leaf_code, n_trees, LUT_LEAVES / 4, 4, "leaf_code") ||
        !need(&leaf_table, n_trees, LUT_VALUES, 8, "leaf_table") ||
        !need(&coded, n_trees, 1, 1, "coded") || !need(&out, n, 1, 8, "out"))
        goto done;
    const char *bad = check(n, n_features, n_trees, n_nodes, n_leaves, column.buf,
                            node_off.buf, leaf_off.buf, depth.buf, coded.buf, begin, end);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, bad);
        goto done;
    }
#ifdef NETRCA_X86
    float *xb = aligned_alloc(64, (size_t)n_features * BLOCK * sizeof(float));
    if (!xb) {
        PyErr_NoMemory();
        goto done;
    }
    uint32_t clear[(1 << TOP_LEVELS) - 1];
    for (int p = 0; p < (1 << TOP_LEVELS) - 1; p++) clear[p] = left_exits(p);
    Py_ssize_t left = 0;
    Py_BEGIN_ALLOW_THREADS;
    double acc[BLOCK];
    double *o = out.buf;
    for (int64_t r0 = begin; r0 < end; r0 += BLOCK) {
        int64_t m = end - r0 < BLOCK ? end - r0 : BLOCK;
        int64_t r1 = r0 + BLOCK, m1 = end - r1 < BLOCK ? end - r1 : BLOCK;
        Ahead ahead = {NULL, 0, 0, 0}; /* nothing to fetch after the last block */
        if (m1 > 0) {
            ahead.base = (const char *)((const double *)X.buf + r1 * row_step);
            int64_t bytes = row_step == 1 ? m1 * 8 : m1 * n_features * 8;
            ahead.seg_stride = row_step == 1 ? col_step * 8 : 0;
            ahead.lines_per_seg = (bytes + 63) / 64 + 1;
            ahead.lines = ahead.lines_per_seg * (row_step == 1 ? n_features : 1);
        }
        if (m == BLOCK ? copy_full_block(X.buf, row_step, col_step, n_features, r0, xb)
                       : copy_block(X.buf, row_step, col_step, n_features, r0, m, xb)) {
            for (int64_t j = 0; j < m; j++) o[r0 + j] = NAN;
            left += m;
            continue;
        }
        if (level == 2)
            walk_block(xb, n_trees, column.buf, threshold.buf, leaf.buf, node_off.buf,
                       leaf_off.buf, depth.buf, leaf_code.buf, leaf_table.buf, coded.buf, clear,
                       &ahead, acc);
        else
            walk_block_avx2(xb, n_trees, column.buf, threshold.buf, leaf.buf, node_off.buf,
                            leaf_off.buf, depth.buf, clear, &ahead, acc);
        memcpy(o + r0, acc, (size_t)m * sizeof(double));
    }
    Py_END_ALLOW_THREADS;
    free(xb);
    result = PyLong_FromSsize_t(left);
#endif
done:
    PyBuffer_Release(&X);
    PyBuffer_Release(&column);
    PyBuffer_Release(&threshold);
    PyBuffer_Release(&leaf);
    PyBuffer_Release(&node_off);
    PyBuffer_Release(&leaf_off);
    PyBuffer_Release(&depth);
    PyBuffer_Release(&leaf_code);
    PyBuffer_Release(&leaf_table);
    PyBuffer_Release(&coded);
    PyBuffer_Release(&out);
    return result;
}

PyDoc_STRVAR(top_doc,
             "top_deviation(X, n, n_features, row_step, col_step, center, scale, out)\n\n"
             "Per row of the float64 matrix X (steps as in score()), the column with the "
             "largest |x - center| / scale, written to out (int64, n): numpy's argmax over "
             "the row (the first largest wins; a NaN counts as larger than everything, the "
             "first NaN wins). Plain C: runs on any CPU.");

static PyObject *
top_deviation(PyObject *self, PyObject *args)
{
    Py_buffer X, center, scale, out;
    Py_ssize_t n, n_features, row_step, col_step;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nnnny*y*w*", &X, &n, &n_features, &row_step, &col_step,
                          &center, &scale, &out))
        return NULL;
    PyObject *result = NULL;
    if (n < 0 || n_features < 1 ||
        !((row_step == 1 && col_step == n) || (row_step == n_features && col_step == 1))) {
        PyErr_SetString(PyExc_ValueError, "bad sizes, or X neither column- nor row-major");
        goto done;
    }
    if (!need(&X, n, n_features, 8, "X") || !need(&center, n_features, 1, 8, "center") ||
        !need(&scale, n_features, 1, 8, "scale") || !need(&out, n, 1, 8, "out"))
        goto done;
    Py_BEGIN_ALLOW_THREADS;
    const double *x = X.buf, *c = center.buf, *s = scale.buf;
    int64_t *o = out.buf;
    for (int64_t r = 0; r < n; r++) {
        const double *row = x + r * row_step;
        double best = fabs(row[0] - c[0]) / s[0];
        int64_t arg = 0;
        if (best == best) {
            for (int64_t j = 1; j < n_features; j++) {
                double z = fabs(row[j * col_step] - c[j]) / s[j];
                if (z != z) {
                    arg = j;
                    break;
                }
                if (z > best) {
                    best = z;
                    arg = j;
                }
            }
        }
        o[r] = arg;
    }
    Py_END_ALLOW_THREADS;
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&X);
    PyBuffer_Release(&center);
    PyBuffer_Release(&scale);
    PyBuffer_Release(&out);
    return result;
}

static PyObject *
available(PyObject *self, PyObject *unused) /* level() */
{
    (void)self;
    (void)unused;
    return PyLong_FromLong(cpu_level());
}

static PyMethodDef methods[] = {
    {"score", score, METH_VARARGS, score_doc},
    {"top_deviation", top_deviation, METH_VARARGS, top_doc},
    {"level", available, METH_NOARGS,
     "The kernel this CPU runs: 2 (AVX-512F), 1 (AVX2) or 0 (neither)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_simd",
    .m_doc = "SIMD Isolation Forest scorer (see netrca.detect._native).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__simd(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m && (PyModule_AddIntConstant(m, "BLOCK", BLOCK) || PyModule_AddIntConstant(m, "MIN_DEPTH", TOP_LEVELS) ||
              PyModule_AddIntConstant(m, "MAX_DEPTH", MAX_DEPTH) ||
              PyModule_AddIntConstant(m, "PAD", PAD) ||
              PyModule_AddIntConstant(m, "LUT_LEAVES", LUT_LEAVES) ||
              PyModule_AddIntConstant(m, "LUT_VALUES", LUT_VALUES))) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
