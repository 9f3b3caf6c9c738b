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
    if not candidate_ids or any(not ids for ids in candidate_ids):
        raise ValueError("every candidate needs at least one token")
    device = next(model.parameters()).device
    length = len(prompt_ids) + max(len(ids) for ids in candidate_ids)
    input_ids = torch.zeros(len(candidate_ids), length, dtype=torch.long, device=device)
    attention = torch.zeros_like(input_ids)
    for row, ids in enumerate(candidate_ids):
        sequence = prompt_ids + ids
        input_ids[row, : len(sequence)] = torch.tensor(sequence)
        attention[row, : len(sequence)] = 1
    if media is not None:
        media = media.expand(len(candidate_ids), *media.shape[1:])
    logits = model(input_ids, attention, media_index_of(input_ids, model.image_id), media=media).logits
    log_probs = F.log_softmax(logits[:, :-1].float(), dim=-1).gather(-1, input_ids[:, 1:, None])[..., 0]
    scores = []
    for row, ids in enumerate(candidate_ids):
        start = len(prompt_ids) - 1  # log_probs[t] predicts token t + 1
        tokens = log_probs[row, start : start + len(ids)]
        scores.append(tokens.mean() if length_normalize else tokens.sum())
    return torch.stack(scores)
