"""oneDNN's scratchpads of CPU convolutions, derived from its source (v3.12, as in torch
2.13.0) and checked against measured allocations: ``common`` (the bookkeeping every kernel
shares), ``fp32``, ``bf16`` and ``bf16_1x1``."""
