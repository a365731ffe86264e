"""The bounce corpus: real messages of 51 MTAs and providers, parsed and judged.

``pytest -s tests/test_bounce_corpus.py`` prints the confusion table the README shows.
"""

from __future__ import annotations

from tests.bounce_corpus import CORPUS, score


def test_the_corpus_is_large_and_varied() -> None:
    names = [p.name for p in (CORPUS / "messages").glob("*.eml")]
    formats = {n.rsplit("-", 1)[0] for n in names if n.startswith("lhost-")}
    assert len(names) >= 150
    assert len(formats) >= 20


def test_addresses_and_decisions_on_real_bounces() -> None:
    result = score()
    print()
    print(result.table())
    print(result.summary())
    assert result.found / result.addressed >= 0.98
    # The goals: the decision right for 95 %, and invalid (which stops mail for
    # good) wrong at most once in a hundred.
    assert result.right / result.rows >= 0.95
    assert result.precision("invalid") >= 0.99
    assert result.precision("complaint") == 1.0
    assert result.recall("not_a_bounce") == 1.0
