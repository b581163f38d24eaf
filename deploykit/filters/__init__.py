"""The filter classes by their Prefect names: the same classes as ``deploykit`` exports.

They are defined once, in :mod:`deploykit.schemas.filters`; their compilers live in
:mod:`deploykit.predicates`.
"""

from deploykit.schemas.filters import *  # noqa: F403 - the filter classes, re-exported
from deploykit.schemas.filters import __all__ as __all__
