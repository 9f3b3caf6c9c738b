"""The streaming training loader: shard plans split by rank and worker, image transforms, batching.

``reader.ShardLoader`` is the loader; ``plan`` decides which samples each (rank, worker)
slot reads; ``transforms`` turns image bytes into tensors; ``examples`` holds what every
sample function shares (pair captions, ``collate``).
"""
