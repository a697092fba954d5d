# cython: language_level=3
# The C engine's public interface (csrc/autodiff.h) as Cython sees it: the
# one block of declarations, mirroring the header section by section.
# _engine.pyx cimports it; nothing else does.
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t

cdef extern from "autodiff.h" nogil:
    enum: AD_MAX_DIMS
    ctypedef enum ad_status:
        AD_RERECORD, AD_OK, AD_ERR_NOMEM, AD_ERR_SHAPE, AD_ERR_VALUE, AD_ERR_INDEX,
        AD_ERR_TYPE, AD_ERR_STATE, AD_ERR_NOBLAS, AD_ERR_LINALG
    ctypedef enum ad_dtype:
        AD_F32, AD_F64, AD_I64, AD_BOOL
    ctypedef enum ad_unary_kind:
        AD_U_NEG, AD_U_EXP, AD_U_LOG, AD_U_SQRT, AD_U_ABS, AD_U_SIN,
        AD_U_COS, AD_U_SIGMOID, AD_U_TANH, AD_U_RELU, AD_U_LEAKY_RELU,
        AD_U_ELU, AD_U_SELU, AD_U_SOFTPLUS, AD_U_GELU, AD_U_SILU, AD_U_CLIP,
        AD_U_ADDC, AD_U_MULC, AD_U_RSUBC, AD_U_RDIVC, AD_U_POWC, AD_U_RPOWC,
        AD_U_SQUARE, AD_U_DIVC, AD_U_ERF, AD_U_TAN, AD_U_ATAN, AD_U_ASIN,
        AD_U_ACOS, AD_U_SINH, AD_U_COSH, AD_U_ASINH, AD_U_ACOSH, AD_U_ATANH,
        AD_U_LOG1P, AD_U_EXPM1, AD_U_LOG2, AD_U_LOG10, AD_U_EXP2,
        AD_U_RECIPROCAL, AD_U_RSQRT, AD_U_SIGN, AD_U_FLOOR, AD_U_CEIL,
        AD_U_ROUND, AD_U_TRUNC, AD_U_FRAC, AD_U_HARDTANH, AD_U_HARDSIGMOID,
        AD_U_HARDSWISH, AD_U_MISH, AD_U_LOGSIGMOID, AD_U_SOFTSIGN,
        AD_U_TANHSHRINK, AD_U_CELU
    ctypedef enum ad_binary_kind:
        AD_B_ADD, AD_B_SUB, AD_B_MUL, AD_B_DIV, AD_B_POW, AD_B_MAXIMUM,
        AD_B_MINIMUM, AD_B_ATAN2, AD_B_HYPOT, AD_B_FMOD, AD_B_REMAINDER,
        AD_B_LOGADDEXP, AD_B_XLOGY
    ctypedef enum ad_reduce_kind:
        AD_R_SUM, AD_R_MEAN, AD_R_MAX, AD_R_MIN, AD_R_PROD
    ctypedef enum ad_loss_kind:
        AD_L_MSE, AD_L_L1, AD_L_BCE, AD_L_BCE_LOGITS, AD_L_HUBER,
        AD_L_SMOOTH_L1
    ctypedef enum ad_compare_kind:
        AD_C_EQ, AD_C_NE, AD_C_LT, AD_C_LE, AD_C_GT, AD_C_GE
    ctypedef enum ad_bitwise_kind:
        AD_W_AND, AD_W_OR, AD_W_XOR
    ctypedef enum ad_argreduce_kind:
        AD_A_ARGMAX, AD_A_ARGMIN

    ctypedef struct ad_buffer:
        pass
    ctypedef struct ad_tape:
        pass
    ctypedef struct ad_tensor:
        int64_t refcnt
        int64_t size
        int ndim
        uint8_t dtype
        uint8_t requires_grad
        uint8_t retains_grad
        uint8_t flags
        int64_t shape[8]
        int64_t rec
        ad_tensor *grad

    enum: AD_T_COPY_OF_VIEW

    ctypedef struct ad_memory_stats:
        int64_t bytes_in_use
        int64_t bytes_pooled
        int64_t allocations
        int64_t frees
        int64_t tape_records
        int64_t tape_live

    ctypedef void (*ad_sgemm_fn)(char *, char *, int *, int *, int *,
                                 float *, float *, int *, float *, int *,
                                 float *, float *, int *)
    ctypedef void (*ad_dgemm_fn)(char *, char *, int *, int *, int *,
                                 double *, double *, int *, double *, int *,
                                 double *, double *, int *)
    ctypedef void *(*ad_unlock_fn)()
    ctypedef void (*ad_relock_fn)(void *)

    const char *ad_last_error()
    void ad_set_blas(ad_sgemm_fn, ad_dgemm_fn)
    enum: AD_LAPACK_COUNT
    const char *ad_lapack_name(int)
    void ad_set_lapack(int, void *, void *)
    void ad_set_lock_hooks(ad_unlock_fn, ad_relock_fn)
    void ad_get_memory_stats(ad_memory_stats *)
    void ad_pool_trim()
    void ad_set_num_threads(int)
    int ad_get_num_threads()
    void ad_set_blas_threads(int)
    int ad_get_blas_threads()
    int ad_set_flush_denormal(int)
    int ad_flush_denormal()
    int ad_alone_swap(int)
    int ad_spin_us()
    int ad_blas_one_thread(int64_t, int64_t, int64_t)
    int ad_sgemm_packed_ok()
    ctypedef void (*ad_blas_set_threads_fn)(int) noexcept nogil
    ctypedef int (*ad_blas_get_threads_fn)() noexcept nogil
    int ad_set_blas_thread_fns(int, ad_blas_set_threads_fn *,
                               ad_blas_get_threads_fn *)

    ad_status ad_empty(ad_dtype, int, const int64_t *, ad_tensor **)
    ad_status ad_full(ad_dtype, int, const int64_t *, double, ad_tensor **)
    void *ad_data(const ad_tensor *)
    void ad_incref(ad_tensor *)
    void ad_decref(ad_tensor *)
    void ad_set_requires_grad(ad_tensor *, int)
    int ad_is_leaf(const ad_tensor *)
    ad_status ad_detach(ad_tensor *, ad_tensor **)
    void ad_mark_modified(ad_tensor *)
    int ad_shares_buffer(const ad_tensor *)
    ad_status ad_copy_data(ad_tensor *, const ad_tensor *)
    int ad_grad_enabled()
    void ad_set_grad_enabled(int)

    ad_status ad_unary(ad_unary_kind, ad_tensor *, double, double,
                       ad_tensor **)
    ad_status ad_binary(ad_binary_kind, ad_tensor *, ad_tensor *,
                        ad_tensor **)
    ad_status ad_where(ad_tensor *, ad_tensor *, ad_tensor *, ad_tensor **)
    ad_status ad_reduce(ad_reduce_kind, ad_tensor *, uint32_t, int,
                        ad_tensor **)
    ad_status ad_reshape(ad_tensor *, int, const int64_t *, ad_tensor **)
    ad_status ad_permute(ad_tensor *, const int *, ad_tensor **)
    ad_status ad_broadcast_to(ad_tensor *, int, const int64_t *,
                              ad_tensor **)
    ad_status ad_concat(int, ad_tensor **, int, ad_tensor **)
    ad_status ad_gather(ad_tensor *, const int64_t *, int, const int64_t *,
                        ad_tensor **)
    ad_status ad_cast(ad_tensor *, ad_dtype, ad_tensor **)
    ad_status ad_clone(ad_tensor *, ad_dtype, ad_tensor **)
    ad_status ad_matmul(ad_tensor *, ad_tensor *, ad_tensor **)
    ad_status ad_linear_relu(ad_tensor *, ad_tensor *, ad_tensor *,
                             ad_tensor **)
    ad_status ad_linear(ad_tensor *, ad_tensor *, ad_tensor *, ad_tensor **)
    ad_status ad_softmax(ad_tensor *, int, int, ad_tensor **)
    ad_status ad_cumsum(ad_tensor *, int, int, ad_tensor **)
    ad_status ad_cumprod(ad_tensor *, int, int, ad_tensor **)
    ad_status ad_cumarg(ad_tensor *, int, int, ad_tensor **)
    ad_status ad_compare(ad_compare_kind, ad_tensor *, ad_tensor *,
                         ad_tensor **)
    ad_status ad_bitwise(ad_bitwise_kind, ad_tensor *, ad_tensor *,
                         ad_tensor **)
    ad_status ad_argreduce(ad_argreduce_kind, ad_tensor *, int, int,
                           ad_tensor **)
    ad_status ad_take(ad_tensor *, ad_tensor *, int, int, ad_tensor **)
    ad_status ad_put_add(ad_tensor *, ad_tensor *, int, int, const int64_t *,
                         ad_tensor **)
    ad_status ad_argsort(ad_tensor *, int, int, ad_tensor **)
    ctypedef struct ad_conv_params:
        int stride[2]
        int pad[2]
        int dil[2]
        int groups
        int transposed
        int outpad[2]
    ad_status ad_conv(ad_tensor *, ad_tensor *, ad_tensor *,
                      const ad_conv_params *, ad_tensor **)
    ad_status ad_unfold(ad_tensor *, const int *, const int *, const int *,
                        const int *, ad_tensor **)
    ad_status ad_fold(ad_tensor *, int, int, const int *, const int *,
                      const int *, const int *, ad_tensor **)
    ctypedef struct ad_pool_params:
        int k[2]
        int stride[2]
        int pad[2]
        int dil[2]
        int64_t out[2]
        int adaptive
        int count_include_pad
        int64_t divisor
    ad_status ad_pool_argmax(ad_tensor *, const ad_pool_params *,
                             ad_tensor **)
    ad_status ad_max_pool(ad_tensor *, const ad_pool_params *, ad_tensor **)
    ad_status ad_avg_pool(ad_tensor *, const ad_pool_params *, int, int, int,
                          ad_tensor **)
    ctypedef struct ad_upsample_params:
        int kind
        int align_corners
        int one_d
        int64_t image[2]
        int64_t out[2]
        double scale[2]
    ad_status ad_upsample(ad_tensor *, const ad_upsample_params *, int,
                          ad_tensor **)
    ad_status ad_norm(ad_tensor *, ad_tensor *, ad_tensor *, int64_t, int64_t,
                      int64_t, int, double, ad_tensor **)
    ad_status ad_batch_norm(ad_tensor *, ad_tensor *, ad_tensor *,
                            ad_tensor *, ad_tensor *, ad_tensor *, int,
                            double, double, ad_tensor **)
    ad_status ad_lstm_cell(ad_tensor *, ad_tensor *, ad_tensor *,
                           ad_tensor **)
    ad_status ad_gru_cell(ad_tensor *, ad_tensor *, ad_tensor *,
                          ad_tensor **)
    ad_status ad_lstm_seq(ad_tensor *, ad_tensor *, ad_tensor *, ad_tensor *,
                          ad_tensor *, int, ad_tensor **)
    ad_status ad_gru_seq(ad_tensor *, ad_tensor *, ad_tensor *, ad_tensor *,
                         int, ad_tensor **)
    ctypedef enum ad_linalg_kind:
        AD_LA_INV, AD_LA_SOLVE, AD_LA_DET, AD_LA_SLOGDET, AD_LA_CHOLESKY,
        AD_LA_EIGH, AD_LA_EIGVALSH, AD_LA_QR, AD_LA_SVD, AD_LA_SVDVALS
    ad_status ad_linalg(ad_linalg_kind, int, ad_tensor **, int, int,
                        ad_tensor **)
    ad_status ad_loss(ad_loss_kind, ad_tensor *, ad_tensor *, ad_tensor **)
    ad_status ad_loss_a(ad_loss_kind, ad_tensor *, ad_tensor *, double,
                        ad_tensor **)
    enum: AD_NLL_NONE, AD_NLL_MEAN, AD_NLL_SUM
    ad_status ad_nll(ad_tensor *, const int64_t *, int64_t, int, int,
                     ad_tensor **)
    ad_status ad_nll_labels(ad_tensor *, ad_tensor *, int64_t, int, int,
                            ad_tensor **)
    ad_status ad_nll_full(ad_tensor *, const int64_t *, ad_tensor *,
                          ad_tensor *, int64_t, int, double, int,
                          ad_tensor **)
    void ad_manual_seed(uint64_t)
    void ad_get_rng_state(uint64_t *, uint64_t *)
    void ad_set_rng_state(uint64_t, uint64_t)
    ctypedef struct ad_rng_stream:
        uint64_t seed
        uint64_t offset
    void ad_rng_replicas_begin(ad_rng_stream *, int)
    void ad_rng_replicas_end(const ad_rng_stream *, int)
    ad_rng_stream *ad_rng_stream_swap(ad_rng_stream *)
    ad_status ad_dropout(ad_tensor *, double, ad_tensor **)
    uint64_t ad_epoch()
    void ad_bump_epoch()
    enum: AD_SRC_I64
    ad_status ad_fill_from(ad_tensor *, const void *, int)
    ad_status ad_backward_sweep(ad_tensor *, ad_tensor *)
    void ad_backward_release(ad_tensor *)
    ad_status ad_axpy_(ad_tensor *, double, const ad_tensor *)
    ad_status ad_fill_(ad_tensor *, double)

    ctypedef struct ad_optim_cfg:
        int kind
        double lr, weight_decay, momentum, dampening
        int nesterov
        double beta1, beta2, eps
        int amsgrad
        double alpha
        int centered
        int maximize
        double lr_decay, rho, momentum_decay
        int decoupled
        double clip, norm_type
        int error_if_nonfinite
        ad_tensor *total
    ad_status ad_optim_step(const ad_optim_cfg *, int, ad_tensor **,
                            ad_tensor **, int64_t *)
    ad_status ad_grads_pack(int, ad_tensor **, int, void *, int64_t,
                            double)
    ad_status ad_grads_unpack(int, ad_tensor **, int, const void *, int64_t,
                              double)

    ctypedef struct ad_watch:
        pass
    ctypedef void (*ad_ready_fn)(void *, int)
    ad_status ad_watch_new(int, ad_tensor **, int, const int *, ad_ready_fn,
                           void *, void (*)(void *), ad_watch **)
    void *ad_watch_buf(ad_watch *, int, int64_t *)
    ad_status ad_watch_arm(ad_watch *, double)
    void ad_watch_disarm(ad_watch *)
    int ad_watch_state(const ad_watch *)
    ad_status ad_watch_flush(ad_watch *)
    int ad_watch_check(ad_watch *)
    void ad_watch_close(ad_watch *)
    void ad_watch_free(ad_watch *)
    ctypedef struct ad_mailbox:
        pass
    ad_mailbox *ad_mailbox_new(int)
    void ad_mailbox_post(void *, int)
    int ad_mailbox_take(ad_mailbox *, int)
    void ad_mailbox_close(ad_mailbox *)
    void ad_mailbox_free(void *)

    ctypedef struct ad_program:
        pass
    ad_status ad_capture_begin(ad_program **)
    ad_status ad_capture_input(ad_program *, const void *, size_t)
    ad_status ad_capture_end(ad_program *)
    int ad_capturing()
    ad_status ad_program_run(ad_program *)
    enum: AD_MAX_CREW
    ad_status ad_programs_run(ad_program **, int, ad_rng_stream *)
    int64_t ad_program_size(const ad_program *, int64_t *)
    int64_t ad_program_work(const ad_program *)
    void ad_program_free(ad_program *)
    ad_status ad_set_grad(ad_tensor *, ad_tensor *)
    ad_tensor *ad_get_grad(ad_tensor *)
    ad_status ad_zero_grad(ad_tensor *)

    # the op registry
    ctypedef union ad_attrs:
        char raw[64]
    ctypedef struct ad_attrdef:
        const char *name
        int type
        int offset
    enum:
        AD_ATTR_F64, AD_ATTR_I64, AD_ATTR_I32, AD_ATTR_U32, AD_ATTR_DIMS
    enum:
        AD_SAVED_NONE, AD_SAVED_OUT, AD_SAVED_LIKE_OUT, AD_SAVED_IDX_OUT,
        AD_SAVED_IDX_IN, AD_SAVED_LABELS
    enum:
        AD_K_SAVES_OUT, AD_K_READS_X
    int ad_op_count()
    const char *ad_op_name(int)
    int ad_op_arity(int)
    int ad_op_saved(int)
    int ad_op_kinds(int)
    int ad_op_differentiable(int)
    const char *ad_kind_name(int, int)
    unsigned ad_kind_flags(int, int)
    const char *ad_kind_param(int, int, int)
    int ad_op_nattrs(int)
    const ad_attrdef *ad_op_attr(int, int)

    ctypedef struct ad_node_info:
        int op
        int kind
        int nin
        ad_attrs attrs
        const void *saved
        void *ext
    ad_status ad_node(const ad_tensor *, ad_node_info *)
    ad_tensor *ad_node_input(const ad_tensor *, int)
    uint32_t ad_version(const ad_tensor *)
    ad_status ad_scatter_add(ad_tensor *, const int64_t *, int,
                             const int64_t *, ad_tensor **)
    ctypedef ad_status (*ad_custom_bw_fn)(void *, ad_tensor *, int,
                                          ad_tensor **)
    ctypedef void (*ad_custom_release_fn)(void *)
    void ad_set_custom_hooks(ad_custom_bw_fn, ad_custom_release_fn)
    ad_status ad_custom(int, ad_tensor **, ad_tensor *, void *,
                        ad_tensor **)
