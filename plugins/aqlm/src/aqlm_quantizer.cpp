#include "aqlm_quantizer.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "aqlm_codes.h"

namespace oft::aqlm {
namespace {

// Rows of a distance or score matrix per chunk: bounds each scratch tensor to 16 MB.
constexpr int64_t kScratchElements = int64_t{1} << 22;

struct Problem {
  at::Tensor target;   // W (N, K), float
  at::Tensor hessian;  // H (K, K), float; undefined: the identity
  int64_t og, ig, no, ki, c, q;

  at::Tensor times_h(const at::Tensor& e) const { return hessian.defined() ? e.mm(hessian) : e; }
  // H's (ig x ig) block of input group i.
  at::Tensor block(int64_t i) const {
    if (!hessian.defined()) return at::eye(ig, target.options());
    return hessian.slice(0, i * ig, (i + 1) * ig).slice(1, i * ig, (i + 1) * ig);
  }
};

at::Tensor reconstruct(const at::Tensor& codes, const at::Tensor& codebooks, const at::Tensor& scales) {
  return from_groups(sum_codewords(codes, codebooks).mul_(scales.view({-1, 1, 1, 1})));
}

// The adjoint of codebooks -> reconstruct(codes, codebooks, scales): G (N, K) -> [C, Q, og, ig].
at::Tensor adjoint(const Problem& p, const at::Tensor& codes, const at::Tensor& scales, const at::Tensor& g) {
  const at::Tensor per_group =
      to_groups(g, p.og, p.ig).mul(scales.view({-1, 1, 1, 1})).reshape({p.no * p.ki, p.og * p.ig});
  at::Tensor out = at::zeros({p.c, p.q, p.og * p.ig}, g.options());
  for (int64_t k = 0; k < p.c; ++k) out[k].index_add_(0, codes.select(2, k).reshape(-1), per_group);
  return out.view({p.c, p.q, p.og, p.ig});
}

// Nearest centroid of each row of x (M, d).
at::Tensor nearest(const at::Tensor& x, const at::Tensor& centroids) {
  const at::Tensor norms = centroids.square().sum(1);
  at::Tensor out = at::empty({x.size(0)}, x.options().dtype(at::kLong));
  const int64_t chunk = std::max<int64_t>(1, kScratchElements / centroids.size(0));
  for (int64_t start = 0; start < x.size(0); start += chunk) {
    const int64_t end = std::min(x.size(0), start + chunk);
    out.slice(0, start, end).copy_((norms - 2 * x.slice(0, start, end).mm(centroids.t())).argmin(1));
  }
  return out;
}

// Lloyd's k-means with q centroids, initialised from distinct rows (with repeats when there are fewer rows).
at::Tensor kmeans(const at::Tensor& x, int64_t q, int64_t iterations, at::Generator& generator) {
  const int64_t m = x.size(0);
  const at::Tensor start = m >= q ? at::randperm(m, generator).slice(0, 0, q) : at::randint(m, {q}, generator);
  at::Tensor centroids = x.index_select(0, start);
  for (int64_t it = 0; it < iterations; ++it) {
    const at::Tensor assignment = nearest(x, centroids);
    const at::Tensor sums = at::zeros_like(centroids).index_add_(0, assignment, x);
    const at::Tensor counts = at::bincount(assignment, {}, q).to(x.scalar_type()).unsqueeze(1);
    centroids = at::where(counts > 0, sums / counts.clamp_min(1), centroids);  // empty clusters stay
  }
  return centroids;
}

// Least-squares codebooks for fixed codes and scales: preconditioned conjugate gradient (Jacobi) on the normal
// equations D^T H D cb = D^T H W, from the current codebooks. The equations are singular (with C > 1 a shift
// of one codebook's used words can be undone by another's), so a small Levenberg-Marquardt damping towards the
// current codebooks keeps the steps finite. Unused codewords keep their values.
at::Tensor update_codebooks(const Problem& p, const at::Tensor& codes, const at::Tensor& codebooks,
                            const at::Tensor& scales, int64_t iterations) {
  constexpr double kDamping = 1e-3;
  const at::Tensor h_diag =
      p.hessian.defined() ? p.hessian.diagonal().reshape({p.ki, p.ig}) : at::ones({p.ki, p.ig}, p.target.options());
  const at::Tensor member = (scales.square().view({-1, 1, 1, 1}) * h_diag.view({1, p.ki, 1, p.ig}))
                                .expand({p.no, p.ki, p.og, p.ig})
                                .reshape({p.no * p.ki, p.og * p.ig});
  at::Tensor diag = at::zeros({p.c, p.q, p.og * p.ig}, p.target.options());
  for (int64_t k = 0; k < p.c; ++k) diag[k].index_add_(0, codes.select(2, k).reshape(-1), member);
  diag = diag.view(codebooks.sizes());
  const at::Tensor inverse = at::where(diag > 0, (diag * (1 + kDamping)).reciprocal(), at::zeros_like(diag));
  auto normal = [&](const at::Tensor& cb) {
    return adjoint(p, codes, scales, p.times_h(reconstruct(codes, cb, scales))).add_(diag * cb, kDamping);
  };
  const at::Tensor rhs = adjoint(p, codes, scales, p.times_h(p.target)).add_(diag * codebooks, kDamping);

  at::Tensor x = codebooks.clone();
  at::Tensor r = rhs - normal(x);
  at::Tensor z = r * inverse;
  at::Tensor d = z.clone();
  double rz = (r * z).sum().item<double>();
  const double scale = (rhs * inverse * rhs).sum().item<double>();  // stop on the equations' own scale
  for (int64_t it = 0; it < iterations && rz > 1e-14 * scale; ++it) {
    const at::Tensor ad = normal(d);
    const double dad = (d * ad).sum().item<double>();
    if (!(dad > 0)) break;
    const double alpha = rz / dad;
    x.add_(d, alpha);
    r.sub_(ad, alpha);
    z = r * inverse;
    const double rz_next = (r * z).sum().item<double>();
    d = z + d * (rz_next / rz);
    rz = rz_next;
  }
  return x;
}

// Least-squares scale of each output group for fixed codes and codebooks.
at::Tensor update_scales(const Problem& p, const at::Tensor& codes, const at::Tensor& codebooks,
                         const at::Tensor& scales) {
  const at::Tensor u = from_groups(sum_codewords(codes, codebooks));
  const at::Tensor uh = p.times_h(u);
  const at::Tensor num = (uh * p.target).sum(1).view({p.no, p.og}).sum(1);
  const at::Tensor den = (uh * u).sum(1).view({p.no, p.og}).sum(1);
  return at::where(den > 0, num / den.clamp_min(1e-30), scales);
}

// Beam search for one input group's codes in a chunk of output groups. outside [rows, og*ig]: the error's
// linear term from the other input groups (R_other H_other,i); target [rows, og*ig]; hyps [rows, C] the
// current codes; hii the (ig x ig) block; quads [C, Q] each codeword's w hii w^T. Returns the best code tuple
// per row (never worse than the current).
at::Tensor search_slice(const at::Tensor& outside, const at::Tensor& target, const at::Tensor& current,
                        const at::Tensor& scales, const at::Tensor& flat_codebooks, const at::Tensor& hii,
                        const at::Tensor& quads, int64_t beam) {
  const int64_t rows = current.size(0), c = current.size(1), q = flat_codebooks.size(1);
  const int64_t ig = hii.size(0), d = flat_codebooks.size(2), og = d / ig;
  const at::Tensor s = scales.view({rows, 1, 1});
  at::Tensor hyps = current.unsqueeze(1);  // [rows, B, C]
  for (int64_t k = 0; k < c; ++k) {
    const int64_t b = hyps.size(1);
    at::Tensor v = at::zeros({rows, b, d}, target.options());
    for (int64_t other = 0; other < c; ++other)
      if (other != k)
        v.add_(flat_codebooks[other].index_select(0, hyps.select(2, other).reshape(-1)).view({rows, b, d}));
    const at::Tensor u = v.mul_(s).sub_(target.unsqueeze(1));  // the slice's error without codebook k
    const at::Tensor uh = u.view({rows, b, og, ig}).matmul(hii).view({rows, b, d});
    const at::Tensor linear = uh + outside.unsqueeze(1);
    const at::Tensor constant = (u * outside.unsqueeze(1)).sum(-1).mul_(2).add_((u * uh).sum(-1));
    const at::Tensor words = flat_codebooks[k];  // [Q, d]
    const at::Tensor cross = linear.reshape({rows * b, d}).mm(words.t()).view({rows, b, q});
    const at::Tensor score = constant.unsqueeze(-1) + cross.mul(s).mul_(2) + s.square() * quads[k].view({1, 1, q});
    const int64_t keep = std::min(beam, b * q);
    const at::Tensor best = std::get<1>(score.view({rows, b * q}).topk(keep, 1, /*largest=*/false, /*sorted=*/true));
    const at::Tensor parent = best.div(q, "floor");
    hyps = hyps.gather(1, parent.unsqueeze(-1).expand({rows, keep, c})).clone();
    hyps.select(2, k).copy_(best.remainder(q));
  }
  return hyps.select(1, 0);
}

// One sweep of code updates over the input groups (each group sees the others' updated codes).
at::Tensor search_codes(const Problem& p, const at::Tensor& codes_in, const at::Tensor& codebooks,
                        const at::Tensor& scales, int64_t beam) {
  at::Tensor codes = codes_in.clone();
  at::Tensor residual = reconstruct(codes, codebooks, scales) - p.target;  // (N, K)
  const at::Tensor targets = to_groups(p.target, p.og, p.ig);
  const at::Tensor flat = codebooks.reshape({p.c, p.q, p.og * p.ig});
  const int64_t d = p.og * p.ig;
  const at::Tensor words = codebooks.view({p.c, p.q, p.og, p.ig});
  const int64_t chunk = std::max<int64_t>(1, kScratchElements / (beam * p.q));
  for (int64_t i = 0; i < p.ki; ++i) {
    const at::Tensor hii = p.block(i);
    const at::Tensor quads = (words.matmul(hii) * words).sum({2, 3});  // [C, Q]
    at::Tensor slice = residual.slice(1, i * p.ig, (i + 1) * p.ig);
    const at::Tensor outside =
        p.hessian.defined()
            ? (residual.mm(p.hessian.slice(1, i * p.ig, (i + 1) * p.ig)) - slice.mm(hii)).reshape({p.no, d})
            : at::zeros({p.no, d}, p.target.options());
    const at::Tensor target = targets.select(1, i).reshape({p.no, d});
    at::Tensor current = codes.select(1, i);
    for (int64_t start = 0; start < p.no; start += chunk) {
      const int64_t end = std::min(p.no, start + chunk);
      current.slice(0, start, end)
          .copy_(search_slice(outside.slice(0, start, end), target.slice(0, start, end), current.slice(0, start, end),
                              scales.slice(0, start, end), flat, hii, quads, beam));
    }
    at::Tensor v = at::zeros({p.no, d}, p.target.options());
    for (int64_t k = 0; k < p.c; ++k) v.add_(flat[k].index_select(0, current.select(1, k)));
    slice.copy_(v.mul_(scales.view({-1, 1})).sub_(target).view({p.no * p.og, p.ig}));
  }
  return codes;
}

}  // namespace

AqlmWeights quantize_aqlm(const at::Tensor& weight, const at::Tensor& calibration, const AqlmConfig& config,
                          const QuantizerOptions& options, c10::ScalarType storage) {
  torch::NoGradGuard no_grad;
  if (weight.dim() != 2) throw std::invalid_argument("aqlm: weight must be 2-D (out_features, in_features)");
  const int64_t n = weight.size(0), k = weight.size(1);
  // A copy, so that nothing here can write the caller's weight.
  Problem p{weight.detach().to(at::kFloat, /*non_blocking=*/false, /*copy=*/true).contiguous(),
            at::Tensor(),
            config.out_group_size,
            config.in_group_size,
            0,
            0,
            config.num_codebooks,
            config.codebook_size()};
  if (k % p.ig != 0 || n % p.og != 0)
    throw std::invalid_argument("aqlm: weight (" + std::to_string(n) + ", " + std::to_string(k) +
                                ") does not split into groups of in_group_size " + std::to_string(p.ig) +
                                " and out_group_size " + std::to_string(p.og));
  p.no = n / p.og;
  p.ki = k / p.ig;
  if (calibration.defined()) {
    if (calibration.dim() != 2 || calibration.size(1) != k)
      throw std::invalid_argument("aqlm: calibration must be (rows, " + std::to_string(k) + ")");
    const at::Tensor x = calibration.detach().to(at::kDouble);
    at::Tensor h = x.t().mm(x).div_(static_cast<double>(x.size(0)));
    // A little damping keeps the least-squares steps well posed when X has fewer rows than K.
    h.diagonal().add_(1e-4 * h.diagonal().mean().item<double>() + 1e-12);
    p.hessian = h.to(at::kFloat);
  }

  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(options.seed);
  const at::Tensor groups = to_groups(p.target, p.og, p.ig);
  at::Tensor scales = groups.square().mean({1, 2, 3}).sqrt().clamp_min(1e-12);  // [No]
  at::Tensor residual = groups.div(scales.view({-1, 1, 1, 1})).reshape({p.no * p.ki, p.og * p.ig});
  std::vector<at::Tensor> books, codes;
  for (int64_t c = 0; c < p.c; ++c) {
    books.push_back(kmeans(residual, p.q, options.kmeans_iterations, generator));
    codes.push_back(nearest(residual, books.back()));
    residual.sub_(books.back().index_select(0, codes.back()));
  }
  at::Tensor codebooks = at::stack(books).view({p.c, p.q, p.og, p.ig});
  at::Tensor code_tensor = at::stack(codes, 1).view({p.no, p.ki, p.c});

  for (int64_t epoch = 0; epoch < options.epochs; ++epoch) {
    codebooks = update_codebooks(p, code_tensor, codebooks, scales, options.codebook_iterations);
    scales = update_scales(p, code_tensor, codebooks, scales);
    code_tensor = search_codes(p, code_tensor, codebooks, scales, options.beam_size);
  }
  // The codes are searched once more for the values the checkpoint will hold.
  codebooks = codebooks.to(storage);
  scales = scales.to(storage);
  code_tensor = search_codes(p, code_tensor, codebooks.to(at::kFloat), scales.to(at::kFloat), options.beam_size);
  return {code_tensor, codebooks, scales.view({-1, 1, 1, 1})};
}

double weighted_error(const at::Tensor& weight, const at::Tensor& quantized, const at::Tensor& calibration) {
  const at::Tensor e = quantized.to(at::kDouble) - weight.to(at::kDouble);
  if (!calibration.defined()) return e.square().sum().item<double>();
  const at::Tensor x = calibration.to(at::kDouble);
  return x.mm(e.t()).square().sum().item<double>() / static_cast<double>(x.size(0));
}

}  // namespace oft::aqlm
