"""A vectorised serving path for the platform's default model shape: one-hot token embeddings, pooled.

Flair's `predict` builds a `Sentence` of `Token` objects per text, gives every token its own embedding tensor,
and pools each sentence separately: Python work per token that made the small model cost ~0.7 ms per text, 4x
its tokenisation. `PooledOneHotGraph` reads the same weights out of the loaded `TextClassifier` and runs the same
arithmetic for a whole batch at once: the same tokens (Flair's own segtok tokenizer and character handling), the
same vocabulary lookup (unknown words to `<unk>`), one embedding lookup, the optional `stable` layer norm, the
`linear`/`nonlinear` fine-tune layers over all tokens, a segment mean/max/min per text, the decoder and a softmax.
Its probabilities equal Flair's to float rounding (the unit tests compare both on every supported configuration).

Any other shape (RNN document embeddings, transformers, multi-label, a custom decoder) is not recognised by
`compile_graph`, and the model is served by Flair's own `predict`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported where the model is loaded, not when the service's modules are
    import torch


@dataclass(frozen=True)
class PooledOneHotGraph:
    vocabulary: dict[str, int]  # token text -> row of the embedding matrix; anything else is row 0 (<unk>)
    embedding: torch.nn.Embedding
    layer_norm: torch.nn.Module | None
    flex: torch.nn.Module | None  # fine_tune_mode linear/nonlinear: Linear without bias
    flex_map: torch.nn.Module | None  # nonlinear: Linear after a ReLU
    pooling: str  # mean, max or min
    decoder: torch.nn.Module
    labels: tuple[str, ...]  # the decoder's output order

    def probabilities(self, texts: Sequence[str]) -> list[dict[str, float] | None]:
        """Per text its class probabilities, or None when it has no token (Flair gives such a text no label).
        Call it inside `torch.inference_mode()`."""
        import torch

        ids, segments, kept = self._encode(texts)
        if not kept:
            return [None] * len(texts)
        pooled = self._pool(self._token_vectors(torch.tensor(ids)), torch.tensor(segments), len(kept))
        rows = torch.softmax(self.decoder(pooled), dim=-1).tolist()
        out: list[dict[str, float] | None] = [None] * len(texts)
        for index, row in zip(kept, rows, strict=True):
            out[index] = dict(zip(self.labels, row, strict=True))
        return out

    def _encode(self, texts: Sequence[str]) -> tuple[list[int], list[int], list[int]]:
        ids: list[int] = []
        segments: list[int] = []
        kept: list[int] = []  # indexes of the texts that have tokens
        lookup = self.vocabulary.get
        for index, text in enumerate(texts):
            tokens = tokenize(text)
            if tokens:
                ids.extend(lookup(token, 0) for token in tokens)
                segments.extend([len(kept)] * len(tokens))
                kept.append(index)
        return ids, segments, kept

    def _token_vectors(self, ids: torch.Tensor) -> torch.Tensor:
        import torch

        vectors = self.embedding(ids)
        if self.layer_norm is not None:
            vectors = self.layer_norm(vectors)
        if self.flex is not None:
            vectors = self.flex(vectors)
        if self.flex_map is not None:
            vectors = self.flex_map(torch.relu(vectors))
        return vectors

    def _pool(self, vectors: torch.Tensor, segments: torch.Tensor, n: int) -> torch.Tensor:
        import torch

        if self.pooling == "mean":
            sums = vectors.new_zeros(n, vectors.shape[1]).index_add_(0, segments, vectors)
            return sums / torch.bincount(segments, minlength=n).unsqueeze(1).to(vectors.dtype)
        reduce = "amax" if self.pooling == "max" else "amin"
        index = segments.unsqueeze(1).expand_as(vectors)
        return vectors.new_zeros(n, vectors.shape[1]).scatter_reduce_(0, index, vectors, reduce, include_self=False)


def tokenize(text: str) -> list[str]:
    """The tokens `flair.data.Sentence(text)` would have (its default tokenizer, after its character fixes)."""
    from flair.data import Sentence
    from flair.tokenization import SegtokTokenizer

    return SegtokTokenizer.run_tokenize(Sentence._handle_problem_characters(text))


def compile_graph(classifier: Any) -> PooledOneHotGraph | None:
    """The vectorised path for `classifier` when it has the pooled one-hot shape, else None (serve with Flair)."""
    from flair.embeddings import DocumentPoolEmbeddings, OneHotEmbeddings
    from flair.models import TextClassifier

    if type(classifier) is not TextClassifier or classifier.multi_label or classifier._custom_decoder:
        return None
    document = classifier.embeddings
    if type(document) is not DocumentPoolEmbeddings or document.fine_tune_mode not in ("none", "linear", "nonlinear"):
        return None
    stacked = document.embeddings.embeddings
    if len(stacked) != 1 or type(stacked[0]) is not OneHotEmbeddings or stacked[0].field != "text":
        return None
    onehot = stacked[0]
    labels = tuple(classifier.label_dictionary.get_items())
    if not onehot.vocab_dictionary.add_unk or "O" in labels:  # Flair would raise on unknown words / skip "O"
        return None
    classifier.eval()
    return PooledOneHotGraph(
        vocabulary={item.decode("utf-8"): index for item, index in onehot.vocab_dictionary.item2idx.items()},
        embedding=onehot.embedding_layer,
        layer_norm=onehot.layer_norm,
        flex=document.embedding_flex if document.fine_tune_mode != "none" else None,
        flex_map=document.embedding_flex_nonlinear_map if document.fine_tune_mode == "nonlinear" else None,
        pooling=document.pooling,
        decoder=classifier.decoder,
        labels=labels,
    )
