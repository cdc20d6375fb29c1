"""Measurements of real PyTorch memory against symcnn's predictions (see README.md here).

A package so that the tests and the scripts import its modules by name (``from validation
import zoo``) from the repository root; run a script as ``python -m validation.run_cpu``.
"""
