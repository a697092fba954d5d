"""torch.linalg's names.  The norms live in autodiff/_reductions.py (with
the other reductions) and are re-exported here."""
from ._reductions import matrix_norm, vector_norm

__all__ = ["vector_norm", "matrix_norm"]
