"""``flamboyance eval``: few-shot evaluation of a trained Flamingo run on pair shards.

Close-ended: each query's answer is picked among the distinct captions of the query
set by log-likelihood; ``--generate`` also prints open-ended (beam search) answers.
"""

from __future__ import annotations

import argparse
import json
import sys

from shards.config import add_arguments as config_arguments

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
    parser.add_argument("--limit", type=int, default=200, help="at most this many queries")
    parser.add_argument("--generate", type=int, default=3, help="also print open-ended answers for this many queries")



def run(args: argparse.Namespace) -> int:
    import torch

    from flamingo_model.checkpoint import load_trained
    from flamingo_model.config import TrainConfig
    from flamingo_model.fewshot import FewShotEvaluator, pair_examples
    from flamingo_model.parts import load_parts
    from shards.config import load

    config = load(TrainConfig, args.config, args.overrides)
    model, tokenizer, transform = load_parts(config)
    model.load_trainable_state_dict(load_trained(config.output))
    model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
    support = pair_examples(args.support, transform)
    queries = pair_examples(args.queries, transform, limit=args.limit)
    if not queries:
        print("no usable query samples", file=sys.stderr)
        return 1
    candidates = sorted({query.answer for query in queries})
    evaluator = FewShotEvaluator(model, tokenizer, support, args.shots, args.rices, args.ensembles, config.seed, args.prefix)
    for query in queries[: args.generate]:
        print(f"truth: {query.answer!r}  generated: {evaluator.answer(query)!r}")
    accuracy = evaluator.accuracy(queries, candidates)
    print(
        json.dumps(
            {
                "accuracy": accuracy,
                "chance": 1 / len(candidates),
                "queries": len(queries),
                "shots": args.shots,
                "rices": args.rices,
            }
        )
    )
    return 0
