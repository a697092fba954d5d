"""summary(model, input_size): a table of the layers a forward pass runs,
their output shapes and parameter counts (as torchsummary / torchinfo)."""
from .. import _creation, _engine
from .._grad_mode import no_grad
from .modules import Module

__all__ = ["summary"]


def _shape_str(out):
    if isinstance(out, _engine.Tensor):
        return str(list(out.shape))
    if isinstance(out, (tuple, list)):
        return ", ".join(_shape_str(o) for o in out)
    return type(out).__name__


def summary(model, input_size, dtypes=None, print_summary=True):
    """Run model once on zeros of input_size and print, for every module
    that ran (in call order, with its dotted name and type), its output
    shape and the number of parameters it holds itself, then the total,
    trainable and non-trainable parameter counts.

    Parameters
    ----------
    model : Module
        The model (its train/eval mode is kept; no gradients recorded).
    input_size : tuple of int, or list of tuples
        The full shape of each input, batch dimension included
        (torchinfo's convention).
    dtypes : dtype or list of dtypes, optional
        The dtype of each input (default float32; int64 for embeddings).
    print_summary : bool
        Print the table (it is returned either way).

    Returns
    -------
    str
        The table.
    """
    if not isinstance(model, Module):
        raise TypeError("summary: model must be a Module, got %s"
                        % type(model).__name__)
    sizes = input_size
    if not (isinstance(sizes, list) and sizes and
            all(isinstance(s, (tuple, list)) for s in sizes)):
        sizes = [sizes]
    for s in sizes:
        if not (isinstance(s, (tuple, list)) and
                all(isinstance(d, int) and d >= 0 for d in s)):
            raise ValueError("summary: input_size must be a shape (a tuple of "
                             "non-negative ints) or a list of shapes, got %r"
                             % (input_size,))
    if dtypes is None:
        dtypes = [_engine.float32] * len(sizes)
    elif not isinstance(dtypes, (list, tuple)):
        dtypes = [dtypes]
    if len(dtypes) != len(sizes):
        raise ValueError("summary: %d dtypes for %d inputs"
                         % (len(dtypes), len(sizes)))
    names = {id(m): n for n, m in model.named_modules()}
    rows, handles = [], []

    def hook(m, args, out):
        own = sum(p.numel() for p in m.parameters(recurse=False))
        rows.append(("%s (%s)" % (names[id(m)], type(m).__name__),
                     _shape_str(out), own))
    try:
        for m in model.modules():
            if m is not model:
                handles.append(m.register_forward_hook(hook))
        inputs = [_creation.zeros(*s, dtype=dt)
                  for s, dt in zip(sizes, dtypes)]
        with no_grad():
            out = model(*inputs)
    finally:
        for h in handles:
            h.remove()
    rows.insert(0, (type(model).__name__, _shape_str(out),
                 sum(p.numel() for p in model.parameters(recurse=False))))
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    w0 = max([len("Layer (type)")] + [len(r[0]) for r in rows])
    w1 = max([len("Output Shape")] + [len(r[1]) for r in rows])
    w2 = max([len("Param #")] + [len("{:,}".format(r[2])) for r in rows])
    width = w0 + w1 + w2 + 4
    fmt = "%-{}s  %-{}s  %{}s".format(w0, w1, w2)
    lines = ["=" * width, fmt % ("Layer (type)", "Output Shape", "Param #"),
             "=" * width]
    lines += [fmt % (n, s, "{:,}".format(c)) for n, s, c in rows]
    lines += ["=" * width,
              "Total params: {:,}".format(total),
              "Trainable params: {:,}".format(trainable),
              "Non-trainable params: {:,}".format(total - trainable),
              "=" * width]
    text = "\n".join(lines)
    if print_summary:
        print(text)
    return text
