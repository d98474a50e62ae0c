// Fused sLSTM recurrence for CPUs: forward and backward through time, one pass per step.
//
// Built just in time by social_xlstm/ops/slstm/cpp_build.py; called only through cpp.py.
//
// Layout: the op's own, no copies in or out. wx (B, T, 4, NH, DH) and d_wx likewise; h_seq, and the
// saved c, n (B, T, NH, DH); r (4, NH, DH, DH). Each row b (one VD of one window) is independent of the
// others through all T steps, so the rows are split into a fixed number of chunks run in parallel, and
// each row walks its whole sequence with its state in a small per-chunk scratch (L1-resident) -- no
// barrier per step, no (T, B) temporaries. The chunk count does not depend on the thread count and the
// per-chunk weight-gradient partial sums are added in chunk order, so results are bitwise reproducible
// for any number of threads.
//
// Per step and row: the block-diagonal recurrent matmul (per gate and head, DH x DH), then the gates,
// the stabiliser m, c, n and h, vectorised over the D = NH * DH units with ATen's Vectorized (AVX2 /
// AVX512 SLEEF exp, tanh, log1p when built for them). Forward keeps for backward the activated gates
// (i', f', tanh z, sigmoid o), which branch of the max won, d logf / d pre_f, and c, n: backward then
// has no transcendental left to evaluate.

#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <vector>

namespace {

using at::vec::Vectorized;

constexpr int64_t kMaxChunks = 64;

int64_t chunk_count(int64_t batch) { return std::min<int64_t>(batch, kMaxChunks); }

// rows [begin, end) of chunk `chunk`
inline void chunk_rows(int64_t chunk, int64_t chunks, int64_t batch, int64_t& begin, int64_t& end) {
  begin = chunk * batch / chunks;
  end = (chunk + 1) * batch / chunks;
}

// acc[g, k*DH + j] (+)= sum_i h[k*DH + i] * r[g, k, i, j] for every gate g and head k.
template <typename T>
inline void recurrent_matmul(const T* h, const T* r, T* acc, int64_t heads, int64_t width) {
  const int64_t d = heads * width;
  for (int64_t g = 0; g < 4; ++g) {
    for (int64_t k = 0; k < heads; ++k) {
      T* out = acc + g * d + k * width;
      const T* hk = h + k * width;
      const T* rk = r + (g * heads + k) * width * width;
      for (int64_t i = 0; i < width; ++i) {
        const T s = hk[i];
        const T* row = rk + i * width;
        for (int64_t j = 0; j < width; ++j) out[j] += s * row[j];
      }
    }
  }
}

template <typename T>
inline Vectorized<T> vload(const T* p, int64_t n) {
  return n == Vectorized<T>::size() ? Vectorized<T>::loadu(p) : Vectorized<T>::loadu(p, n);
}

template <typename T>
inline void vstore(const Vectorized<T>& v, T* p, int64_t n) {
  if (n == Vectorized<T>::size()) {
    v.store(p);
  } else {
    v.store(p, n);
  }
}

template <typename T>
std::vector<torch::Tensor> forward_impl(const torch::Tensor& wx, const torch::Tensor& r, const torch::Tensor& b,
                                        const torch::Tensor& h0, const torch::Tensor& c0, const torch::Tensor& n0,
                                        const torch::Tensor& m0, bool has_state, bool exp_forget, bool store) {
  using Vec = Vectorized<T>;
  const int64_t batch = wx.size(0), steps = wx.size(1), heads = wx.size(3), width = wx.size(4);
  const int64_t d = heads * width;
  auto opts = wx.options();
  auto h_seq = torch::empty({batch, steps, heads, width}, opts);
  auto h_last = torch::empty({batch, heads, width}, opts);
  auto c_last = torch::empty_like(h_last), n_last = torch::empty_like(h_last), m_last = torch::empty_like(h_last);
  // saved for backward (only when store): activated gates, max branch, d logf / d pre_f, c and n
  auto acts = store ? torch::empty({batch, steps, 4, heads, width}, opts) : torch::empty({0}, opts);
  auto sel = store ? torch::empty({batch, steps, heads, width}, opts) : torch::empty({0}, opts);
  auto dlogf = (store && !exp_forget) ? torch::empty({batch, steps, heads, width}, opts) : torch::empty({0}, opts);
  auto c_seq = store ? torch::empty({batch, steps, heads, width}, opts) : torch::empty({0}, opts);
  auto n_seq = store ? torch::empty({batch, steps, heads, width}, opts) : torch::empty({0}, opts);

  const T* wx_p = wx.data_ptr<T>();
  const T* r_p = r.data_ptr<T>();
  const T* b_p = b.data_ptr<T>();
  const T* h0_p = has_state ? h0.data_ptr<T>() : nullptr;
  const T* c0_p = has_state ? c0.data_ptr<T>() : nullptr;
  const T* n0_p = has_state ? n0.data_ptr<T>() : nullptr;
  const T* m0_p = has_state ? m0.data_ptr<T>() : nullptr;
  T* hs_p = h_seq.data_ptr<T>();
  T* acts_p = store ? acts.data_ptr<T>() : nullptr;
  T* sel_p = store ? sel.data_ptr<T>() : nullptr;
  T* dlogf_p = (store && !exp_forget) ? dlogf.data_ptr<T>() : nullptr;
  T* cs_p = store ? c_seq.data_ptr<T>() : nullptr;
  T* ns_p = store ? n_seq.data_ptr<T>() : nullptr;
  T* hl_p = h_last.data_ptr<T>();
  T* cl_p = c_last.data_ptr<T>();
  T* nl_p = n_last.data_ptr<T>();
  T* ml_p = m_last.data_ptr<T>();

  const int64_t chunks = chunk_count(batch);
  at::parallel_for(0, chunks, 1, [&](int64_t chunk_begin, int64_t chunk_end) {
    std::vector<T> scratch(8 * d);
    T* pre = scratch.data();  // (4, D) this step's pre-activations
    T* h = pre + 4 * d;       // (D) h, c, n, m of the previous step
    T* c = h + d;
    T* n = c + d;
    T* m = n + d;
    for (int64_t chunk = chunk_begin; chunk < chunk_end; ++chunk) {
      int64_t row_begin, row_end;
      chunk_rows(chunk, chunks, batch, row_begin, row_end);
      for (int64_t row = row_begin; row < row_end; ++row) {
        if (has_state) {
          std::copy_n(h0_p + row * d, d, h);
          std::copy_n(c0_p + row * d, d, c);
          std::copy_n(n0_p + row * d, d, n);
          std::copy_n(m0_p + row * d, d, m);
        } else {
          std::fill_n(h, 4 * d, T(0));  // m is never read at the first step: m_1 = pre_i
        }
        for (int64_t t = 0; t < steps; ++t) {
          const int64_t rt = row * steps + t;
          const T* x = wx_p + rt * 4 * d;
          for (int64_t u = 0; u < 4 * d; ++u) pre[u] = x[u] + b_p[u];
          recurrent_matmul(h, r_p, pre, heads, width);
          const bool first = t == 0 && !has_state;
          T* act = store ? acts_p + rt * 4 * d : nullptr;
          for (int64_t u = 0; u < d; u += Vec::size()) {
            const int64_t cnt = std::min<int64_t>(Vec::size(), d - u);
            const Vec p_i = vload(pre + u, cnt), p_f = vload(pre + d + u, cnt);
            const Vec p_z = vload(pre + 2 * d + u, cnt), p_o = vload(pre + 3 * d + u, cnt);
            const Vec one(T(1)), zero(T(0));
            const Vec z = p_z.tanh();
            const Vec o = one / (one + p_o.neg().exp());
            Vec m_new, i_g, f_g, c_new, n_new, s, dl;
            if (first) {
              // c_0 = n_0 = 0 and m_1 = pre_i: i' = 1, f' = 0 exactly, no exp(-inf)
              m_new = p_i, i_g = one, f_g = zero, s = zero, c_new = z, n_new = one, dl = zero;
            } else {
              Vec logf = p_f;
              if (!exp_forget) {
                // logsigmoid(x) = min(x, 0) - log1p(exp(-|x|)); its derivative sigmoid(-x) from the same exp
                const Vec e = p_f.abs().neg().exp();
                logf = at::vec::minimum(p_f, zero) - e.log1p();
                dl = Vec::blendv(one / (one + e), e / (one + e), p_f >= zero);
              }
              const Vec a = logf + vload(m + u, cnt);  // logf + m_{t-1}
              m_new = at::vec::maximum(a, p_i);
              s = a.gt(p_i);  // 1 where the forget branch won the max
              i_g = (p_i - m_new).exp();
              f_g = (a - m_new).exp();
              c_new = f_g * vload(c + u, cnt) + i_g * z;
              n_new = f_g * vload(n + u, cnt) + i_g;
            }
            const Vec h_new = c_new / n_new * o;
            vstore(h_new, h + u, cnt);
            vstore(c_new, c + u, cnt);
            vstore(n_new, n + u, cnt);
            vstore(m_new, m + u, cnt);
            vstore(h_new, hs_p + rt * d + u, cnt);
            if (store) {
              vstore(i_g, act + u, cnt);
              vstore(f_g, act + d + u, cnt);
              vstore(z, act + 2 * d + u, cnt);
              vstore(o, act + 3 * d + u, cnt);
              vstore(s, sel_p + rt * d + u, cnt);
              if (!exp_forget) vstore(dl, dlogf_p + rt * d + u, cnt);
              vstore(c_new, cs_p + rt * d + u, cnt);
              vstore(n_new, ns_p + rt * d + u, cnt);
            }
          }
        }
        std::copy_n(h, d, hl_p + row * d);
        std::copy_n(c, d, cl_p + row * d);
        std::copy_n(n, d, nl_p + row * d);
        std::copy_n(m, d, ml_p + row * d);
      }
    }
  });
  return {h_seq, h_last, c_last, n_last, m_last, acts, sel, dlogf, c_seq, n_seq};
}

template <typename T>
std::vector<torch::Tensor> backward_impl(const torch::Tensor& d_hseq, const torch::Tensor& d_h,
                                         const torch::Tensor& d_c, const torch::Tensor& d_n,
                                         const torch::Tensor& d_m, const torch::Tensor& r,
                                         const torch::Tensor& h_seq, const torch::Tensor& acts,
                                         const torch::Tensor& sel, const torch::Tensor& dlogf,
                                         const torch::Tensor& c_seq, const torch::Tensor& n_seq,
                                         const torch::Tensor& h0, const torch::Tensor& c0, const torch::Tensor& n0,
                                         bool has_state, bool exp_forget) {
  using Vec = Vectorized<T>;
  const int64_t batch = h_seq.size(0), steps = h_seq.size(1), heads = h_seq.size(2), width = h_seq.size(3);
  const int64_t d = heads * width, rsize = 4 * heads * width * width;
  auto opts = h_seq.options();
  auto d_wx = torch::empty({batch, steps, 4, heads, width}, opts);
  auto dh0 = torch::empty({batch, heads, width}, opts);
  auto dc0 = torch::empty_like(dh0), dn0 = torch::empty_like(dh0), dm0 = torch::empty_like(dh0);
  const int64_t chunks = chunk_count(batch);
  // per-chunk partial sums of d_r and d_b, added in chunk order below (reproducible for any thread count)
  auto partial = torch::zeros({chunks, rsize + 4 * d}, opts);
  // r transposed per gate and head, (4, NH, DH_out, DH_in): the d h_{t-1} product becomes an axpy over DH_in
  auto r_t = r.transpose(2, 3).contiguous();

  const T* dhs_p = d_hseq.data_ptr<T>();
  const T* dh_p = d_h.data_ptr<T>();
  const T* dc_p = d_c.data_ptr<T>();
  const T* dn_p = d_n.data_ptr<T>();
  const T* dm_p = d_m.data_ptr<T>();
  const T* rt_p = r_t.data_ptr<T>();
  const T* hs_p = h_seq.data_ptr<T>();
  const T* acts_p = acts.data_ptr<T>();
  const T* sel_p = sel.data_ptr<T>();
  const T* dlogf_p = exp_forget ? nullptr : dlogf.data_ptr<T>();
  const T* cs_p = c_seq.data_ptr<T>();
  const T* ns_p = n_seq.data_ptr<T>();
  const T* h0_p = has_state ? h0.data_ptr<T>() : nullptr;
  const T* c0_p = has_state ? c0.data_ptr<T>() : nullptr;
  const T* n0_p = has_state ? n0.data_ptr<T>() : nullptr;
  T* dwx_p = d_wx.data_ptr<T>();
  T* dh0_p = dh0.data_ptr<T>();
  T* dc0_p = dc0.data_ptr<T>();
  T* dn0_p = dn0.data_ptr<T>();
  T* dm0_p = dm0.data_ptr<T>();
  T* part_p = partial.data_ptr<T>();

  at::parallel_for(0, chunks, 1, [&](int64_t chunk_begin, int64_t chunk_end) {
    std::vector<T> scratch(5 * d);
    T* dh = scratch.data();  // (D) dL/dh_t, then dL/dh_{t-1}
    T* dc = dh + d;          // (D) dL/dc_t, dL/dn_t, dL/dm_t carried backwards
    T* dn = dc + d;
    T* dm = dn + d;
    T* zeros = dm + d;  // c_0 = n_0 = h_0 = 0 without a state
    for (int64_t chunk = chunk_begin; chunk < chunk_end; ++chunk) {
      T* d_r = part_p + chunk * (rsize + 4 * d);
      T* d_b = d_r + rsize;
      int64_t row_begin, row_end;
      chunk_rows(chunk, chunks, batch, row_begin, row_end);
      for (int64_t row = row_begin; row < row_end; ++row) {
        std::copy_n(dh_p + row * d, d, dh);
        std::copy_n(dc_p + row * d, d, dc);
        std::copy_n(dn_p + row * d, d, dn);
        std::copy_n(dm_p + row * d, d, dm);
        std::fill_n(zeros, d, T(0));
        for (int64_t t = steps - 1; t >= 0; --t) {
          const int64_t rt = row * steps + t;
          const T* dhs = dhs_p + rt * d;
          const T* act = acts_p + rt * 4 * d;
          const T* c_prev = t > 0 ? cs_p + (rt - 1) * d : (has_state ? c0_p + row * d : zeros);
          const T* n_prev = t > 0 ? ns_p + (rt - 1) * d : (has_state ? n0_p + row * d : zeros);
          const T* h_prev = t > 0 ? hs_p + (rt - 1) * d : (has_state ? h0_p + row * d : zeros);
          T* dp = dwx_p + rt * 4 * d;  // d pre_t = d wx_t, written in place
          for (int64_t u = 0; u < d; u += Vec::size()) {
            const int64_t cnt = std::min<int64_t>(Vec::size(), d - u);
            const Vec one(T(1));
            const Vec g_i = vload(act + u, cnt), g_f = vload(act + d + u, cnt);
            const Vec g_z = vload(act + 2 * d + u, cnt), g_o = vload(act + 3 * d + u, cnt);
            const Vec c = vload(cs_p + rt * d + u, cnt), n = vload(ns_p + rt * d + u, cnt);
            const Vec dh_t = vload(dh + u, cnt) + vload(dhs + u, cnt);
            const Vec inv_n = one / n;
            const Vec h_over_o = c * inv_n;
            const Vec dp_o = dh_t * h_over_o * g_o * (one - g_o);
            const Vec q = dh_t * g_o * inv_n;  // the part of dh that reaches c and n
            Vec dc_t = vload(dc + u, cnt) + q;
            Vec dn_t = vload(dn + u, cnt) - q * h_over_o;
            const Vec dp_z = dc_t * g_i * (one - g_z * g_z);
            const Vec d_gi = (dc_t * g_z + dn_t) * g_i;                                           // d(pre_i - m_t)
            const Vec d_gf = (dc_t * vload(c_prev + u, cnt) + dn_t * vload(n_prev + u, cnt)) * g_f;  // d(a - m_t)
            // m_t = max(a, pre_i) receives -d_gi - d_gf plus what came from step t+1
            const Vec dm_t = vload(dm + u, cnt) - d_gi - d_gf;
            const Vec to_f = dm_t * vload(sel_p + rt * d + u, cnt);
            const Vec dp_i = d_gi + dm_t - to_f;
            const Vec d_a = d_gf + to_f;  // d(logf + m_{t-1})
            const Vec dp_f = exp_forget ? d_a : d_a * vload(dlogf_p + rt * d + u, cnt);
            vstore(dp_i, dp + u, cnt);
            vstore(dp_f, dp + d + u, cnt);
            vstore(dp_z, dp + 2 * d + u, cnt);
            vstore(dp_o, dp + 3 * d + u, cnt);
            vstore(dc_t * g_f, dc + u, cnt);
            vstore(dn_t * g_f, dn + u, cnt);
            vstore(d_a, dm + u, cnt);
          }
          // d h_{t-1} = sum_g d pre_g R_g^T; d R_g += h_{t-1}^T d pre_g; d b += d pre
          std::fill_n(dh, d, T(0));
          for (int64_t g = 0; g < 4; ++g) {
            for (int64_t k = 0; k < heads; ++k) {
              const T* dpk = dp + g * d + k * width;
              const T* hk = h_prev + k * width;
              const T* rtk = rt_p + (g * heads + k) * width * width;
              T* drk = d_r + (g * heads + k) * width * width;
              T* dhk = dh + k * width;
              for (int64_t j = 0; j < width; ++j) {
                const T s = dpk[j];
                const T* row_t = rtk + j * width;
                for (int64_t i = 0; i < width; ++i) dhk[i] += s * row_t[i];
              }
              for (int64_t i = 0; i < width; ++i) {
                const T s = hk[i];
                T* out = drk + i * width;
                for (int64_t j = 0; j < width; ++j) out[j] += s * dpk[j];
              }
            }
          }
          for (int64_t u = 0; u < 4 * d; ++u) d_b[u] += dp[u];
        }
        std::copy_n(dh, d, dh0_p + row * d);
        std::copy_n(dc, d, dc0_p + row * d);
        std::copy_n(dn, d, dn0_p + row * d);
        std::copy_n(dm, d, dm0_p + row * d);
      }
    }
  });
  // partial sums added in chunk order, whatever thread ran which chunk
  auto sums = torch::zeros({rsize + 4 * d}, opts);
  T* sums_p = sums.data_ptr<T>();
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    const T* src = part_p + chunk * (rsize + 4 * d);
    for (int64_t u = 0; u < rsize + 4 * d; ++u) sums_p[u] += src[u];
  }
  auto d_r = sums.narrow(0, 0, rsize).view({4, heads, width, width});
  auto d_b = sums.narrow(0, rsize, 4 * d).view({4, heads, width});
  return {d_wx, d_r, d_b, dh0, dc0, dn0, dm0};
}

void check_cpu_contiguous(const torch::Tensor& x, const char* name) {
  TORCH_CHECK(x.device().is_cpu(), name, " must be a CPU tensor");
  TORCH_CHECK(x.is_contiguous(), name, " must be contiguous");
}

std::vector<torch::Tensor> slstm_forward(torch::Tensor wx, torch::Tensor r, torch::Tensor b, torch::Tensor h0,
                                         torch::Tensor c0, torch::Tensor n0, torch::Tensor m0, bool has_state,
                                         bool exp_forget, bool store) {
  check_cpu_contiguous(wx, "wx");
  check_cpu_contiguous(r, "r");
  check_cpu_contiguous(b, "b");
  std::vector<torch::Tensor> out;
  AT_DISPATCH_FLOATING_TYPES(wx.scalar_type(), "slstm_forward", [&] {
    out = forward_impl<scalar_t>(wx, r, b, h0, c0, n0, m0, has_state, exp_forget, store);
  });
  return out;
}

std::vector<torch::Tensor> slstm_backward(torch::Tensor d_hseq, torch::Tensor d_h, torch::Tensor d_c,
                                          torch::Tensor d_n, torch::Tensor d_m, torch::Tensor r, torch::Tensor h_seq,
                                          torch::Tensor acts, torch::Tensor sel, torch::Tensor dlogf,
                                          torch::Tensor c_seq, torch::Tensor n_seq, torch::Tensor h0,
                                          torch::Tensor c0, torch::Tensor n0, bool has_state, bool exp_forget) {
  check_cpu_contiguous(d_hseq, "d_hseq");
  check_cpu_contiguous(h_seq, "h_seq");
  std::vector<torch::Tensor> out;
  AT_DISPATCH_FLOATING_TYPES(h_seq.scalar_type(), "slstm_backward", [&] {
    out = backward_impl<scalar_t>(d_hseq, d_h, d_c, d_n, d_m, r, h_seq, acts, sel, dlogf, c_seq, n_seq, h0, c0, n0,
                                  has_state, exp_forget);
  });
  return out;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &slstm_forward, "fused sLSTM forward over a sequence (CPU)");
  m.def("backward", &slstm_backward, "fused sLSTM backward through time (CPU)");
}
