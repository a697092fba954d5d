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
