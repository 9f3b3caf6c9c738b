"""MinHash signatures per second and LSH time (index + query), ours vs datasketch.

Both run on the same documents in one process: the hand-made article bodies of the
article-extraction benchmark (../shared/data), replicated with light edits (a few
percent of the words replaced per copy) so the set holds real near-duplicates, with the
same tokenisation (lower-cased ``\\w+`` words, 5-word shingles), the same number of
permutations and the same banding. The best of ``--rounds`` rounds is reported; our
word-hash cache is fresh in every round.

    python benchmarks/dedup.py [--copies 20] [--rounds 3]

Needs ``pip install datasketch`` for the comparison (a benchmark-only dependency).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from pathlib import Path

from flamboyance.filter.dedup.minhash import MinHashConfig, MinHasher, candidate_pairs, near_duplicate_pairs

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "article-extraction-benchmark"
WORD = re.compile(r"\w+")


def documents(copies: int) -> list[str]:
    truth = json.loads((DATA / "ground-truth.json").read_text())
    bodies = [truth[name]["articleBody"] for name in sorted(truth)]
    rng = random.Random(0)
    texts = []
    for copy in range(copies):
        rate = 0.0 if copy == 0 else rng.uniform(0.005, 0.05)
        for body in bodies:
            texts.append(" ".join(f"copy{copy}" if rng.random() < rate else word for word in body.split()))
    return texts


def best(function, rounds: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return min(times), result


def their_signatures(texts: list[str], num_perm: int) -> list:
    from datasketch import MinHash

    signatures = []
    for text in texts:
        words = WORD.findall(text.lower())
        shingles = {" ".join(words[i : i + 5]) for i in range(max(1, len(words) - 4))}
        signature = MinHash(num_perm=num_perm)
        signature.update_batch([shingle.encode("utf-8") for shingle in shingles])
        signatures.append(signature)
    return signatures


def their_lsh(signatures: list, config: MinHashConfig) -> set[tuple[int, int]]:
    from datasketch import MinHashLSH

    index = MinHashLSH(num_perm=config.num_perm, params=(config.bands, config.rows))
    for number, signature in enumerate(signatures):
        index.insert(number, signature)
    pairs = set()
    for number, signature in enumerate(signatures):
        pairs.update((min(number, other), max(number, other)) for other in index.query(signature) if other != number)
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    config = MinHashConfig()
    texts = documents(args.copies)
    print(f"{len(texts)} documents, {sum(len(t.split()) for t in texts)} words, num_perm {config.num_perm}, "
          f"{config.bands} bands x {config.rows} rows")

    ours_time, sketches = best(lambda: MinHasher(config).sketch(texts), args.rounds)
    ours_lsh, pairs = best(lambda: candidate_pairs(sketches.signatures, config.bands, config.rows, max_bucket=len(texts)), args.rounds)
    verify_time, (near, _) = best(lambda: near_duplicate_pairs(sketches.signatures, sketches.shingles, config), args.rounds)
    theirs_time, signatures = best(lambda: their_signatures(texts, config.num_perm), args.rounds)
    theirs_lsh, their_pairs = best(lambda: their_lsh(signatures, config), args.rounds)

    print(f"signatures: ours {len(texts) / ours_time:,.0f} docs/s, datasketch {len(texts) / theirs_time:,.0f} docs/s, "
          f"ratio {theirs_time / ours_time:.1f}x")
    print(f"LSH index + query: ours {ours_lsh:.3f} s ({len(pairs)} candidate pairs), datasketch {theirs_lsh:.3f} s "
          f"({len(their_pairs)} candidate pairs), ratio {theirs_lsh / ours_lsh:.1f}x")
    print(f"ours, LSH + exact verification at Jaccard {config.threshold}: {verify_time:.3f} s, {len(near)} pairs")


if __name__ == "__main__":
    main()
