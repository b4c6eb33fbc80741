"""Source text of small rubric files, for discovery and CLI tests."""

from __future__ import annotations

SIMPLE = '''
    from synthkit import Rubric, criterion, judge, mark

    @mark.{mark}
    class {name}(Rubric):
        """{doc}"""

        @criterion(weight=0.5)
        def {criterion}(self, trace):
            return 1.0

        @judge
        def opinion(self):
            """Is it good?"""
'''


def simple(name: str = "RubricA", criterion: str = "facts", mark: str = "chat",
           doc: str = "A rubric.") -> str:
    return SIMPLE.format(name=name, criterion=criterion, mark=mark, doc=doc)
