"""Many configurations of one network at once, from its closed forms built once: the largest
value of a symbol that fits a budget (:func:`solve_for`, ``symcnn solve``) and a grid of
values of several symbols (:func:`sweep`, ``symcnn sweep``)."""

from symcnn.explore.grid import COLUMNS, Column, sweep
from symcnn.explore.largest import Solution, solve_for

__all__ = ["COLUMNS", "Column", "Solution", "solve_for", "sweep"]
