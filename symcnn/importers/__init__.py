"""A PyTorch model as a spec: traced with torch.fx (``torch_fx``), its modules mapped to
layers (``torchmap``) and written as TOML (``spec_text``).  torch is imported only when a
model is imported."""

from symcnn.importers.torch_fx import import_module, import_ref

__all__ = ["import_module", "import_ref"]
