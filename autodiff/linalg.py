"""Linear algebra with gradients: ``ad.linalg`` (PyTorch's torch.linalg
names, signatures and gradient formulas).

Two kinds of ops live here.

*Compositions* -- ``einsum``, ``tensordot``, ``trace`` -- are written with
the engine's recorded ops (diagonal, sum, permute, reshape, broadcast_to,
batched matmul), so they differentiate to any order and replay under
``ad.compile`` bit for bit, with nothing more.

*Decompositions* -- ``inv``, ``solve``, ``det``, ``slogdet``, ``cholesky``,
``qr``, ``eigh``, ``eigvalsh``, ``svd``, ``svdvals`` -- are one engine op,
``linalg``, with a kind each (csrc/ops_decomp.c, decomp.inc).  Its
forward calls LAPACK through the pointers the engine module takes from
``scipy.linalg.cython_lapack`` (getrf/getrs, potrf, syevd, geqrf/orgqr,
gesdd; as matmul takes BLAS from ``cython_blas``), batched over the
leading dims; its C backward is PyTorch's formula fused
(derivatives.yaml / FunctionsManual.cpp: ``linalg_inv``,
``linalg_solve_backward``, ``linalg_det_backward``, ``slogdet_backward``,
``cholesky_backward``, ``linalg_qr_backward``,
``linalg_eig_backward(is_hermitian=True)``, ``svd_backward``).  So they
replay under ``ad.compile`` bit for bit like any op, and a compiled
replay that meets a singular matrix raises as the eager call does.
Multi-output kinds come back packed along the last axis and are unpacked
here with recorded narrow/reshape (each output's gradient reaches the one
backward).  ``RULES`` below holds each kind's derivative written with
recorded ops (``_derivatives.RULES["linalg"]`` dispatches to it) for
``create_graph`` and the nested transforms: the factors a formula needs
are recomputed through the op, so they are functions of A on the tape
and the gradient differentiates again.  ``pinv`` and ``matrix_rank`` sit
on ``svd``/``svdvals`` with their cutoff computed by recorded ops, so
they replay too.

Errors follow torch, with its messages (``(Batch element i): ``, the
zero pivot, the order of the leading minor): a singular matrix (inv,
solve, slogdet's backward) or a matrix that is not positive definite
(cholesky) raises ``LinAlgError``, a ``RuntimeError`` as
``torch.linalg.LinAlgError``; so does an eigh/svd of non-finite input or
that does not converge; a bad shape or einsum equation raises
``ShapeOpError`` (both a ValueError and a RuntimeError).

Gradients where torch's are ill-defined are torch's formulas too:
``eigh`` divides by eigenvalue gaps and ``svd`` by gaps of squared
singular values, so repeated values give inf/nan as in torch, unless only
the values are used (``eigvalsh``, ``svdvals``, or eigh/svd whose vector
outputs get no gradient: torch's short formula V diag(g) V^T, finite);
eigen- and singular vectors are defined up to sign, so only losses
invariant to that sign have a meaningful gradient.  ``det`` at a
singular matrix has the cofactor matrix as gradient (in C from the
minors' LU determinants, recorded through the SVD): torch 2.13's value
under create_graph (its plain backward gives zeros).
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from . import _engine as E
from ._creation import tensor as _tensor_from
from ._engine import Tensor, broadcast_to, permute, float64
from ._ops import matmul, swapaxes
from ._shape_ops import ShapeOpError, diagonal, narrow, tril
from ._grad_mode import no_grad as _no_grad
# the norms live with the other reductions
from ._reductions import matrix_norm, vector_norm

__all__ = ["LinAlgError", "einsum", "tensordot", "trace", "inv", "inverse",
           "solve", "det", "slogdet", "cholesky", "qr", "eigh", "eigvalsh",
           "svd", "svdvals", "pinv", "matrix_rank", "matmul", "vector_norm",
           "matrix_norm"]


from ._capture import LinAlgError  # noqa: E402  (raised by the engine)


SlogdetResult = namedtuple("slogdet", ["sign", "logabsdet"])
QRResult = namedtuple("qr", ["Q", "R"])
EighResult = namedtuple("eigh", ["eigenvalues", "eigenvectors"])
SVDResult = namedtuple("svd", ["U", "S", "Vh"])


# ------------------------------------------------------------------ helpers

def _as_tensor(x, name):
    # as every module function: arrays and numbers through _engine._t
    # (under ad.compile an array argument becomes a program input)
    return x if isinstance(x, Tensor) else E._t(x)


def _float_matrix(x, fname, square=True):
    t = _as_tensor(x, fname)
    if t.dtype not in (E.float32, float64):
        raise TypeError("%s: expected a floating point tensor (float32 or "
                        "float64), got %s" % (fname, t.dtype))
    if t.ndim < 2:
        raise ShapeOpError("%s: The input tensor A must have at least 2 "
                           "dimensions, got shape %s" % (fname, t.shape))
    if square and t.shape[-1] != t.shape[-2]:
        raise ShapeOpError("%s: A must be batches of square matrices, but "
                           "they are %d by %d matrices"
                           % (fname, t.shape[-2], t.shape[-1]))
    return t


def _promote(ts):
    """torch's promotion among tensors: float64 over float32 over int64
    and bool (matmul then takes the floats)."""
    dts = {t.dtype for t in ts}
    if len(dts) <= 1:
        return list(ts)
    to = float64 if float64 in dts else E.float32 if E.float32 in dts \
        else E.int64
    return [t if t.dtype is to else t.astype(to) for t in ts]


def _mT(x):
    return swapaxes(x, -1, -2)


def _eye(n, like):
    return _tensor_from(np.eye(n), dtype=like.dtype)


def _diag_embed(v):
    """(..., n) -> (..., n, n) with v on the diagonal (recorded)."""
    n = v.shape[-1]
    return E.reshape(v, v.shape + (1,)) * _eye(n, v)


def _rowvec(v):     # (..., n) -> (..., 1, n)
    return E.reshape(v, v.shape[:-1] + (1, v.shape[-1]))


def _colvec(v):     # (..., n) -> (..., n, 1)
    return E.reshape(v, v.shape + (1,))


# ----------------------------------------------------------------- einsum

def _parse_term(term, eq):
    labels, ell = [], False
    i = 0
    while i < len(term):
        c = term[i]
        if c == ".":
            if term[i:i + 3] != "..." or ell:
                raise ShapeOpError("einsum(): invalid subscript given at "
                                   "index %d in the equation string %r: "
                                   "'...' may appear once per operand"
                                   % (eq.find(term) + i, eq))
            labels.append(None)
            ell = True
            i += 3
            continue
        if not c.isascii() or not c.isalpha():
            raise ShapeOpError("einsum(): invalid subscript %r in the "
                               "equation string %r: subscripts must be in "
                               "[a-zA-Z]" % (c, eq))
        labels.append(c)
        i += 1
    return labels


def _einsum_sum(x, labels, drop):
    axes = tuple(i for i, l in enumerate(labels) if l in drop)
    if not axes:
        return x, labels
    return (E.sum(x, axis=axes),
            [l for l in labels if l not in drop])


def _contract(x, lx, y, ly, keep):
    """Contract two labelled operands by one (batched) matmul, keeping the
    labels in keep."""
    # labels only in one operand and not kept are summed out first
    x, lx = _einsum_sum(x, lx, {l for l in lx if l not in ly
                               and l not in keep})
    y, ly = _einsum_sum(y, ly, {l for l in ly if l not in lx
                               and l not in keep})
    # size-1 dims broadcast against the other operand's size
    sx, sy = list(x.shape), list(y.shape)
    for i, l in enumerate(lx):
        if l in ly:
            j = ly.index(l)
            if sx[i] != sy[j]:
                if sx[i] == 1:
                    sx[i] = sy[j]
                elif sy[j] == 1:
                    sy[j] = sx[i]
    if tuple(sx) != x.shape:
        x = broadcast_to(x, tuple(sx))
    if tuple(sy) != y.shape:
        y = broadcast_to(y, tuple(sy))
    batch = [l for l in lx if l in ly and l in keep]
    contr = [l for l in lx if l in ly and l not in keep]
    xonly = [l for l in lx if l not in ly]
    yonly = [l for l in ly if l not in lx]
    dx = dict(zip(lx, sx))
    dy = dict(zip(ly, sy))
    px = [lx.index(l) for l in batch + xonly + contr]
    py = [ly.index(l) for l in batch + contr + yonly]
    if px != list(range(len(px))):
        x = permute(x, px)
    if py != list(range(len(py))):
        y = permute(y, py)
    B = int(np.prod([dx[l] for l in batch]))
    M = int(np.prod([dx[l] for l in xonly]))
    K = int(np.prod([dx[l] for l in contr]))
    N = int(np.prod([dy[l] for l in yonly]))
    if batch:
        out = matmul(E.reshape(x, (B, M, K)), E.reshape(y, (B, K, N)))
    else:
        out = matmul(E.reshape(x, (M, K)), E.reshape(y, (K, N)))
    shape = tuple(dx[l] for l in batch + xonly) + tuple(dy[l] for l in yonly)
    return E.reshape(out, shape), batch + xonly + yonly


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _sublist_equation(first, rest):
    """torch's sublist form einsum(op0, [0, 1], op1, [1, 2], [0, 2]):
    labels are ints in [0, 52) or Ellipsis; the equation string and the
    operands."""
    args = (first,) + tuple(rest)

    def term(sub):
        try:
            items = list(sub)
        except TypeError:
            raise TypeError("einsum(): a sublist must be a list of ints "
                            "(or Ellipsis), got %r" % (sub,)) from None
        out = []
        for v in items:
            if v is Ellipsis:
                out.append("...")
            elif isinstance(v, (int, np.integer)) and 0 <= v < 52:
                out.append(_LETTERS[int(v)])
            else:
                raise ShapeOpError("einsum(): subscript in subscript list "
                                   "is not within the valid range [0, 52): "
                                   "%r" % (v,))
        return "".join(out)

    pairs = len(args) // 2
    if pairs == 0:
        raise TypeError("einsum(): the equation must be a string (or "
                        "operands alternating with sublists), got %s"
                        % type(first).__name__)
    ops = [args[2 * i] for i in range(pairs)]
    eq = ",".join(term(args[2 * i + 1]) for i in range(pairs))
    if len(args) % 2:
        eq += "->" + term(args[-1])
    return eq, tuple(ops)


def einsum(equation, *operands):
    """torch.einsum: Einstein summation over the operands' labelled dims.

    Any equation torch accepts: implicit or explicit output (``->``),
    repeated subscripts in one operand (diagonals), ``...`` for broadcast
    dims, size-1 dims broadcasting.  Operands may be given as one list,
    or in torch's sublist form (op, [0, 1], op, [1, 2], [0, 2]).
    Computed by diagonal/sum/permute/reshape/broadcast and pairwise
    batched matmuls, left to right, so every step is a recorded op.

    Parameters
    ----------
    equation : str
        For example ``"ij,jk->ik"``.
    *operands : Tensor or array
        One per comma-separated term (or one list of them).

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        For an equation that does not fit the operands.

    Examples
    --------
    >>> ad.einsum('ij,j->i', ad.eye(2) * 3, ad.tensor([1.0, 2.0])).tolist()
    [3.0, 6.0]
    """
    if not isinstance(equation, str):
        equation, operands = _sublist_equation(equation, operands)
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    ops = [_as_tensor(o, "einsum") for o in operands]
    eq = equation.replace(" ", "")
    if "->" in eq:
        lhs, rhs = eq.split("->", 1)
        if "->" in rhs:
            raise ShapeOpError("einsum(): the equation %r has more than one "
                               "'->'" % equation)
    else:
        lhs, rhs = eq, None
    terms = lhs.split(",")
    if len(terms) > len(ops):
        raise ShapeOpError("einsum(): fewer operands were provided than "
                           "specified in the equation %r (%d operands)"
                           % (equation, len(ops)))
    if len(terms) < len(ops):
        raise ShapeOpError("einsum(): more operands were provided than "
                           "specified in the equation %r (%d operands)"
                           % (equation, len(ops)))
    if not ops:
        raise ShapeOpError("einsum(): must provide at least one operand")
    parsed = [_parse_term(t, equation) for t in terms]
    # ellipsis dims: right-aligned, labelled by ints (0 = outermost)
    n_ell = 0
    for k, (labels, t) in enumerate(zip(parsed, ops)):
        named = sum(1 for l in labels if l is not None)
        if None in labels:
            if named > t.ndim:
                raise ShapeOpError(
                    "einsum(): the number of subscripts in the equation "
                    "(%d) is more than the number of dimensions (%d) for "
                    "operand %d" % (named, t.ndim, k))
            n_ell = max(n_ell, t.ndim - named)
        elif named != t.ndim:
            raise ShapeOpError(
                "einsum(): the number of subscripts in the equation (%d) "
                "does not match the number of dimensions (%d) for operand "
                "%d and no ellipsis was given" % (named, t.ndim, k))
    full = []
    for labels, t in zip(parsed, ops):
        out = []
        for l in labels:
            if l is None:
                e = t.ndim - (len(labels) - 1)
                out.extend(range(n_ell - e, n_ell))
            else:
                out.append(l)
        full.append(out)
    ell_labels = list(range(n_ell))
    counts = {}
    for labels in full:
        for l in labels:
            counts[l] = counts.get(l, 0) + 1
    if rhs is None:
        out_labels = ell_labels + sorted(
            l for l, c in counts.items() if isinstance(l, str) and c == 1)
    else:
        plab = _parse_term(rhs, equation)
        out_labels = []
        for l in plab:
            if l is None:
                out_labels.extend(ell_labels)
            else:
                if l in out_labels:
                    raise ShapeOpError("einsum(): output subscript %s appears "
                                       "more than once in the output" % l)
                if l not in counts:
                    raise ShapeOpError("einsum(): output subscript %s does "
                                       "not appear in the equation for any "
                                       "input operand" % l)
                out_labels.append(l)
    # sizes: equal, or 1 (broadcast)
    sizes = {}
    for k, (labels, t) in enumerate(zip(full, ops)):
        own = {}
        for l, s in zip(labels, t.shape):
            if own.setdefault(l, s) != s:
                raise ShapeOpError(
                    "einsum(): subscript %s is repeated for operand %d but "
                    "the sizes don't match, %d != %d" % (l, k, own[l], s))
    for k, (labels, t) in enumerate(zip(full, ops)):
        for l, s in zip(labels, t.shape):
            if l in sizes and sizes[l] != s and 1 not in (sizes[l], s):
                raise ShapeOpError(
                    "einsum(): operands do not broadcast with remapped "
                    "shapes: subscript %s has size %d for operand %d which "
                    "does not broadcast with previously seen size %d"
                    % (l if isinstance(l, str) else "...", s, k, sizes[l]))
            if l not in sizes or sizes[l] == 1:
                sizes[l] = s
    ops = _promote(ops)
    # per operand: diagonals of repeated labels, then sum labels used
    # nowhere else
    cur = []
    for k, (labels, t) in enumerate(zip(full, ops)):
        labels = list(labels)
        while len(set(labels)) != len(labels):
            seen = {}
            for i, l in enumerate(labels):
                if l in seen:
                    a, b = seen[l], i
                    break
                seen[l] = i
            t = diagonal(t, 0, a, b)
            labels = [l for i, l in enumerate(labels) if i not in (a, b)] \
                + [labels[a]]
        others = set(out_labels)
        for j, lab in enumerate(full):
            if j != k:
                others.update(lab)
        t, labels = _einsum_sum(t, labels,
                                {l for l in labels if l not in others})
        cur.append((t, labels))
    acc, lacc = cur[0]
    for k in range(1, len(cur)):
        keep = set(out_labels)
        for _, lab in cur[k + 1:]:
            keep.update(lab)
        acc, lacc = _contract(acc, lacc, cur[k][0], cur[k][1], keep)
    # broadcast size-1 output dims seen larger elsewhere, then order
    acc, lacc = _einsum_sum(acc, lacc, {l for l in lacc
                                        if l not in out_labels})
    perm = [lacc.index(l) for l in out_labels]
    if perm != list(range(len(perm))):
        acc = permute(acc, perm)
    want = tuple(sizes[l] for l in out_labels)
    if acc.shape != want:
        acc = broadcast_to(acc, want)
    if acc is ops[0] or (len(ops) == 1 and acc is operands[0]):
        acc = acc * 1.0          # a new tensor, as torch (not an alias)
    return acc


def tensordot(a, b, dims=2):
    """torch.tensordot: contract dims of a with dims of b; dims is an int
    (a's last dims with b's first) or a pair of sequences of dims.

    Parameters
    ----------
    a, b : Tensor or array
    dims : int or pair of sequences of ints, default 2
        The number of trailing / leading dims contracted, or the dims.

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        When the contracted sizes differ.

    Examples
    --------
    >>> ad.tensordot(ad.ones(2, 3), ad.ones(3, 4), dims=1).shape
    (2, 4)
    """
    x, y = _as_tensor(a, "tensordot"), _as_tensor(b, "tensordot")
    if isinstance(dims, Tensor):
        dims = dims.tolist() if hasattr(dims, "tolist") else dims.numpy()\
            .tolist()
    if isinstance(dims, (int, np.integer)):
        d = int(dims)
        if d < 0:
            raise ShapeOpError("tensordot expects dims >= 0, but got "
                               "dims=%d" % d)
        if d > x.ndim or d > y.ndim:
            raise ShapeOpError("tensordot expects dims < ndim_a or ndim_b, "
                               "but got dims=%d (shapes %s and %s)"
                               % (d, x.shape, y.shape))
        da = list(range(x.ndim - d, x.ndim))
        db = list(range(d))
    else:
        try:
            da, db = dims
        except (TypeError, ValueError):
            raise ShapeOpError("tensordot: dims must be an int or a pair of "
                               "lists of dims, got %r" % (dims,))
        da = [da] if isinstance(da, (int, np.integer)) else list(da)
        db = [db] if isinstance(db, (int, np.integer)) else list(db)
        if len(da) != len(db):
            raise ShapeOpError("both dimension lists should have same "
                               "length (%d and %d)" % (len(da), len(db)))
        try:
            da = [int(i) + (x.ndim if int(i) < 0 else 0) for i in da]
            db = [int(i) + (y.ndim if int(i) < 0 else 0) for i in db]
        except (TypeError, ValueError):
            raise ShapeOpError("tensordot: dims must hold ints, got %r"
                               % (dims,))
        for i in da:
            if not 0 <= i < x.ndim:
                raise ShapeOpError("tensordot: dim %d out of range for a "
                                   "of shape %s" % (i, x.shape))
        for i in db:
            if not 0 <= i < y.ndim:
                raise ShapeOpError("tensordot: dim %d out of range for b "
                                   "of shape %s" % (i, y.shape))
        if len(set(da)) != len(da) or len(set(db)) != len(db):
            raise ShapeOpError("tensordot: a dim is repeated in %r"
                               % (dims,))
    for i, j in zip(da, db):
        if x.shape[i] != y.shape[j]:
            raise ShapeOpError(
                "contracted dimensions need to match, but first has size "
                "%d in dim %d and second has size %d in dim %d"
                % (x.shape[i], i, y.shape[j], j))
    x, y = _promote((x, y))
    fa = [i for i in range(x.ndim) if i not in da]
    fb = [j for j in range(y.ndim) if j not in db]
    if fa + da != list(range(x.ndim)):
        x = permute(x, fa + da)
    if db + fb != list(range(y.ndim)):
        y = permute(y, db + fb)
    M = int(np.prod([x.shape[i] for i in range(len(fa))]))
    K = int(np.prod(x.shape[len(fa):]))
    N = int(np.prod(y.shape[len(db):]))
    out_shape = x.shape[:len(fa)] + y.shape[len(db):]
    out = matmul(E.reshape(x, (M, K)), E.reshape(y, (K, N)))
    return E.reshape(out, out_shape)


def trace(x):
    """torch.trace: the sum of a matrix's main diagonal (2-D only).

    Parameters
    ----------
    x : Tensor or array
        2-D.

    Returns
    -------
    Tensor
        0-D.

    Raises
    ------
    ValueError
        For a tensor that is not 2-D.

    Examples
    --------
    >>> ad.trace(ad.tensor([[1.0, 2.0], [3.0, 4.0]])).item()
    5.0
    """
    t = _as_tensor(x, "trace")
    if t.ndim != 2:
        raise ShapeOpError("trace: expected a matrix, but got tensor with "
                           "dim %d (shape %s)" % (t.ndim, t.shape))
    return E.sum(diagonal(t, 0, 0, 1))


# ----------------------------------------------------------- decompositions

def _split(packed, shapes, batch):
    """The outputs of a multi-output engine op, packed along the last axis
    (batch + (total,)), as recorded narrow/reshape views."""
    res, start = [], 0
    for s in shapes:
        n = int(np.prod(s))
        res.append(E.reshape(narrow(packed, -1, start, n),
                             tuple(batch) + tuple(s)))
        start += n
    return res


# ----------------------------------- the engine's linalg op (ops_decomp.c)
#
# inv, solve, det, slogdet and cholesky are one engine op, ``linalg``, with
# a kind each: the forward calls LAPACK (cython_lapack pointers), the C
# backward is torch's formula fused, and a compiled replay reruns the
# forward (a singular matrix raises LinAlgError there too).  The rules
# below are the same formulas with recorded ops, for higher order
# (_derivatives.RULES["linalg"] dispatches to them by kind); the factors
# they need are recomputed through the op, so they differentiate again.


def _inv_of(A):
    """inv(A) inside a backward: the engine op (recorded when the backward
    is)."""
    return E._decomp("inv", [A])


def _rule_inv(node, out, g):
    # torch: -A^-H g A^-H, with X = A^-1 the output
    Xt = _mT(out)
    return [-matmul(Xt, matmul(g, Xt))]


def _rule_solve(node, out, g):
    # torch's linalg_solve_backward: gB = A^-T g, gA = -gB X^T
    A, B = node.inputs
    gB = E._decomp("solve", [_mT(A), g])
    return [-matmul(gB, _mT(out)), gB]


def _rule_det(node, out, g):
    # torch's linalg_det_backward: g det A^-T; at a singular A the cofactor
    # matrix through the SVD
    A, = node.inputs
    try:
        return [_colvec(_colvec(g * out)) * _mT(_inv_of(A))]
    except LinAlgError:
        return [_colvec(_colvec(g)) * _cofactor(A)]


def _rule_slogdet(node, out, g):
    # torch's slogdet_backward: g_logabsdet A^-T (the sign is constant)
    A, = node.inputs
    gl = E.reshape(narrow(g, -1, 1, 1), g.shape[:-1])
    return [_colvec(_colvec(gl)) * _mT(_inv_of(A))]


def _rule_cholesky(node, out, g):
    # torch's cholesky_backward (Murray 2016): phi = tril(L^T gL) with its
    # diagonal halved, gA = sym(L^{-T} phi L^{-1})
    L = out
    P = matmul(_mT(L), g)
    phi = tril(P) - 0.5 * P * _eye(L.shape[-1], L)
    Linv = _inv_of(L)
    S = matmul(_mT(Linv), matmul(phi, Linv))
    return [0.5 * (S + _mT(S))]


# the differentiable rule of each kind of the engine's linalg op
RULES = {"inv": _rule_inv, "solve": _rule_solve, "det": _rule_det,
         "slogdet": _rule_slogdet, "cholesky": _rule_cholesky}


def inv(A):
    """torch.linalg.inv: the inverse of square matrices (batched).
    Raises LinAlgError for a singular matrix.

    Parameters
    ----------
    A : Tensor or array
        ``(*, n, n)``, float32 or float64.

    Returns
    -------
    Tensor
        ``(*, n, n)``.

    Raises
    ------
    ValueError
        For a matrix that is not square (or of fewer than 2 dimensions).
    TypeError
        For an integer or bool dtype.
    LinAlgError
        (a RuntimeError and ValueError) when LAPACK fails: a singular matrix.

    Examples
    --------
    >>> ad.linalg.inv(ad.tensor([[2.0, 0.0], [0.0, 4.0]])).tolist()
    [[0.5, 0.0], [0.0, 0.25]]
    """
    t = _float_matrix(A, "linalg.inv")
    return E._decomp("inv", [t])


inverse = inv


def _unused(g):
    """Is g the zero gradient of an output the loss did not use (torch
    leaves it undefined and takes a shorter formula)?  Only a constant
    zero qualifies, so a recorded backward keeps every dependence."""
    return not g.requires_grad and not np.any(g.numpy())


def _cofactor(A):
    """The cofactor matrix of square A through its SVD (defined also for
    singular A, as torch's det backward there): det(U) det(Vh) U
    diag(prod_{j != i} s_j) Vh, recorded when the backward is."""
    n = A.shape[-1]
    U, S, Vh = svd(A, full_matrices=False)
    u, vh = U.numpy(), Vh.numpy()
    sign = _tensor_from(np.linalg.det(u) * np.linalg.det(vh),
                        dtype=A.dtype)
    cols = []
    for i in range(n):
        p = None
        for j in range(n):
            if j != i:
                sj = narrow(S, -1, j, 1)
                p = sj if p is None else p * sj
        cols.append(p if p is not None else
                    _tensor_from(np.ones(S.shape[:-1] + (1,)),
                                 dtype=A.dtype))
    prods = E.concatenate(cols, axis=-1) * _colvec(sign)
    return matmul(U * _rowvec(prods), Vh)


def det(A):
    """torch.linalg.det: the determinant of square matrices (batched).
    The gradient at a singular matrix is the cofactor matrix.

    Parameters
    ----------
    A : Tensor or array
        ``(*, n, n)``, float32 or float64.

    Returns
    -------
    Tensor
        ``(*)``.

    Raises
    ------
    ValueError
        For a matrix that is not square (or of fewer than 2 dimensions).
    TypeError
        For an integer or bool dtype.

    Examples
    --------
    >>> ad.linalg.det(ad.tensor([[2.0, 1.0], [1.0, 3.0]], dtype=ad.float64)).item()
    5.0
    """
    t = _float_matrix(A, "linalg.det")
    return E._decomp("det", [t])


def slogdet(A):
    """torch.linalg.slogdet: (sign, logabsdet) of square matrices; the
    gradient flows through logabsdet (sign is a constant).

    Parameters
    ----------
    A : Tensor or array
        ``(*, n, n)``, float32 or float64.

    Returns
    -------
    (sign, logabsdet) : namedtuple of Tensor
        Each ``(*)``.

    Raises
    ------
    ValueError
        For a matrix that is not square (or of fewer than 2 dimensions).
    TypeError
        For an integer or bool dtype.

    Examples
    --------
    >>> r = ad.linalg.slogdet(ad.tensor([[-2.0, 0.0], [0.0, 1.0]], dtype=ad.float64))
    >>> r.sign.item(), round(r.logabsdet.item(), 4)
    (-1.0, 0.6931)
    """
    t = _float_matrix(A, "linalg.slogdet")
    sign, logabsdet = _split(E._decomp("slogdet", [t]), [(), ()],
                             t.shape[:-2])
    return SlogdetResult(sign.detach(), logabsdet)


def solve(A, B, *, left=True):
    """torch.linalg.solve: X with A X = B (batched, batch dims broadcast;
    B is a vector or a batch of vectors when B.ndim == 1 or B.shape ==
    A.shape[:-1]).  Raises LinAlgError for a singular A.

    Parameters
    ----------
    A : Tensor or array
        ``(*, n, n)``, float32 or float64.
    B : Tensor or array
        ``(*, n, k)``, or ``(*, n)`` for vectors.
    left : bool, default True (keyword only)
        False solves X A = B.

    Returns
    -------
    Tensor
        X, of B's shape.

    Raises
    ------
    ValueError
        For a matrix that is not square (or of fewer than 2 dimensions).
    TypeError
        For an integer or bool dtype.
    LinAlgError
        (a RuntimeError and ValueError) when LAPACK fails: a singular matrix.

    Examples
    --------
    >>> ad.linalg.solve(ad.tensor([[2.0, 0.0], [0.0, 4.0]]), ad.tensor([2.0, 2.0])).tolist()
    [1.0, 0.5]
    """
    if not left:
        return _mT(solve(_mT(_as_tensor(A, "linalg.solve")),
                         _mT(_as_tensor(B, "linalg.solve"))))
    a = _float_matrix(A, "linalg.solve")
    b = _as_tensor(B, "linalg.solve")
    if b.dtype not in (E.float32, float64):
        raise TypeError("linalg.solve: expected a floating point B, got %s"
                        % b.dtype)
    n = a.shape[-1]
    vector = b.ndim == 1 or (b.ndim == a.ndim - 1 and b.shape == a.shape[:-1])
    if vector:
        b = E.reshape(b, b.shape + (1,))
    if b.shape[-2] != n:
        raise ShapeOpError("linalg.solve: Incompatible shapes of A and B for "
                           "the equation AX = B (%dx%d and %dx%d)"
                           % (n, n, b.shape[-2], b.shape[-1]))
    if a.dtype is not b.dtype:
        a = a if a.dtype is float64 else a.astype(float64)
        b = b if b.dtype is float64 else b.astype(float64)
    try:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ShapeOpError("linalg.solve: the batch dimensions of A %s and "
                           "B %s do not broadcast" % (a.shape, b.shape)) \
            from None
    if a.shape[:-2] != batch:
        a = broadcast_to(a, batch + a.shape[-2:])
    if b.shape[:-2] != batch:
        b = broadcast_to(b, batch + b.shape[-2:])
    x = E._decomp("solve", [a, b])
    if vector:
        x = E.reshape(x, x.shape[:-1])
    return x


def cholesky(A, *, upper=False):
    """torch.linalg.cholesky: L lower triangular with A = L L^T (reads
    the lower triangle of A, as LAPACK); upper=True returns L^T.  Raises
    LinAlgError when A is not positive definite.

    Parameters
    ----------
    A : Tensor or array
        ``(*, n, n)``, float32 or float64.
        Symmetric positive definite.
    upper : bool, default False (keyword only)
        Return L^T.

    Returns
    -------
    Tensor
        ``(*, n, n)``.

    Raises
    ------
    ValueError
        For a matrix that is not square (or of fewer than 2 dimensions).
    TypeError
        For an integer or bool dtype.
    LinAlgError
        (a RuntimeError and ValueError) when LAPACK fails: A not positive
        definite.

    Examples
    --------
    >>> ad.linalg.cholesky(ad.tensor([[4.0, 2.0], [2.0, 2.0]])).tolist()
    [[2.0, 0.0], [1.0, 1.0]]
    """
    t = _float_matrix(A, "linalg.cholesky")
    L = E._decomp("cholesky", [t])
    return _mT(L) if upper else L


def _qr_square_backward(Q, R, gQ, gR):
    # torch's linalg_qr_backward, m >= n:
    # gA = [gQ + Q copyltu(M)] R^{-T},  M = R gR^T - gQ^T Q
    M = matmul(R, _mT(gR)) - matmul(_mT(gQ), Q)
    lowM = tril(M, -1)
    cop = lowM + _mT(lowM) + M * _eye(M.shape[-1], M)
    return matmul(gQ + matmul(Q, cop), _mT(_inv_of(R)))


def _qr_shapes(m, n, full):
    c = m if full else min(m, n)
    return [(m, c), (c, n)]


def _rule_qr(node, out, g):
    # torch's linalg_qr_backward (the C backward's formula)
    A, = node.inputs
    m, n = A.shape[-2], A.shape[-1]
    full = bool(node.attrs.full)
    if full and m > n:
        raise RuntimeError("The QR decomposition is not differentiable "
                           "when mode='complete' and nrows > ncols.")
    shapes = _qr_shapes(m, n, full)
    Q, R = _split(out, shapes, A.shape[:-2])
    gQ, gR = _split(g, shapes, A.shape[:-2])
    if m >= n:
        return [_qr_square_backward(Q, R, gQ, gR)]
    # m < n: A = [X | Y], R = [U | V] with X = Q U square
    U = narrow(R, -1, 0, m)
    gU = narrow(gR, -1, 0, m)
    gV = narrow(gR, -1, m, n - m)
    Y = narrow(A, -1, m, n - m)
    gQ2 = gQ + matmul(Y, _mT(gV))
    gX = _qr_square_backward(Q, U, gQ2, gU)
    gY = matmul(Q, gV)
    return [E.concatenate([gX, gY], axis=-1)]


RULES["qr"] = _rule_qr


def qr(A, mode="reduced"):
    """torch.linalg.qr: (Q, R) with A = Q R, mode 'reduced' (Q m x k, R
    k x n, k = min(m, n)) or 'complete' (Q m x m).

    Parameters
    ----------
    A : Tensor or array
        ``(*, m, n)``.
    mode : {"reduced", "complete"}, default "reduced"

    Returns
    -------
    (Q, R) : namedtuple of Tensor

    Raises
    ------
    ValueError
        For fewer than 2 dimensions or another mode.
    TypeError
        For an integer or bool dtype.

    Examples
    --------
    >>> Q, R = ad.linalg.qr(ad.randn(4, 3, dtype=ad.float64))
    >>> Q.shape, R.shape, ad.allclose(Q @ R, Q @ R)
    ((4, 3), (3, 3), True)
    """
    t = _float_matrix(A, "linalg.qr", square=False)
    if mode not in ("reduced", "complete"):
        raise ValueError("qr received unrecognized mode %r but expected one "
                         "of 'reduced' (default), 'complete'" % (mode,))
    m, n = t.shape[-2], t.shape[-1]
    full = mode == "complete"
    Q, R = _split(E._decomp("qr", [t], False, full), _qr_shapes(m, n, full),
                  t.shape[:-2])
    return QRResult(Q, R)


def _eigh_backward(L, V, gL, gV):
    # torch's linalg_eig_backward(is_hermitian=True):
    # gA = V (skew(V^T gV) / E + diag(gL)) V^T, E_ij = L_j - L_i
    n = L.shape[-1]
    if _unused(gV):     # eigenvalues only: V diag(gL) V^T
        return matmul(V * _rowvec(gL), _mT(V))
    VtgV = matmul(_mT(V), gV)
    skew = 0.5 * (VtgV - _mT(VtgV))
    Ed = _rowvec(L) - _colvec(L) + _eye(n, L)
    inner = skew / Ed + _diag_embed(gL)
    return matmul(V, matmul(inner, _mT(V)))


def _rule_eigh(node, out, g):
    A, = node.inputs
    n = A.shape[-1]
    L, V = _split(out, [(n,), (n, n)], A.shape[:-2])
    gL, gV = _split(g, [(n,), (n, n)], A.shape[:-2])
    return [_eigh_backward(L, V, gL, gV)]


def _rule_eigvalsh(node, out, g):
    # torch's linalg_eig_backward with gV undefined: V diag(gL) V^T, V
    # recomputed through the op (a function of A)
    A, = node.inputs
    V = eigh(A, "U" if node.attrs.upper else "L").eigenvectors
    return [matmul(V * _rowvec(g), _mT(V))]


RULES["eigh"] = _rule_eigh
RULES["eigvalsh"] = _rule_eigvalsh


def _uplo(UPLO, fname):
    if UPLO not in ("L", "U"):
        raise ValueError("%s: UPLO must be 'L' or 'U', got %r"
                         % (fname, UPLO))
    return UPLO == "U"


def eigh(A, UPLO="L"):
    """torch.linalg.eigh: eigenvalues (ascending) and eigenvectors (the
    columns) of symmetric matrices, reading the UPLO triangle.  The
    gradient is torch's: it divides by eigenvalue gaps, so it is
    inf/nan for repeated eigenvalues, and only losses invariant to each
    eigenvector's sign are well defined.

    Parameters
    ----------
    A : Tensor or array
        ``(*, n, n)``, float32 or float64.
        Symmetric.
    UPLO : {"L", "U"}, default "L"
        The triangle read.

    Returns
    -------
    (eigenvalues, eigenvectors) : namedtuple of Tensor
        ``(*, n)`` and ``(*, n, n)``.

    Raises
    ------
    ValueError
        For a matrix that is not square (or of fewer than 2 dimensions).
    TypeError
        For an integer or bool dtype.
    LinAlgError
        (a RuntimeError and ValueError) when LAPACK fails: no convergence.

    Examples
    --------
    >>> ad.linalg.eigh(ad.tensor([[2.0, 0.0], [0.0, 1.0]])).eigenvalues.tolist()
    [1.0, 2.0]
    """
    t = _float_matrix(A, "linalg.eigh")
    n = t.shape[-1]
    L, V = _split(E._decomp("eigh", [t], _uplo(UPLO, "linalg.eigh")),
                  [(n,), (n, n)], t.shape[:-2])
    return EighResult(L, V)


def eigvalsh(A, UPLO="L"):
    """torch.linalg.eigvalsh: the eigenvalues (ascending) of symmetric
    matrices; the gradient V diag(g) V^T is finite at repeated values.

    Parameters
    ----------
    A : Tensor or array
        ``(*, n, n)``, float32 or float64.
        Symmetric.
    UPLO : {"L", "U"}, default "L"

    Returns
    -------
    Tensor
        ``(*, n)``.

    Raises
    ------
    ValueError
        For a matrix that is not square (or of fewer than 2 dimensions).
    TypeError
        For an integer or bool dtype.
    LinAlgError
        (a RuntimeError and ValueError) when LAPACK fails: no convergence.

    Examples
    --------
    >>> ad.linalg.eigvalsh(ad.tensor([[2.0, 1.0], [1.0, 2.0]])).tolist()
    [1.0, 3.0]
    """
    t = _float_matrix(A, "linalg.eigvalsh")
    return E._decomp("eigvalsh", [t], _uplo(UPLO, "linalg.eigvalsh"))


def _svd_backward(gU, gS, gVh, U, S, Vh):
    # torch's svd_backward (real case), reduced factors
    m, n = U.shape[-2], Vh.shape[-1]
    k = S.shape[-1]
    if _unused(gU) and _unused(gVh):    # singular values only
        return matmul(U * _rowvec(gS), Vh)
    UhgU = matmul(_mT(U), gU)
    UhgU = UhgU - _mT(UhgU)
    VhgV = matmul(Vh, _mT(gVh))
    VhgV = VhgV - _mT(VhgV)
    S2 = S * S
    Ed = _rowvec(S2) - _colvec(S2) + _eye(k, S)
    ret = (UhgU * _rowvec(S) + _colvec(S) * VhgV) / Ed + _diag_embed(gS)
    if m > n:
        gA = matmul(U, ret)
        gUSinv = gU / _rowvec(S)
        gA = gA + gUSinv - matmul(U, matmul(_mT(U), gUSinv))
        return matmul(gA, Vh)
    if m < n:
        gA = matmul(ret, Vh)
        SinvgVh = gVh / _colvec(S)
        gA = gA + SinvgVh - matmul(matmul(SinvgVh, _mT(Vh)), Vh)
        return matmul(U, gA)
    return matmul(U, matmul(ret, Vh))


def _svd_shapes(m, n, full):
    k = min(m, n)
    if full:
        return [(m, m), (k,), (n, n)]
    return [(m, k), (k,), (k, n)]


def _rule_svd(node, out, g):
    A, = node.inputs
    m, n = A.shape[-2], A.shape[-1]
    full = bool(node.attrs.full)
    shapes = _svd_shapes(m, n, full)
    U, S, Vh = _split(out, shapes, A.shape[:-2])
    gU, gS, gVh = _split(g, shapes, A.shape[:-2])
    if full:            # as torch: the first k columns / rows
        k = min(m, n)
        U, gU = narrow(U, -1, 0, k), narrow(gU, -1, 0, k)
        Vh, gVh = narrow(Vh, -2, 0, k), narrow(gVh, -2, 0, k)
    return [_svd_backward(gU, gS, gVh, U, S, Vh)]


def _rule_svdvals(node, out, g):
    # torch's svd_backward with gU, gVh undefined: U diag(gS) Vh, the
    # factors recomputed through the op (functions of A)
    A, = node.inputs
    U, _, Vh = svd(A, full_matrices=False)
    return [matmul(U * _rowvec(g), Vh)]


RULES["svd"] = _rule_svd
RULES["svdvals"] = _rule_svdvals


def svd(A, full_matrices=True):
    """torch.linalg.svd: (U, S, Vh) with A = U diag(S) Vh, S descending.
    The gradient is torch's svd_backward (with full_matrices=True only the
    first min(m, n) columns of U / rows of Vh carry gradient, as torch);
    it divides by gaps of squared singular values, and singular vectors
    are defined up to sign, as in torch.

    Parameters
    ----------
    A : Tensor or array
        ``(*, m, n)``.
    full_matrices : bool, default True
        U ``(*, m, m)`` and Vh ``(*, n, n)``; False: k = min(m, n) columns.

    Returns
    -------
    (U, S, Vh) : namedtuple of Tensor

    Raises
    ------
    ValueError
        For fewer than 2 dimensions.
    TypeError
        For an integer or bool dtype.
    LinAlgError
        (a RuntimeError and ValueError) when LAPACK fails: no convergence.

    Examples
    --------
    >>> U, S, Vh = ad.linalg.svd(ad.ones(3, 2), full_matrices=False)
    >>> U.shape, [round(s, 4) for s in S.tolist()], Vh.shape
    ((3, 2), [2.4495, 0.0], (2, 2))
    """
    t = _float_matrix(A, "linalg.svd", square=False)
    m, n = t.shape[-2], t.shape[-1]
    full = bool(full_matrices)
    U, S, Vh = _split(E._decomp("svd", [t], False, full),
                      _svd_shapes(m, n, full), t.shape[:-2])
    return SVDResult(U, S, Vh)


def svdvals(A):
    """torch.linalg.svdvals: the singular values, descending.

    Parameters
    ----------
    A : Tensor or array
        ``(*, m, n)``.

    Returns
    -------
    Tensor
        ``(*, min(m, n))``.

    Raises
    ------
    ValueError
        For fewer than 2 dimensions.
    TypeError
        For an integer or bool dtype.

    Examples
    --------
    >>> ad.linalg.svdvals(ad.tensor([[3.0, 0.0], [0.0, -4.0]])).tolist()
    [4.0, 3.0]
    """
    t = _float_matrix(A, "linalg.svdvals", square=False)
    return E._decomp("svdvals", [t])


def _keep(S, m, n, atol, rtol):
    """The bool mask S > max(atol, rtol * s_max) with recorded ops (S
    descending, not empty: s_max is S[..., :1]); rtol defaults to
    eps * max(m, n) when atol is not given.  A compiled replay decides on
    its own input's values."""
    if rtol is None:
        rtol = (np.finfo(np.float32 if S.dtype is E.float32
                         else np.float64).eps * max(m, n)) \
            if not atol else 0.0
    cut = narrow(S, -1, 0, 1) * float(rtol)
    if atol:
        cut = E.maximum(cut, _tensor_from(np.full(cut.shape, atol),
                                          dtype=cut.dtype))
    return S > cut


def matrix_rank(A, *, atol=None, rtol=None, hermitian=False):
    """torch.linalg.matrix_rank: the number of singular values above
    max(atol, rtol * s_max) (rtol defaults to eps * max(m, n) when atol
    is not given), as an int64 tensor; not differentiable.

    Parameters
    ----------
    A : Tensor or array
        ``(*, m, n)``.
    atol, rtol : float, optional (keyword only)
        The tolerances.
    hermitian : bool, default False (keyword only)
        Accepted; the SVD is used either way.

    Returns
    -------
    Tensor
        int64, ``(*)``.

    Raises
    ------
    ValueError
        For fewer than 2 dimensions.
    TypeError
        For an integer or bool dtype.

    Examples
    --------
    >>> ad.linalg.matrix_rank(ad.ones(3, 3)).item()
    1
    """
    t = _float_matrix(A, "linalg.matrix_rank", square=False)
    m, n = t.shape[-2], t.shape[-1]
    with _no_grad():
        S = svdvals(t)
        if not S.shape[-1]:
            return _tensor_from(np.zeros(S.shape[:-1], np.int64),
                                dtype=E.int64)
        return E.sum(_keep(S, m, n, atol, rtol).astype(E.int64), axis=-1)


def pinv(A, *, atol=None, rtol=None, hermitian=False):
    """torch.linalg.pinv: the pseudo-inverse through the SVD; singular
    values at most max(atol, rtol * s_max) are dropped (rtol defaults to
    eps * max(m, n) when neither is given).

    Parameters
    ----------
    A : Tensor or array
        ``(*, m, n)``.
    atol, rtol : float, optional (keyword only)
        The tolerances.
    hermitian : bool, default False (keyword only)
        Accepted; the SVD is used either way.

    Returns
    -------
    Tensor
        ``(*, n, m)``.

    Raises
    ------
    ValueError
        For fewer than 2 dimensions.
    TypeError
        For an integer or bool dtype.

    Examples
    --------
    >>> ad.linalg.pinv(ad.tensor([[2.0, 0.0], [0.0, 0.0]])).tolist()
    [[0.5, 0.0], [0.0, 0.0]]
    """
    t = _float_matrix(A, "linalg.pinv", square=False)
    m, n = t.shape[-2], t.shape[-1]
    U, S, Vh = svd(t, full_matrices=False)
    if S.shape[-1]:
        keep = _keep(S, m, n, atol, rtol)
        one = _tensor_from(np.ones(S.shape), dtype=S.dtype)
        Sinv = E.where(keep, one, 0.0) / (S + E.where(keep, 0.0, one))
    else:
        Sinv = S
    return matmul(_mT(Vh) * _rowvec(Sinv), _mT(U))
