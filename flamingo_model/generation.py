"""Open-ended answers: greedy and beam-search decoding with a KV cache and cached media.

The prompt runs once through the model (prefill); afterwards each step feeds only the
newest token, reusing the LM's key/value cache and the visual tokens computed for the
prompt's images. New tokens attend to the prompt's last image, as text after an image
does in training. Decoding stops at ``<EOC>``, the end of a chunk.
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
    return generate_batch(model, [prompt_ids], media, max_new_tokens, num_beams, length_penalty)[0]


@torch.no_grad()
def generate_batch(
    model: Flamingo,
    prompts: list[list[int]],
    media: torch.Tensor | None,
    max_new_tokens: int = 20,
    num_beams: int = 3,
    length_penalty: float = 1.0,
) -> list[list[int]]:
    """The continuations of several prompts of the same length, decoded together.

    A server batches concurrent requests this way: every step is one forward pass over
    the live beams of all prompts (no padding, hence the equal lengths). ``media`` holds
    one row of visual tokens per prompt, [P, N, R, D]. Each prompt's beams are chosen
    exactly as if it were decoded alone.
    """
    if not prompts or not prompts[0] or any(len(ids) != len(prompts[0]) for ids in prompts):
        raise ValueError("batched generation needs non-empty prompts of one length")
    device = next(model.parameters()).device
    prompt = torch.tensor(prompts, device=device)
    index = media_index_of(prompt, model.image_id)
    log_probs, cache = _step(model, prompt, media, index, None, prompt.shape[1])
    last_image = index[:, -1:]

    # Live rows of the batch: (prompt number, sum of log-probs, tokens). Finished beams are
    # scored by their sum over their length (the <EOC> included) to the power
    # ``length_penalty``, as Hugging Face scores them.
    rows: list[tuple[int, float, list[int]]] = [(number, 0.0, []) for number in range(len(prompts))]
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in prompts]
    vocabulary = log_probs.shape[-1]
    for step in range(max_new_tokens):
        # Each prompt's live rows are contiguous; pad them to [prompts, widest, vocabulary]
        # so that one top-k picks every prompt's candidates.
        starts: dict[int, int] = {}  # prompt number -> its first row, in row order
        for i, (number, _, _) in enumerate(rows):
            starts.setdefault(number, i)
        live = list(starts)
        slot = {number: position for position, number in enumerate(live)}
        totals = torch.tensor([score for _, score, _ in rows], device=device)[:, None] + log_probs
        prompt_slots = torch.tensor([slot[number] for number, _, _ in rows], device=device)
        row_slots = torch.tensor([i - starts[number] for i, (number, _, _) in enumerate(rows)], device=device)
        widest = int(row_slots.max()) + 1
        padded = totals.new_full((len(live), widest, vocabulary), float("-inf"))
        padded[prompt_slots, row_slots] = totals
        top_scores, top_ids = padded.view(len(live), -1).topk(min(2 * num_beams, widest * vocabulary), dim=-1)
        alive_rows, origins = [], []
        for number, scores, ids in zip(live, top_scores.tolist(), top_ids.tolist()):
            alive, alive_origins = [], []
            for rank, (score, flat) in enumerate(zip(scores, ids)):
                if score == float("-inf"):  # padding: this prompt has fewer live rows
                    break
                origin, token = divmod(flat, vocabulary)
                tokens = rows[starts[number] + origin][2]
                if token == model.eoc_id:
                    if rank < num_beams:  # Hugging Face's rule: only an <EOC> among the top K ends a beam
                        finished[number].append((score / (len(tokens) + 1) ** length_penalty, tokens))  # <EOC> counts, as in HF
                else:
                    alive.append((number, score, tokens + [token]))
                    alive_origins.append(starts[number] + origin)
                if len(alive) == num_beams:
                    break
            if len(finished[number]) >= num_beams or not alive:
                continue
            if step == max_new_tokens - 1:
                finished[number].extend((s / len(t) ** length_penalty, t) for _, s, t in alive)
                continue
            alive_rows += alive
            origins += alive_origins
        if not alive_rows:
            break
        if origins != list(range(len(rows))):
            cache.reorder_cache(torch.tensor(origins, device=device))
        rows = alive_rows
        numbers = torch.tensor([number for number, _, _ in rows], device=device)
        media_rows = None if media is None else media[numbers]
        tokens = torch.tensor([[t[-1]] for _, _, t in rows], device=device)
        log_probs, cache = _step(model, tokens, media_rows, last_image[numbers], cache, prompt.shape[1] + step + 1)
    return [max(done, key=lambda item: item[0])[1] if done else [] for done in finished]
