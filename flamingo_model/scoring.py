"""Close-ended evaluation: rank candidate answers by their log-likelihood under the model.

For classification-style tasks (which of these captions, which class name) Flamingo
scores every candidate continuation of the prompt and picks the most likely one, which
needs no generation and no answer matching.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from flamboyance.flamingo_model.model import Flamingo, media_index_of


@torch.no_grad()
def candidate_log_likelihoods(
    model: Flamingo,
    prompt_ids: list[int],
    candidate_ids: list[list[int]],
    media: torch.Tensor | None,
    length_normalize: bool = False,
) -> torch.Tensor:
    """log p(candidate tokens | prompt, images) for each candidate, as a [C] tensor.

    The sum over the candidate's tokens by default; with ``length_normalize`` the mean per
    token, as OpenFlamingo ranks classes, which stops long candidates from losing only
    for their length. ``media`` [1, N, R, D] holds the visual tokens of the prompt's
    images (``encode_media``). All candidates run as one right-padded batch.
    """
    return candidate_log_likelihoods_many(model, [(prompt_ids, candidate_ids, media)], length_normalize)[0]


@torch.no_grad()
def candidate_log_likelihoods_many(
    model: Flamingo, queries: list[tuple[list[int], list[list[int]], torch.Tensor | None]], length_normalize: bool = False
) -> list[torch.Tensor]:
    """``candidate_log_likelihoods`` for several (prompt, candidates, media) at once: every
    candidate of every query in one right-padded forward pass (a server's concurrent
    requests). The media of all queries must hold the same number of images (or all be None)."""
    if any(not candidate_ids or any(not ids for ids in candidate_ids) for _, candidate_ids, _ in queries):
        raise ValueError("every candidate needs at least one token")
    device = next(model.parameters()).device
    sequences = [prompt_ids + ids for prompt_ids, candidate_ids, _ in queries for ids in candidate_ids]
    input_ids = torch.zeros(len(sequences), max(map(len, sequences)), dtype=torch.long, device=device)
    attention = torch.zeros_like(input_ids)
    for row, sequence in enumerate(sequences):
        input_ids[row, : len(sequence)] = torch.tensor(sequence)
        attention[row, : len(sequence)] = 1
    media = None
    if queries[0][2] is not None:
        media = torch.cat([query_media.expand(len(candidate_ids), *query_media.shape[1:]) for _, candidate_ids, query_media in queries])
    logits = model(input_ids, attention, media_index_of(input_ids, model.image_id), media=media).logits
    log_probs = F.log_softmax(logits[:, :-1].float(), dim=-1).gather(-1, input_ids[:, 1:, None])[..., 0]
    scores, row = [], 0
    for prompt_ids, candidate_ids, _ in queries:
        start = len(prompt_ids) - 1  # log_probs[t] predicts token t + 1
        tokens = [log_probs[row + n, start : start + len(ids)] for n, ids in enumerate(candidate_ids)]
        scores.append(torch.stack([t.mean() if length_normalize else t.sum() for t in tokens]))
        row += len(candidate_ids)
    return scores
