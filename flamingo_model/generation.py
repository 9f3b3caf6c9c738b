"""Open-ended answers: greedy and beam-search decoding with a KV cache and cached media.

The prompt runs once through the model (prefill); afterwards each step feeds only the
newest token, reusing the LM's key/value cache and the visual tokens computed for the
prompt's images. New tokens attend to the prompt's last image, as text after an image
does in training. Decoding stops at ``<EOC>``, the end of a chunk.

Beam search follows Hugging Face's rule for when a beam ends: of the 2K best
continuations at a step, an ``<EOC>`` finishes its beam only when it ranks among the top
K; a lower-ranked ``<EOC>`` is passed over, so a beam never ends on a token the search
itself would not have kept. Search stops once K beams have finished.
"""

from __future__ import annotations

import torch

from flamboyance.flamingo_model.model import Flamingo, media_index_of


def _step(
    model: Flamingo, tokens: torch.Tensor, media: torch.Tensor | None, media_index: torch.Tensor, cache: object, length: int
) -> tuple[torch.Tensor, object]:
    """Log-probabilities of the next token after feeding ``tokens`` [K, n]; the updated cache."""
    attention = torch.ones(tokens.shape[0], length, dtype=torch.long, device=tokens.device)
    out = model(tokens, attention, media_index, media=media, past_key_values=cache, use_cache=True)
    return out.logits[:, -1].float().log_softmax(-1), out.past_key_values


@torch.no_grad()
def generate(
    model: Flamingo,
    prompt_ids: list[int],
    media: torch.Tensor | None,
    max_new_tokens: int = 20,
    num_beams: int = 3,
    length_penalty: float = 1.0,
) -> list[int]:
    """The continuation of one prompt, up to and excluding ``<EOC>`` (``num_beams=1`` is greedy)."""
    if not prompt_ids:
        raise ValueError("generation needs a non-empty prompt")
    device = next(model.parameters()).device
    prompt = torch.tensor([prompt_ids], device=device)
    index = media_index_of(prompt, model.image_id)
    log_probs, cache = _step(model, prompt, media, index, None, len(prompt_ids))
    last_image = index[:, -1:]

    # Each beam: (sum of log-probs, tokens). Finished beams are scored by their sum over their
    # length (the <EOC> included) to the power ``length_penalty``, as Hugging Face scores them.
    beams: list[tuple[float, list[int]]] = [(0.0, [])]
    finished: list[tuple[float, list[int]]] = []
    for step in range(max_new_tokens):
        totals = torch.tensor([score for score, _ in beams], device=device)[:, None] + log_probs
        top_scores, top_ids = totals.flatten().topk(min(2 * num_beams, totals.numel()))
        alive, origins = [], []
        for rank, (score, flat) in enumerate(zip(top_scores.tolist(), top_ids.tolist())):
            origin, token = divmod(flat, log_probs.shape[-1])
            tokens = beams[origin][1]
            if token == model.eoc_id:
                if rank < num_beams:  # Hugging Face's rule: only an <EOC> among the top K ends a beam
                    finished.append((score / (len(tokens) + 1) ** length_penalty, tokens))  # <EOC> counts, as in HF
            else:
                alive.append((score, tokens + [token]))
                origins.append(origin)
            if len(alive) == num_beams:
                break
        if len(finished) >= num_beams or not alive:
            break
        if step == max_new_tokens - 1:
            finished.extend((s / len(t) ** length_penalty, t) for s, t in alive)
            break
        if len(beams) == 1 and len(alive) > 1:
            cache.batch_repeat_interleave(len(alive))
        elif origins != list(range(len(beams))):
            cache.reorder_cache(torch.tensor(origins, device=device))
        beams = alive
        media_rows = None if media is None else media.expand(len(beams), *media.shape[1:])
        tokens = torch.tensor([[t[-1]] for _, t in beams], device=device)
        log_probs, cache = _step(model, tokens, media_rows, last_image.expand(len(beams), 1), cache, len(prompt_ids) + step + 1)
    return max(finished, key=lambda item: item[0])[1] if finished else []
