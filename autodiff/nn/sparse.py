"""Embedding layers (torch.nn.Embedding, EmbeddingBag): torch's
constructor arguments, the parameter `weight` (num_embeddings,
embedding_dim) initialised N(0, 1) with the padding_idx row zeroed, and
from_pretrained."""
from .. import _creation, _embedding, _engine
from .._device import check_device
from .._grad_mode import no_grad
from . import init
from .modules import Module, Parameter

__all__ = ["Embedding", "EmbeddingBag"]


def _check_sizes(name, num_embeddings, embedding_dim):
    for arg, v in (("num_embeddings", num_embeddings),
                   ("embedding_dim", embedding_dim)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ValueError("%s: %s must be a non-negative integer, got %r"
                             % (name, arg, v))


class _EmbeddingBase(Module):
    def _setup(self, num_embeddings, embedding_dim, padding_idx, _weight,
               _freeze, device, dtype, generator):
        check_device(device)
        name = type(self).__name__
        _check_sizes(name, num_embeddings, embedding_dim)
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = _embedding._padding_idx(padding_idx,
                                                   num_embeddings, name)
        if _weight is None:
            w = _creation.zeros(num_embeddings, embedding_dim,
                                dtype=dtype or _engine.float32)
            self.weight = Parameter(w, requires_grad=not _freeze)
            self.reset_parameters(generator)
        else:
            w = _weight if isinstance(_weight, _engine.Tensor) \
                else _creation.tensor(_weight)
            if tuple(w.shape) != (num_embeddings, embedding_dim):
                raise ValueError("Shape of weight does not match "
                                 "num_embeddings and embedding_dim")
            self.weight = Parameter(w.detach(), requires_grad=not _freeze)

    def reset_parameters(self, generator=None):
        """Draw the weight again from N(0, 1) (the padding_idx row zeroed).

        Parameters
        ----------
        generator : numpy.random.Generator, optional
            Draw from it instead of the default generator.
        """
        init.normal_(self.weight, generator=generator)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, **kw):
        """A layer holding `embeddings` as its weight (torch's
        from_pretrained).

        Parameters
        ----------
        embeddings : Tensor
            ``(num_embeddings, embedding_dim)``.
        freeze : bool, default True
            No gradient for the weight (torch's default).
        **kw
            The layer's other arguments (padding_idx, max_norm, mode, ...).

        Returns
        -------
        Embedding or EmbeddingBag

        Raises
        ------
        ValueError
            When `embeddings` is not a 2-D tensor.

        Examples
        --------
        >>> e = nn.Embedding.from_pretrained(ad.eye(3))
        >>> e(ad.tensor([2])).tolist(), e.weight.requires_grad
        ([[0.0, 0.0, 1.0]], False)
        """
        if not isinstance(embeddings, _engine.Tensor) or \
                embeddings.ndim != 2:
            raise ValueError("Embeddings parameter is expected to be "
                             "2-dimensional")
        n, d = embeddings.shape
        return cls(n, d, _weight=embeddings, _freeze=freeze, **kw)


class Embedding(_EmbeddingBase):
    """A lookup table of num_embeddings vectors (torch.nn.Embedding): row i
    of the weight for index i.  The weight starts N(0, 1); the padding_idx
    row is zero and gets no gradient.

    Parameters
    ----------
    num_embeddings : int
        The size of the table.
    embedding_dim : int
        The size of each vector.
    padding_idx : int, optional
        An index whose row is zero and not trained.
    max_norm : float, optional
        Rows looked up with a larger norm are renormalized in place (as
        torch).
    norm_type : float, default 2.0
        The p of max_norm's norm.
    scale_grad_by_freq : bool, default False
        True is not supported (NotImplementedError when called).
    sparse : bool, default False
        Accepted; gradients are dense.
    device : str or device, optional
        "cpu" or None.
    dtype : dtype, optional
        The weight's dtype (float32 by default).
    generator : numpy.random.Generator, optional
        Draw the initial weight from it.

    Raises
    ------
    ValueError
        For negative sizes or a padding_idx out of range.
    IndexError
        (calling it) for an index out of range.

    Shape
    -----
    - Input: int64 indices of any shape ``(*)``.
    - Output: ``(*, embedding_dim)``.

    Examples
    --------
    >>> nn.Embedding(10, 4)(ad.tensor([[1, 2, 3]])).shape
    (1, 3, 4)
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None,
                 max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
                 sparse=False, _weight=None, _freeze=False, device=None,
                 dtype=None, generator=None):
        super().__init__()
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        self._setup(num_embeddings, embedding_dim, padding_idx, _weight,
                    _freeze, device, dtype, generator)

    def forward(self, input):
        return _embedding.embedding(input, self.weight, self.padding_idx,
                                    self.max_norm, self.norm_type,
                                    self.scale_grad_by_freq, self.sparse)

    def extra_repr(self):
        s = "%d, %d" % (self.num_embeddings, self.embedding_dim)
        if self.padding_idx is not None:
            s += ", padding_idx=%d" % self.padding_idx
        if self.max_norm is not None:
            s += ", max_norm=%s" % self.max_norm
        return s


class EmbeddingBag(_EmbeddingBase):
    """The sum, mean or max of bags of embedding rows, without forming the
    rows (torch.nn.EmbeddingBag).  Call it as ``layer(input, offsets=None,
    per_sample_weights=None)``: a 2-D input is one bag per row; a 1-D input
    is cut into bags at `offsets`.

    Parameters
    ----------
    num_embeddings : int
    embedding_dim : int
    max_norm : float, optional
        As Embedding's.
    norm_type : float, default 2.0
    scale_grad_by_freq : bool, default False
        True is not supported (NotImplementedError when called).
    mode : {"sum", "mean", "max"}, default "mean"
    sparse : bool, default False
        Accepted; gradients are dense.
    include_last_offset : bool, default False
        offsets has one more entry, the end of the last bag.
    padding_idx : int, optional
        Its rows are left out of the bags.
    device : str or device, optional
    dtype : dtype, optional
    generator : numpy.random.Generator, optional

    Raises
    ------
    ValueError
        For an unknown mode or bad sizes, or (calling it) bad offsets.

    Shape
    -----
    - Input: ``(B, N)`` (B bags of N) or ``(N,)`` with offsets ``(B,)``.
    - Output: ``(B, embedding_dim)``.

    Examples
    --------
    >>> bag = nn.EmbeddingBag(10, 3, mode="sum")
    >>> bag(ad.tensor([1, 2, 4, 5]), ad.tensor([0, 2])).shape
    (2, 3)
    """

    def __init__(self, num_embeddings, embedding_dim, max_norm=None,
                 norm_type=2.0, scale_grad_by_freq=False, mode="mean",
                 sparse=False, _weight=None, include_last_offset=False,
                 padding_idx=None, device=None, dtype=None, generator=None):
        super().__init__()
        if mode not in ("sum", "mean", "max"):
            raise ValueError("mode has to be one of sum, mean or max, got "
                             "%r" % (mode,))
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.mode = mode
        self.sparse = sparse
        self.include_last_offset = include_last_offset
        self._setup(num_embeddings, embedding_dim, padding_idx, _weight,
                    False, device, dtype, generator)

    def forward(self, input, offsets=None, per_sample_weights=None):
        return _embedding.embedding_bag(
            input, self.weight, offsets, self.max_norm, self.norm_type,
            self.scale_grad_by_freq, self.mode, self.sparse,
            per_sample_weights, self.include_last_offset, self.padding_idx)

    def extra_repr(self):
        return "%d, %d, mode='%s'" % (self.num_embeddings,
                                      self.embedding_dim, self.mode)
