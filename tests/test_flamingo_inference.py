"""Inference: greedy and beam search with a KV cache, candidate scoring, few-shot prompts, RICES, ensembles."""

from __future__ import annotations

import pytest
import torch
from shapes import ANSWERS, shape_examples
from test_flamingo_model import SMALL, open_gates

from flamboyance.flamingo_model.fewshot import FewShotEvaluator, FewShotExample, render_prompt, rices
from flamboyance.flamingo_model.generation import generate, generate_batch
from flamboyance.flamingo_model.inference import TrainedFlamingo
from flamboyance.flamingo_model.model import build_flamingo, media_index_of
from flamboyance.flamingo_model.scoring import candidate_log_likelihoods
from flamboyance.flamingo_model.tiny import tiny_lm, tiny_tokenizer, tiny_vit
from flamboyance.shards.loader.transforms import ImageTransform, ImageTransformConfig


@pytest.fixture(scope="module")
def parts():
    tokenizer = tiny_tokenizer([f"Output: {answer} Question: what is it? Answer:" for answer in ANSWERS] * 4)
    torch.manual_seed(0)
    model = build_flamingo(tiny_lm("llama", len(tokenizer)), tiny_vit(), tokenizer, SMALL).eval()
    open_gates(model, 0.5)  # an untrained model whose images matter
    return model, tokenizer


def prompt_and_media(model, tokenizer):
    ids = tokenizer.encode("<image>Output: A red circle.<EOC><image>Output:")
    torch.manual_seed(1)
    return ids, model.encode_media(torch.randn(1, 2, 1, 3, 32, 32))


def uncached_greedy(model, ids, media, steps):
    """The reference: re-run the whole sequence at every step, no cache."""
    ids = list(ids)
    for _ in range(steps):
        tensor = torch.tensor([ids])
        token = int(model(tensor, media_index=media_index_of(tensor, model.image_id), media=media).logits[0, -1].argmax())
        if token == model.eoc_id:
            break
        ids.append(token)
    return ids


def test_greedy_generation_with_the_kv_cache_equals_recomputing_everything(parts):
    model, tokenizer = parts
    ids, media = prompt_and_media(model, tokenizer)
    with torch.no_grad():
        expected = uncached_greedy(model, ids, media, 8)[len(ids) :]
    assert generate(model, ids, media, max_new_tokens=8, num_beams=1) == expected


def test_beam_search_scores_at_least_as_well_as_greedy(parts):
    model, tokenizer = parts
    ids, media = prompt_and_media(model, tokenizer)
    greedy = generate(model, ids, media, max_new_tokens=6, num_beams=1)
    beam = generate(model, ids, media, max_new_tokens=6, num_beams=3)

    def mean_log_prob(tokens):
        return float(candidate_log_likelihoods(model, ids, [tokens + [model.eoc_id]], media)[0]) / (len(tokens) + 1)

    assert beam and model.eoc_id not in beam
    assert mean_log_prob(beam) >= mean_log_prob(greedy) - 0.5


def test_batched_generation_gives_each_prompt_what_it_gets_alone(parts):
    """A server decodes concurrent requests together; each must get its own answer unchanged."""
    model, tokenizer = parts
    first = tokenizer.encode("<image>Output: A red circle.<EOC><image>Output:")
    other = list(first)
    other[3] = tokenizer.encode(" blue")[0]  # same length, another text
    prompts = [first, other, first]  # the third differs from the first only in its image
    torch.manual_seed(2)
    media = model.encode_media(torch.randn(3, 2, 1, 3, 32, 32))
    for beams in (1, 3):
        alone = [generate(model, ids, media[row : row + 1], max_new_tokens=6, num_beams=beams) for row, ids in enumerate(prompts)]
        assert generate_batch(model, prompts, media, max_new_tokens=6, num_beams=beams) == alone
    with pytest.raises(ValueError, match="one length"):
        generate_batch(model, [prompts[0], prompts[0][:-1]], media[:2])


def test_complete_many_answers_mixed_prompts_as_one_by_one(parts):
    """Prompts of different shapes (support examples, questions) split into batches and come back in order."""
    model, tokenizer = parts
    transform = ImageTransform(ImageTransformConfig(size=32))
    trained = TrainedFlamingo(model, tokenizer, transform, caption_prefix="Output:")
    queries, support = shape_examples(4, transform, seed=5), shape_examples(2, transform, seed=6)
    asked = FewShotExample(queries[3].image, "", question="What colour is it?")
    prompts = [(queries[0], []), (queries[1], support[:1]), (queries[2], []), (asked, [])]
    together = trained.complete_many(prompts, max_new_tokens=4, num_beams=2)
    assert together == [trained.complete_many([prompt], max_new_tokens=4, num_beams=2)[0] for prompt in prompts]

    candidates = [ANSWERS[:3], ANSWERS[3:5], ANSWERS[:4], ["red", "blue"]]
    scored = trained.score_many([(query, examples, options) for (query, examples), options in zip(prompts, candidates)])
    for (query, examples), options, scores in zip(prompts, candidates, scored):
        assert scores == pytest.approx(trained.score_many([(query, examples, options)])[0], abs=1e-4) and len(scores) == len(options)


def test_candidate_scores_are_the_sum_of_the_candidates_token_log_probabilities(parts):
    model, tokenizer = parts
    ids, media = prompt_and_media(model, tokenizer)
    short, long = tokenizer.encode(" A red circle."), tokenizer.encode(" A blue star.<EOC>")
    scores = candidate_log_likelihoods(model, ids, [short, long], media)
    with torch.no_grad():
        full = torch.tensor([ids + long])
        log_probs = model(full, media_index=media_index_of(full, model.image_id), media=media).logits[0].log_softmax(-1)
    expected = sum(float(log_probs[len(ids) - 1 + k, token]) for k, token in enumerate(long))
    assert float(scores[1]) == pytest.approx(expected, abs=1e-4)
    assert scores.shape == (2,) and (scores < 0).all()


def test_prompts_follow_the_flamingo_formats():
    support = [FewShotExample(None, "A red circle."), FewShotExample(None, "two", question="How many?")]
    query = FewShotExample(None, "", question="What colour?")
    assert render_prompt(support, query) == (
        "<image>Output: A red circle.<EOC><image>Question: How many? Answer: two<EOC><image>Question: What colour? Answer:"
    )
    assert render_prompt(support[:1], FewShotExample(None, ""), with_images=False) == "Output: A red circle.<EOC><image>Output:"


def test_rices_picks_the_nearest_support_images_most_similar_last():
    support = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6], [-1.0, 0.0]]), dim=-1)
    assert rices(torch.tensor([1.0, 0.0]), support, 2) == [2, 0]


def test_few_shot_zero_shot_rices_and_ensembles_rank_all_candidates(parts):
    model, tokenizer = parts
    transform = ImageTransform(ImageTransformConfig(size=32))
    support, queries = shape_examples(8, transform, seed=3), shape_examples(2, transform, seed=4)
    for settings in ({"shots": 2}, {"shots": 0}, {"shots": 2, "use_rices": True}, {"shots": 2, "ensembles": 3}):
        evaluator = FewShotEvaluator(model, tokenizer, support, **settings)
        assert evaluator.scores(queries[0], ANSWERS).shape == (len(ANSWERS),)
        assert 0.0 <= evaluator.accuracy(queries, ANSWERS) <= 1.0
    assert isinstance(FewShotEvaluator(model, tokenizer, support, shots=2).answer(queries[0], max_new_tokens=4), str)
    with pytest.raises(ValueError, match="support examples"):
        FewShotEvaluator(model, tokenizer, support[:1], shots=0)


def test_beam_search_ends_beams_as_hugging_face_does(parts):
    """With the gates closed Flamingo is its LM; our beam search then matches HF's own, <EOC> as the end token.

    The rule tested: an <EOC> ends a beam only when it ranks among the top K of the 2K
    continuations; HF's ``generate`` is the reference.
    """
    model, tokenizer = parts
    closed = build_flamingo(tiny_lm("llama", len(tokenizer)), tiny_vit(), tokenizer, SMALL).eval()  # gates at zero
    torch.manual_seed(3)
    for layer in closed.lm.parameters():  # a sharper LM, so that <EOC> competes with other tokens
        layer.data.mul_(3.0)
    prompts = ["Output: A red", "Output:", "Question: what is it? Answer: A", "Output: A blue star"]
    checked = 0
    for text in prompts:
        ids = tokenizer.encode(text, add_special_tokens=False)
        ours = generate(closed, ids, None, max_new_tokens=8, num_beams=3)
        with torch.no_grad():
            theirs = closed.lm.generate(
                torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long), num_beams=3, do_sample=False,
                max_new_tokens=8, eos_token_id=closed.eoc_id, pad_token_id=closed.eoc_id, early_stopping=True, length_penalty=1.0,
            )[0, len(ids):].tolist()
        if theirs and theirs[-1] == closed.eoc_id:
            theirs = theirs[:-1]
        theirs = [t for t in theirs if t != closed.eoc_id]
        assert ours == theirs, text
        checked += 1
    assert checked == len(prompts)


def test_candidates_can_be_ranked_by_mean_log_probability(parts):
    model, tokenizer = parts
    ids, media = prompt_and_media(model, tokenizer)
    candidates = [tokenizer.encode(f" {answer}<EOC>", add_special_tokens=False) for answer in ANSWERS[:5]]
    summed = candidate_log_likelihoods(model, ids, candidates, media)
    mean = candidate_log_likelihoods(model, ids, candidates, media, length_normalize=True)
    torch.testing.assert_close(mean, summed / torch.tensor([float(len(c)) for c in candidates]))


def test_a_prompt_too_long_for_the_lm_loses_its_oldest_shots_with_a_warning(caplog):
    from flamboyance.flamingo_model.fewshot import encode_prompt

    tokenizer = tiny_tokenizer([f"Output: {answer}" for answer in ANSWERS] * 4)
    model = build_flamingo(tiny_lm("gpt2", len(tokenizer), context=40), tiny_vit(), tokenizer, SMALL).eval()
    examples = shape_examples(6, ImageTransform(ImageTransformConfig(size=32)), seed=3)
    support, query = examples[:5], examples[5]
    full = len(tokenizer.encode(render_prompt(support, query), add_special_tokens=False))
    assert full > 40  # five shots do not fit
    with caplog.at_level("WARNING"):
        ids, media = encode_prompt(model, tokenizer, support, query, reserve=10)
    assert len(ids) + 10 <= 40 and "oldest support example" in caplog.text
    kept = media.shape[1] - 1  # visual tokens of the shots left, then the query's
    assert ids == tokenizer.encode(render_prompt(support[-kept:], query), add_special_tokens=False)  # the newest stayed
    with pytest.raises(ValueError, match="more than the LM's context"):
        encode_prompt(model, tokenizer, support, query, reserve=39)
