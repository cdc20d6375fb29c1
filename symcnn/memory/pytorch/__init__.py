"""The ``pytorch`` convention: PyTorch's training step and eval-mode forward pass simulated
as a sequence of moments, each ``fixed + per_sample * b`` bytes.

``saved`` (what autograd keeps), ``workspace`` (the kernels' own buffers, with the oneDNN
rules in :mod:`symcnn.memory.pytorch.onednn`), ``moments`` (the moment type and the peak),
``backward``, ``checkpointing``, ``timeline`` (the training step) and ``inference``.
"""
