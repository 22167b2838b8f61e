"""quaton_fast: optical neural hardware — diffractive networks with quantization-aware training
(QuATON) and the analog optical computer digital twin."""
from ._backend import build_info, has_cuda

__version__ = "0.1.0"
__all__ = ["build_info", "has_cuda", "__version__"]
