"""Randomized exams: a family file draws variants of a network, each with its questions,
answers, typical mistakes as distractors, and the documents (LaTeX, Moodle XML, CSV keys)."""

from symcnn.exam.build import make_exam
from symcnn.exam.family import load_family, parse_family
from symcnn.exam.output import compile_all, write_exam

__all__ = ["compile_all", "load_family", "make_exam", "parse_family", "write_exam"]
