"""The ``symcnn`` parser: the program's own flags, then each command's subparser, in the
order ``symcnn --help`` lists them."""

from __future__ import annotations

import argparse

from symcnn import __version__
from symcnn.cli import calibrate, documents, exam, importer, report, solve, sweep
from symcnn.cli.groups import network_options


class OneLineParser(argparse.ArgumentParser):
    """argparse, with a mistyped option reported in one line (not the whole usage block)."""

    def error(self, message: str):
        message = message if len(message) <= 300 else message[:297] + "..."
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``symcnn``; subparsers are of the same class, so one line for each error."""
    p = OneLineParser(prog="symcnn", description="Closed-form parameter counts and "
                                "memory of convolutional networks.")
    p.add_argument("--version", action="version", version=f"symcnn {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    network = network_options()
    report.add_parser(sub, network)
    documents.add_parser(sub, network)
    exam.add_parser(sub)
    importer.add_parser(sub)
    solve.add_parser(sub, network)
    sweep.add_parser(sub, network)
    calibrate.add_parser(sub)
    return p
