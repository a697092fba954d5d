"""The docstrings of the engine's functions (the Cython module's, whose
compiled functions carry only their signature), attached at import as
PyTorch's torch/_torch_docs.py does: families of ops (elementwise,
comparisons, reductions) from one template each, the rest one by one.
Also the Tensor methods that mirror a module function, which point at it
("See :func:`autodiff.exp`") as PyTorch's Tensor methods do.

Nothing here changes behaviour; tests/test_docstrings.py checks the
result and runs every example."""
from . import _engine

_CONVERT = """\
    The input; data that is not a tensor (a number, list or numpy array)
    is converted first (a copy, with the dtype :func:`autodiff.tensor`
    infers)."""

_UNARY = """\
{summary}

Elementwise, differentiable{grad_note}.  {dtype_note}

Parameters
----------
{arg} : Tensor, array or number
{convert}{extra_params}

Returns
-------
Tensor
    A new tensor of the shape of `{arg}`.

Raises
------
TypeError
    When `{arg}` is a str, bytes, dict, set or None.{extra_raises}

Examples
--------
>>> {example}
{output}
"""

_FLOAT_NOTE = ("float32 and float64 keep their dtype; int64 and bool "
               "inputs are computed in float32, as torch's default float "
               "dtype")
_INT_NOTE = ("float32, float64 and int64 keep their dtype (bool becomes "
             "int64), as torch")

# name: (summary, example input, exact output or None (rounded to 4),
#        keeps integers)
_UNARY_OPS = {
    "negative": ("Negation, ``-x`` (torch.negative, torch.neg).",
                 "[1.0, -2.0]", None, True),
    "exp": ("The exponential, e^x.", "[0.0, 1.0]", None, False),
    "log": ("The natural logarithm (NaN below 0, -inf at 0).",
            "[1.0, 2.0]", None, False),
    "sqrt": ("The square root (NaN below 0).", "[4.0, 2.0]", None, False),
    "abs": ("The absolute value, |x|.", "[-1.5, 2.0]", None, True),
    "sin": ("The sine (radians).", "[0.0, 1.0]", None, False),
    "cos": ("The cosine (radians).", "[0.0, 1.0]", None, False),
    "tan": ("The tangent (radians).", "[0.0, 1.0]", None, False),
    "square": ("The square, x * x.", "[-3.0, 0.5]", None, True),
    "atan": ("The inverse tangent (torch.atan, torch.arctan).",
             "[0.0, 1.0]", None, False),
    "asin": ("The inverse sine (NaN outside [-1, 1]).", "[0.0, 1.0]",
             None, False),
    "acos": ("The inverse cosine (NaN outside [-1, 1]).", "[0.0, 1.0]",
             None, False),
    "sinh": ("The hyperbolic sine.", "[0.0, 1.0]", None, False),
    "cosh": ("The hyperbolic cosine.", "[0.0, 1.0]", None, False),
    "asinh": ("The inverse hyperbolic sine.", "[0.0, 1.0]", None, False),
    "acosh": ("The inverse hyperbolic cosine (NaN below 1).", "[1.0, 2.0]",
              None, False),
    "atanh": ("The inverse hyperbolic tangent (NaN outside [-1, 1]).",
              "[0.0, 0.5]", None, False),
    "log1p": ("log(1 + x), accurate for small x.", "[0.0, 1.0]", None,
              False),
    "expm1": ("e^x - 1, accurate for small x.", "[0.0, 1.0]", None, False),
    "log2": ("The base-2 logarithm.", "[1.0, 8.0]", None, False),
    "log10": ("The base-10 logarithm.", "[1.0, 1000.0]", None, False),
    "exp2": ("2 to the power x.", "[0.0, 3.0]", None, False),
    "reciprocal": ("1 / x.", "[2.0, -4.0]", None, False),
    "rsqrt": ("1 / sqrt(x).", "[4.0, 0.25]", None, False),
    "sign": ("-1, 0 or 1 by the sign of x (NaN stays NaN); zero "
             "gradient.", "[-2.0, 0.0, 3.0]", None, True),
    "floor": ("The largest integer not above x; zero gradient.",
              "[-1.5, 1.5]", None, True),
    "ceil": ("The smallest integer not below x; zero gradient.",
             "[-1.5, 1.5]", None, True),
    "trunc": ("x rounded toward zero; zero gradient.", "[-1.5, 1.5]", None,
              True),
    "frac": ("The fractional part, x - trunc(x) (gradient 1).",
             "[-1.5, 2.25]", None, False),
    "erf": ("The error function, 2/sqrt(pi) times the integral of "
            "e^(-t^2) from 0 to x.", "[0.0, 1.0]", None, False),
    "sigmoid": ("The logistic function 1 / (1 + e^-x), computed stably.",
                "[0.0, 2.0]", None, False),
    "tanh": ("The hyperbolic tangent.", "[0.0, 1.0]", None, False),
    "relu": ("max(x, 0); gradient 1 for x > 0, else 0.", "[-1.0, 2.0]",
             None, True),
    "selu": ("scale * elu(x, alpha) with the self-normalising constants "
             "(alpha = 1.6733, scale = 1.0507), as torch.",
             "[-1.0, 1.0]", None, False),
    "gelu": ("x Phi(x), Phi the standard normal CDF (the exact erf form, "
             "torch's approximate='none').", "[-1.0, 1.0]", None, False),
    "silu": ("x sigmoid(x), also called swish.", "[-1.0, 1.0]", None,
             False),
}


def _set(obj, doc):
    obj.__doc__ = doc


def _fmt_example(call, exact):
    return call + ".numpy().round(4).tolist()"


def _run(example):
    """The printed output of a template's example: written out in
    _OUTPUTS (at the end), which the doctests of tests/test_docstrings.py
    check against the code (a missing entry fails that test)."""
    return _OUTPUTS.get(example, "<no output written for this example>")


def _unary_doc(name, summary, inp, keeps_int, arg="x", extra_params="",
               extra_raises="", call=None, grad_note=""):
    call = call or "ad.%s(ad.tensor(%s, dtype=ad.float64))" % (name, inp)
    example = _fmt_example(call, False)
    return _UNARY.format(
        summary=summary, arg=arg, convert=_CONVERT.replace(
            "    The input", "    The input", 1),
        dtype_note=(_INT_NOTE if keeps_int else _FLOAT_NOTE).capitalize()
        + ".", extra_params=extra_params, extra_raises=extra_raises,
        example=example, output=_run(example), grad_note=grad_note)


def _attach_unary():
    for name, (summary, inp, _, keeps) in _UNARY_OPS.items():
        _set(getattr(_engine, name), _unary_doc(name, summary, inp, keeps))
    _set(_engine.round, _unary_doc(
        "round", "Round half to even (torch.round); with `decimals`, to that "
        "many decimal places (negative: to tens, hundreds, ...), scaled by "
        "10**decimals as torch.", None, True,
        extra_params="""
decimals : int, default 0 (keyword only)
    The number of decimal places.""", extra_raises="""
    When `decimals` is not an int.""",
        call="ad.round(ad.tensor([0.5, 1.5, 2.675], dtype=ad.float64), "
             "decimals=0)", grad_note=" (zero gradient)"))
    _set(_engine.leaky_relu, _unary_doc(
        "leaky_relu", "x for x > 0, else negative_slope * x.", None, False,
        extra_params="""
negative_slope : float, default 0.01
    The slope for x <= 0.""",
        call="ad.leaky_relu(ad.tensor([-2.0, 3.0], dtype=ad.float64), 0.5)"))
    _set(_engine.elu, _unary_doc(
        "elu", "x for x > 0, else alpha (e^x - 1).", None, False,
        extra_params="""
alpha : float, default 1.0
    The value approached for x -> -inf is -alpha.""",
        call="ad.elu(ad.tensor([-1.0, 2.0], dtype=ad.float64))"))
    _set(_engine.softplus, _unary_doc(
        "softplus", "log(1 + e^(beta x)) / beta, and x itself where "
        "beta x > threshold (torch.nn.functional.softplus).", None, False,
        extra_params="""
beta : float, default 1.0
    The sharpness; must be positive.
threshold : float, default 20.0
    Above this value of beta x the result is x.""", extra_raises="""
ValueError
    When `beta` is not positive.""",
        call="ad.softplus(ad.tensor([0.0, 30.0], dtype=ad.float64))"))
    _set(_engine.clip, _unary_doc(
        "clip", "Clamp to [min, max] (torch.clamp, torch.clip); gradient 1 "
        "inside, 0 outside.", None, True, extra_params="""
min, max : number, optional
    The bounds; None leaves that side open.  An int64 or bool tensor with
    int bounds stays int64, float bounds give float32.""",
        call="ad.clip(ad.tensor([-2.0, 0.5, 3.0], dtype=ad.float64), "
             "min=-1, max=1)"))


_BROADCAST_RAISES = """\
Raises
------
TypeError
    When an operand is not a tensor, array or number.
ValueError
    When the shapes do not broadcast.
"""

_BINARY = """\
{summary}

Elementwise with broadcasting (numpy's rules), differentiable{grad}.
A number, list or array on either side takes the other operand's dtype
(as for ``x + 2``); two tensors are promoted as torch promotes them.

Parameters
----------
{a}, {b} : Tensor, array or number
    The operands (at least one should be a tensor; else `{a}` is
    converted as :func:`autodiff.tensor` converts data).

Returns
-------
Tensor
    A new tensor of the broadcast shape.

{raises}
Examples
--------
>>> {example}
{output}
"""

_BINARY_OPS = {
    "atan2": ("The angle of the point (other, input): atan(input / other) "
              "in the right quadrant (torch.atan2, torch.arctan2).",
              "[1.0, -1.0]", "[1.0, -1.0]", ""),
    "hypot": ("sqrt(input^2 + other^2) without overflow or underflow.",
              "[3.0, 5.0]", "[4.0, 12.0]", ""),
    "fmod": ("C's fmod: input - trunc(input / other) * other, with the "
             "sign of input (torch.fmod).", "[-3.0, 3.0]", "2.0", ""),
    "remainder": ("Python's modulus: input - floor(input / other) * "
                  "other, with the sign of other (torch.remainder, the % "
                  "operator).", "[-3.0, 3.0]", "2.0", ""),
    "logaddexp": ("log(e^input + e^other), computed stably.",
                  "[0.0, 1000.0]", "[0.0, 1000.0]", ""),
    "xlogy": ("input * log(other), 0 where input == 0 (even where other "
              "is 0), NaN where other is NaN (torch.xlogy).",
              "[0.0, 2.0]", "[0.0, 3.0]", ""),
    "maximum": ("The larger of the two (NaN if either is NaN); the "
                "gradient of a tie is shared evenly, as torch.",
                "[1.0, 5.0]", "[3.0, 2.0]", ""),
    "minimum": ("The smaller of the two (NaN if either is NaN); the "
                "gradient of a tie is shared evenly, as torch.",
                "[1.0, 5.0]", "[3.0, 2.0]", ""),
}


def _binary_doc(name, summary, x, y, grad="", a="input", b="other"):
    example = _fmt_example("ad.%s(ad.tensor(%s, dtype=ad.float64), %s)"
                           % (name, x, y), False)
    return _BINARY.format(summary=summary, example=example,
                          output=_run(example), grad=grad, a=a, b=b,
                          raises=_BROADCAST_RAISES)


def _attach_binary():
    for name, (summary, x, y, grad) in _BINARY_OPS.items():
        ab = ("a", "b") if name in ("maximum", "minimum") else (
            "input", "other")
        _set(getattr(_engine, name), _binary_doc(name, summary, x, y, grad,
                                                 *ab))
    _set(_engine.floor_divide, _binary_doc(
        "floor_divide", "input // other rounded toward -inf, as "
        "torch.floor_divide: exact for integers (ZeroDivisionError on a "
        "zero int64 divisor), IEEE input / other where other is 0 for "
        "floats.", "[-7.0, 7.0]", "2.0", " with zero gradient"))
    for name, op, word in (("subtract", "-", "Difference"),
                           ("multiply", "*", "Product"),
                           ("divide", "/", "True quotient"),
                           ("power", "**", "Power")):
        _set(getattr(_engine, name), _binary_doc(
            name, "%s, ``a %s b`` (torch.%s)." % (word, op, name)
            + (" Integer operands give float32." if name == "divide"
               else ""), "[1.0, 2.0]", "3.0", a="a", b="b"))


_COMPARE = """\
``{a} {op} {b}`` elementwise, as a bool tensor (torch.{name}).

The operands broadcast (numpy's rules) and are compared in their promoted
dtype; the result has no gradient.

Parameters
----------
{a}, {b} : Tensor, array or number
    The operands.

Returns
-------
Tensor
    A bool tensor of the broadcast shape.

{raises}
Examples
--------
>>> ad.{name}(ad.tensor([1, 2, 3]), 2).tolist()
{output}
"""


def _attach_compare():
    for name, op in (("eq", "=="), ("ne", "!="), ("lt", "<"), ("le", "<="),
                     ("gt", ">"), ("ge", ">=")):
        example = "ad.%s(ad.tensor([1, 2, 3]), 2).tolist()" % name
        _set(getattr(_engine, name), _COMPARE.format(
            a="a", b="b", op=op, name=name, output=_run(example),
            raises=_BROADCAST_RAISES))
    for name, op, desc in (("bitwise_and", "&", "and"),
                           ("bitwise_or", "|", "or"),
                           ("bitwise_xor", "^", "exclusive or")):
        example = "ad.%s(ad.tensor([12, 10]), ad.tensor([10, 6])).tolist()" \
            % name
        _set(getattr(_engine, name), """\
Bitwise %s, ``a %s b``, of int64 or bool tensors (torch.%s); no gradient.

Parameters
----------
a, b : Tensor, array or int
    Integer or bool operands; they broadcast.

Returns
-------
Tensor
    int64 (bool for two bool operands), of the broadcast shape.

Raises
------
TypeError
    For float operands.

Examples
--------
>>> %s
%s
""" % (desc, op, name, example, _run(example)))
    for name, desc, two in (("logical_and", "both are nonzero", True),
                            ("logical_or", "either is nonzero", True),
                            ("logical_xor", "exactly one is nonzero", True),
                            ("logical_not", "x is zero", False)):
        args = "a, b" if two else "x"
        example = ("ad.%s(ad.tensor([0.0, 1.0, 2.0]), ad.tensor([1, 0, 3]))"
                   ".tolist()" % name if two else
                   "ad.logical_not(ad.tensor([0.0, 1.0, -2.0])).tolist()")
        _set(getattr(_engine, name), """\
True where %s (torch.%s), as a bool tensor; no gradient.

Parameters
----------
%s : Tensor, array or number
    Any dtype%s.

Returns
-------
Tensor
    A bool tensor%s.

Examples
--------
>>> %s
%s
""" % (desc, name, args, "; they broadcast" if two else "",
       " of the broadcast shape" if two else " of the shape of `x`",
       example, _run(example)))
    example = "ad.bitwise_not(ad.tensor([0, 5])).tolist()"
    _set(_engine.bitwise_not, """\
Bitwise not (torch.bitwise_not, the ``~`` operator): logical not of a bool
tensor, ``-x - 1`` of an int64 one; no gradient.

Parameters
----------
x : Tensor
    int64 or bool.

Returns
-------
Tensor
    Of the dtype and shape of `x`.

Raises
------
TypeError
    For a float tensor.

Examples
--------
>>> %s
%s
""" % (example, _run(example)))
    for name, desc in (("isnan", "x is NaN"),
                       ("isinf", "x is +inf or -inf"),
                       ("isfinite", "x is neither NaN nor infinite")):
        example = ("ad.%s(ad.tensor([1.0, float('nan'), float('inf')]))"
                   ".tolist()" % name)
        _set(getattr(_engine, name), """\
True where %s (torch.%s); integers are always finite.  No gradient.

Parameters
----------
x : Tensor, array or number
    Any dtype.

Returns
-------
Tensor
    A bool tensor of the shape of `x`.

Examples
--------
>>> %s
%s
""" % (desc, name, example, _run(example)))


_REDUCE = """\
{summary}

Parameters
----------
x : Tensor, array or number
    The input.
axis : int or tuple of ints, optional
    The axes to reduce (numpy's name); None (default) reduces all.
keepdims : bool, default False
    Keep the reduced axes with size 1.
dim, keepdim : optional
    torch's names of `axis` and `keepdims` (either spelling works).
{dtype}out : None
    Accepted for numpy's functions (``np.{name}(t)``); must be None.

Returns
-------
Tensor
    {returns}

Raises
------
TypeError
    When an axis is not an int, or `out` is given.
IndexError
    When an axis is out of range.

Examples
--------
>>> x = ad.tensor([[1.0, 2.0], [3.0, 5.0]])
>>> ad.{name}(x).item(), ad.{name}(x, dim=1).tolist()
{output}
"""


def _attach_reduce():
    for name, summary, dtype, returns in (
            ("sum", "The sum over the given axes (torch.sum, numpy.sum).",
             True, "The sums; int64 and bool sum to int64, as torch."),
            ("mean", "The mean over the given axes (torch.mean).", True,
             "The means (a float dtype is required, as torch)."),
            ("amax", "The largest value over the given axes (torch.amax); "
             "the gradient is shared evenly among ties.", False,
             "The maxima."),
            ("amin", "The smallest value over the given axes (torch.amin); "
             "the gradient is shared evenly among ties.", False,
             "The minima.")):
        example = "ad.%s(x).item(), ad.%s(x, dim=1).tolist()" % (name, name)
        _set(getattr(_engine, name), _REDUCE.format(
            summary=summary, name=name, returns=returns,
            output=_run(example),
            dtype=("dtype : dtype, optional\n    Cast the input to it "
                   "first.\n") if dtype else ""))


_OUTPUTS = {
    'ad.negative(ad.tensor([1.0, -2.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[-1.0, 2.0]',
    'ad.exp(ad.tensor([0.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[1.0, 2.7183]',
    'ad.log(ad.tensor([1.0, 2.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[0.0, 0.6931]',
    'ad.sqrt(ad.tensor([4.0, 2.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[2.0, 1.4142]',
    'ad.abs(ad.tensor([-1.5, 2.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[1.5, 2.0]',
    'ad.sin(ad.tensor([0.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[0.0, 0.8415]',
    'ad.cos(ad.tensor([0.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[1.0, 0.5403]',
    'ad.tan(ad.tensor([0.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[0.0, 1.5574]',
    'ad.square(ad.tensor([-3.0, 0.5], dtype=ad.float64)).numpy().round(4).tolist()':
        '[9.0, 0.25]',
    'ad.atan(ad.tensor([0.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[0.0, 0.7854]',
    'ad.asin(ad.tensor([0.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[0.0, 1.5708]',
    'ad.acos(ad.tensor([0.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[1.5708, 0.0]',
    'ad.sinh(ad.tensor([0.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[0.0, 1.1752]',
    'ad.cosh(ad.tensor([0.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[1.0, 1.5431]',
    'ad.asinh(ad.tensor([0.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[0.0, 0.8814]',
    'ad.acosh(ad.tensor([1.0, 2.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[0.0, 1.317]',
    'ad.atanh(ad.tensor([0.0, 0.5], dtype=ad.float64)).numpy().round(4).tolist()':
        '[0.0, 0.5493]',
    'ad.log1p(ad.tensor([0.0, 1e-10], dtype=ad.float64)).numpy().round(4).tolist()':
        '[0.0, 0.0]',
    'ad.expm1(ad.tensor([0.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[0.0, 1.7183]',
    'ad.log2(ad.tensor([1.0, 8.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[0.0, 3.0]',
    'ad.log10(ad.tensor([1.0, 1000.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[0.0, 3.0]',
    'ad.exp2(ad.tensor([0.0, 3.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[1.0, 8.0]',
    'ad.reciprocal(ad.tensor([2.0, -4.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[0.5, -0.25]',
    'ad.rsqrt(ad.tensor([4.0, 0.25], dtype=ad.float64)).numpy().round(4).tolist()':
        '[0.5, 2.0]',
    'ad.sign(ad.tensor([-2.0, 0.0, 3.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[-1.0, 0.0, 1.0]',
    'ad.floor(ad.tensor([-1.5, 1.5], dtype=ad.float64)).numpy().round(4).tolist()':
        '[-2.0, 1.0]',
    'ad.ceil(ad.tensor([-1.5, 1.5], dtype=ad.float64)).numpy().round(4).tolist()':
        '[-1.0, 2.0]',
    'ad.trunc(ad.tensor([-1.5, 1.5], dtype=ad.float64)).numpy().round(4).tolist()':
        '[-1.0, 1.0]',
    'ad.frac(ad.tensor([-1.5, 2.25], dtype=ad.float64)).numpy().round(4).tolist()':
        '[-0.5, 0.25]',
    'ad.erf(ad.tensor([0.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[0.0, 0.8427]',
    'ad.sigmoid(ad.tensor([0.0, 2.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[0.5, 0.8808]',
    'ad.tanh(ad.tensor([0.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[0.0, 0.7616]',
    'ad.relu(ad.tensor([-1.0, 2.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[0.0, 2.0]',
    'ad.selu(ad.tensor([-1.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[-1.1113, 1.0507]',
    'ad.gelu(ad.tensor([-1.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[-0.1587, 0.8413]',
    'ad.silu(ad.tensor([-1.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[-0.2689, 0.7311]',
    'ad.round(ad.tensor([0.5, 1.5, 2.675], dtype=ad.float64), decimals=0).numpy().round(4).tolist()':
        '[0.0, 2.0, 3.0]',
    'ad.leaky_relu(ad.tensor([-2.0, 3.0], dtype=ad.float64), 0.5).numpy().round(4).tolist()':
        '[-1.0, 3.0]',
    'ad.elu(ad.tensor([-1.0, 2.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[-0.6321, 2.0]',
    'ad.softplus(ad.tensor([0.0, 30.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[0.6931, 30.0]',
    'ad.clip(ad.tensor([-2.0, 0.5, 3.0], dtype=ad.float64), min=-1, max=1).numpy().round(4).tolist()':
        '[-1.0, 0.5, 1.0]',
    'ad.atan2(ad.tensor([1.0, -1.0], dtype=ad.float64), [1.0, -1.0]).numpy().round(4).tolist()':
        '[0.7854, -2.3562]',
    'ad.hypot(ad.tensor([3.0, 5.0], dtype=ad.float64), [4.0, 12.0]).numpy().round(4).tolist()':
        '[5.0, 13.0]',
    'ad.fmod(ad.tensor([-3.0, 3.0], dtype=ad.float64), 2.0).numpy().round(4).tolist()':
        '[-1.0, 1.0]',
    'ad.remainder(ad.tensor([-3.0, 3.0], dtype=ad.float64), 2.0).numpy().round(4).tolist()':
        '[1.0, 1.0]',
    'ad.logaddexp(ad.tensor([0.0, 1000.0], dtype=ad.float64), [0.0, 1000.0]).numpy().round(4).tolist()':
        '[0.6931, 1000.6931]',
    'ad.xlogy(ad.tensor([0.0, 2.0], dtype=ad.float64), [0.0, 3.0]).numpy().round(4).tolist()':
        '[0.0, 2.1972]',
    'ad.maximum(ad.tensor([1.0, 5.0], dtype=ad.float64), [3.0, 2.0]).numpy().round(4).tolist()':
        '[3.0, 5.0]',
    'ad.minimum(ad.tensor([1.0, 5.0], dtype=ad.float64), [3.0, 2.0]).numpy().round(4).tolist()':
        '[1.0, 2.0]',
    'ad.floor_divide(ad.tensor([-7.0, 7.0], dtype=ad.float64), 2.0).numpy().round(4).tolist()':
        '[-4.0, 3.0]',
    'ad.add(ad.tensor([1.0, 2.0], dtype=ad.float64), 3.0).numpy().round(4).tolist()':
        '[4.0, 5.0]',
    'ad.subtract(ad.tensor([1.0, 2.0], dtype=ad.float64), 3.0).numpy().round(4).tolist()':
        '[-2.0, -1.0]',
    'ad.multiply(ad.tensor([1.0, 2.0], dtype=ad.float64), 3.0).numpy().round(4).tolist()':
        '[3.0, 6.0]',
    'ad.divide(ad.tensor([1.0, 2.0], dtype=ad.float64), 3.0).numpy().round(4).tolist()':
        '[0.3333, 0.6667]',
    'ad.power(ad.tensor([1.0, 2.0], dtype=ad.float64), 3.0).numpy().round(4).tolist()':
        '[1.0, 8.0]',
    'ad.eq(ad.tensor([1, 2, 3]), 2).tolist()':
        '[False, True, False]',
    'ad.ne(ad.tensor([1, 2, 3]), 2).tolist()':
        '[True, False, True]',
    'ad.lt(ad.tensor([1, 2, 3]), 2).tolist()':
        '[True, False, False]',
    'ad.le(ad.tensor([1, 2, 3]), 2).tolist()':
        '[True, True, False]',
    'ad.gt(ad.tensor([1, 2, 3]), 2).tolist()':
        '[False, False, True]',
    'ad.ge(ad.tensor([1, 2, 3]), 2).tolist()':
        '[False, True, True]',
    'ad.bitwise_and(ad.tensor([12, 10]), ad.tensor([10, 6])).tolist()':
        '[8, 2]',
    'ad.bitwise_or(ad.tensor([12, 10]), ad.tensor([10, 6])).tolist()':
        '[14, 14]',
    'ad.bitwise_xor(ad.tensor([12, 10]), ad.tensor([10, 6])).tolist()':
        '[6, 12]',
    'ad.logical_and(ad.tensor([0.0, 1.0, 2.0]), ad.tensor([1, 0, 3])).tolist()':
        '[False, False, True]',
    'ad.logical_or(ad.tensor([0.0, 1.0, 2.0]), ad.tensor([1, 0, 3])).tolist()':
        '[True, True, True]',
    'ad.logical_xor(ad.tensor([0.0, 1.0, 2.0]), ad.tensor([1, 0, 3])).tolist()':
        '[True, True, False]',
    'ad.logical_not(ad.tensor([0.0, 1.0, -2.0])).tolist()':
        '[True, False, False]',
    'ad.bitwise_not(ad.tensor([0, 5])).tolist()':
        '[-1, -6]',
    "ad.isnan(ad.tensor([1.0, float('nan'), float('inf')])).tolist()":
        '[False, True, False]',
    "ad.isinf(ad.tensor([1.0, float('nan'), float('inf')])).tolist()":
        '[False, False, True]',
    "ad.isfinite(ad.tensor([1.0, float('nan'), float('inf')])).tolist()":
        '[True, False, False]',
    'ad.sum(x).item(), ad.sum(x, dim=1).tolist()':
        '(11.0, [3.0, 8.0])',
    'ad.mean(x).item(), ad.mean(x, dim=1).tolist()':
        '(2.75, [1.5, 4.0])',
    'ad.amax(x).item(), ad.amax(x, dim=1).tolist()':
        '(5.0, [2.0, 5.0])',
    'ad.amin(x).item(), ad.amin(x, dim=1).tolist()':
        '(1.0, [1.0, 3.0])',
    'ad.log1p(ad.tensor([0.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[0.0, 0.6931]',
    'F.hardtanh(ad.tensor([-2.0, 0.5], dtype=ad.float64)).numpy().round(4).tolist()':
        '[-1.0, 0.5]',
    'F.relu6(ad.tensor([-1.0, 7.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[0.0, 6.0]',
    'F.hardsigmoid(ad.tensor([0.0, 4.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[0.5, 1.0]',
    'F.hardswish(ad.tensor([-1.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[-0.3333, 0.6667]',
    'F.mish(ad.tensor([-1.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[-0.3034, 0.8651]',
    'F.logsigmoid(ad.tensor([0.0, -100.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[-0.6931, -100.0]',
    'F.softsign(ad.tensor([-1.0, 3.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[-0.5, 0.75]',
    'F.tanhshrink(ad.tensor([0.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()':
        '[0.0, 0.2384]',
    'F.celu(ad.tensor([-1.0, 1.0], dtype=ad.float64), 2.0).numpy().round(4).tolist()':
        '[-0.7869, 1.0]',
}


# ------------------------------------------------ Tensor methods, one by one
_T_NOARG = {
    "dim": ("The number of dimensions (``ndim``).", "int",
            "ad.zeros(2, 3).dim()", "2"),
    "element_size": ("The size of one element in bytes.", "int",
                     "ad.zeros(1, dtype=ad.float64).element_size()", "8"),
    "item": ("The value of a one-element tensor as a Python number.\n\n"
             "Raises ValueError for more than one element, and "
             "NotCompilableError\nwhile ad.compile records (a replay could "
             "not update it).", "float, int or bool",
             "ad.tensor([2.5]).item()", "2.5"),
    "tolist": ("The values as (nested) Python lists; a 0-D tensor gives a "
               "number.\n\nRaises NotCompilableError while ad.compile "
               "records.", "list or number",
               "ad.tensor([[1, 2], [3, 4]]).tolist()", "[[1, 2], [3, 4]]"),
    "detach": ("A tensor sharing this one's memory that is cut from the "
               "graph\n(requires_grad False), as torch.Tensor.detach.",
               "Tensor", "ad.ones(2, requires_grad=True).detach()"
               ".requires_grad", "False"),
    "cpu": ("The tensor itself (the CPU is the only device).", "Tensor",
            "x = ad.ones(1)\nx.cpu() is x", "True"),
    "float": ("This tensor as float32 (itself when it is float32).",
              "Tensor", "ad.tensor([1, 2]).float().tolist()", "[1.0, 2.0]"),
    "double": ("This tensor as float64 (itself when it is float64).",
               "Tensor", "ad.ones(1).double().dtype", "dtype('float64')"),
    "long": ("This tensor as int64, truncating floats toward zero.",
             "Tensor", "ad.tensor([1.7, -1.7]).long().tolist()", "[1, -1]"),
    "bool": ("This tensor as bool (nonzero is True).", "Tensor",
             "ad.tensor([0.0, 2.0]).bool().tolist()", "[False, True]"),
    "is_floating_point": ("True for float32 and float64.", "bool",
                          "ad.tensor([1]).is_floating_point()", "False"),
    "zero_": ("Fill with zeros in place; returns self (refused, as torch, "
              "for a leaf\nthat requires grad outside no_grad).", "Tensor",
              "ad.ones(2).zero_().tolist()", "[0.0, 0.0]"),
}

_T_DOCS = {
    "requires_grad_": """\
Set whether autograd records operations on this tensor; returns self.

Parameters
----------
requires_grad : bool, default True

Returns
-------
Tensor
    self.

Raises
------
RuntimeError
    For an integer or bool tensor with requires_grad True, or a non-leaf
    with False.

Examples
--------
>>> ad.ones(2).requires_grad_().requires_grad
True
""",
    "astype": """\
A copy converted to `dtype` (numpy's astype; recorded, so gradients flow
back through a float cast).

Parameters
----------
dtype : dtype
    float32, float64, int64 or bool (numpy's or torch's names).

Returns
-------
Tensor

Raises
------
TypeError
    For a dtype autodiff does not have.

Examples
--------
>>> ad.tensor([1.5]).astype(ad.int64).tolist()
[1]
""",
    "to": """\
This tensor in another dtype (torch's forms: ``to(dtype)``,
``to(device)``, ``to(device, dtype)``, ``to(other_tensor)``): itself
when nothing changes (unless copy=True), else a converted copy.

Parameters
----------
*args : dtype, device or Tensor
    Positional forms, as torch.
dtype : dtype, optional (keyword only)
device : str, int or device, optional (keyword only)
    Must be the CPU.
copy : bool, default False (keyword only)
    Return a copy even when nothing changes.
non_blocking : bool, default False (keyword only)
    Accepted for torch's signature.

Returns
-------
Tensor

Raises
------
RuntimeError
    For a device other than the CPU.
TypeError
    For an unsupported dtype.

Examples
--------
>>> x = ad.ones(2)
>>> x.to(ad.float64).dtype, x.to("cpu") is x
(dtype('float64'), True)
""",
    "cuda": """\
Not supported: autodiff runs on the CPU only.

Parameters
----------
*args, **kwargs
    Ignored.

Raises
------
RuntimeError
    Always.
""",
    "type": """\
torch's legacy type: without `dtype` the type name
("torch.FloatTensor", ...), with one a converted tensor.

Parameters
----------
dtype : dtype or str, optional
    A dtype, or a name such as "torch.DoubleTensor".

Returns
-------
str or Tensor

Examples
--------
>>> ad.ones(1).type()
'torch.FloatTensor'
""",
    "type_as": """\
This tensor in the dtype of `other` (``self.to(other.dtype)``).

Parameters
----------
other : Tensor or array

Returns
-------
Tensor
""",
    "backward": """\
Accumulate the gradient of this tensor with respect to every leaf that
requires grad into the leaves' ``.grad`` (torch.Tensor.backward); the
fused C sweep.

Parameters
----------
grad : Tensor or array, optional
    The gradient of some scalar with respect to this tensor, of its
    shape; needed unless the tensor has one element.
retain_graph : bool, optional
    Keep the graph for another backward (the graph is freed by default,
    as torch).
create_graph : bool, default False
    Record the backward pass, so the gradients can be differentiated
    again (the graph is then retained).

Raises
------
RuntimeError
    When the tensor does not require grad, has more than one element
    without `grad`, its graph was freed by an earlier backward, or when
    called inside a custom Function's backward.

Examples
--------
>>> x = ad.tensor([1.0, 2.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad.tolist()
[2.0, 4.0]
""",
    "fill_": """\
Fill with `value` in place; returns self.

Parameters
----------
value : number

Returns
-------
Tensor
    self.

Raises
------
RuntimeError
    For a leaf that requires grad (outside no_grad), as torch.

Examples
--------
>>> ad.zeros(2).fill_(3).tolist()
[3.0, 3.0]
""",
    "copy_": """\
Copy the values of `src` in place (broadcast to this shape, cast to this
dtype); returns self.

Parameters
----------
src : Tensor, array or number

Returns
-------
Tensor
    self.

Raises
------
RuntimeError
    For a leaf that requires grad (outside no_grad), as torch.
ValueError
    When `src` does not broadcast to this shape.

Examples
--------
>>> ad.zeros(2).copy_([1.0, 2.0]).tolist()
[1.0, 2.0]
""",
    "add_": """\
``self += alpha * other`` in place; returns self.  `other` broadcasts to
this shape (never the other way, as torch).

Parameters
----------
other : Tensor, array or number
alpha : number, default 1.0

Returns
-------
Tensor
    self.

Raises
------
RuntimeError
    For a leaf that requires grad (outside no_grad), as torch.
ValueError
    When `other` does not broadcast to this shape.

Examples
--------
>>> ad.ones(2).add_(ad.ones(2), alpha=2).tolist()
[3.0, 3.0]
""",
    "sub_": """\
``self -= alpha * other`` in place; returns self (see :meth:`add_`).

Parameters
----------
other : Tensor, array or number
alpha : number, default 1.0

Returns
-------
Tensor
    self.

Raises
------
RuntimeError, ValueError
    As :meth:`add_`.
""",
    "clamp_": """\
Clamp to [min, max] in place; returns self.

Parameters
----------
min, max : number, optional
    At least one, as torch.

Returns
-------
Tensor
    self.

Raises
------
RuntimeError
    When both bounds are None, or for a leaf that requires grad.

Examples
--------
>>> ad.tensor([-2.0, 2.0]).clamp_(min=0).tolist()
[0.0, 2.0]
""",
    "contiguous": """\
The tensor itself: autodiff tensors are always contiguous.

Parameters
----------
memory_format : optional
    Accepted for torch's signature.

Returns
-------
Tensor
""",
    "view_as": """\
A view with the shape of `other` (``self.view(other.shape)``).

Parameters
----------
other : Tensor

Returns
-------
Tensor
""",
    "expand": """\
This tensor broadcast to `sizes` (torch.Tensor.expand): -1 keeps a
dimension, new dimensions are added in front.  A copy here (a view in
torch), so writes into it do not reach this tensor.

Parameters
----------
*sizes : int or sequence of ints

Returns
-------
Tensor

Raises
------
ShapeOpError
    (a RuntimeError and ValueError) when the sizes do not fit.

Examples
--------
>>> ad.tensor([1.0, 2.0]).expand(3, -1).shape
(3, 2)
""",
    "expand_as": """\
This tensor broadcast to the shape of `other` (see :meth:`expand`).

Parameters
----------
other : Tensor or array

Returns
-------
Tensor
""",
    "repeat": """\
Tile this tensor sizes[i] times along each dimension (torch.Tensor.repeat,
numpy's tile); len(sizes) >= ndim, extra dimensions in front.

Parameters
----------
*sizes : int or sequence of ints

Returns
-------
Tensor

Raises
------
TypeError
    When no sizes are given.
ShapeOpError
    When fewer sizes than dimensions are given.

Examples
--------
>>> ad.tensor([1, 2]).repeat(2).tolist()
[1, 2, 1, 2]
""",
    "transpose": """\
torch's and numpy's forms at once: ``x.transpose(dim0, dim1)`` swaps two
dimensions (torch.Tensor.transpose, :func:`autodiff.swapaxes`);
``x.transpose()`` reverses them and ``x.transpose(axes)`` (a sequence or
a full permutation) permutes them (numpy's ndarray.transpose).

Parameters
----------
*axes : int or sequence of ints

Returns
-------
Tensor

Raises
------
ValueError
    When the axes are not a permutation (or a pair) of the dimensions.

Examples
--------
>>> x = ad.zeros(2, 3, 4)
>>> x.transpose(0, 1).shape, x.transpose().shape
((3, 2, 4), (4, 3, 2))
""",
    "slogdet": """\
``x.slogdet()`` is ``autodiff.linalg.slogdet(x)``.

See :func:`autodiff.linalg.slogdet`.
""",
}


def _attach_tensor_docs():
    T = _engine.Tensor
    for name, (summary, returns, example, output) in _T_NOARG.items():
        lines = example.splitlines()
        _set(vars(T)[name], "%s\n\nReturns\n-------\n%s\n\nExamples\n"
             "--------\n%s\n%s\n" % (summary, returns,
                                     "\n".join(">>> " + ln for ln in lines),
                                     output))
    for name, doc in _T_DOCS.items():
        _set(vars(T)[name], doc)
    _set(_engine.Size.numel, """\
The number of elements of a tensor of this shape (the product).

Returns
-------
int

Examples
--------
>>> ad.Size((2, 3)).numel()
6
""")


# ------------------------------------------- the other engine functions
_DIM_RAISES = """\
Raises
------
TypeError
    When a dim is not an int.
IndexError
    When a dim is out of range.
"""

_LOSS = """\
{summary}

Parameters
----------
input : Tensor or array
    The prediction{what}.
target : Tensor, array or number
    Of the input's shape; converted to the input's dtype.
reduction : {{"mean", "sum", "none"}}, default "mean"
    Average or sum the elementwise losses, or return them.

Returns
-------
Tensor
    A scalar, or the input's shape with ``reduction="none"``.

Raises
------
ValueError
    For another reduction, or when the shapes differ.

Examples
--------
>>> {example}
{output}
"""

_FN_DOCS = {
    "where": """\
`x` where `condition` is true, else `y` (torch.where, numpy.where), with
broadcasting; differentiable in x and y.

Parameters
----------
condition : Tensor, array or bool
    Nonzero counts as true.  A tensor condition is read at every replay
    of a compiled step.
x, y : Tensor, array or number
    A number or array takes the tensor operand's dtype; two tensors are
    promoted.

Returns
-------
Tensor
    Of the broadcast shape.

Raises
------
ValueError
    When the shapes do not broadcast.

Examples
--------
>>> ad.where(ad.tensor([True, False]), ad.tensor([1.0, 2.0]), 0.0).tolist()
[1.0, 0.0]
""",
    "softmax": """\
``e^x / sum(e^x)`` along an axis, computed stably (torch.softmax).

Parameters
----------
x : Tensor, array or number
axis : int, default -1
    The dimension that sums to 1.
dim : int, optional
    torch's name of `axis`.

Returns
-------
Tensor
    The shape of `x`.

""" + _DIM_RAISES + """
Examples
--------
>>> ad.softmax(ad.tensor([0.0, 0.0, 0.0, 0.0])).tolist()
[0.25, 0.25, 0.25, 0.25]
""",
    "log_softmax": """\
``x - logsumexp(x)`` along an axis, computed stably (torch.log_softmax).

Parameters
----------
x : Tensor, array or number
axis : int, default -1
    The dimension normalised.
dim : int, optional
    torch's name of `axis`.

Returns
-------
Tensor
    The shape of `x`.

""" + _DIM_RAISES + """
Examples
--------
>>> x = ad.tensor([1.0, 1.0], dtype=ad.float64)
>>> ad.log_softmax(x).numpy().round(4).tolist()
[-0.6931, -0.6931]
""",
    "cumsum": """\
Running sums along a dimension (torch.cumsum); int64 and bool give int64.

Parameters
----------
x : Tensor, array or number
dim : int
    The dimension (required, as torch).
dtype : dtype, optional (keyword only)
    Cast the input to it first.
axis : int, optional (keyword only)
    numpy's name of `dim`.

Returns
-------
Tensor
    The shape of `x`.

""" + _DIM_RAISES + """
Examples
--------
>>> ad.cumsum(ad.tensor([1, 2, 3]), dim=0).tolist()
[1, 3, 6]
""",
    "max": """\
torch.max: the largest value; with an int `dim`, the namedtuple
``(values, indices)`` along it (the gradient going to the index); with a
tensor as the second argument, :func:`maximum`.  The gradient of the
overall maximum is shared evenly among ties, as torch.

Parameters
----------
x : Tensor, array or number
dim : int or Tensor, optional
    The dimension reduced, or the other operand of an elementwise
    maximum.
keepdim : bool, optional
    Keep the reduced dimension with size 1.
axis, keepdims : optional (keyword only)
    numpy's names: ``axis=`` gives the values alone (np.max(t, axis)).
out : None (keyword only)
    For numpy's functions; must be None.

Returns
-------
Tensor, or (values, indices) : namedtuple of Tensor

""" + _DIM_RAISES + """
Examples
--------
>>> x = ad.tensor([[1.0, 5.0], [7.0, 2.0]])
>>> ad.max(x).item(), ad.max(x, dim=1).indices.tolist()
(7.0, [1, 0])
""",
    "min": """\
torch.min: the smallest value; with an int `dim`, ``(values, indices)``
along it; with a tensor as the second argument, :func:`minimum`.  See
:func:`max`.

Parameters
----------
x : Tensor, array or number
dim : int or Tensor, optional
    The dimension reduced, or the other operand.
keepdim : bool, optional
    Keep the reduced dimension with size 1.
axis, keepdims : optional (keyword only)
    numpy's names (``axis=`` gives the values alone).
out : None (keyword only)
    Must be None.

Returns
-------
Tensor, or (values, indices) : namedtuple of Tensor

""" + _DIM_RAISES + """
Examples
--------
>>> ad.min(ad.tensor([[1.0, 5.0], [7.0, 2.0]]), dim=0).values.tolist()
[1.0, 2.0]
""",
    "argmax": """\
The int64 index of the largest entry along `dim`, or of the flattened
tensor (torch.argmax): the first on ties, a NaN counting as largest.
No gradient.

Parameters
----------
x : Tensor, array or number
    Not bool.
dim : int, optional
    Without it, over the flattened tensor.
keepdim : bool, default False
axis, keepdims : optional (keyword only)
    numpy's names.

Returns
-------
Tensor
    int64.

Raises
------
RuntimeError
    For a bool tensor.
IndexError
    When `dim` is out of range.

Examples
--------
>>> ad.argmax(ad.tensor([[1.0, 5.0], [7.0, 2.0]]), dim=1).tolist()
[1, 0]
""",
    "argmin": """\
The int64 index of the smallest entry (torch.argmin); see :func:`argmax`.

Parameters
----------
x : Tensor, array or number
    Not bool.
dim : int, optional
    Without it, over the flattened tensor.
keepdim : bool, default False
axis, keepdims : optional (keyword only)
    numpy's names.

Returns
-------
Tensor
    int64.

Raises
------
RuntimeError
    For a bool tensor.
IndexError
    When `dim` is out of range.

Examples
--------
>>> ad.argmin(ad.tensor([3.0, 1.0, 2.0])).item()
1
""",
    "reshape": """\
A view of `x` with a new shape (one entry may be -1), sharing memory
(torch.reshape; autodiff tensors are contiguous, so it is always a view).

Parameters
----------
x : Tensor, array or number
shape : int or sequence of ints
    With the same number of elements.

Returns
-------
Tensor

Raises
------
ValueError
    When the number of elements differs, or for more than one -1.

Examples
--------
>>> ad.reshape(ad.arange(6), (2, -1)).tolist()
[[0, 1, 2], [3, 4, 5]]
""",
    "permute": """\
The dimensions of `x` reordered (torch.permute, numpy.transpose with
axes).

Parameters
----------
x : Tensor, array or number
dims : sequence of ints
    A permutation of the dimensions.

Returns
-------
Tensor

Raises
------
ValueError
    When `dims` is not a permutation of x's dimensions.

Examples
--------
>>> ad.permute(ad.zeros(2, 3, 4), (2, 0, 1)).shape
(4, 2, 3)
""",
    "broadcast_to": """\
`x` broadcast to `shape` (torch.broadcast_to, numpy's rules); the
gradient sums over the broadcast dimensions.

Parameters
----------
x : Tensor, array or number
shape : sequence of ints

Returns
-------
Tensor

Raises
------
ValueError
    When x does not broadcast to `shape`.

Examples
--------
>>> ad.broadcast_to(ad.tensor([1.0, 2.0]), (2, 2)).tolist()
[[1.0, 2.0], [1.0, 2.0]]
""",
    "concatenate": """\
Join tensors along an existing axis (torch.cat, numpy.concatenate).

Parameters
----------
tensors : sequence of Tensor or array
    At least one (at most 1024), at least 1-D, equal except along the
    axis; mixed dtypes are joined in float64.
axis : int, default 0
dim : int, optional
    torch's name of `axis`.

Returns
-------
Tensor

Raises
------
ValueError
    For no tensors, 0-D tensors or sizes that differ off the axis.
IndexError
    When the axis is out of range.

Examples
--------
>>> ad.cat([ad.zeros(2, 1), ad.ones(2, 2)], dim=1).tolist()
[[0.0, 1.0, 1.0], [0.0, 1.0, 1.0]]
""",
    "linear": """\
``x @ weight.T + bias`` in one op (torch.nn.functional.linear).

Parameters
----------
x : Tensor or array
    ``(*, in_features)``.
weight : Tensor or array
    ``(out_features, in_features)``.
bias : Tensor or array, optional
    ``(out_features,)``.

Returns
-------
Tensor
    ``(*, out_features)``.

Raises
------
ValueError
    When the sizes do not match.

Examples
--------
>>> ad.linear(ad.ones(2, 3), ad.ones(4, 3), ad.zeros(4)).tolist()[0]
[3.0, 3.0, 3.0, 3.0]
""",
    "is_grad_enabled": """\
True unless inside :class:`no_grad <autodiff.no_grad>` (or after
``set_grad_enabled(False)``), as torch.is_grad_enabled.

Returns
-------
bool

Examples
--------
>>> with ad.no_grad():
...     ad.is_grad_enabled()
False
""",
}

_LOSSES = {
    "mse_loss": ("The mean squared error, ``(input - target)^2`` "
                 "(torch.nn.functional.mse_loss).", "",
                 "ad.mse_loss(ad.tensor([1.0, 3.0]), ad.tensor([0.0, 0.0]))"
                 ".item()", "5.0"),
    "l1_loss": ("The mean absolute error, ``|input - target|`` "
                "(torch.nn.functional.l1_loss).", "",
                "ad.l1_loss(ad.tensor([1.0, -3.0]), ad.tensor([0.0, 0.0]))"
                ".item()", "2.0"),
    "binary_cross_entropy": (
        "``-(t log p + (1 - t) log(1 - p))``, the logs clamped at -100 as "
        "torch.", ": probabilities in [0, 1]",
        "round(ad.binary_cross_entropy(ad.tensor([0.5]), ad.tensor([1.0]))"
        ".item(), 4)", "0.6931"),
    "binary_cross_entropy_with_logits": (
        "The binary cross-entropy of ``sigmoid(input)``, computed stably "
        "from the logits.", ": logits",
        "round(ad.binary_cross_entropy_with_logits(ad.tensor([0.0]), "
        "ad.tensor([1.0])).item(), 4)", "0.6931"),
}


def _attach_functions():
    for name, doc in _FN_DOCS.items():
        _set(getattr(_engine, name), doc)
    for name, (summary, what, example, output) in _LOSSES.items():
        _set(getattr(_engine, name), _LOSS.format(
            summary=summary, what=what, example=example, output=output))
    _set(_engine.Size, """\
A tensor's shape as a tuple (torch.Size), what ``t.size()`` returns.

Parameters
----------
iterable : iterable of ints, default ()

Examples
--------
>>> ad.ones(2, 3).size()
ad.Size([2, 3])
""")
    inplace = """
inplace : bool, default False
    Accepted for torch's signature; the result is a new tensor."""
    for name, summary, params, call in (
            ("hardtanh", "Clamp to [min_val, max_val] (gradient 1 strictly "
             "inside, 0 at the ends and outside, as torch).", """
min_val, max_val : float, default -1.0, 1.0
    The bounds.""" + inplace, "F.hardtanh(ad.tensor([-2.0, 0.5], "
             "dtype=ad.float64))"),
            ("relu6", "min(max(x, 0), 6).", inplace,
             "F.relu6(ad.tensor([-1.0, 7.0], dtype=ad.float64))"),
            ("hardsigmoid", "relu6(x + 3) / 6.", inplace,
             "F.hardsigmoid(ad.tensor([0.0, 4.0], dtype=ad.float64))"),
            ("hardswish", "x * relu6(x + 3) / 6.", inplace,
             "F.hardswish(ad.tensor([-1.0, 1.0], dtype=ad.float64))"),
            ("mish", "x * tanh(softplus(x)).", inplace,
             "F.mish(ad.tensor([-1.0, 1.0], dtype=ad.float64))"),
            ("logsigmoid", "log(sigmoid(x)) = min(x, 0) - log1p(e^-|x|), "
             "stable for any x.", "",
             "F.logsigmoid(ad.tensor([0.0, -100.0], dtype=ad.float64))"),
            ("softsign", "x / (1 + |x|).", "",
             "F.softsign(ad.tensor([-1.0, 3.0], dtype=ad.float64))"),
            ("tanhshrink", "x - tanh(x).", "",
             "F.tanhshrink(ad.tensor([0.0, 1.0], dtype=ad.float64))"),
            ("celu", "x for x > 0, else alpha (e^(x/alpha) - 1).", """
alpha : float, default 1.0
    Not 0.""" + inplace, "F.celu(ad.tensor([-1.0, 1.0], dtype=ad.float64), "
             "2.0)")):
        raises = ""
        if name in ("hardtanh", "celu"):
            raises = ("\nValueError\n    When min_val > max_val."
                      if name == "hardtanh" else
                      "\nValueError\n    When alpha is 0.")
        _set(getattr(_engine, name), _unary_doc(
            name, summary + " (torch.nn.functional.%s)" % name, None, False,
            arg="input", extra_params=params, extra_raises=raises,
            call=call))


def _signature_only(doc):
    """True for no docstring, or only the signature Cython embeds."""
    lines = (doc or "").strip().splitlines()
    return not lines or len(lines) == 1 and lines[0].endswith(")")


def _attach_tensor_methods(namespace):
    """Tensor methods without a docstring that mirror a public function
    of the same name point at it."""
    for name, m in vars(_engine.Tensor).items():
        if name.startswith("_") or not callable(m) or \
                not _signature_only(m.__doc__):
            continue
        if name in namespace and callable(namespace[name]):
            _set(m, "The method form of :func:`autodiff.{0}`, with this "
                 "tensor as its first argument (sizes and dims may be "
                 "given as separate arguments where torch allows it)."
                 "\n\nSee :func:`autodiff.{0}`.\n".format(name))
        elif name.endswith("_") and callable(namespace.get(name[:-1])):
            _set(m, "In place: ``x.{0}(...)`` writes ``autodiff.{1}(x, "
                 "...)`` into x and returns x (refused, as torch, for a "
                 "leaf that requires grad outside no_grad).\n\n"
                 "See :func:`autodiff.{1}`.\n".format(name, name[:-1]))


def attach(namespace):
    """Attach the docstrings; `namespace` is autodiff's (its public
    functions, for the Tensor methods' references)."""
    _attach_unary()
    _attach_binary()
    _attach_compare()
    _attach_reduce()
    _attach_tensor_docs()
    _attach_functions()
    _attach_tensor_methods({k: namespace[k] for k in namespace["__all__"]})
