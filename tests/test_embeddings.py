"""The embedder: offline MiniLM, normalized 384-d vectors, meaning over wording, each text once."""

from __future__ import annotations

import numpy as np
import pytest

from jarvis.embeddings import DIMENSION, MAX_TEXT_CHARS, Embedder, check_vector
from jarvis.errors import InvalidInput


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder.shared()


def test_vectors_are_384_dimensional_and_normalized(embedder: Embedder) -> None:
    vector = embedder.embed("The agent summarises long legal contracts.")
    assert vector.shape == (DIMENSION,) and vector.dtype == np.float32
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


def test_a_paraphrase_is_closer_than_an_unrelated_sentence(embedder: Embedder) -> None:
    anchor, paraphrase, unrelated = embedder.embed_many(
        [
            "Translate this document from French into English.",
            "Convert the text written in French to the English language.",
            "The weather in the mountains is cold and windy today.",
        ]
    )
    assert float(anchor @ paraphrase) > float(anchor @ unrelated) + 0.3


def test_identical_text_is_embedded_once_and_batches_keep_input_order(embedder: Embedder) -> None:
    texts = ["alpha particles decay", "a recipe for bread", "alpha particles decay"]
    batch = embedder.embed_many(texts)
    size_after = embedder.cache_info()["size"]
    assert np.array_equal(batch[0], batch[2])
    assert np.allclose(batch[1], embedder.embed("a recipe for bread"))
    assert embedder.cache_info()["size"] == size_after


def test_the_same_process_shares_one_model() -> None:
    assert Embedder.shared() is Embedder.shared()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must not be empty"),
        ("   \n", "must not be empty"),
        ("x" * (MAX_TEXT_CHARS + 1), "the limit is"),
        (42, "must be a string"),
    ],
)
def test_bad_text_is_refused_naming_the_field(embedder: Embedder, text: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        embedder.embed(text, field="content")  # type: ignore[arg-type]
    assert caught.value.field == "content"


def test_a_vector_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(InvalidInput, match="must have 384 dimensions, got 3"):
        check_vector([0.1, 0.2, 0.3])
    with pytest.raises(InvalidInput, match="finite"):
        check_vector([float("nan")] * DIMENSION)
    with pytest.raises(InvalidInput, match="all zeros"):
        check_vector([0.0] * DIMENSION)
    unit = check_vector([3.0] + [0.0] * (DIMENSION - 1))
    assert unit.shape == (DIMENSION,) and unit[0] == 1.0


def test_a_stream_of_batches_gives_the_vectors_one_call_would_in_order(embedder: Embedder) -> None:
    texts = [f"Shipment {i} left the harbour of Rotterdam {i % 7} days late." for i in range(150)]
    embedder.clear_cache()
    streamed = np.vstack(list(embedder.embed_batches([texts[i : i + 64] for i in range(0, 150, 64)])))
    embedder.clear_cache()
    assert streamed.shape == (150, DIMENSION)
    assert np.allclose(streamed, embedder.embed_many(texts), atol=1e-5)


def test_the_lanes_leave_other_threads_every_core(embedder: Embedder) -> None:
    import threading

    import torch

    list(embedder.embed_batches([["a lane is started"], ["and another"]]))  # the lanes exist now
    seen: list[int] = []
    thread = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    assert seen == [torch.get_num_threads()] and seen[0] >= 1
