"""The options every memory convention understands, as their allowed values.

The one place that says which devices, precisions and optimizers exist; the memory model
and the report validate against these tables, and only the CLI turns them into flags.
"""

#: Extra tensors per parameter each optimizer keeps (momentum buffers, Adam's two moments).
OPTIMIZER_STATES = {"none": 0, "sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}
#: Devices the pytorch convention simulates.
DEVICES = ("cuda", "cpu")
#: ``fp32``, or autocast to a 2-byte float: ``bf16`` (``torch.autocast(device,
#: dtype=torch.bfloat16)``), ``fp16`` (``dtype=torch.float16``).
PRECISIONS = ("fp32", "bf16", "fp16")
