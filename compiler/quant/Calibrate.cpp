// Calibrated rounding: see Calibrate.h and docs/quantization.md.
#include "compiler/quant/Calibrate.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <thread>

namespace mote {
namespace quant {

bool parseRounding(const std::string &s, Rounding &out) {
  if (s == "nearest") out = Rounding::Nearest;
  else if (s == "awq") out = Rounding::Awq;
  else if (s == "gptq") out = Rounding::Gptq;
  else if (s == "gptq-act") out = Rounding::GptqAct;
  else return false;
  return true;
}

const char *roundingName(Rounding r) {
  return r == Rounding::Awq       ? "awq"
         : r == Rounding::Gptq    ? "gptq"
         : r == Rounding::GptqAct ? "gptq-act"
                                  : "nearest";
}

namespace {

// a.b with four independent partial sums (a fixed order, so results do not
// depend on threads; 3-4x faster than one serial chain).
double dot(const double *a, const double *b, uint64_t n) {
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  uint64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i)
    s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

} // namespace

double quadForm(const double *e, uint64_t K, const double *H) {
  double total = 0.0;
  for (uint64_t i = 0; i < K; ++i)
    if (e[i] != 0.0)
      total += e[i] * dot(H + i * K, e, K);
  return total;
}

namespace {

void putCode(uint8_t *codes, uint64_t k, uint8_t c, unsigned bits) {
  const unsigned perByte = 8 / bits;
  codes[k / perByte] |= static_cast<uint8_t>(c << ((k % perByte) * bits));
}

// e = w - What for one packed row.
void rowResidual(const float *w, uint64_t K, const QuantSpec &spec,
                 const uint8_t *codes, const float *scales, double *e) {
  for (uint64_t k = 0; k < K; ++k)
    e[k] = double(w[k]) - dequantAt(codes, scales, k, K, spec);
}

double rowError(const float *w, uint64_t K, const double *H, const QuantSpec &spec,
                const uint8_t *codes, const float *scales, std::vector<double> &e) {
  e.resize(K);
  rowResidual(w, K, spec, codes, scales, e.data());
  return quadForm(e.data(), K, H);
}

// In place: the lower triangle of A (row-major K x K, symmetric) becomes L
// with A = L L^T. False when A is not (numerically) positive definite.
bool choleskyLower(std::vector<double> &A, uint64_t K) {
  for (uint64_t j = 0; j < K; ++j) {
    double d = A[j * K + j];
    for (uint64_t p = 0; p < j; ++p)
      d -= A[j * K + p] * A[j * K + p];
    if (!(d > 0.0) || !std::isfinite(d))
      return false;
    const double l = std::sqrt(d);
    A[j * K + j] = l;
    for (uint64_t i = j + 1; i < K; ++i) {
      double v = A[i * K + j];
      for (uint64_t p = 0; p < j; ++p)
        v -= A[i * K + p] * A[j * K + p];
      A[i * K + j] = v / l;
    }
  }
  return true;
}

// Rows [0, N) split over the machine's threads when the work is large.
void forRows(uint64_t N, uint64_t work, const std::function<void(uint64_t, uint64_t)> &fn) {
  unsigned nt = std::max(1u, std::thread::hardware_concurrency());
  if (work < (1u << 20) || nt == 1 || N < 2) {
    fn(0, N);
    return;
  }
  nt = unsigned(std::min<uint64_t>(nt, N));
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < nt; ++t)
    pool.emplace_back(fn, N * t / nt, N * (t + 1) / nt);
  for (std::thread &t : pool)
    t.join();
}

// Residual of one group w[0..n) at scale s into e[0..n).
void groupResidual(const float *w, uint64_t n, float s, unsigned bits, double *e) {
  for (uint64_t i = 0; i < n; ++i)
    e[i] = double(w[i]) - decode(encode(w[i], s, bits), s, bits);
}

} // namespace

double outputError(const float *w, uint64_t N, uint64_t K, const double *H,
                   const QuantSpec &spec, const uint8_t *codes,
                   const float *scales) {
  const uint64_t rb = rowBytes(K, spec.bits), ng = groupsPerRow(K, spec.groupSize);
  std::vector<double> e;
  double total = 0.0;
  for (uint64_t r = 0; r < N; ++r)
    total += rowError(w + r * K, K, H, spec, codes + r * rb, scales + r * ng, e);
  return total;
}

double outputEnergy(const float *w, uint64_t N, uint64_t K, const double *H) {
  std::vector<double> x(K);
  double total = 0.0;
  for (uint64_t r = 0; r < N; ++r) {
    for (uint64_t k = 0; k < K; ++k)
      x[k] = double(w[r * K + k]);
    total += quadForm(x.data(), K, H);
  }
  return total;
}

bool gptqFactor(const double *H, uint64_t K, double damp, std::vector<double> &U) {
  double mean = 0.0;
  for (uint64_t k = 0; k < K; ++k)
    mean += H[k * K + k];
  mean = K ? mean / double(K) : 0.0;
  if (!std::isfinite(mean))
    return false;
  const double lambda = damp * (mean > 0.0 ? mean : 1.0);
  std::vector<double> L(H, H + K * K);
  for (uint64_t k = 0; k < K; ++k)
    L[k * K + k] += lambda;
  if (!choleskyLower(L, K))
    return false;
  // M = L^-1 (lower), column by column by forward substitution.
  std::vector<double> M(K * K, 0.0);
  for (uint64_t c = 0; c < K; ++c) {
    M[c * K + c] = 1.0 / L[c * K + c];
    for (uint64_t i = c + 1; i < K; ++i) {
      double v = 0.0;
      for (uint64_t p = c; p < i; ++p)
        v -= L[i * K + p] * M[p * K + c];
      M[i * K + c] = v / L[i * K + i];
    }
  }
  // Hinv = M^T M, then its lower Cholesky factor C: U = C^T.
  std::vector<double> Hinv(K * K);
  for (uint64_t i = 0; i < K; ++i)
    for (uint64_t j = 0; j <= i; ++j) {
      double v = 0.0;
      for (uint64_t p = i; p < K; ++p) // M[p][i] = 0 for p < i (i >= j)
        v += M[p * K + i] * M[p * K + j];
      Hinv[i * K + j] = Hinv[j * K + i] = v;
    }
  if (!choleskyLower(Hinv, K))
    return false;
  U.assign(K * K, 0.0);
  for (uint64_t i = 0; i < K; ++i)
    for (uint64_t j = 0; j <= i; ++j)
      U[j * K + i] = Hinv[i * K + j];
  return true;
}

void gptqRow(const float *w, uint64_t K, const double *U, const QuantSpec &spec,
             const float *scales, uint8_t *codes) {
  const unsigned bits = spec.bits;
  const uint64_t G = groupLen(K, spec.groupSize);
  std::memset(codes, 0, rowBytes(K, bits));
  std::vector<double> x(w, w + K);
  for (uint64_t j = 0; j < K; ++j) {
    const float s = scales[j / G];
    const uint8_t c = encodeDouble(x[j], s, bits);
    putCode(codes, j, c, bits);
    const double err = (x[j] - decode(c, s, bits)) / U[j * K + j];
    const double *u = U + j * K;
    for (uint64_t k = j + 1; k < K; ++k)
      x[k] -= err * u[k];
  }
}

std::vector<uint64_t> actOrder(const double *H, uint64_t K) {
  std::vector<uint64_t> perm(K);
  for (uint64_t k = 0; k < K; ++k)
    perm[k] = k;
  std::stable_sort(perm.begin(), perm.end(), [&](uint64_t a, uint64_t b) {
    return H[a * K + a] > H[b * K + b];
  });
  return perm;
}

bool gptqFactorPermuted(const double *H, uint64_t K, const std::vector<uint64_t> &perm,
                        double damp, std::vector<double> &U) {
  if (perm.size() != K)
    return false;
  std::vector<double> Hp(K * K);
  for (uint64_t i = 0; i < K; ++i)
    for (uint64_t j = 0; j < K; ++j)
      Hp[i * K + j] = H[perm[i] * K + perm[j]];
  return gptqFactor(Hp.data(), K, damp, U);
}

void gptqRowOrdered(const float *w, uint64_t K, const double *U,
                    const std::vector<uint64_t> &perm, const QuantSpec &spec,
                    const float *scales, uint8_t *codes) {
  const unsigned bits = spec.bits;
  const uint64_t G = groupLen(K, spec.groupSize);
  std::memset(codes, 0, rowBytes(K, bits));
  // x in the permuted order: x[j] is column perm[j].
  std::vector<double> x(K);
  for (uint64_t j = 0; j < K; ++j)
    x[j] = double(w[perm[j]]);
  for (uint64_t j = 0; j < K; ++j) {
    const uint64_t col = perm[j];
    const float s = scales[col / G];
    const uint8_t c = encodeDouble(x[j], s, bits);
    putCode(codes, col, c, bits);
    const double err = (x[j] - decode(c, s, bits)) / U[j * K + j];
    const double *u = U + j * K;
    for (uint64_t k = j + 1; k < K; ++k)
      x[k] -= err * u[k];
  }
}

void awqRow(const float *w, uint64_t K, const double *H, const QuantSpec &spec,
            uint8_t *codes, float *scales) {
  const unsigned bits = spec.bits;
  const bool f16 = spec.f16Scales;
  const uint64_t G = groupLen(K, spec.groupSize);
  const uint64_t ng = groupsPerRow(K, spec.groupSize);
  constexpr int kF = 51; // f = 0.50, 0.51, ..., 1.00
  // Every candidate's scale and residual, once: cs[g*kF + i], R[i*K + k].
  std::vector<float> cs(ng * kF);
  std::vector<double> R(uint64_t(kF) * K);
  // Two starts: the weight-only searched f (A, exactly searchF's choice) and
  // the f minimising sum_k H_kk e_k^2 per group (B); ties to the larger f.
  std::vector<int> fA(ng), fB(ng);
  for (uint64_t g = 0; g < ng; ++g) {
    const uint64_t k0 = g * G, n = std::min(G, K - k0);
    const double m = groupMaxAbs(w + k0, n);
    double bestW = 0.0, bestD = 0.0;
    for (int i = 0; i < kF; ++i) {
      const float s = scaleFromMax(m, (50 + i) / 100.0, bits, f16);
      cs[g * kF + i] = s;
      double *r = R.data() + uint64_t(i) * K + k0;
      groupResidual(w + k0, n, s, bits, r);
      double ew = 0.0, ed = 0.0;
      for (uint64_t k = 0; k < n; ++k) {
        ew += r[k] * r[k];
        ed += H[(k0 + k) * K + k0 + k] * r[k] * r[k];
      }
      if (i == 0 || ew <= bestW) {
        bestW = ew;
        fA[g] = i;
      }
      if (i == 0 || ed <= bestD) {
        bestD = ed;
        fB[g] = i;
      }
    }
  }
  auto residualOf = [&](const std::vector<int> &f, std::vector<double> &e) {
    e.resize(K);
    for (uint64_t g = 0; g < ng; ++g) {
      const uint64_t k0 = g * G, n = std::min(G, K - k0);
      std::memcpy(e.data() + k0, R.data() + uint64_t(f[g]) * K + k0, n * sizeof(double));
    }
  };
  std::vector<double> eA, eB;
  residualOf(fA, eA);
  residualOf(fB, eB);
  const double errA = quadForm(eA.data(), K, H);
  const double errB = quadForm(eB.data(), K, H);
  std::vector<int> fc = errB < errA ? fB : fA;
  std::vector<double> e = errB < errA ? eB : eA;
  double cur = std::min(errA, errB);
  // u = H e, kept up to date as groups change.
  std::vector<double> u(K);
  for (uint64_t i = 0; i < K; ++i)
    u[i] = dot(H + i * K, e.data(), K);
  // Coordinate descent over groups. Moving group g's residual from e_g to
  // candidate r changes e^T H e by 2 (r - e_g).u_g + (r - e_g)^T H_gg (r - e_g)
  // = 2 (r.u_g - e_g.u_g) + Q_r - 2 r.v + e_g.v, with v = H_gg e_g and
  // Q_r = r^T H_gg r computed once per candidate. One group per row: one
  // pass is the exact optimum over the grid.
  std::vector<double> Q(ng * kF, 0.0), v(G);
  for (uint64_t g = 0; g < ng; ++g) {
    const uint64_t k0 = g * G, n = std::min(G, K - k0);
    for (int i = 0; i < kF; ++i) {
      const double *r = R.data() + uint64_t(i) * K + k0;
      double q = 0.0;
      for (uint64_t a = 0; a < n; ++a)
        q += r[a] * dot(H + (k0 + a) * K + k0, r, n);
      Q[g * kF + i] = q;
    }
  }
  const int sweeps = ng == 1 ? 1 : 4;
  for (int sweep = 0; sweep < sweeps; ++sweep) {
    bool changed = false;
    for (uint64_t g = 0; g < ng; ++g) {
      const uint64_t k0 = g * G, n = std::min(G, K - k0);
      const double *eg = e.data() + k0, *ug = u.data() + k0;
      double eu = 0.0, ev = 0.0;
      for (uint64_t a = 0; a < n; ++a) {
        const double hv = dot(H + (k0 + a) * K + k0, eg, n);
        v[a] = hv;
        eu += eg[a] * ug[a];
        ev += eg[a] * hv;
      }
      double bestDelta = 0.0;
      int bestF = fc[g];
      for (int i = 0; i < kF; ++i) {
        if (cs[g * kF + i] == cs[g * kF + fc[g]])
          continue;
        const double *r = R.data() + uint64_t(i) * K + k0;
        const double ru = dot(r, ug, n), rv = dot(r, v.data(), n);
        const double delta = 2.0 * (ru - eu) + Q[g * kF + i] - 2.0 * rv + ev;
        if (delta < bestDelta) {
          bestDelta = delta;
          bestF = i;
        }
      }
      // Accept clear improvements only (rounding noise must not loop).
      if (bestDelta < -1e-12 * std::max(cur, 1e-300)) {
        const double *r = R.data() + uint64_t(bestF) * K + k0;
        for (uint64_t a = 0; a < n; ++a) {
          const double dl = r[a] - e[k0 + a];
          if (dl == 0.0)
            continue;
          e[k0 + a] = r[a];
          const double *h = H + (k0 + a) * K; // H symmetric: column = row
          for (uint64_t x = 0; x < K; ++x)
            u[x] += h[x] * dl;
        }
        fc[g] = bestF;
        cur += bestDelta;
        changed = true;
      }
    }
    if (!changed)
      break;
  }
  // Recompute exactly; never worse on H than the weight-only search.
  residualOf(fc, e);
  if (quadForm(e.data(), K, H) > errA)
    fc = fA;
  std::memset(codes, 0, rowBytes(K, bits));
  for (uint64_t g = 0; g < ng; ++g) {
    const uint64_t k0 = g * G, n = std::min(G, K - k0);
    const float s = cs[g * kF + fc[g]];
    scales[g] = s;
    for (uint64_t k = k0; k < k0 + n; ++k)
      putCode(codes, k, encode(w[k], s, bits), bits);
  }
}

std::vector<double> awqScaleFor(const double *stat, uint64_t K, double alpha) {
  double cmax = 0.0;
  for (uint64_t k = 0; k < K; ++k)
    cmax = std::max(cmax, std::isfinite(stat[k]) ? stat[k] : 0.0);
  std::vector<double> s(K, 1.0);
  if (!(cmax > 0.0) || alpha == 0.0)
    return s;
  double lo = 0.0, hi = 0.0;
  for (uint64_t k = 0; k < K; ++k) {
    const double c = std::isfinite(stat[k]) ? std::max(stat[k], 1e-5 * cmax) : cmax;
    s[k] = std::pow(c, alpha);
    lo = k ? std::min(lo, s[k]) : s[k];
    hi = k ? std::max(hi, s[k]) : s[k];
  }
  const double norm = std::sqrt(lo * hi);
  for (double &v : s)
    v /= norm;
  return s;
}

namespace {

// Loss of one scaling candidate s (see awqScaleSearch).
double awqScaleLoss(const std::vector<const float *> &ws, const std::vector<uint64_t> &rows,
                    uint64_t K, const double *H, const std::vector<double> &s,
                    const QuantSpec &spec) {
  QuantSpec q = spec;
  q.f = FMode::Search;
  const uint64_t rb = rowBytes(K, q.bits), ng = groupsPerRow(K, q.groupSize);
  std::vector<float> ws2(K), sc(ng);
  std::vector<uint8_t> codes(rb);
  std::vector<double> e(K);
  double total = 0.0;
  for (size_t m = 0; m < ws.size(); ++m)
    for (uint64_t r = 0; r < rows[m]; ++r) {
      const float *w = ws[m] + r * K;
      for (uint64_t k = 0; k < K; ++k)
        ws2[k] = float(double(w[k]) * s[k]);
      quantizeRow(ws2.data(), K, q, nullptr, codes.data(), sc.data());
      for (uint64_t k = 0; k < K; ++k)
        e[k] = (double(ws2[k]) - dequantAt(codes.data(), sc.data(), k, K, q)) / s[k];
      total += quadForm(e.data(), K, H);
    }
  return total;
}

} // namespace

AwqScaleChoice awqScaleSearch(const std::vector<const float *> &ws,
                              const std::vector<uint64_t> &rows, uint64_t K,
                              const double *H, const double *stat,
                              const QuantSpec &spec, double step) {
  const int n = int(std::lround(1.0 / step)) + 1;
  std::vector<double> loss(size_t(n), 0.0);
  uint64_t work = 0;
  for (uint64_t r : rows)
    work += r * K * K;
  unsigned nt = std::max(1u, std::thread::hardware_concurrency());
  nt = work < (1u << 18) ? 1u : std::min<unsigned>(nt, unsigned(n));
  auto run = [&](unsigned t) {
    for (int i = int(t); i < n; i += int(nt))
      loss[size_t(i)] = awqScaleLoss(ws, rows, K, H, awqScaleFor(stat, K, i * step), spec);
  };
  if (nt == 1) {
    run(0);
  } else {
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < nt; ++t)
      pool.emplace_back(run, t);
    for (std::thread &t : pool)
      t.join();
  }
  AwqScaleChoice c;
  int best = 0;
  for (int i = 1; i < n; ++i)
    if (loss[size_t(i)] < loss[size_t(best)])
      best = i;
  c.alpha = best * step;
  c.err = loss[size_t(best)];
  c.err0 = loss[0];
  c.s = awqScaleFor(stat, K, c.alpha);
  return c;
}

bool quantizeMatrixCalibrated(const float *w, uint64_t N, uint64_t K,
                              const QuantSpec &spec, Rounding rounding,
                              const double *H, std::vector<uint8_t> &codes,
                              std::vector<float> &scales, std::string &err,
                              double damp) {
  if (rounding == Rounding::Nearest)
    return quantizeMatrix(w, N, K, spec, nullptr, 0, codes, scales);
  const bool gptq = rounding == Rounding::Gptq || rounding == Rounding::GptqAct;
  std::vector<double> U, Ua;
  std::vector<uint64_t> perm;
  if (gptq && !gptqFactor(H, K, damp, U)) {
    err = "H + damping is not positive definite";
    return false;
  }
  if (rounding == Rounding::GptqAct) {
    perm = actOrder(H, K);
    if (!gptqFactorPermuted(H, K, perm, damp, Ua)) {
      err = "H + damping is not positive definite";
      return false;
    }
  }
  const uint64_t rb = rowBytes(K, spec.bits), ng = groupsPerRow(K, spec.groupSize);
  codes.assign(N * rb, 0);
  scales.assign(N * ng, 0.0f);
  forRows(N, N * K * 64, [&](uint64_t r0, uint64_t r1) {
    std::vector<uint8_t> alt(rb);
    std::vector<double> e;
    for (uint64_t r = r0; r < r1; ++r) {
      const float *wr = w + r * K;
      uint8_t *cr = codes.data() + r * rb;
      float *sr = scales.data() + r * ng;
      awqRow(wr, K, H, spec, cr, sr);
      if (!gptq)
        continue;
      // Candidates in a fixed order, each kept only if strictly better on H:
      // plain GPTQ, then (gptq-act) act-order GPTQ.
      double best = rowError(wr, K, H, spec, cr, sr, e);
      gptqRow(wr, K, U.data(), spec, sr, alt.data());
      double ea = rowError(wr, K, H, spec, alt.data(), sr, e);
      if (ea < best) {
        best = ea;
        std::memcpy(cr, alt.data(), rb);
      }
      if (rounding != Rounding::GptqAct)
        continue;
      gptqRowOrdered(wr, K, Ua.data(), perm, spec, sr, alt.data());
      ea = rowError(wr, K, H, spec, alt.data(), sr, e);
      if (ea < best)
        std::memcpy(cr, alt.data(), rb);
    }
  });
  return true;
}

} // namespace quant
} // namespace mote
