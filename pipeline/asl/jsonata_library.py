"""jsonata-python, imported without its side effect on the process.

Importing ``jsonata`` raises the process's recursion limit to 10,000 (to go as deep as
JavaScript would). That limit also bounds every other recursive parser in the process, the
order API's JSON among them, so the limit is put back as it was. The depths AWS allows an
expression (100 nested terms, brackets or calls) fit well within Python's default; an
expression that goes deeper fails its state with ``States.QueryEvaluationError``.
"""

import sys

_limit = sys.getrecursionlimit()
# jsonata-python ships no type information
from jsonata import Jsonata  # noqa: E402
from jsonata.functions import Functions  # noqa: E402
from jsonata.jexception import JException  # noqa: E402
from jsonata.utils import Utils  # noqa: E402

sys.setrecursionlimit(_limit)

__all__ = ["Functions", "JException", "Jsonata", "Utils"]
