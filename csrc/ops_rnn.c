/*
 * ops_rnn.c -- one time step of a recurrent layer after its GEMMs: the
 * fused gate kernels of torch's LSTM and GRU cells (torch's
 * _thnn_fused_lstm_cell / _thnn_fused_gru_cell).  The layer computes the
 * input projection of every step as one GEMM and each step's hidden
 * projection as another (autodiff/_rnn.py); these ops take both and the
 * previous state:
 *
 *   lstm_cell(gi, gh, c) -> (B, 2H) = (h', c')    gates i, f, g, o
 *   gru_cell(gi, gh, h)  -> (B, H)  = h'           gates r, z, n
 *
 * The record saves the activated gates (lstm: i, f, g, o, tanh(c'); gru:
 * r, z, n and gh_n), so the fused backward is elementwise:
 *
 *   lstm: dc' = gc + gh o (1 - tanh(c')^2);  di = dc' g i (1 - i),
 *         df = dc' c f (1 - f), dg = dc' i (1 - g^2),
 *         do = gh tanh(c') o (1 - o);  dgi = dgh = (di, df, dg, do);
 *         dc = dc' f
 *   gru:  dn = g (1 - z) (1 - n^2), dz = g (h - n) z (1 - z),
 *         dr = dn gh_n r (1 - r);  dgi = (dr, dz, dn),
 *         dgh = (dr, dz, dn r);  dh = g z
 */
#include "ad_impl.h"

#include <string.h>

static ad_status
nomem(void)
{
    return ad_error(AD_ERR_NOMEM, "out of memory");
}

/* B and H of a cell call; gates per unit: 4 (lstm) or 3 (gru). */
static void
cell_dims(const ad_record *r, int64_t *B, int64_t *H)
{
    ad_tensor *s = r->in[2];
    *B = s->shape[0];
    *H = s->shape[1];
}

static ad_status
fw_lstm_cell(ad_record *r)
{
    int64_t B, H;
    cell_dims(r, &B, &H);
    ad_tensor *gi = r->in[0];
    ad_buffer *pre = ad_buf_alloc((size_t)(B * 4 * H + 1) *
                                  ad_itemsize(gi->dtype));
    if (!pre) {
        return nomem();
    }
    ad_k(gi->dtype)->lstm_fwd(B, H, ad_data(gi), ad_data(r->in[1]),
                              ad_data(r->in[2]), ad_data(r->out),
                              AD_BUF_DATA(r->saved), AD_BUF_DATA(pre));
    ad_buf_decref(pre);
    return AD_OK;
}

static ad_status
bw_lstm_cell(ad_record *r, ad_buffer **g)
{
    int64_t B, H;
    cell_dims(r, &B, &H);
    ad_tensor *gi = r->in[0], *c = r->in[2];
    int need = gi->requires_grad || r->in[1]->requires_grad;
    ad_buffer *dg = NULL, *dc = NULL;
    ad_status s = AD_OK;
    if (need && !(dg = ad_buf_alloc(ad_nbytes(gi)))) {
        return nomem();
    }
    if (c->requires_grad && !(dc = ad_buf_alloc(ad_nbytes(c)))) {
        if (dg) {
            ad_buf_decref(dg);
        }
        return nomem();
    }
    if (dg) {
        ad_k(gi->dtype)->lstm_bwd(B, H, ad_data(c), AD_BUF_DATA(r->saved),
                                  AD_BUF_DATA(*g), AD_BUF_DATA(dg),
                                  dc ? AD_BUF_DATA(dc) : NULL);
    }
    else {
        /* only c needs its gradient: the same kernel into scratch */
        ad_buffer *tmp = ad_buf_alloc(ad_nbytes(gi));
        if (!tmp) {
            ad_buf_decref(dc);
            return nomem();
        }
        ad_k(gi->dtype)->lstm_bwd(B, H, ad_data(c), AD_BUF_DATA(r->saved),
                                  AD_BUF_DATA(*g), AD_BUF_DATA(tmp),
                                  AD_BUF_DATA(dc));
        ad_buf_decref(tmp);
    }
    if (dg) {
        if ((s = ad_acc_grad(r, 0, &dg, 0)) ||
            (s = ad_acc_grad(r, 1, &dg, 1))) {
            if (dg) {
                ad_buf_decref(dg);
            }
            if (dc) {
                ad_buf_decref(dc);
            }
            return s;
        }
    }
    if (dc) {
        s = ad_acc_grad(r, 2, &dc, 1);
    }
    return s;
}

static ad_status
fw_gru_cell(ad_record *r)
{
    int64_t B, H;
    cell_dims(r, &B, &H);
    ad_tensor *gi = r->in[0];
    ad_buffer *pre = ad_buf_alloc((size_t)(B * 3 * H + 1) *
                                  ad_itemsize(gi->dtype));
    if (!pre) {
        return nomem();
    }
    ad_k(gi->dtype)->gru_fwd(B, H, ad_data(gi), ad_data(r->in[1]),
                             ad_data(r->in[2]), ad_data(r->out),
                             AD_BUF_DATA(r->saved), AD_BUF_DATA(pre));
    ad_buf_decref(pre);
    return AD_OK;
}

static ad_status
bw_gru_cell(ad_record *r, ad_buffer **g)
{
    int64_t B, H;
    cell_dims(r, &B, &H);
    ad_tensor *gi = r->in[0], *h = r->in[2];
    ad_buffer *dgi = ad_buf_alloc(ad_nbytes(gi));
    ad_buffer *dgh = ad_buf_alloc(ad_nbytes(gi));
    ad_buffer *dh = h->requires_grad ? ad_buf_alloc(ad_nbytes(h)) : NULL;
    ad_status s = AD_OK;
    if (!dgi || !dgh || (h->requires_grad && !dh)) {
        s = nomem();
        goto done;
    }
    ad_k(gi->dtype)->gru_bwd(B, H, ad_data(h), AD_BUF_DATA(r->saved),
                             AD_BUF_DATA(*g), AD_BUF_DATA(dgi),
                             AD_BUF_DATA(dgh), dh ? AD_BUF_DATA(dh) : NULL);
    if ((s = ad_acc_grad(r, 0, &dgi, 1)) || (s = ad_acc_grad(r, 1, &dgh, 1))) {
        goto done;
    }
    if (dh) {
        s = ad_acc_grad(r, 2, &dh, 1);
    }
done:
    if (dgi) {
        ad_buf_decref(dgi);
    }
    if (dgh) {
        ad_buf_decref(dgh);
    }
    if (dh) {
        ad_buf_decref(dh);
    }
    return s;
}

/* Checks shared by both cells: gi and gh (B, G H), state (B, H), one
 * floating dtype. */
static ad_status
cell_check(const char *what, int G, ad_tensor *gi, ad_tensor *gh,
           ad_tensor *st, const char *stname)
{
    char s1[AD_SHAPE_BUF], s2[AD_SHAPE_BUF], s3[AD_SHAPE_BUF];
    if (!ad_is_float(gi->dtype) || gh->dtype != gi->dtype ||
        st->dtype != gi->dtype) {
        return ad_error(AD_ERR_TYPE, "%s: expected floating point inputs of "
                        "one dtype, got %s, %s and %s", what,
                        ad_dtype_name(gi->dtype), ad_dtype_name(gh->dtype),
                        ad_dtype_name(st->dtype));
    }
    if (st->ndim != 2 || gi->ndim != 2 || gh->ndim != 2 ||
        gi->shape[0] != st->shape[0] || gi->shape[1] != G * st->shape[1] ||
        gh->shape[0] != gi->shape[0] || gh->shape[1] != gi->shape[1]) {
        return ad_error(AD_ERR_SHAPE, "%s: input gates %s and hidden gates "
                        "%s must both be (B, %d H) for %s of shape %s (B, H)",
                        what, ad_shape_str(gi->ndim, gi->shape, s1,
                                           sizeof(s1)),
                        ad_shape_str(gh->ndim, gh->shape, s2, sizeof(s2)), G,
                        stname, ad_shape_str(st->ndim, st->shape, s3,
                                             sizeof(s3)));
    }
    return AD_OK;
}

static ad_status
cell_call(const ad_opdef *def, int G, int S, int outw, ad_tensor *gi,
          ad_tensor *gh, ad_tensor *st, ad_tensor **out)
{
    ad_tensor *o, *xs[3] = {gi, gh, st};
    ad_record c;
    ad_status s;
    int64_t B = st->shape[0], H = st->shape[1];
    int64_t shape[2] = {B, outw * H};
    (void)G;
    if ((s = ad_new(gi->dtype, 2, shape, &o))) {
        return s;
    }
    ad_call_init(&c, def, 0, 3, xs, o);
    if (!(c.saved = ad_buf_alloc((size_t)(B * S * H + 1) *
                                 ad_itemsize(gi->dtype)))) {
        ad_call_abandon(&c);
        return nomem();
    }
    return ad_call_run(&c, B * H * 40, out);
}

ad_status
ad_lstm_cell(ad_tensor *gi, ad_tensor *gh, ad_tensor *c, ad_tensor **out)
{
    ad_status s = cell_check("lstm_cell", 4, gi, gh, c, "cell state");
    return s ? s : cell_call(&ad_def_lstm_cell, 4, 5, 2, gi, gh, c, out);
}

ad_status
ad_gru_cell(ad_tensor *gi, ad_tensor *gh, ad_tensor *h, ad_tensor **out)
{
    ad_status s = cell_check("gru_cell", 3, gi, gh, h, "hidden state");
    return s ? s : cell_call(&ad_def_gru_cell, 3, 4, 1, gi, gh, h, out);
}

const ad_opdef ad_def_lstm_cell = {
    .name = "lstm_cell",
    .code = AD_OP_LSTM_CELL, .arity = 3, .flags = AD_K_READS_X,
    .forward = fw_lstm_cell, .backward = bw_lstm_cell,
};

const ad_opdef ad_def_gru_cell = {
    .name = "gru_cell",
    .code = AD_OP_GRU_CELL, .arity = 3, .flags = AD_K_READS_X,
    .forward = fw_gru_cell, .backward = bw_gru_cell,
};

/* ---- lstm_seq / gru_seq: one direction over a whole sequence -----------
 *
 * Inputs: xp (T, B, G H), h0 (B, H), [c0 (B, H),] w_hh (G H, H)[, b_hh].
 * Saved, per step t (in time order, each (B, .) block contiguous):
 * the gate activations act_t (lstm 5H, gru 4H), then (lstm) c_prev_t
 * (B, H); after the T blocks, h_prev_t (B, H) of every step, contiguous
 * (T, B, H): the states the steps started from.  W_hh's gradient is one
 * GEMM over that last part as it lies. */

static int
seq_nstate(const ad_record *r)
{
    return r->def == &ad_def_lstm_seq ? 2 : 1;
}

typedef struct {
    int64_t T, B, H, G, A;      /* A: act width per unit (5 or 4) */
    size_t it;                  /* item size */
    int lstm;
    ad_tensor *xp, *h0, *c0, *w, *b;
} seq_dims;

static void
seq_get(ad_record *r, seq_dims *d)
{
    /* the inputs as one array (inline or on the heap, by their count) */
    ad_tensor *const *v = r->nin > AD_REC_INLINE ? r->ins : r->in;
    d->lstm = seq_nstate(r) == 2;
    d->xp = v[0];
    d->h0 = v[1];
    d->c0 = d->lstm ? v[2] : NULL;
    d->w = v[d->lstm ? 3 : 2];
    d->b = r->at.rnn_seq.has_b ? v[d->lstm ? 4 : 3] : NULL;
    d->T = d->xp->shape[0];
    d->B = d->h0->shape[0];
    d->H = d->h0->shape[1];
    d->G = d->lstm ? 4 : 3;
    d->A = d->lstm ? 5 : 4;
    d->it = ad_itemsize(d->xp->dtype);
}

#define AT(p, off) ((char *)(p) + (size_t)(off) * d.it)

/* The recurrent product of every step, s (B x k) W_hh^{T or not}: with
 * W_hh packed once per sweep (gemm.c) for float32 where the cpu allows,
 * else BLAS.  tb: W_hh used transposed (the forward's s W^T). */
typedef struct {
    ad_buffer *packed;          /* NULL: BLAS */
    const ad_kernels *k;
    int tb;
    int64_t kdim, n;
    const void *w;
} rec_gemm;

static int
rec_gemm_init(rec_gemm *g, int dt, const void *w, int64_t G, int64_t H,
              int tb)
{
    /* W_hh is (G H, H): the forward multiplies by W^T (k = H, n = G H),
     * the backward by W (k = G H, n = H) */
    g->k = ad_k(dt);
    g->tb = tb;
    g->w = w;
    g->kdim = tb ? H : G * H;
    g->n = tb ? G * H : H;
    g->packed = NULL;
    if (dt != AD_F32 || !ad_sgemm_packed_ok()) {
        return 0;
    }
    g->packed = ad_buf_alloc(ad_sgemm_packed_size(g->kdim, g->n) *
                             sizeof(float) + 1);
    if (!g->packed) {
        return -1;
    }
    ad_sgemm_pack(tb, g->kdim, g->n, w, H, AD_BUF_DATA(g->packed));
    return 0;
}

/* c = s W^(T) + bias (a row, or NULL) + beta c */
static void
rec_gemm_run(const rec_gemm *g, int64_t B, const void *s, const void *bias,
             double beta, void *c, size_t it)
{
    if (g->packed) {
        ad_sgemm_packed(0, B, g->n, g->kdim, s, g->kdim,
                        AD_BUF_DATA(g->packed), bias, (float)beta, c, g->n);
        return;
    }
    if (bias) {
        /* BLAS: the bias as C with beta 1 (beta is 0 where a bias is) */
        for (int64_t b = 0; b < B; b++) {
            memcpy((char *)c + (size_t)(b * g->n) * it, bias,
                   (size_t)g->n * it);
        }
        beta = 1.0;
    }
    g->k->gemm(0, g->tb, B, g->n, g->kdim, s, g->kdim, g->w,
               g->tb ? g->kdim : g->n, beta, c, g->n);
}

static void
rec_gemm_free(rec_gemm *g)
{
    if (g->packed) {
        ad_buf_decref(g->packed);
    }
}

/* ---- the sequence over the pool --------------------------------------
 * Each row of the batch is its own recurrence: h_t[b] needs only
 * h_{t-1}[b].  So for float32 where the packed kernel runs, lstm_seq and
 * gru_seq's forward and backward share out blocks of 8 batch rows (RB)
 * over the pool once per sweep, and each piece runs its rows through every
 * step with no barrier between steps: the step's product for those rows
 * (W_hh packed once per sweep, shared read-only), then the cell.  Every
 * element is the serial loop's arithmetic (each product element the same
 * chain of fused multiply-adds whatever rows share its call, the cells
 * elementwise), so the bits are those of one thread at any count. */
#define RB 8

typedef struct {
    int64_t T, B, H;
    int rev, lstm;
    const float *packed, *bias, *xp, *gin;
    float *sv, *out, *gh, *pre;             /* forward */
    float *Gi, *Gh, *carry, *gp, *dhd;      /* backward */
} seq_job;

/* A piece's rows [b0, b0 + nb) and the layout's widths: gates G H, saved
 * floats per step, out row (lstm: h and c). */
typedef struct {
    int64_t b0, nb, GH, per, ow;
} rows_span;

static rows_span
span_of(const seq_job *j, int64_t lo, int64_t hi)
{
    rows_span r;
    r.b0 = lo * RB;
    r.nb = (hi * RB < j->B ? hi * RB : j->B) - r.b0;
    r.GH = (j->lstm ? 4 : 3) * j->H;
    r.per = j->B * (j->lstm ? 6 : 4) * j->H;
    r.ow = (j->lstm ? 2 : 1) * j->H;
    return r;
}

/* the pieces' grain: at least two blocks of rows to a piece where the
 * whole sweep is under ~2^22 multiply-adds a block (a small layer stays on
 * one thread) */
static int64_t
rows_grain(const seq_job *j)
{
    int64_t per = RB * j->T * (j->lstm ? 4 : 3) * j->H * j->H;
    return per >= ((int64_t)1 << 22) ? 1 : 2;
}

/* The rows path: float32 with the packed kernel, the pool at more than one
 * thread (at one the serial loop below runs: the same bits, and measured
 * 2-4% faster there). */
static int
seq_rows(const seq_dims *d)
{
    return d->xp->dtype == AD_F32 && ad_sgemm_packed_ok() &&
           ad_get_num_threads() > 1;
}

static void
fw_rows(void *ctx, int64_t lo, int64_t hi)
{
    const seq_job *j = ctx;
    const ad_kernels *k = ad_k(AD_F32);
    rows_span p = span_of(j, lo, hi);
    int64_t T = j->T, B = j->B, H = j->H, b0 = p.b0, nb = p.nb, GH = p.GH;
    for (int64_t s2 = 0; s2 < T; s2++) {
        int64_t t = j->rev ? T - 1 - s2 : s2;
        int64_t tn = j->rev ? t - 1 : t + 1;
        float *act = j->sv + t * p.per, *hp = j->sv + T * p.per + t * B * H;
        float *gh = j->gh + b0 * GH, *out = j->out + (t * B + b0) * p.ow;
        const float *gi = j->xp + (t * B + b0) * GH;
        /* gh = h W_hh^T + b_hh for these rows, then the cell */
        ad_sgemm_rows(nb, GH, H, hp + b0 * H, H, j->packed, j->bias, 0.0f,
                      gh, GH);
        if (j->lstm) {
            k->lstm_fwd(nb, H, gi, gh, act + 5 * B * H + b0 * H, out,
                        act + b0 * 5 * H, j->pre + b0 * GH);
        }
        else {
            k->gru_fwd(nb, H, gi, gh, hp + b0 * H, out, act + b0 * 4 * H,
                       j->pre + b0 * GH);
        }
        if (s2 + 1 == T) {
            continue;
        }
        /* the state the next step starts from, contiguous */
        float *hn = j->sv + T * p.per + tn * B * H;
        float *cn = j->sv + tn * p.per + 5 * B * H;
        for (int64_t b = 0; b < nb; b++) {
            memcpy(hn + (b0 + b) * H, out + b * p.ow,
                   (size_t)H * sizeof(float));
            if (j->lstm) {
                memcpy(cn + (b0 + b) * H, out + b * p.ow + H,
                       (size_t)H * sizeof(float));
            }
        }
    }
}

/* The forward on the pool, into fw_seq's buffers (the first step's state
 * in place): W_hh packed (W^T), scratch gh and pre, (B, G H) each. */
static void
fw_seq_rows(ad_record *r, const seq_dims *d, const float *packed, float *gh,
            float *pre)
{
    seq_job j = {d->T, d->B, d->H, r->at.rnn_seq.reverse, d->lstm, packed,
                 d->b ? ad_data(d->b) : NULL, ad_data(d->xp), NULL,
                 AD_BUF_DATA(r->saved), ad_data(r->out), gh, pre, NULL, NULL,
                 NULL, NULL, NULL};
    ad_parallel_for((d->B + RB - 1) / RB, rows_grain(&j), fw_rows, &j);
}

static void
bw_rows(void *ctx, int64_t lo, int64_t hi)
{
    const seq_job *j = ctx;
    const ad_kernels *k = ad_k(AD_F32);
    rows_span p = span_of(j, lo, hi);
    int64_t T = j->T, B = j->B, H = j->H, b0 = p.b0, nb = p.nb, GH = p.GH;
    float *dh = j->carry + b0 * H, *dc = j->carry + (B + b0) * H;
    float *gp = j->gp + b0 * p.ow, *dhd = j->dhd + b0 * H;
    const float *later = NULL;          /* the lstm's later dgates */
    for (int64_t s2 = T - 1; s2 >= 0; s2--) {
        int64_t t = j->rev ? T - 1 - s2 : s2;
        const float *act = j->sv + t * p.per;
        float *dgi = j->Gi + (t * B + b0) * GH;
        if (later) {
            /* dh = the later step's dgates W_hh */
            ad_sgemm_rows(nb, H, GH, later, GH, j->packed, NULL, 0.0f, dh,
                          H);
        }
        /* gp = g_t + carry (the h part; the lstm's c part too) */
        for (int64_t b = 0; b < nb; b++) {
            memcpy(gp + b * p.ow, j->gin + (t * B + b0 + b) * p.ow,
                   (size_t)p.ow * sizeof(float));
            k->axpy(gp + b * p.ow, dh + b * H, H, 1.0);
            if (j->lstm) {
                k->axpy(gp + b * p.ow + H, dc + b * H, H, 1.0);
            }
        }
        if (j->lstm) {
            /* dc -> carry's c part; dgates -> Gi_t */
            k->lstm_bwd(nb, H, act + 5 * B * H + b0 * H, act + b0 * 5 * H,
                        gp, dgi, dc);
            later = dgi;
            continue;
        }
        /* dh = dhd + dgh W_hh, this step's own */
        float *dgh = j->Gh + (t * B + b0) * GH;
        k->gru_bwd(nb, H, j->sv + T * p.per + (t * B + b0) * H,
                   act + b0 * 4 * H, gp, dgi, dgh, dhd);
        ad_sgemm_rows(nb, H, GH, dgh, GH, j->packed, NULL, 1.0f, dhd, H);
        memcpy(dh, dhd, (size_t)(nb * H) * sizeof(float));
    }
    if (later) {
        /* dh of the first state */
        ad_sgemm_rows(nb, H, GH, later, GH, j->packed, NULL, 0.0f, dh, H);
    }
}

/* The sequence's backward on the pool, into bw_seq's buffers: the gates'
 * gradients into Gi (and the GRU's hidden ones into Gh), (T, B, G H); dh
 * (and the lstm's dc) of the first state into carry (B, 2H), zeroed by
 * the caller; W_hh packed (W), scratch gp (B, out row) and dhd (B, H). */
static void
bw_seq_rows(ad_record *r, const seq_dims *d, const float *packed,
            const float *gin, float *Gi, float *Gh, float *carry, float *gp,
            float *dhd)
{
    seq_job j = {d->T, d->B, d->H, r->at.rnn_seq.reverse, d->lstm, packed,
                 NULL, NULL, gin, AD_BUF_DATA(r->saved), NULL, NULL, NULL,
                 Gi, Gh, carry, gp, dhd};
    ad_parallel_for((d->B + RB - 1) / RB, rows_grain(&j), bw_rows, &j);
}

static ad_status
fw_seq(ad_record *r)
{
    seq_dims d;
    seq_get(r, &d);
    const ad_kernels *k = ad_k(d.xp->dtype);
    int64_t B = d.B, H = d.H, GH = d.G * H, T = d.T;
    int64_t per = B * (d.A + (d.lstm ? 1 : 0)) * H;   /* saved per step */
    int64_t ow = d.lstm ? 2 * H : H;                   /* out row width */
    ad_buffer *scr = ad_buf_alloc((size_t)(2 * B * GH + 1) * d.it);
    rec_gemm rg;
    if (!scr || rec_gemm_init(&rg, d.xp->dtype, ad_data(d.w), d.G, H, 1)) {
        if (scr) {
            ad_buf_decref(scr);
        }
        return nomem();
    }
    void *gh = AD_BUF_DATA(scr), *pre = AT(gh, B * GH);
    char *sv = AD_BUF_DATA(r->saved), *out = ad_data(r->out);
    const void *xp = ad_data(d.xp);
    const void *bias = d.b ? ad_data(d.b) : NULL;
    int64_t prev = -1;
    if (T > 0) {
        /* the first step's state: h0 (and c0), contiguous */
        int64_t t = r->at.rnn_seq.reverse ? T - 1 : 0;
        memcpy(AT(sv, T * per + t * B * H), ad_data(d.h0),
               (size_t)(B * H) * d.it);
        if (d.lstm) {
            memcpy(AT(sv, t * per + B * d.A * H), ad_data(d.c0),
                   (size_t)(B * H) * d.it);
        }
    }
    int rows = seq_rows(&d);
    if (rows) {
        fw_seq_rows(r, &d, AD_BUF_DATA(rg.packed), gh, pre);
    }
    for (int64_t s = 0; s < T && !rows; s++) {
        int64_t t = r->at.rnn_seq.reverse ? T - 1 - s : s;
        void *act = AT(sv, t * per), *cp = AT(act, B * d.A * H);
        void *hp = AT(sv, T * per + t * B * H);
        /* the state this step starts from, contiguous */
        for (int64_t b = 0; prev >= 0 && b < B; b++) {
            memcpy(AT(hp, b * H), AT(out, (prev * B + b) * ow),
                   (size_t)H * d.it);
            if (d.lstm) {
                memcpy(AT(cp, b * H), AT(out, (prev * B + b) * ow + H),
                       (size_t)H * d.it);
            }
        }
        /* gh = h W_hh^T + b_hh, one GEMM */
        rec_gemm_run(&rg, B, hp, bias, 0.0, gh, d.it);
        if (d.lstm) {
            k->lstm_fwd(B, H, AT(xp, t * B * GH), gh, cp,
                        AT(out, t * B * ow), act, pre);
        }
        else {
            k->gru_fwd(B, H, AT(xp, t * B * GH), gh, hp,
                       AT(out, t * B * ow), act, pre);
        }
        prev = t;
    }
    rec_gemm_free(&rg);
    ad_buf_decref(scr);
    return AD_OK;
}

/* db[j] += sum over n rows of m[i, j] (rows of width w), in row order. */
static void
col_sums(int dt, const void *m, int64_t n, int64_t w, void *db)
{
    if (dt == AD_F64) {
        const double *x = m;
        double *y = db;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < w; j++) y[j] += x[i * w + j];
    }
    else {
        const float *x = m;
        float *y = db;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < w; j++) y[j] += x[i * w + j];
    }
}

static ad_status
bw_seq(ad_record *r, ad_buffer **g)
{
    seq_dims d;
    seq_get(r, &d);
    const ad_kernels *k = ad_k(d.xp->dtype);
    int64_t B = d.B, H = d.H, GH = d.G * H, T = d.T;
    int64_t per = B * (d.A + (d.lstm ? 1 : 0)) * H;
    int64_t ow = d.lstm ? 2 * H : H;
    int nw = d.lstm ? 3 : 2;
    ad_status s = AD_OK;
    /* dgi (T, B, GH): xp's gradient; dgh (T, B, GH): the hidden gates'
     * (the same as dgi for the lstm); scratch: carry (B, 2H), the
     * incoming gradient plus the carry (B, ow), dh (B, H) */
    ad_buffer *dgi = ad_buf_alloc((size_t)(T * B * GH + 1) * d.it);
    ad_buffer *dgh = d.lstm ? NULL
                            : ad_buf_alloc((size_t)(T * B * GH + 1) * d.it);
    ad_buffer *scr = ad_buf_alloc((size_t)(B * (2 * H + ow + H) + 1) * d.it);
    ad_buffer *dh0 = NULL, *dc0 = NULL, *dw = NULL, *db = NULL;
    rec_gemm rg = {.packed = NULL};
    if (!dgi || (!d.lstm && !dgh) || !scr ||
        rec_gemm_init(&rg, d.xp->dtype, ad_data(d.w), d.G, H, 0)) {
        s = nomem();
        goto done;
    }
    char *carry = AD_BUF_DATA(scr);              /* (dh, dc) rows of H */
    char *gp = AT(carry, 2 * B * H), *dhd = AT(gp, B * ow);
    char *sv = AD_BUF_DATA(r->saved), *gin = AD_BUF_DATA(*g);
    char *Gi = AD_BUF_DATA(dgi), *Gh = d.lstm ? Gi : AD_BUF_DATA(dgh);
    int rows = seq_rows(&d);
    memset(carry, 0, (size_t)(2 * B * H) * d.it);
    if (rows) {
        bw_seq_rows(r, &d, AD_BUF_DATA(rg.packed), (const float *)gin,
                    (float *)Gi, (float *)Gh, (float *)carry, (float *)gp,
                    (float *)dhd);
    }
    for (int64_t s2 = T - 1; s2 >= 0 && !rows; s2--) {
        int64_t t = r->at.rnn_seq.reverse ? T - 1 - s2 : s2;
        void *act = AT(sv, t * per), *cp = AT(act, B * d.A * H);
        void *hp = AT(sv, T * per + t * B * H);
        /* gp = g_t + carry (the h part; the lstm's c part too) */
        memcpy(gp, AT(gin, t * B * ow), (size_t)(B * ow) * d.it);
        for (int64_t b = 0; b < B; b++) {
            k->axpy(AT(gp, b * ow), AT(carry, b * H), H, 1.0);
            if (d.lstm) {
                k->axpy(AT(gp, b * ow + H), AT(carry, (B + b) * H), H, 1.0);
            }
        }
        if (d.lstm) {
            /* dc -> carry's c part; dgates -> Gi_t */
            k->lstm_bwd(B, H, cp, act, gp, AT(Gi, t * B * GH),
                        AT(carry, B * H));
            /* dh_prev = dgates W_hh */
            rec_gemm_run(&rg, B, AT(Gi, t * B * GH), NULL, 0.0, carry,
                         d.it);
        }
        else {
            k->gru_bwd(B, H, hp, act, gp, AT(Gi, t * B * GH),
                       AT(Gh, t * B * GH), dhd);
            rec_gemm_run(&rg, B, AT(Gh, t * B * GH), NULL, 1.0, dhd, d.it);
            memcpy(carry, dhd, (size_t)(B * H) * d.it);
        }
    }
    /* W_hh's gradient: one GEMM over every step, dgh^T h_prev, reading
     * the saved (T, B, H) states in place */
    if (d.w->requires_grad || (d.b && d.b->requires_grad)) {
        if (!(dw = ad_buf_alloc(ad_nbytes(d.w)))) {
            s = nomem();
            goto done;
        }
        if (d.b) {
            if (!(db = ad_buf_alloc(ad_nbytes(d.b)))) {
                s = nomem();
                goto done;
            }
            memset(AD_BUF_DATA(db), 0, ad_nbytes(d.b));
        }
        if (d.xp->dtype == AD_F32 && ad_sgemm_packed_ok() &&
            !ad_blas_one_thread(GH, H, T * B)) {
            /* where BLAS would run it on its own threads: the engine's
             * kernel on the pool, db formed while dgates^T is packed (the
             * same chain as col_sums'), so no BLAS thread is woken in the
             * sequence's backward; at one thread BLAS, as before */
            if (ad_sgemm_atb(T * B, GH, H, (const float *)Gh, GH,
                             (const float *)AT(sv, T * per), H,
                             AD_BUF_DATA(dw), db ? AD_BUF_DATA(db) : NULL)) {
                s = nomem();
                goto done;
            }
        }
        else {
            k->gemm(1, 0, GH, H, T * B, Gh, GH, AT(sv, T * per), H, 0.0,
                    AD_BUF_DATA(dw), H);
            if (db) {
                col_sums(d.xp->dtype, Gh, T * B, GH, AD_BUF_DATA(db));
            }
        }
    }
    if (d.h0->requires_grad) {
        if (!(dh0 = ad_buf_alloc(ad_nbytes(d.h0)))) {
            s = nomem();
            goto done;
        }
        memcpy(AD_BUF_DATA(dh0), carry, (size_t)(B * H) * d.it);
    }
    if (d.lstm && d.c0->requires_grad) {
        if (!(dc0 = ad_buf_alloc(ad_nbytes(d.c0)))) {
            s = nomem();
            goto done;
        }
        memcpy(AD_BUF_DATA(dc0), AT(carry, B * H), (size_t)(B * H) * d.it);
    }
    if ((s = ad_acc_grad(r, 0, &dgi, 1))) {
        goto done;
    }
    if (dh0 && (s = ad_acc_grad(r, 1, &dh0, 1))) {
        goto done;
    }
    if (dc0 && (s = ad_acc_grad(r, 2, &dc0, 1))) {
        goto done;
    }
    if (dw && (s = ad_acc_grad(r, nw, &dw, 1))) {
        goto done;
    }
    if (db) {
        s = ad_acc_grad(r, nw + 1, &db, 1);
    }
done:
    rec_gemm_free(&rg);
    for (int j = 0; j < 6; j++) {
        ad_buffer *bs[6] = {dgi, dgh, scr, dh0, dc0, dw};
        if (bs[j]) {
            ad_buf_decref(bs[j]);
        }
    }
    if (db) {
        ad_buf_decref(db);
    }
    return s;
}

#undef AT

static ad_status
seq_call(const char *what, const ad_opdef *def, ad_tensor *xp,
         ad_tensor *h0, ad_tensor *c0, ad_tensor *w, ad_tensor *b,
         int reverse, ad_tensor **out)
{
    char s1[AD_SHAPE_BUF], s2[AD_SHAPE_BUF], s3[AD_SHAPE_BUF];
    int lstm = c0 != NULL;
    int64_t G = lstm ? 4 : 3, A = lstm ? 5 : 4;
    ad_tensor *ts[4] = {h0, c0, w, b};
    for (int j = 0; j < 4; j++) {
        if (ts[j] && ts[j]->dtype != xp->dtype) {
            return ad_error(AD_ERR_TYPE, "%s: expected every input of dtype "
                            "%s like the input projections, got %s", what,
                            ad_dtype_name(xp->dtype),
                            ad_dtype_name(ts[j]->dtype));
        }
    }
    if (!ad_is_float(xp->dtype)) {
        return ad_error(AD_ERR_TYPE, "%s: expected floating point inputs, "
                        "got %s", what, ad_dtype_name(xp->dtype));
    }
    if (h0->ndim != 2 || (c0 && (c0->ndim != 2 ||
                                 c0->shape[0] != h0->shape[0] ||
                                 c0->shape[1] != h0->shape[1]))) {
        return ad_error(AD_ERR_SHAPE, "%s: the initial state%s must be "
                        "(B, H), got %s%s%s", what, c0 ? "s" : "",
                        ad_shape_str(h0->ndim, h0->shape, s1, sizeof(s1)),
                        c0 ? " and " : "", c0 ? ad_shape_str(
                            c0->ndim, c0->shape, s2, sizeof(s2)) : "");
    }
    int64_t B = h0->shape[0], H = h0->shape[1];
    if (xp->ndim != 3 || xp->shape[1] != B || xp->shape[2] != G * H) {
        return ad_error(AD_ERR_SHAPE, "%s: input projections %s must be "
                        "(T, %lld, %lld) for a state of shape %s",
                        what, ad_shape_str(xp->ndim, xp->shape, s1,
                                           sizeof(s1)),
                        (long long)B, (long long)(G * H),
                        ad_shape_str(h0->ndim, h0->shape, s2, sizeof(s2)));
    }
    if (w->ndim != 2 || w->shape[0] != G * H || w->shape[1] != H ||
        (b && (b->ndim != 1 || b->shape[0] != G * H))) {
        return ad_error(AD_ERR_SHAPE, "%s: weight_hh %s (bias_hh %s) does "
                        "not fit hidden size %lld (expected (%lld, %lld))",
                        what, ad_shape_str(w->ndim, w->shape, s1, sizeof(s1)),
                        b ? ad_shape_str(b->ndim, b->shape, s3, sizeof(s3))
                          : "None", (long long)H, (long long)(G * H),
                        (long long)H);
    }
    int64_t T = xp->shape[0];
    int64_t shape[3] = {T, B, (lstm ? 2 : 1) * H};
    ad_tensor *o, *xs[5];
    int n = 0;
    xs[n++] = xp;
    xs[n++] = h0;
    if (c0) {
        xs[n++] = c0;
    }
    xs[n++] = w;
    if (b) {
        xs[n++] = b;
    }
    ad_record c;
    ad_status s;
    if ((s = ad_new(xp->dtype, 3, shape, &o))) {
        return s;
    }
    ad_call_init(&c, def, 0, n, xs, o);
    if (!(c.saved = ad_buf_alloc((size_t)(T * B * (A + (lstm ? 2 : 1)) * H
                                          + 1) * ad_itemsize(xp->dtype)))) {
        ad_call_abandon(&c);
        return nomem();
    }
    c.at.rnn_seq.reverse = reverse != 0;
    c.at.rnn_seq.has_b = b != NULL;
    return ad_call_run(&c, T * B * G * H * (H + 10), out);
}

ad_status
ad_lstm_seq(ad_tensor *xp, ad_tensor *h0, ad_tensor *c0, ad_tensor *w_hh,
            ad_tensor *b_hh, int reverse, ad_tensor **out)
{
    if (!c0) {
        return ad_error(AD_ERR_VALUE, "lstm_seq: c0 is required");
    }
    return seq_call("lstm_seq", &ad_def_lstm_seq, xp, h0, c0, w_hh, b_hh,
                    reverse, out);
}

ad_status
ad_gru_seq(ad_tensor *xp, ad_tensor *h0, ad_tensor *w_hh, ad_tensor *b_hh,
           int reverse, ad_tensor **out)
{
    return seq_call("gru_seq", &ad_def_gru_seq, xp, h0, NULL, w_hh, b_hh,
                    reverse, out);
}

static const ad_attrdef seq_attrs[] = {
    AD_ATTR(rnn_seq, reverse, AD_ATTR_I32),
    AD_ATTR(rnn_seq, has_b, AD_ATTR_I32),
};

const ad_opdef ad_def_lstm_seq = {
    .name = "lstm_seq",
    .code = AD_OP_LSTM_SEQ, .arity = -1, .flags = AD_K_READS_X,
    .attrs = seq_attrs, .nattrs = 2,
    .forward = fw_seq, .backward = bw_seq,
};

const ad_opdef ad_def_gru_seq = {
    .name = "gru_seq",
    .code = AD_OP_GRU_SEQ, .arity = -1, .flags = AD_K_READS_X,
    .attrs = seq_attrs, .nattrs = 2,
    .forward = fw_seq, .backward = bw_seq,
};
