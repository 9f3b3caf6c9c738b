"""``flamboyance eval``: few-shot evaluation of a trained Flamingo run on pair shards.

Close-ended: each query's answer is picked among the distinct captions of the query
set by log-likelihood; ``--generate`` also prints open-ended (beam search) answers.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from flamboyance.shards.config import add_arguments as config_arguments

if TYPE_CHECKING:
    from flamboyance.flamingo_model.config import TrainConfig

HELP = "few-shot evaluation of a trained Flamingo run on image-caption pair shards"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    config_arguments(parser, "the run's training settings (how to build the model)", "output=runs/a")
    parser.add_argument("--support", nargs="+", required=True, help="pair shards to draw the shots from")
    parser.add_argument("--queries", nargs="+", required=True, help="pair shards to evaluate on")
    parser.add_argument("--shots", type=int, default=4, help="support examples per prompt (0: zero-shot, two text-only examples)")
    parser.add_argument("--rices", action="store_true", help="pick shots by image similarity (RICES) instead of at random")
    parser.add_argument("--ensembles", type=int, default=1, help="average scores over this many orderings of the shots")
    parser.add_argument(
        "--prefix", default="", help='text before each caption in prompts ("" matches pair shards; the paper uses "Output:")'
    )
    parser.add_argument("--length-normalize", action="store_true", help="rank candidates by mean log-prob per token (OpenFlamingo's) instead of the sum")
    parser.add_argument("--limit", type=int, default=200, help="at most this many queries")
    parser.add_argument("--results", metavar="FILE", help="write the results as JSON here (default: OUTPUT/eval.json of the run)")
    parser.add_argument("--generate", type=int, default=3, help="also print open-ended answers for this many queries")



def run(args: argparse.Namespace) -> int:
    from flamboyance.flamingo_model.config import TrainConfig
    from flamboyance.shards import storage
    from flamboyance.shards.config import load

    config = load(TrainConfig, args.config, args.overrides)
    result = evaluate(
        config, args.support, args.queries, args.shots, args.rices, args.ensembles, args.prefix, args.limit, args.generate,
        args.length_normalize,
    )
    if not result["queries"]:
        print("no usable query samples", file=sys.stderr)
        return 1
    for truth, generated in result["generated"]:
        print(f"truth: {truth!r}  generated: {generated!r}")
    path = args.results or storage.join(config.output, "eval.json")
    storage.write_json(path, result)
    print(json.dumps({k: v for k, v in result.items() if k != "generated"}))
    print(f"results: {path}", file=sys.stderr)
    return 0


def evaluate(
    config: TrainConfig,
    support: list[str],
    queries: list[str],
    shots: int = 4,
    rices: bool = False,
    ensembles: int = 1,
    prefix: str = "",
    limit: int = 200,
    generate: int = 3,
    length_normalize: bool = False,
) -> dict[str, Any]:
    """Few-shot accuracy of the run ``config`` describes, on pair shards ``queries`` with shots from ``support``.

    The candidates are the queries' own captions; ``generated`` holds (truth, open-ended
    answer) for the first ``generate`` queries.
    """
    from flamboyance.flamingo_model.fewshot import FewShotEvaluator, pair_examples
    from flamboyance.flamingo_model.inference import TrainedFlamingo

    trained = TrainedFlamingo.load(config)
    support_examples = pair_examples(support, trained.transform)
    query_examples = pair_examples(queries, trained.transform, limit=limit)
    if not query_examples:
        return {"queries": 0}
    candidates = sorted({query.answer for query in query_examples})
    evaluator = FewShotEvaluator(
        trained.model, trained.tokenizer, support_examples, shots, rices, ensembles, config.seed, prefix, length_normalize
    )
    return {
        "accuracy": evaluator.accuracy(query_examples, candidates),
        "chance": 1 / len(candidates),
        "queries": len(query_examples),
        "shots": shots,
        "rices": rices,
        "length_normalize": length_normalize,
        "generated": [(query.answer, evaluator.answer(query)) for query in query_examples[:generate]],
    }
