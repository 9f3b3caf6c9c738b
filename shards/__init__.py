"""The ground floor: the document model, shard layout and writer, storage, the loader, synthetic data.

Every other package stands on this one, and it imports none of them.
"""
