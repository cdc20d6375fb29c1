"""symcnn's tests: a package, so that pytest puts the repository root on the import path and
the tests import the validation harness by name (``from validation import zoo``)."""
